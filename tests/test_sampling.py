"""Samplers as pure functions on fixed logits, the grammar mask against grammar.py, and the
compiled decoder (state carrying, grammar, seeds) on small random weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from melodygru.core.events import Note, Piece
from melodygru.generation.decoder import (
    Decoder,
    GrammarTables,
    advance_grammar,
    grammar_mask,
    scale_bias,
)
from melodygru.generation.samplers import (
    compute_probabilities,
    filter_logits,
    sample_tokens,
    scale_logits,
    top_k_filter,
    top_p_filter,
)
from melodygru.model.step import StepFunction, StepWeights
from melodygru.tokens.config import TokenizerConfig
from melodygru.tokens.tokenizer import Tokenizer

CONFIGS = [
    TokenizerConfig(),
    TokenizerConfig(velocity_bins=0, steps_per_quarter=4, max_bar_quarters=6),
    TokenizerConfig(programs=True, drums=True, velocity_bins=4),
    TokenizerConfig(shared_durations=True, programs=True, velocity_bins=0),
]


def kept(logits) -> list[set[int]]:
    return [set(np.flatnonzero(np.isfinite(row)).tolist()) for row in np.asarray(logits)]


# --------------------------------------------------------------------------- temperature
def test_temperature_divides_float32_logits():
    logits = np.array([[1.0, 2.0, 4.0]], np.float32)
    probs = compute_probabilities(logits, 2.0).numpy()
    expected = np.exp(logits / 2) / np.exp(logits / 2).sum()
    np.testing.assert_allclose(probs, expected, rtol=1e-6)
    assert compute_probabilities(tf.constant(logits, tf.float16), 1.0).dtype == tf.float32


def test_temperature_zero_limit_is_argmax():
    logits = np.array([[0.3, 2.0, 1.9, -1.0], [5.0, -2.0, 4.99, 0.0]], np.float32)
    for t in (1e-3, 1e-5, 1e-8):  # a gap of 0.01 in logits is e^10 in odds at t=1e-3
        probs = compute_probabilities(logits, t).numpy()
        np.testing.assert_allclose(probs.max(axis=1), 1.0, atol=1e-4)
        assert probs.argmax(axis=1).tolist() == [1, 0]
        assert np.isfinite(probs).all()
    greedy = scale_logits(logits, 0.0).numpy()
    assert kept(greedy) == [{1}, {0}]
    drawn = sample_tokens(logits, np.ones_like(logits, bool), tf.constant([1, 2], tf.int64), temperature=0.0)
    assert drawn.numpy().tolist() == [1, 0]


# --------------------------------------------------------------------------- top-k / top-p
def test_top_k_keeps_k():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 30)).astype(np.float32)
    for k in (1, 3, 29):
        out = top_k_filter(logits, k).numpy()
        for row, keep in zip(logits, kept(out)):
            assert keep == set(np.argsort(-row)[:k].tolist())
        np.testing.assert_array_equal(out[np.isfinite(out)], logits[np.isfinite(out)])  # kept logits unchanged
    assert kept(top_k_filter(logits, 0)) == [set(range(30))] * 5  # 0: off
    assert kept(top_k_filter(logits, 500)) == [set(range(30))] * 5  # more than the vocabulary


def _nucleus(row: np.ndarray, p: float) -> set[int]:
    order = np.argsort(-row)
    probs = np.exp(row[order] - row.max())
    probs /= probs.sum()
    n = int(np.searchsorted(np.cumsum(probs), p - 1e-7) + 1)  # smallest n with cumsum >= p
    return set(order[:n].tolist())


def test_top_p_keeps_smallest_set_over_p():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]], np.float32))
    assert kept(top_p_filter(logits, 0.5)) == [{0}]
    assert kept(top_p_filter(logits, 0.6)) == [{0, 1}]
    assert kept(top_p_filter(logits, 0.8)) == [{0, 1}]
    assert kept(top_p_filter(logits, 0.81)) == [{0, 1, 2}]
    assert kept(top_p_filter(logits, 1.0)) == [{0, 1, 2, 3}]
    assert kept(top_p_filter(logits, 1e-6)) == [{0}]  # the likeliest token always stays
    rng = np.random.default_rng(1)
    many = rng.normal(scale=2, size=(20, 50)).astype(np.float32)
    for p in (0.1, 0.5, 0.9, 0.99):
        assert kept(top_p_filter(many, p)) == [_nucleus(row, p) for row in many]


def test_top_k_then_top_p_and_masked_tokens():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(10, 40)).astype(np.float32)
    logits[:, ::3] = -np.inf  # already excluded by the grammar
    for k, p in [(5, 0.7), (12, 0.95), (0, 0.9), (8, 1.0)]:
        out = filter_logits(logits, k, p).numpy()
        step1 = top_k_filter(logits, k).numpy()
        expected = [_nucleus(row, p) & keep for row, keep in zip(step1, kept(step1))]
        assert kept(out) == expected
        for keep in kept(out):
            assert not any(i % 3 == 0 for i in keep)


def test_sampler_with_fixed_one_hot_logits():
    """keras-hub's style: a fake 'next logits' that puts all mass on one token."""
    vocab = 12
    logits = np.full((4, vocab), -1e4, np.float32)
    logits[np.arange(4), [3, 7, 0, 11]] = 0.0
    mask = np.ones((4, vocab), bool)
    for k, p in [(0, 1.0), (1, 1.0), (5, 0.5)]:
        drawn = sample_tokens(logits, mask, tf.constant([7, 0], tf.int64), 1.0, k, p).numpy()
        assert drawn.tolist() == [3, 7, 0, 11]
    mask[0, 3] = False  # the mask wins over the logits
    drawn = sample_tokens(logits, mask, tf.constant([7, 0], tf.int64)).numpy()
    assert drawn[0] != 3


