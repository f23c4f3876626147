"""Find music files, parse and tokenize them in parallel, cache the token ids.

The cache holds ids, never objects: one `.npz` per input file (loaded with `allow_pickle=False`),
keyed by the file's content hash, the tokenizer config and the reader version, so a changed
setting or reader never reuses stale tokens. Files that could not be used are cached too, with
their reason, so a warm run does no parsing at all. An entry that fails to load is rebuilt.
"""


from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.atomic import clean_temporaries
from ..core.errors import MelodyGRUError, ReaderError
from ..core.progress import progress as progress_display
from ..tokens.config import TokenizerConfig
from ..tokens.styles import corpus_style, folder_style, style_name, with_style
from ..tokens.tokenizer import Tokenizer
from .cache import (
    STALE_TEMPORARY_S,
    _cache_path,
    _file_hash,
    _load_entry,
    _save_entry,
    default_cache_dir,
)
from .pool import WorkerDied, map_files
from .walk import find_files, hidden_note

# reader stats (`Piece.stats`) that encoding counts again under the same name: reported once
COUNTED_BY_TOKENIZER = frozenset({"zero_length"})


@dataclass
class CorpusPiece:
    """One tokenized piece: where it came from, its ids, and how many notes it holds."""

    source: str
    ids: np.ndarray
    notes: int
    style: str | None = None


def file_styles(fileset, paths, corpora, styles) -> list[str]:
    """The style of every file of `fileset` (from `find_files(paths, corpora)`): with 'folders', a
    path's file is in its top-level folder's style (`tokens.styles.folder_style`); with a list, one
    name for each of `paths` in order. A built-in corpus's file is in its collection's style
    (`tokens.styles.corpus_style`) either way.

    Raises:
        MelodyGRUError: a list whose length is not the number of paths.
    """
    if styles != "folders" and len(styles) != len(paths):
        raise MelodyGRUError(f"{len(styles)} --style name(s) for {len(paths)} input path(s): give one per path")
    out = []
    for (root, path), where in zip(fileset.files, fileset.inputs):
        if where >= len(paths):
            out.append(corpus_style(corpora[where - len(paths)], path))
        else:
            out.append(folder_style(root, path) if styles == "folders" else style_name(styles[where]))
    return out


@dataclass
class CorpusReport:
    """What a corpus build read, kept, lost and skipped."""

    files: int = 0
    ignored: int = 0
    hidden: int = 0
    cached: int = 0
    pieces: int = 0
    notes: int = 0
    tokens: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    lossy: Counter = field(default_factory=Counter)

    def summary_lines(self) -> list[str]:
        lines = [
            f"{self.files} files ({self.cached} from cache), {self.ignored} other files ignored"
            + hidden_note(self.hidden),
            f"{self.pieces} pieces, {self.notes} notes, {self.tokens} tokens",
        ]
        lossy = {k: v for k, v in sorted(self.lossy.items()) if v}
        if lossy:
            lines.append("lossy steps: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in lossy.items()))
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)}:")
            lines += [f"  {path}: {reason}" for path, reason in self.skipped]
        return lines

    def as_dict(self) -> dict:
        return {
            "files": self.files,
            "ignored": self.ignored,
            "hidden": self.hidden,
            "cached": self.cached,
            "pieces": self.pieces,
            "notes": self.notes,
            "tokens": self.tokens,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "lossy": dict(self.lossy),
        }


def skip_reason(piece, stats) -> str | None:
    """Why a parsed piece has nothing to learn from, or None."""
    if stats.notes > 0:
        return None
    if not piece.notes:
        return "no notes"
    if stats.dropped_drums == len(piece.notes):
        return f"drums only ({stats.dropped_drums} drum notes dropped)"
    if stats.dropped_out_of_range:
        return f"every pitched note is outside the pitch range ({stats.dropped_out_of_range} dropped)"
    return "no usable notes"


