"""N-gram baseline speed: melodygru.evaluation.ngram's numpy counting against plain Python dictionaries.

    python benchmarks/ngram_speed.py [--order 6] [--pieces 500] [--repeats 3]

In one run, on the same synthetic corpus (--pieces pieces of 1000 tokens drawn i.i.d. from a Zipf
distribution over 346 tokens, the size of the default vocabulary; 500 pieces is about the Bach
chorales' 430k tokens):

  python    the baseline: the same counts `NGramModel.fit` makes (raw counts of the top order,
            continuation counts plus sequence starts below it) with `collections.Counter` and
            sets, the way a first implementation would. It stops at the counts: no discounts, no
            context totals, so it does less work than the model.
  melodygru `NGramModel(order, 346).fit(...)`: int64 keys, `np.unique` and `searchsorted`.
  score     `NGramModel.nll` over 50 pieces (50k tokens), shown for scale.

Each is the best of --repeats. The last line is the ratio python / melodygru (higher is better);
the timings move with the machine's load, the ratio much less. This used to be a wall-time
assertion in tests/test_ngram.py, which a shared machine made flaky.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from melodygru.evaluation.ngram import NGramModel  # noqa: E402

VOCAB = 346


def corpus(pieces: int, seed: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    probs = 1.0 / np.arange(1, VOCAB + 1)
    return [rng.choice(VOCAB, 1000, p=probs / probs.sum()) for _ in range(pieces)]


def python_counts(seqs, order: int) -> list[Counter]:
    """The counts of `NGramModel.fit`, with dictionaries: one Counter of tuples per order."""
    lists = [s.tolist() for s in seqs]
    tables = []
    for k in range(1, order + 1):
        if k == order:
            counts = Counter()
            for s in lists:
                counts.update(zip(*(s[i:] for i in range(k))))
        else:
            seen = set()
            for s in lists:
                seen.update(zip(*(s[i:] for i in range(k + 1))))
            counts = Counter(gram[1:] for gram in seen)  # distinct tokens before each k-gram
            counts.update(tuple(s[:k]) for s in lists if len(s) >= k)  # sequence starts count as raw
        tables.append(counts)
    return tables


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--order", type=int, default=6)
    parser.add_argument("--pieces", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    seqs = corpus(args.pieces)
    tokens = sum(s.size for s in seqs)
    t_python, tables = best_of(lambda: python_counts(seqs, args.order), args.repeats)
    t_fit, lm = best_of(lambda: NGramModel(args.order, VOCAB).fit(seqs), args.repeats)
    # the two count the same n-grams (a benchmark of different work would mean nothing)
    for counts, table in zip(tables, lm.orders):
        assert len(counts) == len(table.gram_keys) and sum(counts.values()) == table.gram_counts.sum()
    t_score, _ = best_of(lambda: lm.nll(seqs[:50]), args.repeats)

    print(f"corpus: {args.pieces} pieces, {tokens:,} tokens, vocabulary {VOCAB}, order {args.order}; "
          f"best of {args.repeats}")
    print(f"python     counts only (collections.Counter)  {t_python:7.3f} s")
    print(f"melodygru  NGramModel.fit                      {t_fit:7.3f} s")
    print(f"score      NGramModel.nll over 50 pieces       {t_score:7.3f} s")
    print(f"speed-up: melodygru fits {t_python / t_fit:.1f}x faster than the Python baseline counts")


if __name__ == "__main__":
    main()
