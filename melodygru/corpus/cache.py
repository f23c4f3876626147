"""The token cache: `.npz` files (never pickle) keyed by file content hash, tokenizer settings and
reader version, written atomically, under `<cache dir>/tokens/`; how much it holds and emptying it
(`melodygru cache [--clear]`: every tokenizer setting and reader version adds entries, and nothing
else ever removes them).
"""


from __future__ import annotations

import dataclasses

import hashlib
import io
import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_write_bytes, is_temporary
from ..tokens.config import ENCODING_VERSION
from ..tokens.tokenizer import Tokenizer

TOKENS = "tokens"  # the one subfolder of the cache folder this package writes
READER_VERSION = 3  # bump when readers or the cached report change what they hold: invalidates cached tokens
# a cache temporary untouched this long is a killed writer's: other processes may share the cache,
# and their live temporaries (written in milliseconds) must stay
STALE_TEMPORARY_S = 3600.0


def default_cache_dir() -> Path:
    """`$MELODYGRU_CACHE_DIR`, else the platform's user cache dir."""
    env = os.environ.get("MELODYGRU_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("melodygru"))


# ---------------------------------------------------------------------- cache
def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _cache_path(cache_dir: Path, tokenizer: Tokenizer, digest: str, max_file_mb: float) -> Path:
    # styles are where a file lies, not its content: encoding never writes them (`tokens/styles.py`)
    config = dataclasses.replace(tokenizer.config, styles=())
    tag = f"r{READER_VERSION}e{ENCODING_VERSION}-{config.digest()}-mb{max_file_mb:g}"
    return cache_dir / TOKENS / tag / digest[:2] / f"{digest}.npz"


def _save_entry(path: Path, result: dict) -> None:
    pieces = result["pieces"]
    arrays = {
        "ids": np.concatenate([p[1] for p in pieces]) if pieces else np.zeros(0, np.uint16),
        "lengths": np.array([len(p[1]) for p in pieces], dtype=np.int64),
        "notes": np.array([p[2] for p in pieces], dtype=np.int64),
        "suffixes": np.array([p[0] for p in pieces], dtype=np.str_),
        "meta": np.array(
            json.dumps({"skip": result["skip"], "piece_skips": result["piece_skips"], "lossy": result["lossy"]})
        ),
    }
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _load_entry(path: Path) -> dict | None:
    """A cached result, or None when missing or unreadable (then it is rebuilt, never trusted)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            ids, lengths, notes = z["ids"], z["lengths"], z["notes"]
            suffixes = [str(s) for s in z["suffixes"]]
            meta = json.loads(str(z["meta"]))
        if lengths.sum() != len(ids) or len(lengths) != len(notes) or len(suffixes) != len(lengths):
            return None
        splits = np.split(ids, np.cumsum(lengths)[:-1]) if len(lengths) else []
        return {
            "pieces": list(zip(suffixes, splits, notes.tolist())),
            "skip": meta["skip"],
            "piece_skips": [tuple(x) for x in meta["piece_skips"]],
            "lossy": Counter(meta["lossy"]),
        }
    except FileNotFoundError:
        return None
    except Exception:
        return None


# ---------------------------------------------------------------------- size and clearing
_TAG = re.compile(r"r\d+e\d+-[0-9a-f]+-mb[0-9.e+-]+")  # the folder of one reader, encoding and settings
def _entries(cache_dir: Path):
    """Every file the cache wrote (entries and writers' temporaries), as (path, bytes)."""
    for top, _dirs, names in os.walk(Path(cache_dir) / TOKENS):
        parts = Path(top).relative_to(Path(cache_dir) / TOKENS).parts
        if len(parts) != 2 or not _TAG.fullmatch(parts[0]) or not re.fullmatch(r"[0-9a-f]{2}", parts[1]):
            continue  # only the folders the cache writes: tokens/<tag>/<xx>/
        for name in names:
            if re.fullmatch(r"[0-9a-f]{64}\.npz", name) or is_temporary(name):
                p = Path(top) / name
                try:
                    yield p, p.lstat().st_size
                except OSError:  # removed meanwhile
                    pass


def cache_usage(cache_dir=None) -> tuple[Path, int, int]:
    """(the cache folder, its files, their bytes); a cache never written is (folder, 0, 0)."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    files = total = 0
    for _p, size in _entries(cache_dir):
        files, total = files + 1, total + size
    return cache_dir, files, total


def clear_cache(cache_dir=None) -> tuple[Path, int, int]:
    """Remove every cached entry, then the folders they leave empty (only what this module wrote:
    other files under the cache folder are left alone). Returns (folder, files removed, bytes)."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    files = total = 0
    for p, size in list(_entries(cache_dir)):
        try:
            p.unlink()
        except FileNotFoundError:  # another process cleared it first
            continue
        files, total = files + 1, total + size
    for top, _dirs, _names in sorted(os.walk(cache_dir / TOKENS), key=lambda t: -len(t[0])):
        try:
            os.rmdir(top)  # only once empty
        except OSError:
            pass
    return cache_dir, files, total