def tokenize_file(path: str, config: dict, max_file_mb: float) -> dict:
    """Read one file and tokenize every piece in it; never raises.

    Returns a plain dict (cheap to send between processes): 'pieces' as (suffix, ids, notes),
    'skip' (reason or ''), 'piece_skips' as (suffix, reason), 'lossy' counts, and 'cacheable':
    False when the verdict may not hold next time (out of memory, an unreadable file, a bug), so
    the content-keyed cache must not keep it.
    """
    from ..io.readers import FileAccessError, read_file

    tokenizer = tokenizer_for(config)
    out = {"pieces": [], "skip": "", "piece_skips": [], "lossy": Counter(), "cacheable": True}
    try:
        pieces = read_file(path, max_file_mb=max_file_mb)
    except FileAccessError as e:  # the file system's verdict, not the content's
        return _skipped(str(e))
    except ReaderError as e:
        out["skip"] = str(e) or "unreadable"
        return out
    except MemoryError:
        return _skipped("out of memory while reading")
    except Exception as e:  # a reader bug must not stop the run; say what it was
        return _skipped(f"internal reader error ({type(e).__name__}: {_first_line(e)})")
    if not pieces:
        out["skip"] = "no pieces found"
        return out
    try:
        _tokenize_pieces(path, pieces, tokenizer, out)
    except MemoryError:
        return _skipped("out of memory while tokenizing")
    except Exception as e:  # a tokenizer bug must not stop the run either
        return _skipped(f"internal tokenizer error ({type(e).__name__}: {_first_line(e)})")
    return out


def _tokenize_pieces(path: str, pieces: list, tokenizer: Tokenizer, out: dict) -> None:
    """Encode the pieces of one file into `out` (see `tokenize_file`)."""
    for i, piece in enumerate(pieces):
        suffix = piece.source[len(path):] if piece.source.startswith(path) else (f"#{i + 1}" if len(pieces) > 1 else "")
        for k, v in piece.stats.items():
            if k not in COUNTED_BY_TOKENIZER:
                out["lossy"][k] += int(v)
        try:
            ids, stats = tokenizer.encode_with_stats(piece)
        except MelodyGRUError as e:
            out["piece_skips"].append((suffix, str(e)))
            continue
        for k, v in stats.as_dict().items():
            if k != "notes":
                out["lossy"][k] += int(v)
        reason = skip_reason(piece, stats)
        if reason:
            out["piece_skips"].append((suffix, reason))
            continue
        out["pieces"].append((suffix, ids.astype(np.uint16 if len(tokenizer) < 65536 else np.int32), stats.notes))
    if not out["pieces"] and len(pieces) == 1 and out["piece_skips"]:
        out["skip"] = out["piece_skips"][0][1]
        out["piece_skips"] = []


_TOKENIZERS: dict[str, Tokenizer] = {}


def tokenizer_for(config: dict) -> Tokenizer:
    key = json.dumps(config, sort_keys=True)
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = Tokenizer(TokenizerConfig.from_dict(config))
    return _TOKENIZERS[key]


def _skipped(reason: str, cacheable: bool = False) -> dict:
    """A result for a file that gives nothing; by default a verdict the cache must not keep."""
    return {"pieces": [], "skip": reason, "piece_skips": [], "lossy": Counter(), "cacheable": cacheable}


