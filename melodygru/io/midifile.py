"""Standard MIDI File bytes -> Piece: a small, fast parser that tolerates the damage real files have.

music21's `converter.parse` builds a full score object tree and is about 100x slower on MIDI; mido
builds one object per message (~10 us each). This parser walks the raw bytes once per track and
keeps only what a Piece needs: notes (paired FIFO per track, channel and pitch), program changes
(per channel, whichever track holds them, in time order across tracks), tempo, meter and key.
Times stay in ticks until the end, where they become quarter notes as `ticks / ticks_per_quarter`
(no tempo needed, so onsets are exact).

Tolerated (read what is there and count it in `Piece.stats`): a track chunk cut off by the end of
the file ('truncated'), bytes that cannot be events ('corrupt': the track stops there), a header
whose track count disagrees with the chunks, unknown chunks, a format number above 2
('bad_header', read as format 1), note-ons never switched off ('unterminated', closed at the end
of their track), zero-length notes ('zero_length'), impossible tempos ('bad_tempo'), meters
('bad_time_signature') and keys ('bad_key_signature'), SMPTE time ('smpte': read as seconds at
120 bpm, the file's tempo events dropped). Anything that leaves nothing to read is a ReaderError.
"""


from __future__ import annotations

import struct
from bisect import bisect_right

from ..core.errors import ReaderError
from ..core.events import KeySignature, Note, Piece, Tempo, TimeSignature

# SMPTE frame rates as stored (negated) in the header; 29 means 29.97 drop-frame.
_SMPTE_FPS = {24: 24.0, 25: 25.0, 29: 29.97, 30: 30.0}
_MIN_BPM, _MAX_BPM = 1.0, 2000.0  # outside this a tempo is a corrupt byte, not music

# kinds of the (tick, kind, value) records a track yields besides notes
_TEMPO, _METER, _KEY = 0, 1, 2


def parse_smf(data: bytes, source: str = "") -> Piece:
    """Parse a whole Standard MIDI File.

    Args:
        data: the file's bytes.
        source: stored as the piece's `source` (normally the path).

    Returns:
        The piece; its notes may be empty (the caller decides what "no notes" means).

    Raises:
        ReaderError: not a MIDI file, a broken header, no tracks, or a cut-off file with no notes.
    """
    data = bytes(data)
    if not data:
        raise ReaderError("empty file")
    start = _header_start(data)
    stats: dict[str, int] = {}
    fmt, division, pos = _read_header(data, start, stats)
    tpq = _ticks_per_quarter(division, stats)
    tracks = _track_chunks(data, pos, stats)
    if not tracks:
        cut = stats.get("truncated")
        raise ReaderError("truncated MIDI file" if cut else "no MIDI tracks (MTrk chunks) in file")

    parsed: list[tuple[list, int]] = []  # (one track's note tuples, its tick offset)
    programs: list[tuple[int, int, int]] = []  # (tick, channel, program) from every track
    metas: list[tuple[int, int, object]] = []
    offset = 0  # format 2 plays its tracks one after another
    for trk in tracks:
        track_notes, track_programs, track_metas, end, status, unterminated = _parse_track(trk)
        if status:
            stats[status] = 1
        if unterminated:
            stats["unterminated"] = stats.get("unterminated", 0) + unterminated
        parsed.append((track_notes, offset))
        programs.extend((tick + offset, channel, program) for tick, channel, program in track_programs)
        metas.extend((tick + offset, kind, value) for tick, kind, value in track_metas)
        if fmt == 2:
            offset += end
    # a program change belongs to its channel, not its track: files often set every channel's
    # program in a setup track that holds no notes
    program_map = _program_map(programs)
    notes: list[Note] = []
    for track_notes, track_offset in parsed:
        notes.extend(_make_notes(track_notes, program_map, track_offset, tpq, stats))
    if stats.get("truncated") and not notes:
        raise ReaderError("truncated MIDI file (no notes before the cut)")

    tempos, meters, keys = _conductor(metas, tpq, stats)
    if stats.get("smpte"):
        tempos = []  # SMPTE time was converted at 120 bpm; the file's tempo events do not apply
    stats = {k: v for k, v in stats.items() if v}
    return Piece(notes, tempos, meters, keys, source=source, stats=stats)


def _header_start(data: bytes) -> int:
    if data[:4] == b"MThd":
        return 0
    if data[:4] == b"RIFF" and data[8:12] == b"RMID":  # RIFF-wrapped MIDI (.rmi saved as .mid)
        found = data.find(b"MThd", 12)
        if found >= 0:
            return found
    raise ReaderError("not a MIDI file (no MThd header)")


