"""Rendering a piece for people: WAV audio (FluidSynth with a General MIDI soundfont when
pyfluidsynth is installed, pretty_midi's sine synthesis otherwise), a piano-roll PNG, and a
MusicXML score of a written MIDI file (music21).
"""


from __future__ import annotations

import io
import tempfile
from pathlib import Path

from ..core.atomic import atomic_write_bytes
from ..core.events import Piece
from .writers import bar_lines, midi_bytes

FLUIDSYNTH = "fluidsynth"
SINE = "pretty_midi sine synthesis"


def audio_backend() -> tuple[str, str]:
    """(the renderer `write_wav` will use, why): FluidSynth when pyfluidsynth imports (its C library
    found) and pretty_midi's soundfont is there, else the sine synthesis. Nothing is rendered."""
    try:
        import fluidsynth  # noqa: F401  (pyfluidsynth; loading it loads the FluidSynth library)
    except ImportError:
        return SINE, "pyfluidsynth is not installed (pip install pyfluidsynth, with the FluidSynth library)"
    except OSError as e:  # the module is there, its C library is not
        return SINE, f"the FluidSynth library did not load ({e})"
    try:
        from importlib.resources import files

        soundfont = files("pretty_midi") / "TimGM6mb.sf2"
    except (ImportError, ModuleNotFoundError, TypeError) as e:
        return SINE, f"pretty_midi's soundfont was not found ({e})"
    if not soundfont.is_file():
        return SINE, f"pretty_midi's soundfont {soundfont} is missing"
    return FLUIDSYNTH, f"General MIDI soundfont {soundfont}"


def write_wav(piece: Piece, path, sample_rate: int = 22050) -> tuple[Path, str]:
    """Render audio: FluidSynth with pretty_midi's General MIDI soundfont when available, else
    pretty_midi's own sine synthesis. Returns (path, renderer used)."""
    import wave

    import numpy as np
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes(piece)))
    try:
        audio = pm.fluidsynth(fs=sample_rate)
        renderer = FLUIDSYNTH
    except Exception:  # pyfluidsynth or the FluidSynth library missing (`audio_backend` says which)
        audio = pm.synthesize(fs=sample_rate)
        renderer = SINE
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


def write_musicxml(midi_path, path) -> Path:
    """A MusicXML score of a written MIDI file, one part per track, as music21 reads the file
    (its quantization, meter and key signature); written atomically."""
    import music21

    path = Path(path)
    score = music21.converter.parse(str(midi_path), quantizePost=True)
    with tempfile.TemporaryDirectory() as tmp:
        written = Path(score.write("musicxml", fp=str(Path(tmp) / "score.musicxml")))
        atomic_write_bytes(path, written.read_bytes())
    return path
