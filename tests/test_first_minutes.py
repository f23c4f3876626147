"""The first five minutes (issue 17): what a new user meets, each checked as they meet it: a real
`melodygru` process with its output to a pipe (a log file, CI), or to a pseudo-terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
BACH = REPO / "checkpoints" / "bach"


def cli(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    """`melodygru ARGS...` in a process of its own, importing this checkout's code, stdout and
    stderr each to a pipe."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "melodygru.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


# --------------------------------------------------------------------------- 1. help
def test_no_arguments_prints_the_whole_help():
    proc = cli()
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Usage: melodygru [OPTIONS] COMMAND")
    assert len(lines) > 15 and "Commands:" in lines and not proc.stdout.startswith("error")
    assert any(line.split()[:1] == ["generate"] for line in lines)  # one command per line
    assert proc.stderr == ""


@pytest.mark.parametrize("command", ["generate", "train", "prepare"])
def test_command_help_stays_multi_line(command):
    proc = cli(command, "--help")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"Usage: melodygru {command} [OPTIONS]") and len(lines) > 15
    assert any(line.lstrip().startswith("-h, --help") for line in lines)


# --------------------------------------------------------------------------- 2. progress
def run_on_terminal(*args, env=None, timeout=300) -> tuple[int, str, str]:
    """`melodygru ARGS...` with stderr on a pseudo-terminal (stdout to a pipe): (exit code, stdout,
    what the terminal showed)."""
    import fcntl
    import pty
    import struct
    import termios
    import threading

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 wide
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "melodygru.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=slave, env=env)
    os.close(slave)
    shown = []

    def drain():  # a terminal's buffer is small: read it while the command runs
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the command closed the terminal
                return
            if not data:
                return
            shown.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    out, _ = proc.communicate(timeout=timeout)
    reader.join(timeout=10)
    os.close(master)
    return proc.returncode, out.decode(), b"".join(shown).decode("utf-8", "replace")


def test_progress_is_a_bar_on_a_terminal_and_one_line_in_a_log(tmp_path):
    from melodygru.core.progress import PlainProgress, Silent, progress

    class Stream(list):
        def __init__(self, tty):
            super().__init__()
            self.tty = tty

        def isatty(self):
            return self.tty

        def write(self, s):
            self.append(s)

        def flush(self):
            pass

    log = Stream(False)
    bar = progress(3, "reading", "file", stream=log)
    assert isinstance(bar, PlainProgress)
    for _ in range(3):
        bar.update(1)
    bar.close()
    bar.close()
    assert len(log) == 1 and log[0].startswith("reading: 3 files in ") and "\r" not in log[0]
    assert isinstance(progress(3, "epoch 1", "step", line=False, stream=Stream(False)), Silent)
    assert isinstance(progress(3, "reading", "file", enabled=False, stream=Stream(True)), Silent)
    assert not isinstance(progress(3, "reading", "file", stream=Stream(True)), (Silent, PlainProgress))  # tqdm

    # the same command, as the user meets it: a bar on the terminal, one plain line in a log
    folder = REPO / "data" / "examples" / "folk"
    proc = cli("prepare", folder, "--cache-dir", tmp_path / "a", "-j", "1")
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stdout + proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("reading: ")], proc.stderr
    code, out, shown = run_on_terminal("prepare", folder, "--cache-dir", tmp_path / "b", "-j", "1")
    assert code == 0, shown
    assert "\r" in shown and "reading" in shown and "|" in shown  # tqdm's bar, redrawn in place
    assert "files (0 from cache)" in out


# --------------------------------------------------------------------------- 3. TensorFlow's own logs
TF_NOISE = re.compile(r"^(E0000|W0000|I0000|WARNING: All log messages|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] )")


def tf_noise(text: str) -> list[str]:
    """TensorFlow's C++ log lines in `text` (absl's format, and the older one with a date)."""
    return [line for line in text.splitlines() if TF_NOISE.match(line) or "cudart_stub" in line]


