"""The tokenizer's grammar as arrays a compiled decode loop can index, and what every step of
that loop applies from it: the mask of the tokens that may follow (`grammar_mask`), the grammar
state after a token (`advance_grammar`), and the scale penalty's bias on pitches out of the key
(`scale_bias`). Tensors in, tensors out; nothing reads files or runs a model.
"""


from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ..tokens.grammar import Grammar


# --------------------------------------------------------------------------- grammar as tensors
@dataclass(frozen=True)
class GrammarTables:
    """The grammar of grammar.py as arrays a compiled loop can index.

    Attributes:
        transitions: bool [vocab, vocab], row = previous token.
        position_of: int32 [vocab], grid position of POS tokens, -1 elsewhere.
        bar_steps_of: int32 [vocab], bar length of TS tokens, 0 elsewhere.
        is_bar, is_ts, is_tempo: bool [vocab].
        starts_note: bool [vocab], PITCH and PROGRAM: what may open a note.
        in_note: bool [vocab], PITCH, VEL and DUR: after one of these, a PITCH or PROGRAM is another
            note of the same onset (a chord).
        opens_group: bool [vocab], BAR, POS and EOS: what the first new token after a prefix
            must be when it can, so the prefix's last onset gets no extra notes (a primer's
            opening stays verbatim) and its meter is not changed on the spot.
        finish_cost: int32 [vocab], fewest tokens that must follow a token before the sequence
            may stop without leaving a note or an onset unfinished (PITCH needs its DUR, POS its
            TEMPO or a note, ...).
        pad, bos, eos: the special ids.
        default_bar_steps: bar length before any TS (4/4).
        is_control: bool [vocab], KEY and STYLE: what a piece states once, at its start (a step
            whose only choices are these is drawn uncut by top-k or top-p: `Decoder`).
        pitch_class_of: int32 [vocab], the pitch class (0-11) of PITCH tokens, -1 elsewhere; all
            -1 when the tables were built without the vocabulary's lowest pitch.
    """

    transitions: np.ndarray
    position_of: np.ndarray
    bar_steps_of: np.ndarray
    is_bar: np.ndarray
    is_ts: np.ndarray
    is_tempo: np.ndarray
    starts_note: np.ndarray
    in_note: np.ndarray
    opens_group: np.ndarray
    finish_cost: np.ndarray
    pad: int
    bos: int
    eos: int
    default_bar_steps: int
    pitch_class_of: np.ndarray | None = None
    is_control: np.ndarray | None = None

    @classmethod
    def from_grammar(cls, grammar: Grammar, pitch_low: int | None = None) -> "GrammarTables":
        """Args: pitch_low: the MIDI pitch of the first PITCH token (the tokenizer's `pitch_low`),
        for the scale penalty; None leaves the pitches unknown."""
        kinds = np.array(grammar.kinds)
        pitch_class_of = np.full(len(kinds), -1, np.int32)
        if pitch_low is not None:
            at = np.flatnonzero(kinds == "PITCH")
            pitch_class_of[at] = (int(pitch_low) + np.arange(len(at))) % 12
        # A sequence may stop after any token that leaves no note half-written, and not right after
        # a POS: the grammar needs a TEMPO or a note after it (POS is never followed by BAR or EOS).
        complete = ~np.isin(kinds, ["POS", "PROGRAM", "PITCH", "VEL"])
        big = np.iinfo(np.int32).max // 2
        cost = np.where(complete, 0, big).astype(np.int64)
        for _ in range(len(kinds)):  # shortest path to a complete token (Bellman-Ford, a few rounds)
            succ = np.where(grammar.transitions, cost[np.newaxis, :], big).min(axis=1) + 1
            new = np.where(complete, 0, np.minimum(cost, succ))
            if np.array_equal(new, cost):
                break
            cost = new
        index = {k: i for i, k in enumerate(grammar.kinds)}
        return cls(
            transitions=grammar.transitions.astype(bool),
            position_of=grammar.position_of.astype(np.int32),
            bar_steps_of=grammar.bar_steps_of.astype(np.int32),
            is_bar=kinds == "BAR",
            is_ts=kinds == "TS",
            is_tempo=kinds == "TEMPO",
            starts_note=np.isin(kinds, ["PITCH", "PROGRAM"]),
            in_note=np.isin(kinds, ["PITCH", "VEL", "DUR"]),
            opens_group=np.isin(kinds, ["BAR", "POS", "EOS"]),
            finish_cost=np.minimum(cost, big).astype(np.int32),
            pad=index["PAD"],
            bos=index["BOS"],
            eos=index["EOS"],
            default_bar_steps=grammar.default_bar_steps,
            pitch_class_of=pitch_class_of,
            is_control=np.isin(kinds, ["KEY", "STYLE"]),
        )

    @property
    def pitch_classes(self) -> np.ndarray:
        """`pitch_class_of`, all -1 when the tables know no pitches."""
        return self.pitch_class_of if self.pitch_class_of is not None else np.full(self.vocab_size, -1, np.int32)

    @property
    def vocab_size(self) -> int:
        return len(self.position_of)


