"""The run directory: everything needed to sample from a trained model and to resume its training.

    model.keras          best model so far (by validation loss), plain Keras layers: loads with safe_mode=True
    tokenizer.json       the tokenizer the model was trained with
    config.json          training config + model config (enough to rebuild the model)
    split.json           which pieces went to training and which to validation
    sampling.json        optional: the sampling settings chosen for the model
    form.json            optional: form plans learned from the training pieces
    critic.json          optional: the critic that ranks candidates
    history.csv          one row per finished epoch
    metrics.json         summary figures of the run (best validation loss, per token and per quarter note)
    last_state.json      the resumable state: epoch, counters, and the names of the two files below
    last-NNNN.weights.h5 / last-NNNN.optimizer.npz   weights and optimizer state after epoch NNNN
    train.lock           pid of the training process while one runs
    tensorboard/         optional TensorBoard logs

Every file is written to a temporary name in the same directory and renamed into place, so a crash
or `kill -9` at any moment leaves the previous version readable. `last_state.json` is the commit
point of a checkpoint: it names the epoch's weight and optimizer files, which are written before it
and deleted only once a newer state names newer ones.
"""


from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np

from ..core.atomic import (
    atomic_write_text,
    clean_temporaries,  # noqa: F401  (the trainer cleans its run dir with it)
    publish_mode,
    temp_file,
)
from ..core.errors import CheckpointError

MODEL = "model.keras"
TOKENIZER = "tokenizer.json"
CONFIG = "config.json"
FORM = "form.json"  # form plans learned from the training pieces (tokens/form.py)
CRITIC = "critic.json"  # the critic generation ranks candidates with (analysis/critic.py)
SAMPLING = "sampling.json"  # the sampling settings chosen for the model (generation/settings.py)
TRAINED = "TRAINED.md"  # how a shipped model was trained, for people
SPLIT = "split.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
STATE = "last_state.json"
LOCK = "train.lock"
TENSORBOARD = "tensorboard"
RUN_FORMAT = "melodygru-run"
STATE_FORMAT = "melodygru-train-state"
FORMAT_VERSION = 1
HISTORY_FIELDS = (
    "epoch",
    "loss",
    "val_loss",
    "val_perplexity",
    "val_nll_per_quarter",
    "val_bits_per_quarter",
    "lr",
    "tokens_per_second",
    "epoch_seconds",
)


# ---------------------------------------------------------------- atomic writes
def _tmp_path(path: Path) -> Path:
    # the name every atomic write uses (so one cleaner knows them all), left for the writer to create
    fd, tmp = temp_file(path)
    os.close(fd)
    os.unlink(tmp)
    return tmp


def _commit(tmp: Path, path: Path) -> None:
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    publish_mode(tmp)
    os.replace(tmp, path)


def _write_with(path: Path, write) -> None:
    """Call `write(tmp_path)`, then rename the temporary file over `path`."""
    tmp = _tmp_path(path)
    try:
        write(tmp)
        _commit(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, allow_nan=False) + "\n")


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read {path}: {e}") from None


def save_model(model, path: Path) -> None:
    _write_with(Path(path), lambda tmp: model.save(tmp))


def save_weights(model, path: Path) -> None:
    _write_with(Path(path), lambda tmp: model.save_weights(tmp))


def save_arrays(path: Path, arrays: list[np.ndarray]) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, *arrays)

    _write_with(Path(path), write)


def load_arrays(path: Path) -> list[np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read optimizer state {path}: {e}") from None


# ---------------------------------------------------------------- history
def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, (float, np.floating)):
        return repr(float(v))  # shortest exact form: a resumed run reads back the same numbers
    return str(v)


def write_history(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HISTORY_FIELDS)
    for row in rows:
        w.writerow([_fmt(row.get(k)) for k in HISTORY_FIELDS])
    atomic_write_text(path, buf.getvalue())