def test_train_in_a_log_has_no_bars_and_no_tensorflow_lines(tmp_path):
    proc = cli("train", REPO / "data" / "examples" / "folk", "--preset", "tiny", "--epochs", 2, "--seq-len", 32,
               "--batch-size", 8, "--critic-samples", 0, "--out", tmp_path / "run", "-j", 1,
               env={"MELODYGRU_CACHE_DIR": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    both = proc.stdout + proc.stderr
    assert "\r" not in both
    assert not tf_noise(both), tf_noise(both)
    assert [line for line in proc.stderr.splitlines() if line.startswith("reading: 10 files in ")], proc.stderr
    epochs = [line for line in proc.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/2", "2/2"], proc.stdout  # one plain line per epoch


def test_verbose_leaves_tensorflow_its_own_log_level(monkeypatch):
    from melodygru.core import tfenv

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    tfenv.set_verbose(True)
    try:
        tfenv.import_tensorflow()
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    finally:
        tfenv.set_verbose(False)
    tfenv.import_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == tfenv.QUIET_LEVEL


# --------------------------------------------------------------------------- 4. --bars and --seconds
def written_pieces(folder: Path):
    from melodygru.io.readers import read_file

    files = sorted(folder.glob("sample-*.mid"))
    assert files, f"nothing written in {folder}"
    return [p for f in files for p in read_file(f)]


def test_bars_and_seconds_stop_at_their_bar_line_with_no_tensorflow_lines(tmp_path):
    """`--bars 6` writes files of exactly 6 bars, `--seconds 8` files of at least 8 s that one bar
    fewer would not reach (read back from the files); and generate writes no TensorFlow log line."""
    from click.testing import CliRunner

    from melodygru.cli import main
    from melodygru.generation.files import count_bars
    from melodygru.generation.length import sounding_until
    from melodygru.io.writers import bar_lines, seconds

    proc = cli("generate", "--checkpoint", BACH, "--bars", 6, "--candidates", 1, "-k", 2, "--seed", 3,
               "--out", tmp_path / "bars")
    assert proc.returncode == 0, proc.stderr
    assert "2 x 6 bars (at most 576 tokens)" in proc.stdout and "2 of 2 samples stopped at the first bar line" in proc.stdout
    assert not tf_noise(proc.stdout + proc.stderr) and proc.stderr == "", proc.stderr  # item 3: no TF lines
    pieces = written_pieces(tmp_path / "bars")
    assert [count_bars(p) for p in pieces] == [6, 6]
    for p in pieces:
        assert p.end <= bar_lines(p, end=p.end + 64)[6] + 1e-6  # nothing sounds past the bar line that ends bar 6

    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(BACH), "--seconds", "8", "--candidates", "1",
                                    "-k", "2", "--seed", "3", "--out", str(tmp_path / "seconds")])  # in-process: quicker
    assert res.exit_code == 0, res.output
    for p in written_pieces(tmp_path / "seconds"):
        assert seconds(p) >= 8 - 1e-3
        lines = bar_lines(p, p.end + 8)
        end_line = min(b for b in lines if b >= p.end - 1e-6)  # the bar line the file ends at (or its last rest)
        before = max(b for b in lines if b < end_line - 1e-6)
        assert seconds(p, sounding_until(p, before)) < 8  # one bar sooner would have been too short


def test_bars_cut_the_very_tokens_a_plain_draw_gives(tmp_path):
    """A length in bars cuts the draw, it does not change it: the same seed and budget without
    --bars begin with the same tokens; and the same command twice writes the same bytes."""
    from click.testing import CliRunner

    from melodygru.cli import main
    from melodygru.core.tfenv import import_tensorflow
    from melodygru.generation.generate import load_checkpoint, sample
    from melodygru.generation.length import Stop

    import_tensorflow()
    ckpt = load_checkpoint(BACH)
    plain = sample(ckpt, 320, num_samples=3, temperature=0.8, seed=5)
    cut = sample(ckpt, 320, num_samples=3, temperature=0.8, seed=5, stop=Stop(bars=5))
    bar = ckpt.tokenizer.index["BAR"]
    for p, c in zip(plain, cut):
        assert c.reached and np.count_nonzero(c.ids == bar) == 5
        assert np.array_equal(p.ids[:len(c.ids)], c.ids) and p.ids[len(c.ids)] == bar
    written = []
    for name in ("a", "b"):
        res = CliRunner().invoke(main, ["generate", "--checkpoint", str(BACH), "--bars", "5", "--candidates", "1",
                                        "--seed", "9", "--out", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
        written.append((tmp_path / name / "sample-001.mid").read_bytes())
    assert written[0] == written[1]


# --------------------------------------------------------------------------- 5. musical tempos
def set_tempos(path: Path) -> list[float]:
    import mido

    return [mido.tempo2bpm(m.tempo) for track in mido.MidiFile(str(path)).tracks for m in track
            if m.type == "set_tempo"]


def test_tempo_tokens_decode_to_whole_bpm_and_a_primer_keeps_its_own(tmp_path):
    from click.testing import CliRunner
    from helpers import scale_notes, write_midi

    from melodygru.cli import main
    from melodygru.tokens.tokenizer import Tokenizer

    tok = Tokenizer()
    assert all(b == round(b) and tok.tempo_bin(b) == i for i, b in enumerate(tok.tempo_bpms))
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(BACH), "--length", "48", "--candidates", "1",
                                    "-k", "3", "--seed", "2", "--out", str(tmp_path / "plain")])
    assert res.exit_code == 0, res.output
    for f in sorted((tmp_path / "plain").glob("*.mid")):
        bpms = set_tempos(f)
        assert bpms and all(abs(b - round(b)) < 1e-3 for b in bpms), (f, bpms)  # 122, never 122.04
    primer = write_midi(tmp_path / "primer.mid", scale_notes(60, 16), tempo_bpm=97.5)
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(BACH), "--length", "32", "--candidates", "1",
                                    "--primer", str(primer), "--seed", "2", "--out", str(tmp_path / "primed")])
    assert res.exit_code == 0, res.output
    assert set_tempos(tmp_path / "primed" / "sample-001.mid")[0] == pytest.approx(97.5, abs=1e-3)  # the source's own


