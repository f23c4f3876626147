"""Tests for melodygru.readers and melodygru.midifile: every fixture is built here, nothing downloaded."""

from __future__ import annotations

import io
import os
import pathlib
import struct

import mido
import pytest
from helpers import (  # raw SMF builders: running status, odd headers
    EOT,
    MB,
    big_midi,
    chunk,
    ev,
    smf,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from melodygru.core.errors import ReaderError
from melodygru.core.events import (
    DEFAULT_VELOCITY,
    KeySignature,
    Piece,
    Tempo,
    TimeSignature,
)
from melodygru.io.readers import READABLE_EXTS, read_file, read_midi_bytes, read_score


def notes_of(piece: Piece):
    return [(n.onset, n.duration, n.pitch, n.velocity, n.program, n.is_drum) for n in piece.notes]


def mido_bytes(mid: mido.MidiFile) -> bytes:
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# MIDI


def test_mido_file_exact_notes_programs_and_conductor(tmp_path):
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    meta = mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100), time=0),
        mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
        mido.MetaMessage("key_signature", key="Bb", time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(150), time=1440),
        mido.MetaMessage("key_signature", key="Gm", time=0),
        mido.MetaMessage("time_signature", numerator=6, denominator=8, time=0),
    ])
    track = mido.MidiTrack([
        mido.Message("program_change", channel=2, program=40, time=0),
        mido.Message("note_on", channel=2, note=60, velocity=64, time=0),
        mido.Message("note_off", channel=2, note=60, velocity=0, time=240),   # 0.0 - 0.5
        mido.Message("note_on", channel=2, note=64, velocity=100, time=240),
        mido.Message("note_on", channel=2, note=67, velocity=101, time=0),    # chord at 1.0
        mido.Message("note_on", channel=2, note=71, velocity=102, time=0),
        mido.Message("note_off", channel=2, note=64, velocity=0, time=960),
        mido.Message("note_off", channel=2, note=67, velocity=0, time=0),
        mido.Message("note_off", channel=2, note=71, velocity=0, time=480),   # ends 4.0
        mido.Message("program_change", channel=2, program=73, time=0),
        mido.Message("note_on", channel=2, note=72, velocity=127, time=120),  # 4.25, new program
        mido.Message("note_off", channel=2, note=72, velocity=0, time=40),
    ])
    mid.tracks += [meta, track]
    path = tmp_path / "song.mid"
    mid.save(str(path))

    (piece,) = read_file(path)
    assert piece.source == str(path)
    assert notes_of(piece) == [
        (0.0, 0.5, 60, 64, 40, False),
        (1.0, 2.0, 64, 100, 40, False),
        (1.0, 2.0, 67, 101, 40, False),
        (1.0, 3.0, 71, 102, 40, False),
        (4.25, 40 / 480, 72, 127, 73, False),
    ]
    assert [t.time for t in piece.tempos] == [0.0, 3.0]
    assert piece.tempos[0].bpm == pytest.approx(100) and piece.tempos[1].bpm == pytest.approx(150)
    assert piece.time_signatures == [TimeSignature(0.0, 3, 4), TimeSignature(3.0, 6, 8)]
    assert piece.key_signatures == [KeySignature(0.0, -2, "major"), KeySignature(3.0, -2, "minor")]
    assert piece.stats == {}


def test_running_status_and_velocity_zero_note_off():
    track = (ev(0, 0x90, 60, 80) + ev(0, 64, 81)       # running status: second note-on
             + ev(480, 60, 0) + ev(0, 64, 0)            # note-on velocity 0 = note-off
             + ev(0, 0xFF, 0x01, 3) + b"abc"             # meta between keeps running status
             + ev(240, 67, 90) + ev(240, 0x80, 67, 0) + EOT)
    piece = read_midi_bytes(smf(track), "x")
    assert notes_of(piece) == [(0.0, 1.0, 60, 80, 0, False), (0.0, 1.0, 64, 81, 0, False),
                               (1.5, 0.5, 67, 90, 0, False)]
    assert piece.stats == {}


