"""Progress of the long phases (reading files, each training epoch), written where the user sees it.

On a terminal a tqdm bar redraws itself with carriage returns and clears itself when done. In a
log (`melodygru train ... > train.log 2>&1`, CI, `| tee`) every one of those frames would stay as
a line of `\\r`-joined text, so there the phase writes one plain line when it ends instead, or
nothing where the caller already writes a line for it (training prints one per epoch). The choice
is made by whether the stream is a terminal, once per phase, here only: every progress display
in the package goes through `progress`.
"""


from __future__ import annotations

import sys
import time


class Silent:
    """A progress display that shows nothing (progress switched off, or nothing to count)."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


class PlainProgress:
    """One line when the phase ends, e.g. 'reading: 20 files in 1.3 s': what a log can keep."""

    def __init__(self, total: int, desc: str, unit: str, stream):
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.done, self.start, self.closed = 0, time.perf_counter(), False

    def update(self, n: int = 1) -> None:
        self.done += n

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        count = f"{self.done:,}" if self.done == self.total else f"{self.done:,} of {self.total:,}"
        plural = "" if self.total == 1 else "s"
        self.stream.write(f"{self.desc}: {count} {self.unit}{plural} in {time.perf_counter() - self.start:.1f} s\n")
        self.stream.flush()


def is_terminal(stream) -> bool:
    """True when `stream` is an interactive terminal (False for a file, a pipe, or a closed stream)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def progress(total: int, desc: str, unit: str, enabled: bool = True, line: bool = True, stream=None):
    """A progress display for a phase of `total` steps (`update(n)`, `close()`), on stderr by default.

    Args:
        desc, unit: e.g. 'reading', 'file'.
        enabled: False shows nothing (`--quiet`).
        line: off a terminal, write one plain line when the phase ends; False writes nothing there
            (for a phase the caller reports on a line of its own).
    """
    stream = sys.stderr if stream is None else stream
    if not enabled or total <= 0:
        return Silent()
    if is_terminal(stream):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, leave=False, file=stream, dynamic_ncols=True)
    return PlainProgress(total, desc, unit, stream) if line else Silent()
