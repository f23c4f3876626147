"""The `melodygru` click group: one-line errors with exit code 2, the internal-error log, and
printing that never fails on a file name. Each command lives in its own module of this package.
"""

from __future__ import annotations

import codecs
import datetime
import errno
import os
import sys
import tempfile
import traceback
from pathlib import Path

import click

from .. import __version__
from ..core.errors import DISK_FULL_ERRNOS, MelodyGRUError

EXIT_USER_ERROR = 2


def _escape_unprintable(err: UnicodeError):
    """Encoding error handler for stdout/stderr: a byte of a file name that is not valid in the
    file-system encoding (Python holds it as a lone surrogate) prints as `\\xNN`, any other character
    the terminal cannot show as a backslash escape. Printing a path never fails."""
    if not isinstance(err, UnicodeEncodeError):
        raise err
    out = []
    for c in err.object[err.start:err.end]:
        n = ord(c)
        out.append(f"\\x{n - 0xDC00:02x}" if 0xDC80 <= n <= 0xDCFF else c.encode("ascii", "backslashreplace").decode())
    return "".join(out), err.end


codecs.register_error("melodygru-escape", _escape_unprintable)


def _printable_streams() -> None:
    """Make stdout and stderr print any path: with a UTF-8 terminal's default 'strict' errors, a
    non-UTF-8 file name would otherwise end the command with a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", "melodygru-escape") != "melodygru-escape":
            try:
                stream.reconfigure(errors="melodygru-escape")
            except (AttributeError, ValueError, OSError):  # not a TextIOWrapper: leave it alone
                pass


class _Group(click.Group):
    """Turns the project's errors into one line + exit 2, and unexpected ones into a short
    message plus the path of a file holding the full traceback."""

    def main(self, *args, **kwargs):
        _printable_streams()
        return super().main(*args, **kwargs)

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as e:  # a bad option of `melodygru` itself
            _usage_error(e)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MelodyGRUError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except OSError as e:
            _os_error(e)
        except click.UsageError as e:  # a bad option value, a missing argument, an unknown command
            _usage_error(e)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:
            _crash(e)


# OSErrors about a path the user gave or can fix (permissions, a file where a folder should be, a
# read-only disk): one line naming the path. Any other OSError is reported as an internal error.
_USER_OS_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
                             errno.ENOENT, errno.ENAMETOOLONG, errno.ELOOP})


def _os_error(e: OSError):
    if e.errno == errno.EPIPE:  # stdout closed early (`melodygru ... | head`): click exits quietly
        raise e
    where = f" {e.filename}" if e.filename is not None else ""
    if e.errno in DISK_FULL_ERRNOS:
        click.echo(f"error: disk full while writing{where} ({e.strerror})", err=True)
        sys.exit(EXIT_USER_ERROR)
    if e.errno in _USER_OS_ERRNOS and e.filename is not None:
        click.echo(f"error:{where}: {e.strerror}", err=True)
        sys.exit(EXIT_USER_ERROR)
    _crash(e)


def _usage_error(e: click.UsageError):
    """Click's usage errors as one line (click prints the usage, a hint and the error on 3-4 lines).

    `melodygru` alone is not an error but a question: click raises its help as a usage error
    (NoArgsIsHelpError, click 8.2+), and that help is printed whole, on stdout, with exit 0."""
    if isinstance(e, getattr(click.exceptions, "NoArgsIsHelpError", ())) and e.ctx is not None:
        click.echo(e.ctx.get_help())
        sys.exit(0)
    message = " ".join(e.format_message().split())
    hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
    click.echo(f"error: {message}{hint}", err=True)
    sys.exit(EXIT_USER_ERROR)


def _check_out_dir(path: Path, option: str) -> None:
    """Refuse an output folder that cannot be created or written to, before any slow work.

    Raises:
        MelodyGRUError: a file stands where the folder (or one of its parents) should be, or the
            nearest existing folder is not writable.
    """
    probe = Path(path)
    try:
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            what = "is a file" if probe == Path(path) else f"cannot be created: {probe} is a file"
            raise MelodyGRUError(f"{option} {path} {what}, not a folder")
        if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
            raise MelodyGRUError(f"{option} {path} is not writable (no write permission on {probe})")
    except OSError as e:
        raise MelodyGRUError(f"{option} {path}: {e.strerror or e}") from None


def _crash(e: BaseException):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(tempfile.gettempdir()) / f"melodygru-crash-{stamp}-{os.getpid()}.log"
    try:
        path.write_text("".join(traceback.format_exception(e)))
        where = f"full traceback in {path}"
    except OSError:
        where = "the traceback could not be saved"
    lines = str(e).strip().splitlines()
    message = lines[0] if lines else ""  # the whole message is in the file: keep this to one line
    if len(message) > 200 or len(lines) > 1:
        message = message[:200] + "..."
    click.echo(f"internal error: {type(e).__name__}: {message} ({where}; please report it)", err=True)
    sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="melodygru")
def main():
    """Train GRU language models on your own music and generate new pieces.

    \b
    Typical use:
      melodygru prepare my_midi/            # read, tokenize and cache; report what was skipped
      melodygru train my_midi/ --out runs/mine
      melodygru generate --checkpoint runs/mine --length 512
    """
