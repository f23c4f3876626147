"""The four polyphonic benchmarks (benchmarks/polyphonic.py): the MIDI they write and the tokens they train
on keep every (step, pitch) of each dataset's whole test split, on each dataset's own step length; the
time plan; a smoke run on `--limit` trains, scores and writes its result.

The conversion check (write + check) took on the 2-core machine, shared with other jobs (issue 16's
session): JSB 1.0 s, Piano-midi.de 2.0 s, Nottingham 5.8 s, MuseData 5.7 s, so every test split is
checked whole.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "polyphonic.py"


@pytest.fixture(scope="module")
def poly():
    spec = importlib.util.spec_from_file_location("polyphonic", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("polyphonic", module)  # its dataclass looks its module up while it is built
    spec.loader.exec_module(sys.modules["polyphonic"])
    return sys.modules["polyphonic"]


def pieces(n: int, seed: int = 0, lead: int = 0):
    """Pieces as the data has them: sorted pitch lists, some steps empty, optionally starting silent."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        steps = [[] for _ in range(lead)]
        for _ in range(int(rng.integers(8, 40))):
            voices = int(rng.choice([3, 2, 1, 1, 0]))
            steps.append(sorted(int(p) for p in rng.choice(np.arange(21, 109), voices, replace=False)))
        steps.append([60])  # a piece ends on a sounding step, as every test piece of the data does
        out.append(steps)
    return out


def test_an_eighth_note_grid_keeps_every_step_and_a_change_is_caught(poly, tmp_path):
    data = pieces(4, lead=3)  # leading silence must keep its steps
    steps = poly.write_split(data, tmp_path / "test", 2)
    assert steps == {f"{i:03d}.mid": len(p) for i, p in enumerate(data)}
    assert poly.check_test_encoding(tmp_path / "test", data, 2) == sum(len(s) for p in data for s in p)
    with pytest.raises(SystemExit, match="test piece 0"):  # read on the quarter grid, the steps are wrong
        poly.check_test_encoding(tmp_path / "test", data, 1)
    data[2][5] = data[2][5][:-1] if data[2][5] else [64]
    with pytest.raises(SystemExit, match="test piece 2"):
        poly.check_test_encoding(tmp_path / "test", data, 2)


@pytest.mark.parametrize("name", ["jsb", "piano-midi", "nottingham", "musedata"])
def test_the_tokens_keep_every_step_of_each_test_split(poly, tmp_path, name):
    ds = poly.DATASETS[name]
    path = poly.DATA_ROOT / ds.path
    if not path.is_file():
        pytest.skip(f"{path} is not on this machine")
    test = json.loads(path.read_text())["test"]
    poly.write_split(test, tmp_path / "test", ds.steps_per_quarter)
    assert poly.check_test_encoding(tmp_path / "test", test, ds.steps_per_quarter) == sum(len(set(s)) for p in test for s in p)


def test_another_reader_reads_the_written_files_the_same(poly):
    import io

    import pretty_midi

    for spq in (1, 2):
        for piece in pieces(3, seed=spq, lead=2):
            pm = pretty_midi.PrettyMIDI(io.BytesIO(poly.midi_file(piece, spq)))
            step = 0.5 / spq  # seconds at 120 bpm
            got = sorted((round(n.start / step), n.pitch, round((n.end - n.start) / step, 6)) for n in pm.instruments[0].notes)
            assert got == sorted((i, p, 1.0) for i, ps in enumerate(piece) for p in set(ps))


def test_each_dataset_has_its_step_and_the_lstm_matches_the_grus_size(poly):
    assert {n: d.steps_per_quarter for n, d in poly.DATASETS.items()} == {"jsb": 1, "nottingham": 2, "musedata": 2, "piano-midi": 2}
    from melodygru.tokens.config import TokenizerConfig
    from melodygru.tokens.tokenizer import Tokenizer

    for spq in (1, 2):
        vocab = Tokenizer(TokenizerConfig(**poly.tokenizer_config(spq))).vocab_size
        gru = poly.param_count("gru", 256, 2, 128, vocab)
        assert abs(poly.param_count("lstm", poly.lstm_units(vocab), 2, 128, vocab) - gru) / gru < 0.01


def test_the_time_plan_fits_whole_epochs_after_a_restart(poly):
    assert poly.planned_epochs(2, 60.0, 30.0, 3600.0) == 2 + 59  # (3600 - 30) // 60
    assert poly.planned_epochs(2, 60.0, 30.0, 50.0) == 2  # no room for another epoch: keep what is done
    assert poly.planned_epochs(2, 0.0, 30.0, 50.0) == 2


def test_a_time_budget_stops_after_calibrating_and_resumes_with_the_epochs_that_fit(poly, monkeypatch):
    calls = []

    def fake_train(args, env, run, stop_after=None, deadline=None):
        calls.append((list(args), stop_after, deadline))
        return 0, "calibrated" if stop_after else None

    monkeypatch.setattr(poly, "train_until", fake_train)
    monkeypatch.setattr(poly, "committed", lambda run: (2, [{"epoch_seconds": 9.0}, {"epoch_seconds": 7.0}]))
    plan = poly.train_on_time(["common"], ["--preset", "small"], {}, Path("run"), minutes=1.0)
    (first, stop, deadline), (second, _, deadline2) = calls
    assert first == ["common", "--preset", "small", "--epochs", poly.PROVISIONAL_EPOCHS] and stop == poly.CALIBRATION_EPOCHS
    assert second[:2] == ["common", "--resume"] and second[2] == "--epochs" and deadline2 == deadline
    assert plan["planned_epochs"] == second[3] == 2 + 8  # just under 60 s left (the fake took none), 7 s an epoch
    assert plan["seconds_per_epoch"] == 7.0 and not plan["stopped_by_time"]


