"""Atomic file writes: readers only ever see the old or the new content, never half a file.

Every atomic write in melodygru goes through a temporary file next to its target, named by
`temp_file`: `.tmp-XXXXXXXX-<target name>`, so a process killed mid-write leaves only names that
`clean_temporaries` knows (it also knows `.<target name>.XXXXXXXX.tmp`, the name older versions
gave them).
"""


from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

TMP_PREFIX = ".tmp-"
# mkstemp puts 8 random characters of this alphabet between prefix and suffix
_TMP_NAME = re.compile(r"\.tmp-[a-z0-9_]{8}-.+", re.DOTALL)
_OLD_TMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp", re.DOTALL)  # atomic_write_bytes' own, before one naming
# bytes of the target's name kept in the temporary one: with the 14 of prefix, random part and
# dash it stays under the usual 255-byte limit on a file name; the end is kept for its suffix
_MAX_NAME_TAIL = 200


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish_mode(tmp) -> None:
    """Give a temporary file the mode a plain `open()` would have (mkstemp makes it 0600)."""
    os.chmod(tmp, 0o666 & ~_umask())


def temp_file(path) -> tuple[int, Path]:
    """Create the temporary file an atomic write of `path` goes through, in the same folder (so the
    rename is atomic) and named `.tmp-XXXXXXXX-<name of path>` (Keras and numpy pick the format
    from the suffix, so the name keeps it; a very long name keeps only its end).

    Returns:
        (an open file descriptor, the temporary path); mode 0600 until `publish_mode`.
    """
    path = Path(path)
    tail = os.fsencode(path.name)
    name = os.fsdecode(tail[-_MAX_NAME_TAIL:]) if len(tail) > _MAX_NAME_TAIL else path.name
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX, suffix="-" + name)
    return fd, Path(tmp)


def is_temporary(name: str) -> bool:
    """Whether a file name is one an atomic write (of this or an older version) gives its temporary."""
    return bool(_TMP_NAME.fullmatch(name) or _OLD_TMP_NAME.fullmatch(name))


def clean_temporaries(folder, recursive: bool = False, older_than_s: float = 0.0) -> int:
    """Remove the temporary files that writers killed mid-write left in `folder` (never read).

    Args:
        folder: where to look; a missing or unreadable folder is no error.
        recursive: look in every subfolder too (a cache's tree).
        older_than_s: only remove temporaries not modified for this many seconds, where another
            live process may be writing one right now (a shared cache); 0 removes all, for a
            folder this process holds the lock of (a run directory).

    Returns:
        How many files were removed.
    """
    cutoff = time.time() - older_than_s
    removed = 0
    for top, _dirs, names in _walk(Path(folder), recursive):
        for name in names:
            if not is_temporary(name):
                continue
            p = os.path.join(top, name)
            try:
                if older_than_s > 0 and os.lstat(p).st_mtime > cutoff:
                    continue
                os.unlink(p)
                removed += 1
            except OSError:  # gone already (another cleaner), or not ours to remove
                pass
    return removed


def _walk(folder: Path, recursive: bool):
    if recursive:
        yield from os.walk(folder)  # errors (a missing or unreadable folder) are skipped
        return
    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it if not e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    yield str(folder), [], names


def atomic_write_bytes(path, data: bytes) -> None:
    """Write a file so that readers only ever see the old or the new content (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        publish_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