def test_sampling_follows_softmax_and_seeds():
    probs = np.array([0.6, 0.25, 0.1, 0.05], np.float32)
    logits = np.tile(np.log(probs), (20000, 1))
    mask = np.ones_like(logits, bool)
    seed = tf.constant([42, 3], tf.int64)
    a = sample_tokens(logits, mask, seed).numpy()
    freq = np.bincount(a, minlength=4) / len(a)
    np.testing.assert_allclose(freq, probs, atol=0.015)
    np.testing.assert_array_equal(a, sample_tokens(logits, mask, seed).numpy())  # same seed, same draw
    assert (a != sample_tokens(logits, mask, tf.constant([42, 4], tf.int64)).numpy()).any()
    hot = sample_tokens(logits, mask, seed, temperature=0.5).numpy()
    assert (hot == 0).mean() > freq[0] + 0.1  # a lower temperature sharpens


# --------------------------------------------------------------------------- grammar mask
def _random_walks(tokenizer: Tokenizer, rng, walks=6, steps=150):
    """Random valid prefixes (grammar.allowed drives them), with the grammar state before each token."""
    g = tokenizer.grammar
    states, tokens = [], []
    for _ in range(walks):
        state = g.initial_state()
        for _ in range(steps):
            allowed = np.flatnonzero(g.allowed(state))
            allowed = allowed[(allowed != tokenizer.eos) & (allowed != tokenizer.pad)]
            tok = int(rng.choice(allowed))
            states.append(state)
            tokens.append(tok)
            state = g.advance(state, tok)
    return states, tokens


@pytest.mark.parametrize("config", CONFIGS, ids=["default", "coarse", "programs", "shared"])
def test_tf_mask_equals_grammar_allowed(config):
    tokenizer = Tokenizer(config)
    g = tokenizer.grammar
    tables = GrammarTables.from_grammar(g)
    states, tokens = _random_walks(tokenizer, np.random.default_rng(3))
    prev = np.array([s.prev for s in states], np.int32)
    bar_steps = np.array([s.bar_steps for s in states], np.int32)
    last_pos = np.array([s.last_pos for s in states], np.int32)
    mask = grammar_mask(tables, prev, bar_steps, last_pos).numpy()
    for row, state in zip(mask, states):
        expected = g.allowed(state)
        expected[[tokenizer.pad, tokenizer.bos]] = False
        np.testing.assert_array_equal(row, expected)
    no_end = grammar_mask(tables, prev, bar_steps, last_pos, allow_end=False).numpy()
    assert not no_end[:, tokenizer.eos].any()
    # the state update matches Grammar.advance
    new_steps, new_pos = advance_grammar(tables, np.array(tokens, np.int32), bar_steps, last_pos)
    after = [g.advance(s, t) for s, t in zip(states, tokens)]
    assert new_steps.numpy().tolist() == [s.bar_steps for s in after]
    assert new_pos.numpy().tolist() == [s.last_pos for s in after]


