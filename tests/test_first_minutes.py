"""The first five minutes (issue 17): what a new user meets, each checked as they meet it: a real
`melodygru` process with its output to a pipe (a log file, CI), or to a pseudo-terminal."""

from __future__ import annotations

import os
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
