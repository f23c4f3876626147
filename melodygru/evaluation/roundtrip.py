"""Encode and decode every file, write the reconstructions, and measure what survived.

Recall is measured on the written MIDI file, read back with mido (`file_notes`), independently of
melodygru's reader and events: a note counts as kept when the file plays a note with the same
pitch, onset and duration on the tokenizer's grid (and, with `programs`, the same instrument) as
the input piece has; each input note matches at most one note of the file. So whatever the
tokenizer or the writer loses shows. The same count on the decoded piece, before writing, is kept
as `decoded_matched` (the tokenizer's share of the loss).

Drum notes dropped by the default setting are reported but left out of the recall denominator;
notes outside the pitch range count as lost; what the MIDI file could not hold (`WriteReport`:
more than 15 instruments at once, ...) is counted with the lossy steps.
"""


from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import DISK_FULL_ERRNOS, MelodyGRUError, ReaderError
from ..core.events import Note
from ..core.progress import progress as progress_display
from ..corpus.build import (
    COUNTED_BY_TOKENIZER,
    skip_reason,
    tokenizer_for,
)
from ..corpus.pool import WorkerDied, map_files
from ..corpus.walk import find_files
from ..tokens.tokenizer import Tokenizer


def output_path(out_dir: Path, rel: str, suffix: str = "") -> Path:
    """Mirror a relative input path under `out_dir` as MIDI: `a/b.mid` -> `out/a/b.mid`,
    `a/b.mxl` -> `out/a/b.mxl.mid`, tune 3 of `a/c.abc` -> `out/a/c.abc.3.mid`."""
    name = rel + (("." + suffix.lstrip("#")) if suffix else "")
    if not name.lower().endswith(".mid"):
        name += ".mid"
    return Path(out_dir) / name


def note_recall(tokenizer: Tokenizer, original, written) -> tuple[int, int]:
    """(matched, total) over the original's notes the tokenizer keeps, compared on its grid.

    Args:
        original: the input piece; its drum notes count only when the tokenizer keeps drums.
        written: the notes to compare with: a Piece, or a list of Notes (e.g. `file_notes`).
    """
    want = Counter(_recall_key(tokenizer, n) for n in original.notes if not n.is_drum or tokenizer.config.drums)
    got = Counter(_recall_key(tokenizer, n) for n in getattr(written, "notes", written))
    matched = sum((want & got).values())
    return matched, sum(want.values())


def _recall_key(tokenizer: Tokenizer, note: Note) -> tuple:
    key = tokenizer.note_key(note)
    if tokenizer.config.programs:  # the tokens name the instrument: the file must play it with it
        key += ("drums" if note.is_drum else note.program,)
    return key


def file_notes(path) -> list[Note]:
    """The notes a MIDI file plays, read with mido (not melodygru's reader), in file order.

    A note sounds from its note-on until the next note-off or note-on of its key on its channel,
    as a strict player renders it: a note-on of velocity 0 is a note-off, and a second note-on of
    a sounding key re-strikes it, so two notes of one pitch written over each other on one channel
    count as the shortened notes a listener hears. Each note takes the program in force on its
    channel at its onset; channel 10 (index 9) is drums. Ticks become quarter notes by the file's
    ticks_per_beat; a note never switched off ends at the file's last event.
    """
    import mido

    mid = mido.MidiFile(str(path))
    tpb = float(mid.ticks_per_beat)
    program = [0] * 16
    sounding: dict[tuple[int, int], tuple[int, int, int]] = {}  # (channel, pitch) -> (on tick, velocity, program)
    out, now = [], 0

    def end(channel, pitch, tick):
        on, velocity, prog = sounding.pop((channel, pitch))
        out.append(Note(on / tpb, (tick - on) / tpb, pitch, velocity, prog, channel == 9))

    for msg in mido.merge_tracks(mid.tracks):
        now += msg.time
        if msg.type == "program_change":
            program[msg.channel] = msg.program
        elif msg.type in ("note_on", "note_off"):
            if (msg.channel, msg.note) in sounding:
                end(msg.channel, msg.note, now)
            if msg.type == "note_on" and msg.velocity > 0:
                sounding[(msg.channel, msg.note)] = (now, msg.velocity, program[msg.channel])
    for channel, pitch in list(sounding):
        end(channel, pitch, now)
    return out


@dataclass
class RoundtripRow:
    path: str
    matched: int = 0  # notes the written files play as the input has them
    total: int = 0
    decoded_matched: int = 0  # the same count on the decoded pieces, before writing
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
    from ..io.readers import read_file
    from ..io.writers import write_midi_with_report

    tokenizer = tokenizer_for(config)
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
        decoded_matched, total = note_recall(tokenizer, piece, decoded)
        row.decoded_matched += decoded_matched
        row.total += total
        row.lossy.update({k: v for k, v in stats.as_dict().items() if k != "notes" and v})
        row.lossy.update({k: v for k, v in piece.stats.items() if v and k not in COUNTED_BY_TOKENIZER})
        reason = skip_reason(piece, stats)
        if reason:  # nothing the tokenizer keeps (no notes, drums only...): nothing to write
            row.skip = f"{suffix} {reason}".strip()
            continue
        try:
            written, report = write_midi_with_report(decoded, output_path(Path(out_dir), rel, suffix))
        except OSError as e:
            if e.errno in DISK_FULL_ERRNOS:
                raise  # every later file would fail too: the command stops with one line
            row.skip = f"cannot write output: {e.strerror or e}"
            continue  # nothing written: none of its notes count as kept
        row.written.append(str(written))
        row.lossy.update(report.lossy())
        # the headline figure: what the file plays, read back independently of the decoded piece
        row.matched += note_recall(tokenizer, piece, file_notes(written))[0]
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
    bar = progress_display(len(tasks), "reading", "file", enabled=progress)

    def done(i, row, error):
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            raise error  # every later file would fail too: map_files stops the rest
        if isinstance(error, WorkerDied):  # killed for memory, or a crash in C code
            row = RoundtripRow(tasks[i][1], skip=f"worker failed ({error})")
        elif error is not None:  # a bug: this file's row says so, the others go on
            lines = str(error).strip().splitlines()
            reason = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
            row = RoundtripRow(tasks[i][1], skip=f"internal error ({reason})")
        rows[i] = row
        bar.update(1)

    try:  # closed on an error too, so an error line does not land on the bar's line
        map_files(roundtrip_file, tasks, jobs, done)
    finally:
        bar.close()
    return rows, fileset
