"""Find music files, parse and tokenize them in parallel, cache the token ids.

The cache holds ids, never objects: one `.npz` per input file (loaded with `allow_pickle=False`),
keyed by the file's content hash, the tokenizer config and the reader version, so a changed
setting or reader never reuses stale tokens. Files that could not be used are cached too, with
their reason, so a warm run does no parsing at all. An entry that fails to load is rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_write_bytes, clean_temporaries
from .errors import MelodyGRUError, ReaderError
from .tokenizer import ENCODING_VERSION, Tokenizer, TokenizerConfig

READER_VERSION = 3  # bump when readers or the cached report change what they hold: invalidates cached tokens
CORPORA = ("bach", "folk")
# reader stats (`Piece.stats`) that encoding counts again under the same name: reported once
COUNTED_BY_TOKENIZER = frozenset({"zero_length"})
# a cache temporary untouched this long is a killed writer's: other processes may share the cache,
# and their live temporaries (written in milliseconds) must stay
STALE_TEMPORARY_S = 3600.0


def _readable_exts():
    from .readers import READABLE_EXTS

    return READABLE_EXTS


def default_cache_dir() -> Path:
    """`$MELODYGRU_CACHE_DIR`, else the platform's user cache dir."""
    env = os.environ.get("MELODYGRU_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("melodygru"))


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

    def add(root, p):
        try:
            key = p.resolve()
        except (OSError, RuntimeError):  # a symlink loop: reading it later says so in one line
            key = p.absolute()
        if key not in seen:
            seen.add(key)
            found.files.append((root, p))

    for raw in paths:
        root = Path(raw)
        if not root.exists():
            raise MelodyGRUError(f"no such file or folder: {raw}")
        if root.is_file():
            if root.suffix.lower() in exts:
                add(root.parent, root)
            else:
                found.ignored += 1
            continue
        _walk(root, exts, add, found)
    for name in corpora:
        files = corpus_files(name)
        base = Path(os.path.commonpath([str(f.parent) for f in files])) if files else Path(".")
        root = base.parent
        for f in files:
            add(root, f)
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


@dataclass
class CorpusPiece:
    """One tokenized piece: where it came from, its ids, and how many notes it holds."""

    source: str
    ids: np.ndarray
    notes: int


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


def _skip_reason(piece, stats) -> str | None:
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
    from .readers import FileAccessError, read_file

    tokenizer = _tokenizer_for(config)
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
        reason = _skip_reason(piece, stats)
        if reason:
            out["piece_skips"].append((suffix, reason))
            continue
        out["pieces"].append((suffix, ids.astype(np.uint16 if len(tokenizer) < 65536 else np.int32), stats.notes))
    if not out["pieces"] and len(pieces) == 1 and out["piece_skips"]:
        out["skip"] = out["piece_skips"][0][1]
        out["piece_skips"] = []


_TOKENIZERS: dict[str, Tokenizer] = {}


def _tokenizer_for(config: dict) -> Tokenizer:
    key = json.dumps(config, sort_keys=True)
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = Tokenizer(TokenizerConfig.from_dict(config))
    return _TOKENIZERS[key]


# ---------------------------------------------------------------------- cache
def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _cache_path(cache_dir: Path, tokenizer: Tokenizer, digest: str, max_file_mb: float) -> Path:
    tag = f"r{READER_VERSION}e{ENCODING_VERSION}-{tokenizer.config.digest()}-mb{max_file_mb:g}"
    return cache_dir / "tokens" / tag / digest[:2] / f"{digest}.npz"


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


def _skipped(reason: str, cacheable: bool = False) -> dict:
    """A result for a file that gives nothing; by default a verdict the cache must not keep."""
    return {"pieces": [], "skip": reason, "piece_skips": [], "lossy": Counter(), "cacheable": cacheable}


def _pool_context():
    import multiprocessing as mp

    # forking a process that already runs TensorFlow's threads is unsafe; spawn then
    if "tensorflow" in sys.modules or sys.platform == "win32":
        return mp.get_context("spawn")
    return mp.get_context("fork")


class WorkerDied(Exception):
    """The worker process running a task died under it (killed for memory, a crash in C code)."""


def map_files(func, tasks, jobs: int, on_result) -> None:
    """Call `func(*task)` for every task in worker processes, each outcome handed to `on_result`.

    One dead worker breaks a whole process pool and fails every unfinished task with it, so those
    are run again in a fresh pool, and should that break too, one at a time in a single worker
    (started afresh after each death): only a task that really kills its worker is reported so.

    Args:
        func: a module-level function (workers find it by name, under 'spawn' too).
        tasks: argument tuples, one per task.
        jobs: worker processes; with 1, or a single task, everything runs in this process
            (cheaper, but a task that kills the process then ends the run).
        on_result: called here as `on_result(index, result, error)` in the order tasks finish,
            once per task; `error` is None, or the exception `func` raised (`result` is None then),
            or a WorkerDied for a task whose worker process died running it. An exception it
            raises cancels the tasks not started, waits for those running, and propagates.
    """
    tasks = list(tasks)
    if jobs <= 1 or len(tasks) <= 1:
        for i, task in enumerate(tasks):
            try:
                result = func(*task)
            except Exception as e:
                on_result(i, None, e)
                continue
            on_result(i, result, None)
        return
    todo = list(range(len(tasks)))
    for _ in range(2):  # the first pool, then a fresh one for what a dead worker took down with it
        todo = _run_pool(func, tasks, todo, min(jobs, len(todo)), on_result)
        if not todo:
            return
    _run_one_by_one(func, tasks, todo, on_result)


def _run_pool(func, tasks: list, todo: list[int], workers: int, on_result) -> list[int]:
    """Run the tasks `todo` in one pool; returns those left unfinished because the pool broke."""
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    lost: list[int] = []
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context())
    try:
        futures = {}
        for k, i in enumerate(todo):
            try:
                futures[pool.submit(func, *tasks[i])] = i
            except BrokenProcessPool:  # a worker died while the rest were being submitted
                lost.extend(todo[k:])
                break
        for fut in as_completed(futures):
            i = futures[fut]
            error = fut.exception()
            if isinstance(error, BrokenProcessPool):
                lost.append(i)  # maybe the killer, maybe a bystander: the next round tells
            else:
                on_result(i, None if error else fut.result(), error)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return sorted(lost)


