"""The run directory side of a training run: refuse a taken folder or check a resumable one, split
the pieces (or take the separate validation set), and write the files that do not change while
training (tokenizer, config, split). A mixin of `loop.Trainer`, which holds the state it uses.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import CheckpointError, MelodyGRUError
from ..model import rundir as rd
from ..tokens.form import plans_for
from . import windows as data
from .config import check_resumable


class RunSetup:
    """Run-directory checks and static files of a `Trainer` (see its attributes)."""

    def _check_directory(self, resume: bool) -> dict | None:
        if resume:
            state = check_resumable(self.run_dir, self.tok, self.cfg)
            if state is None:
                self.log(f"{self.run_dir}: no finished epoch to resume from, starting at epoch 1")
            return state
        # only the chief checks: the others would race with its first writes
        taken = [n for n in (rd.CONFIG, rd.STATE, rd.MODEL) if (self.run_dir / n).exists()]
        if taken and self.chief:
            raise CheckpointError(
                f"{self.run_dir} already holds a training run ({', '.join(taken)}): resume it or choose a new directory"
            )
        return None

    def _split(self, pieces, val_pieces, sources):
        vocab = self.tok.vocab_size
        for name, group in (("training", pieces), ("validation", val_pieces or [])):
            for i, p in enumerate(group):
                p = np.asarray(p)
                if p.size and (p.min() < 0 or p.max() >= vocab):
                    raise MelodyGRUError(
                        f"{name} piece {i} has token id {int(p.max() if p.max() >= vocab else p.min())} outside the "
                        f"vocabulary of {vocab}: was it encoded with another tokenizer?"
                    )
        pieces = [np.asarray(p, dtype=np.int32) for p in pieces]
        if sources is not None and len(sources) != len(pieces):
            raise MelodyGRUError(f"{len(sources)} sources for {len(pieces)} pieces")
        if val_pieces is None:
            tr, va = data.split_pieces(len(pieces), self.cfg.val_split, self.cfg.seed)
            self.train_pieces = [pieces[i] for i in tr]
            self.val_pieces = [pieces[i] for i in va]
            names = sources if sources is not None else [f"#{i}" for i in range(len(pieces))]
            self.split = {"val_from": "val_split", "train": [names[i] for i in tr], "val": [names[i] for i in va]}
        else:
            self.train_pieces = pieces
            self.val_pieces = [np.asarray(p, dtype=np.int32) for p in val_pieces]
            self.split = {
                "val_from": "val_pieces",
                "train": list(sources) if sources is not None else [f"#{i}" for i in range(len(pieces))],
                "val": [f"val#{i}" for i in range(len(self.val_pieces))],
            }
        if self.state:
            self._check_validation_kind()
        self.digest = data.data_digest(self.train_pieces) + data.data_digest(self.val_pieces)
        if self.state and self.state.get("data_digest") != self.digest:
            self.log("warning: the training data changed since this run started; validation figures are not comparable")

    def _check_validation_kind(self):
        """Refuse a resume that would validate on another kind of set than the run did (separate
        validation pieces vs. held-out training pieces): its validation figures, the best epoch
        and early stopping would silently compare different sets. (split.json records the kind;
        a run directory without it is not checked.)"""
        try:
            recorded = rd.read_json(self.run_dir / rd.SPLIT).get("val_from")
        except (CheckpointError, AttributeError):
            return
        now = self.split["val_from"]
        if recorded not in ("val_split", "val_pieces") or recorded == now:
            return
        held_out = f"hold out val_split {self.cfg.val_split} of the training pieces"
        separate = "validate on separate validation pieces (--val)"
        if recorded == "val_pieces":
            raise CheckpointError(f"cannot resume {self.run_dir}: it validates on separate validation pieces (--val), "
                                  f"this resume would {held_out} instead; pass the validation pieces again")
        raise CheckpointError(f"cannot resume {self.run_dir}: it holds out val_split {self.cfg.val_split} of its "
                              f"pieces, this resume would {separate} instead; leave them out or start a new run")

    def _write_static_files(self):
        self.tok.save(self.out / rd.TOKENIZER)
        self._write_config()
        rd.write_json(self.out / rd.SPLIT, self.split)
        # which bars of the training pieces repeat which: what `generate --form` gives its samples
        rd.write_form(self.out, plans_for(self.tok, self.train_pieces, seed=self.cfg.seed),
                      f"{len(self.train_pieces)} training pieces")

    def _write_config(self):
        """config.json; rewritten on resume, where the RESUMABLE settings (e.g. epochs) may change."""
        if self.data is None and (self.out / rd.CONFIG).exists():  # a resume that did not say: keep the record
            self.data = rd.read_json(self.out / rd.CONFIG).get("data")
        rd.write_json(
            self.out / rd.CONFIG,
            {
                "format": rd.RUN_FORMAT,
                "version": rd.FORMAT_VERSION,
                "train": self.cfg.to_dict(),
                "model": self.model_config.to_dict(),
                "tokenizer_digest": self.tok.config.digest(),
                **({"data": self.data} if self.data else {}),
            },
        )
