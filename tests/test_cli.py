"""The command line: help texts, prepare, roundtrip, error handling, and what it must not import."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from melodygru.cli import main

from helpers import messy_folder, scale_notes, write_midi

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "data" / "examples"


@pytest.fixture()
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("MELODYGRU_CACHE_DIR", str(tmp_path / "cache"))
    return CliRunner()


def test_help_lists_every_command_and_option_defaults(runner):
    res = runner.invoke(main, ["--help"])
    assert res.exit_code == 0
    for cmd in ("prepare", "roundtrip"):
        assert cmd in res.output
    res = runner.invoke(main, ["prepare", "--help"])
    assert res.exit_code == 0
    text = " ".join(res.output.split())  # help is wrapped to the terminal width
    assert "--grid" in text and "default: 12" in text
    assert "--max-file-mb" in text and "default: 20.0" in text


def test_help_and_prepare_do_not_import_tensorflow(tmp_path):
    write_midi(tmp_path / "m" / "a.mid", scale_notes())
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from melodygru.cli import main\n"
        "r = CliRunner().invoke(main, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        f"r = CliRunner().invoke(main, ['prepare', {str(tmp_path / 'm')!r}, '--cache-dir', {str(tmp_path / 'c')!r}, '-q'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_prepare_reports_pieces_and_every_skip(runner, tmp_path):
    folder = messy_folder(tmp_path / "music")
    res = runner.invoke(main, ["prepare", str(folder), "-q"])
    assert res.exit_code == 0, res.output
    assert "5 pieces" in res.output
    assert "skipped 4:" in res.output
    for name in ("drums.mid", "empty.mid", "text.mid", "random.mid"):
        assert name in res.output
    assert "Traceback" not in res.output
    res2 = runner.invoke(main, ["prepare", str(folder), "-q", "--json"])
    report = json.loads(res2.output)
    assert report["cached"] == 7 and report["pieces"] == 5


def test_prepare_with_nothing_usable_exits_2_with_one_line(runner, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.mid").write_bytes(b"MThd garbage")
    (bad / "y.txt").write_text("hello")
    res = runner.invoke(main, ["prepare", str(bad), "-q"])
    assert res.exit_code == 2
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "nothing usable" in errors[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runner.invoke(main, ["prepare", str(empty)]).exit_code == 2


def test_bad_paths_and_options_exit_2(runner, tmp_path):
    res = runner.invoke(main, ["prepare", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "no such file or folder" in res.output
    assert runner.invoke(main, ["prepare"]).exit_code == 2
    assert runner.invoke(main, ["prepare", str(tmp_path), "--grid", "0"]).exit_code == 2
    res = runner.invoke(main, ["prepare", str(tmp_path), "--drums"])
    assert res.exit_code == 2 and "needs programs" in res.output


def test_roundtrip_mirrors_paths_and_reports_recall(runner, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(EXAMPLES, src)
    (src / "scores").mkdir()
    from music21 import corpus

    shutil.copy(corpus.getWork("bach/bwv66.6"), src / "scores" / "bwv66.6.mxl")
    out = tmp_path / "out"
    res = runner.invoke(main, ["roundtrip", str(src), "--out", str(out), "--json", "-q", "--jobs", "2"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    rels = {f["path"] for f in data["files"]}
    assert "bach/bwv66.6.mid" in rels and "scores/bwv66.6.mxl" in rels
    assert (out / "bach" / "bwv66.6.mid").is_file()
    assert (out / "scores" / "bwv66.6.mxl.mid").is_file()
    assert data["total"]["notes"] > 1000
    assert data["total"]["recall"] >= 0.995
    for f in data["files"]:
        assert f["recall"] >= 0.99, f


def test_roundtrip_output_is_readable_and_equal_on_the_grid(runner, tmp_path):
    from melodygru.readers import read_file
    from melodygru.tokenizer import Tokenizer

    notes = scale_notes(60, 20) + [(0, 6.5, 48, 70), (1 / 3, 1 / 3, 72, 60), (2 / 3, 1 / 3, 74, 60)]
    src = write_midi(tmp_path / "in" / "tune.mid", notes, meter=(3, 4), tempo_bpm=90)
    res = runner.invoke(main, ["roundtrip", str(src.parent), "--out", str(tmp_path / "out"), "-q"])
    assert res.exit_code == 0, res.output
    assert "recall 100.000%" in res.output
    tok = Tokenizer()
    back = read_file(tmp_path / "out" / "tune.mid")[0]
    orig = read_file(src)[0]
    assert sorted(tok.note_key(n) for n in back.notes) == sorted(tok.note_key(n) for n in orig.notes)
    assert [(t.numerator, t.denominator) for t in back.time_signatures] == [(3, 4)]
    assert abs(back.tempos[0].bpm - 90) / 90 < 0.05
