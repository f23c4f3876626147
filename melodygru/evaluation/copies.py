"""The copy check: how much of a piece appears verbatim (transposed or not) in the training pieces,
so a model that memorizes is caught rather than rewarded.
"""


from __future__ import annotations

import math

import numpy as np

from ..core.events import Piece
from ..analysis.features import bar_contents


# --------------------------------------------------------------------------- copy check
def _window_set(bars: list[tuple], k: int) -> set:
    out = set()
    for i in range(len(bars) - k + 1):
        w = bars[i:i + k]
        if sum(len(b) for b in w) >= 2:  # a held chord or an empty stretch proves nothing
            out.add(tuple(w))
    return out


def copy_check(pieces: list[Piece], training: list[Piece], max_bars: int = 32) -> list[dict]:
    """How much of each piece appears verbatim (transposed or not) in the training pieces.

    Returns per piece: 'longest_bars' (the longest run of consecutive bars found in one training
    piece) and 'share_2bar' (the share of the piece's 2-bar windows found in some training piece).
    """
    train_bars = [bar_contents(p) for p in training]
    index: dict[int, set] = {}

    def windows(k):
        if k not in index:
            s = set()
            for bars in train_bars:
                s |= _window_set(bars, k)
            index[k] = s
        return index[k]

    out = []
    for p in pieces:
        bars = bar_contents(p)
        mine2 = [tuple(bars[i:i + 2]) for i in range(len(bars) - 1) if sum(len(b) for b in bars[i:i + 2]) >= 2]
        share = float(np.mean([w in windows(2) for w in mine2])) if mine2 else math.nan
        longest = 0
        for k in range(1, max_bars + 1):
            mine = _window_set(bars, k)
            if not mine or not (mine & windows(k)):
                break
            longest = k
        out.append({"source": p.source, "longest_bars": longest, "share_2bar": share})
    return out


def _copy_summary(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    longest = [r["longest_bars"] for r in rows]
    shares = [r["share_2bar"] for r in rows if math.isfinite(r["share_2bar"])]
    return {"median_longest_bars": float(np.median(longest)), "max_longest_bars": int(max(longest)),
            "mean_share_2bar": float(np.mean(shares)) if shares else math.nan, "pieces": len(rows)}
