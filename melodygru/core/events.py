"""Note-event value types: the one representation every reader produces and every writer consumes.

Musical time is kept in quarter notes (floats) everywhere inside the library; seconds and ticks
appear only at the file boundary (readers and writers).
"""


from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

DEFAULT_TEMPO = 120.0
DEFAULT_VELOCITY = 90  # music21's default when a score gives no dynamics


@dataclass(frozen=True, slots=True)
class Note:
    """One sounding note.

    Attributes:
        onset: start in quarter notes from the beginning of the piece.
        duration: length in quarter notes (0 allowed for zero-length MIDI notes).
        pitch: MIDI pitch 0..127.
        velocity: MIDI velocity 1..127.
        program: General MIDI program 0..127 of the instrument playing it.
        is_drum: True for notes on the percussion channel.
    """

    onset: float
    duration: float
    pitch: int
    velocity: int = DEFAULT_VELOCITY
    program: int = 0
    is_drum: bool = False

    def __post_init__(self):
        if not (math.isfinite(self.onset) and self.onset >= 0):
            raise ValueError(f"note onset must be finite and >= 0, got {self.onset}")
        if not (math.isfinite(self.duration) and self.duration >= 0):
            raise ValueError(f"note duration must be finite and >= 0, got {self.duration}")
        if not 0 <= self.pitch <= 127:
            raise ValueError(f"pitch must be 0..127, got {self.pitch}")
        if not 1 <= self.velocity <= 127:
            raise ValueError(f"velocity must be 1..127, got {self.velocity}")
        if not 0 <= self.program <= 127:
            raise ValueError(f"program must be 0..127, got {self.program}")

    @property
    def end(self) -> float:
        return self.onset + self.duration


@dataclass(frozen=True, slots=True)
class Tempo:
    """A tempo change: `bpm` quarter notes per minute from `time` (quarter notes) on."""

    time: float
    bpm: float

    def __post_init__(self):
        if not (math.isfinite(self.bpm) and self.bpm > 0):
            raise ValueError(f"tempo must be > 0 bpm, got {self.bpm}")


@dataclass(frozen=True, slots=True)
class TimeSignature:
    """A meter change at `time` (quarter notes): `numerator`/`denominator`."""

    time: float
    numerator: int
    denominator: int

    def __post_init__(self):
        if self.numerator < 1 or self.denominator < 1:
            raise ValueError(f"bad time signature {self.numerator}/{self.denominator}")

    @property
    def bar_quarters(self) -> float:
        return self.numerator * 4.0 / self.denominator


@dataclass(frozen=True, slots=True)
class KeySignature:
    """A key at `time`: `sharps` (-7..7, negative for flats) and `mode` ('major'/'minor')."""

    time: float
    sharps: int
    mode: str = "major"


@dataclass
class Piece:
    """A whole piece as note events plus its tempo map, meters and keys.

    Attributes:
        notes: every note, drums included (the tokenizer decides what to keep).
        tempos: tempo changes sorted by time; empty means 120 bpm.
        time_signatures: meter changes sorted by time; empty means 4/4.
        key_signatures: key changes sorted by time; may be empty.
        source: where the piece came from (path, plus '#n' for the n-th tune of a multi-tune file).
        stats: counts of lossy or notable reader steps (e.g. unterminated notes), for reports.
    """

    notes: list[Note]
    tempos: list[Tempo] = field(default_factory=list)
    time_signatures: list[TimeSignature] = field(default_factory=list)
    key_signatures: list[KeySignature] = field(default_factory=list)
    source: str = ""
    stats: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        self.notes.sort(key=lambda n: (n.onset, n.pitch, n.duration))
        self.tempos.sort(key=lambda t: t.time)
        self.time_signatures.sort(key=lambda t: t.time)
        self.key_signatures.sort(key=lambda k: k.time)

    @property
    def end(self) -> float:
        """End of the last note in quarter notes (0 for an empty piece)."""
        return max((n.end for n in self.notes), default=0.0)

    def replace(self, **changes) -> "Piece":
        return dataclasses.replace(self, **changes)
