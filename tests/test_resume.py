"""What a resumed run keeps: its validation set and a continuous learning-rate schedule.

Tiny preset, toy corpus: every run takes a few seconds.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("tensorflow")

from toy_tokens import toy_corpus, toy_tokenizer  # noqa: E402

from melodygru.core.errors import CheckpointError  # noqa: E402
from melodygru.model import rundir as rd  # noqa: E402
from melodygru.training import windows as data  # noqa: E402
from melodygru.training.config import TrainConfig, resume_config  # noqa: E402
from melodygru.training.run import train  # noqa: E402

TOK = toy_tokenizer()
CORPUS = toy_corpus(TOK, 30)
# a short warmup and a floor well above 0, so both ends of the cosine show in a few epochs
COSINE = dict(preset="tiny", dropout=0.1, seq_len=32, batch_size=16, lr=1e-2, steps_per_execution=4,
              lr_schedule="cosine", warmup_steps=3, min_lr=1e-4)


def quiet(_line):
    pass


def _lrs(run_dir):
    return [r["lr"] for r in rd.read_history(run_dir / rd.HISTORY)]


def _spy_first_step_lr(monkeypatch) -> dict:
    """From now on record {epoch: the learning rate the epoch's first step uses} for every epoch trained."""
    import keras
    import melodygru.training.loop as trainer_module

    seen = {}
    real = trainer_module.Trainer._train_epoch

    def spy(self, epoch):
        seen[epoch] = float(keras.ops.convert_to_numpy(self.adam.learning_rate))
        return real(self, epoch)

    monkeypatch.setattr(trainer_module.Trainer, "_train_epoch", spy)
    return seen


def _interrupted(run_dir, config, after_epoch, monkeypatch):
    """Train `config` and stop it with Ctrl-C in epoch `after_epoch + 1` (it keeps `after_epoch`)."""
    import melodygru.training.loop as trainer_module

    real = trainer_module.data.epoch_windows

    def interrupt(pieces, tok, seq_len, transpose, seed, epoch):
        if epoch == after_epoch + 1:
            raise KeyboardInterrupt
        return real(pieces, tok, seq_len, transpose, seed, epoch)

    monkeypatch.setattr(trainer_module.data, "epoch_windows", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(CORPUS, TOK, run_dir, config, log=quiet)
    monkeypatch.setattr(trainer_module.data, "epoch_windows", real)


def _as_before_plans(run_dir):
    """Make the run directory look as one written before the schedule was recorded in its state."""
    state = json.loads((run_dir / rd.STATE).read_text())
    state.pop("lr_plan", None)
    (run_dir / rd.STATE).write_text(json.dumps(state))


# ---------------------------------------------------------------- item 13: the cosine schedule on resume
def test_a_new_cosine_run_follows_keras_cosine_decay_with_warmup(tmp_path):
    import keras

    run_dir = tmp_path / "run"
    train(CORPUS, TOK, run_dir, TrainConfig(epochs=3, **COSINE), log=quiet)
    steps = len(data.epoch_windows(CORPUS[:27], TOK, 32, 6, 0, 1)) // 16  # 27 pieces train (val_split 0.1)
    keras_cosine = keras.optimizers.schedules.CosineDecay(
        0.0, 3 * steps - 3, alpha=1e-2, warmup_target=1e-2, warmup_steps=3)
    want = [float(keras_cosine(e * steps)) for e in (1, 2, 3)]
    assert _lrs(run_dir) == pytest.approx(want, rel=1e-6)
    assert _lrs(run_dir)[-1] == pytest.approx(COSINE["min_lr"], rel=1e-6)


@pytest.mark.parametrize("old_state", [False, True], ids=["recorded-plan", "state-from-before-plans"])
@pytest.mark.parametrize("epochs", [3, 7])
def test_changing_epochs_on_resume_keeps_the_cosine_learning_rate_continuous(tmp_path, monkeypatch, epochs,
                                                                             old_state):
    run_dir = tmp_path / "run"
    _interrupted(run_dir, TrainConfig(epochs=5, **COSINE), 2, monkeypatch)  # mid-decay after 2 of 5 epochs
    if old_state:
        _as_before_plans(run_dir)
    before = _lrs(run_dir)
    assert COSINE["min_lr"] * 2 < before[-1] < COSINE["lr"] * 0.99
    lines = []
    seen = _spy_first_step_lr(monkeypatch)
    train(CORPUS, TOK, run_dir, resume_config(run_dir, epochs=epochs), resume=True, log=lines.append)
    assert seen[3] == pytest.approx(before[-1], rel=1e-6)  # no jump at the resume point
    after = _lrs(run_dir)
    assert after[:2] == before
    assert all(a > b for a, b in zip(after[1:], after[2:]))  # still decaying...
    assert after[-1] == pytest.approx(COSINE["min_lr"], rel=1e-6)  # ...to the floor at the new last epoch
    assert any("cosine" in line and "re-planned" in line for line in lines), lines


@pytest.mark.parametrize("old_state", [False, True], ids=["recorded-plan", "state-from-before-plans"])
def test_an_unchanged_resume_follows_the_planned_cosine(tmp_path, monkeypatch, old_state):
    reference = tmp_path / "reference"
    train(CORPUS, TOK, reference, TrainConfig(epochs=4, **COSINE), log=quiet)
    run_dir = tmp_path / "run"
    _interrupted(run_dir, TrainConfig(epochs=4, **COSINE), 2, monkeypatch)
    if old_state:
        _as_before_plans(run_dir)
    lines = []
    train(CORPUS, TOK, run_dir, TrainConfig(epochs=4, **COSINE), resume=True, log=lines.append)
    assert _lrs(run_dir) == pytest.approx(_lrs(reference), rel=1e-6)
    assert not any("re-planned" in line for line in lines)


# ---------------------------------------------------------------- item 5: the validation set on resume
PLATEAU = dict(preset="tiny", dropout=0.1, seq_len=32, batch_size=16, lr=1e-2, steps_per_execution=4)


def test_resume_refuses_to_validate_on_another_kind_of_set(tmp_path):
    val, pieces = CORPUS[:3], CORPUS[3:]
    run_dir = tmp_path / "separate"
    train(pieces, TOK, run_dir, TrainConfig(epochs=1, **PLATEAU), val_pieces=val, log=quiet)
    with pytest.raises(CheckpointError, match="separate validation pieces") as err:
        train(pieces, TOK, run_dir, resume_config(run_dir, epochs=2), resume=True, log=quiet)
    assert "\n" not in str(err.value)
    assert rd.read_history(run_dir / rd.HISTORY)[-1]["epoch"] == 1  # nothing trained
    metrics = train(pieces, TOK, run_dir, resume_config(run_dir, epochs=2), val_pieces=val, resume=True, log=quiet)
    assert metrics["epochs"] == 2 and metrics["val_pieces"] == 3 and metrics["train_pieces"] == len(pieces)

    split = tmp_path / "split"
    train(CORPUS, TOK, split, TrainConfig(epochs=1, **PLATEAU), log=quiet)
    with pytest.raises(CheckpointError, match="holds out val_split 0.1 of its pieces"):
        train(CORPUS, TOK, split, resume_config(split, epochs=2), val_pieces=val, resume=True, log=quiet)