def test_overlapping_same_pitch_pairs_first_in_first_out():
    track = ev(0, 0x90, 60, 50) + ev(480, 0x90, 60, 60) + ev(480, 0x80, 60, 0) + ev(480, 0x80, 60, 0) + EOT
    assert notes_of(read_midi_bytes(smf(track))) == [(0.0, 2.0, 60, 50, 0, False), (1.0, 2.0, 60, 60, 0, False)]


def test_unterminated_and_zero_length_notes_are_kept_and_counted():
    track = (ev(0, 0x90, 60, 70) + ev(0, 0x80, 60, 0)   # zero length
             + ev(0, 0x90, 62, 70)                      # never switched off
             + ev(960, 0xFF, 0x2F, 0))
    piece = read_midi_bytes(smf(track))
    assert notes_of(piece) == [(0.0, 0.0, 60, 70, 0, False), (0.0, 2.0, 62, 70, 0, False)]
    assert piece.stats == {"zero_length": 1, "unterminated": 1}


def test_drum_channel_notes_are_flagged_and_returned(tmp_path):
    mid = mido.MidiFile(ticks_per_beat=96)
    mid.tracks.append(mido.MidiTrack([mido.Message("note_on", channel=9, note=36, velocity=100, time=0),
                                      mido.Message("note_off", channel=9, note=36, velocity=0, time=48)]))
    path = tmp_path / "drums.MIDI"
    mid.save(str(path))
    (piece,) = read_file(path)
    assert notes_of(piece) == [(0.0, 0.5, 36, 100, 0, True)]


def test_conductor_events_last_at_a_time_wins_and_bad_ones_are_dropped():
    tempo = lambda us: (0xFF, 0x51, 3, us >> 16, (us >> 8) & 0xFF, us & 0xFF)  # noqa: E731
    meta = (ev(0, *tempo(500000)) + ev(0, *tempo(400000))          # same tick: 150 bpm wins
            + ev(0, *tempo(0))                                       # tempo 0: ignored
            + ev(0, 0xFF, 0x58, 4, 5, 3, 24, 8)                       # 5/8
            + ev(0, 0xFF, 0x58, 4, 0, 2, 24, 8)                       # 0/4: invalid
            + ev(0, 0xFF, 0x59, 2, 0xFD, 1)                           # 3 flats, minor
            + ev(480, 0xFF, 0x59, 2, 9, 0)                            # 9 sharps: invalid
            + ev(0, *tempo(400000))                                   # restated: dropped
            + ev(480, 0xFF, 0x58, 4, 7, 9, 24, 8)                     # 7/512: invalid
            + ev(0, *tempo(100))                                      # 600000 bpm: absurd
            + EOT)
    second = ev(960, *tempo(1000000)) + EOT                          # another track: 60 bpm at 2.0
    piece = read_midi_bytes(smf(meta, second))
    assert piece.tempos == [Tempo(0.0, 150.0), Tempo(2.0, 60.0)]
    assert piece.time_signatures == [TimeSignature(0.0, 5, 8)]
    assert piece.key_signatures == [KeySignature(0.0, -3, "minor")]
    assert piece.stats == {"bad_tempo": 2, "bad_time_signature": 2, "bad_key_signature": 1}


def test_one_tick_per_quarter():
    track = ev(1, 0x90, 60, 80) + ev(3, 0x80, 60, 0) + EOT
    assert notes_of(read_midi_bytes(smf(track, division=1))) == [(1.0, 3.0, 60, 80, 0, False)]


@pytest.mark.parametrize("fps_code, fps", [(24, 24.0), (25, 25.0), (29, 29.97), (30, 30.0)])
def test_smpte_division_reads_seconds_as_quarters_at_120_bpm(fps_code, fps):
    division = ((256 - fps_code) << 8) | 40  # 40 ticks per frame
    per_second = fps * 40
    tempo = ev(0, 0xFF, 0x51, 3, 0x0F, 0x42, 0x40)  # 60 bpm: does not apply to SMPTE time
    track = tempo + ev(round(per_second), 0x90, 60, 80) + ev(round(per_second / 2), 0x80, 60, 0) + EOT
    piece = read_midi_bytes(smf(track, division=division))
    ((onset, duration, *_),) = notes_of(piece)
    assert onset == pytest.approx(round(per_second) / per_second * 2)
    assert duration == pytest.approx(round(per_second / 2) / per_second * 2)
    assert piece.stats == {"smpte": 1}
    assert piece.tempos == []