def test_finish_cost_keeps_notes_whole():
    tok = Tokenizer()  # PITCH VEL DUR
    cost = GrammarTables.from_grammar(tok.grammar).finish_cost
    assert cost[tok.index["PITCH_60"]] == 2
    assert cost[tok.index["VEL_3"]] == 1
    assert cost[tok.index["DUR_1"]] == 0 and cost[tok.bar] == 0 and cost[tok.index["TEMPO_3"]] == 0
    assert cost[tok.index["POS_0"]] == 1  # a POS needs its TEMPO (or PITCH VEL DUR) before an end
    tok = Tokenizer(TokenizerConfig(programs=True, velocity_bins=0))  # PROGRAM PITCH DUR
    cost = GrammarTables.from_grammar(tok.grammar).finish_cost
    assert cost[tok.index["PROGRAM_5"]] == 2 and cost[tok.index["PITCH_60"]] == 1


# --------------------------------------------------------------------------- step and decoder
def random_weights(vocab: int, units=(16, 12), dim=8, seed=0) -> StepWeights:
    rng = np.random.default_rng(seed)
    grus, width = [], dim
    for u in units:
        grus.append((rng.normal(0, 0.5, (width, 3 * u)).astype(np.float32),
                     rng.normal(0, 0.5, (u, 3 * u)).astype(np.float32),
                     rng.normal(0, 0.1, 3 * u).astype(np.float32),
                     rng.normal(0, 0.1, 3 * u).astype(np.float32)))
        width = u
    return StepWeights(rng.normal(0, 1, (vocab, dim)).astype(np.float32), grus,
                       rng.normal(0, 1, (width, vocab)).astype(np.float32), np.zeros(vocab, np.float32))


@pytest.fixture(scope="module")
def keras_model():
    from melodygru.model.network import ModelConfig, build_model

    tokenizer = Tokenizer()
    model = build_model(ModelConfig(vocab_size=len(tokenizer), layers=2, units=24, embedding_dim=16, dropout=0.1))
    rng = np.random.default_rng(5)
    for w in model.weights:  # non-zero biases too, so the reset_after bias split is exercised
        w.assign(rng.normal(0, 0.3, w.shape).astype(np.float32))
    return tokenizer, model


def test_step_matches_full_model(keras_model):
    _, model = keras_model
    weights = StepWeights.from_model(model)
    step = StepFunction(weights)
    tokens = np.random.default_rng(6).integers(0, weights.vocab_size, size=(3, 25)).astype(np.int32)
    full = model(tokens, training=False).numpy()
    states = step.initial_states(3)
    outs = []
    for t in range(tokens.shape[1]):
        logits, states = step(tf.constant(tokens[:, t]), states)
        outs.append(logits.numpy())
    np.testing.assert_allclose(np.stack(outs, axis=1), full, rtol=1e-4, atol=1e-4)


def _reference_greedy(tokenizer, model, prefix, length):
    """Greedy decoding the slow way: re-run the full model over the whole sequence every step."""
    tables = GrammarTables.from_grammar(tokenizer.grammar)
    full = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec([1, None], tf.int32)])
    seq = list(prefix)
    state = tokenizer.grammar.state_after(seq)
    for t in range(length):
        logits = full(np.array([seq], np.int32)).numpy()[0, -1]
        allowed = tokenizer.grammar.allowed(state)
        allowed[[tokenizer.pad, tokenizer.bos, tokenizer.eos]] = False
        allowed &= tables.finish_cost <= length - t - 1
        if t == 0 and (allowed & tables.opens_group).any():
            allowed &= tables.opens_group
        tok = int(np.argmax(np.where(allowed, logits, -np.inf)))
        seq.append(tok)
        state = tokenizer.grammar.advance(state, tok)
    return seq[len(prefix):]


def test_decoder_carries_state_like_the_full_model(keras_model):
    tokenizer, model = keras_model
    decoder = Decoder(StepWeights.from_model(model), GrammarTables.from_grammar(tokenizer.grammar))
    prefix = [tokenizer.bos, tokenizer.bar, tokenizer.index["TS_3/4"], tokenizer.index["POS_0"],
              tokenizer.index["PITCH_60"], tokenizer.index["VEL_5"], tokenizer.index["DUR_12"]]
    got = decoder.generate(prefix, 20, num_samples=2, temperature=0.0)
    expected = _reference_greedy(tokenizer, model, prefix, 20)
    assert got.tolist() == [expected, expected]


