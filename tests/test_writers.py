"""The MIDI writer plays exactly what the piece holds: unisons at full length, every instrument on a
channel of its own while it sounds, drums on channel 10, any tempo clamped into what MIDI can store.

Written files are checked by reading them back with mido the way a strict player hears them, not
with melodygru's own reader."""

from __future__ import annotations

import hashlib
import io
from collections import Counter

import mido
import pytest
from click.testing import CliRunner

from melodygru.core.events import KeySignature, Note, Piece, Tempo, TimeSignature
from melodygru.io.writers import TICKS_PER_QUARTER, midi_bytes, midi_bytes_with_report

TPQ = TICKS_PER_QUARTER


def heard(data: bytes):
    """The notes a strict player sounds, and everything in the file that a player would render
    otherwise than written.

    A note sounds from its note-on until the next note-on or note-off of its key on its channel
    (a second note-on of a sounding key re-strikes it on most synthesizers), with the program in
    force on its channel at its onset.

    Returns:
        notes: (channel, pitch, on_tick, off_tick, program) per note.
        problems: descriptions of re-struck keys, stray note-offs, notes never ended and program
            changes on a channel while one of its notes sounds.
    """
    mid = mido.MidiFile(file=io.BytesIO(data))
    assert mid.ticks_per_beat == TPQ
    program = [0] * 16
    sounding: dict[tuple[int, int], tuple[int, int]] = {}  # (channel, pitch) -> (on tick, program)
    notes, problems, now = [], [], 0
    for msg in mido.merge_tracks(mid.tracks):
        now += msg.time
        if msg.type == "program_change":
            if any(ch == msg.channel for ch, _ in sounding):
                problems.append(f"program change on channel {msg.channel} at {now} while a note sounds")
            program[msg.channel] = msg.program
        elif msg.type in ("note_on", "note_off"):
            key = (msg.channel, msg.note)
            starts = msg.type == "note_on" and msg.velocity > 0
            if key in sounding:
                on, prog = sounding.pop(key)
                notes.append((msg.channel, msg.note, on, now, prog))
                if starts:
                    problems.append(f"note {msg.note} on channel {msg.channel} re-struck at {now} while sounding")
            elif not starts:
                problems.append(f"note-off of silent note {msg.note} on channel {msg.channel} at {now}")
            if starts:
                sounding[key] = (now, program[msg.channel])
    problems += [f"note {p} on channel {c} never ends" for c, p in sounding]
    return notes, problems


def as_written(piece: Piece) -> Counter:
    """(pitch, on tick, off tick, program or 'drum') of every note of the piece (zero-length notes
    last one tick)."""
    out = Counter()
    for n in piece.notes:
        on = round(n.onset * TPQ)
        out[(n.pitch, on, max(on + 1, round(n.end * TPQ)), "drum" if n.is_drum else n.program)] += 1
    return out


def as_heard(notes) -> Counter:
    return Counter((p, on, off, "drum" if ch == 9 else prog) for ch, p, on, off, prog in notes)


def plain_piece() -> Piece:
    """Three instruments and drums, no two notes of one pitch and program at once."""
    notes = []
    for i in range(16):
        notes.append(Note(i * 0.5, 0.5, 60 + (i % 5), 80, program=0))        # piano, repeated pitches re-sound
        notes.append(Note(i * 0.5, 1.0, 40 + 2 * (i % 6), 70, program=32))   # bass, overlapping but other pitches
        notes.append(Note(i * 0.5, 0.25, 36 + (i % 2) * 6, 100, is_drum=True))
    notes.append(Note(0.0, 8.0, 72, 60, program=48))                         # strings
    notes.append(Note(3.0, 0.0, 75, 60, program=48))                         # a zero-length note
    return Piece(notes, [Tempo(0.0, 96.0), Tempo(4.0, 80.0)], [TimeSignature(0.0, 3, 4)],
                 [KeySignature(0.0, -2, "minor")])


# --------------------------------------------------------------------------- unisons
def test_unison_voices_each_sound_their_full_length():
    # a chorale's alto holds G4 while the soprano arrives on it, then both sing C5 together
    notes = [Note(0.0, 2.0, 67, 80), Note(1.0, 2.0, 67, 80), Note(0.0, 4.0, 48, 80),
             Note(3.0, 1.0, 72, 80), Note(3.0, 1.0, 72, 80), Note(3.0, 0.5, 72, 80)]
    piece = Piece(notes)
    data, report = midi_bytes_with_report(piece)
    notes_heard, problems = heard(data)
    assert problems == []
    assert as_heard(notes_heard) == as_written(piece)
    assert report.merged_unisons == 0 and report.merged_programs == 0
    channels = {ch for ch, *_ in notes_heard}
    assert 9 not in channels and len(channels) == 3  # three G4/C5 voices at once: three piano channels
    mid = mido.MidiFile(file=io.BytesIO(data))
    changes = [m for t in mid.tracks for m in t if m.type == "program_change"]
    assert sorted(m.channel for m in changes) == sorted(channels) and {m.program for m in changes} == {0}