def test_format_2_tracks_play_one_after_another():
    pattern = ev(0, 0x90, 60, 80) + ev(480, 0x80, 60, 0) + ev(1440, 0xFF, 0x2F, 0)  # 4 quarters long
    other = ev(0, 0xFF, 0x58, 4, 3, 2, 24, 8) + ev(0, 0x91, 67, 70) + ev(960, 0x81, 67, 0) + EOT
    piece = read_midi_bytes(smf(pattern, other, fmt=2))
    assert notes_of(piece) == [(0.0, 1.0, 60, 80, 0, False), (4.0, 2.0, 67, 70, 0, False)]
    assert piece.time_signatures == [TimeSignature(4.0, 3, 4)]
    overlaid = read_midi_bytes(smf(pattern, other, fmt=1))
    assert [n.onset for n in overlaid.notes] == [0.0, 0.0]


def test_ticks_beyond_ten_million():
    far = 20_000_000
    track = ev(far, 0x90, 60, 80) + ev(far, 0x80, 60, 0) + EOT
    assert notes_of(read_midi_bytes(smf(track, division=480))) == [(far / 480, far / 480, 60, 80, 0, False)]


def test_header_track_count_mismatch_unknown_chunks_and_system_bytes():
    track = (ev(0, 0xF0, 3, 1, 2, 0xF7)                     # sysex
             + ev(0, 0xF8) + ev(0, 0xF2, 1, 2)               # realtime clock, song position
             + ev(0, 0xC0, 5) + ev(0, 0xD0, 9) + ev(0, 0xE0, 0, 64)
             + ev(0, 0x90, 60, 80) + ev(480, 0x80, 60, 0) + EOT)
    data = smf(track, ntracks=5)
    data = data[:14] + chunk(b"XFIH", b"\x01\x02\x03") + data[14:]
    piece = read_midi_bytes(data)
    assert notes_of(piece) == [(0.0, 1.0, 60, 80, 5, False)]


def test_riff_wrapped_midi():
    inner = smf(ev(0, 0x90, 60, 80) + ev(480, 0x80, 60, 0) + EOT)
    data = b"RIFF" + struct.pack("<I", len(inner) + 12) + b"RMIDdata" + struct.pack("<I", len(inner)) + inner
    assert len(read_midi_bytes(data).notes) == 1


def test_truncated_track_is_read_partially_or_refused():
    track = b"".join(ev(0, 0x90, 60 + k, 80) + ev(240, 0x90, 60 + k, 0) for k in range(20)) + EOT
    data = smf(track)
    for cut in range(len(data) - 1, 13, -7):
        try:
            piece = read_midi_bytes(data[:cut])
        except ReaderError as e:
            assert "truncated" in str(e)
        else:
            assert piece.stats.get("truncated") == 1
            assert piece.notes and all(n.end <= 10 for n in piece.notes)
    with pytest.raises(ReaderError, match="truncated MIDI header"):
        read_midi_bytes(data[:10])


