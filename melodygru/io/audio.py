"""Audio of a piece: FluidSynth with pretty_midi's General MIDI SoundFont (TimGM6mb.sf2: every
program's instrument and the drum kit) when pyfluidsynth and the FluidSynth library load, else
melodygru's own fallback synthesis (a decaying plucked tone for pitched notes, noise bursts for
drums). Written as WAV (the standard library) or FLAC / Ogg Vorbis (soundfile, whose wheels bundle
libsndfile).

The fallback is never silent about itself: the renderer's name says which one played and, for the
fallback, why FluidSynth did not (`audio_backend`).
"""


from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_write_bytes
from ..core.errors import MelodyGRUError
from ..core.events import Piece
from .writers import midi_bytes

FLUIDSYNTH = "FluidSynth"
FALLBACK = "plucked-tone fallback"
FORMATS = ("wav", "flac", "ogg")
SAMPLE_RATE = 22050  # half of CD rate: a General MIDI SoundFont of this size has little above 11 kHz
REQUIRE_ENV = "MELODYGRU_REQUIRE_SOUNDFONT"  # set to 1: a missing SoundFont synthesizer is an error
PEAK = 0.9  # the loudest sample, as a share of full scale
TAIL_SECONDS = 1.0  # silence after the last note end: room for the release


@dataclass
class Audio:
    """A rendered piece: mono float samples in -1..1, their rate, and who rendered them and why."""

    samples: np.ndarray
    sample_rate: int
    renderer: str  # FLUIDSYNTH or FALLBACK
    detail: str  # the SoundFont used, or why the fallback played

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate

    def describe(self) -> str:
        """'FluidSynth (TimGM6mb.sf2)' or 'plucked-tone fallback: <why>'."""
        if self.renderer == FLUIDSYNTH:
            return f"{FLUIDSYNTH} ({Path(self.detail).name})"
        return f"{FALLBACK}: {self.detail}"


def soundfont_path() -> Path | None:
    """pretty_midi's bundled General MIDI SoundFont, or None when it is missing."""
    try:
        from importlib.resources import files

        path = Path(str(files("pretty_midi") / "TimGM6mb.sf2"))
    except (ImportError, ModuleNotFoundError, TypeError):
        return None
    return path if path.is_file() else None


def quiet_import(name: str):
    """Import a module with its import-time prints kept off stdout: pyfluidsynth 1.4 (which
    pretty_midi imports) prints where it found its library when the CI variable is set, and a
    command's stdout may carry its --json."""
    import importlib

    with contextlib.redirect_stdout(io.StringIO()):
        return importlib.import_module(name)


def pretty_midi_module():
    """pretty_midi, imported by `quiet_import`."""
    return quiet_import("pretty_midi")


def audio_backend() -> tuple[str, str]:
    """(the renderer `render` will use, the SoundFont or why not): FluidSynth when pyfluidsynth
    imports (which loads the FluidSynth C library) and pretty_midi's SoundFont is there, else the
    fallback. Nothing is rendered."""
    try:
        fluidsynth = quiet_import("fluidsynth")  # pyfluidsynth; importing it loads libfluidsynth
    except ModuleNotFoundError as e:
        if e.name == "fluidsynth":
            return FALLBACK, ("pyfluidsynth is not installed (pip install -e \".[audio]\" and "
                              "apt-get install libfluidsynth3)")
        return FALLBACK, f"pyfluidsynth did not import ({e})"
    except ImportError as e:  # pyfluidsynth is there and did not find the C library
        return FALLBACK, f"the FluidSynth library was not found ({e}); apt-get install libfluidsynth3"
    except OSError as e:  # the module is there, its C library is not
        return FALLBACK, f"the FluidSynth library did not load ({e}); apt-get install libfluidsynth3"
    if not hasattr(fluidsynth, "Synth"):  # another module named fluidsynth (the PyPI 'fluidsynth' package)
        return FALLBACK, f"the fluidsynth module at {getattr(fluidsynth, '__file__', '?')} is not pyfluidsynth"
    sf2 = soundfont_path()
    if sf2 is None:
        return FALLBACK, "pretty_midi's SoundFont TimGM6mb.sf2 is missing"
    return FLUIDSYNTH, str(sf2)


# --------------------------------------------------------------------------- the fallback
def _pluck(freq: float, seconds: float, sample_rate: int, velocity: int) -> np.ndarray:
    """A plucked-string / piano-like tone: a few harmonics, each decaying exponentially (the upper
    ones faster, higher notes faster), a 5 ms attack and a 40 ms release after the key is let go."""
    held = max(seconds, 0.05)
    n = int((held + 0.04) * sample_rate)
    t = np.arange(n) / sample_rate
    decay = 0.25 + 1.2 * (110.0 / max(freq, 30.0)) ** 0.5  # seconds to fall by 1/e: ~1.4 s at A2, ~0.5 s at A5
    tone = np.zeros(n)
    for k, weight in enumerate((1.0, 0.5, 0.3, 0.18, 0.1), start=1):
        if freq * k < sample_rate / 2:
            tone += weight * np.sin(2 * np.pi * freq * k * t) * np.exp(-t * k / decay)
    envelope = np.minimum(1.0, t / 0.005)
    release = t > held
    envelope[release] *= np.exp(-(t[release] - held) / 0.01)
    return tone * envelope * (velocity / 127.0)


