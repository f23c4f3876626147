"""Primers: the opening bars of a file a sample continues, with its tempo, meter and key.
"""


from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import ReaderError
from ..core.events import Piece
from ..tokens.tokenizer import Tokenizer


# --------------------------------------------------------------------------- primer
@dataclass
class Primer:
    """The opening of a file, as tokens to continue.

    Attributes:
        ids: BOS and the opening's tokens (no EOS).
        piece: the whole piece as read from the file (its tempo map and keys carry over).
        bars: bars in the opening.
        notes: notes in the opening.
        split: quarter note of the opening's last event; tempo changes and keys up to here are
            the file's own (exact, not the tokenizer's tempo bins).
        source: the path (plus '#n' for a tune of a multi-tune file).
        lossy: what tokenizing the opening changed (snapped onsets, dropped notes, ...).
    """

    ids: np.ndarray
    piece: Piece
    bars: int
    notes: int
    split: float
    source: str
    lossy: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"source": self.source, "bars": self.bars, "notes": self.notes, "tokens": len(self.ids) - 1,
                "lossy": self.lossy}


def load_primer(path, tokenizer: Tokenizer, bars: int = 4) -> Primer:
    """Read a MIDI or score file and keep its first `bars` bars (0: all of it) as a token prefix.

    Raises:
        ReaderError: the file cannot be read or has no notes the tokenizer keeps.
    """
    from ..io.readers import read_file

    try:
        pieces = read_file(path)
    except ReaderError as e:
        raise ReaderError(f"primer {path}: {e}") from None
    piece = next((p for p in pieces if p.notes), None)
    if piece is None:
        raise ReaderError(f"primer {path}: no notes")
    ids, stats = tokenizer.encode_with_stats(piece)
    ids = ids[:-1]  # drop EOS: the model goes on from here
    bar_at = np.flatnonzero(ids == tokenizer.bar)
    if bars > 0 and len(bar_at) > bars:
        ids = ids[: bar_at[bars]]
    opening = tokenizer.decode(ids, strict=True)
    if not opening.notes:
        raise ReaderError(f"primer {path}: no notes in its first {bars} bars that the tokenizer keeps")
    split = max([n.onset for n in opening.notes] + [t.time for t in opening.tempos])
    lossy = {k: v for k, v in stats.as_dict().items() if v and k != "notes"}
    return Primer(ids, piece, int((ids == tokenizer.bar).sum()), len(opening.notes), split,
                  piece.source or str(path), lossy)
