"""How long a token sequence lasts, in the one unit every "per quarter note" figure uses, and where
its bars start."""

from __future__ import annotations

import math

import numpy as np

from .tokenizer import Tokenizer


def quarters_of(ids, tokenizer: Tokenizer) -> int:
    """Length of a piece in quarter notes: ceil(end of its last note - its first onset), at least 1.

    The one definition behind every "per quarter note" figure, training's `val_nll_per_quarter` and
    `evaluate`'s nats per quarter alike. It is the number of frames a quarter-note piano roll of the
    decoded piece needs, the time step of the published JSB Chorales results, so silence before the
    first note, the empty beats of a pickup bar and the unfilled end of the last bar do not count.
    """
    piece = tokenizer.decode(ids)
    if not piece.notes:
        return 1
    first = min(n.onset for n in piece.notes)
    return max(1, math.ceil(piece.end - first - 1e-9))


def bar_starts(ids, tokenizer: Tokenizer) -> np.ndarray:
    """Where each BAR token of `ids` opens its bar, in quarter notes from the first (at 0), as
    `Tokenizer.decode` places them: a bar lasts as long as the meter its TS (or the 4/4 before
    any) says. float64 [number of BAR tokens]."""
    grammar = tokenizer.grammar
    bar, ts = tokenizer.index["BAR"], grammar.bar_steps_of
    starts, start, steps = [], None, grammar.default_bar_steps
    for tok in np.asarray(ids).reshape(-1).tolist():
        if tok == bar:
            start = 0 if start is None else start + steps
            starts.append(start)
        elif ts[tok] > 0:
            steps = int(ts[tok])
    return np.asarray(starts, np.float64) / tokenizer.config.steps_per_quarter
