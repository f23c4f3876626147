"""Finding music files: folders walked at any depth (hidden entries passed over and counted), and
the built-in corpora from music21's bundled collection.
"""


from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import MelodyGRUError

CORPORA = ("bach", "folk")


def _readable_exts():
    from ..io.readers import READABLE_EXTS

    return READABLE_EXTS


def corpus_files(name: str) -> list[Path]:
    """Files of a built-in corpus from music21's bundled corpus.

    'bach': the Bach chorales (bwv*.mxl/.xml/.krn); 'folk': the Essen folksongs and O'Neill's
    1850 collection (multi-tune ABC files).
    """
    from music21 import corpus as m21corpus

    exts = _readable_exts()
    if name == "bach":
        files = [p for p in m21corpus.getComposer("bach") if p.name.startswith("bwv")]
    elif name == "folk":
        files = list(m21corpus.getComposer("essenFolksong")) + list(m21corpus.getComposer("oneills1850"))
    else:
        raise MelodyGRUError(f"unknown corpus {name!r}: choose one of {', '.join(CORPORA)}")
    return sorted(Path(p) for p in files if Path(p).suffix.lower() in exts)


@dataclass
class FileSet:
    """Input files as (root, path) pairs, so outputs can mirror paths relative to their root."""

    files: list[tuple[Path, Path]] = field(default_factory=list)
    ignored: int = 0  # files with other extensions
    hidden: int = 0  # hidden files and folders inside a walked folder (not descended into)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) found while walking
    inputs: list[int] = field(default_factory=list)  # per file: its input, paths first, then the corpora

    def relative(self, root: Path, path: Path) -> str:
        return str(path.relative_to(root)) if path != root else path.name


def find_files(paths=(), corpora=()) -> FileSet:
    """Walk folders recursively, following symlinks (a folder reached twice, e.g. through a symlink
    loop, is walked once; unreadable folders and files are reported, never fatal; no depth limit).

    Raises:
        MelodyGRUError: a path that does not exist.
    """
    exts = _readable_exts()
    found = FileSet()
    seen: set[Path] = set()

    def add(root, p, where):
        try:
            key = p.resolve()
        except (OSError, RuntimeError):  # a symlink loop: reading it later says so in one line
            key = p.absolute()
        if key not in seen:
            seen.add(key)
            found.files.append((root, p))
            found.inputs.append(where)

    for where, raw in enumerate(paths):
        root = Path(raw)
        if not root.exists():
            raise MelodyGRUError(f"no such file or folder: {raw}")
        if root.is_file():
            if root.suffix.lower() in exts:
                add(root.parent, root, where)
            else:
                found.ignored += 1
            continue
        _walk(root, exts, lambda r, p, where=where: add(r, p, where), found)
    for where, name in enumerate(corpora, len(paths)):
        files = corpus_files(name)
        base = Path(os.path.commonpath([str(f.parent) for f in files])) if files else Path(".")
        root = base.parent
        for f in files:
            add(root, f, where)
    return found


def is_hidden(name: str) -> bool:
    """Names a walk passes over: dot files and folders (.git, .DS_Store, macOS's '._x.mid' resource
    forks, which carry the extension but no music) and the __MACOSX folder of zips made on a Mac."""
    return name.startswith(".") or name == "__MACOSX"


def hidden_note(hidden: int) -> str:
    """The summary's mention of hidden entries passed over ('' when there were none)."""
    return f", {hidden} hidden files/folders passed over" if hidden else ""


def _walk(root: Path, exts, add, found: FileSet) -> None:
    """Depth-first, in name order, like `os.walk` top-down but without recursion (so a folder
    nested thousands of levels deep is no RecursionError) and with every OSError reported."""
    visited: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in visited:  # a symlink loop, or a folder linked twice
                continue
            visited.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            where = str(folder.relative_to(root)) if folder != root else str(folder)
            found.problems.append((where, f"cannot read folder: {e.strerror or e}"))
            continue
        subfolders = []
        for entry in entries:
            if is_hidden(entry.name):
                found.hidden += 1
                continue
            try:
                is_dir = entry.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            p = folder / entry.name
            if is_dir:
                subfolders.append(p)
            elif p.suffix.lower() in exts:
                add(root, p)
            else:
                found.ignored += 1
        stack.extend(reversed(subfolders))
