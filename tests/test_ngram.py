"""The count-based baselines: known limits, exact normalisation, and speed at corpus scale."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from melodygru.ngram import NGramModel, UnigramModel


def per_token(model, seqs) -> float:
    return model.nll(seqs) / sum(len(s) - 1 for s in seqs)


@pytest.mark.parametrize("order", [2, 3, 5])
def test_a_deterministic_sequence_costs_almost_nothing(order):
    seq = np.tile(np.arange(12), 60)
    lm = NGramModel(order, 20).fit([seq])
    assert per_token(lm, [seq]) < 0.05
    # and the next token is the certain one
    assert lm.distribution(seq[:30]).argmax() == seq[30]


def test_a_uniform_random_sequence_costs_log_v():
    rng = np.random.default_rng(0)
    V = 16
    lm = NGramModel(3, V).fit([rng.integers(0, V, 40_000)])
    nll = per_token(lm, [rng.integers(0, V, 5_000)])
    assert abs(nll - math.log(V)) < 0.08


def test_higher_orders_learn_a_markov_chain_the_unigram_cannot():
    rng = np.random.default_rng(1)
    V = 10
    seq = [0]
    for _ in range(20_000):  # next token = previous + 1 or + 2 (mod V): 1 bit per token
        seq.append((seq[-1] + 1 + rng.integers(0, 2)) % V)
    seq = np.array(seq)
    train, test = seq[:15_000], seq[15_000:]
    bigram = per_token(NGramModel(2, V).fit([train]), [test])
    unigram = per_token(UnigramModel(V).fit([train]), [test])
    assert abs(bigram - math.log(2)) < 0.03
    assert abs(unigram - math.log(V)) < 0.03


@pytest.mark.parametrize("order", [1, 2, 3, 4, 6])
def test_probabilities_over_the_vocabulary_sum_to_one(order):
    rng = np.random.default_rng(order)
    V = 30
    # a skewed corpus that never uses ids 25..29, so unseen tokens and unseen contexts occur
    train = [np.concatenate([[1], rng.integers(2, 25, rng.integers(1, 80)) % (5 + i % 20) + 2]) for i in range(40)]
    lm = NGramModel(order, V).fit(train)
    for _ in range(50):
        context = rng.integers(0, V, rng.integers(0, order + 2))
        p = lm.distribution(context)
        assert p.shape == (V,)
        assert abs(p.sum() - 1.0) < 1e-9
        assert (p > 0).all()
    # seen contexts, too
    for s in train[:10]:
        for t in range(1, min(len(s), 8)):
            assert abs(lm.distribution(s[:t]).sum() - 1.0) < 1e-9


def test_scoring_a_sequence_agrees_with_the_distribution_of_each_context():
    rng = np.random.default_rng(3)
    V = 12
    train = [np.concatenate([[0], rng.integers(1, V, 60)]) for _ in range(20)]
    lm = NGramModel(4, V).fit(train)
    seq = np.concatenate([[0], rng.integers(1, V, 30)])
    expected = [math.log(lm.distribution(seq[:t])[seq[t]]) for t in range(1, len(seq))]
    np.testing.assert_allclose(lm.token_log_probs(seq), expected, rtol=1e-10)


def test_unigram_is_add_one_over_predicted_tokens():
    V = 5
    lm = UnigramModel(V).fit([np.array([0, 1, 1, 2]), np.array([0, 1])])  # first tokens are given
    counts = np.array([0, 3, 1, 0, 0])
    np.testing.assert_allclose(lm.distribution(), (counts + 1) / (4 + V))
    assert abs(lm.nll([np.array([0, 3])]) - math.log(9)) < 1e-12


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        NGramModel(3, 5).fit([np.array([0, 7])])
    with pytest.raises(ValueError):
        NGramModel(3, 5).fit([])
    with pytest.raises(ValueError):
        NGramModel(3, 5).nll([np.array([0, 1])])  # not fitted
    with pytest.raises(ValueError):
        NGramModel(8, 300_000)  # keys would overflow int64


def test_fits_half_a_million_tokens_quickly():
    rng = np.random.default_rng(4)
    V = 346
    # music-like skew: a few hundred distinct tokens with Zipf frequencies, in pieces of ~1000
    probs = 1.0 / np.arange(1, V + 1)
    pieces = [rng.choice(V, 1000, p=probs / probs.sum()) for _ in range(500)]
    start = time.perf_counter()
    lm = NGramModel(6, V).fit(pieces)
    lm.nll(pieces[:50])
    assert time.perf_counter() - start < 15
