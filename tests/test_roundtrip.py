"""`roundtrip` measures the MIDI files it writes: recall is what a player hears in the written file
(read back with mido here, independently of melodygru's reader), compared with the input on the
tokenizer's grid."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import mido

from melodygru.evaluation.roundtrip import roundtrip
from melodygru.io.readers import read_file
from melodygru.tokens.config import TokenizerConfig
from melodygru.tokens.tokenizer import Tokenizer

TPQ = 480


def write_parts(path: Path, parts) -> Path:
    """A type-1 MIDI file, one track per part: `parts` is a list of (channel, [(tick, program)]
    program changes, [(onset_q, duration_q, pitch)] notes)."""
    mid = mido.MidiFile(type=1, ticks_per_beat=TPQ)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=0))
    mid.tracks.append(meta)
    for channel, programs, notes in parts:
        events = [(tick, 1, mido.Message("program_change", channel=channel, program=p)) for tick, p in programs]
        for on, dur, pitch in notes:
            events.append((round(on * TPQ), 2, mido.Message("note_on", channel=channel, note=pitch, velocity=80)))
            events.append((round((on + dur) * TPQ), 0, mido.Message("note_off", channel=channel, note=pitch)))
        track, now = mido.MidiTrack(), 0
        for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(msg.copy(time=tick - now))
            now = tick
        mid.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    mid.save(str(path))
    return path


def chorale_with_unisons(path: Path) -> Path:
    """Four voices on four channels; soprano and alto meet on one pitch three times (overlapping,
    and twice starting together), as chorales often do."""
    soprano = [(0, 2, 67), (2, 1, 69), (3, 1, 72), (4, 2, 71), (6, 2, 72)]
    alto = [(0, 1, 64), (1, 2, 67), (3, 1, 72), (4, 1, 67), (5, 1, 66), (6, 2, 72)]
    tenor = [(0, 2, 60), (2, 2, 57), (4, 4, 59)]
    bass = [(0, 4, 48), (4, 2, 43), (6, 2, 48)]
    return write_parts(path, [(c, [(0, 52)], notes) for c, notes in enumerate([soprano, alto, tenor, bass])])


def heard_keys(path: Path, tokenizer: Tokenizer, programs: bool = False) -> Counter:
    """What a strict player hears in a written file (a note ends at the next on or off of its key on
    its channel), as the tokenizer's grid keys, plus the program heard when `programs`."""
    from melodygru.core.events import Note

    mid = mido.MidiFile(file=io.BytesIO(Path(path).read_bytes()))
    program, sounding, out, now = [0] * 16, {}, Counter(), 0
    for msg in mido.merge_tracks(mid.tracks):
        now += msg.time
        if msg.type == "program_change":
            program[msg.channel] = msg.program
        elif msg.type in ("note_on", "note_off"):
            key = (msg.channel, msg.note)
            if key in sounding:
                on, prog = sounding.pop(key)
                k = tokenizer.note_key(Note(on / mid.ticks_per_beat, (now - on) / mid.ticks_per_beat, msg.note))
                out[k + ((prog,) if programs else ())] += 1
            if msg.type == "note_on" and msg.velocity > 0:
                sounding[key] = (now, program[msg.channel])
    return out


def test_unison_voices_survive_the_round_trip_in_the_written_file(tmp_path):
    src = chorale_with_unisons(tmp_path / "in" / "chorale.mid")
    rows, _ = roundtrip([src.parent], out_dir=tmp_path / "out", jobs=1, progress=False)
    tok = Tokenizer()
    want = Counter(tok.note_key(n) for n in read_file(src)[0].notes)
    got = heard_keys(tmp_path / "out" / "chorale.mid", tok)
    assert sum(want.values()) == 17
    assert got == want  # every voice heard at its full length
    assert (rows[0].matched, rows[0].total) == (17, 17) and rows[0].recall == 1.0
    assert not rows[0].lossy


def test_recall_is_what_the_written_file_holds(tmp_path, monkeypatch):
    """A writer that loses a note must show in the recall: it is measured on the file."""
    import melodygru.io.writers

    src = chorale_with_unisons(tmp_path / "in" / "chorale.mid")
    real_write = melodygru.io.writers.atomic_write_bytes

    def drop_last_note(path, data):  # a broken disk copy: the last note-on and its note-off go missing
        mid = mido.MidiFile(file=io.BytesIO(data))
        track = max(mid.tracks[1:], key=lambda t: sum(m.time for m in t))
        ons = [i for i, m in enumerate(track) if m.type == "note_on" and m.velocity > 0]
        last = track[ons[-1]]
        off = next(i for i in range(ons[-1] + 1, len(track)) if track[i].type in ("note_off", "note_on")
                   and track[i].note == last.note and track[i].channel == last.channel)
        for i in (off, ons[-1]):  # keep the timing of what follows
            if i + 1 < len(track):
                track[i + 1] = track[i + 1].copy(time=track[i + 1].time + track[i].time)
            del track[i]
        buf = io.BytesIO()
        mid.save(file=buf)
        return real_write(path, buf.getvalue())

    monkeypatch.setattr(melodygru.io.writers, "atomic_write_bytes", drop_last_note)
    rows, _ = roundtrip([src.parent], out_dir=tmp_path / "out", jobs=1, progress=False)
    assert (rows[0].matched, rows[0].total) == (16, 17)
    assert rows[0].decoded_matched == 17  # the tokens themselves kept everything


def test_with_programs_the_recall_counts_the_instrument_heard(tmp_path):
    # 20 instruments over time on 15 channels, a channel taking a new program once it is silent
    parts, k = [], 0
    for channel in [c for c in range(16) if c != 9][:10]:  # ten play throughout
        parts.append((channel, [(0, 3 * k)], [(t * 2.0, 2.0, 50 + k) for t in range(12)]))
        k += 1
    for j, channel in enumerate([11, 12, 13, 14, 15] * 2):  # ten come in one after another
        start = 2.0 * j
        parts.append((channel, [(round(start * TPQ), 40 + 2 * j)], [(start + t, 1.0, 70 + j % 3) for t in range(2)]))
    src = write_parts(tmp_path / "in" / "band.mid", parts)
    piece = read_file(src)[0]
    assert len({n.program for n in piece.notes}) == 20
    tok = Tokenizer(TokenizerConfig(programs=True))
    rows, _ = roundtrip([src.parent], out_dir=tmp_path / "out", tokenizer=tok, jobs=1, progress=False)
    want = Counter(tok.note_key(n) + (n.program,) for n in piece.notes)
    assert heard_keys(tmp_path / "out" / "band.mid", tok, programs=True) == want
    assert rows[0].matched == rows[0].total == sum(want.values()) == 140