def build_corpus(
    paths=(),
    corpora=(),
    tokenizer: Tokenizer | None = None,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    max_file_mb: float = 20.0,
    progress: bool = True,
    styles=None,
) -> tuple[list[CorpusPiece], CorpusReport]:
    """Tokenize every readable file under `paths` and the named built-in `corpora`.

    With `progress`, a bar on a terminal, else one line when the files are read (`core.progress`).

    Returns pieces in a stable order (by input path) and a report; a broken file is a line in
    `report.skipped`, never an exception. With `styles` ('folders', or one name per path; see
    `file_styles`) every piece states its file's style (the tokenizer must have them all).

    Raises:
        MelodyGRUError: a path does not exist, an unknown corpus name, or a style the tokenizer lacks.
    """
    from ..io.readers import check_size

    tokenizer = tokenizer or Tokenizer()
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    fileset = find_files(paths, corpora)
    style_of = file_styles(fileset, paths, corpora, styles) if styles else [None] * len(fileset.files)
    missing = sorted({s for s in style_of if s is not None} - set(tokenizer.config.styles))
    if missing:
        raise MelodyGRUError(f"style(s) {', '.join(missing)} not among the model's ({', '.join(tokenizer.config.styles)})")
    if use_cache:  # what writers killed mid-write left would otherwise pile up forever
        clean_temporaries(cache_dir / "tokens", recursive=True, older_than_s=STALE_TEMPORARY_S)
    report = CorpusReport(files=len(fileset.files), ignored=fileset.ignored, hidden=fileset.hidden,
                          skipped=list(fileset.problems))
    results: list[dict | None] = [None] * len(fileset.files)
    todo: list[int] = []
    keys: list[Path | None] = [None] * len(fileset.files)
    for i, (root, path) in enumerate(fileset.files):
        if not use_cache:
            todo.append(i)
            continue
        try:  # a file over the size limit is refused before it is hashed (read whole)
            check_size(path.stat().st_size, max_file_mb)
        except ReaderError as e:
            results[i] = _skipped(str(e))
            continue
        except OSError:
            pass  # hashing reports it
        try:
            keys[i] = _cache_path(cache_dir, tokenizer, _file_hash(path), max_file_mb)
        except FileNotFoundError:  # a dangling symlink: the reader says the same
            results[i] = _skipped("file not found")
            continue
        except OSError as e:
            results[i] = _skipped(f"cannot read file: {e.strerror or e}")
            continue
        cached = _load_entry(keys[i])
        if cached is None:
            todo.append(i)
        else:
            results[i] = cached
            report.cached += 1
    config = tokenizer.config.to_dict()
    jobs = max(1, jobs or os.cpu_count() or 1)
    bar = progress_display(len(todo), "reading", "file", enabled=progress)

    def done(k, result, error):
        i = todo[k]
        if isinstance(error, WorkerDied):  # killed for memory, or a crash in C code
            results[i] = _skipped(f"worker failed ({error})")
        elif error is not None:  # tokenize_file never raises: sending the task or result failed
            results[i] = _skipped(f"internal error ({type(error).__name__}: {_first_line(error)})")
        else:
            results[i] = result
        bar.update(1)

    try:  # closed on an error too, so an error line does not land on the bar's line
        if todo:
            map_files(tokenize_file, [(str(fileset.files[i][1]), config, max_file_mb) for i in todo], jobs, done)
            for i in todo:
                # only verdicts on the file's bytes are kept under its hash: out of memory, a dead
                # worker or an unreadable file may all be fine next time
                if keys[i] is not None and results[i].get("cacheable"):
                    try:
                        _save_entry(keys[i], results[i])
                    except OSError:
                        pass  # a read-only or full cache must not stop the run; it is just slower next time
    finally:
        bar.close()

    pieces: list[CorpusPiece] = []
    for (root, path), res, style in zip(fileset.files, results, style_of):
        rel = fileset.relative(root, path)
        report.lossy.update(res["lossy"])
        if res["skip"]:
            report.skipped.append((rel, res["skip"]))
        for suffix, reason in res["piece_skips"]:
            report.skipped.append((rel + suffix, reason))
        for suffix, ids, notes in res["pieces"]:
            ids = np.asarray(ids, dtype=np.int32)
            pieces.append(CorpusPiece(rel + suffix, ids if style is None else with_style(tokenizer, ids, style),
                                      int(notes), style))
            report.notes += int(notes)
            report.tokens += len(ids)
    report.pieces = len(pieces)
    return pieces, report


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""