def _run_one_by_one(func, tasks: list, todo: list[int], on_result) -> None:
    """Run the tasks `todo` one at a time in one worker: a death then names its task for sure."""
    from concurrent.futures.process import BrokenProcessPool

    pool = None
    try:
        for i in todo:
            if pool is None:
                pool = ProcessPoolExecutor(max_workers=1, mp_context=_pool_context())
            try:
                fut = pool.submit(func, *tasks[i])
                error = fut.exception()
            except BrokenProcessPool as e:
                error = e
            if isinstance(error, BrokenProcessPool):
                pool.shutdown(wait=True)
                pool = None
                on_result(i, None, WorkerDied("its worker process died"))
            else:
                on_result(i, None if error else fut.result(), error)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def build_corpus(
    paths=(),
    corpora=(),
    tokenizer: Tokenizer | None = None,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    max_file_mb: float = 20.0,
    progress: bool = True,
) -> tuple[list[CorpusPiece], CorpusReport]:
    """Tokenize every readable file under `paths` and the named built-in `corpora`.

    Returns pieces in a stable order (by input path) and a report; a broken file is a line in
    `report.skipped`, never an exception.

    Raises:
        MelodyGRUError: a path does not exist or an unknown corpus name.
    """
    from .readers import check_size

    tokenizer = tokenizer or Tokenizer()
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    fileset = find_files(paths, corpora)
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
    bar = _progress(len(todo), progress)

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
    for (root, path), res in zip(fileset.files, results):
        rel = fileset.relative(root, path)
        report.lossy.update(res["lossy"])
        if res["skip"]:
            report.skipped.append((rel, res["skip"]))
        for suffix, reason in res["piece_skips"]:
            report.skipped.append((rel + suffix, reason))
        for suffix, ids, notes in res["pieces"]:
            pieces.append(CorpusPiece(rel + suffix, np.asarray(ids, dtype=np.int32), int(notes)))
            report.notes += int(notes)
            report.tokens += len(ids)
    report.pieces = len(pieces)
    return pieces, report


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(total: int, enabled: bool):
    if not enabled or total == 0:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="file", desc="reading", file=sys.stderr, dynamic_ncols=True, leave=False)
