"""Encode and decode every file, write the reconstructions, and measure what survived.

Note recall counts a note as kept when the decoded piece has a note with the same pitch, onset
and duration on the tokenizer's grid (each original note matches at most one decoded note).
Drum notes dropped by the default setting are reported but left out of the recall denominator;
notes outside the pitch range count as lost.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .corpus import COUNTED_BY_TOKENIZER, _pool_context, _progress, _skip_reason, _tokenizer_for, find_files
from .errors import DISK_FULL_ERRNOS, MelodyGRUError, ReaderError
from .tokenizer import Tokenizer


def output_path(out_dir: Path, rel: str, suffix: str = "") -> Path:
    """Mirror a relative input path under `out_dir` as MIDI: `a/b.mid` -> `out/a/b.mid`,
    `a/b.mxl` -> `out/a/b.mxl.mid`, tune 3 of `a/c.abc` -> `out/a/c.abc.3.mid`."""
    name = rel + (("." + suffix.lstrip("#")) if suffix else "")
    if not name.lower().endswith(".mid"):
        name += ".mid"
    return Path(out_dir) / name


def note_recall(tokenizer: Tokenizer, original, decoded) -> tuple[int, int]:
    """(matched, total) over the original's pitched notes, compared on the grid."""
    want = Counter(tokenizer.note_key(n) for n in original.notes if not n.is_drum or tokenizer.config.drums)
    got = Counter(tokenizer.note_key(n) for n in decoded.notes)
    matched = sum((want & got).values())
    return matched, sum(want.values())


@dataclass
class RoundtripRow:
    path: str
    matched: int = 0
    total: int = 0
    written: list[str] = field(default_factory=list)
    skip: str = ""
    lossy: Counter = field(default_factory=Counter)

    @property
    def recall(self) -> float:
        return self.matched / self.total if self.total else 1.0


def roundtrip_file(path: str, rel: str, out_dir: str, config: dict, max_file_mb: float) -> RoundtripRow:
    """Round-trip one file; a failure is the row's `skip`.

    Raises:
        OSError: only for a full disk (`DISK_FULL_ERRNOS`), where every later file would fail too.
    """
    from .readers import read_file
    from .writers import write_midi

    tokenizer = _tokenizer_for(config)
    row = RoundtripRow(rel)
    try:
        pieces = read_file(path, max_file_mb=max_file_mb)
    except ReaderError as e:
        row.skip = str(e)
        return row
    except Exception as e:  # a reader bug must not stop the run
        row.skip = f"internal reader error ({type(e).__name__})"
        return row
    for i, piece in enumerate(pieces):
        suffix = piece.source[len(path):] if piece.source.startswith(path) else (f"#{i + 1}" if len(pieces) > 1 else "")
        try:
            ids, stats = tokenizer.encode_with_stats(piece)
            decoded = tokenizer.decode(ids, strict=True)
        except MelodyGRUError as e:
            row.skip = f"{suffix} {e}".strip()
            continue
        matched, total = note_recall(tokenizer, piece, decoded)
        row.matched += matched
        row.total += total
        row.lossy.update({k: v for k, v in stats.as_dict().items() if k != "notes" and v})
        row.lossy.update({k: v for k, v in piece.stats.items() if v and k not in COUNTED_BY_TOKENIZER})
        reason = _skip_reason(piece, stats)
        if reason:  # nothing the tokenizer keeps (no notes, drums only...): nothing to write
            row.skip = f"{suffix} {reason}".strip()
            continue
        try:
            row.written.append(str(write_midi(decoded, output_path(Path(out_dir), rel, suffix))))
        except OSError as e:
            if e.errno in DISK_FULL_ERRNOS:
                raise  # every later file would fail too: the command stops with one line
            row.skip = f"cannot write output: {e.strerror or e}"
    return row


def roundtrip(paths=(), corpora=(), out_dir=".", tokenizer=None, jobs=None, max_file_mb=20.0, progress=True):
    """Round-trip every readable file; returns rows in input order."""
    tokenizer = tokenizer or Tokenizer()
    fileset = find_files(paths, corpora)
    if not fileset.files:
        raise MelodyGRUError("no MIDI, MusicXML, ABC or kern files found")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MelodyGRUError(f"cannot create output folder {out}: {e.strerror or e}") from None
    if not os.access(out, os.W_OK):
        raise MelodyGRUError(f"output folder {out} is not writable")
    config = tokenizer.config.to_dict()
    jobs = max(1, jobs or os.cpu_count() or 1)
    tasks = [(str(p), fileset.relative(root, p), str(out), config, max_file_mb) for root, p in fileset.files]
    rows: list[RoundtripRow | None] = [None] * len(tasks)
    bar = _progress(len(tasks), progress)
    try:  # closed on an error too, so an error line does not land on the bar's line
        if jobs == 1 or len(tasks) == 1:
            for i, t in enumerate(tasks):
                rows[i] = roundtrip_file(*t)
                bar.update(1)
        else:
            with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=_pool_context()) as pool:
                futures = {pool.submit(roundtrip_file, *t): i for i, t in enumerate(tasks)}
                for fut in as_completed(futures):
                    i = futures[fut]
                    try:
                        rows[i] = fut.result()
                    except Exception as e:
                        if isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS:
                            pool.shutdown(wait=True, cancel_futures=True)
                            raise
                        rows[i] = RoundtripRow(tasks[i][1], skip=f"worker failed ({type(e).__name__})")
                    bar.update(1)
    finally:
        bar.close()
    return rows, fileset