@pytest.mark.parametrize("name, content, reason", [
    ("empty.mid", b"", "empty file"),
    ("text.mid", b"this is not a MIDI file, just text that someone renamed\n", "no MThd header"),
    ("random.mid", bytes(range(256)) * 3, "no MThd header"),
    ("zero.mid", b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x00\x00", "0 ticks per quarter"),
    ("notracks.mid", b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0", "no MIDI tracks"),
])
def test_unreadable_midi_files_raise_reader_error(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ReaderError, match=reason):
        read_file(path)


def test_file_size_limit_and_bad_paths(tmp_path):
    big = tmp_path / "big.mid"
    big.write_bytes(smf(b"".join(ev(10, 0x90, 60, 80) + ev(10, 0x80, 60, 0) for _ in range(300)) + EOT))
    with pytest.raises(ReaderError, match=r"over the --max-file-mb limit of 0\.001"):
        read_file(big, max_file_mb=0.001)
    assert len(read_file(big)[0].notes) == 300
    with pytest.raises(ReaderError, match="file not found"):
        read_file(tmp_path / "missing.mid")
    (tmp_path / "folder.mid").mkdir()
    with pytest.raises(ReaderError, match="not a file"):
        read_file(tmp_path / "folder.mid")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ReaderError, match="unsupported"):
        read_file(tmp_path / "notes.txt")
    assert {".mid", ".midi", ".kar", ".mxl", ".xml", ".musicxml", ".krn", ".abc"} == set(READABLE_EXTS)


def test_a_real_50_mb_file_is_refused_by_default_and_read_under_a_higher_limit(tmp_path):
    big = big_midi(tmp_path / "big.mid", 50)  # a valid MIDI file padded by an unknown chunk (sparse)
    assert big.stat().st_size == 50 * MB
    with pytest.raises(ReaderError) as err:
        read_file(big)  # the documented default: --max-file-mb 20
    assert str(err.value) == "file is 50.0 MB, over the --max-file-mb limit of 20"
    (piece,) = read_file(big, max_file_mb=60)
    assert notes_of(piece) == [(0.0, 1.0, 60, 80, 0, False)]


def test_header_only_no_tracks_and_no_notes():
    header_only = smf()  # MThd saying one track, and nothing after it
    assert len(header_only) == 14
    for data in (header_only, smf(ntracks=0)):
        with pytest.raises(ReaderError, match=r"^no MIDI tracks \(MTrk chunks\) in file$"):
            read_midi_bytes(data)
    eot_only = read_midi_bytes(smf(ev(0, 0xFF, 0x51, 3, 7, 0xA1, 0x20) + EOT, EOT))
    assert eot_only.notes == [] and eot_only.tempos == [Tempo(0.0, 120.0)] and eot_only.stats == {}


def test_tempo_zero_and_absurd_tempi_keep_the_notes():
    tempo = lambda us: (0xFF, 0x51, 3, us >> 16, (us >> 8) & 0xFF, us & 0xFF)  # noqa: E731
    track = ev(0, *tempo(0)) + ev(0, *tempo(1)) + ev(0, 0x90, 60, 80) + ev(480, 0x80, 60, 0) + EOT
    piece = read_midi_bytes(smf(track))
    assert notes_of(piece) == [(0.0, 1.0, 60, 80, 0, False)]
    assert piece.tempos == [] and piece.stats == {"bad_tempo": 2}


def test_unreadable_files_are_one_line_reader_errors(tmp_path, monkeypatch):
    midi = tmp_path / "locked.mid"
    midi.write_bytes(smf(ev(0, 0x90, 60, 80) + ev(480, 0x80, 60, 0) + EOT))
    abc = tmp_path / "locked.abc"
    abc.write_text(ABC)
    for p in (midi, abc):
        p.chmod(0o000)  # enough for a normal user; root reads it anyway, so the read is refused below
    real = pathlib.Path.read_bytes

    def refuse(self):
        if self.name.startswith("locked"):
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", refuse)
    for p in (midi, abc):
        with pytest.raises(ReaderError) as err:
            read_file(p)
        assert str(err.value) == "cannot read file: Permission denied"


def test_symlink_loops_dangling_links_and_non_utf8_names(tmp_path):
    loop = tmp_path / "loop.mid"
    loop.symlink_to(loop)
    with pytest.raises(ReaderError, match="^cannot read file: Too many levels of symbolic links$"):
        read_file(loop)
    dangling = tmp_path / "dangling.mid"
    dangling.symlink_to(tmp_path / "nowhere.mid")
    with pytest.raises(ReaderError, match="^file not found$"):
        read_file(dangling)
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.mid")  # Latin-1 bytes: not valid UTF-8
    fd = os.open(raw, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, smf(ev(0, 0x90, 60, 80) + ev(480, 0x80, 60, 0) + EOT))
    os.close(fd)
    (path,) = [p for p in tmp_path.iterdir() if p.name.startswith("caf")]
    assert path.name == "caf\udce9.mid"  # how Python spells the undecodable byte
    (piece,) = read_file(path)
    assert piece.source == str(path) and notes_of(piece) == [(0.0, 1.0, 60, 80, 0, False)]


_VALID = smf(
    ev(0, 0xFF, 0x51, 3, 7, 0xA1, 0x20) + ev(0, 0xFF, 0x58, 4, 3, 2, 24, 8) + ev(0, 0xFF, 0x59, 2, 1, 0) + EOT,
    ev(0, 0xC1, 30) + ev(0, 0x91, 60, 80) + ev(0, 64, 70) + ev(240, 60, 0) + ev(0, 0xF0, 2, 1, 0xF7)
    + ev(100, 0x81, 64, 0) + ev(0, 0x99, 36, 100) + ev(0x4000, 0x89, 36, 0) + ev(0, 0xB1, 7, 100) + EOT,
)


def _only_reader_error(data: bytes) -> None:
    try:
        piece = read_midi_bytes(data, "fuzz")
    except ReaderError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert isinstance(piece, Piece)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.booleans())
