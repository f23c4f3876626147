"""Note events -> files: Standard MIDI (exact ticks), WAV audio and piano-roll PNG.

MIDI is written with mido in ticks (480 per quarter, a multiple of every grid the tokenizer uses),
so onsets in quarter notes land exactly; tempo and meter go in the first track. pretty_midi is
used only to render audio.
"""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path

from .atomic import atomic_write_bytes
from .events import DEFAULT_TEMPO, Piece

TICKS_PER_QUARTER = 480
_KEYS_MAJOR = ["Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#"]
_KEYS_MINOR = ["Abm", "Ebm", "Bbm", "Fm", "Cm", "Gm", "Dm", "Am", "Em", "Bm", "F#m", "C#m", "G#m", "D#m", "A#m"]


def _tick(q: float) -> int:
    return int(round(q * TICKS_PER_QUARTER))


def midi_bytes(piece: Piece) -> bytes:
    """The piece as a type-1 Standard MIDI File."""
    import mido

    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    meta = []  # (tick, order, message)
    tempos = piece.tempos or []
    if not tempos or tempos[0].time > 0:
        meta.append((0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(DEFAULT_TEMPO))))
    for t in tempos:
        meta.append((_tick(t.time), 0, mido.MetaMessage("set_tempo", tempo=int(round(60e6 / t.bpm)))))
    for ts in piece.time_signatures:
        meta.append((_tick(ts.time), 1, mido.MetaMessage("time_signature", numerator=ts.numerator, denominator=ts.denominator)))
    for ks in piece.key_signatures:
        if -7 <= ks.sharps <= 7:
            names = _KEYS_MINOR if ks.mode == "minor" else _KEYS_MAJOR
            meta.append((_tick(ks.time), 2, mido.MetaMessage("key_signature", key=names[ks.sharps + 7])))
    mid.tracks.append(_track(meta, end=_tick(piece.end)))

    groups = defaultdict(list)
    for n in piece.notes:
        groups[(n.is_drum, n.program)].append(n)
    free_channels = [c for c in range(16) if c != 9]
    for i, ((is_drum, program), notes) in enumerate(sorted(groups.items())):
        channel = 9 if is_drum else free_channels[i % len(free_channels)]
        events = [] if is_drum else [(0, 0, mido.Message("program_change", channel=channel, program=program))]
        for n in notes:
            on, off = _tick(n.onset), max(_tick(n.end), _tick(n.onset) + 1)
            # at equal ticks: note-offs (1) before note-ons (2), so a repeated pitch re-sounds
            events.append((on, 2, mido.Message("note_on", channel=channel, note=n.pitch, velocity=n.velocity)))
            events.append((off, 1, mido.Message("note_off", channel=channel, note=n.pitch, velocity=0)))
        mid.tracks.append(_track(events, end=_tick(piece.end)))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def _track(events, end: int):
    import mido

    track = mido.MidiTrack()
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, end - now)))
    return track


def write_midi(piece: Piece, path) -> Path:
    """Write a MIDI file atomically; returns its path."""
    path = Path(path)
    atomic_write_bytes(path, midi_bytes(piece))
    return path


def seconds(piece: Piece, quarters: float | None = None) -> float:
    """Wall-clock length of `quarters` (default: the whole piece) under the piece's tempo map."""
    q_end = piece.end if quarters is None else quarters
    tempos = [(t.time, t.bpm) for t in piece.tempos] or [(0.0, DEFAULT_TEMPO)]
    if tempos[0][0] > 0:
        tempos.insert(0, (0.0, DEFAULT_TEMPO))
    total = 0.0
    for i, (t, bpm) in enumerate(tempos):
        nxt = tempos[i + 1][0] if i + 1 < len(tempos) else float("inf")
        if t >= q_end:
            break
        total += (min(nxt, q_end) - t) * 60.0 / bpm
    return total


def write_wav(piece: Piece, path, sample_rate: int = 22050) -> tuple[Path, str]:
    """Render audio: FluidSynth with pretty_midi's General MIDI soundfont when available, else
    pretty_midi's own sine synthesis. Returns (path, renderer used)."""
    import numpy as np
    import pretty_midi
    import wave

    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes(piece)))
    try:
        audio = pm.fluidsynth(fs=sample_rate)
        renderer = "fluidsynth"
    except Exception:  # pyfluidsynth or the FluidSynth library missing
        audio = pm.synthesize(fs=sample_rate)
        renderer = "pretty_midi sine synthesis"
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    pcm = (audio / peak * 0.9 * 32767).astype("<i2") if peak > 0 else np.zeros(1, "<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path, renderer


def write_piano_roll(piece: Piece, path, title: str = "") -> Path:
    """A piano-roll PNG: time in quarter notes across, pitch up, bar lines from the meters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    end = max(piece.end, 1.0)
    fig, ax = plt.subplots(figsize=(min(40, 4 + end / 8), 4), dpi=100)
    rects = [Rectangle((n.onset, n.pitch - 0.4), max(n.duration, 0.05), 0.8) for n in piece.notes]
    ax.add_collection(PatchCollection(rects, facecolor="#3b6ea5", edgecolor="#1d3a5c", linewidth=0.3))
    for x in bar_lines(piece):
        ax.axvline(x, color="#bbbbbb", linewidth=0.5, zorder=0)
    pitches = [n.pitch for n in piece.notes] or [60]
    ax.set_xlim(0, end)
    ax.set_ylim(min(pitches) - 2, max(pitches) + 2)
    ax.set_xlabel("quarter notes")
    ax.set_ylabel("MIDI pitch")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


def bar_lines(piece: Piece) -> list[float]:
    """Bar-line positions in quarter notes up to the end of the piece."""
    meters = [(ts.time, ts.bar_quarters) for ts in piece.time_signatures] or [(0.0, 4.0)]
    if meters[0][0] > 0:
        meters.insert(0, (0.0, 4.0))
    lines, t, i = [], 0.0, 0
    length = meters[0][1]
    end = piece.end
    while t <= end and len(lines) < 100000:
        while i + 1 < len(meters) and meters[i + 1][0] <= t + 1e-9:
            i += 1
            length = meters[i][1]
        lines.append(t)
        t += length
    return lines
