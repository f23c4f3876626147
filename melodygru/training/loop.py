"""The epoch loop behind `melodygru.training.run.train`: build, restore, train, evaluate, checkpoint."""


from __future__ import annotations

import math
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ..core.errors import CheckpointError, MelodyGRUError
from ..core.progress import progress as progress_display
from ..core.units import LN2
from ..model import rundir as rd
from ..model.network import build_model, copy_weights, count_params, gpu_available
from . import windows as data
from .config import TrainConfig, format_duration, summary_metrics
from .schedule import CosinePlan, ResumableSchedule
from .setup import RunSetup

SUM = tf.distribute.ReduceOp.SUM


def token_nll(logits, targets):
    """Negative log-likelihood (nats) of each target under float32 logits `[batch, time, vocab]`.

    Same value as `tf.nn.sparse_softmax_cross_entropy_with_logits`, without its runtime assert
    (which XLA drops with a warning on every compilation).
    """
    picked = tf.gather(logits, targets, batch_dims=2)
    return tf.reduce_logsumexp(logits, axis=-1) - picked


def _write_scalars(writer, row: dict, step: int) -> None:
    """Epoch figures as TensorBoard scalars, with TensorFlow's own summary op (`tf.summary.scalar`
    needs the tensorboard package, which is only needed to *view* the logs)."""
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
    with writer.as_default():
        for name, value in row.items():
            if name != "epoch" and value is not None:
                tf.summary.write(name, tf.constant(float(value)), step=step, metadata=metadata)
    writer.flush()


