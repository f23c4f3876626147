"""The first five minutes (issue 17): what a new user meets, each checked as they meet it: a real
`melodygru` process with its output to a pipe (a log file, CI), or to a pseudo-terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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


def test_generate_writes_no_tensorflow_lines(tmp_path):
    proc = cli("generate", "--checkpoint", BACH, "--length", 16, "--candidates", 1, "--seed", 1, "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not tf_noise(proc.stdout + proc.stderr), proc.stderr
    assert proc.stderr == "" and (tmp_path / "sample-001.mid").is_file()