# --------------------------------------------------------------------------- 6. export
def one_line_error(proc: subprocess.CompletedProcess, *words):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for w in words:
        assert w in lines[0], lines[0]


def test_an_exported_bundle_samples_exactly_as_its_run_directory(tmp_path):
    import zipfile

    from click.testing import CliRunner

    from melodygru.cli import main

    bundle = tmp_path / "bach.mgru"
    proc = cli("export", BACH, bundle)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(bundle) as z:
        assert sorted(z.namelist()) == sorted(["manifest.json", "model.keras", "tokenizer.json", "config.json",
                                               "sampling.json", "critic.json", "form.json", "split.json", "TRAINED.md"])
    one_line_error(cli("export", BACH, bundle), "exists", "--force")
    one_line_error(cli("export", tmp_path, tmp_path / "x.mgru"), "incomplete")
    # the run's own settings travel with it: sampling.json, form plans and the critic's 64 candidates
    args = ["--length", "40", "-k", "2", "--seed", "4"]
    proc = cli("generate", "--checkpoint", bundle, *args, "--out", tmp_path / "from-bundle")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"{bundle} (") and "64 candidates" in proc.stdout
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(BACH), *args, "--out", str(tmp_path / "from-dir")])
    assert res.exit_code == 0, res.output
    for name in ("sample-001.mid", "sample-002.mid"):
        assert (tmp_path / "from-bundle" / name).read_bytes() == (tmp_path / "from-dir" / name).read_bytes()