class Trainer(RunSetup, ResumableSchedule):
    """One training session on one run directory (see `melodygru.training.run.train` for the arguments)."""

    def __init__(self, *, strategy, pieces, tokenizer, run_dir: Path, out_dir: Path, config: TrainConfig,
                 val_pieces, resume, log, sources, progress, chief=True, data=None):
        self.strategy = strategy
        self.tok = tokenizer
        self.run_dir = run_dir
        self.out = out_dir
        self.cfg = config
        self.log = log
        self.progress = progress
        self.chief = chief
        self.data = data
        self.replicas = strategy.num_replicas_in_sync
        if config.batch_size % self.replicas:
            raise MelodyGRUError(f"batch_size {config.batch_size} must be a multiple of the {self.replicas} replicas")
        self.model_config = config.model_config(tokenizer.vocab_size)
        self.state = self._check_directory(resume)
        self._split(pieces, val_pieces, sources)

    # ------------------------------------------------------------ setup
    def _build(self):
        cfg = self.cfg
        mp = cfg.mixed_precision == "on" or (cfg.mixed_precision == "auto" and gpu_available())
        self.mixed_precision = mp
        self.fused = False
        keras.utils.set_random_seed(cfg.seed)
        with self.strategy.scope():
            self.model = build_model(self.model_config, mixed_precision=mp)
            if self.lr_plan is not None:
                p = self.lr_plan
                lr = CosinePlan(p["from_step"], p["from_lr"], p["end_step"], cfg.min_lr)
            else:
                lr = cfg.lr
            # Gradients are all-reduced before the optimizer sees them (train_step in _compile), and every
            # replica passes 1/replicas of the sum, so the norm limit is scaled the same way.
            clip = cfg.clipnorm / self.replicas if cfg.clipnorm > 0 else None
            self.adam = keras.optimizers.Adam(learning_rate=lr, global_clipnorm=clip)
            self.optimizer = keras.optimizers.LossScaleOptimizer(self.adam) if mp else self.adam
            self.optimizer.build(self.model.trainable_variables)
        if cfg.fast_cpu_gru and not mp and not gpu_available():
            from ..model import gru_cpu

            self.fused = gru_cpu.supports(self.model)
        self.seed_generators = []
        for layer in self.model.layers:
            for obj in (layer, getattr(layer, "cell", None)):
                sg = getattr(obj, "seed_generator", None)
                if sg is not None:
                    self.seed_generators.append(sg)

    def _warm_start(self, source: Path):
        """Start from another run's best weights (`train --init-from`; `network.copy_weights`): the
        tokenizers must differ at most by key and style tokens, and each token keeps its weights."""
        import dataclasses

        try:
            model, tok, _ = rd.load_trained(source, compute_dtype="float32")
            bare = {"key_tokens": False, "styles": ()}
            if dataclasses.replace(tok.config, **bare) != dataclasses.replace(self.tok.config, **bare):
                raise ValueError("its tokenizer differs by more than key and style tokens: "
                                 + "; ".join(tok.config.diff(self.tok.config)))
            missing = [t for t in tok.vocab if t not in self.tok.index]
            if missing:
                raise ValueError(f"its tokens {', '.join(missing[:4])} are not in this run's vocabulary")
            rows = (np.arange(len(tok)), np.array([self.tok.index[t] for t in tok.vocab]))
            added = copy_weights(model, self.model, rows)
        except (CheckpointError, ValueError) as e:
            raise MelodyGRUError(f"cannot start from {source}: {(str(e).splitlines() or [''])[0]}") from None
        self.log(f"starting from the weights of {source}" + (f" ({added} new tokens)" if added else ""))

    def _restore(self):
        st = self.state
        try:
            self.model.load_weights(self.run_dir / st["weights"])
        except Exception as e:  # Keras raises several types for a damaged or mismatched file
            raise CheckpointError(f"cannot load {self.run_dir / st['weights']}: {e}") from None
        values = rd.load_arrays(self.run_dir / st["optimizer"])
        variables = self.adam.variables
        if len(values) != len(variables) or any(v.shape != tuple(x.shape) for v, x in zip(values, variables)):
            raise CheckpointError(f"{self.run_dir / st['optimizer']} does not match the model's optimizer")
        for var, value in zip(variables, values):
            var.assign(value)
        if self.lr_plan is not None and int(self.adam.iterations.numpy()) != self.resumed_step:
            raise CheckpointError(f"{self.run_dir / st['optimizer']}: its first array is not the optimizer's step")

    # ------------------------------------------------------------ the learning-rate plan
    # ------------------------------------------------------------ compiled steps
    def _compile(self):
        model, optimizer, strategy = self.model, self.optimizer, self.strategy
        pad, replicas = self.tok.pad, self.replicas
        if self.fused:
            from ..model.gru_cpu import fused_forward

            def forward(x, training):
                return fused_forward(model, x, training)

        else:
            forward = model

        def gradients(x, y, w, count):
            with tf.GradientTape() as tape:
                logits = forward(x, training=True)
                nll = token_nll(logits, y)
                total = tf.reduce_sum(nll * w)
                loss = total / tf.maximum(count, 1.0)
                scaled = optimizer.scale_loss(loss)
            return total, tape.gradient(scaled, model.trainable_variables)

        def predict(x):
            return forward(x, training=False)

        def train_step(batch):
            x, y = batch[:, :-1], batch[:, 1:]
            w = tf.cast(tf.not_equal(y, pad), tf.float32)
            ctx = tf.distribute.get_replica_context()
            count = ctx.all_reduce(SUM, tf.reduce_sum(w))
            total, grads = gradients(x, y, w, count)
            if replicas > 1:
                # Keras clips each replica's gradient *before* its own all-reduce; reducing first
                # makes the norm clipping act on the global gradient.
                grads = ctx.all_reduce(SUM, [tf.convert_to_tensor(g) for g in grads])
                grads = [g / replicas for g in grads]
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return tf.stack([total, tf.reduce_sum(w)])

        def eval_step(batch):
            x, y = batch[:, :-1], batch[:, 1:]
            w = tf.cast(tf.not_equal(y, pad), tf.float32)
            logits = predict(x)
            nll = token_nll(logits, y)
            return tf.stack([tf.reduce_sum(nll * w), tf.reduce_sum(w)])

        def looped(step):
            @tf.function
            def run(iterator, steps):
                acc = tf.zeros([2])
                for _ in tf.range(steps):
                    acc += strategy.reduce(SUM, strategy.run(step, args=(next(iterator),)), axis=None)
                return acc

            return run

        self.train_steps = looped(train_step)
        self.eval_steps = looped(eval_step)

    def _evaluate(self) -> tuple[float, float] | None:
        if not self.val_steps:
            return None
        acc = self.eval_steps(iter(self.val_dataset), tf.constant(self.val_steps)).numpy()
        return float(acc[0]), float(acc[1])

    # ------------------------------------------------------------ checkpoints
    def _set_dropout_seeds(self, epoch: int):
        # Dropout streams restart from (seed, epoch), so a resumed epoch drops the same units.
        for i, sg in enumerate(self.seed_generators):
            value = (self.cfg.seed * 1_000_003 + epoch * 7919 + i * 104_729) % 2_147_483_647
            sg.state.assign(np.array([value, 0], dtype=sg.state.dtype))

    def _checkpoint(self, epoch: int, counters: dict):
        """Write the epoch's weights and optimizer state, history, metrics, then commit the state."""
        stem = f"last-{epoch:04d}"
        weights, opt = stem + ".weights.h5", stem + ".optimizer.npz"
        rd.save_weights(self.model, self.out / weights)
        rd.save_arrays(self.out / opt, [np.asarray(v.numpy()) for v in self.adam.variables])
        rd.write_history(self.out / rd.HISTORY, self.history)
        rd.write_json(self.out / rd.METRICS, self._metrics(counters))
        state = {
            "format": rd.STATE_FORMAT,
            "version": rd.FORMAT_VERSION,
            "epoch": epoch,
            "weights": weights,
            "optimizer": opt,
            "data_digest": self.digest,
            **counters,
            **({"lr_plan": self.lr_plan} if self.lr_plan is not None else {}),
        }
        rd.write_json(self.out / rd.STATE, state)  # the commit point
        for p in list(self.out.glob("last-*.weights.h5")) + list(self.out.glob("last-*.optimizer.npz")):
            if p.name not in (weights, opt):
                p.unlink(missing_ok=True)

    def _metrics(self, c: dict) -> dict:
        best = next((r for r in self.history if r["epoch"] == c["best_epoch"]), None)
        return summary_metrics(
            best,
            self.history,
            {
                "epochs": self.history[-1]["epoch"] if self.history else 0,
                "stopped_early": c["stopped_early"],
                "train_tokens": c["train_tokens"],
                "train_tokens_per_second": c["train_tokens"] / c["train_seconds"] if c["train_seconds"] else None,
                "wall_time_s": c["wall_seconds"],
                "parameters": count_params(self.model),
                "train_pieces": len(self.train_pieces),
                "val_pieces": len(self.val_pieces),
                "val_tokens": self.val_tokens,
                "val_quarters": self.val_quarters,
                "mixed_precision": self.mixed_precision,
                "replicas": self.replicas,
                "fused_cpu_gru": self.fused,
            },
        )

    # ------------------------------------------------------------ the loop
    def run(self) -> dict:
        cfg, tok = self.cfg, self.tok
        gb = cfg.batch_size
        first = data.epoch_windows(self.train_pieces, tok, cfg.seq_len, cfg.transpose, cfg.seed, 1)
        self.steps_per_epoch = max(1, len(first) // gb) if len(first) else 0
        if not self.steps_per_epoch:
            raise MelodyGRUError("the training pieces hold no tokens to predict")
        val_windows = data.fit_to_batches(data.evaluation_windows(self.val_pieces, cfg.seq_len, tok.pad), gb, tok.pad, "pad")
        self.val_steps = len(val_windows) // gb
        self.val_tokens = int(sum(len(p) - 1 for p in self.val_pieces))
        # the quarter count `evaluate` divides by too, so the per-quarter figures of both compare
        self.val_quarters = float(sum(data.quarters_of(p, tok) for p in self.val_pieces))
        if self.val_steps:
            self.val_dataset = data.distributed_dataset(val_windows, self.strategy, gb)

        self.lr_plan = self._lr_plan()
        self._build()
        if not self.state and (self.data or {}).get("init_from"):
            self._warm_start(Path(self.data["init_from"]))
        self._compile()
        if self.state:
            self._restore()
            if self.chief:
                rd.clean_temporaries(self.run_dir)
            self._write_config()
        else:
            self._write_static_files()
        self.history = [r for r in rd.read_history(self.run_dir / rd.HISTORY) if self.state and r["epoch"] <= self.state["epoch"]]
        st = self.state or {}
        c = {
            "best_monitor": st.get("best_monitor", math.inf),
            "best_epoch": st.get("best_epoch", 0),
            "stop_wait": st.get("stop_wait", 0),
            "plateau_wait": st.get("plateau_wait", 0),
            "train_tokens": st.get("train_tokens", 0),
            "train_seconds": st.get("train_seconds", 0.0),
            "wall_seconds": st.get("wall_seconds", 0.0),
            "stopped_early": False,
        }
        if c["best_monitor"] is None:
            c["best_monitor"] = math.inf
        start = st.get("epoch", 0)
        monitor_name = "val_loss" if self.val_steps else "loss"
        self.log(
            f"{len(self.train_pieces)} training pieces ({sum(len(p) for p in self.train_pieces):,} tokens), "
            f"{len(self.val_pieces)} validation pieces ({self.val_tokens:,} targets, {self.val_quarters:,.0f} quarter notes); "
            f"{self.steps_per_epoch} steps of {gb} x {cfg.seq_len} per epoch"
        )
        self.log(
            f"model {self.model_config.layers}x{self.model_config.units} {self.model_config.cell.upper()} "
            f"(embedding {self.model_config.embedding_dim}, {count_params(self.model):,} parameters), "
            f"{self.replicas} replica(s), mixed precision {'on' if self.mixed_precision else 'off'}"
            + (", fused CPU GRU" if self.fused else "")
            + (f"; resuming after epoch {start}" if start else "")
        )
        if not self.val_steps:
            self.log("no validation set: the best model is chosen by training loss")
        if cfg.patience and c["stop_wait"] >= cfg.patience:
            self.log(f"early stopping already triggered ({c['stop_wait']} epochs without improvement); raise patience to go on")
            c["stopped_early"] = True
            return self._metrics(c)
        writer = None
        if cfg.tensorboard and self.out == self.run_dir:
            writer = tf.summary.create_file_writer(str(self.run_dir / rd.TENSORBOARD))

        session_start = time.perf_counter()
        session_epochs = 0
        epoch = saved = start
        try:
            for epoch in range(start + 1, cfg.epochs + 1):
                t_epoch = time.perf_counter()
                row = self._train_epoch(epoch)
                val = self._evaluate()
                if val is not None:
                    row["val_loss"] = val[0] / val[1]
                    row["val_perplexity"] = math.exp(min(row["val_loss"], 700))
                    if self.val_quarters:
                        row["val_nll_per_quarter"] = val[0] / self.val_quarters
                        row["val_bits_per_quarter"] = row["val_nll_per_quarter"] / LN2
                monitor = row["val_loss"] if val is not None else row["loss"]
                if not math.isfinite(monitor):
                    raise MelodyGRUError(
                        f"training diverged at epoch {epoch} ({monitor_name} {monitor}); "
                        f"{self.run_dir} keeps epoch {epoch - 1}; try a new run with a lower lr"
                    )
                improved = monitor < c["best_monitor"]
                if improved:
                    c.update(best_monitor=monitor, best_epoch=epoch, stop_wait=0, plateau_wait=0)
                    rd.save_model(self.model, self.out / rd.MODEL)
                else:
                    c["stop_wait"] += 1
                    c["plateau_wait"] += 1
                lr_note = self._plateau(c)
                c["train_tokens"] += row.pop("_tokens")
                c["train_seconds"] += row.pop("_seconds")
                row["epoch_seconds"] = time.perf_counter() - t_epoch
                c["wall_seconds"] += row["epoch_seconds"]
                self.history.append(row)
                stop = bool(cfg.patience) and c["stop_wait"] >= cfg.patience
                c["stopped_early"] = stop
                self._checkpoint(epoch, c)
                saved = epoch
                session_epochs += 1
                eta = (time.perf_counter() - session_start) / session_epochs * (cfg.epochs - epoch)
                self.log(self._epoch_line(row, improved, eta) + lr_note)
                if writer:
                    _write_scalars(writer, row, epoch)
                if stop:
                    self.log(f"early stop: no better {monitor_name} for {cfg.patience} epochs (best: epoch {c['best_epoch']})")
                    break
        except KeyboardInterrupt:
            self.log(f"interrupted: {self.run_dir} keeps epoch {saved}; resume to continue")
            raise
        finally:
            if writer:
                writer.close()
        metrics = self._metrics(c)
        return metrics

    def _train_epoch(self, epoch: int) -> dict:
        cfg, gb = self.cfg, self.cfg.batch_size
        t0 = time.perf_counter()  # tokens/s covers the whole input pipeline, windowing included
        windows = data.epoch_windows(self.train_pieces, self.tok, cfg.seq_len, cfg.transpose, cfg.seed, epoch)
        windows = data.fit_to_batches(windows, gb, self.tok.pad, "drop")
        steps = len(windows) // gb
        iterator = iter(data.distributed_dataset(windows, self.strategy, gb))
        self._set_dropout_seeds(epoch)
        # a bar on a terminal only: in a log the epoch's own line (`log`) is its one line
        bar = progress_display(steps, f"epoch {epoch}", "step", enabled=self.progress, line=False)
        acc = np.zeros(2)
        done = 0
        while done < steps:
            k = min(cfg.steps_per_execution, steps - done)
            acc += self.train_steps(iterator, tf.constant(k)).numpy()
            done += k
            bar.update(k)
        seconds = time.perf_counter() - t0
        bar.close()
        return {
            "epoch": epoch,
            "loss": float(acc[0] / max(acc[1], 1.0)),
            "val_loss": None,
            "val_perplexity": None,
            "val_nll_per_quarter": None,
            "val_bits_per_quarter": None,
            "lr": float(keras.ops.convert_to_numpy(self.adam.learning_rate)),
            "tokens_per_second": acc[1] / seconds if seconds > 0 else None,
            "_tokens": int(acc[1]),
            "_seconds": seconds,
        }

    def _plateau(self, c: dict) -> str:
        cfg = self.cfg
        if cfg.lr_schedule != "plateau" or c["plateau_wait"] < cfg.lr_patience:
            return ""
        c["plateau_wait"] = 0
        old = float(keras.ops.convert_to_numpy(self.adam.learning_rate))
        new = max(old * cfg.lr_factor, cfg.min_lr)
        if new >= old:
            return ""
        self.adam.learning_rate = new
        return f"  lr -> {new:.2e}"

    def _epoch_line(self, row: dict, improved: bool, eta: float) -> str:
        parts = [f"epoch {row['epoch']}/{self.cfg.epochs}", f"loss {row['loss']:.4f}"]
        if row["val_loss"] is not None:
            parts.append(f"val {row['val_loss']:.4f}{' *' if improved else '  '}")
            parts.append(f"ppl {row['val_perplexity']:.2f}")
            if row["val_bits_per_quarter"] is not None:
                parts.append(f"{row['val_bits_per_quarter']:.1f} bits/quarter")
        tps = row["tokens_per_second"]
        parts.append(f"{tps:,.0f} tok/s" if tps else "- tok/s")
        parts.append(f"{format_duration(row['epoch_seconds'])}/epoch")
        if row["epoch"] < self.cfg.epochs:
            parts.append(f"eta {format_duration(eta)}")
        return "  ".join(parts)