def smoke(tmp_path, arch, *options):
    data = {split: pieces(3, seed=i) for i, split in enumerate(("train", "valid", "test"))}
    (tmp_path / "tiny.json").write_text(json.dumps(data))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, str(SCRIPT), "--dataset", "nottingham", "--data", str(tmp_path / "tiny.json"),
           "--work", str(tmp_path / "work"), "--limit", "3", "--arch", arch, *options]
    kept = sorted((ROOT / "benchmarks" / "results").iterdir())
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "work" / f"run-{arch}" / "nottingham_result.json").read_text())
    assert result["cell"] == arch
    assert result["test_steps"] == sum(len(p) for p in data["test"]) and result["step"] == "eighth-note"
    assert "test NLL per step:" in done.stdout
    assert sorted((ROOT / "benchmarks" / "results").iterdir()) == kept  # a --limit run is not a result
    return result


def test_a_smoke_run_trains_scores_and_writes_its_result(tmp_path):
    # the LSTM: `evaluate` must score a run of either cell (the GRU's runs are scored in the slow test)
    result = smoke(tmp_path, "lstm", "--", "--preset", "tiny", "--epochs", "1", "--seq-len", "32")
    assert result["epochs"] == 1 and result["time_plan"] is None
    # the same run scored again, without training, and with the continuous cache chosen on valid
    again = smoke(tmp_path, "lstm", "--score-only", "--cache")
    assert again["test_nll_per_step"] == pytest.approx(result["test_nll_per_step"], rel=1e-6)
    assert again["epochs"] == 1 and again["train_options"] == result["train_options"] and again["cell"] == "lstm"
    c = again["continuous_cache"]
    # the model alone on valid is the training's own best validation figure, and the chosen pair is the
    # grid's minimum
    assert c["valid_nll_per_step"] == pytest.approx(result["valid_nll_per_step"], rel=1e-3)
    per_token = {(th, lm): v for th, lm, v in c["grid_on_valid"]}
    assert per_token[(c["theta"], c["lambda"])] == min(per_token.values())
    alone = [v for (th, lm), v in per_token.items() if lm == 0.0]  # the model alone, whatever theta
    assert len(alone) > 1 and max(alone) - min(alone) < 1e-9
    assert again["test_seconds_include"] == ["continuous_cache"]

    # a second run, and the two as an ensemble: the result goes beside the first run's
    def script(*options):
        return subprocess.run([sys.executable, str(SCRIPT), "--dataset", "nottingham", "--data", str(tmp_path / "tiny.json"),
                               "--work", str(tmp_path / "work"), "--limit", "3", "--arch", "lstm", *options],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})

    second = script("--run-name", "run-b", "--", "--preset", "tiny", "--epochs", "1", "--seq-len", "32", "--seed", "5")
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    b = json.loads((tmp_path / "work" / "run-b" / "nottingham_result.json").read_text())
    both = script("--score-only", "--ensemble", "run-b")
    assert both.returncode == 0, both.stdout[-2000:] + both.stderr[-2000:]
    e = json.loads((tmp_path / "work" / "run-lstm" / "nottingham_result-ensemble2.json").read_text())["ensemble"]
    assert e["runs"] == ["run-lstm", "run-b"]
    assert e["runs_test_nll_per_step"] == pytest.approx([result["test_nll_per_step"], b["test_nll_per_step"]], rel=1e-5)
    # the mixture is better than the two runs' mean (Jensen, strictly: the runs differ)
    assert e["test_nll_per_step"] < sum(e["runs_test_nll_per_step"]) / 2
    assert "ensemble of 2" in both.stdout and both.stdout.rstrip().endswith(f"{result['test_nll_per_step']:.3f}")
    same = script("--score-only", "--ensemble", "run-lstm")
    assert same.returncode != 0 and "already in the ensemble" in same.stdout + same.stderr
    missing = subprocess.run([sys.executable, str(SCRIPT), "--dataset", "nottingham", "--data", str(tmp_path / "tiny.json"),
                              "--work", str(tmp_path / "work"), "--run-name", "nothing", "--score-only"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert missing.returncode == 2 and "holds no finished run" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.slow
def test_a_smoke_run_on_a_time_budget_calibrates_then_resumes(tmp_path):  # 41 s on the 2-core machine
    result = smoke(tmp_path, "gru", "--minutes", "0.6", "--", "--preset", "tiny", "--seq-len", "32", "--patience", "0")
    plan = result["time_plan"]
    assert plan["calibration_epochs"] >= 2 and plan["planned_epochs"] >= plan["calibration_epochs"]
    assert result["train_wall_seconds"] < 0.6 * 60 + 20  # the budget, and the last Ctrl-C's wind-down