def test_random_bytes_raise_only_reader_error(data, with_header):
    _only_reader_error((_VALID[:22] if with_header else b"") + data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["set", "insert", "delete"]),
                          st.integers(0, len(_VALID) - 1), st.integers(0, 255)), min_size=1, max_size=6),
       st.integers(0, len(_VALID)))
def test_mutated_midi_raises_only_reader_error(edits, cut):
    data = bytearray(_VALID)
    for op, pos, byte in edits:
        pos = min(pos, len(data) - 1)
        if op == "set" and data:
            data[pos] = byte
        elif op == "insert":
            data.insert(pos, byte)
        elif data:
            del data[pos]
    _only_reader_error(bytes(data[:max(cut, 1)]))


# ---------------------------------------------------------------------------------------------
# scores via music21


def test_musicxml_from_the_corpus():
    from music21 import corpus

    path = corpus.getWork("bach/bwv66.6")
    (piece,) = read_file(path)
    assert piece.source == str(path)
    assert len(piece.notes) == 163  # 165 written, 2 pairs tied
    assert piece.time_signatures == [TimeSignature(0.0, 4, 4)]
    assert piece.key_signatures == [KeySignature(0.0, 3, "minor")]
    assert piece.tempos == [Tempo(0.0, 96.0)]
    # the pickup (one quarter) starts at time 0, the first full bar at 1.0, as in music21's MIDI export
    assert piece.notes[0].onset == 0.0 and {n.onset for n in piece.notes} >= {0.0, 0.5, 1.0, 2.0}
    assert all(n.velocity == DEFAULT_VELOCITY and n.program == 0 and not n.is_drum for n in piece.notes)


def test_small_musicxml_ties_chords_grace_notes_program(tmp_path):
    from music21 import chord, instrument, key, meter, note, stream, tempo, tie

    part = stream.Part()
    part.insert(0, instrument.Violin())
    m1 = stream.Measure(number=1)
    m1.append([meter.TimeSignature("3/4"), key.Key("d"), tempo.MetronomeMark(number=72)])
    m1.append(chord.Chord(["E4", "G4"], quarterLength=1))
    m1.append(note.Note("D4", quarterLength=1).getGrace())
    tied = note.Note("C4", quarterLength=2)
    tied.tie = tie.Tie("start")
    m1.append(tied)
    m2 = stream.Measure(number=2)
    tied = note.Note("C4", quarterLength=1)
    tied.tie = tie.Tie("stop")
    m2.append(tied)
    m2.append(note.Rest(quarterLength=1))
    m2.append(note.Note("A4", quarterLength=1))
    part.append([m1, m2])
    score = stream.Score([part])
    path = tmp_path / "small.musicxml"
    score.write("musicxml", fp=str(path))

    (piece,) = read_file(path)
    assert [(n.onset, n.duration, n.pitch, n.program) for n in piece.notes] == [
        (0.0, 1.0, 64, 40), (0.0, 1.0, 67, 40), (1.0, 3.0, 60, 40), (5.0, 1.0, 69, 40)]
    assert piece.stats == {"grace_notes": 1}
    assert piece.time_signatures == [TimeSignature(0.0, 3, 4)]
    assert piece.key_signatures == [KeySignature(0.0, -1, "minor")]
    assert piece.tempos == [Tempo(0.0, 72.0)]


