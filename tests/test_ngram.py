"""The count-based baselines: known limits, exact normalisation, a Kneser-Ney probability counted by
hand, and correctness at corpus scale (speed: benchmarks/ngram_speed.py)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from melodygru.evaluation.ngram import NGramModel, UnigramModel


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


def test_kneser_ney_probabilities_computed_by_hand():
    """Interpolated modified Kneser-Ney on a corpus small enough to count by hand.

    Token 2 follows only token 1 ("Francisco" after "San") but is frequent; token 4 is rarer but
    follows three different tokens. Kneser-Ney's lower order counts the distinct predecessors, so it
    ranks 4 above 2 where it backs off; absolute discounting (raw counts) would rank 2 above 4.
    """
    corpus = [[0, 1, 2]] * 4 + [[0, 5, 3, 5], [0, 5, 4, 4], [0, 3, 4, 3], [0, 3, 3, 5], [0, 3, 5, 3]]
    V = 6
    lm = NGramModel(2, V).fit([np.array(s) for s in corpus])

    def discounts(n1, n2, n3, n4):  # Chen & Goodman: D1, D2, D3+ from the count-of-counts
        y = n1 / (n1 + 2 * n2)
        return {1: 1 - 2 * y * n2 / n1, 2: 2 - 3 * y * n3 / n2, 3: 3 - 4 * y * n4 / n3}

    def D(d, count):
        return d[min(count, 3)]

    # unigram level: continuation counts N1+(. w), distinct tokens seen before w; BOS (0) has
    # none, but starts all 9 sequences, and a sequence start counts as raw
    cont = {0: 9, 1: 1, 2: 1, 3: 4, 4: 3, 5: 2}  # 3 after {0,3,4,5}, 4 after {3,4,5}, 5 after {0,3}
    d1 = discounts(n1=2, n2=1, n3=1, n4=1)  # 0.5, 0.5, 1.0
    total1 = sum(cont.values())  # 20
    gamma1 = sum(D(d1, c) for c in cont.values())  # 4.5: the mass given to the uniform 1/V
    p1 = np.array([(cont[w] - D(d1, cont[w]) + gamma1 / V) / total1 for w in range(V)])
    np.testing.assert_allclose(p1, [8.75 / 20, 1.25 / 20, 1.25 / 20, 3.75 / 20, 2.75 / 20, 2.25 / 20])

    # bigram level, raw counts: (0,1) 4, (1,2) 4, (0,3) 3, (3,5) 3, (0,5) 2, (5,3) 2, and
    # (5,4) (4,4) (3,4) (4,3) (3,3) once each: n1..n4 = 5, 2, 2, 2
    d2 = discounts(n1=5, n2=2, n3=2, n4=2)  # 5/9, 1/3, 7/9
    after_5 = {3: 2, 4: 1}  # context 5 is followed 3 times
    kept_5 = {w: c - D(d2, c) for w, c in after_5.items()}
    gamma5 = sum(D(d2, c) for c in after_5.values())  # 1/3 + 5/9
    p_after_5 = np.array([(kept_5.get(w, 0.0) + gamma5 * p1[w]) / 3 for w in range(V)])
    after_0 = {1: 4, 3: 3, 5: 2}  # BOS is followed 9 times
    gamma0 = sum(D(d2, c) for c in after_0.values())  # 7/9 + 7/9 + 1/3
    p_5_after_0 = (2 - D(d2, 2) + gamma0 * p1[5]) / 9
    assert abs(p_after_5.sum() - 1) < 1e-12

    np.testing.assert_allclose(lm.distribution([0, 5]), p_after_5, rtol=1e-12)
    np.testing.assert_allclose(lm.distribution([0, 1, 2]), p1, rtol=1e-12)  # 2 is never a context: back off
    np.testing.assert_allclose(lm.token_log_probs(np.array([0, 5, 4])), np.log([p_5_after_0, p_after_5[4]]),
                               rtol=1e-12)

    # absolute discounting would back off to raw counts: 2 occurs 4 times, 4 only 3 times
    raw = np.bincount(np.concatenate(corpus), minlength=V)
    assert raw[2] > raw[4] and p1[2] < p1[4]
    assert lm.distribution([0, 1, 2])[2] < lm.distribution([0, 1, 2])[4]


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


def test_fits_half_a_million_tokens_at_order_six():
    """Corpus scale (the speed is measured by benchmarks/ngram_speed.py, not here): order-6 keys of a
    346-token vocabulary stay exact, and on i.i.d. Zipf tokens the held-out cost is near their entropy."""
    rng = np.random.default_rng(4)
    V = 346
    # music-like skew: a few hundred distinct tokens with Zipf frequencies, in pieces of ~1000
    probs = 1.0 / np.arange(1, V + 1)
    probs /= probs.sum()
    pieces = [rng.choice(V, 1000, p=probs) for _ in range(500)]
    lm = NGramModel(6, V).fit(pieces)
    assert lm.train_tokens == 500_000
    top = lm.orders[-1]
    grams = Counter(g for s in pieces for g in zip(*(s.tolist()[i:] for i in range(6))))
    assert len(top.gram_keys) == len(grams) and top.gram_counts.sum() == 500 * 995
    some = list(grams.items())[:: len(grams) // 50]  # a few 6-grams, looked up by their int64 key
    for gram, count in some:
        key = 0
        for t in gram:
            key = key * V + t
        i = int(np.searchsorted(top.gram_keys, key))
        assert top.gram_keys[i] == key and top.gram_counts[i] == count
    held = [rng.choice(V, 1000, p=probs) for _ in range(20)]
    entropy = float(-(probs * np.log(probs)).sum())  # 4.51 nats
    assert entropy < per_token(lm, held) < entropy + 0.3  # 4.71: the long contexts cost a little
    for s in held[:3]:
        assert abs(lm.distribution(s[:40]).sum() - 1.0) < 1e-9
