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
