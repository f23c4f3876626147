"""Learning-rate schedules: warmup + cosine decay as a plan that survives a resume with another
number of epochs (re-planned from where the rate stands, never a jump).
"""


from __future__ import annotations

import math

import keras
import numpy as np

from ..core.errors import CheckpointError
from ..model import rundir as rd


def cosine_lr(plan: dict, step: float, min_lr: float) -> float:
    """The learning rate of a cosine `plan` at `step` (what `CosinePlan` computes, in Python).

    A plan is {'from_step', 'from_lr', 'end_step'}: a linear warmup from 0 at step 0 to `from_lr` at
    `from_step`, then half a cosine from `from_lr` down to `min_lr` at `end_step`, held after it.
    A new run's plan is Keras' CosineDecay with warmup (`from_step` = warmup steps, `from_lr` = lr);
    a resume that moves the end re-plans from the step it resumes at (`Trainer._lr_plan`).
    """
    a, lr_a, end = plan["from_step"], plan["from_lr"], plan["end_step"]
    if step < a:
        return lr_a * step / a
    frac = min(max((step - a) / max(end - a, 1), 0.0), 1.0)
    return min_lr + (lr_a - min_lr) * 0.5 * (1.0 + math.cos(math.pi * frac))


class CosinePlan(keras.optimizers.schedules.LearningRateSchedule):
    """`cosine_lr` as a Keras schedule of the optimizer's step."""

    def __init__(self, from_step: int, from_lr: float, end_step: int, min_lr: float):
        self.from_step, self.from_lr = int(from_step), float(from_lr)
        self.end_step, self.min_lr = int(end_step), float(min_lr)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = self.from_lr * step / max(self.from_step, 1)
        frac = keras.ops.clip((step - self.from_step) / max(self.end_step - self.from_step, 1), 0.0, 1.0)
        decay = self.min_lr + (self.from_lr - self.min_lr) * 0.5 * (1.0 + keras.ops.cos(math.pi * frac))
        return keras.ops.where(step < self.from_step, warmup, decay)

    def get_config(self) -> dict:
        return {"from_step": self.from_step, "from_lr": self.from_lr, "end_step": self.end_step, "min_lr": self.min_lr}


class ResumableSchedule:
    """Where a `Trainer` stands in its learning-rate schedule, and the cosine plan it keeps (or
    re-plans continuously) when a resume changes the number of steps."""

    def _resumed_step(self) -> int:
        """The optimizer step the run resumes at (Keras keeps `iterations` as the first optimizer
        variable, so it is the first array of the optimizer file, read alone)."""
        path = self.run_dir / self.state["optimizer"]
        try:
            with np.load(path, allow_pickle=False) as arrays:
                return int(arrays["arr_0"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"cannot read optimizer state {path}: {e}") from None

    def _lr_plan(self) -> dict | None:
        """The cosine schedule of this session, or None (plateau).

        A new run plans warmup + cosine over `epochs * steps_per_epoch` steps. A resume keeps the
        plan recorded in last_state.json while its end stays where it was; when the end moves
        (--epochs changed, or the steps per epoch did, e.g. with changed data), the rest of the decay
        is re-planned from the step and learning rate the run stands at down to `min_lr` at the new
        end, so the rate goes on from where it was instead of jumping to the new curve. A warmup
        under way keeps its slope.
        """
        cfg = self.cfg
        if cfg.lr_schedule != "cosine":
            return None
        spe = self.steps_per_epoch
        if not self.state:
            total = cfg.epochs * spe
            warmup = min(cfg.warmup_steps, max(total - 1, 0))
            return {"from_step": warmup, "from_lr": cfg.lr, "end_step": total}
        done = int(self.state["epoch"])
        step = self.resumed_step = self._resumed_step()
        plan = self.state.get("lr_plan")
        if plan is None:
            # a run directory from before the plan was recorded: the Keras CosineDecay it ran under,
            # over the epochs its config.json records and the steps per epoch it has had so far
            planned = rd.read_json(self.run_dir / rd.CONFIG).get("train", {}).get("epochs", cfg.epochs)
            total = int(round(planned * step / done)) if done else planned * spe
            warmup = min(cfg.warmup_steps, max(total - 1, 0))
            plan = {"from_step": warmup, "from_lr": cfg.lr, "end_step": total}
        end = step + max(cfg.epochs - done, 0) * spe
        if end == plan["end_step"] or end <= step:  # unchanged, or nothing left to train
            return plan
        lr_now = cosine_lr(plan, step, cfg.min_lr)
        if step < plan["from_step"]:  # in the warmup: same slope, up to the new end at the latest
            top = min(plan["from_step"], max(end - 1, step))
            new = {"from_step": top, "from_lr": plan["from_lr"] * top / plan["from_step"], "end_step": end}
        else:
            new = {"from_step": step, "from_lr": lr_now, "end_step": end}
        self.log(
            f"cosine schedule re-planned: the run ends at step {end:,} instead of {plan['end_step']:,}, so the decay "
            f"goes on from lr {lr_now:.3e} at step {step:,} down to {cfg.min_lr:.1e} at the new end"
        )
        return new