def test_a_repeated_pitch_re_sounds_on_its_own_channel():
    piece = Piece([Note(i * 0.5, 0.5, 60, 80) for i in range(8)])
    notes_heard, problems = heard(midi_bytes(piece))
    assert problems == []
    assert as_heard(notes_heard) == as_written(piece)
    assert {ch for ch, *_ in notes_heard} == {0}  # note-off before note-on at one tick: no extra channel


def test_a_piece_without_unisons_is_written_byte_for_byte_as_before():
    # sha256 of what the writer produced before unisons got channels of their own
    data = midi_bytes(plain_piece())
    assert hashlib.sha256(data).hexdigest() == "f2f860e3213f52e3cc8b45f4fdc74248ae85a7b02b967c8fda1f7237d8a5592c"
    notes_heard, problems = heard(data)
    assert problems == [] and as_heard(notes_heard) == as_written(plain_piece())


# --------------------------------------------------------------------------- many programs
def twenty_programs() -> Piece:
    """20 instruments: 10 play throughout, 10 come in one after another (two at a time), with a
    unison inside the first instrument and drums under it all; at most 13 pitched channels at once."""
    notes = []
    for k in range(10):  # programs 0, 3, ..., 27 for 32 quarters, in half notes
        notes += [Note(t * 2.0, 2.0, 50 + k, 70, program=3 * k) for t in range(16)]
    for j in range(10):  # programs 40, 42, ..., 58 for 5 quarters each, every 3 quarters a new one
        notes += [Note(3.0 * j + t, 1.0, 70 + j % 3, 80, program=40 + 2 * j) for t in range(5)]
    notes.append(Note(5.0, 4.0, 50, 70, program=0))  # program 0's pitch 50 sounds already
    notes += [Note(t * 1.0, 0.5, 36 + t % 3, 100, is_drum=True) for t in range(32)]
    return Piece(notes, [Tempo(0.0, 100.0)])


def test_twenty_programs_never_share_a_channel_while_sounding():
    piece = twenty_programs()
    data, report = midi_bytes_with_report(piece)
    notes_heard, problems = heard(data)
    assert problems == []  # no program change under a sounding note, no re-struck key
    assert as_heard(notes_heard) == as_written(piece)  # every note has the program it was written with
    assert report.merged_programs == 0 and report.merged_unisons == 0
    assert {ch for ch, *_, prog in notes_heard if ch == 9} == {9}
    assert all(ch != 9 for ch, p, on, off, prog in notes_heard if ch != 9)
    drums = [n for n in notes_heard if n[0] == 9]
    assert len(drums) == 32


def test_more_instruments_at_once_than_midi_channels_are_merged_and_reported():
    # 18 instruments hold one chord together: MIDI has 15 pitched channels, so 3 must share
    piece = Piece([Note(0.0, 4.0, 40 + k, 70, program=k) for k in range(18)]
                  + [Note(0.0, 1.0, 38, 100, is_drum=True)])
    data, report = midi_bytes_with_report(piece)
    notes_heard, problems = heard(data)
    assert problems == []  # merged onto another instrument's channel, never a broken note
    assert {(p, on, off) for _, p, on, off, _ in notes_heard} == {(p, on, off) for p, on, off, _ in as_written(piece)}
    wrong = sum((as_written(piece) - as_heard(notes_heard)).values())
    assert report.merged_programs == wrong == 3
    assert report.lossy() == {"merged_programs": 3}
    assert [n for n in notes_heard if n[0] == 9] == [(9, 38, 0, TPQ, 0)]


def test_unisons_past_the_last_free_channel_are_merged_and_reported():
    # 16 piano notes of one pitch at once: 15 channels, so two of them share a key
    piece = Piece([Note(0.25 * k, 4.0, 60, 80) for k in range(16)])
    data, report = midi_bytes_with_report(piece)
    notes_heard, problems = heard(data)
    assert problems == []  # the earlier note ends where the later one strikes: no on/on/off/off
    assert report.merged_unisons == 1 and report.merged_programs == 0
    assert len(notes_heard) == 16 and len({ch for ch, *_ in notes_heard}) == 15