ABC = """%abc-2.1
X:1
T:First
M:4/4
L:1/8
K:G
GABc dedB|dedB dedB|c2ec B2dB|c2A2 A2BA|

X:2
T:Second
M:3/4
L:1/4
K:D
D E F|G A B|A3|

X:7
T:Third
M:6/8
L:1/8
K:C
CEG cGE|CEG c3|
"""

BROKEN_TUNE = "X:5\nT:Broken\nM:4/4\nL:1/8\nK:C\nC D E F|[[[[ (((\n\n"


def test_multi_tune_abc_gives_one_piece_per_tune_numbered_by_position(tmp_path):
    path = tmp_path / "tunes.ABC"
    path.write_text(ABC)
    pieces = read_file(path)
    assert [p.source for p in pieces] == [f"{path}#1", f"{path}#2", f"{path}#3"]
    assert [len(p.notes) for p in pieces] == [27, 7, 10]
    assert [p.time_signatures[0] for p in pieces] == [TimeSignature(0.0, 4, 4), TimeSignature(0.0, 3, 4),
                                                       TimeSignature(0.0, 6, 8)]
    assert [(n.onset, n.duration, n.pitch) for n in pieces[0].notes[:3]] == [(0.0, 0.5, 67), (0.5, 0.5, 69),
                                                                             (1.0, 0.5, 71)]
    assert pieces[1].key_signatures == [KeySignature(0.0, 2, "major")]


def test_abc_single_tune_latin1_and_one_broken_tune(tmp_path):
    single = tmp_path / "one.abc"
    single.write_bytes(ABC.split("\n\n")[0].replace("T:First", "T:Caf\xe9").encode("latin-1") + b"\n")
    (piece,) = read_file(single)
    assert piece.source == str(single) and len(piece.notes) == 27

    mixed = tmp_path / "mixed.abc"
    parts = ABC.split("\n\n")
    mixed.write_text(parts[0] + "\n\n" + BROKEN_TUNE + parts[2])
    pieces = read_file(mixed)
    assert [p.source for p in pieces] == [f"{mixed}#1", f"{mixed}#3"]
    assert pieces[0].stats.get("bad_tunes") == 1


def test_kern_from_the_corpus():
    from music21 import corpus

    path = next(p for p in corpus.getComposer("bach") if p.suffix == ".krn")
    (piece,) = read_file(path)
    assert len(piece.notes) > 100 and piece.time_signatures
    assert {n.program for n in piece.notes} == {0}


@pytest.mark.parametrize("name, content", [
    ("broken.musicxml", None),
    ("junk.xml", "hello, not xml"),
    ("page.xml", "<html><body>hi</body></html>"),
    ("broken.abc", "X:1\nT:x\nM:4/4\nK:C\nC D E F|[[[[ ((( %%% Z$#@\n"),
    ("nolength.abc", "some text that is not ABC at all\n"),
    ("broken.krn", "hello world\n"),
    ("broken.mxl", "PK\x03\x04garbage"),
])
def test_broken_scores_raise_one_line_reader_error(tmp_path, name, content):
    if content is None:
        from music21 import corpus

        whole = corpus.parse("bach/bwv66.6").write("musicxml", fp=str(tmp_path / "whole.musicxml"))
        content = whole.read_text()[:5000]
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ReaderError) as err:
        read_file(path)
    assert str(err.value).startswith("music21 could not parse: ") and "\n" not in str(err.value)
    with pytest.raises(ReaderError):
        read_score(path)


