"""Primers: the opening bars of a file a sample continues, with its tempo, meter and key; and the
prefix every sample starts from (BOS, a requested KEY, or a primer).
"""


from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import MelodyGRUError, ReaderError
from ..tokens.config import DENOMINATORS
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


# --------------------------------------------------------------------------- the prefix
def check_key(tokenizer: Tokenizer, source, primer: Primer | None = None) -> None:
    """Raise MelodyGRUError unless a model with this tokenizer (from run directory `source`) can be
    asked for a key: it needs key tokens, and a primer already states its own key."""
    if tokenizer.key_offset < 0:
        raise MelodyGRUError(f"checkpoint {source} was trained without key tokens, so it cannot be asked "
                             "for a key: sample without --key, or train a model with --key-tokens")
    if primer is not None:
        raise MelodyGRUError("--key and --primer together: the primer's own key opens the sample "
                             "(transpose the primer file to the key you want)")


def parse_meter(text: str) -> tuple[int, int]:
    """'3/4' -> (3, 4); raises MelodyGRUError for anything that is not a meter."""
    num, _, den = str(text).strip().partition("/")
    num, den = num.strip(), den.strip()
    if not (num.isascii() and num.isdecimal() and den.isascii() and den.isdecimal()) or int(num) < 1 \
            or int(den) not in DENOMINATORS:
        raise MelodyGRUError(f"{text!r} is not a meter: use beats/note value, e.g. 4/4, 3/4, 6/8")
    return int(num), int(den)


def meter_token(tokenizer: Tokenizer, meter: tuple[int, int], primer: Primer | None = None) -> int:
    """The TS token of a requested meter; MelodyGRUError when the vocabulary has none or a primer
    already sets the meter."""
    if primer is not None:
        raise MelodyGRUError("--meter and --primer together: the primer's own meter opens the sample")
    tok = tokenizer.meter_token(*meter)
    if tok is None:
        raise MelodyGRUError(f"the model's vocabulary has no {meter[0]}/{meter[1]} bars "
                             f"(up to {tokenizer.config.max_bar_quarters} quarter notes a bar)")
    return tok


def check_meter(tokenizer: Tokenizer, meter: tuple[int, int], primer: Primer | None = None,
                key: tuple[int, bool] | None = None, length: int = 0) -> None:
    """MelodyGRUError unless `meter` can open samples of `length` new tokens (see `meter_token`;
    a model that draws its key first needs the key, the bar line and the meter to fit)."""
    meter_token(tokenizer, meter, primer)
    forced = forced_ids(tokenizer, primer, key, meter)
    if forced is not None and length < len(forced):
        raise MelodyGRUError(f"--length {length} is too short to open with the key, the bar line and the meter")


def prefix_ids(tokenizer: Tokenizer, primer: Primer | None = None, key: tuple[int, bool] | None = None,
               meter: tuple[int, int] | None = None) -> np.ndarray:
    """The tokens every sample starts from: the primer's, else BOS, the KEY token of `key` and,
    for a `meter`, the first bar line with its TS token (see `forced_ids` for a model that draws
    its key before them)."""
    if primer is not None:
        return primer.ids
    ids = [tokenizer.bos] + ([tokenizer.key_token(*key)] if key is not None else [])
    if meter is not None and not (tokenizer.key_offset >= 0 and key is None):
        ids += [tokenizer.bar, meter_token(tokenizer, meter)]
    return np.array(ids, np.int32)


def forced_ids(tokenizer: Tokenizer, primer: Primer | None = None, key: tuple[int, bool] | None = None,
               meter: tuple[int, int] | None = None) -> np.ndarray | None:
    """The first new tokens of every sample when they cannot all be the prefix: a model with key
    tokens asked for a meter but not a key draws each sample's key (-1), then gets the bar line
    and the meter. None otherwise."""
    if primer is None and meter is not None and tokenizer.key_offset >= 0 and key is None:
        return np.array([-1, tokenizer.bar, meter_token(tokenizer, meter)], np.int32)
    return None