# --------------------------------------------------------------------------- tempo
def test_the_writer_clamps_tempos_midi_cannot_store():
    # set_tempo holds 1..16,777,215 microseconds per quarter: 3.58 bpm to 60,000,000 bpm
    piece = Piece([Note(0.0, 8.0, 60, 80)], [Tempo(0.0, 1.0), Tempo(2.0, 3.5), Tempo(4.0, 3.6), Tempo(6.0, 1e9)])
    data, report = midi_bytes_with_report(piece)
    mid = mido.MidiFile(file=io.BytesIO(data))
    tempos = [m.tempo for m in mid.tracks[0] if m.type == "set_tempo"]
    assert tempos == [16_777_215, 16_777_215, round(60e6 / 3.6), 1]
    assert report.unwritable_tempos == 3 and report.lossy() == {"unwritable_tempos": 3}


def test_generate_refuses_a_tempo_midi_cannot_store_before_loading_the_model(tmp_path, monkeypatch):
    import melodygru.generation.generate

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the tempo was checked")

    monkeypatch.setattr(melodygru.generation.generate, "load_checkpoint", no_model)
    from melodygru.cli.app import main

    for tempo in ("2", "3.57", "1"):
        res = CliRunner().invoke(main, ["generate", "--tempo", tempo, "--length", "8", "--out", str(tmp_path)])
        lines = [line for line in res.output.splitlines() if line.strip()]
        assert res.exit_code == 2, res.output
        assert len(lines) == 1 and lines[0].startswith("error: ") and "--tempo" in lines[0], res.output
        assert "3.5763" in lines[0] and "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []


def test_generate_reports_a_primer_tempo_it_had_to_clamp(tmp_path):
    import numpy as np

    from melodygru.generation.files import Sample, write_samples
    from melodygru.generation.generate import GenerateResult

    # what sampling after a primer at 2 bpm (a tempo melodygru's reader accepts) gives
    piece = Piece([Note(0.0, 1.0, 60, 80), Note(0.5, 1.0, 60, 80)], [Tempo(0.0, 2.0)])
    files = write_samples([Sample(np.array([1, 2], np.int32), piece, 1, True)], tmp_path)
    mid = mido.MidiFile(files[0].midi)
    assert [m.tempo for m in mid.tracks[0] if m.type == "set_tempo"] == [16_777_215]
    assert files[0].report.as_dict() == {"merged_programs": 0, "merged_unisons": 0, "unwritable_tempos": 1}
    result = GenerateResult(tmp_path, "test", 1, {"length": 1, "temperature": 1.0, "top_k": 0, "top_p": 1.0},
                            None, files, 0.0)
    line = [x for x in result.lines() if str(files[0].midi) in x]
    assert len(line) == 1 and "1 tempo outside what MIDI can store, clamped" in line[0]
    assert files[0].seconds == pytest.approx(1.5 * 16_777_215 / 1e6)  # as the file plays: 1.5 quarters at 3.58 bpm
    assert result.as_dict()["samples"][0]["written"] == {"merged_programs": 0, "merged_unisons": 0,
                                                         "unwritable_tempos": 1}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_busy_random_pieces_play_as_written_or_say_what_was_merged(seed):
    import random

    rng = random.Random(seed)
    notes = [Note(rng.randrange(64) / 4, rng.randrange(1, 9) / 4, rng.randrange(30, 90), 80,
                  program=rng.randrange(24)) for _ in range(240)]
    hits = {(rng.randrange(64) / 4, rng.randrange(35, 60)) for _ in range(60)}  # two hits of a key at once are one
    notes += [Note(on, rng.randrange(1, 9) / 4, key, 100, is_drum=True) for on, key in sorted(hits)]
    piece = Piece(notes)
    data, report = midi_bytes_with_report(piece)
    notes_heard, problems = heard(data)
    assert problems == []
    assert sum(ch == 9 for ch, *_ in notes_heard) == len(hits)
    written, got = as_written(piece), as_heard(notes_heard)
    drum_onsets = lambda c: Counter({(p, on): v for (p, on, _, prog), v in c.items() if prog == "drum"})  # noqa: E731
    assert drum_onsets(got) == drum_onsets(written)  # every drum hit is heard (overlapping ones re-struck)
    pitched = lambda c: Counter({k: v for k, v in c.items() if k[3] != "drum"})  # noqa: E731
    wrong = sum((pitched(written) - pitched(got)).values())
    assert report.merged_programs > 0  # 24 instruments at once in places: some must share
    # a merged unison changes at most the two notes it joins, a merged program only its own note
    assert wrong <= report.merged_programs + 2 * report.merged_unisons
