"""Transposition of token sequences, without re-parsing: every PITCH token but the drums' moves,
and a KEY token moves its tonic with them.

On the drum channel a pitch is an instrument, so drum pitches never move.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import TokenizerError
from .config import DRUM_PROGRAM
from .tokenizer import Tokenizer


def drum_pitch_mask(tokenizer: Tokenizer, ids) -> np.ndarray:
    """The PITCH tokens of drum notes, along the last axis of `ids`.

    With `programs` the grammar puts a PROGRAM token right before every PITCH, so a drum note's
    PITCH is the one right after PROGRAM_DRUMS. On the drum channel a pitch is an instrument
    (36 a kick, 38 a snare): transposing it would swap instruments, not change the key. A PITCH
    in first place has no PROGRAM before it and counts as pitched (see `dataset.epoch_windows`
    for windows cut out of a piece).
    """
    ids = np.asarray(ids)
    mask = np.zeros(ids.shape, dtype=bool)
    if not tokenizer.config.drums or ids.size == 0:
        return mask
    mask[..., 1:] = ids[..., :-1] == tokenizer.program_offset + DRUM_PROGRAM
    return mask & tokenizer.pitch_mask(ids)

def transposable_mask(tokenizer: Tokenizer, ids) -> np.ndarray:
    """The PITCH tokens a transposition moves: every pitch but the drums'."""
    return tokenizer.pitch_mask(ids) & ~drum_pitch_mask(tokenizer, ids)

def transpose_range(tokenizer: Tokenizer, ids) -> tuple[int, int]:
    """The (lowest, highest) shift in semitones that keeps every pitch of `ids` in range (drum
    pitches never move, so they set no limit)."""
    ids = np.asarray(ids)
    mask = transposable_mask(tokenizer, ids)
    n = tokenizer.config.pitch_high - tokenizer.config.pitch_low + 1
    if not mask.any():
        return -(n - 1), n - 1
    rel = ids[mask] - tokenizer.pitch_offset
    return -int(rel.min()), int(n - 1 - rel.max())

def transpose_keys(tokenizer: Tokenizer, ids, semitones) -> np.ndarray:
    """Move the tonic of every KEY token by `semitones` (an int, or one per row of a 2-d `ids`),
    the mode unchanged; a tokenizer without key tokens returns `ids` as they are."""
    ids = np.asarray(ids)
    if tokenizer.key_offset < 0 or ids.size == 0:
        return ids
    k = ids.astype(np.int64) - tokenizer.key_offset
    is_key = (k >= 0) & (k < 24)
    shift = np.asarray(semitones, np.int64)
    if shift.ndim == 1 and ids.ndim == 2:
        shift = shift[:, None]
    moved = tokenizer.key_offset + (k // 12) * 12 + (k % 12 + shift) % 12
    return np.where(is_key, moved, ids).astype(ids.dtype)


def transpose(tokenizer: Tokenizer, ids, semitones: int, out_of_range: str = "error") -> np.ndarray:
    """Shift every pitch token by `semitones`, without re-parsing; drum pitches stay (see
    `drum_pitch_mask`).

    Args:
        out_of_range: what to do with pitches that would leave the range: 'error' raises
            TokenizerError, 'fold' moves them back by whole octaves (never wraps around).
    """
    ids = np.array(ids, dtype=np.int32, copy=True)
    mask = transposable_mask(tokenizer, ids)
    n = tokenizer.config.pitch_high - tokenizer.config.pitch_low + 1
    rel = ids[mask] - tokenizer.pitch_offset + int(semitones)
    outside = (rel < 0) | (rel >= n)
    if outside.any():
        if out_of_range == "error":
            lo, hi = transpose_range(tokenizer, ids)
            raise TokenizerError(f"transposing by {semitones} leaves the pitch range (allowed {lo}..{hi})")
        if out_of_range != "fold":
            raise ValueError(f"out_of_range must be 'error' or 'fold', not {out_of_range!r}")
        if n < 12:
            raise TokenizerError("cannot fold pitches into a range narrower than an octave")
        while (rel < 0).any() or (rel >= n).any():
            rel = np.where(rel < 0, rel + 12, rel)
            rel = np.where(rel >= n, rel - 12, rel)
    ids[mask] = rel + tokenizer.pitch_offset
    return transpose_keys(tokenizer, ids, int(semitones)).astype(np.int32)
