"""The data pipeline's counts and transpositions on real tokenized pieces (no TensorFlow needed)."""

from __future__ import annotations

import math

import numpy as np

from melodygru.core.events import Note, Piece, TimeSignature
from melodygru.tokens.config import DRUM_PROGRAM, TokenizerConfig
from melodygru.tokens.tokenizer import Tokenizer
from melodygru.tokens.transpose import transpose, transpose_range
from melodygru.training import windows as data

DRUM_PITCHES = (36, 49)  # kick and crash: more than 12 semitones apart, so a shifted one is neither
MELODY = (64, 67, 71, 72, 76, 74, 71, 67)


def band_piece(bars: int = 4) -> Piece:
    """A melody (program 0) in an irregular rhythm over a drum part (kick on every beat, a crash at
    each bar line)."""
    rng = np.random.default_rng(7)
    notes = []
    for b in range(bars):
        eighths = np.flatnonzero(rng.random(8) < 0.6)
        for k, e in enumerate(eighths):
            length = (eighths[k + 1] if k + 1 < len(eighths) else 8) - e
            notes.append(Note(4.0 * b + e / 2, length / 2, int(rng.choice(MELODY)), 80, program=0))
        for beat in range(4):
            notes.append(Note(4.0 * b + beat, 0.5, DRUM_PITCHES[0], 100, is_drum=True))
        notes.append(Note(4.0 * b, 0.5, DRUM_PITCHES[1], 100, is_drum=True))
    return Piece(notes)


DRUM_TOK = Tokenizer(TokenizerConfig(programs=True, drums=True, velocity_bins=0))


def _drum_pitch_positions(tok: Tokenizer, ids: np.ndarray) -> np.ndarray:
    """Where the PITCH tokens of drum notes are: right after PROGRAM_DRUMS (the grammar puts a
    PROGRAM before every PITCH when programs are on)."""
    after_drums = np.concatenate([[False], ids[:-1] == tok.program_offset + DRUM_PROGRAM])
    return tok.pitch_mask(ids) & after_drums


# ---------------------------------------------------------------- item 7: drums are never transposed
def test_tokenizer_transpose_leaves_drum_pitches_alone():
    piece = band_piece()
    ids = DRUM_TOK.encode(piece)
    assert _drum_pitch_positions(DRUM_TOK, ids).sum() == 20  # 16 kicks + 4 crashes
    assert DRUM_TOK.pitch_mask(ids).sum() > 20  # and the melody
    moved = DRUM_TOK.decode(transpose(DRUM_TOK, ids, 5))
    drums = sorted((n.onset, n.pitch) for n in moved.notes if n.is_drum)
    assert drums == sorted((n.onset, n.pitch) for n in piece.notes if n.is_drum)  # an instrument, not a pitch
    pitched = sorted((n.onset, n.pitch) for n in moved.notes if not n.is_drum)
    assert pitched == sorted((n.onset, n.pitch + 5) for n in piece.notes if not n.is_drum)
    # the drums do not limit the range either: only the melody's pitches count
    c = DRUM_TOK.config
    assert transpose_range(DRUM_TOK, ids) == (c.pitch_low - min(MELODY), c.pitch_high - max(MELODY))


def test_training_window_transposition_skips_drum_pitches():
    ids = DRUM_TOK.encode(band_piece(bars=8))
    drum_at = _drum_pitch_positions(DRUM_TOK, ids)
    seq = 16
    starts_on_drum_pitch = placed = 0
    pitched_shifts = set()
    for epoch in range(1, 41):
        for w in data.epoch_windows([ids], DRUM_TOK, seq, 6, seed=0, epoch=epoch):
            # where the window may come from: transposition moves only pitches, so the other tokens match
            other = ~DRUM_TOK.pitch_mask(w)
            at = [s for s in range(len(ids) - seq) if np.array_equal(ids[s : s + seq + 1][other], w[other])]
            assert at, w
            drums = _drum_pitch_positions(DRUM_TOK, w)  # decided inside the window, except for token 0
            first = {bool(drum_at[s]) for s in at}
            if first == {True}:  # a window that begins on a drum PITCH, its PROGRAM_DRUMS cut off
                drums[0] = True
                starts_on_drum_pitch += 1
            pitch_of = w[drums] - DRUM_TOK.pitch_offset + DRUM_TOK.config.pitch_low
            assert set(pitch_of.tolist()) <= set(DRUM_PITCHES), (w, pitch_of)  # a shifted drum is neither
            if len(at) == 1:  # the window's place is certain: compare with the piece there
                pitched = DRUM_TOK.pitch_mask(w) & ~drums
                shift = set((w[pitched] - ids[at[0] : at[0] + seq + 1][pitched]).tolist())
                assert len(shift) <= 1, w  # the melody moves as a whole
                pitched_shifts |= shift
                placed += 1
    assert starts_on_drum_pitch > 0 and placed > 100
    assert pitched_shifts == set(range(-6, 7))  # the melody is still transposed


# ---------------------------------------------------------------- item 9: the fewest windows
def test_training_windows_cut_the_fewest_windows_that_cover_every_target():
    seq = 128
    for targets, windows in ((1, 1), (127, 1), (128, 1), (129, 2), (255, 2), (256, 2), (257, 3), (384, 3)):
        piece = np.arange(1, targets + 2, dtype=np.int32)  # BOS..EOS: targets + 1 tokens
        for seed in range(3):
            w = data.training_windows([piece], seq, np.random.default_rng(seed), pad=0)
            assert len(w) == windows == math.ceil(targets / seq), (targets, len(w))
            covered = set(w[:, 1:][w[:, 1:] > 0].tolist())
            assert covered == set(piece[1:].tolist())  # still every target
            assert w[0, 0] == 1 and w[-1].max() == piece[-1]  # from BOS, up to EOS
    # 256 targets at seq 128: two windows that meet exactly, nothing seen twice
    w = data.training_windows([np.arange(1, 258, dtype=np.int32)], seq, np.random.default_rng(0), pad=0)
    assert w[0, 0] == 1 and w[1, 0] == 129 and (w > 0).all()


# ---------------------------------------------------------------- item 15: one "per quarter note"
def test_quarters_are_the_span_from_the_first_onset_to_the_last_end():
    tok = Tokenizer(TokenizerConfig(velocity_bins=0))
    # a one-beat pickup, two full bars, a final bar of three beats: 4 bar lines, 12 quarters of music
    notes = [Note(3.0 + q, 1.0, 60 + q % 5) for q in range(12)]
    ids = tok.encode(Piece(notes))
    assert (ids == tok.bar).sum() == 4
    assert data.quarters_of(ids, tok) == 12
    waltz = tok.encode(Piece([Note(float(q), 1.0, 60) for q in range(12)], time_signatures=[TimeSignature(0.0, 3, 4)]))
    assert data.quarters_of(waltz, tok) == 12
    assert data.quarters_of(tok.encode(Piece([Note(1.5, 1.0, 60), Note(4.0, 2.75, 62)])), tok) == 6  # ceil(5.25)
    assert data.quarters_of(tok.encode(Piece([])), tok) == 1  # an empty piece still takes a step