def _read_header(data: bytes, start: int, stats: dict) -> tuple[int, int, int]:
    """Returns (format, division, position of the first chunk after the header)."""
    if len(data) < start + 14:
        raise ReaderError("truncated MIDI header")
    (length,) = struct.unpack_from(">I", data, start + 4)
    if length < 6:
        raise ReaderError(f"bad MIDI header (length {length}, expected 6)")
    fmt, _ntracks, division = struct.unpack_from(">HHH", data, start + 8)
    # the declared track count is ignored on purpose: the chunks that are there are read
    if fmt > 2:
        stats["bad_header"] = 1
        fmt = 1
    return fmt, division, start + 8 + length


def _ticks_per_quarter(division: int, stats: dict) -> float:
    if division & 0x8000:
        fps_code = 256 - (division >> 8)
        ticks_per_frame = division & 0xFF
        fps = _SMPTE_FPS.get(fps_code, float(fps_code))
        if not ticks_per_frame or not fps_code:
            raise ReaderError("bad SMPTE time division in MIDI header")
        stats["smpte"] = 1
        return fps * ticks_per_frame / 2.0  # ticks per second / 2: quarter notes at 120 bpm
    if division == 0:
        raise ReaderError("MIDI header says 0 ticks per quarter note")
    return division


def _track_chunks(data: bytes, pos: int, stats: dict) -> list[bytes]:
    n = len(data)
    tracks = []
    while pos + 8 <= n:
        cid = data[pos:pos + 4]
        (length,) = struct.unpack_from(">I", data, pos + 4)
        body, end = pos + 8, pos + 8 + length
        if cid == b"MTrk":
            if end > n:
                stats["truncated"] = 1
                end = n
            tracks.append(data[body:end])
        elif not all(65 <= c <= 122 for c in cid):
            # garbage where a chunk should start (a wrong length before it): resync on 'MTrk'
            found = data.find(b"MTrk", pos + 1)
            if found < 0:
                break
            stats["corrupt"] = 1
            pos = found
            continue
        elif end > n:
            break
        pos = end
    if 0 < n - pos < 8 and b"MTrk".startswith(data[pos:pos + 4]):
        stats["truncated"] = 1  # the file stops inside a track's chunk header
    return tracks


def _parse_track(trk: bytes):
    """Walk one track's events.

    Returns:
        (notes as (on_tick, off_tick, channel << 7 | pitch, velocity), program changes as
        (tick, channel, program), metas as (tick, kind, value), end tick, status ('' when clean,
        'truncated' or 'corrupt'), count of notes closed at the end of the track).
    """
    n = len(trk)
    i = tick = running = 0
    opened: dict[int, list] = {}  # channel << 7 | pitch -> FIFO of (on_tick, velocity)
    notes: list[tuple] = []
    programs: list[tuple] = []
    metas: list[tuple] = []
    status = ""
    try:
        while i < n:
            b = trk[i]
            i += 1
            if b < 0x80:
                tick += b
            else:  # variable-length delta; more than 4 bytes is not MIDI
                delta = b & 0x7F
                for _ in range(3):
                    b = trk[i]
                    i += 1
                    delta = (delta << 7) | (b & 0x7F)
                    if b < 0x80:
                        break
                else:
                    status = "corrupt"
                    break
                tick += delta
            st = trk[i]
            if st & 0x80:
                i += 1
                if st < 0xF0:
                    running = st
            elif running:
                st = running  # running status: the byte is already data
            else:
                status = "corrupt"
                break
            kind = st & 0xF0
            if kind == 0x90 or kind == 0x80:
                key = ((st & 0x0F) << 7) | (trk[i] & 0x7F)
                vel = trk[i + 1] & 0x7F
                i += 2
                queue = opened.get(key)
                if kind == 0x90 and vel:
                    if queue is None:
                        opened[key] = [(tick, vel)]
                    else:
                        queue.append((tick, vel))
                elif queue:  # note-off (or note-on velocity 0) closes the earliest open note
                    on, v = queue.pop(0)
                    notes.append((on, tick, key, v))
            elif kind == 0xC0:
                programs.append((tick, st & 0x0F, trk[i] & 0x7F))
                i += 1
            elif kind == 0xD0:
                i += 1
            elif kind != 0xF0:
                i += 2
            elif st == 0xFF:
                mtype = trk[i]
                i, length = _vlq(trk, i + 1)
                if i + length > n:
                    raise IndexError
                if mtype == 0x2F:
                    break
                if mtype in (0x51, 0x58, 0x59):
                    _meta(mtype, trk[i:i + length], tick, metas)
                i += length
            elif st == 0xF0 or st == 0xF7:
                i, length = _vlq(trk, i)
                i += length
            elif st == 0xF2:
                i += 2
            elif st == 0xF1 or st == 0xF3:
                i += 1
            # other system common / realtime bytes (F4-F6, F8-FE) carry no data
        if i > n:
            status = "truncated"
    except IndexError:
        status = "truncated"
    except ValueError:
        status = "corrupt"
    unterminated = 0
    for key, queue in opened.items():
        for on, v in queue:
            notes.append((on, tick, key, v))
            unterminated += 1
    return notes, programs, metas, tick, status, unterminated


