"""Choosing the next token from logits: small pure functions (temperature, top-k, top-p, a
stateless seeded draw), tested without a model. Nothing here knows about grammar or files.
"""


from __future__ import annotations

import numpy as np
import tensorflow as tf

NEG_INF = float("-inf")


# --------------------------------------------------------------------------- pure samplers
def scale_logits(logits, temperature):
    """Divide float32 logits by the temperature after shifting the row maximum to 0.

    The shift changes no probability but keeps a tiny temperature from turning the best logit
    into +inf (which would make softmax NaN). A temperature <= 0 is the greedy limit: the best
    token keeps logit 0 and every other token gets -inf.
    """
    logits = tf.cast(logits, tf.float32)
    temperature = tf.cast(temperature, tf.float32)
    shifted = logits - tf.reduce_max(logits, axis=-1, keepdims=True)
    greedy = tf.where(shifted >= 0.0, 0.0, NEG_INF)
    safe_t = tf.where(temperature > 0.0, temperature, 1.0)
    return tf.where(temperature > 0.0, shifted / safe_t, greedy)


def compute_probabilities(logits, temperature=1.0):
    """softmax(logits / temperature) in float32; as temperature -> 0 this tends to one-hot argmax."""
    return tf.nn.softmax(scale_logits(logits, temperature), axis=-1)


def top_k_filter(logits, k):
    """Keep the k largest logits of each row (ties at the k-th value are all kept); k <= 0 keeps all."""
    return filter_logits(logits, top_k=k, top_p=1.0)


def top_p_filter(logits, p):
    """Keep the smallest set of likeliest tokens whose total probability reaches p; p >= 1 keeps all."""
    return filter_logits(logits, top_k=0, top_p=p)


def filter_logits(logits, top_k=0, top_p=1.0):
    """Top-k, then top-p (nucleus); dropped tokens get -inf. Both off costs nothing.

    Args:
        logits: float [batch, vocab]; -inf marks tokens already excluded (the grammar mask).
        top_k: keep this many likeliest tokens (ties at the k-th value are all kept); <= 0: off.
        top_p: then keep the smallest set whose probability (renormalised over what top-k kept)
            reaches top_p; >= 1: off. The likeliest token is always kept.
    """
    logits = tf.cast(logits, tf.float32)
    vocab = tf.shape(logits)[-1]
    top_k = tf.cast(top_k, tf.int32)
    top_p = tf.cast(top_p, tf.float32)
    k = tf.where(top_k > 0, tf.minimum(top_k, vocab), vocab)

    def k_only():  # a partial sort is about twice as fast as a full one on CPU
        kth = tf.math.top_k(logits, k).values[:, -1:]
        return tf.where(logits >= kth, logits, NEG_INF)

    def nucleus():
        ordered = tf.sort(logits, axis=-1, direction="DESCENDING")
        ordered = tf.where(tf.range(vocab)[tf.newaxis, :] < k, ordered, NEG_INF)
        before = tf.cumsum(tf.nn.softmax(ordered, axis=-1), axis=-1, exclusive=True)
        n = tf.reduce_sum(tf.cast(before < top_p, tf.int32), axis=-1)
        n_finite = tf.reduce_sum(tf.cast(ordered > NEG_INF, tf.int32), axis=-1)
        n = tf.maximum(1, tf.minimum(tf.minimum(n, k), n_finite))
        threshold = tf.gather(ordered, n - 1, axis=-1, batch_dims=1)[:, tf.newaxis]
        return tf.where(logits >= threshold, logits, NEG_INF)

    return tf.cond(
        top_p < 1.0, nucleus, lambda: tf.cond(top_k > 0, k_only, lambda: tf.identity(logits))
    )


def sample_tokens(logits, mask, seed, temperature=1.0, top_k=0, top_p=1.0):
    """One token per row: grammar mask, temperature, top-k, top-p, then a stateless draw.

    Args:
        logits: float [batch, vocab].
        mask: bool [batch, vocab], True where a token may come next (at least one per row).
        seed: int [2], e.g. (user seed, step): equal seeds give equal tokens.
        temperature: > 0 divides the logits; 0 is greedy (argmax).
    Returns:
        int32 [batch].
    """
    logits = tf.where(mask, tf.cast(logits, tf.float32), NEG_INF)
    logits = filter_logits(scale_logits(logits, temperature), top_k, top_p)
    # Gumbel-max: argmax(logits + Gumbel noise) is an exact draw from softmax(logits), and unlike
    # stateless_categorical it compiles with XLA.
    uniform = tf.random.stateless_uniform(tf.shape(logits), seed=seed, minval=1e-20, maxval=1.0)
    gumbel = -tf.math.log(-tf.math.log(uniform))
    return tf.argmax(logits + gumbel, axis=-1, output_type=tf.int32)


def kind_temperatures(kinds, default: float, per_kind: dict | None = None) -> np.ndarray:
    """float32 [vocab]: `default` for every token, and per_kind[kind] for tokens of that kind
    (e.g. {"PITCH": 0.9, "DUR": 1.1}). Within one kind this is plain temperature; where kinds
    compete at one step (another note of the chord, or the next onset?), each logit is divided by
    its own kind's temperature after the row's best logit is shifted to 0."""
    out = np.full(len(kinds), float(default), np.float32)
    kinds = np.asarray(kinds)
    for kind, t in (per_kind or {}).items():
        out[kinds == kind] = float(t)
    return out