def _drum(pitch: int, sample_rate: int, velocity: int, rng: np.random.Generator) -> np.ndarray:
    """A noise burst: low and long for kicks and toms, bright and short for cymbals and hi-hats."""
    n = int(0.35 * sample_rate)
    t = np.arange(n) / sample_rate
    noise = rng.standard_normal(n)
    if pitch in (35, 36, 41, 43, 45, 47, 48, 50):  # kicks and toms: a falling thump under dull noise
        low = np.convolve(noise, np.ones(24) / 24, mode="same")
        thump = np.sin(2 * np.pi * (60 + 2 * (pitch - 35)) * t * (1 + np.exp(-t * 30)))
        hit = (0.9 * thump + 2.0 * low) * np.exp(-t / 0.09)
    elif pitch in (42, 44, 46, 49, 51, 52, 53, 55, 57, 59):  # cymbals: high-passed noise
        hit = np.diff(noise, prepend=0.0) * 0.5 * np.exp(-t / (0.25 if pitch in (46, 49, 52, 55, 57) else 0.04))
    else:  # snares, claps and the rest: plain noise, short
        hit = noise * 0.6 * np.exp(-t / 0.07)
    return hit * (velocity / 127.0)


def fallback_render(piece: Piece, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The fallback synthesis of a piece, mono, before normalizing: times in seconds as its MIDI
    file plays them (pretty_midi reads the tempo map)."""
    pretty_midi = pretty_midi_module()
    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes(piece)))
    end = pm.get_end_time() + TAIL_SECONDS
    out = np.zeros(int(np.ceil(end * sample_rate)) + 1)
    rng = np.random.default_rng(0)  # the same piece gives the same file
    for inst in pm.instruments:
        for n in inst.notes:
            wave = (_drum(n.pitch, sample_rate, n.velocity, rng) if inst.is_drum else
                    _pluck(pretty_midi.note_number_to_hz(n.pitch), min(n.end - n.start, 6.0), sample_rate, n.velocity))
            a = int(round(n.start * sample_rate))
            b = min(len(out), a + len(wave))
            out[a:b] += wave[: b - a]
    return out


# --------------------------------------------------------------------------- rendering and files
def render(piece: Piece, sample_rate: int = SAMPLE_RATE) -> Audio:
    """Render a piece: FluidSynth when `audio_backend` finds it, else the fallback; a FluidSynth
    that fails while rendering falls back too, with its error named.

    Raises:
        MelodyGRUError: `MELODYGRU_REQUIRE_SOUNDFONT=1` is set and FluidSynth did not render.
    """
    pretty_midi = pretty_midi_module()
    renderer, detail = audio_backend()
    samples = None
    if renderer == FLUIDSYNTH:
        try:
            pm = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes(piece)))
            samples = pm.fluidsynth(fs=sample_rate, sf2_path=detail) if pm.instruments else np.zeros(sample_rate)
        except Exception as e:  # a library that loads but cannot synthesize: say so, play the fallback
            renderer, detail = FALLBACK, f"FluidSynth failed while rendering ({type(e).__name__}: {e})"
    if renderer != FLUIDSYNTH:
        if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
            raise MelodyGRUError(f"{REQUIRE_ENV} is set but the SoundFont synthesizer is not there: {detail}")
        samples = fallback_render(piece, sample_rate)
    samples = np.asarray(samples, dtype=np.float64)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > 0:
        samples = samples / peak * PEAK
    return Audio(samples.astype(np.float32), sample_rate, renderer, detail)


def encode(audio: Audio, fmt: str) -> bytes:
    """The bytes of an audio file: 16-bit PCM WAV, FLAC or Ogg Vorbis (quality 0.5), mono.

    Raises:
        MelodyGRUError: an unknown format, or FLAC/Ogg without soundfile.
    """
    if fmt not in FORMATS:
        raise MelodyGRUError(f"unknown audio format {fmt!r}: one of {', '.join(FORMATS)}")
    pcm = np.clip(np.round(audio.samples * 32767), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    if fmt == "wav":
        import wave

        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(audio.sample_rate)
            w.writeframes(pcm.tobytes())
        return buf.getvalue()
    try:
        import soundfile
    except (ImportError, OSError) as e:
        raise MelodyGRUError(f"--audio-format {fmt} needs soundfile (pip install soundfile): {e}") from None
    if fmt == "flac":
        soundfile.write(buf, pcm, audio.sample_rate, format="FLAC", subtype="PCM_16")
    else:
        soundfile.write(buf, audio.samples, audio.sample_rate, format="OGG", subtype="VORBIS")
    return buf.getvalue()


def write_audio(piece: Piece, path, fmt: str | None = None, sample_rate: int = SAMPLE_RATE) -> tuple[Path, Audio]:
    """Render the piece and write it atomically as `fmt` (default: from the path's suffix).
    Returns (path, the rendered audio: who rendered it and why)."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    data = encode(audio := render(piece, sample_rate), fmt)
    atomic_write_bytes(path, data)
    return path, audio