def read_history(path: Path) -> list[dict]:
    """Rows of history.csv as dicts (epoch an int, other figures floats or None)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        try:
            row = {k: (float(v) if v not in ("", None) else None) for k, v in raw.items() if k in HISTORY_FIELDS}
            row["epoch"] = int(row["epoch"])
        except (TypeError, ValueError, KeyError):
            raise CheckpointError(f"{path} is damaged (row {raw})") from None
        rows.append(row)
    return rows


# ---------------------------------------------------------------- lock
class RunLock:
    """A lock file holding the training process's pid, so two runs never share a directory.

    On POSIX the file is also `flock`ed: the kernel drops that lock when the process dies (even by
    `kill -9`), so a stale lock file is simply taken over. Elsewhere a lock file whose pid is no
    longer running counts as stale.
    """

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self._fd = None

    def _holder(self) -> str:
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def _refuse(self):
        raise CheckpointError(
            f"{self.path.parent} is in use by training process {self._holder()} "
            f"(if no such process runs, delete {self.path})"
        )

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self._acquire_by_pid()
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                self._refuse()
            # the holder we waited on may have unlinked the file as it released it: retry then
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self._fd = fd
                return self
            os.close(fd)
        raise CheckpointError(f"could not lock {self.path}")

    def _acquire_by_pid(self) -> "RunLock":  # pragma: no cover - Windows
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder.isdigit() and _pid_alive(int(holder)):
                    self._refuse()
                self.path.unlink(missing_ok=True)
                continue
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return self
        self._refuse()

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------- loading for sampling
RUN_FILES = (MODEL, TOKENIZER, CONFIG)  # what sampling and evaluation need


def check_run_dir(path: Path, hint: str | None = None) -> None:
    """Refuse a path that is no run directory, or one missing a file sampling needs.

    Args:
        hint: where the directory should have come from, for the message (e.g. the shipped default).
    """
    path = Path(path)
    if not path.is_dir():
        if hint:
            raise CheckpointError(f"the default checkpoint {path} is missing ({hint}); pass --checkpoint RUN_DIR")
        what = "is not a directory" if path.exists() else "does not exist"
        raise CheckpointError(f"checkpoint {path} {what} (expected a run directory from `melodygru train`)")
    missing = [name for name in RUN_FILES if not (path / name).is_file()]
    if missing:
        raise CheckpointError(
            f"checkpoint {path} is incomplete: missing {', '.join(missing)} (a run directory from "
            "`melodygru train` has model.keras, tokenizer.json and config.json)"
        )


def check_config(path: Path, config: dict, tokenizer, gru_only: bool = True) -> None:
    """Refuse a config.json that describes another vocabulary than tokenizer.json, or (`gru_only`)
    another cell than the GRU the sampler's decoder steps."""
    model_cfg = config.get("model")
    if isinstance(model_cfg, dict) and "vocab_size" in model_cfg and model_cfg["vocab_size"] != len(tokenizer):
        raise CheckpointError(
            f"checkpoint {path}: tokenizer has {len(tokenizer)} tokens but the model was built for "
            f"{model_cfg['vocab_size']} (config.json's vocab_size); the files come from different runs"
        )
    if gru_only and isinstance(model_cfg, dict) and model_cfg.get("cell", "gru") != "gru":
        raise CheckpointError(f"checkpoint {path}: a {model_cfg['cell']!r} model; generate samples GRU models only")
    digest = config.get("tokenizer_digest")
    if isinstance(digest, str) and digest != tokenizer.config.digest():
        raise CheckpointError(
            f"checkpoint {path}: tokenizer.json is not the tokenizer this model was trained with "
            "(config.json's tokenizer_digest differs); the files come from different runs"
        )


def load_trained(run_dir, compute_dtype: str = "float32", gru_only: bool = True):
    """The best model of a run, its tokenizer and its model config, ready for sampling.

    The model is rebuilt from `config.json` with `compute_dtype` layers (float32 by default, so a
    model trained with mixed precision on a GPU samples at full precision on a CPU) and the weights
    are read from `model.keras`. `gru_only=False` also loads an LSTM run (`train --cell lstm`, for
    comparisons), which `evaluate`'s likelihood scores; sampling steps GRUs only.

    Returns:
        (keras model, Tokenizer, ModelConfig)

    Raises:
        CheckpointError: a missing or unreadable file, or weights that do not fit the config.
    """
    from ..core.errors import TokenizerError
    from ..tokens.tokenizer import Tokenizer
    from .network import ModelConfig, build_model

    run_dir = Path(run_dir)
    cfg = read_json(run_dir / CONFIG)
    if cfg.get("format") != RUN_FORMAT:
        raise CheckpointError(f"{run_dir / CONFIG} is not a melodygru run config")
    try:
        model_config = ModelConfig.from_dict(cfg["model"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{run_dir / CONFIG}: bad model config ({e})") from None
    try:
        tokenizer = Tokenizer.load(run_dir / TOKENIZER)
    except TokenizerError as e:
        raise CheckpointError(str(e)) from None
    check_config(run_dir, cfg, tokenizer, gru_only)
    if tokenizer.vocab_size != model_config.vocab_size:
        raise CheckpointError(
            f"{run_dir}: tokenizer has {tokenizer.vocab_size} tokens but the model was built for {model_config.vocab_size}"
        )
    if not (run_dir / MODEL).exists():
        raise CheckpointError(f"{run_dir} has no {MODEL} yet (no epoch has finished)")
    model = build_model(model_config, mixed_precision=compute_dtype == "float16")
    try:
        model.load_weights(run_dir / MODEL)
    except Exception as e:  # keras raises ValueError/OSError/KeyError variants for damaged files
        raise CheckpointError(f"cannot load {run_dir / MODEL}: {e}") from None
    return model, tokenizer, model_config


def read_document(run_dir, name: str, parse):
    """`parse` of the run's optional JSON file `name`, or None when the run has none.

    Raises:
        CheckpointError: the file exists but is unreadable, or `parse` refuses it (ValueError).
    """
    path = Path(run_dir) / name
    if not path.exists():
        return None
    try:
        return parse(read_json(path))
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from None


def read_form(run_dir) -> list[list[int]] | None:
    """The form plans of a run (`form.json`), or None when it has none.

    Raises:
        CheckpointError: the file exists but is not a form document.
    """
    from ..tokens.form import read_form_document

    return read_document(run_dir, FORM, read_form_document)


def write_form(run_dir, plans, source: str) -> None:
    """Save form plans as the run's `form.json` (atomically)."""
    from ..tokens.form import form_document

    write_json(Path(run_dir) / FORM, form_document(plans, source))

