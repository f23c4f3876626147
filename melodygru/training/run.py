"""The training entry point: pick the tf.distribute strategy, build the `Trainer`, run it.
"""


from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..core.errors import MelodyGRUError  # noqa: E402
from ..model import rundir as rd  # noqa: E402
from ..tokens.tokenizer import Tokenizer  # noqa: E402
from .config import DISTRIBUTE, TrainConfig


# ---------------------------------------------------------------- distribution
def make_strategy(distribute: str):
    """The tf.distribute strategy for a mode (created before any other TensorFlow op runs)."""
    import tensorflow as tf

    if distribute == "none":
        return tf.distribute.get_strategy()
    if distribute == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if distribute == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise MelodyGRUError("distribute='multiworker' needs the TF_CONFIG environment variable (see docs/distributed.md)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise MelodyGRUError(f"distribute must be one of {', '.join(DISTRIBUTE)}")


def is_chief(strategy) -> bool:
    """True unless this is a non-chief worker of a multi-worker run (the chief writes RUN_DIR)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return True
    cluster = resolver.cluster_spec().as_dict()
    if not cluster or resolver.task_type in (None, "chief"):
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster


# ---------------------------------------------------------------- the run
def train(
    pieces: list[np.ndarray],
    tokenizer: Tokenizer,
    run_dir,
    config: TrainConfig | None = None,
    val_pieces: list[np.ndarray] | None = None,
    resume: bool = False,
    log=print,
    sources: list[str] | None = None,
    progress: bool = False,
    data: dict | None = None,
) -> dict:
    """Train a model on token sequences and keep everything in `run_dir`.

    Args:
        pieces: int token-id arrays, one per piece (BOS ... EOS), encoded with `tokenizer`.
        tokenizer: the tokenizer of `pieces`; saved to the run directory.
        run_dir: the run directory (created; see `melodygru.rundir` for its files).
        config: the settings (defaults: `TrainConfig()`).
        val_pieces: a separate validation set; when None, `config.val_split` of `pieces` is held out.
        resume: continue the run in `run_dir` from its last finished epoch.
        log: called with one line of text per event (setup, each epoch, the end).
        sources: optional names of `pieces` (e.g. file paths), recorded in split.json.
        progress: show a per-step progress bar on stderr.
        data: where the pieces came from (e.g. {"paths": [...], "corpora": [...]}), recorded in
            config.json so `evaluate` and `train --resume` can find the training data again.

    Returns:
        The run's final metrics (as written to metrics.json).

    Raises:
        CheckpointError: the directory holds another run (without `resume`), is locked by another
            process, or does not match the tokenizer/config on resume.
        MelodyGRUError: bad inputs (no pieces, token ids outside the vocabulary, bad config).
        KeyboardInterrupt: re-raised after Ctrl-C; the directory keeps the last finished epoch.
    """
    config = config or TrainConfig()
    if not pieces:
        raise MelodyGRUError("no training pieces")
    # MultiWorkerMirroredStrategy must exist before any other TensorFlow op runs
    strategy = make_strategy(config.distribute)
    chief = is_chief(strategy)
    run_dir = Path(run_dir)
    # Non-chief workers write to a scratch directory (the usual TF recipe: all workers run the same
    # saving code, only the chief's output is kept).
    out_dir = run_dir if chief else Path(tempfile.mkdtemp(prefix="melodygru-worker-"))
    lock = rd.RunLock(run_dir) if chief else None
    try:
        if lock:
            lock.acquire()
        from .loop import Trainer

        trainer = Trainer(
            strategy=strategy,
            pieces=pieces,
            tokenizer=tokenizer,
            run_dir=run_dir,
            out_dir=out_dir,
            config=config,
            val_pieces=val_pieces,
            resume=resume,
            log=log if chief else (lambda *a, **k: None),
            sources=sources,
            progress=progress and chief,
            chief=chief,
            data=data,
        )
        return trainer.run()
    finally:
        if lock:
            lock.release()
        if not chief:
            shutil.rmtree(out_dir, ignore_errors=True)