@pytest.fixture(scope="module")
def decoder():
    tokenizer = Tokenizer()
    return tokenizer, Decoder(random_weights(len(tokenizer)), GrammarTables.from_grammar(tokenizer.grammar))


def test_every_sample_is_valid_music(decoder):
    tokenizer, dec = decoder
    for length, settings in [(200, {}), (37, {"temperature": 1.5}), (101, {"top_k": 5, "top_p": 0.9}),
                             (3, {}), (1, {})]:
        out = dec.generate([tokenizer.bos], length, num_samples=8, seed=11, **settings)
        assert out.shape == (8, length)
        for row in out:
            ids = np.concatenate([[tokenizer.bos], row])
            assert tokenizer.eos not in row and tokenizer.pad not in row and tokenizer.bos not in row
            piece = tokenizer.decode(ids, strict=True)  # raises on any grammar violation
            assert piece.stats["incomplete_notes"] == 0


def test_samples_with_shared_durations_are_whole_chords():
    tokenizer = Tokenizer(TokenizerConfig(shared_durations=True))
    weights = random_weights(len(tokenizer), seed=4)
    weights.dense_bias[tokenizer.pitch_offset:tokenizer.pitch_offset + 88] += 3.0  # chords, and long ones
    dec = Decoder(weights, GrammarTables.from_grammar(tokenizer.grammar))
    out = dec.generate([tokenizer.bos], 300, num_samples=6, seed=2)
    shared = 0
    for row in out:
        piece = tokenizer.decode(np.concatenate([[tokenizer.bos], row]), strict=True)
        assert piece.stats["incomplete_notes"] == 0 and piece.notes
        kinds = [tokenizer.kind_of(t) for t in row]
        shared += sum(a == "VEL" and b == "PITCH" for a, b in zip(kinds, kinds[1:]))
    assert shared > 0  # the sampler did write notes that share the next note's duration


def test_a_sample_cut_at_any_length_never_ends_on_a_pos():
    """POS needs a TEMPO or a note after it (grammar.py), so a sample stopped by its length must not
    end on one: BOS + sample + EOS is a whole sequence at every length."""
    tokenizer = Tokenizer()
    weights = random_weights(len(tokenizer), seed=7)
    is_pos = tokenizer.grammar.position_of >= 0
    weights.dense_bias[is_pos] += 30.0  # the model would open an onset wherever it may
    dec = Decoder(weights, GrammarTables.from_grammar(tokenizer.grammar))
    primer = tokenizer.encode(Piece([Note(0.0, 1.0, 64), Note(1.0, 0.5, 65)]))[:-1]  # ends on a DUR
    ends = set()
    for prefix in ([tokenizer.bos], primer):
        for length in range(1, 25):
            for allow_end in (False, True):
                out = dec.generate(prefix, length, num_samples=4, seed=length, allow_end=allow_end)
                for row in out:
                    full = np.concatenate([prefix, row[row != tokenizer.pad]])
                    if full[-1] != tokenizer.eos:
                        full = np.append(full, tokenizer.eos)  # what a finished sample must allow
                    last = tokenizer.kind_of(full[-2])
                    assert last != "POS", (length, allow_end, row)
                    assert tokenizer.grammar.is_valid(full), (length, allow_end, row)
                    ends.add(last)
    assert "TEMPO" in ends  # the cut still falls right after an onset's tempo (POS TEMPO is whole)


def test_decoder_is_seeded(decoder):
    tokenizer, dec = decoder
    a = dec.generate([tokenizer.bos], 64, num_samples=4, seed=123)
    np.testing.assert_array_equal(a, dec.generate([tokenizer.bos], 64, num_samples=4, seed=123))
    assert (a != dec.generate([tokenizer.bos], 64, num_samples=4, seed=124)).any()
    assert len({tuple(r) for r in a}) == 4  # the rows of a batch are independent draws


