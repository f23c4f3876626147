"""Held-out likelihood beyond one model alone: an ensemble of runs (the mean of their next-token
distributions, e.g. the same settings trained from several seeds) and a continuous cache over the
top recurrent state (Grave, Joulin & Usunier, ICLR 2017: "Improving neural language models with a
continuous cache"), for likelihood only.

At step t of a piece the model's next-token distribution is mixed with a pointer to the tokens that
followed the piece's own earlier steps, weighted by how alike their top-layer states are:

    p(w | t) = (1 - lam) * p_model(w | t) + lam * p_cache(w | t)
    p_cache(w | t) = sum_{i < t, y_i = w} exp(theta * h_t . h_i) / sum_{i < t} exp(theta * h_t . h_i)

where h_i is the top GRU (or LSTM) output at step i and y_i the token that came next, over the last
`window` steps at most. Only steps already scored feed the cache, so it is a causal model of the
piece's own past and a proper likelihood; no weight is trained. `theta` (how sharp the match) and
`lam` (how much the cache weighs) are chosen on one set (validation pieces) and the pair is applied
once to another (test), as the paper does; `lam = 0` is in the grid, so the cache is never chosen
where it makes the first set worse. The first step of a piece has no past and is scored by the model.
With an ensemble, every run points with its own states and the pointers are averaged as the models
are: p = mean over runs of ((1 - lam) p_run + lam p_cache_run).

It is an evaluation device: the issue that asked for it measured that sampling with it made the
music easier to tell from real pieces, so `generate` does not use it.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.errors import CheckpointError, MelodyGRUError
from ..tokens.tokenizer import Tokenizer
from .likelihood import _batches, _check_ids, _load_model, load_run_tokenizer, piece_rates

THETAS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
LAMBDAS = tuple(round(0.05 * k, 2) for k in range(0, 15))  # 0 ... 0.7
WINDOW = 2048


def top_states(run_dir, pieces_ids, tokenizer: Tokenizer, batch_tokens: int = 16384, max_batch: int = 64):
    """Each piece run through the model in full: per piece (log p_model of each target, the top
    recurrent layer's output at each step, the targets), in input order.

    Returns:
        list of (logp float64 [T], states float32 [T, units], targets int64 [T]), T = len(ids) - 1;
        pieces with fewer than 2 tokens are left out, as `likelihood` leaves them out.
    """
    if load_run_tokenizer(run_dir) != tokenizer:
        raise CheckpointError(f"checkpoint {run_dir}: its tokenizer.json differs from the tokenizer the pieces "
                              "were encoded with (an ensemble's runs must share one)")
    pieces = _check_ids(pieces_ids, tokenizer)
    model = _load_model(run_dir, len(tokenizer))
    import keras
    import tensorflow as tf

    from ..model.network import recurrent_layers

    both = keras.Model(model.input, [recurrent_layers(model)[-1].output, model.outputs[0]])
    forward = tf.function(lambda x: both(x, training=False), reduce_retracing=True,
                          input_signature=[tf.TensorSpec([None, None], tf.int32)])
    lengths = [len(p) - 1 for p in pieces]
    out: list = [None] * len(pieces)
    for group in _batches(lengths, batch_tokens, max_batch):
        T = max(lengths[i] for i in group)
        x = np.full((len(group), T), tokenizer.pad, dtype=np.int32)
        for row, i in enumerate(group):
            x[row, : lengths[i]] = pieces[i][:-1]
        states, logits = forward(tf.constant(x))
        states = np.asarray(states, dtype=np.float32)
        logits = np.asarray(logits, dtype=np.float64)
        top = logits.max(axis=-1, keepdims=True)
        log_z = top[..., 0] + np.log(np.exp(logits - top).sum(axis=-1))
        for row, i in enumerate(group):
            n, y = lengths[i], pieces[i][1:]
            logp = logits[row, np.arange(n), y] - log_z[row, :n]
            out[i] = (logp, states[row, :n].copy(), y.astype(np.int64))
    return out


def scored_pieces(run_dirs, pieces_ids, tokenizer: Tokenizer) -> list:
    """`top_states` of every run, per piece: (log of the runs' mean probability of each target,
    [each run's states], targets, [each run's log probability of each target]); the pieces
    `likelihood` scores, in input order. Compute it once and pass it to `ensemble_likelihood` and
    `continuous_cache` as `scored`.

    Raises:
        CheckpointError: a run is missing, damaged, or reads another vocabulary.
    """
    runs = [top_states(r, pieces_ids, tokenizer) for r in _runs(run_dirs)]
    out = []
    for per_run in zip(*runs):
        logp = np.stack([lp for lp, _, _ in per_run])
        mean = np.logaddexp.reduce(logp, axis=0) - math.log(len(per_run))
        out.append((mean, [h for _, h, _ in per_run], per_run[0][2], list(logp)))
    return out


def _runs(run_dirs) -> list:
    return [run_dirs] if isinstance(run_dirs, (str, bytes)) or not hasattr(run_dirs, "__iter__") else list(run_dirs)


def ensemble_likelihood(run_dirs, heldout_ids, tokenizer: Tokenizer, scored=None) -> dict:
    """The held-out NLL of the runs' mean distribution: `rates(...)` with 'runs', 'pieces' and
    'piece_nll' (in input order), and 'run_nats_per_token' (each run alone).

    `scored`: `scored_pieces(run_dirs, heldout_ids, tokenizer)` when already computed."""
    runs = _runs(run_dirs)
    kept = _check_ids(heldout_ids, tokenizer)
    scored = scored_pieces(runs, kept, tokenizer) if scored is None else scored
    piece_nll = [float(-mean.sum()) for mean, _, _, _ in scored]
    out = piece_rates(float(sum(piece_nll)), kept, tokenizer)
    out.update({"runs": [str(r) for r in runs], "pieces": len(kept), "piece_nll": piece_nll,
                "run_nats_per_token": [float(-sum(one[3][k].sum() for one in scored) / out["tokens"])
                                       for k in range(len(runs))]})
    return out


def cache_probs(states, targets, thetas=THETAS, window: int = WINDOW, chunk: int = 256) -> np.ndarray:
    """p_cache(y_t | t) of each step's own target, for every theta: array [len(thetas), T].

    Step t points at steps t-window ... t-1 (their states as keys, the tokens that followed them as
    values); step 0 has no past and gets 0 (the mixture then scores it by the model alone).
    """
    h = np.asarray(states, dtype=np.float32)
    y = np.asarray(targets)
    T = len(y)
    if window < 1:
        raise MelodyGRUError(f"the cache window must be at least 1 step, not {window}")
    out = np.zeros((len(thetas), T))
    for start in range(1, T, chunk):
        stop = min(T, start + chunk)
        lo = max(0, start - window)
        sim = (h[start:stop] @ h[lo: stop - 1].T).astype(np.float64)  # [c, k]: queries x keys
        t = np.arange(start, stop)[:, None]
        i = np.arange(lo, stop - 1)[None, :]
        allowed = (i < t) & (i >= t - window)
        same = (y[lo: stop - 1][None, :] == y[start:stop][:, None]) & allowed
        for k, theta in enumerate(thetas):
            s = np.where(allowed, theta * sim, -np.inf)
            e = np.exp(s - s.max(axis=1, keepdims=True))
            out[k, start:stop] = (e * same).sum(axis=1) / e.sum(axis=1)
    return out


def mixed_nll(logp, p_cache, lam: float) -> np.ndarray:
    """-log((1 - lam) p_model + lam p_cache) per step; step 0 (no past) is -log p_model."""
    logp = np.asarray(logp, dtype=np.float64)
    pc = np.asarray(p_cache, dtype=np.float64)
    if not 0.0 <= lam < 1.0:
        raise MelodyGRUError(f"the cache weight must be in [0, 1), not {lam}")
    if lam == 0.0:
        return -logp
    with np.errstate(divide="ignore"):
        mixed = np.logaddexp(math.log1p(-lam) + logp, math.log(lam) + np.log(pc))
    mixed[0] = logp[0]
    return -mixed


def _grid_totals(scored, thetas, lambdas, window) -> np.ndarray:
    """Total NLL of every (theta, lambda) over the pieces `scored` (from `top_states`)."""
    totals = np.zeros((len(thetas), len(lambdas)))
    for logp, states, y, _ in scored:
        pc = np.mean([cache_probs(h, y, thetas, window) for h in states], axis=0)
        for a in range(len(thetas)):
            for b, lam in enumerate(lambdas):
                totals[a, b] += mixed_nll(logp, pc[a], lam).sum()
    return totals


def continuous_cache(run_dirs, fit_ids, heldout_ids, tokenizer: Tokenizer, thetas=THETAS, lambdas=LAMBDAS,
                     window: int = WINDOW, scored=None) -> dict:
    """Choose (theta, lambda) on `fit_ids` (validation pieces), then score `heldout_ids` once with them.

    `run_dirs`: one run directory, or several for an ensemble (the cache then applies to their mean).
    `lambdas` must hold 0, so the model alone is among the choices. `scored`: `scored_pieces` of
    the held-out pieces when already computed.

    Returns:
        {'runs', 'theta', 'lambda', 'window', 'fit': {'pieces', 'tokens', 'nats_per_token' (model alone),
        'cache_nats_per_token'}, 'grid': [[theta, lambda, fit nats per token], ...], and for the
        held-out pieces: `rates(...)` with the cache, 'plain_nats_per_token', 'pieces', 'piece_nll'
        (with the cache) and 'plain_piece_nll' (model alone), in input order}.
    """
    if not thetas or any(th <= 0 for th in thetas) or 0.0 not in lambdas:
        raise MelodyGRUError("the cache needs thetas > 0 and lambda 0 among its lambdas")
    runs = _runs(run_dirs)
    fit = scored_pieces(runs, fit_ids, tokenizer)
    totals = _grid_totals(fit, thetas, lambdas, window)
    fit_tokens = int(sum(len(y) for _, _, y, _ in fit))
    # the smallest total; on a tie the weaker cache (smaller lambda, then smaller theta)
    a, b = min(np.ndindex(totals.shape), key=lambda ab: (round(float(totals[ab]), 9), lambdas[ab[1]], thetas[ab[0]]))
    theta, lam = float(thetas[a]), float(lambdas[b])
    held = scored_pieces(runs, heldout_ids, tokenizer) if scored is None else scored
    piece_nll, plain = [], []
    for logp, states, y, _ in held:
        pc = np.mean([cache_probs(h, y, (theta,), window)[0] for h in states], axis=0)
        piece_nll.append(float(mixed_nll(logp, pc, lam).sum()))
        plain.append(float(-logp.sum()))
    kept = _check_ids(heldout_ids, tokenizer)
    out = piece_rates(float(sum(piece_nll)), kept, tokenizer)
    tokens = out["tokens"]
    out.update({
        "runs": [str(r) for r in runs], "theta": theta, "lambda": lam, "window": window, "pieces": len(kept),
        "plain_nats_per_token": sum(plain) / tokens, "piece_nll": piece_nll, "plain_piece_nll": plain,
        "fit": {"pieces": len(fit), "tokens": fit_tokens,
                "nats_per_token": float(totals[0, list(lambdas).index(0.0)] / fit_tokens),
                "cache_nats_per_token": float(totals[a, b] / fit_tokens)},
        "grid": [[float(th), float(lm), float(totals[i, j] / fit_tokens)]
                 for i, th in enumerate(thetas) for j, lm in enumerate(lambdas)],
    })
    return out
