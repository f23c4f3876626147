"""How long a token sequence lasts, in the one unit every "per quarter note" figure uses."""

from __future__ import annotations

import math

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
