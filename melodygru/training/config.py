"""A training run's settings: `TrainConfig`, resuming (`resume_config`, `check_resumable`) and the
metrics summary. `run.train()` is the entry point a CLI calls.

Where the pieces live: `windows.py` cuts the windows and builds the tf.data pipeline, `loop.py`
holds the compiled loop and the epoch bookkeeping, `model/rundir.py` owns the run directory's files.

One loop serves every `distribute` mode: a `tf.function` that runs `steps_per_execution` steps of
`strategy.run(train_step)` per call (Keras `model.fit` does not work under
MultiWorkerMirroredStrategy in Keras 3, keras-team/keras#20585). With no strategy it runs under
TensorFlow's default strategy, so the laptop path and the cluster path are the same code; on a
CPU it is also faster than `model.fit` (benchmarks/train_throughput.py).

The loss is the mean negative log-likelihood (nats) of the non-PAD targets of the global batch:
every replica sums its tokens' NLL and divides by the token count all-reduced over replicas, so
replica gradients add up to the gradient of the global mean.
"""


from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import CheckpointError, MelodyGRUError, TokenizerError  # noqa: E402
from ..core.units import LN2
from ..model import rundir as rd  # noqa: E402
from ..model.network import CELLS, PRESETS, ModelConfig, model_config_from_preset  # noqa: E402
from ..tokens.tokenizer import Tokenizer  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DISTRIBUTE = ("none", "mirrored", "multiworker")
LR_SCHEDULES = ("plateau", "cosine")
MIXED_PRECISION = ("auto", "on", "off")
# Settings a resumed run may change; every other one must equal the run directory's.
RESUMABLE = (
    "epochs", "patience", "tensorboard", "distribute", "mixed_precision", "steps_per_execution", "fast_cpu_gru",
)
MODEL_FIELDS = ("preset", "layers", "units", "embedding_dim", "dropout", "cell")


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; saved in the run directory's `config.json`.

    Model fields left at None take the preset's value (see `melodygru.model.PRESETS`).
    """

    preset: str = "small"  # tiny | small | medium | large
    layers: int | None = None
    units: int | None = None
    embedding_dim: int | None = None
    dropout: float | None = None
    cell: str = "gru"  # 'lstm' only for comparisons
    seq_len: int = 128  # tokens per window (~2-3 bars of a 4-voice chorale); state is not carried across windows
    # global batch (split over replicas). Small on purpose: a few hundred pieces give only ~50
    # batches of 64 x 128 per epoch, too few updates; on the JSB chorales batch 16 at lr 2e-3 reached
    # in 4 epochs a validation loss that batch 64 at 1e-3 had not reached after 18 (same wall time per
    # epoch within noise). Raise it (and lr with it) for large corpora or a GPU.
    batch_size: int = 16
    epochs: int = 30
    lr: float = 2e-3  # Adam (with gradient clipping); see batch_size
    clipnorm: float = 3.0  # global gradient norm (Magenta's clip_norm); 0 switches clipping off
    # 'plateau': x lr_factor after lr_patience epochs without improvement; 'cosine': warmup + cosine over all
    # epochs (a resume that changes epochs re-plans the rest of the decay from the current rate: Trainer._lr_plan)
    lr_schedule: str = "plateau"
    lr_patience: int = 2
    lr_factor: float = 0.5
    min_lr: float = 1e-5  # floor for both schedules
    warmup_steps: int = 200  # cosine only: linear warmup from 0
    patience: int = 5  # early stopping: epochs without a better validation loss; 0 never stops early
    val_split: float = 0.1  # share of pieces held out (by piece, never by window)
    transpose: int = 6  # random transposition per window, +-semitones (0 = off); +-6 reaches every key
    seed: int = 0  # same seed: same split, same initial weights, same data order
    distribute: str = "none"  # none | mirrored | multiworker
    mixed_precision: str = "auto"  # auto = on when a GPU is present (float16 compute, float32 weights and logits)
    tensorboard: bool = False  # write TensorBoard logs to RUN_DIR/tensorboard
    steps_per_execution: int = 8  # train steps per compiled call: amortises Python overhead on small models
    fast_cpu_gru: bool = True  # on a CPU, train with model/gru_cpu.py (same math and weights; see gru_cpu)

    def __post_init__(self):
        problems = []
        if self.preset not in PRESETS:
            problems.append(f"preset must be one of {', '.join(PRESETS)}")
        if self.cell not in CELLS:
            problems.append(f"cell must be one of {', '.join(CELLS)}")
        if self.distribute not in DISTRIBUTE:
            problems.append(f"distribute must be one of {', '.join(DISTRIBUTE)}")
        if self.lr_schedule not in LR_SCHEDULES:
            problems.append(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}")
        if self.mixed_precision not in MIXED_PRECISION:
            problems.append(f"mixed_precision must be one of {', '.join(MIXED_PRECISION)}")
        for name in ("seq_len", "batch_size", "epochs", "steps_per_execution"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        for name in ("lr_patience", "patience", "transpose", "warmup_steps", "seed"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        if not (self.lr > 0 and 0 < self.min_lr <= self.lr):
            problems.append("need 0 < min_lr <= lr")
        if not 0 < self.lr_factor < 1:
            problems.append("lr_factor must be in (0, 1)")
        if self.clipnorm < 0:
            problems.append("clipnorm must be >= 0")
        if not 0 <= self.val_split < 1:
            problems.append("val_split must be in [0, 1)")
        if problems:
            raise MelodyGRUError("bad training config: " + "; ".join(problems))
        self.model_config(2)  # validates the model fields too

    def model_config(self, vocab_size: int) -> ModelConfig:
        try:
            return model_config_from_preset(
                self.preset,
                vocab_size,
                layers=self.layers,
                units=self.units,
                embedding_dim=self.embedding_dim,
                dropout=self.dropout,
                cell=self.cell,
            )
        except ValueError as e:
            raise MelodyGRUError(str(e)) from None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        if not isinstance(d, dict):
            raise MelodyGRUError("training config must be a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise MelodyGRUError(f"unknown training setting(s): {', '.join(unknown)}")
        return cls(**d)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    @classmethod
    def load(cls, run_dir) -> "TrainConfig":
        """The training config saved in a run directory."""
        saved = rd.read_json(Path(run_dir) / rd.CONFIG)
        try:
            return cls.from_dict(saved["train"])
        except (KeyError, MelodyGRUError) as e:
            raise CheckpointError(f"{Path(run_dir) / rd.CONFIG}: bad training config ({e})") from None


def resume_config(run_dir, **changes) -> TrainConfig:
    """The run directory's config with `changes` (only the RESUMABLE settings may differ).

    For a CLI: pass only the options the user gave explicitly.
    """
    return TrainConfig.load(run_dir).replace(**changes)


def check_resumable(run_dir: Path, tokenizer: Tokenizer, config: TrainConfig) -> dict | None:
    """Refuse a resume that does not match the run directory; return its last state (or None).

    Raises:
        CheckpointError: no run to resume, a different tokenizer/vocabulary, or changed settings.
    """
    if not (run_dir / rd.CONFIG).exists():
        raise CheckpointError(f"nothing to resume in {run_dir}: it has no {rd.CONFIG}")
    saved = rd.read_json(run_dir / rd.CONFIG)
    try:
        old_tok = Tokenizer.load(run_dir / rd.TOKENIZER)
    except TokenizerError as e:
        raise CheckpointError(f"cannot resume {run_dir}: {e}") from None
    if old_tok != tokenizer:
        changed = ", ".join(old_tok.config.diff(tokenizer.config)) or "vocabulary differs"
        raise CheckpointError(
            f"cannot resume {run_dir}: it was trained with a different tokenizer "
            f"({old_tok.vocab_size} -> {tokenizer.vocab_size} tokens; {changed}); use its tokenizer.json or a new run directory"
        )
    if saved.get("model", {}).get("vocab_size") != tokenizer.vocab_size:
        raise CheckpointError(
            f"cannot resume {run_dir}: its model has a vocabulary of {saved.get('model', {}).get('vocab_size')}, "
            f"the tokenizer {tokenizer.vocab_size}"
        )
    old = TrainConfig.load(run_dir)
    # the model is compared as built (preset + overrides), so 'units=None' equals the preset's units
    before, after = old.model_config(tokenizer.vocab_size).to_dict(), config.model_config(tokenizer.vocab_size).to_dict()
    diffs = [f"{k} {before[k]!r} -> {after[k]!r}" for k in before if before[k] != after[k]]
    diffs += [
        f"{f.name} {getattr(old, f.name)!r} -> {getattr(config, f.name)!r}"
        for f in dataclasses.fields(TrainConfig)
        if f.name not in RESUMABLE + MODEL_FIELDS and getattr(old, f.name) != getattr(config, f.name)
    ]
    if diffs:
        raise CheckpointError(
            f"cannot resume {run_dir} with changed settings ({'; '.join(diffs)}); only "
            f"{', '.join(RESUMABLE)} may change on resume"
        )
    if not (run_dir / rd.STATE).exists():
        return None
    return rd.read_json(run_dir / rd.STATE)


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def summary_metrics(best: dict | None, history: list[dict], extra: dict) -> dict:
    """metrics.json: the best epoch's validation figures in nats and bits, plus run totals."""
    m = dict(extra)
    if best and best.get("val_loss") is not None:
        v = best["val_loss"]
        q = best.get("val_nll_per_quarter")
        m.update(
            best_epoch=best["epoch"],
            best_val_loss=v,
            val_nll_per_token_nats=v,
            val_nll_per_token_bits=v / LN2,
            val_perplexity=math.exp(min(v, 700)),
            val_nll_per_quarter_nats=q,
            val_nll_per_quarter_bits=None if q is None else q / LN2,
        )
    elif best:
        m.update(best_epoch=best["epoch"], best_val_loss=None)
    if history:
        m["final_loss"] = history[-1]["loss"]
    return m