def grammar_mask(tables: GrammarTables, prev, bar_steps, last_pos, remaining=None, allow_end=True):
    """bool [batch, vocab]: tokens that may follow, as `Grammar.allowed` computes one row at a time.

    Args:
        prev, bar_steps, last_pos: int [batch], the grammar state (see `GrammarState`).
        remaining: tokens left including this one; tokens that could not be completed in time
            are removed. None: no limit.
        allow_end: whether EOS may be chosen. PAD and BOS never are.
    """
    prev = tf.convert_to_tensor(prev, tf.int32)
    mask = tf.gather(tf.constant(tables.transitions), prev)
    pos = tf.constant(tables.position_of)[tf.newaxis, :]
    is_pos = pos >= 0
    in_bar = (pos > tf.cast(last_pos, tf.int32)[:, tf.newaxis]) & (pos < tf.cast(bar_steps, tf.int32)[:, tf.newaxis])
    mask &= ~is_pos | in_bar
    vocab = tables.vocab_size
    never = np.zeros(vocab, dtype=bool)
    never[[tables.pad, tables.bos]] = True
    mask &= tf.constant(~never)[tf.newaxis, :]
    is_eos = tf.constant(np.arange(vocab) == tables.eos)[tf.newaxis, :]
    mask &= ~is_eos | tf.cast(allow_end, tf.bool)
    if remaining is not None:
        fits = tf.constant(tables.finish_cost)[tf.newaxis, :] <= tf.cast(remaining, tf.int32) - 1
        mask &= fits
    return mask


def advance_grammar(tables: GrammarTables, token, bar_steps, last_pos):
    """(bar_steps, last_pos) after `token`: BAR clears the position, TS sets the meter, POS moves."""
    token = tf.convert_to_tensor(token, tf.int32)
    is_ts = tf.gather(tf.constant(tables.is_ts), token)
    is_bar = tf.gather(tf.constant(tables.is_bar), token)
    position = tf.gather(tf.constant(tables.position_of), token)
    bar_steps = tf.where(is_ts, tf.gather(tf.constant(tables.bar_steps_of), token), bar_steps)
    last_pos = tf.where(is_ts | is_bar, -1, tf.where(position >= 0, position, last_pos))
    return bar_steps, last_pos


# the 12 diatonic pitch-class sets (a major scale and its relative natural minor share one)
DIATONIC = np.array([[(pc - root) % 12 in (0, 2, 4, 5, 7, 9, 11) for pc in range(12)] for root in range(12)],
                    np.float32)
SCALE_AFTER = 8  # notes before the scale penalty starts: the key must be heard before it is kept


def scale_bias(tables: GrammarTables, pc_counts, penalty):
    """float [batch, vocab]: minus `penalty` on every PITCH token whose pitch class lies outside
    each diatonic scale that holds most of each row's notes so far (`pc_counts` [batch, 12]; of
    scales that tie, as G major, C major and D major do for a pentatonic G A B D E, none is
    preferred: a pitch class in any of them is free), once a row has `SCALE_AFTER` notes; 0
    elsewhere."""
    pcs = tables.pitch_classes
    is_pitch = tf.constant(pcs >= 0)[tf.newaxis, :]
    fit = tf.matmul(pc_counts, tf.constant(DIATONIC), transpose_b=True)  # [batch, 12 scales]
    best = tf.cast(fit >= tf.reduce_max(fit, axis=-1, keepdims=True) - 1e-6, tf.float32)
    in_scale = tf.minimum(tf.matmul(best, tf.constant(DIATONIC)), 1.0)  # [batch, 12]: in some best scale
    outside = 1.0 - tf.gather(in_scale, tf.constant(np.maximum(pcs, 0)), axis=1)  # [batch, vocab]
    heard = tf.reduce_sum(pc_counts, axis=-1, keepdims=True) >= SCALE_AFTER
    return tf.where(is_pitch & heard, -penalty * outside, 0.0)
