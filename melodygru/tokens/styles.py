"""Styles: `STYLE_<name>` right after BOS says which of a run's styles a piece belongs to, so that
`generate --style NAME` can ask for one.

A style is where a piece comes from, not what its notes are: a top-level folder of the training
data (`train --styles-from-folders`), a name given for each input path (`train --style`), or a
built-in corpus's own collections (`CORPUS_STYLES`). Encoding never writes the token; the corpus
builder puts it in after BOS (`with_style`), so the token cache is the one without styles, and a
piece read from a file (a primer) states none.
"""


from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..core.errors import TokenizerError
from .config import STYLE_NAME

# the natural styles of the built-in corpora, by the collection (file or folder) a piece is in:
# the Essen folksong collection's Chinese songs (han1, han2), its German-language ones (every other
# Essen file: Erk, Boehme, the ballads, children's songs, ...), and O'Neill's Irish tunes (1850)
CORPUS_STYLES = {"bach": "chorale", "folk": "german"}


def corpus_style(corpus: str, path: Path) -> str:
    """The natural style of a file of a built-in corpus (see `CORPUS_STYLES`)."""
    path = Path(path)
    if corpus == "folk" and path.parent.name == "oneills1850":
        return "irish"
    if corpus == "folk" and path.name.startswith("han"):
        return "chinese"
    return CORPUS_STYLES[corpus]


def style_name(text: str) -> str:
    """A folder or user name as a style name: lower case, other characters as '-', at most 40."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", str(text).strip().lower()).strip("-._")[:40]
    return name if STYLE_NAME.match(name) else "style"


def folder_style(root: Path, path: Path) -> str:
    """The style of a file found under `root` by `train --styles-from-folders`: the name of the
    top-level folder it is in, or `root`'s own name for a file directly in it (or given alone)."""
    root, path = Path(root), Path(path)
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = ()
    return style_name(parts[0] if len(parts) > 1 else (root.name if root.is_dir() else root.parent.name))


def style_token(tokenizer, name: str) -> int:
    """The STYLE token of a style of the tokenizer (case-insensitive).

    Raises:
        TokenizerError: the tokenizer has no styles, or not this one (the message lists them).
    """
    styles = tokenizer.config.styles
    if not styles:
        raise TokenizerError("this model has no styles: train it with --styles-from-folders or --style")
    wanted = style_name(name)
    if wanted not in styles:
        raise TokenizerError(f"style {name!r} is not one of this model's: {', '.join(styles)}")
    return tokenizer.style_offset + styles.index(wanted)


def style_of(tokenizer, ids) -> str | None:
    """The style a token sequence states (its STYLE token after BOS), None if it states none."""
    if tokenizer.style_offset < 0:
        return None
    for token in np.asarray(ids).reshape(-1)[:2].tolist():
        k = int(token) - tokenizer.style_offset
        if 0 <= k < len(tokenizer.config.styles):
            return tokenizer.config.styles[k]
    return None


def with_style(tokenizer, ids, name: str) -> np.ndarray:
    """`ids` (starting with BOS, stating no style) with the STYLE token of `name` after BOS."""
    ids = np.asarray(ids)
    if not ids.size or int(ids[0]) != tokenizer.bos:
        raise TokenizerError("a style goes right after BOS: the sequence does not start with BOS")
    return np.concatenate([ids[:1], np.array([style_token(tokenizer, name)], ids.dtype), ids[1:]])


def header_length(tokenizer) -> int:
    """How many tokens after BOS state what a whole piece is: its style and its key."""
    return int(tokenizer.style_offset >= 0) + int(tokenizer.key_offset >= 0)


def is_header(tokenizer, ids) -> np.ndarray:
    """Which of `ids` are STYLE or KEY tokens."""
    ids = np.asarray(ids)
    out = np.zeros(ids.shape, bool)
    if tokenizer.key_offset >= 0:
        out |= (ids >= tokenizer.key_offset) & (ids < tokenizer.key_offset + 24)
    if tokenizer.style_offset >= 0:
        out |= (ids >= tokenizer.style_offset) & (ids < tokenizer.style_offset + len(tokenizer.config.styles))
    return out