def _vlq(trk: bytes, i: int) -> tuple[int, int]:
    """Read a variable-length quantity at `i`; returns (next index, value)."""
    value = 0
    for _ in range(4):
        b = trk[i]
        i += 1
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return i, value
    raise ValueError("variable-length quantity over 4 bytes")


def _meta(mtype: int, payload: bytes, tick: int, metas: list) -> None:
    if mtype == 0x51:
        if len(payload) >= 3:
            metas.append((tick, _TEMPO, (payload[0] << 16) | (payload[1] << 8) | payload[2]))
    elif mtype == 0x58:
        if len(payload) >= 2:
            metas.append((tick, _METER, (payload[0], payload[1])))
    elif len(payload) >= 2:
        sharps = payload[0] - 256 if payload[0] > 127 else payload[0]
        metas.append((tick, _KEY, (sharps, payload[1])))


def _program_map(programs) -> dict[int, tuple[list, list]]:
    """channel -> (ticks, programs) in time order, from the program changes of all tracks.

    At one tick the change of the later track wins (the sort is stable: file order within a tick).
    """
    by_channel: dict[int, tuple[list, list]] = {}
    for tick, channel, program in sorted(programs, key=lambda p: p[0]):
        ticks, values = by_channel.setdefault(channel, ([], []))
        ticks.append(tick)
        values.append(program)
    return by_channel


def _make_notes(track_notes, program_map, offset: int, tpq: float, stats: dict) -> list[Note]:
    """Turn one track's tick tuples into Notes, each with its channel's program in force at its onset.

    Args:
        track_notes: (on_tick, off_tick, channel << 7 | pitch, velocity) of one track, ticks
            relative to the track's start.
        program_map: `_program_map` of the whole file, ticks already offset.
        offset: the track's start tick in the file (non-zero only in format 2).
        tpq: ticks per quarter note.
        stats: reader stats, 'zero_length' is counted into it.
    """
    out = []
    zero = 0
    for on, off, key, vel in track_notes:
        channel = key >> 7
        found = program_map.get(channel)
        program = 0
        if found is not None:
            idx = bisect_right(found[0], on + offset) - 1
            if idx >= 0:
                program = found[1][idx]
        if off == on:
            zero += 1
        out.append(Note((on + offset) / tpq, (off - on) / tpq, key & 0x7F, vel, program, channel == 9))
    if zero:
        stats["zero_length"] = stats.get("zero_length", 0) + zero
    return out


def _conductor(metas, tpq: float, stats: dict):
    """Tempo map, meters and keys from all tracks: the last valid event at a tick wins, repeats dropped."""
    last: dict[tuple[int, int], object] = {}
    for tick, kind, value in sorted(metas, key=lambda m: m[0]):  # stable: file order within a tick
        if kind == _TEMPO:
            value = 60e6 / value if value else 0.0
            bad = not _MIN_BPM <= value <= _MAX_BPM
            name = "bad_tempo"
        elif kind == _METER:
            bad = value[0] < 1 or value[1] > 6  # 2**6 = 64 is the finest denominator we accept
            name = "bad_time_signature"
        else:
            bad = not -7 <= value[0] <= 7 or value[1] not in (0, 1)
            name = "bad_key_signature"
        if bad:
            stats[name] = stats.get(name, 0) + 1
        else:
            last[(kind, tick)] = value
    tempos, meters, keys = [], [], []
    for (kind, tick), value in sorted(last.items()):
        time = tick / tpq
        if kind == _TEMPO:
            if not tempos or tempos[-1].bpm != value:
                tempos.append(Tempo(time, value))
        elif kind == _METER:
            num, den = value[0], 1 << value[1]
            if not meters or (meters[-1].numerator, meters[-1].denominator) != (num, den):
                meters.append(TimeSignature(time, num, den))
        else:
            sharps, mode = value[0], "minor" if value[1] else "major"
            if not keys or (keys[-1].sharps, keys[-1].mode) != (sharps, mode):
                keys.append(KeySignature(time, sharps, mode))
    return tempos, meters, keys
