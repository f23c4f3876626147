"""Count-based baselines for the GRU: interpolated modified Kneser-Ney n-grams and an add-one unigram.

Both are proper distributions over the whole vocabulary (every id gets probability > 0 and the
probabilities of one context sum to 1), so their held-out NLL can stand next to the GRU's.

The n-gram is interpolated Kneser-Ney with Chen & Goodman's (1998) three discounts per order
(D1, D2, D3+ from the count-of-counts). The highest order uses raw counts; lower orders use
continuation counts (the number of distinct tokens seen before the n-gram), except for occurrences
at the start of a sequence, which have nothing before them and count as raw (KenLM does the same
for n-grams starting with <s>). The unigram level is interpolated with the uniform distribution,
so a token never seen in training still has a finite cost.

Counting and scoring are numpy throughout: an n-gram is one int64 key (`sum tok_i * V**(k-1-i)`),
tables are sorted key arrays, and lookups are `searchsorted` over every position at once. Fitting
the Bach chorales (~430k tokens) at order 6 takes about half a second (benchmarks/ngram_speed.py).
"""


from __future__ import annotations

import math

import numpy as np

NATS_PER_BIT = math.log(2.0)


def _keys(windows: np.ndarray, vocab_size: int) -> np.ndarray:
    """int64 key of each row of `windows` (k tokens, most significant first)."""
    key = np.zeros(len(windows), dtype=np.int64)
    for j in range(windows.shape[1]):
        key = key * vocab_size + windows[:, j]
    return key


def _lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index, found) of `keys` in `sorted_keys`."""
    idx = np.searchsorted(sorted_keys, keys)
    idx = np.minimum(idx, max(len(sorted_keys) - 1, 0))
    found = sorted_keys[idx] == keys if len(sorted_keys) else np.zeros(len(keys), dtype=bool)
    return idx, found


def _clean(sequences, vocab_size: int) -> list[np.ndarray]:
    out = []
    for s in sequences:
        s = np.asarray(s, dtype=np.int64).reshape(-1)
        if s.size and (s.min() < 0 or s.max() >= vocab_size):
            raise ValueError(f"token ids must be in 0..{vocab_size - 1}")
        out.append(s)
    return out


class _Order:
    """The tables of one order k: k-gram counts and, per (k-1)-token context, the totals."""

    def __init__(self, gram_keys, gram_counts, vocab_size):
        self.gram_keys = gram_keys  # sorted int64 keys of the k-grams
        self.gram_counts = gram_counts  # their (adjusted) counts, float64
        ctx = gram_keys // vocab_size
        self.ctx_keys, start = np.unique(ctx, return_index=True)  # gram_keys sorted => contexts sorted
        self.ctx_total = np.add.reduceat(gram_counts, start) if len(start) else np.zeros(0)
        c = gram_counts
        # count-of-counts for the discounts (Chen & Goodman eq. 26); absent ones fall back below
        n = [float(np.sum(c == r)) for r in (1, 2, 3, 4)]
        self.discounts = _discounts(*n)
        d = self.discounts
        per_gram = np.where(c >= 3, d[2], np.where(c >= 2, d[1], d[0]))
        self.per_gram_discount = per_gram
        self.ctx_gamma = np.add.reduceat(per_gram, start) if len(start) else np.zeros(0)


def _discounts(n1: float, n2: float, n3: float, n4: float) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts D1, D2, D3+, each kept inside (0, r) so every count keeps some
    mass and every context gives some away (toy corpora produce 0/0 or out-of-range estimates)."""
    y = n1 / (n1 + 2 * n2) if n1 > 0 and n2 > 0 else 0.5
    raw = [
        1 - 2 * y * n2 / n1 if n1 > 0 else math.nan,
        2 - 3 * y * n3 / n2 if n2 > 0 else math.nan,
        3 - 4 * y * n4 / n3 if n3 > 0 else math.nan,
    ]
    out = []
    for r, d in zip((1, 2, 3), raw):
        if not math.isfinite(d):
            d = y * r if r == 1 else 0.5 * r
        out.append(float(min(max(d, 0.1), r - 0.1)))
    return out[0], out[1], out[2]