def test_steering_copies_rows_and_changes_nothing_else(decoder):
    """`steer` is called every `every` tokens with the tokens so far; returning each row's own index
    changes nothing, and returning row 0 for every row makes every row continue row 0's piece
    (same tokens up to that point, then drawn apart again)."""
    tokenizer, dec = decoder
    plain = dec.generate([tokenizer.bos], 60, num_samples=4, seed=5)
    seen = []

    def same(tokens, done):
        seen.append(tokens.shape)
        return np.arange(len(tokens))

    np.testing.assert_array_equal(dec.generate([tokenizer.bos], 60, num_samples=4, seed=5, every=16, steer=same), plain)
    assert seen == [(4, 16), (4, 32), (4, 48)]
    steered = dec.generate([tokenizer.bos], 60, num_samples=4, seed=5, every=16, steer=lambda t, d: np.zeros(len(t), int))
    assert (steered[:, :16] == plain[0, :16]).all()  # every row now starts as row 0 did
    assert len({tuple(r) for r in steered}) == 4  # and went on as four different pieces
    for row in steered:
        piece = tokenizer.decode(np.concatenate([[tokenizer.bos], row]), strict=True)
        assert piece.stats["incomplete_notes"] == 0
    with pytest.raises(ValueError, match="one row index per row"):
        dec.generate([tokenizer.bos], 40, num_samples=4, seed=5, every=16, steer=lambda t, d: [0])


def test_steering_keeps_form_plans_and_scale_counts_with_their_rows():
    """With a form plan and a scale penalty, an identity steer changes nothing, and a row copied
    from another goes on copying that row's bars (its plan and bar bookkeeping travel with it)."""
    tokenizer = Tokenizer()
    tables = GrammarTables.from_grammar(tokenizer.grammar, pitch_low=tokenizer.config.pitch_low)
    dec = Decoder(random_weights(len(tokenizer), seed=9), tables)
    plan = np.zeros((4, 40), np.int32)
    plan[0, 2:] = 1  # row 0 repeats every bar from the third on; the others are free
    kw = dict(num_samples=4, seed=3, plan=plan, scale_penalty=3.0)
    plain = dec.generate([tokenizer.bos], 240, **kw)
    np.testing.assert_array_equal(dec.generate([tokenizer.bos], 240, every=40, steer=lambda t, d: np.arange(len(t)), **kw),
                                  plain)
    copied = dec.generate([tokenizer.bos], 240, every=40, steer=lambda t, d: np.zeros(len(t), int), **kw)

    def bars(row):
        ids = [int(t) for t in row]
        cuts = [i for i, t in enumerate(ids) if t == tokenizer.bar]
        return [tuple(ids[a:b]) for a, b in zip(cuts, cuts[1:])]

    for row in copied:  # every row now carries row 0's plan: its later bars repeat the bar before
        b = bars(row)
        assert len(b) > 4 and all(b[k] == b[k - 1] for k in range(3, len(b) - 1))


def test_scale_penalty_keeps_new_notes_in_the_primers_scale():
    tokenizer = Tokenizer()
    tables = GrammarTables.from_grammar(tokenizer.grammar, pitch_low=tokenizer.config.pitch_low)
    weights = random_weights(len(tokenizer), seed=6)
    weights.dense_bias[tokenizer.pitch_offset:tokenizer.pitch_offset + 88] += 2.0  # plenty of notes
    dec = Decoder(weights, tables)
    c_major = [60, 62, 64, 65, 67, 69, 71, 72]
    ids = tokenizer.encode(Piece([Note(i * 0.5, 0.5, p) for i, p in enumerate(c_major)]))[:-1]

    def outside(out):
        pitches = [tokenizer.decode(np.concatenate([ids, row])).notes[8:] for row in out]
        pcs = [n.pitch % 12 for notes in pitches for n in notes]
        assert len(pcs) > 100
        return np.mean([pc not in (0, 2, 4, 5, 7, 9, 11) for pc in pcs])

    free = dec.generate(ids, 200, num_samples=6, seed=1)
    np.testing.assert_array_equal(free, dec.generate(ids, 200, num_samples=6, seed=1, scale_penalty=0.0))
    assert outside(free) > 0.3  # a random model wanders off the scale ...
    assert outside(dec.generate(ids, 200, num_samples=6, seed=1, scale_penalty=12.0)) < 0.02  # ... unless kept in it
    # a pentatonic opening (G A B D E) fits G, C and D major alike: none of their notes is penalised
    tables_pc = tables.pitch_class_of
    counts = np.zeros((1, 12), np.float32)
    counts[0, [7, 9, 11, 2, 4]] = 2.0
    bias = scale_bias(tables, tf.constant(counts), 5.0).numpy()[0]
    free = {int(tables_pc[i]) for i in np.flatnonzero(tables_pc >= 0) if bias[i] == 0.0}
    assert free == {7, 9, 11, 2, 4, 0, 5, 6, 1}  # the tune's own, C and F (C major), F# (G, D) and C# (D major)
    assert (bias[(tables_pc >= 0) & ~np.isin(tables_pc, list(free))] == -5.0).all()
    plain = Decoder(weights, GrammarTables.from_grammar(tokenizer.grammar))  # no pitch classes known
    with pytest.raises(ValueError, match="pitch_low"):
        plain.generate(ids, 10, scale_penalty=1.0)


