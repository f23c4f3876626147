"""Builders for real music files used across the tests (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import mido


def write_midi(path: Path, notes, tpq: int = 480, channel: int = 0, program: int = 0, tempo_bpm: float = 120,
               meter=(4, 4)) -> Path:
    """A type-1 MIDI file with `notes` as (onset_q, duration_q, pitch, velocity) on one channel."""
    mid = mido.MidiFile(type=1, ticks_per_beat=tpq)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0))
    meta.append(mido.MetaMessage("time_signature", numerator=meter[0], denominator=meter[1], time=0))
    mid.tracks.append(meta)
    track = mido.MidiTrack()
    if channel != 9:
        track.append(mido.Message("program_change", channel=channel, program=program, time=0))
    events = []
    for on, dur, pitch, vel in notes:
        events.append((round(on * tpq), 1, pitch, vel))
        events.append((round((on + dur) * tpq), 0, pitch, 0))
    events.sort()
    now = 0
    for tick, is_on, pitch, vel in events:
        msg = "note_on" if is_on else "note_off"
        track.append(mido.Message(msg, channel=channel, note=pitch, velocity=vel, time=tick - now))
        now = tick
    mid.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    mid.save(str(path))
    return path


def scale_notes(start_pitch: int = 60, count: int = 16, step: float = 0.5):
    """An ascending major scale in eighth notes (a small learnable melody)."""
    major = [0, 2, 4, 5, 7, 9, 11]
    return [(i * step, step, start_pitch + 12 * (i // 7) + major[i % 7], 80) for i in range(count)]


ABC_THREE_TUNES = """X:1
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

X:3
T:Third
M:6/8
L:1/8
K:C
CEG cGE|CEG c3|
"""


def messy_folder(root: Path) -> Path:
    """A folder a user might really have: good files, nested and upper-case names, and junk."""
    write_midi(root / "good.mid", scale_notes())
    write_midi(root / "sub" / "deeper" / "CAPS.MID", scale_notes(48, 24))
    write_midi(root / "drums.mid", [(i * 0.5, 0.25, 36 + (i % 3), 100) for i in range(16)], channel=9)
    (root / "empty.mid").write_bytes(b"")
    (root / "text.mid").write_text("this is not a MIDI file, just text that someone renamed\n")
    (root / "random.mid").write_bytes(bytes(range(256)) * 3)
    (root / "tunes.abc").write_text(ABC_THREE_TUNES)
    (root / "notes.txt").write_text("ignored\n")
    (root / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    return root
