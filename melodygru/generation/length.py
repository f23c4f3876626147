"""Where a sample stops: at the model's own end of piece (EOS), at the token budget (`length`), or at
the first bar line at or after a length in bars or seconds (`--bars`, `--seconds`), whichever
comes first.

The decoder draws up to the token budget; a length in bars or seconds then cuts the drawn tokens
just before the BAR token that opens the first bar past it, and the notes still sounding there end
at that bar line. What is drawn does not change: a sample of 16 bars is the opening of the one
the same seed draws with the same budget and no length in bars, so the same seed gives the same
file. While drawing, the decoder asks every `CHECK_EVERY` tokens which rows have reached their
bar line (`Stop.cut`) and stops once all have: the tokens after it are never drawn.

Bars and seconds count the whole piece, a primer's opening included; a primer already that long
is written alone, up to the bar line where it ends.
"""


from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..core.errors import MelodyGRUError
from ..core.events import Note, Piece
from ..io.writers import seconds as seconds_of
from ..tokens.timing import bar_starts
from ..tokens.tokenizer import Tokenizer

DEFAULT_LENGTH = 512  # new tokens per sample when no length is asked for at all
# the token budget for a length in bars or seconds alone: 2.5-3x what the shipped chorales draw
# (~35-40 tokens a bar, ~17 a second; folk tunes fewer), so a sample rarely runs out before its
# bar line, while a candidate that never gets there (a bar crammed with notes) stops soon enough
# not to hold up the others; an explicit --length replaces it
TOKENS_PER_BAR = 96
TOKENS_PER_SECOND = 48
MIN_BUDGET = 256  # however short the length: one bar of dense piano music can take over 128 tokens
MAX_BUDGET = 1_000_000  # the most --length takes
MAX_SECONDS = 24 * 3600.0
CHECK_EVERY = 64  # tokens drawn between two checks of which samples have reached their bar line
EPS = 1e-9


@dataclass(frozen=True)
class Stop:
    """A length in whole bars and/or seconds, the piece's first bar line at or after which a sample
    stops (with both, whichever comes first). Neither: no such stop (false)."""

    bars: int | None = None
    seconds: float | None = None

    def __post_init__(self):
        if self.bars is not None and (isinstance(self.bars, bool) or not isinstance(self.bars, (int, np.integer))
                                      or self.bars < 1):
            raise MelodyGRUError(f"bars must be a whole number >= 1, got {self.bars!r}")
        if self.seconds is not None and (isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float))
                                         or not 0 < self.seconds <= MAX_SECONDS):
            raise MelodyGRUError(f"seconds must be a number in (0, {MAX_SECONDS:g}], got {self.seconds!r}")

    def __bool__(self) -> bool:
        return self.bars is not None or self.seconds is not None

    def budget(self) -> int:
        """New tokens to draw at most when no --length is given (see TOKENS_PER_BAR): enough for
        the length reached first."""
        caps = [self.bars * TOKENS_PER_BAR] if self.bars is not None else []
        caps += [math.ceil(self.seconds * TOKENS_PER_SECOND)] if self.seconds is not None else []
        return int(min(max(min(caps), MIN_BUDGET), MAX_BUDGET)) if caps else DEFAULT_LENGTH

    def describe(self) -> str:
        """e.g. '16 bars', '30 s', '16 bars or 30 s'."""
        parts = [f"{self.bars} bar{'s' if self.bars != 1 else ''}"] if self.bars is not None else []
        parts += [f"{self.seconds:g} s"] if self.seconds is not None else []
        return " or ".join(parts)

    def cut(self, ids: np.ndarray, n_prefix: int, tokenizer: Tokenizer,
            piece: Callable[[], Piece]) -> tuple[int, float] | None:
        """Where `ids` (BOS, the `n_prefix` tokens of the prefix, then what was drawn) stops: (index
        of the BAR token to cut before, its bar line in quarter notes), or None when the tokens do
        not reach the length yet. Only a bar line the new music drew counts (never one inside the
        primer). `piece()` is the music as it is written (tempo map and all), asked for only to
        count seconds."""
        ids = np.asarray(ids)
        at = np.flatnonzero(ids == tokenizer.index["BAR"])
        starts = bar_starts(ids, tokenizer)
        written = None
        for k in np.flatnonzero(at >= n_prefix):  # k bars lie before the k-th BAR (from 0)
            if self.bars is not None and k >= self.bars:
                return int(at[k]), float(starts[k])
            if self.seconds is not None:
                written = piece() if written is None else written
                if seconds_of(written, sounding_until(written, starts[k])) >= self.seconds - EPS:
                    return int(at[k]), float(starts[k])
        return None


def sounding_until(piece: Piece, line: float) -> float:
    """When the music before bar line `line` (in quarters) stops sounding, its notes cut there."""
    return max((min(n.end, line) for n in piece.notes if n.onset < line - EPS), default=0.0)


def clip(piece: Piece, line: float) -> Piece:
    """`piece` up to bar line `line` (quarters): later notes, tempo, meter and key changes left out,
    notes still sounding there ended at it."""
    notes = [n if n.end <= line + EPS else Note(n.onset, line - n.onset, n.pitch, n.velocity, n.program, n.is_drum)
             for n in piece.notes if n.onset < line - EPS]
    return piece.replace(notes=notes, tempos=[t for t in piece.tempos if t.time < line - EPS],
                         time_signatures=[t for t in piece.time_signatures if t.time < line - EPS],
                         key_signatures=[k for k in piece.key_signatures if k.time < line - EPS])


def cut_at_end(tokenizer: Tokenizer, prefix, row) -> tuple[np.ndarray, bool]:
    """(prefix + the row's tokens up to and including its EOS, whether it ended). A row the decoder
    ended early (`Stop.cut` found its bar line) is PAD from there: that is cut too."""
    ends = np.flatnonzero(row == tokenizer.eos)
    row = row[: ends[0] + 1] if ends.size else row
    pads = np.flatnonzero(row == tokenizer.pad)
    row = row[: pads[0]] if pads.size else row
    return np.concatenate([prefix, row]).astype(np.int32), bool(ends.size)
