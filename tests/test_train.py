"""Training: the data pipeline, a tiny end-to-end run, resume, crash safety, the lock, and tf.distribute.

Every run uses the 'tiny' preset on a toy corpus of scales and arpeggios; a run takes a few seconds.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow  # noqa: F401,E402  (a hard dependency: a broken install must fail, not skip)
from toy_tokens import toy_corpus, toy_tokenizer  # noqa: E402

from melodygru.core.errors import CheckpointError, MelodyGRUError  # noqa: E402
from melodygru.core.events import Note, Piece, TimeSignature  # noqa: E402
from melodygru.model import rundir as rd  # noqa: E402
from melodygru.tokens.config import TokenizerConfig  # noqa: E402
from melodygru.tokens.tokenizer import Tokenizer  # noqa: E402
from melodygru.training import windows as data  # noqa: E402
from melodygru.training.config import TrainConfig, resume_config  # noqa: E402
from melodygru.training.run import train  # noqa: E402

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "train_subprocess.py"
# tiny model, short windows, a high learning rate: a toy corpus is learned in a few epochs
FAST = dict(preset="tiny", dropout=0.1, seq_len=32, batch_size=16, lr=1e-2, steps_per_execution=4)
TOK = toy_tokenizer()
CORPUS = toy_corpus(TOK, 60)


def quiet(_line):
    pass


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """Six epochs of an uninterrupted run (the reference for resume)."""
    run_dir = tmp_path_factory.mktemp("runs") / "full"
    lines = []
    metrics = train(CORPUS, TOK, run_dir, TrainConfig(epochs=6, **FAST), log=lines.append,
                    sources=[f"toy{i}" for i in range(len(CORPUS))])
    return run_dir, metrics, lines


# ---------------------------------------------------------------- config
def test_train_config_round_trips_and_validates(tmp_path):
    config = TrainConfig(preset="medium", units=128, dropout=0.0, transpose=0, distribute="mirrored", tensorboard=True)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.model_config(100).units == 128 and config.model_config(100).layers == 3
    for bad in (dict(preset="xl"), dict(batch_size=0), dict(val_split=1.0), dict(distribute="tpu"), dict(min_lr=1.0)):
        with pytest.raises(MelodyGRUError):
            TrainConfig(**bad)
    with pytest.raises(MelodyGRUError, match="unknown"):
        TrainConfig.from_dict({"epochs": 3, "learning_rate": 0.1})


# ---------------------------------------------------------------- data pipeline
def test_split_is_by_piece_deterministic_and_disjoint():
    for n in (1, 2, 7, 100):
        for seed in (0, 1, 2):
            tr, va = data.split_pieces(n, 0.1, seed)
            assert not set(tr) & set(va)
            assert sorted(set(tr) | set(va)) == list(range(n))
            assert len(tr) >= 1 and (len(va) >= 1) == (n >= 2)
            assert [a.tolist() for a in data.split_pieces(n, 0.1, seed)] == [tr.tolist(), va.tolist()]
    assert data.split_pieces(100, 0.1, 0)[1].tolist() != data.split_pieces(100, 0.1, 1)[1].tolist()
    assert len(data.split_pieces(100, 0.0, 0)[1]) == 0


def test_training_windows_cover_every_target_and_move_each_epoch():
    seq = 10
    # piece k holds the values 100k+1, 100k+2, ...: a window's values tell its piece and positions
    lengths = (3, 11, 12, 31, 57)
    pieces = [np.arange(100 * k + 1, 100 * k + 1 + n, dtype=np.int32) for k, n in enumerate(lengths)]
    starts = set()
    for epoch in range(6):
        w = data.training_windows(pieces, seq, np.random.default_rng([0, epoch]), pad=0)
        assert w.shape[1] == seq + 1
        covered = {k: set() for k in range(len(pieces))}
        firsts, lasts = set(), set()
        for row in w:
            real = row[row > 0]
            assert np.all(np.diff(real) == 1) and (row[len(real):] == 0).all()  # one stretch, padding at the end
            covered[int(real[0]) // 100].update(int(v) for v in real[1:])
            firsts.add(int(real[0]))
            lasts.add(int(real[-1]))
            starts.add(int(real[0]))
        for p in pieces:
            k = int(p[0]) // 100
            assert covered[k] == set(p[1:].tolist())  # every target at least once
            assert int(p[0]) in firsts and int(p[-1]) in lasts  # from BOS, and up to EOS
            if len(p) - 1 > seq:  # longer than a window: no padding at all
                assert all((row > 0).all() for row in w if int(row[0]) // 100 == k)
    assert len({s for s in starts if s // 100 == 4}) > 4  # boundaries inside a long piece move


def test_evaluation_windows_predict_each_target_once():
    pieces = [np.arange(1, n + 1, dtype=np.int32) for n in (2, 10, 11, 25)]
    w = data.evaluation_windows(pieces, 10, pad=0)
    targets = w[:, 1:]
    assert (targets > 0).sum() == sum(len(p) - 1 for p in pieces)


def test_transposition_stays_in_range_and_shifts_whole_windows():
    tok = TOK
    n = tok.config.pitch_high - tok.config.pitch_low + 1
    top = tok.pitch_offset + n - 1
    windows = np.array(
        [
            [tok.bos, tok.bar, tok.pitch_offset + 40, tok.dur_offset, tok.pitch_offset + 44, tok.eos],
            [tok.bos, tok.bar, top - 2, tok.dur_offset, top, tok.eos],  # near the top: only shifts <= 0
            [tok.bos, tok.bar, tok.pos_offset, tok.eos, tok.pad, tok.pad],  # no pitches at all
        ],
        dtype=np.int32,
    )
    rng = np.random.default_rng(0)
    shifts = set()
    for _ in range(200):
        out = data.transpose_windows(windows, tok, 6, rng)
        pitch = tok.pitch_mask(windows)
        assert np.array_equal(out[~pitch], windows[~pitch])  # only pitch tokens move
        k = out - windows
        assert k[0, 2] == k[0, 4] and k[1, 2] == k[1, 4]  # one shift per window
        assert -6 <= k[0, 2] <= 6 and -6 <= k[1, 2] <= 0
        assert tok.pitch_mask(out)[pitch].all()  # still pitch tokens: inside the range
        shifts.add(int(k[0, 2]))
    assert shifts == set(range(-6, 7))
    assert np.array_equal(data.transpose_windows(windows, tok, 0, rng), windows)


def test_epoch_windows_depend_only_on_seed_and_epoch():
    a = data.epoch_windows(CORPUS, TOK, 32, 6, seed=3, epoch=2)
    assert np.array_equal(a, data.epoch_windows(CORPUS, TOK, 32, 6, seed=3, epoch=2))
    assert not np.array_equal(a, data.epoch_windows(CORPUS, TOK, 32, 6, seed=3, epoch=3))
    assert not np.array_equal(a, data.epoch_windows(CORPUS, TOK, 32, 6, seed=4, epoch=2))


def test_fit_to_batches():
    w = np.ones((37, 5), np.int32)
    assert len(data.fit_to_batches(w, 16, 0, "drop")) == 32
    assert len(data.fit_to_batches(w[:5], 16, 0, "drop")) == 16
    padded = data.fit_to_batches(w, 16, 0, "pad")
    assert len(padded) == 48 and (padded[37:] == 0).all()


def test_quarters_of_music_that_fills_its_bars_do_not_depend_on_the_meter():
    # the span of the notes; a pickup or a short last bar: tests/test_dataset.py
    tok = Tokenizer()
    notes = [Note(float(q), 1.0, 60) for q in range(12)]
    waltz = tok.encode(Piece(notes, time_signatures=[TimeSignature(0.0, 3, 4)]))
    assert data.quarters_of(waltz, tok) == 12.0  # four bars of 3/4
    common = tok.encode(Piece(notes))
    assert data.quarters_of(common, tok) == 12.0  # three bars of 4/4
    mixed = tok.encode(Piece(notes, time_signatures=[TimeSignature(0.0, 2, 4), TimeSignature(4.0, 4, 4)]))
    assert data.quarters_of(mixed, tok) == 12.0  # 2 + 2 + 4 + 4


# ---------------------------------------------------------------- a run
def test_end_to_end_run_writes_a_complete_run_dir(finished_run):
    import keras

    run_dir, metrics, lines = finished_run
    for name in (rd.MODEL, rd.TOKENIZER, rd.CONFIG, rd.SPLIT, rd.HISTORY, rd.METRICS, rd.STATE):
        assert (run_dir / name).is_file(), name
    assert not (run_dir / rd.LOCK).exists()
    assert Tokenizer.load(run_dir / rd.TOKENIZER) == TOK
    assert TrainConfig.load(run_dir) == TrainConfig(epochs=6, **FAST)
    history = rd.read_history(run_dir / rd.HISTORY)
    assert [r["epoch"] for r in history] == list(range(1, 7))
    assert all(r["val_nll_per_quarter"] > 0 and r["tokens_per_second"] > 0 for r in history)
    saved = json.loads((run_dir / rd.METRICS).read_text())
    assert saved == json.loads(json.dumps(metrics))
    for key in ("best_val_loss", "val_nll_per_token_bits", "val_nll_per_quarter_nats", "val_nll_per_quarter_bits",
                "val_perplexity", "train_tokens_per_second", "wall_time_s", "epochs"):
        assert metrics[key] is not None, key
    assert metrics["best_val_loss"] == min(r["val_loss"] for r in history)
    assert abs(metrics["val_nll_per_token_bits"] * np.log(2) - metrics["best_val_loss"]) < 1e-9
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 6 and all("tok/s" in line and "ppl" in line for line in epoch_lines)
    assert "eta" in epoch_lines[0]
    split = json.loads((run_dir / rd.SPLIT).read_text())
    assert not set(split["train"]) & set(split["val"])
    assert len(split["train"]) + len(split["val"]) == len(CORPUS)
    # the best model loads in safe mode, and as the sampler loads it
    model = keras.saving.load_model(run_dir / rd.MODEL, safe_mode=True, compile=False)
    rebuilt, tok, model_config = rd.load_trained(run_dir)
    x = CORPUS[0][None, :20]
    np.testing.assert_allclose(np.asarray(rebuilt(x)), np.asarray(model(x)), atol=1e-5)
    assert tok == TOK and model_config.vocab_size == TOK.vocab_size


def test_validation_loss_falls_on_a_learnable_corpus(finished_run):
    history = rd.read_history(finished_run[0] / rd.HISTORY)
    first, best = history[0]["val_loss"], min(r["val_loss"] for r in history)
    assert best < 0.75 * first, history
    assert best < 0.5 * np.log(TOK.vocab_size)  # far below a uniform guess


def test_resume_after_ctrl_c_continues_and_matches_an_uninterrupted_run(finished_run, tmp_path, monkeypatch):
    import melodygru.training.loop as trainer_module

    reference = rd.read_history(finished_run[0] / rd.HISTORY)
    run_dir = tmp_path / "run"
    real = trainer_module.data.epoch_windows

    def interrupt_in_epoch_4(pieces, tok, seq_len, transpose, seed, epoch):
        if epoch == 4:
            raise KeyboardInterrupt
        return real(pieces, tok, seq_len, transpose, seed, epoch)

    monkeypatch.setattr(trainer_module.data, "epoch_windows", interrupt_in_epoch_4)
    lines = []
    with pytest.raises(KeyboardInterrupt):
        train(CORPUS, TOK, run_dir, TrainConfig(epochs=6, **FAST), log=lines.append)
    assert "keeps epoch 3" in lines[-1] and not (run_dir / rd.LOCK).exists()
    assert [r["epoch"] for r in rd.read_history(run_dir / rd.HISTORY)] == [1, 2, 3]
    monkeypatch.setattr(trainer_module.data, "epoch_windows", real)

    metrics = train(CORPUS, TOK, run_dir, TrainConfig(epochs=6, **FAST), resume=True, log=quiet)
    history = rd.read_history(run_dir / rd.HISTORY)
    assert [r["epoch"] for r in history] == list(range(1, 7))
    # same seed: same initial weights and data order; optimizer state, epoch and dropout streams
    # carried over: the resumed run reproduces the uninterrupted one
    for got, want in zip(history, reference):
        for key in ("loss", "val_loss", "lr"):
            assert got[key] == pytest.approx(want[key], rel=1e-4), (got, want)
    assert metrics["epochs"] == 6

    # resuming with more epochs adds epochs and keeps the history
    more = resume_config(run_dir, epochs=7)
    train(CORPUS, TOK, run_dir, more, resume=True, log=quiet)
    history7 = rd.read_history(run_dir / rd.HISTORY)
    assert [r["epoch"] for r in history7] == list(range(1, 8)) and history7[:6] == history
    assert sorted(p.name for p in run_dir.glob("last-*")) == ["last-0007.optimizer.npz", "last-0007.weights.h5"]


def test_resume_refuses_a_changed_tokenizer_or_model(finished_run):
    run_dir = finished_run[0]
    other = Tokenizer(TokenizerConfig(velocity_bins=8))
    with pytest.raises(CheckpointError, match="different tokenizer") as err:
        train(toy_corpus(other, 5), other, run_dir, TrainConfig(epochs=7, **FAST), resume=True, log=quiet)
    assert "\n" not in str(err.value) and "velocity_bins 0 -> 8" in str(err.value)
    with pytest.raises(CheckpointError, match="units 64 -> 32"):
        train(CORPUS, TOK, run_dir, TrainConfig(epochs=7, **{**FAST, "units": 32}), resume=True, log=quiet)
    with pytest.raises(CheckpointError, match="already holds a training run"):
        train(CORPUS, TOK, run_dir, TrainConfig(epochs=7, **FAST), log=quiet)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(CORPUS, TOK, run_dir.parent / "empty", TrainConfig(**FAST), resume=True, log=quiet)


def test_plateau_and_early_stopping_follow_the_validation_loss(tmp_path, monkeypatch):
    import melodygru.training.loop as trainer_module

    val_losses = iter([3.0, 2.0, 2.5, 2.6, 2.7, 2.8])
    monkeypatch.setattr(trainer_module.Trainer, "_evaluate", lambda self: (next(val_losses) * 100, 100.0))
    lines = []
    config = TrainConfig(**{**FAST, "epochs": 6, "patience": 2, "lr_patience": 1, "lr": 0.01})
    metrics = train(CORPUS[:10], TOK, tmp_path / "run", config, log=lines.append)
    history = rd.read_history(tmp_path / "run" / rd.HISTORY)
    assert [r["val_loss"] for r in history] == [3.0, 2.0, 2.5, 2.6]  # stopped after 2 epochs without a better one
    assert [r["lr"] for r in history] == pytest.approx([0.01, 0.01, 0.01, 0.005])  # halved after each bad epoch
    assert metrics["stopped_early"] and metrics["best_epoch"] == 2 and metrics["best_val_loss"] == 2.0
    assert "early stop" in lines[-1]


def test_token_ids_outside_the_vocabulary_are_refused(tmp_path):
    bad = [np.array([TOK.bos, TOK.vocab_size + 3, TOK.eos], dtype=np.int32)] + CORPUS[:3]
    with pytest.raises(MelodyGRUError, match="another tokenizer"):
        train(bad, TOK, tmp_path / "run", TrainConfig(**FAST), log=quiet)


def test_mixed_precision_trains_and_resumes_without_it(tmp_path):
    # forced on a CPU (float16 compute, loss scaling): the GPU code path, minus cuDNN
    run_dir = tmp_path / "run"
    config = TrainConfig(epochs=1, mixed_precision="on", tensorboard=True, **FAST)
    metrics = train(CORPUS[:20], TOK, run_dir, config, log=quiet)
    assert metrics["mixed_precision"] and not metrics["fused_cpu_gru"]
    assert list((run_dir / rd.TENSORBOARD).glob("events.out.tfevents.*"))
    # the optimizer state holds Adam's variables only, so a run may switch mixed precision on resume
    metrics = train(CORPUS[:20], TOK, run_dir, config.replace(epochs=2, mixed_precision="off"), resume=True, log=quiet)
    assert metrics["epochs"] == 2 and metrics["fused_cpu_gru"]
    model, _, _ = rd.load_trained(run_dir)
    assert model.get_layer("gru_0").compute_dtype == "float32"  # samples at full precision


# ---------------------------------------------------------------- the lock
def test_lock_refuses_a_second_process_and_takes_over_a_stale_lock(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "os.write(fd, str(os.getpid()).encode())\n"
         "print('locked', flush=True)\n"
         "time.sleep(60)\n",
         str(run_dir / rd.LOCK)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CheckpointError, match=f"in use by training process {holder.pid}"):
            train(CORPUS, TOK, run_dir, TrainConfig(**FAST), log=quiet)
    finally:
        holder.kill()
        holder.wait()
    # the holder died (kill -9): its pid is still in the file, but the lock is stale and taken over
    assert (run_dir / rd.LOCK).read_text().strip() == str(holder.pid)
    with rd.RunLock(run_dir):
        assert (run_dir / rd.LOCK).read_text().strip() == str(os.getpid())
        with pytest.raises(CheckpointError, match="in use"):
            rd.RunLock(run_dir).acquire()  # a second holder, even in this process
    assert not (run_dir / rd.LOCK).exists()


# ---------------------------------------------------------------- crash safety
def _run_script(args: dict, **popen):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    env.update(popen.pop("env", {}))
    return subprocess.Popen([sys.executable, str(SCRIPT), json.dumps(args)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen)


def test_kill_9_during_a_save_leaves_a_readable_resumable_run(tmp_path):
    import keras

    run_dir = tmp_path / "run"
    marker = tmp_path / "saving"
    # counted from the end of epoch 1's save, 6 files per epoch: pick any save of epochs 2-4
    n = random.Random().randint(1, 18)
    proc = _run_script({"run_dir": str(run_dir), "config": {**FAST, "epochs": 8}, "pieces": 60,
                        "hang_at_replace": n, "marker": str(marker)})
    try:
        deadline = time.time() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.stdout.read()
            assert time.time() < deadline, "the training subprocess never reached the save"
            time.sleep(0.05)
        time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    context = f"killed while replacing {marker.read_text()} (os.replace call {n} after epoch 1's save)"
    # everything in the run directory is the last good version
    assert (run_dir / rd.STATE).is_file(), context
    state = json.loads((run_dir / rd.STATE).read_text())
    assert (run_dir / state["weights"]).is_file() and (run_dir / state["optimizer"]).is_file(), context
    keras.saving.load_model(run_dir / rd.MODEL, safe_mode=True, compile=False)
    history = rd.read_history(run_dir / rd.HISTORY)
    assert [r["epoch"] for r in history][: state["epoch"]] == list(range(1, state["epoch"] + 1)), context
    # (the lock file of the dead process remains; it is stale and taken over)
    train(CORPUS, TOK, run_dir, TrainConfig(**FAST, epochs=state["epoch"] + 1), resume=True, log=quiet)
    history = rd.read_history(run_dir / rd.HISTORY)
    assert [r["epoch"] for r in history] == list(range(1, state["epoch"] + 2)), context
    assert not list(run_dir.glob(".tmp-*")), context
    assert len(list(run_dir.glob("last-*"))) == 2, context


def test_kill_9_at_random_moments_three_times_then_resume_to_the_end(tmp_path):
    """kill -9 anywhere in a training epoch or save, resume, again: nothing is lost but the epoch
    under way, and the final history is the same sequence of epochs as an uninterrupted run."""
    import keras

    run_dir = tmp_path / "run"
    rng = random.Random()
    # each process finishes 2-3 epochs and is killed within the next one, so three kills use at most
    # 12 epochs and leave the last run something to do (an epoch of this toy run takes ~0.13 s, the
    # first one seconds: it compiles, so the kill waits are scaled by the gap between later epochs)
    epochs = 14
    config = {**FAST, "epochs": epochs}
    kills = []
    resume = False
    for _ in range(3):
        proc = _run_script({"run_dir": str(run_dir), "config": config, "pieces": 60, "resume": resume})
        try:
            wanted = rng.randint(2, 3)
            seen = []
            for line in proc.stdout:
                if line.startswith("epoch "):
                    seen.append(time.monotonic())
                    if len(seen) == wanted:
                        break
            assert proc.poll() is None, "the run finished before it could be killed"
            epoch_time = seen[-1] - seen[-2]
            time.sleep(rng.uniform(0.0, 0.9 * epoch_time))  # in the next epoch, its evaluation or saves
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
        state = json.loads((run_dir / rd.STATE).read_text())
        kills.append(state["epoch"])
        context = f"kills after epochs {kills}"
        assert (run_dir / state["weights"]).is_file() and (run_dir / state["optimizer"]).is_file(), context
        keras.saving.load_model(run_dir / rd.MODEL, safe_mode=True, compile=False)
        history = rd.read_history(run_dir / rd.HISTORY)
        assert [r["epoch"] for r in history][: state["epoch"]] == list(range(1, state["epoch"] + 1)), context
        resume = True
    assert kills == sorted(kills) and kills[-1] < epochs
    proc = _run_script({"run_dir": str(run_dir), "config": config, "pieces": 60, "resume": True})
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    assert f"resuming after epoch {kills[-1]}" in output
    history = rd.read_history(run_dir / rd.HISTORY)
    assert [r["epoch"] for r in history] == list(range(1, epochs + 1)), f"kills after epochs {kills}"
    assert json.loads((run_dir / rd.STATE).read_text())["epoch"] == epochs
    assert not list(run_dir.glob(".tmp-*")) and len(list(run_dir.glob("last-*"))) == 2


# ---------------------------------------------------------------- tf.distribute
def _metrics_of(output: str) -> dict:
    line = [s for s in output.splitlines() if s.startswith("METRICS ")]
    assert line, output
    return json.loads(line[-1][len("METRICS "):])


def test_mirrored_strategy_over_two_logical_cpus(tmp_path):
    run_dir = tmp_path / "run"
    proc = _run_script({"run_dir": str(run_dir), "config": {**FAST, "epochs": 2, "distribute": "mirrored"},
                        "pieces": 60, "logical_cpus": 2})
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out
    metrics = _metrics_of(out)
    assert metrics["replicas"] == 2 and metrics["epochs"] == 2
    history = rd.read_history(run_dir / rd.HISTORY)
    assert history[1]["val_loss"] < history[0]["val_loss"] < np.log(TOK.vocab_size), history
    rd.load_trained(run_dir)


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multiworker_two_local_workers_write_one_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(_run_script({"run_dir": str(run_dir), "config": {**FAST, "epochs": 1, "distribute": "multiworker"},
                                  "pieces": 60}, env={"TF_CONFIG": json.dumps(tf_config)}))
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=240)[0])
    finally:
        for proc in procs:
            proc.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n----\n".join(outputs)
    chief, other = (_metrics_of(o) for o in outputs)
    assert chief["replicas"] == 2 and chief["epochs"] == 1
    assert chief["best_val_loss"] == pytest.approx(other["best_val_loss"])  # both saw the same reduced figures
    assert "epoch 1/1" in outputs[0] and "epoch 1/1" not in outputs[1]  # only the chief reports...
    history = rd.read_history(run_dir / rd.HISTORY)
    assert [r["epoch"] for r in history] == [1]  # ...and writes
    rd.load_trained(run_dir)