def test_decoder_continues_a_prefix(decoder):
    tokenizer, dec = decoder
    primer = [Note(i * 0.5, 0.5, 60 + i) for i in range(10)]  # eighths from C4, the last at beat 4.5
    ids = tokenizer.encode(Piece(primer))[:-1]  # no EOS
    out = dec.generate(ids, 50, num_samples=3, seed=1)
    assert out.shape == (3, 50)
    continuations = set()
    for row in out:
        piece = tokenizer.decode(np.concatenate([ids, row]), strict=True)
        assert piece.stats == {"skipped_tokens": 0, "incomplete_notes": 0}
        notes = sorted(piece.notes, key=lambda n: (n.onset, n.pitch))
        # the primer's notes come back first and unchanged, then one new note per sampled PITCH,
        # every one after the primer's last onset (that onset gets no extra notes)
        assert [(n.onset, n.duration, n.pitch) for n in notes[:10]] == [(n.onset, n.duration, n.pitch) for n in primer]
        new = notes[10:]
        assert len(new) == sum(tokenizer.kind_of(t) == "PITCH" for t in row) > 0
        assert all(n.onset > 4.5 for n in new)
        continuations.add(tuple((n.onset, n.duration, n.pitch) for n in new))
    assert len(continuations) == 3  # three different continuations of one primer


def test_prefix_last_onset_gets_no_extra_notes():
    tokenizer = Tokenizer()
    weights = random_weights(len(tokenizer), seed=3)
    weights.dense_bias[tokenizer.index["PITCH_60"]] = 30.0  # the model would love another note here
    dec = Decoder(weights, GrammarTables.from_grammar(tokenizer.grammar))
    ids = tokenizer.encode(Piece([Note(0.0, 1.0, 64), Note(1.0, 1.0, 65)]))[:-1]
    out = dec.generate(ids, 10, num_samples=4, seed=0)
    assert {tokenizer.kind_of(t) for t in out[:, 0]} <= {"BAR", "POS"}
    assert tokenizer.kind_of(out[0, 1]) == "PITCH" or tokenizer.kind_of(out[0, 0]) == "BAR"  # then notes may come


def test_allow_end_stops_and_pads():
    tokenizer = Tokenizer()
    weights = random_weights(len(tokenizer), seed=2)
    weights.dense_bias[tokenizer.eos] = 30.0  # the model wants to end as soon as it may
    dec = Decoder(weights, GrammarTables.from_grammar(tokenizer.grammar))
    out = dec.generate([tokenizer.bos], 100, num_samples=3, seed=0, allow_end=True)
    assert out.shape[1] < 100  # every row ended, so the loop stopped early
    for row in out:
        end = int(np.flatnonzero(row == tokenizer.eos)[0])
        assert (row[end + 1:] == tokenizer.pad).all()
        tokenizer.decode(np.concatenate([[tokenizer.bos], row]), strict=True)
    held = dec.generate([tokenizer.bos], 100, num_samples=3, seed=0, allow_end=False)
    assert held.shape == (3, 100) and tokenizer.eos not in held


def test_step_weights_refuse_other_models():
    from melodygru.core.errors import CheckpointError

    inp = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 4)(inp)
    x = keras.layers.LSTM(8, return_sequences=True)(x)
    lstm = keras.Model(inp, keras.layers.Dense(10)(x))
    with pytest.raises(CheckpointError, match="LSTM"):
        StepWeights.from_model(lstm)
    x = keras.layers.GRU(8, return_sequences=True, reset_after=False)(keras.layers.Embedding(10, 4)(inp))
    with pytest.raises(CheckpointError, match="reset_after"):
        StepWeights.from_model(keras.Model(inp, keras.layers.Dense(10)(x)))
    x = keras.layers.GRU(8, return_sequences=True)(keras.layers.Embedding(10, 4)(inp))
    with pytest.raises(CheckpointError, match="logits"):
        StepWeights.from_model(keras.Model(inp, keras.layers.Dense(10, activation="softmax")(x)))