class NGramModel:
    """Interpolated modified Kneser-Ney n-gram model over token ids.

    Args:
        order: n (2..8; 3-6 are useful for token music).
        vocab_size: V; the model is a distribution over ids 0..V-1.

    Example:
        lm = NGramModel(5, len(tokenizer)).fit(train_ids)
        nll = lm.nll(heldout_ids)          # nats, summed over every predicted token
        p = lm.distribution(context)       # (V,) probabilities of the next token
    """

    def __init__(self, order: int, vocab_size: int):
        if not 1 <= order <= 8:
            raise ValueError(f"n-gram order must be 1..8, got {order}")
        if vocab_size < 2:
            raise ValueError("vocab_size must be >= 2")
        if float(vocab_size) ** order >= 2**62:
            raise ValueError(f"order {order} is too high for a vocabulary of {vocab_size} (int64 keys)")
        self.order = order
        self.vocab_size = vocab_size
        self.orders: list[_Order] = []
        self.train_tokens = 0

    def fit(self, sequences) -> "NGramModel":
        """Count every k-gram (k = 1..order) of `sequences` (each a 1-D array of ids, BOS first)."""
        seqs = [s for s in _clean(sequences, self.vocab_size) if s.size]
        if not seqs:
            raise ValueError("no training tokens")
        V = self.vocab_size
        self.train_tokens = int(sum(s.size for s in seqs))
        self.orders = []
        for k in range(1, self.order + 1):
            grams = [_keys(np.lib.stride_tricks.sliding_window_view(s, k), V) for s in seqs if s.size >= k]
            keys = np.concatenate(grams) if grams else np.zeros(0, np.int64)
            if k == self.order:
                gram_keys, counts = np.unique(keys, return_counts=True)
                counts = counts.astype(np.float64)
            else:
                # continuation count: distinct tokens seen before the k-gram ...
                ext = [_keys(np.lib.stride_tricks.sliding_window_view(s, k + 1), V) for s in seqs if s.size >= k + 1]
                ext = np.unique(np.concatenate(ext)) if ext else np.zeros(0, np.int64)
                suffix = ext % (V**k)
                # ... plus every occurrence at a sequence start, which has nothing before it
                starts = _keys(np.stack([s[:k] for s in seqs if s.size >= k]), V) if grams else np.zeros(0, np.int64)
                gram_keys, counts = np.unique(np.concatenate([suffix, starts]), return_counts=True)
                counts = counts.astype(np.float64)
            self.orders.append(_Order(gram_keys, counts, V))
        return self

    # ------------------------------------------------------------------ scoring
    def _prob(self, contexts: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """P(target | context) for each row; `contexts` is (M, order-1) with -1 where the sequence
        had not started yet (shorter history at the beginning of a piece)."""
        if not self.orders:
            raise ValueError("the n-gram model has not been fitted")
        V = self.vocab_size
        M = len(targets)
        p = np.full(M, 1.0 / V)
        targets = targets.astype(np.int64)
        for k, table in enumerate(self.orders, start=1):
            if k == 1:
                rows = np.arange(M)
                ctx_key = np.zeros(M, dtype=np.int64)
            else:
                ctx = contexts[:, contexts.shape[1] - (k - 1):]
                rows = np.flatnonzero((ctx >= 0).all(axis=1))
                if rows.size == 0:
                    break
                ctx_key = _keys(ctx[rows], V)
            ci, have = _lookup(table.ctx_keys, ctx_key)
            rows, ci, ctx_key = rows[have], ci[have], ctx_key[have]
            if rows.size == 0:
                continue  # unseen contexts keep the lower-order estimate
            gi, seen = _lookup(table.gram_keys, ctx_key * V + targets[rows])
            kept = np.where(seen, table.gram_counts[gi] - table.per_gram_discount[gi], 0.0)
            p[rows] = (kept + table.ctx_gamma[ci] * p[rows]) / table.ctx_total[ci]
        return p

    def _windows(self, seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = self.order - 1
        padded = np.concatenate([np.full(n, -1, dtype=np.int64), seq])
        if n == 0:
            return np.zeros((seq.size - 1, 0), np.int64), seq[1:]
        return np.lib.stride_tricks.sliding_window_view(padded, n)[1 : seq.size], seq[1:]

    def token_log_probs(self, seq) -> np.ndarray:
        """ln P of each token of `seq` after the first (the first, BOS, is given), shape (len-1,)."""
        seq = _clean([seq], self.vocab_size)[0]
        if seq.size < 2:
            return np.zeros(0)
        ctx, tgt = self._windows(seq)
        return np.log(self._prob(ctx, tgt))

    def nll(self, sequences) -> float:
        """Total negative log-likelihood in nats of every token after the first of each sequence."""
        return float(-sum(self.token_log_probs(s).sum() for s in sequences))

    def distribution(self, context) -> np.ndarray:
        """The next-token distribution (V,) after `context` (ids, oldest first; may be shorter than order-1)."""
        context = _clean([context], self.vocab_size)[0][-(self.order - 1):] if self.order > 1 else np.zeros(0, np.int64)
        row = np.full(self.order - 1, -1, dtype=np.int64)
        if context.size:
            row[row.size - context.size :] = context
        ctx = np.repeat(row[None, :], self.vocab_size, axis=0)
        return self._prob(ctx, np.arange(self.vocab_size))


class UnigramModel:
    """Add-one smoothed unigram over the predicted tokens (every token after the first of a sequence)."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size
        self.log_probs = np.full(vocab_size, -math.log(vocab_size))

    def fit(self, sequences) -> "UnigramModel":
        seqs = _clean(sequences, self.vocab_size)
        counts = np.zeros(self.vocab_size)
        for s in seqs:
            counts += np.bincount(s[1:], minlength=self.vocab_size)
        self.log_probs = np.log((counts + 1.0) / (counts.sum() + self.vocab_size))
        return self

    def distribution(self, context=()) -> np.ndarray:
        return np.exp(self.log_probs)

    def token_log_probs(self, seq) -> np.ndarray:
        seq = _clean([seq], self.vocab_size)[0]
        return self.log_probs[seq[1:]]

    def nll(self, sequences) -> float:
        return float(-sum(self.token_log_probs(s).sum() for s in sequences))
