"""The command line: help texts, prepare, roundtrip, error handling, and what it must not import."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import every_kind_of_input, messy_folder, scale_notes, write_midi

from melodygru.cli.app import main

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
    (src / "scores" / ".DS_Store").write_bytes(bytes(32))
    out = tmp_path / "out"
    res = runner.invoke(main, ["roundtrip", str(src), "--out", str(out), "--json", "-q", "--jobs", "2"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["total"]["hidden"] == 1
    rels = {f["path"] for f in data["files"]}
    assert "bach/bwv66.6.mid" in rels and "scores/bwv66.6.mxl" in rels
    assert (out / "bach" / "bwv66.6.mid").is_file()
    assert (out / "scores" / "bwv66.6.mxl.mid").is_file()
    assert data["total"]["notes"] > 1000
    assert data["total"]["recall"] >= 0.995
    for f in data["files"]:
        assert f["recall"] >= 0.99, f


def test_roundtrip_output_is_readable_and_equal_on_the_grid(runner, tmp_path):
    from melodygru.io.readers import read_file
    from melodygru.tokens.tokenizer import Tokenizer

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


# ------------------------------------------------------------------------- bad input, user errors
def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def assert_one_error_line(res, *words):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    errors = error_lines(res.output)
    assert len(errors) == 1, res.output
    for w in words:
        assert w in errors[0], errors[0]
    return lines


def test_prepare_gives_every_bad_file_its_one_line_reason(runner, tmp_path):
    root = tmp_path / "music"
    root.mkdir()
    expected = every_kind_of_input(root)
    (root / "._resource-fork.mid").write_bytes(b"\x00\x05\x16\x07" + bytes(80))  # a Mac zip's leftover
    res = runner.invoke(main, ["prepare", str(root), "-q", "--jobs", "2"])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output and "resource-fork" not in res.output
    assert "other files ignored, 1 hidden files/folders passed over" in res.output
    skips = {path: reason for path, (kind, reason) in expected.items() if kind == "skip"}
    reads = {path: notes for path, (kind, notes) in expected.items() if kind == "read"}
    assert f"{len(expected)} files (0 from cache), 1 other files ignored" in res.output
    assert f"{len(reads)} pieces, {sum(reads.values())} notes" in res.output
    assert f"skipped {len(skips)}:" in res.output
    lines = res.output.splitlines()
    for path, reason in skips.items():
        assert any(line.startswith(f"  {path}: {reason}") for line in lines), (path, res.output)


def test_roundtrip_never_stops_on_bad_input(runner, tmp_path):
    root = tmp_path / "music"
    root.mkdir()
    expected = every_kind_of_input(root)
    out = tmp_path / "out"
    res = runner.invoke(main, ["roundtrip", str(root), "--out", str(out), "--jobs", "2"])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    lines = res.output.splitlines()
    for path, (kind, value) in expected.items():
        if kind == "read":
            assert f"{path}: {value}/{value} notes, recall 100.00%" in "\n".join(lines), path
            assert (out / path).is_file(), path
        else:
            assert any(line.startswith(f"{path}: skipped: {value}") for line in lines), (path, res.output)
            assert not (out / path).exists(), path
    reads = [v for k, v in expected.values() if k == "read"]
    assert f"total: {sum(reads)}/{sum(reads)} notes, recall 100.000% over {len(reads)} files" in res.output

    messy = messy_folder(tmp_path / "messy")
    res = runner.invoke(main, ["roundtrip", str(messy), "--out", str(tmp_path / "out2"), "--jobs", "1"])
    assert res.exit_code == 0 and "Traceback" not in res.output, res.output
    assert "drums.mid: skipped: drums only (16 drum notes dropped)" in res.output
    assert "empty.mid: skipped: empty file" in res.output
    assert "tunes.abc: 44/44 notes, recall 100.00%" in res.output
    assert (tmp_path / "out2" / "tunes.abc.3.mid").is_file()


def test_roundtrip_with_nothing_usable_exits_2_with_one_line(runner, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.mid").write_bytes(b"MThd garbage")
    write_midi(bad / "drums.mid", [(0, 1, 36, 100)], channel=9)
    assert_one_error_line(runner.invoke(main, ["roundtrip", str(bad), "--out", str(tmp_path / "o"), "-q"]),
                          "no notes could be read")
    (tmp_path / "nothing").mkdir()
    assert_one_error_line(runner.invoke(main, ["roundtrip", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]),
                          "no MIDI, MusicXML, ABC or kern files found")


def test_an_output_folder_that_cannot_be_written_is_one_line(runner, tmp_path):
    src = write_midi(tmp_path / "music" / "a.mid", scale_notes())
    blocker = tmp_path / "blocker"
    blocker.write_text("a regular file where a folder should be")
    res = runner.invoke(main, ["roundtrip", str(src.parent), "--out", str(blocker / "out"), "-q"])
    assert_one_error_line(res, "cannot create output folder", str(blocker / "out"), "Not a directory")
    # train refuses before reading any music (which can take minutes), generate before loading a model
    lines = assert_one_error_line(runner.invoke(main, ["train", str(src.parent), "--out", str(blocker / "run")]),
                                  f"--out {blocker / 'run'} cannot be created: {blocker} is a file")
    assert lines == error_lines("\n".join(lines))  # nothing else printed: no corpus was read
    assert_one_error_line(runner.invoke(main, ["train", str(src.parent), "--out", str(blocker)]),
                          f"--out {blocker} is a file, not a folder")
    assert_one_error_line(runner.invoke(main, ["generate", "--checkpoint", str(tmp_path), "--out",
                                               str(blocker / "samples")]), "--out", "is a file")
    assert blocker.read_text() == "a regular file where a folder should be"


def test_a_full_disk_is_one_line_and_stops_the_command(runner, tmp_path, monkeypatch):
    import melodygru.corpus.build
    import melodygru.io.writers

    for i in range(3):
        write_midi(tmp_path / "music" / f"a{i}.mid", scale_notes())
    calls = []

    def full(piece, path):
        calls.append(path)
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(melodygru.io.writers, "write_midi_with_report", full)
    res = runner.invoke(main, ["roundtrip", str(tmp_path / "music"), "--out", str(tmp_path / "out"), "-j", "1"])
    assert_one_error_line(res, "error: disk full while writing", str(tmp_path / "out" / "a0.mid"),
                          "No space left on device")
    assert len(calls) == 1  # not skipped file after file: the first full write stops the run

    def raise_(exc):
        def f(*args, **kwargs):
            raise exc
        return f

    monkeypatch.setattr(melodygru.corpus.build, "build_corpus",
                        raise_(OSError(errno.EDQUOT, "Disk quota exceeded", "/cache/x.npz")))
    assert_one_error_line(runner.invoke(main, ["prepare", str(tmp_path / "music")]),
                          "disk full while writing /cache/x.npz (Disk quota exceeded)")
    monkeypatch.setattr(melodygru.corpus.build, "build_corpus",
                        raise_(PermissionError(errno.EACCES, "Permission denied", "/cache/tokens")))
    assert_one_error_line(runner.invoke(main, ["prepare", str(tmp_path / "music")]),
                          "error: /cache/tokens: Permission denied")


@pytest.mark.parametrize("exc", [ValueError("boom"), OSError(errno.EIO, "Input/output error"),
                                 RuntimeError("first line\nand more lines\nof detail")])
def test_an_internal_error_names_the_file_with_the_full_traceback(runner, tmp_path, monkeypatch, exc):
    import tempfile

    import melodygru.corpus.build

    def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(melodygru.corpus.build, "build_corpus", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    res = runner.invoke(main, ["prepare", str(tmp_path)])
    assert res.exit_code == 1
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    name = type(exc).__name__
    match = re.fullmatch(rf"internal error: {name}: (.+) \(full traceback in (\S+); please report it\)", lines[0])
    assert match, lines[0]
    assert match.group(1) == (str(exc) if "\n" not in str(exc) else "first line...")
    log = Path(match.group(2))
    assert log.parent == tmp_path / "tmp" and log.is_file()
    text = log.read_text()
    assert text.startswith("Traceback (most recent call last):") and "in broken" in text
    assert text.rstrip().endswith(f"{name}: {exc}")


def test_a_closed_pipe_is_no_internal_error(runner, tmp_path, monkeypatch):
    import melodygru.corpus.build

    def closed(*args, **kwargs):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(melodygru.corpus.build, "build_corpus", closed)
    res = runner.invoke(main, ["prepare", str(tmp_path)])
    assert res.exit_code == 1 and "internal error" not in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("args, words", [
    (["prepare", "music", "--grid", "0"], ["Invalid value for '--grid'", "melodygru prepare --help"]),
    (["prepare", "music", "--max-file-mb", "-1"], ["Invalid value for '--max-file-mb'"]),
    (["prepare"], ["give at least one PATH or --corpus NAME"]),
    (["prepare", "music", "--bogus"], ["No such option", "--bogus"]),
    (["--bogus"], ["No such option", "--bogus", "melodygru --help"]),
    (["bogus"], ["No such command", "bogus"]),
    (["train", "--resume"], ["--resume needs --out RUN_DIR"]),
    (["generate", "--top-p", "0"], ["Invalid value for '--top-p'"]),
])
def test_usage_errors_are_one_line_and_exit_2(runner, args, words):
    res = runner.invoke(main, args, prog_name="melodygru")
    lines = assert_one_error_line(res, *words)
    assert len(lines) == 1, res.output  # click's usage block and hint are folded into the one line


def _raw_create(raw_path: bytes, data: bytes) -> None:
    fd = os.open(raw_path, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, data)
    os.close(fd)


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "utf-8"}, {"PYTHONIOENCODING": "ascii"},
                                 {"LC_ALL": "C", "LANG": "C"}], ids=["utf8", "ascii", "C-locale"])
def test_non_utf8_file_names_under_any_stdout_encoding(tmp_path, env):
    root = tmp_path / "music"
    good = write_midi(root / "good.mid", scale_notes())
    raw = os.fsencode(root)
    _raw_create(os.path.join(raw, b"caf\xe9.mid"), good.read_bytes())  # Latin-1: not valid UTF-8
    _raw_create(os.path.join(raw, b"mauvais-\xe9.mid"), b"not MIDI")
    _raw_create(os.path.join(raw, "d\u00e9j\u00e0-vu.mid".encode()), b"not MIDI either")  # UTF-8, not ASCII
    out = tmp_path / "out"
    code = (
        "import sys\n"
        "from melodygru.cli import main\n"
        f"for args in (['prepare', {str(root)!r}, '-q', '-j', '1'], ['roundtrip', {str(root)!r}, '--out', {str(out)!r}, '-j', '1']):\n"
        "    try:\n"
        "        main(args, prog_name='melodygru')\n"
        "    except SystemExit as e:\n"
        "        print('exit', e.code, flush=True)\n"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONIOENCODING", "PYTHONUTF8", "LC_ALL", "LANG")}
    clean.update(env, MELODYGRU_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=clean, timeout=120)
    stdout, stderr = proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0 and "Traceback" not in stderr and "Error" not in stderr, stderr
    assert stdout.count("exit 0") == 2, stdout
    assert "3 files (0 from cache)" not in stdout and "4 files (0 from cache)" in stdout
    assert "2 pieces, 32 notes" in stdout and "skipped 2:" in stdout
    assert stdout.count("not a MIDI file (no MThd header)") == 4, stdout  # two by prepare, two by roundtrip
    assert "total: 32/32 notes, recall 100.000% over 2 files (2 with problems" in stdout
    # the undecodable byte shows as \xe9 (click itself turns it into '?' on an ASCII-only stdout)
    shown = "?" if env.get("PYTHONIOENCODING") == "ascii" else "\\xe9"
    assert f"caf{shown}.mid: 16/16 notes, recall 100.00%" in stdout.splitlines(), stdout
    assert f"  mauvais-{shown}.mid: not a MIDI file (no MThd header)" in stdout.splitlines(), stdout
    assert sorted(os.listdir(os.fsencode(out))) == [b"caf\xe9.mid", b"good.mid"]  # mirrored byte for byte