def bad_bundles(tmp_path: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """Broken and hostile bundles, each with a word its error must say."""
    import json
    import zipfile

    with zipfile.ZipFile(good) as z:
        members = {n: z.read(n) for n in z.namelist()}
    manifest = json.loads(members["manifest.json"])

    def bundle(name, files, manifest_files=None):
        path = tmp_path / f"{name}.mgru"
        with zipfile.ZipFile(path, "w") as z:
            doc = {**manifest, "files": manifest_files if manifest_files is not None else manifest["files"]}
            z.writestr("manifest.json", json.dumps(doc))
            for n, data in files.items():
                z.writestr(n, data)
        return path

    rest = {n: d for n, d in members.items() if n != "manifest.json"}
    text = tmp_path / "text.mgru"
    text.write_text("not a zip at all\n")
    cut = tmp_path / "cut.mgru"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return {
        "text": (text, "not a zip file"),
        "truncated": (cut, "not a zip file"),
        "traversal": (bundle("traversal", {**rest, "../evil.json": b"{}"}), "unsafe member name"),
        "absolute": (bundle("absolute", {**rest, "/tmp/evil.json": b"{}"}), "unsafe member name"),
        "folder": (bundle("folder", {**rest, "sub/model.keras": b"x"}), "unsafe member name"),
        "unexpected": (bundle("unexpected", {**rest, "setup.py": b"import os"}), "unexpected member"),
        "tampered": (bundle("tampered", {**rest, "tokenizer.json": rest["tokenizer.json"].replace(b"1", b"2", 1)}),
                     "manifest"),
        "no model": (bundle("nomodel", {n: d for n, d in rest.items() if n != "model.keras"},
                            {n: e for n, e in manifest["files"].items() if n != "model.keras"}), "missing model.keras"),
        "not listed": (bundle("unlisted", rest, {}), "does not list"),
    }


def test_a_broken_or_hostile_bundle_is_one_line_and_nothing_is_written(tmp_path, monkeypatch):
    from melodygru.core.errors import CheckpointError
    from melodygru.model import bundle as B

    good = tmp_path / "good.mgru"
    B.export_bundle(BACH, good)
    cases = bad_bundles(tmp_path, good)
    for name, (path, word) in cases.items():
        with pytest.raises(CheckpointError, match=word):
            B.open_bundle(path)
    monkeypatch.setattr(B, "MAX_MEMBER_BYTES", 1000)  # model.keras is larger
    with pytest.raises(CheckpointError, match="larger than"):
        B.open_bundle(good)
    # as the user meets it: one line, exit 2, before TensorFlow is even loaded
    for name in ("text", "traversal", "tampered"):
        path, word = cases[name]
        one_line_error(cli("generate", "--checkpoint", path, "--out", tmp_path / "out"), word)
    assert not (tmp_path / "evil.json").exists() and not (tmp_path / "out").exists()
    one_line_error(cli("critic", "--checkpoint", good), "read-only")


# --------------------------------------------------------------------------- 7. info and cache
def test_info_names_versions_device_audio_backend_cache_and_models(tmp_path):
    from melodygru.io.audio import audio_backend

    # CI=1: pyfluidsynth 1.4 prints where it found its library when CI is set; stdout stays ours
    env = {"MELODYGRU_CACHE_DIR": str(tmp_path / "cache"), "CI": "1"}
    proc = cli("info", env=env)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("melodygru 0.") and "TensorFlow 2." in out and "music21" in out and "pretty_midi" in out
    assert any(line.startswith("device: ") for line in out.splitlines())
    assert f"audio (generate --audio): {audio_backend()[0]}: " in out
    assert f"cache: {tmp_path / 'cache'} (0 files, 0 bytes;" in out
    assert "  bach: 2x384 GRU, 354 tokens (sampling.json, critic.json, form.json)" in out
    assert not tf_noise(out + proc.stderr) and proc.stderr == ""


def test_cache_shows_its_size_and_clear_empties_it(tmp_path):
    cache = tmp_path / "cache"
    env = {"MELODYGRU_CACHE_DIR": str(cache)}
    assert cli("prepare", REPO / "data" / "examples" / "folk", "-q", "-j", 1, env=env).returncode == 0
    entries = list(cache.rglob("*.npz"))
    assert len(entries) == 10
    (cache / "notes.txt").write_text("not the cache's: left alone\n")
    proc = cli("cache", env=env)
    assert proc.returncode == 0 and proc.stdout.startswith(f"{cache}: 10 files, "), proc.stdout + proc.stderr
    proc = cli("cache", "--clear", env=env)
    assert proc.returncode == 0 and proc.stdout.startswith(f"cleared {cache}: removed 10 files ("), proc.stderr
    assert not list(cache.rglob("*.npz")) and not (cache / "tokens").exists()
    assert (cache / "notes.txt").is_file()
    assert cli("cache", env=env).stdout.startswith(f"{cache}: 0 files, 0 bytes")


# --------------------------------------------------------------------------- 8. shell completion
def test_shell_completion_works_in_bash_and_has_zsh_and_fish_scripts(tmp_path):
    import shutil

    bin_dir = tmp_path / "bin"  # `melodygru` on PATH, running this checkout
    bin_dir.mkdir()
    launcher = bin_dir / "melodygru"
    launcher.write_text(f'#!/bin/sh\nPYTHONPATH="{REPO}" exec "{sys.executable}" -m melodygru.cli "$@"\n')
    launcher.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    for shell, word in (("zsh", "#compdef melodygru"), ("fish", "complete --no-files --command melodygru")):
        out = subprocess.run(["melodygru"], env={**env, "_MELODYGRU_COMPLETE": f"{shell}_source"},
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and word in out.stdout, out.stdout + out.stderr
    if shutil.which("bash") is None:
        pytest.skip("no bash to complete in")
    script = ('eval "$(_MELODYGRU_COMPLETE=bash_source melodygru)"\n'  # the README's line
              'COMP_WORDS=(melodygru gen); COMP_CWORD=1; _melodygru_completion melodygru; echo "${COMPREPLY[@]}"\n'
              'COMPREPLY=(); COMP_WORDS=(melodygru generate --ba); COMP_CWORD=2; _melodygru_completion melodygru\n'
              'echo "${COMPREPLY[@]}"\n')
    out = subprocess.run(["bash", "--norc", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["generate", "--bars"], out.stdout + out.stderr


def test_cache_clear_leaves_look_alike_files_alone(tmp_path):
    """Only what the cache writes (tokens/<tag>/<xx>/<sha256>.npz) is removed, not any .npz below it."""
    from melodygru.corpus.cache import cache_usage, clear_cache

    mine = tmp_path / "tokens" / "r1e1-0123abcd-mb20" / "ab" / ("ab" + "0" * 62 + ".npz")
    theirs = [tmp_path / "tokens" / "mydata" / "weights.npz", tmp_path / "tokens" / "r1e1-0123abcd-mb20" / "ab" / "x.npz"]
    for f in [mine] + theirs:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"12345")
    assert cache_usage(tmp_path)[1] == 1
    clear_cache(tmp_path)
    assert not mine.exists() and all(f.exists() for f in theirs)


def test_a_bundle_with_a_damaged_zip_directory_is_one_line(tmp_path):
    import zipfile

    from melodygru.core.errors import CheckpointError
    from melodygru.model.bundle import export_bundle, open_bundle

    bad = tmp_path / "bad.mgru"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("manifest.json", "{}")
    raw = bytearray(bad.read_bytes())
    at = raw.rfind(b"PK\x01\x02")  # the central directory entry: flag the name UTF-8, then break it
    raw[at + 8] |= 0x08
    raw[at + 46] = 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="not a usable melodygru bundle|not a directory"):
        open_bundle(bad)
    run = Path(__file__).resolve().parents[1] / "checkpoints" / "bach"
    with pytest.raises(CheckpointError, match="run's own files"):
        export_bundle(run, run / "model.keras")
