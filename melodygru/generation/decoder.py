"""The compiled decode loop: choosing every next token of all samples at once.

Everything here works on logits and token ids; nothing reads files. The pieces, in the order the
decoder applies them at every step:

1. `grammar_mask` (tables.py): the tokens that may follow (the tokenizer's explicit grammar, see
   grammar.py), minus PAD and BOS always, minus EOS unless the caller allows an early end, minus
   any token that could not be completed within the tokens left (so a sample never ends inside a
   note or on a bare POS).
2. `filter_logits`: temperature divides the float32 logits (keras-hub's `compute_probabilities`:
   logits / T before softmax, never log(probs) / T), then top-k and top-p keep the likeliest tokens.
3. A stateless draw (Gumbel-max over `tf.random.stateless_uniform`) seeded with (seed, step): the
   same seed gives the same tokens, byte for byte.

`Decoder` runs all of that in one `tf.function` built once: one pass over the primer seeds the GRU
states, then one token per step is fed back while the states are carried (never re-running the
model over a window), with all samples as one batch.
"""


from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..core.errors import CheckpointError
from ..model.step import StepFunction, StepWeights
from .samplers import sample_tokens
from .tables import GrammarTables, advance_grammar, grammar_mask, scale_bias


# --------------------------------------------------------------------------- the decode loop
class Decoder:
    """Samples continuations of a token prefix, all samples as one batch, in one compiled loop.

    Build it once per model and call it as often as needed: the graph is traced on the first call
    only (every argument is a tensor of fixed signature, so new lengths, seeds or settings reuse it).

    Args:
        weights: from `StepWeights.from_model`.
        tables: from `GrammarTables.from_grammar(tokenizer.grammar)`.
        jit_compile: compile each step's body with XLA. Off by default: on a 2-core CPU it halves
            the time per token of one sample but costs seconds of compiling per batch size and is
            slower at 64 samples, and a `generate` command pays the compile every time (see
            benchmarks/generate_speed.py).
    """

    def __init__(self, weights: StepWeights, tables: GrammarTables, jit_compile: bool = False):
        if weights.vocab_size != tables.vocab_size:
            raise CheckpointError(
                f"model has {weights.vocab_size} tokens but the tokenizer {tables.vocab_size}"
            )
        self.step = StepFunction(weights)
        self.tables = tables
        self._is_pad = tf.constant(np.arange(tables.vocab_size) == tables.pad)[tf.newaxis, :]
        self._opens_group = tf.constant(tables.opens_group)[tf.newaxis, :]
        control = tables.is_control if tables.is_control is not None else np.zeros(tables.vocab_size, bool)
        self._is_control = tf.constant(control)[tf.newaxis, :]
        self._bar = int(np.flatnonzero(tables.is_bar)[0]) if tables.is_bar.any() else -1
        # XLA cannot compile the loop itself (its trip count and output size are data), but it
        # can fuse one step's few dozen small ops into a handful of kernels.
        self._sample_step = tf.function(self._sample_step_fn, jit_compile=True, autograph=False) if jit_compile \
            else self._sample_step_fn
        spec = tf.TensorSpec
        i32, none = tf.int32, [None]
        self._state_specs = (
            spec([], i32),  # t: tokens drawn so far
            spec(none, i32),  # cur: each row's last token
            tuple(spec([None, u], tf.float32) for u in weights.units),  # GRU states
            spec(none, i32), spec(none, i32),  # bar_steps, last_pos
            spec(none, tf.bool),  # done
            spec([None, None], i32),  # hist: prefix and tokens so far, per row
            spec([None, None], i32), spec([None, None], i32),  # bar_start, bar_meter
            spec(none, i32), spec(none, i32), spec(none, i32),  # n_bars, copy_pos, copy_end
            spec([None, 12], tf.float32),  # notes so far per pitch class (the scale penalty)
        )
        self._prime = tf.function(
            self._prime_fn,
            input_signature=[
                spec([None], i32),  # prefix, BOS first
                spec([], i32),  # bar_steps after the prefix
                spec([], i32),  # last_pos after the prefix
                spec([], i32),  # num_samples
                spec([], i32),  # length
                spec([], i32),  # plan width (bars)
                spec([None], i32),  # positions of the prefix's BAR tokens
                spec([None], i32),  # bar length in steps of each finished bar of the prefix
            ],
            autograph=False,
        )
        self._run = tf.function(
            self._run_fn,
            input_signature=[
                self._state_specs,
                spec([], i32),  # stop: draw until this many tokens (or every row ended)
                spec([], i32),  # n_prefix
                spec([], i32),  # length
                spec([None], tf.float32),  # temperature of every token id (per kind)
                spec([], i32),  # top_k
                spec([], tf.float32),  # top_p
                spec([], tf.int64),  # seed
                spec([], tf.bool),  # allow_end
                spec([], tf.bool),  # one note per onset (monophonic)
                spec([None, None], i32),  # form plan: bars back to copy, per row and bar (0: free)
                spec([], tf.float32),  # scale penalty (nats)
                spec([None], tf.bool),  # banned tokens (e.g. every TS once a meter is asked for)
                spec([None], i32),  # forced: the token to write at each step after the prefix (-1: draw)
            ],
            autograph=False,
        )
        self._pc_of = tf.constant(tables.pitch_classes)

    def generate(self, prefix, length, num_samples=1, temperature=1.0, top_k=0, top_p=1.0, seed=0,
                 allow_end=False, plan=None, monophonic=False, every=0, steer=None,
                 scale_penalty=0.0, banned=None, forced=None, until=None, check_every=0) -> np.ndarray:
        """Sample `length` tokens after `prefix` for each of `num_samples` rows.

        Args:
            prefix: token ids starting with BOS, a valid grammar prefix that ends outside a note.
            temperature: one for every token, or one per token id (e.g. from `kind_temperatures`):
                a token's logit is divided by its own temperature.
            seed: any int; the same seed, prefix and settings give the same tokens.
            allow_end: let a row end early with EOS (then padded with PAD).
            monophonic: at most one note starts at each onset (no chords), for a model of melodies.
            plan: optional int [num_samples, bars], a form plan per sample (see form.py): where
                plan[row, k] = L > 0, bar k (counted from the start of the piece, the prefix's
                bars included) is a copy of the row's own bar k - L, written verbatim (less a TS
                token: a repeat changes no meter) up to and including the BAR that closes it, when
                the whole bar fits in the tokens left and the row is in the meter that bar was
                written in. None or zeros: every token is sampled (the same tokens as
                without a plan).
            every, steer: every `every` tokens (0: never), `steer(tokens, done)` gets each row's
                new tokens so far (int32 [rows, t], PAD after an EOS) and which rows ended, and
                returns the row each row continues from (int [rows]): a row may be replaced by a
                copy of another, states, form plan and all (sequential Monte Carlo). Between
                calls every row draws independently, so copies part at once.
            banned: token ids never drawn (a form plan's copy still writes what it copies), unless
                a row could draw nothing else; None: none.
            forced: the first new tokens of every row, -1 where a token is drawn (e.g. a key drawn
                by the model, then the bar line and meter asked for: [-1, BAR, TS_3/4]); the
                caller keeps them grammatical. None: every token is drawn.
            scale_penalty: nats taken from the logit (before temperature) of every pitch outside
                the diatonic scale that holds most of the row's notes so far, primer included,
                once it has `SCALE_AFTER` notes (`scale_bias`); 0 changes nothing.
            until, check_every: every `check_every` tokens (0: never), `until(tokens, done)` gets
                what `steer` gets and returns which rows need no more tokens (bool [rows]); those
                end there (PAD after), and the loop stops once every row has. A row's tokens do not
                depend on when the others end, so this only saves the draws a caller would cut.
        Returns:
            int32 [num_samples, <= length]; shorter only if every row ended (allow_end).
        """
        prefix = np.asarray(prefix, np.int32).reshape(-1)
        tables = self.tables
        if prefix.size == 0 or prefix[0] != tables.bos:
            raise ValueError("prefix must start with BOS")
        bar_steps, last_pos = tables.default_bar_steps, -1
        meters = []  # the meter each bar of the prefix was in, recorded at the BAR that closes it
        for tok in prefix[1:]:  # the grammar state after the prefix (cheap, Python)
            if tables.is_ts[tok]:
                bar_steps, last_pos = int(tables.bar_steps_of[tok]), -1
            elif tables.is_bar[tok]:
                meters.append(bar_steps)
                last_pos = -1
            elif tables.position_of[tok] >= 0:
                last_pos = int(tables.position_of[tok])
        if plan is None:
            plan = np.zeros((int(num_samples), 1), np.int32)
        plan = np.asarray(plan, np.int32)
        if plan.ndim != 2 or plan.shape[0] != int(num_samples) or plan.shape[1] < 1 or (plan < 0).any():
            raise ValueError("plan must be a non-negative int array [num_samples, bars]")
        prefix_bars = np.flatnonzero(tables.is_bar[prefix]).astype(np.int32)
        prefix_meters = np.asarray(meters[1:], np.int32)  # the first BAR closes no bar
        temps = np.broadcast_to(np.asarray(temperature, np.float32), (tables.vocab_size,)).copy()
        if scale_penalty and (tables.pitch_classes < 0).all():
            raise ValueError("a scale penalty needs tables built with the vocabulary's pitch_low")
        seed = int(seed) % (2**63)
        length, n_prefix = int(length), int(prefix.size)
        state = self._prime(
            tf.constant(prefix), tf.constant(bar_steps, tf.int32), tf.constant(last_pos, tf.int32),
            tf.constant(int(num_samples), tf.int32), tf.constant(length, tf.int32),
            tf.constant(plan.shape[1], tf.int32), tf.constant(prefix_bars), tf.constant(prefix_meters),
        )
        fixed = (tf.constant(n_prefix, tf.int32), tf.constant(length, tf.int32), tf.constant(temps),
                 tf.constant(int(top_k), tf.int32), tf.constant(float(top_p), tf.float32),
                 tf.constant(seed, tf.int64), tf.constant(bool(allow_end)), tf.constant(bool(monophonic)))
        plan_t = tf.constant(plan)
        penalty = tf.constant(float(scale_penalty), tf.float32)
        ban = tf.constant(np.isin(np.arange(tables.vocab_size), np.asarray([] if banned is None else banned, np.int64)))
        force = tf.constant(np.asarray(forced if forced is not None and len(forced) else [-1], np.int32))
        step = int(every) if steer is not None and every and int(every) > 0 else length
        check = int(check_every) if until is not None and check_every and int(check_every) > 0 else length
        t = 0
        while True:
            stop = min((t // step + 1) * step, (t // check + 1) * check, length)
            state = self._run(state, tf.constant(stop, tf.int32), *fixed, plan_t, penalty, ban, force)
            t = int(state[0])
            if t < length and until is not None and t % check == 0 and not bool(tf.reduce_all(state[5])):
                enough = np.asarray(until(state[6][:, n_prefix:n_prefix + t].numpy(), state[5].numpy()), bool)
                state = state[:5] + (state[5] | tf.constant(enough.reshape(-1)),) + state[6:]
            ended = bool(tf.reduce_all(state[5]))
            if t >= length or ended:
                break
            if t % step:  # a check of `until`, not yet a time to steer
                continue
            rows = np.asarray(steer(state[6][:, n_prefix:n_prefix + t].numpy(), state[5].numpy()), np.int64)
            if rows.shape != (int(num_samples),) or (rows < 0).any() or (rows >= int(num_samples)).any():
                raise ValueError("steer must return one row index per row")
            index = tf.constant(rows)
            state = (state[0],) + tuple(tf.nest.map_structure(lambda x: tf.gather(x, index), s) for s in state[1:])
            plan_t = tf.gather(plan_t, index)
        return state[6][:, n_prefix:n_prefix + t].numpy()

    def _sample_step_fn(self, t, cur, states, bar_steps, last_pos, done, remaining, temperature, top_k, top_p,
                        seed, allow_end, monophonic, pc_counts, penalty, ban):
        """Read `cur` and draw the next token of every row (the grammar state is not advanced)."""
        tables = self.tables
        logits, states = self.step(cur, states)
        logits = tf.cast(logits, tf.float32)
        logits = tf.cond(penalty > 0, lambda: logits + scale_bias(tables, pc_counts, penalty), lambda: logits)
        mask = grammar_mask(tables, cur, bar_steps, last_pos, remaining=remaining, allow_end=allow_end)
        chord = (tf.gather(tf.constant(tables.in_note), cur)[:, tf.newaxis]
                 & tf.constant(tables.starts_note)[tf.newaxis, :])
        mask &= ~(chord & monophonic)  # after a note's PITCH, VEL or DUR a new PITCH would be a chord
        kept = mask & ~ban[tf.newaxis, :]
        mask = tf.where(tf.reduce_any(kept, axis=-1, keepdims=True), kept, mask)
        opening = mask & self._opens_group
        use_opening = tf.equal(t, 0) & tf.reduce_any(opening, axis=-1, keepdims=True)
        mask = tf.where(use_opening, opening, mask)
        mask = tf.where(done[:, tf.newaxis], self._is_pad, mask)  # finished rows: PAD, never an empty row
        step_seed = tf.stack([seed, tf.cast(t, tf.int64)])
        nxt = sample_tokens(logits, mask, step_seed, temperature, top_k, top_p)
        # a row whose only choices are KEY or STYLE tokens draws from the whole distribution: top-k
        # and top-p would cut its tail of rarer keys (most of them minor) and styles
        control = tf.reduce_all(~mask | self._is_control, axis=-1) & tf.reduce_any(mask, axis=-1)
        nxt = tf.cond(tf.reduce_any(control) & ((top_k > 0) | (top_p < 1.0)),
                      lambda: tf.where(control, sample_tokens(logits, mask, step_seed, temperature, 0, 1.0), nxt),
                      lambda: nxt)
        return tf.where(done, tables.pad, nxt), states

    def _prime_fn(self, prefix, bar_steps, last_pos, num_samples, length, width, prefix_bars, prefix_meters):
        """The loop's state before the first draw: GRU states after the prefix, and the form
        plans' bookkeeping."""
        step = self.step
        n_prefix = tf.shape(prefix)[0]

        # Seed the states with one pass over the primer (all but its last token, which the first
        # sampling step reads), at batch 1, then copy them for every sample.
        def read(i, states):
            _, states = step.advance(prefix[i][tf.newaxis], states)
            return i + 1, states

        _, states = tf.while_loop(lambda i, s: i < n_prefix - 1, read, (tf.constant(0), step.initial_states(1)))
        states = tuple(tf.tile(s, [num_samples, 1]) for s in states)

        # Form plans: every row's tokens so far (prefix included) and where each of its bars starts,
        # so a bar the plan marks as a repeat can be copied from the row's own earlier bar.
        hist = tf.tile(tf.pad(prefix, [[0, length]])[tf.newaxis, :], [num_samples, 1])
        n_pb = tf.minimum(tf.shape(prefix_bars)[0], width + 1)
        first_bars = tf.scatter_nd(tf.range(n_pb)[:, tf.newaxis], prefix_bars[:n_pb] + 1, [width + 1]) - 1
        bar_start = tf.tile(first_bars[tf.newaxis, :], [num_samples, 1])  # -1: not reached
        n_bars = tf.fill([num_samples], tf.shape(prefix_bars)[0])
        # the meter of every finished bar: a bar is copied only into the meter it was written in
        n_pm = tf.minimum(tf.shape(prefix_meters)[0], width + 1)
        bar_meter = tf.tile((tf.scatter_nd(tf.range(n_pm)[:, tf.newaxis], prefix_meters[:n_pm] + 1, [width + 1])
                             - 1)[tf.newaxis, :], [num_samples, 1])
        pcs = tf.gather(self._pc_of, prefix)
        counts = tf.reduce_sum(tf.one_hot(pcs, 12), axis=0)  # a -1 (not a pitch) is a row of zeros
        return (tf.constant(0), tf.fill([num_samples], prefix[n_prefix - 1]), states,
                tf.fill([num_samples], bar_steps), tf.fill([num_samples], last_pos),
                tf.zeros([num_samples], tf.bool), hist, bar_start, bar_meter, n_bars,
                tf.fill([num_samples], -1), tf.fill([num_samples], -1), tf.tile(counts[tf.newaxis, :], [num_samples, 1]))

    def _run_fn(self, state, stop, n_prefix, length, temperature, top_k, top_p, seed, allow_end, monophonic, plan,
                penalty, ban, force):
        """Draw tokens until `stop` tokens are drawn or every row ended; returns the new state."""
        tables = self.tables
        width = tf.shape(plan)[1]
        hist_len = n_prefix + length
        # a copied bar leaves out the source's meter change (a repeat changes no meter)
        skippable = tf.constant(tables.is_ts)

        def skip(pos, hist):
            at = tf.gather(hist, tf.clip_by_value(pos, 0, hist_len - 1), batch_dims=1)
            return tf.where((pos >= 0) & tf.gather(skippable, at), pos + 1, pos)

        def body(t, cur, states, bar_steps, last_pos, done, hist, bar_start, bar_meter, n_bars, copy_pos, copy_end,
                 pc_counts):
            nxt, states = self._sample_step(
                t, cur, states, bar_steps, last_pos, done, length - t, temperature, top_k, top_p, seed, allow_end,
                monophonic, pc_counts, penalty, ban
            )
            copying = (copy_pos >= 0) & ~done
            forced = tf.gather(hist, tf.maximum(copy_pos, 0), batch_dims=1)
            nxt = tf.where(copying, forced, nxt)
            given = tf.where(t < tf.shape(force)[0], force[tf.minimum(t, tf.shape(force)[0] - 1)], -1)
            nxt = tf.where((given >= 0) & ~done, given, nxt)
            copy_pos = skip(tf.where(copying & (copy_pos < copy_end), copy_pos + 1, -1), hist)
            col = n_prefix + t
            hist = tf.where(tf.equal(tf.range(hist_len), col)[tf.newaxis, :], nxt[:, tf.newaxis], hist)
            # bars: record where each starts, then ask the plan whether the new one is a copy
            is_bar = tf.equal(nxt, self._bar) & ~done
            k = n_bars
            here = tf.equal(tf.range(width + 1)[tf.newaxis, :], k[:, tf.newaxis]) & is_bar[:, tf.newaxis]
            bar_start = tf.where(here, col, bar_start)
            ended = tf.equal(tf.range(width + 1)[tf.newaxis, :], (k - 1)[:, tf.newaxis]) & is_bar[:, tf.newaxis]
            bar_meter = tf.where(ended, bar_steps[:, tf.newaxis], bar_meter)  # the bar this BAR closes
            n_bars = n_bars + tf.cast(is_bar, tf.int32)
            lag = tf.where(k < width, tf.gather(plan, tf.minimum(k, width - 1), batch_dims=1), 0)
            src = k - lag
            src_c = tf.clip_by_value(src, 0, width)
            s_start = tf.gather(bar_start, src_c, batch_dims=1)
            s_end = tf.gather(bar_start, tf.minimum(src_c + 1, width), batch_dims=1)
            same_meter = tf.equal(tf.gather(bar_meter, src_c, batch_dims=1), bar_steps)
            start_copy = (is_bar & (copy_pos < 0) & (lag > 0) & (src >= 0) & (s_start >= 0) & (s_end > s_start)
                          & same_meter & (s_end - s_start <= length - t - 1))
            copy_pos = tf.where(start_copy, skip(s_start + 1, hist), copy_pos)
            copy_end = tf.where(start_copy, s_end, copy_end)
            bar_steps, last_pos = advance_grammar(tables, nxt, bar_steps, last_pos)
            done = done | tf.equal(nxt, tables.eos)
            pc_counts = pc_counts + tf.one_hot(tf.gather(self._pc_of, nxt), 12)
            return (t + 1, nxt, states, bar_steps, last_pos, done, hist, bar_start, bar_meter, n_bars, copy_pos,
                    copy_end, pc_counts)

        def cond(t, cur, states, bar_steps, last_pos, done, *rest):
            return (t < stop) & ~tf.reduce_all(done)

        return tf.while_loop(cond, body, tuple(state))