def _grid(piece: Piece, grid: int = 10080):
    """(onset, pitch, duration) on music21's export grid, so tick rounding does not count."""
    return sorted((round(n.onset * grid), n.pitch, round(n.duration * grid), n.velocity, n.program)
                  for n in piece.notes if n.duration > 0)


@pytest.mark.parametrize("work", ["bach/bwv66.6", "bach/bwv269", "bach/bwv40.8", "bach/bwv11.6"])
def test_score_reads_like_music21s_own_midi_export(tmp_path, work):
    """bwv66.6 and bwv269 open with a pickup; bwv40.8 does not; bwv11.6 has repeats to expand."""
    from music21 import corpus

    path = corpus.getWork(work)
    (from_score,) = read_score(path)
    exported = tmp_path / "export.mid"
    corpus.parse(work).write("midi", fp=str(exported))
    (from_midi,) = read_file(exported)
    assert _grid(from_score) == _grid(from_midi)
    assert from_score.time_signatures == from_midi.time_signatures
    # music21's export writes 120 bpm where the score has no tempo; an empty tempo map means the same
    assert [(t.time, round(t.bpm, 3)) for t in from_score.tempos or [Tempo(0.0, 120.0)]] == [
        (t.time, round(t.bpm, 3)) for t in from_midi.tempos]


# ---------------------------------------------------------------------------------------------
# program changes belong to the channel, whichever track holds them


def _note_track(channel: int, pitch: int, onsets_q, tpq: int = 480) -> mido.MidiTrack:
    """Quarter notes of one pitch on one channel at `onsets_q`, and no program change."""
    track, now = mido.MidiTrack(), 0
    for on in onsets_q:
        track.append(mido.Message("note_on", channel=channel, note=pitch, velocity=80, time=on * tpq - now))
        track.append(mido.Message("note_off", channel=channel, note=pitch, velocity=0, time=tpq))
        now = on * tpq + tpq
    return track


def test_program_changes_in_a_setup_track_apply_to_their_channels_in_other_tracks(tmp_path):
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    setup = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=0)])
    setup += [mido.Message("program_change", channel=ch, program=prog, time=0)
              for ch, prog in [(0, 40), (1, 41), (2, 42), (3, 24)]]
    mid.tracks.append(setup)
    mid.tracks += [_note_track(ch, 60 + ch, [0, 2]) for ch in range(4)]
    mid.tracks.append(_note_track(5, 70, [1]))  # a channel no program change names: program 0
    path = tmp_path / "setup_track.mid"
    mid.save(str(path))
    (piece,) = read_file(path)
    assert sorted((n.onset, n.pitch, n.program) for n in piece.notes) == [
        (0.0, 60, 40), (0.0, 61, 41), (0.0, 62, 42), (0.0, 63, 24), (1.0, 70, 0),
        (2.0, 60, 40), (2.0, 61, 41), (2.0, 62, 42), (2.0, 63, 24),
    ]


def test_a_later_program_change_in_another_track_affects_only_later_notes(tmp_path):
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([
        mido.Message("program_change", channel=0, program=19, time=0),
        mido.Message("program_change", channel=0, program=73, time=3 * 480),  # at quarter 3
    ]))
    mid.tracks.append(_note_track(0, 62, [0, 1, 3, 4]))  # the note at 3 starts with the change
    mid.tracks.append(mido.MidiTrack([mido.Message("program_change", channel=1, program=5, time=5 * 480)]))
    mid.tracks.append(_note_track(1, 50, [2, 6]))
    path = tmp_path / "later_change.mid"
    mid.save(str(path))
    (piece,) = read_file(path)
    assert sorted((n.onset, n.pitch, n.program) for n in piece.notes) == [
        (0.0, 62, 19), (1.0, 62, 19), (2.0, 50, 0), (3.0, 62, 73), (4.0, 62, 73), (6.0, 50, 5),
    ]
