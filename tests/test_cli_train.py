"""`melodygru train` from the command line: a tiny run on a generated folder, resume, and bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import every_kind_of_input, scale_notes, write_midi

from melodygru.cli.app import main

TINY = ["--preset", "tiny", "--seq-len", "32", "--batch-size", "8", "-q", "--critic-samples", "0"]  # the critic: test_critic.py


@pytest.fixture()
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("MELODYGRU_CACHE_DIR", str(tmp_path / "cache"))
    return CliRunner()


@pytest.fixture()
def folder(tmp_path):
    """Twelve short pieces: scales in different keys and rhythms (a learnable toy corpus)."""
    root = tmp_path / "music"
    for i in range(12):
        notes = scale_notes(start_pitch=55 + i, count=24, step=0.5 if i % 2 else 1.0)
        write_midi(root / f"sub{i % 3}" / f"piece{i}.mid", notes)
    (root / "readme.txt").write_text("not music")
    return root


def _history(run_dir: Path):
    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_train_writes_a_run_dir_generate_can_use(runner, folder, tmp_path):
    run_dir = tmp_path / "run"
    res = runner.invoke(main, ["train", str(folder), "--out", str(run_dir), "--epochs", "3", *TINY])
    assert res.exit_code == 0, res.output
    assert "12 pieces" in res.output
    assert "epoch 3/3" in res.output and "best validation loss" in res.output
    for name in ("model.keras", "tokenizer.json", "config.json", "history.csv", "metrics.json", "split.json"):
        assert (run_dir / name).is_file(), name
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["preset"] == "tiny" and config["train"]["seq_len"] == 32
    assert config["data"]["paths"] == [str(folder.resolve())]
    split = json.loads((run_dir / "split.json").read_text())
    assert len(split["train"]) + len(split["val"]) == 12 and not set(split["train"]) & set(split["val"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and metrics["best_val_loss"] > 0
    assert [int(r["epoch"]) for r in _history(run_dir)] == [1, 2, 3]

    out = tmp_path / "gen"
    res = runner.invoke(main, ["generate", "--checkpoint", str(run_dir), "--length", "48", "--seed", "1",
                               "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert list(out.glob("*.mid"))


def test_shared_durations_train_generate_and_evaluate(runner, tmp_path):
    """--shared-durations reaches the tokenizer, the cache and the run; generate and evaluate use it."""
    from melodygru.io.readers import read_file
    from melodygru.tokens.tokenizer import Tokenizer

    root = tmp_path / "chords"
    for i in range(6):  # block chords of quarter notes: each onset's notes last equally long
        notes = [(q, 1.0, 48 + i + (q * 5) % 12 + off, 80) for q in range(16) for off in (0, 4, 7, 12)]
        write_midi(root / f"c{i}.mid", notes)
    run_dir = tmp_path / "run"
    res = runner.invoke(main, ["train", str(root), "--out", str(run_dir), "--epochs", "2", "--velocity-bins", "0",
                               "--shared-durations", *TINY])
    assert res.exit_code == 0, res.output
    tok = Tokenizer.load(run_dir / "tokenizer.json")
    assert tok.config.shared_durations
    # per piece: BOS, 4 BARs, TS, TEMPO, 16 chords of POS + 4 PITCH + one DUR, EOS
    assert f"6 pieces, 384 notes, {6 * (1 + 4 + 1 + 1 + 16 * 6 + 1)} tokens" in res.output
    out = tmp_path / "gen"
    res = runner.invoke(main, ["generate", "--checkpoint", str(run_dir), "--length", "96", "--num-samples", "2",
                               "--seed", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for f in sorted(out.glob("*.mid")):
        (piece,) = read_file(f)
        assert piece.notes and all(abs(n.duration * 12 - round(n.duration * 12)) < 1e-6 for n in piece.notes)
    res = runner.invoke(main, ["evaluate", "--checkpoint", str(run_dir), str(root), "--json", "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["likelihood"]["pieces"] == 6
    # per-note durations are another tokenizer: resuming with them is refused
    res = runner.invoke(main, ["train", "--resume", "--critic-samples", "0", "--out", str(run_dir), "--epochs", "3", "--note-durations",
                               "--velocity-bins", "0", "-q"])
    assert res.exit_code == 2 and "different tokenizer" in res.output, (res.output, res.exception)


def test_resume_from_the_recorded_data_adds_epochs(runner, folder, tmp_path):
    run_dir = tmp_path / "run"
    res = runner.invoke(main, ["train", str(folder), "--out", str(run_dir), "--epochs", "1", *TINY])
    assert res.exit_code == 0, res.output
    # no PATH, no model options: everything comes from the run directory; only --epochs changes
    res = runner.invoke(main, ["train", "--resume", "--critic-samples", "0", "--out", str(run_dir), "--epochs", "2", "-q"])
    assert res.exit_code == 0, res.output
    assert "epoch 2/2" in res.output
    assert [int(r["epoch"]) for r in _history(run_dir)] == [1, 2]
    assert json.loads((run_dir / "config.json").read_text())["train"]["epochs"] == 2


def test_resume_refuses_a_changed_model_or_tokenizer(runner, folder, tmp_path):
    run_dir = tmp_path / "run"
    assert runner.invoke(main, ["train", str(folder), "--out", str(run_dir), "--epochs", "1", *TINY]).exit_code == 0
    res = runner.invoke(main, ["train", "--resume", "--critic-samples", "0", "--out", str(run_dir), "--epochs", "2", "--units", "32", "-q"])
    assert res.exit_code == 2 and "cannot resume" in res.output and "Traceback" not in res.output
    res = runner.invoke(main, ["train", "--resume", "--critic-samples", "0", "--out", str(run_dir), "--epochs", "2", "--grid", "4", "-q"])
    assert res.exit_code == 2 and "different tokenizer" in res.output


def test_a_second_run_into_the_same_directory_is_refused(runner, folder, tmp_path):
    run_dir = tmp_path / "run"
    assert runner.invoke(main, ["train", str(folder), "--out", str(run_dir), "--epochs", "1", *TINY]).exit_code == 0
    before = (run_dir / "model.keras").read_bytes()
    res = runner.invoke(main, ["train", str(folder), "--out", str(run_dir), "--epochs", "1", *TINY])
    assert res.exit_code == 2 and "already holds a training run" in res.output
    assert (run_dir / "model.keras").read_bytes() == before  # nothing lost


def test_separate_validation_folder(runner, folder, tmp_path):
    val = tmp_path / "val"
    for i in range(2):
        write_midi(val / f"v{i}.mid", scale_notes(start_pitch=60 + i, count=24))
    run_dir = tmp_path / "run"
    res = runner.invoke(main, ["train", str(folder), "--val", str(val), "--out", str(run_dir), "--epochs", "1", *TINY])
    assert res.exit_code == 0, res.output
    assert "validation: 2 pieces" in res.output
    split = json.loads((run_dir / "split.json").read_text())
    assert len(split["train"]) == 12 and len(split["val"]) == 2


def test_train_reads_past_every_kind_of_bad_file(runner, tmp_path):
    root = tmp_path / "music"
    root.mkdir()
    expected = every_kind_of_input(root)
    (root / "far.mid").unlink()  # 10,000 bars of silence: slow to train on, prepare's tests read it
    del expected["far.mid"]
    reads = {path: notes for path, (kind, notes) in expected.items() if kind == "read"}
    skips = {path: reason for path, (kind, reason) in expected.items() if kind == "skip"}
    run_dir = tmp_path / "run"
    res = runner.invoke(main, ["train", str(root), "--out", str(run_dir), "--epochs", "1", "--jobs", "2", *TINY])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    assert f"{len(reads)} pieces, {sum(reads.values())} notes" in res.output
    assert f"skipped {len(skips)}:" in res.output
    lines = res.output.splitlines()
    for path, reason in skips.items():
        assert any(line.startswith(f"  {path}: {reason}") for line in lines), (path, res.output)
    split = json.loads((run_dir / "split.json").read_text())
    assert sorted(split["train"] + split["val"]) == sorted(reads)
    assert (run_dir / "model.keras").is_file()


def test_bad_input_is_one_line_and_exit_2(runner, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no music here")
    res = runner.invoke(main, ["train", str(empty), "--out", str(tmp_path / "run"), *TINY])
    assert res.exit_code == 2 and "nothing usable" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "run").exists()
    res = runner.invoke(main, ["train", "--resume", "--critic-samples", "0", "--out", str(tmp_path / "nothing"), "-q"])
    assert res.exit_code == 2 and "nothing to resume" in res.output
    res = runner.invoke(main, ["train", "--out", str(tmp_path / "run2")])
    assert res.exit_code == 2 and "PATH" in res.output


def _val_folder(root: Path, starts=(60, 61)) -> Path:
    for i, s in enumerate(starts):
        write_midi(root / f"v{i}.mid", scale_notes(start_pitch=s, count=24))
    return root


def test_resume_keeps_the_separate_validation_folder(runner, folder, tmp_path):
    val = _val_folder(tmp_path / "val")
    run_dir = tmp_path / "run"
    res = runner.invoke(main, ["train", str(folder), "--val", str(val), "--out", str(run_dir), "--epochs", "1", *TINY])
    assert res.exit_code == 0, res.output
    # no --val on resume: the run's own validation folder, not a split of the training pieces
    res = runner.invoke(main, ["train", "--resume", "--critic-samples", "0", "--out", str(run_dir), "--epochs", "2", "-q"])
    assert res.exit_code == 0, res.output
    assert "validation: 2 pieces" in res.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["val_pieces"] == 2 and metrics["train_pieces"] == 12
    assert json.loads((run_dir / "config.json").read_text())["data"]["val_paths"] == [str(val.resolve())]
    # the same folder given again is the same set
    res = runner.invoke(main, ["train", "--resume", "--critic-samples", "0", "--out", str(run_dir), "--epochs", "3", "--val", str(val), "-q"])
    assert res.exit_code == 0, res.output


def test_resume_refuses_a_different_validation_set(runner, folder, tmp_path):
    val = _val_folder(tmp_path / "val")
    other = _val_folder(tmp_path / "other", (62, 63))
    run_dir = tmp_path / "run"
    res = runner.invoke(main, ["train", str(folder), "--val", str(val), "--out", str(run_dir), "--epochs", "1", *TINY])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["train", "--resume", "--critic-samples", "0", "--out", str(run_dir), "--epochs", "2", "--val", str(other), "-q"])
    assert res.exit_code == 2, res.output
    (line,) = res.output.strip().splitlines()
    assert line.startswith("error: ") and str(val.resolve()) in line and str(other.resolve()) in line, line
    # a run that held out --val-split refuses a --val folder on resume as well
    split_run = tmp_path / "split"
    res = runner.invoke(main, ["train", str(folder), "--out", str(split_run), "--epochs", "1", *TINY])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["train", "--resume", "--critic-samples", "0", "--out", str(split_run), "--epochs", "2", "--val", str(val), "-q"])
    assert res.exit_code == 2, res.output
    (line,) = res.output.strip().splitlines()
    assert line.startswith("error: ") and "--val-split 0.1" in line and str(val.resolve()) in line, line
    assert [int(r["epoch"]) for r in _history(split_run)] == [1]


def test_resume_of_a_config_without_val_paths_splits_as_recorded(runner, folder, tmp_path):
    """config.json of runs started before --val was recorded has no data.val_paths: such a run
    held out --val-split of its pieces, and resumes doing the same."""
    run_dir = tmp_path / "run"
    res = runner.invoke(main, ["train", str(folder), "--out", str(run_dir), "--epochs", "1", "--val-split", "0.25",
                               *TINY])
    assert res.exit_code == 0, res.output
    config = json.loads((run_dir / "config.json").read_text())
    del config["data"]["val_paths"]
    (run_dir / "config.json").write_text(json.dumps(config))
    before = json.loads((run_dir / "split.json").read_text())
    res = runner.invoke(main, ["train", "--resume", "--critic-samples", "0", "--out", str(run_dir), "--epochs", "2", "-q"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["val_pieces"] == 3 and metrics["train_pieces"] == 9
    assert json.loads((run_dir / "split.json").read_text()) == before
