"""The classifier two-sample test (Lopez-Paz & Oquab 2017): cross-validated accuracy of telling two
sets of pieces apart from their features, and the features that give one set away.
"""


from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..analysis.features import FEATURES


# --------------------------------------------------------------------------- the test
@dataclass
class TwoSampleResult:
    """Cross-validated accuracy of telling set A from set B (0.5: indistinguishable)."""

    accuracy: float
    low: float  # 95% interval (binomial, over the pieces classified)
    high: float
    n_a: int
    n_b: int
    repeats: int
    folds: int
    runs: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"accuracy": self.accuracy, "ci95": [self.low, self.high], "n_a": self.n_a, "n_b": self.n_b,
                "repeats": self.repeats, "folds": self.folds, "runs": self.runs}


def _wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    if n <= 0:
        return math.nan, math.nan
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def _impute(X: np.ndarray, means: np.ndarray) -> np.ndarray:
    X = X.copy()
    bad = ~np.isfinite(X)
    X[bad] = np.take(means, np.nonzero(bad)[1])
    return X


def two_sample_test(a: np.ndarray, b: np.ndarray, folds: int = 5, repeats: int = 10, seed: int = 0,
                    classifier: str = "logistic") -> TwoSampleResult:
    """Cross-validated accuracy of a classifier telling rows of `a` from rows of `b`.

    Each repeat draws a balanced pair of sets (the larger set subsampled to the smaller's size)
    and scores a fresh stratified k-fold split; the accuracy is the mean over repeats. NaN
    features are replaced by the training folds' column means.

    Args:
        a, b: feature matrices (pieces x features).
        classifier: 'logistic' (L2, C=1, standardized features) or 'boosting' (gradient boosting).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    a, b = np.asarray(a, float), np.asarray(b, float)
    n = min(len(a), len(b))
    if n < folds:
        raise ValueError(f"need at least {folds} pieces in each set for {folds}-fold cross-validation, got {n}")
    rng = np.random.default_rng(seed)
    runs = []
    for r in range(repeats):
        A = a[rng.permutation(len(a))[:n]]
        B = b[rng.permutation(len(b))[:n]]
        X = np.vstack([A, B])
        y = np.r_[np.zeros(n), np.ones(n)]
        correct = 0
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=int(rng.integers(2**31))).split(X, y):
            Xtr, Xte = X[tr], X[te]
            col = np.nanmean(np.where(np.isfinite(Xtr), Xtr, np.nan), axis=0)
            col = np.where(np.isfinite(col), col, 0.0)
            Xtr, Xte = _impute(Xtr, col), _impute(Xte, col)
            if classifier == "boosting":
                model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, random_state=0)
                model.fit(Xtr, y[tr])
                pred = model.predict(Xte)
            else:
                scaler = StandardScaler().fit(Xtr)
                sd = scaler.scale_
                scaler.scale_ = np.where(sd > 1e-12, sd, 1.0)
                model = LogisticRegression(C=1.0, max_iter=2000)
                model.fit(scaler.transform(Xtr), y[tr])
                pred = model.predict(scaler.transform(Xte))
            correct += int((pred == y[te]).sum())
        runs.append(correct / (2 * n))
    acc = float(np.mean(runs))
    low, high = _wilson(acc, 2 * n)
    return TwoSampleResult(acc, low, high, n, n, repeats, folds, [round(x, 4) for x in runs])


@dataclass
class Giveaway:
    """One feature's difference between samples and real pieces."""

    name: str
    help: str
    samples: float  # mean
    real: float
    effect: float  # standardized mean difference (samples - real) / pooled sd

    def describe(self) -> str:
        pct = self.name not in ("top_mean_interval", "bass_mean_interval", "top_range", "bass_range", "pitch_range",
                                "polyphony", "notes_per_onset", "onsets_per_quarter", "key_clarity", "pc_entropy")
        fmt = (lambda v: f"{100 * v:.1f}%") if pct else (lambda v: f"{v:.2f}")
        more = "more" if self.effect > 0 else "less"
        return f"{self.help}: samples {fmt(self.samples)} vs real {fmt(self.real)} ({more}; effect {self.effect:+.2f} sd)"


def giveaways(samples: np.ndarray, real: np.ndarray, top: int = 8) -> list[Giveaway]:
    """Features ranked by the size of the standardized mean difference, largest first."""
    out = []
    for j, (name, help_) in enumerate(FEATURES):
        s, r = samples[:, j], real[:, j]
        s, r = s[np.isfinite(s)], r[np.isfinite(r)]
        if len(s) < 2 or len(r) < 2:
            continue
        pooled = math.sqrt((s.var(ddof=1) + r.var(ddof=1)) / 2)
        if pooled < 1e-12:
            continue
        out.append(Giveaway(name, help_, float(s.mean()), float(r.mean()), float((s.mean() - r.mean()) / pooled)))
    out.sort(key=lambda g: -abs(g.effect))
    return out[:top]
