"""A learnable toy corpus for the model and training tests: scales and arpeggios, encoded with the
real tokenizer (nothing is read from disk)."""

from __future__ import annotations

import numpy as np

from melodygru.core.events import Note, Piece, TimeSignature
from melodygru.tokens.config import TokenizerConfig
from melodygru.tokens.tokenizer import Tokenizer

MAJOR = (0, 2, 4, 5, 7, 9, 11)
ARPEGGIO = (0, 4, 7, 12, 7, 4)


def toy_tokenizer() -> Tokenizer:
    # no velocity tokens: a smaller vocabulary and shorter sequences keep the tests fast
    return Tokenizer(TokenizerConfig(velocity_bins=0))


def toy_piece(rng: np.random.Generator, meter=(4, 4)) -> Piece:
    """Eighth notes running up and down a major scale or an arpeggio from a random root."""
    root = int(rng.integers(55, 67))
    pattern = MAJOR if rng.random() < 0.5 else ARPEGGIO
    count = int(rng.integers(12, 48))
    up = [root + 12 * (i // len(pattern)) + pattern[i % len(pattern)] for i in range(count // 2)]
    pitches = up + up[::-1]
    notes = [Note(0.5 * i, 0.5, p) for i, p in enumerate(pitches)]
    return Piece(notes, time_signatures=[TimeSignature(0.0, *meter)])


def toy_corpus(tokenizer: Tokenizer, n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [tokenizer.encode(toy_piece(rng)) for _ in range(n)]
