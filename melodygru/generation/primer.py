"""Primers: the opening bars of a file a sample continues, with its tempo, meter and key; and the
prefix every sample starts from (BOS, a requested STYLE and KEY, or a primer).
"""


from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import MelodyGRUError, ReaderError, TokenizerError
from ..tokens.config import DENOMINATORS
from ..core.events import Piece
from ..tokens.styles import style_token
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
                key: tuple[int, bool] | None = None, length: int = 0, style: int | None = None) -> None:
    """MelodyGRUError unless `meter` can open samples of `length` new tokens (see `meter_token`;
    a model that draws its style or key first needs them, the bar line and the meter to fit)."""
    meter_token(tokenizer, meter, primer)
    forced = forced_ids(tokenizer, primer, key, meter, style)
    if forced is not None and length < len(forced):
        raise MelodyGRUError(f"--length {length} is too short to open with the key, the bar line and the meter")


def check_style(tokenizer: Tokenizer, source, name: str, primer: Primer | None = None) -> int:
    """The STYLE token of style `name` of a model with this tokenizer (from run directory
    `source`); MelodyGRUError when it has no styles, not this one (the message lists them), or a
    primer is given (a primer opens the sample as it is)."""
    if tokenizer.style_offset < 0:
        raise MelodyGRUError(f"checkpoint {source} was trained without styles, so it cannot be asked for one: "
                             "sample without --style, or train a model with --styles-from-folders or --style")
    if primer is not None:
        raise MelodyGRUError("--style and --primer together: the primer opens the sample as it is; leave out --style")
    try:
        return style_token(tokenizer, name)
    except TokenizerError as e:
        raise MelodyGRUError(str(e)) from None


def _opening(tokenizer: Tokenizer, key, meter, style) -> tuple[list[int], list[int]]:
    """A sample's first tokens after BOS, as (prefix, forced): the model's style and key slots,
    each given (its token) or drawn (-1), then a meter's bar line and TS token; the tokens before
    the first drawn slot are the prefix, the rest are forced (a drawn slot at the end is left to
    the model)."""
    slots = ([-1 if style is None else int(style)] if tokenizer.style_offset >= 0 else []) \
        + ([-1 if key is None else tokenizer.key_token(*key)] if tokenizer.key_offset >= 0 else [])
    if meter is not None:
        slots += [tokenizer.bar, meter_token(tokenizer, meter)]
    cut = slots.index(-1) if -1 in slots else len(slots)
    forced = slots[cut:]
    while forced and forced[-1] == -1:
        forced.pop()
    return slots[:cut], forced


def prefix_ids(tokenizer: Tokenizer, primer: Primer | None = None, key: tuple[int, bool] | None = None,
               meter: tuple[int, int] | None = None, style: int | None = None) -> np.ndarray:
    """The tokens every sample starts from: the primer's, else BOS, the STYLE token `style`, the
    KEY token of `key` and, for a `meter`, the first bar line with its TS token, as far as none
    of them is left to the model to draw (see `forced_ids`)."""
    if primer is not None:
        return primer.ids
    return np.array([tokenizer.bos] + _opening(tokenizer, key, meter, style)[0], np.int32)


def forced_ids(tokenizer: Tokenizer, primer: Primer | None = None, key: tuple[int, bool] | None = None,
               meter: tuple[int, int] | None = None, style: int | None = None) -> np.ndarray | None:
    """The first new tokens of every sample when they cannot all be the prefix: a model that draws
    its style or key (-1) before a requested key or meter. None otherwise."""
    forced = [] if primer is not None else _opening(tokenizer, key, meter, style)[1]
    return np.array(forced, np.int32) if forced else None


def controls(tokenizer: Tokenizer) -> dict:
    """What a model with this tokenizer can be asked for (`generate --help-controls`, and `--json`):
    its keys and styles (empty lists when it was trained without them), meters, and tempo."""
    from ..core.keys import key_name

    keys = [key_name(t, m) for m in (False, True) for t in range(12)] if tokenizer.key_offset >= 0 else []
    return {"key": keys, "style": list(tokenizer.config.styles),
            "meter": ["%d/%d" % m for m in tokenizer.meters], "tempo": True}


def control_lines(source, found: dict) -> list[str]:
    """`controls` as the lines `generate --help-controls` prints."""
    drawn = "; without it each sample draws one as often as the training music has it"
    return [f"{source} understands:",
            "  --key     " + (f"any of {len(found['key'])} keys ({', '.join(found['key'])}){drawn}" if found["key"]
                              else "no (trained without --key-tokens)"),
            "  --style   " + (f"{', '.join(found['style'])}{drawn}" if found["style"]
                              else "no (trained without --styles-from-folders or --style)"),
            f"  --meter   {', '.join(found['meter'][:12])}, ... ({len(found['meter'])} meters)",
            "  --tempo   any tempo in bpm"]
