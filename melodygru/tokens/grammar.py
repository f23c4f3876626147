"""The grammar of valid token sequences, explicit and vectorisable.

A sequence is `BOS [STYLE] [KEY] bar* EOS PAD*` (KEY exactly when the vocabulary has key tokens;
STYLE may come when it has style tokens), where

    bar      = BAR [TS] group*                       (TS only when the meter changes; 4/4 before any TS)
    group    = POS [TEMPO] note*                     (POS strictly increases inside a bar and is < bar length)
    note     = [PROGRAM] PITCH [VEL] DUR+            (PROGRAM only with `programs`, VEL only with velocity bins;
                                                      DUR may repeat only after the longest DUR: durations add)

With shared durations a note may also end without DUR, right before the next note of its group
starts: it then lasts as long as the next DUR+ says (`PITCH PITCH PITCH DUR` is a chord). A group
still cannot end on a pitch, since a PITCH or VEL is followed only by DUR or another note.

Two pieces of state are enough to check it: the previous token, and the current bar (its length in
grid steps and the last position used). `Grammar.allowed` therefore needs one row of a token-by-token
transition table plus a comparison on position tokens, which a compiled sampler can do with the
three arrays `transitions`, `position_of` and `bar_steps_of`.
"""


from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import TokenizerError


@dataclass(frozen=True)
class GrammarState:
    """Where a sequence stands: previous token, bar length in steps, last position in this bar (-1: none)."""

    prev: int
    bar_steps: int
    last_pos: int


class Grammar:
    """Which token may follow which, derived from a vocabulary's token kinds.

    Args:
        kinds: the kind of every token id ('PAD', 'BOS', 'EOS', 'BAR', 'TS', 'POS', 'TEMPO',
            'PROGRAM', 'PITCH', 'VEL', 'DUR', 'KEY', 'STYLE').
        position_of: grid position of every POS token, -1 for other tokens.
        bar_steps_of: bar length in steps of every TS token, 0 for other tokens.
        longest_duration: the id of the DUR token after which another DUR may follow.
        default_bar_steps: bar length before any TS token (4/4).
        bos: the BOS token id.
        shared_durations: a note may leave out its DUR and take the next note's.
    """

    def __init__(self, kinds, position_of, bar_steps_of, longest_duration, default_bar_steps, bos,
                 shared_durations=False):
        self.kinds = list(kinds)
        self.position_of = np.asarray(position_of, dtype=np.int32)
        self.bar_steps_of = np.asarray(bar_steps_of, dtype=np.int32)
        self.default_bar_steps = int(default_bar_steps)
        self.bos = int(bos)
        kinds_arr = np.array(self.kinds)
        has = set(self.kinds)
        # The kind-level rules of the module docstring, as "after X, any of these kinds".
        note_start = {"PROGRAM"} if "PROGRAM" in has else {"PITCH"}
        after_pitch = {"VEL"} if "VEL" in has else {"DUR"}
        # where a note's duration is complete: after its DUR, or (shared) after its pitch and velocity
        note_end = {"VEL"} if "VEL" in has else {"PITCH"}
        follows = {
            "PAD": {"PAD"},
            "BOS": {"BAR"},
            "EOS": {"PAD"},
            "BAR": {"TS", "POS", "BAR", "EOS"},
            "TS": {"POS", "BAR", "EOS"},
            "POS": {"TEMPO"} | note_start,
            "TEMPO": note_start | {"POS", "BAR", "EOS"},
            "PROGRAM": {"PITCH"},
            "PITCH": after_pitch,
            "VEL": {"DUR"},
            "DUR": note_start | {"POS", "BAR", "EOS"},
        }
        if "KEY" in has:  # the key of the whole piece, stated once, first
            follows["BOS"], follows["KEY"] = {"KEY"}, {"BAR"}
        if "STYLE" in has:  # the style, before the key; a piece encoded from a file states none
            follows["STYLE"] = set(follows["BOS"])
            follows["BOS"] = follows["BOS"] | {"STYLE"}
        if shared_durations:
            for kind in note_end:
                follows[kind] = follows[kind] | note_start
        n = len(self.kinds)
        table = np.zeros((n, n), dtype=bool)
        for i, kind in enumerate(self.kinds):
            table[i] = np.isin(kinds_arr, sorted(follows[kind]))
        # Durations add up, but only the longest may be continued, so every length has one spelling.
        is_dur = kinds_arr == "DUR"
        table[np.ix_(is_dur, is_dur)] = False
        table[longest_duration, is_dur] = True
        self.transitions = table
        self.is_pos = self.position_of >= 0

    def initial_state(self) -> GrammarState:
        """The state right after BOS."""
        return GrammarState(prev=self.bos, bar_steps=self.default_bar_steps, last_pos=-1)

    def allowed(self, state: GrammarState) -> np.ndarray:
        """Boolean mask over the vocabulary of the tokens that may come next."""
        mask = self.transitions[state.prev].copy()
        pos_ok = (self.position_of > state.last_pos) & (self.position_of < state.bar_steps)
        mask[self.is_pos] &= pos_ok[self.is_pos]
        return mask

    def is_allowed(self, state: GrammarState, token: int) -> bool:
        if not self.transitions[state.prev, token]:
            return False
        pos = self.position_of[token]
        return pos < 0 or state.last_pos < pos < state.bar_steps

    def advance(self, state: GrammarState, token: int) -> GrammarState:
        """The state after `token` (assumed allowed)."""
        kind = self.kinds[token]
        if kind == "BAR":
            return GrammarState(token, state.bar_steps, -1)
        if kind == "TS":
            return GrammarState(token, int(self.bar_steps_of[token]), -1)
        if kind == "POS":
            return GrammarState(token, state.bar_steps, int(self.position_of[token]))
        return GrammarState(token, state.bar_steps, state.last_pos)

    def state_after(self, ids) -> GrammarState:
        """Run a sequence that starts with BOS through the grammar; raise TokenizerError at the first violation."""
        ids = [int(t) for t in ids]
        if not ids or ids[0] != self.bos:
            raise TokenizerError("a token sequence must start with BOS")
        state = self.initial_state()
        for i, tok in enumerate(ids[1:], start=1):
            if not 0 <= tok < len(self.kinds):
                raise TokenizerError(f"token id {tok} at position {i} is outside the vocabulary")
            if not self.is_allowed(state, tok):
                raise TokenizerError(
                    f"token {i} ({self.kinds[tok]}) may not follow {self.kinds[state.prev]} here"
                )
            state = self.advance(state, tok)
        return state

    def is_valid(self, ids) -> bool:
        try:
            self.state_after(ids)
        except TokenizerError:
            return False
        return True
