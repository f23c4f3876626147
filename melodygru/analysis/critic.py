"""The critic: how much a piece looks like the corpus a model learned, as one number.

A critic is an L2 logistic regression over the per-piece features (`features.critic_features`:
the listening test's and four music statistics) and, for peaked features, their distance from
the real pieces' median, fitted to tell the model's own
samples (label 0) from its training pieces (label 1). Its score is the log-odds that a piece is
real. Generation draws several candidates for every sample and keeps one: the highest score
(`best_of`) or a draw weighted by exp(score) (`weighted_choice`): rejection of the candidates a
listener would find least like the corpus,
after Azadi et al., "Discriminator Rejection Sampling" (ICLR 2019), with a linear critic over
musical features instead of a GAN's discriminator. A candidate more extreme than every real piece
on a peaked feature loses `OUTSIDE_PENALTY` per such feature, so the choice never trades an
obvious flaw (a half-silent piece) for the critic's other preferences.

Fitting needs scikit-learn (imported inside `fit_critic`); scoring is numpy alone, from the
numbers `Critic.to_dict` writes to the run directory's `critic.json`. A critic names the features
it reads, so one fitted before a feature was added keeps working (it reads the ones it knows).
"""


from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from .features import CRITIC_FEATURE_NAMES, FEATURE_HELP, critic_features

CRITIC_FORMAT = "melodygru-critic"
CRITIC_VERSION = 4
READABLE_VERSIONS = (3, 4)  # version 3 documents name their features as version 4 ones do
# features whose real distribution is a narrow peak (four voices always sounding, no silent beat,
# every note in the scale): besides its value, the critic reads how far each lies from the real
# pieces' median, so it can prefer "neither more nor less" where one weight could only say "more"
TWO_SIDED = ("polyphony", "silence", "top_pitch_share", "scale_consistency", "pitch_classes_used", "pc_entropy",
             "onsets_per_quarter", "top_mean_interval", "pitch_4gram_repeat", "notes_per_onset", "length_quarters",
             "onset_top_interval")
_TWO_SIDED_AT = [CRITIC_FEATURE_NAMES.index(n) for n in TWO_SIDED]
# log-odds taken off for each TWO_SIDED feature outside the range of every real piece the critic
# was fitted on: a candidate more extreme than any real piece (half its beats silent, one figure
# repeated throughout) is kept only when every other candidate is as far out. A linear critic
# learns from typical samples and can reward such rare outliers for their other features.
OUTSIDE_PENALTY = 10.0
# the features whose spread over a whole set of samples `matched_choice` brings to the real
# pieces' (mean and standard deviation of each), and how much that weighs against the scores
MATCHED = TWO_SIDED + ("minor_mode",)
_MATCHED_AT = [CRITIC_FEATURE_NAMES.index(n) for n in MATCHED]
MATCH_WEIGHT = 0.5
MATCH_MIN_SAMPLES = 8  # fewer samples in one command: each keeps its best candidate
# a matched feature whose real pieces hold one value in at least this share of them (four voices
# sounding at every onset in half the chorales, no silent beat in most) has an atom there: a mean
# and sd cannot say "exactly 4 in half the pieces", so the set's share at that value is matched too
ATOM_MIN_SHARE = 0.2
# ... and at most this share: a value nearly every real piece holds (one note per onset in a
# melody) would make its indicator's sd tiny and the match a rule stronger than any score
ATOM_MAX_SHARE = 0.9
ATOM_TOLERANCE = 1e-6  # a value within this (relative, at least absolute 1e-6) of an atom sits on it
ATOM_Z_LIMIT = 3.0  # an atom column's standardized value is clipped to +-this
# the key-finder whose share of pieces in minor `mode_share` matches: `core.keys.best_key` with
# Aarden-Essen's profiles, the weights of music21's default key-finder (`analyze("key")`); on 200 of
# the folk model's training tunes it found music21's key for every one, where the critic's own
# estimate (Krumhansl-Kessler's profiles) agreed with music21 on the mode of 82%
MODE_FINDER = "aarden-essen"
TERMS = CRITIC_FEATURE_NAMES + tuple(f"|{n} - real median|" for n in TWO_SIDED)


def term_help(term: str) -> str:
    """What a term of a critic means, in words."""
    if term.startswith("|") and term.endswith(" - real median|"):
        return f"distance from the real median of: {FEATURE_HELP[term[1:-len(' - real median|')]]}"
    return FEATURE_HELP[term]


def _terms(X: np.ndarray, centre: np.ndarray, two_sided_at=_TWO_SIDED_AT) -> np.ndarray:
    return np.hstack([X, np.abs(X[:, two_sided_at] - centre)])


@dataclass(frozen=True)
class Critic:
    """A fitted critic: per feature, the value that fills an undefined one (`fill`); per term (each
    feature, and each TWO_SIDED feature's distance from `centre`), the standardization (`mean`,
    `scale`) and the weight (`coef`), plus the `intercept`.

    `features` and `two_sided` name what it reads, a subset of `CRITIC_FEATURE_NAMES` and of
    `TWO_SIDED` in their order (all of them for a critic fitted now). `info` says how it was fitted
    (pieces, samples, their settings, its cross-validated accuracy).
    """

    fill: np.ndarray
    centre: np.ndarray  # the real pieces' median of each TWO_SIDED feature
    mean: np.ndarray  # this and the next two: one per term (TERMS)
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    info: dict = field(default_factory=dict)
    features: tuple = CRITIC_FEATURE_NAMES
    two_sided: tuple = TWO_SIDED
    low: np.ndarray | None = None  # the real pieces' range of each TWO_SIDED feature (None: no guard,
    high: np.ndarray | None = None  # as in critics fitted before version 4)
    ref_mean: np.ndarray | None = None  # the real pieces' mean and sd of each MATCHED feature
    ref_sd: np.ndarray | None = None  # (None: no matched choice, as before version 4)
    all_mean: np.ndarray | None = None  # the real pieces' mean and sd of every CRITIC_FEATURE_NAMES
    all_sd: np.ndarray | None = None  # feature (None: matched over MATCHED only, as before)
    atoms: tuple = ()  # (MATCHED feature, value, share of the real pieces at it): see `real_atoms`
    # the share of the real pieces in minor by `core.keys.best_key` under MODE_FINDER's profile
    # (None: unknown; `mode_share` then reads the critic's own key estimate, `minor_mode`)
    finder_minor_share: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "_columns", [CRITIC_FEATURE_NAMES.index(n) for n in self.features])
        object.__setattr__(self, "_two_sided_at", [self.features.index(n) for n in self.two_sided])

    @property
    def terms(self) -> tuple:
        return tuple(self.features) + tuple(f"|{n} - real median|" for n in self.two_sided)

    def score_features(self, X: np.ndarray) -> np.ndarray:
        """Log-odds that each row of features (pieces x `CRITIC_FEATURE_NAMES`, all of them; the
        critic reads its own `features`) is a real piece."""
        X = np.atleast_2d(np.asarray(X, float))[:, self._columns]
        X = np.where(np.isfinite(X), X, self.fill)
        score = ((_terms(X, self.centre, self._two_sided_at) - self.mean) / self.scale) @ self.coef + self.intercept
        return score - OUTSIDE_PENALTY * self.outside(X)

    def matched_values(self, X: np.ndarray) -> np.ndarray:
        """The MATCHED features of rows of all `CRITIC_FEATURE_NAMES` (NaN stays NaN)."""
        return np.atleast_2d(np.asarray(X, float))[:, _MATCHED_AT]

    def outside(self, X: np.ndarray) -> np.ndarray:
        """How many TWO_SIDED features of each row (of this critic's `features`, filled) lie outside
        the real pieces' range; zeros for a critic without one."""
        if self.low is None or self.high is None:
            return np.zeros(len(X))
        V = X[:, self._two_sided_at]
        return ((V < self.low - 1e-9) | (V > self.high + 1e-9)).sum(axis=1).astype(float)

    def score(self, piece) -> float:
        """Log-odds that `piece` is real; -inf for a piece with fewer than two notes."""
        v = critic_features(piece)
        return -np.inf if v is None else float(self.score_features(v)[0])

    def weights(self, top: int = 6) -> list[tuple[str, float]]:
        """The features it leans on most, as (what the feature means, weight per sd), largest first."""
        order = np.argsort(-np.abs(self.coef))[:top]
        terms = self.terms
        return [(term_help(terms[i]), float(self.coef[i])) for i in order]

    def to_dict(self) -> dict:
        return {"format": CRITIC_FORMAT, "version": CRITIC_VERSION, "features": list(self.features),
                "two_sided": list(self.two_sided), "fill": self.fill.tolist(), "centre": self.centre.tolist(),
                "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": float(self.intercept), "info": self.info,
                **({"low": self.low.tolist(), "high": self.high.tolist()} if self.low is not None else {}),
                **({"ref_mean": self.ref_mean.tolist(), "ref_sd": self.ref_sd.tolist()}
                   if self.ref_mean is not None else {}),
                **({"all_mean": self.all_mean.tolist(), "all_sd": self.all_sd.tolist()}
                   if self.all_mean is not None else {}),
                **({"atoms": [{"feature": n, "value": v, "share": p} for n, v, p in self.atoms]} if self.atoms else {}),
                **({"minor_share": {"finder": MODE_FINDER, "share": self.finder_minor_share}}
                   if self.finder_minor_share is not None else {})}

    def with_reference(self, real: np.ndarray) -> "Critic":
        """This critic with the real pieces' mean and sd of every feature (`all_mean`, `all_sd`)
        and the atoms of its matched features (`real_atoms`) from `real` (pieces x
        `CRITIC_FEATURE_NAMES`; an undefined value counts as the real pieces' mean of that
        feature), its weights unchanged."""
        R = np.atleast_2d(np.asarray(real, float))
        R = np.where(np.isfinite(R), R, np.nan)
        counted = np.isfinite(R).any(axis=0)
        column = np.where(counted, np.nanmean(np.where(counted, R, 0.0), axis=0), 0.0)
        R = np.where(np.isfinite(R), R, column)
        return dataclasses.replace(self, all_mean=R.mean(axis=0), all_sd=np.maximum(R.std(axis=0), 1e-6),
                                   atoms=real_atoms(self.matched_values(real)))

    @classmethod
    def from_dict(cls, d: dict) -> "Critic":
        """The critic a `to_dict` document describes.

        Raises:
            ValueError: not a critic document, or one that reads features this version does not
                compute (then fit it again).
        """
        if not isinstance(d, dict) or d.get("format") != CRITIC_FORMAT:
            raise ValueError("not a melodygru critic document")
        features, two_sided = d.get("features"), d.get("two_sided")
        if d.get("version") not in READABLE_VERSIONS or not isinstance(features, list) \
                or not isinstance(two_sided, list) or not _ordered_subset(features, CRITIC_FEATURE_NAMES) \
                or not _ordered_subset(two_sided, TWO_SIDED) or not set(two_sided) <= set(features):
            raise ValueError("the critic was fitted on other features; fit it again with `melodygru critic`")
        try:
            arrays = [np.asarray(d[k], float) for k in ("fill", "centre", "mean", "scale", "coef")]
            intercept = float(d["intercept"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("the critic document lacks its numbers") from None
        sizes = (len(features), len(two_sided)) + (len(features) + len(two_sided),) * 3
        if any(a.shape != (n,) or not np.isfinite(a).all() for a, n in zip(arrays, sizes)) or (arrays[3] <= 0).any() \
                or not np.isfinite(intercept):
            raise ValueError("the critic's numbers must be finite, one per feature or term, scales above 0")
        info = d.get("info") or {}
        if not isinstance(info, dict):
            raise ValueError("the critic document's info must be an object")
        low, high = _optional_pair(d, ("low", "high"), len(two_sided), "real range",
                                   "one low <= high per two-sided feature", lambda lo, hi: (lo <= hi).all())
        ref_mean, ref_sd = _optional_pair(d, ("ref_mean", "ref_sd"), len(MATCHED), "reference spread",
                                          "one mean and sd > 0 per matched feature", lambda m, sd: (sd > 0).all())
        all_mean = all_sd = None
        if len(d.get("all_mean") or []) == len(CRITIC_FEATURE_NAMES):  # fitted with other features: none
            all_mean, all_sd = _optional_pair(d, ("all_mean", "all_sd"), len(CRITIC_FEATURE_NAMES), "reference of "
                                              "every feature", "one mean and sd > 0 per feature",
                                              lambda m, sd: (sd > 0).all())
        return cls(*arrays, intercept, dict(info), tuple(features), tuple(two_sided), low, high, ref_mean, ref_sd,
                   all_mean, all_sd, _read_atoms(d.get("atoms") or []), _read_minor_share(d.get("minor_share")))


def _read_minor_share(doc) -> float | None:
    """The share in minor of a critic document's "minor_share" (by MODE_FINDER), None without one."""
    if doc is None:
        return None
    try:
        finder, share = doc["finder"], float(doc["share"])
    except (KeyError, TypeError, ValueError):
        finder, share = None, math.nan
    if finder != MODE_FINDER or not 0.0 <= share <= 1.0:
        raise ValueError(f"the critic's minor_share must be {{finder: {MODE_FINDER!r}, share: in [0, 1]}}")
    return share


def finder_minor(piece) -> bool:
    """Whether MODE_FINDER hears a piece in minor (its pitched notes' duration-weighted
    pitch-class profile against every major and minor key)."""
    from ..core.keys import best_key, pitch_class_profile

    return bool(best_key(pitch_class_profile(piece.notes), MODE_FINDER)[2])


def _read_atoms(doc) -> tuple:
    """The atoms of a critic document (see `real_atoms`); ValueError for a malformed list."""
    rule = "the critic's atoms must be a list of {feature: a matched feature, value: a number, share: in (0, 1)}"
    if not isinstance(doc, list):
        raise ValueError(rule)
    out = []
    for a in doc:
        try:
            name, value, share = a["feature"], float(a["value"]), float(a["share"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(rule) from None
        if name not in MATCHED or not np.isfinite(value) or not 0 < share < 1 or any(name == o[0] for o in out):
            raise ValueError(rule + ", one per feature")
        out.append((name, value, share))
    return tuple(out)


def _on_atom(values, value: float):
    return np.abs(np.asarray(values, float) - value) <= ATOM_TOLERANCE * max(1.0, abs(value))


def real_atoms(matched: np.ndarray, min_share: float = ATOM_MIN_SHARE, max_share: float = ATOM_MAX_SHARE) -> tuple:
    """For real pieces' MATCHED values (pieces x MATCHED; an undefined value is left out), each
    feature's atom: its most common value where between `min_share` and `max_share` of the
    pieces with that feature defined hold it (within ATOM_TOLERANCE), as (feature, value,
    share). A feature of two values or fewer (the mode, 0 or 1) has none: its mean already says
    its share. Mean and sd alone let a set of samples spread evenly around a value that half the
    real pieces hold exactly (half the chorales have four voices at every onset; the samples'
    3.9-4.1 was told from them)."""
    M = np.atleast_2d(np.asarray(matched, float))
    out = []
    for j, name in enumerate(MATCHED):
        v = M[:, j][np.isfinite(M[:, j])]
        values, counts = np.unique(np.round(v, 9), return_counts=True)
        if len(values) <= 2:
            continue
        value = float(values[int(np.argmax(counts))])
        share = float(_on_atom(v, value).mean())
        if min_share <= share <= max_share:
            out.append((name, value, round(share, 6)))
    return tuple(out)


def atom_columns(values: np.ndarray, atoms: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indicator columns, their real means, their real sds): for (... x MATCHED) values, 1 where
    a value sits on its feature's atom, 0 where it does not, NaN where it is undefined; one
    column per atom."""
    values = np.asarray(values, float)
    if not atoms:
        return np.zeros(values.shape[:-1] + (0,)), np.zeros(0), np.zeros(0)
    cols = []
    for n, v, _ in atoms:
        x = values[..., MATCHED.index(n)]
        cols.append(np.where(np.isfinite(x), _on_atom(x, v), np.nan))
    shares = np.array([p for _, _, p in atoms])
    return np.stack(cols, axis=-1).astype(float), shares, np.sqrt(shares * (1 - shares))


def _optional_pair(d: dict, keys: tuple[str, str], size: int, what: str, rule: str, ok) -> tuple:
    """Two arrays of `size` numbers a critic document may hold together (both None when it holds
    neither); ValueError unless both are there, finite, and `ok(first, second)`."""
    if not set(keys) & set(d):
        return None, None
    try:
        a, b = (np.asarray(d[k], float) for k in keys)
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"the critic's {what} needs both {keys[0]} and {keys[1]}") from None
    if a.shape != (size,) or b.shape != a.shape or not np.isfinite(a).all() or not np.isfinite(b).all() or not ok(a, b):
        raise ValueError(f"the critic's {what} must be finite, {rule}")
    return a, b


def _ordered_subset(names, known) -> bool:
    """`names` are distinct strings of `known`, in `known`'s order."""
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names) or not set(names) <= set(known):
        return False
    at = [known.index(n) for n in names]
    return at == sorted(at)


def fit_critic(real: np.ndarray, samples: np.ndarray, C: float = 1.0, folds: int = 5, seed: int = 0,
               info: dict | None = None) -> Critic:
    """Fit a critic telling the rows of `samples` (a model's pieces) from the rows of `real`.

    The two classes are weighted to count alike whatever their sizes; `info` gains the
    cross-validated accuracy (balanced: 0.5 = the critic sees no difference).

    Raises:
        ValueError: fewer than `folds` rows in either set.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    real, samples = np.asarray(real, float), np.asarray(samples, float)
    n = len(CRITIC_FEATURE_NAMES)
    if real.shape[1:] != (n,) or samples.shape[1:] != (n,):
        raise ValueError(f"a critic reads the {n} critic features (feature_matrix(..., critic=True))")
    if min(len(real), len(samples)) < folds:
        raise ValueError(f"a critic needs at least {folds} real pieces and {folds} samples with notes "
                         f"(got {len(real)} and {len(samples)})")
    X = np.vstack([samples, real])
    y = np.r_[np.zeros(len(samples)), np.ones(len(real))]
    finite = np.where(np.isfinite(X), X, np.nan)
    counted = np.isfinite(finite).any(axis=0)
    fill = np.where(counted, np.nanmean(np.where(counted, finite, 0.0), axis=0), 0.0)
    X = np.where(np.isfinite(X), X, fill)
    peaked = X[:, _TWO_SIDED_AT]
    centre = np.median(peaked[len(samples):], axis=0)
    low, high = peaked[len(samples):].min(axis=0), peaked[len(samples):].max(axis=0)
    outside = ((peaked[:len(samples)] < low) | (peaked[:len(samples)] > high)).any(axis=1)
    X = _terms(X, centre)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    Z = (X - mean) / scale
    model = LogisticRegression(C=C, max_iter=5000, class_weight="balanced")
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    accuracy = float(np.mean(cross_val_score(model, Z, y, cv=cv, scoring="balanced_accuracy")))
    model.fit(Z, y)
    info = {**(info or {}), "real_pieces": int(len(real)), "samples": int(len(samples)), "C": C,
            "cross_validated_accuracy": round(accuracy, 4),
            "samples_outside_real_range": round(float(outside.mean()), 4)}
    matched = X[len(samples):, _MATCHED_AT]  # the real rows, filled
    every = X[len(samples):, :n]
    return Critic(fill, centre, mean, scale, model.coef_[0].astype(float), float(model.intercept_[0]), info,
                  low=low, high=high, ref_mean=matched.mean(axis=0), ref_sd=np.maximum(matched.std(axis=0), 1e-6),
                  all_mean=every.mean(axis=0), all_sd=np.maximum(every.std(axis=0), 1e-6),
                  atoms=real_atoms(np.asarray(real, float)[:, _MATCHED_AT]))


def weighted_choice(scores, rng: np.random.Generator) -> np.ndarray:
    """For a (candidates x samples) array of scores, one candidate per sample drawn with
    probability proportional to exp(score): with log-odds from a critic fitted on balanced
    classes, exp(score) estimates p_real / p_model, so the kept pieces follow the real music's
    distribution more closely as candidates grow (sampling-importance-resampling), where
    `best_of` keeps only the most typical."""
    p = choice_probabilities(scores)
    u = rng.random(p.shape[1])
    return np.minimum((np.cumsum(p, axis=0) < u).sum(axis=0), p.shape[0] - 1)


def choice_probabilities(scores) -> np.ndarray:
    """(candidates x samples): the probability `weighted_choice` keeps each candidate,
    exp(score) normalised within each sample; a sample none of whose candidates has a finite
    score keeps its first, as `best_of` does."""
    scores = np.asarray(scores, float)
    scores = np.where(np.isnan(scores), -np.inf, scores)
    scores = np.where(scores == np.inf, np.finfo(float).max / 4, scores)
    top = scores.max(axis=0)
    none = ~np.isfinite(top)
    w = np.exp(scores - np.where(none, 0.0, top))
    w[:, none] = 0.0
    w[0, none] = 1.0
    return w / w.sum(axis=0)


def matched_choice(scores, values, critic: Critic, weight: float = MATCH_WEIGHT, passes: int = 3,
                   keep_mode: bool = False, every=None, every_weight: float = 0.0) -> np.ndarray:
    """For (candidates x samples) scores and (candidates x samples x MATCHED) feature values, one
    candidate per sample, chosen for the whole set at once: the sum of the kept scores minus
    `weight` x samples x the set's distance from the real pieces (per MATCHED feature, the squared
    gap of the kept values' mean from the real mean and of their sd from the real sd, both in real
    sds). Per-sample choices drift together (every sample's best candidate has the smoothest top
    line, so the set's lines are all too smooth, and too few are in minor); this keeps the set as
    varied as the corpus, its share of pieces in minor included; where the critic knows atoms
    (`real_atoms`: a value such as four voices at every onset that many real pieces hold
    exactly), the share of the set on each counts as one more feature. With fewer than
    `MATCH_MIN_SAMPLES` samples it is `best_of`. With `keep_mode`, a sample's
    candidates in another mode (major or minor) than its plain draw (candidate 0) are never kept,
    so the set keeps the model's own share of minor pieces instead (measured worse on the Bach
    model, whose plain draws are too often major: benchmarks/results/quality-probes-session8.md).
    With `every` (candidates x samples x all `CRITIC_FEATURE_NAMES`) and `every_weight` > 0, for
    a critic that knows the real spread of every feature (`all_mean`), each feature's distance
    counts too, at `every_weight` (a MATCHED one then at `weight` + `every_weight`): the
    listening test reads the whole of a piece, and a set matched on 13 features still differs
    from the corpus in the others. Coordinate ascent from the best candidate of each, `passes`
    sweeps over the samples."""
    scores = np.where(np.isfinite(np.asarray(scores, float)), scores, -1e12)  # unreadable: never over a real one
    cands, n = scores.shape
    if n < MATCH_MIN_SAMPLES:  # a few samples' spread says little; matching it would pick extremes
        return np.argmax(scores, axis=0)
    values = np.asarray(values, float)
    # keep_mode: each sample keeps the mode of its plain draw (candidate 0)
    mode = values[:, :, MATCHED.index("minor_mode")]
    other = np.isfinite(mode[:1]) & np.isfinite(mode) & (mode != mode[:1])
    scores = np.where(other & keep_mode, np.minimum(scores, -1e9), scores)
    Z = (values - critic.ref_mean) / critic.ref_sd
    atoms = getattr(critic, "atoms", ())
    if atoms:  # the set's share on each atom, as a 0/1 column matched like the others
        on, share, sd = atom_columns(values, atoms)  # undefined: NaN, typical below
        Z = np.concatenate([Z, np.clip((on - share) / sd, -ATOM_Z_LIMIT, ATOM_Z_LIMIT)], axis=-1)
    w = np.full(Z.shape[-1], float(weight))
    if every is not None and every_weight > 0 and critic.all_mean is not None:
        Z = np.concatenate([Z, (np.asarray(every, float) - critic.all_mean) / critic.all_sd], axis=-1)
        w = np.r_[w, np.full(len(critic.all_mean), float(every_weight))]
    Z = np.where(np.isfinite(Z), Z, 0.0)  # an undefined feature counts as typical
    keep = np.argmax(scores, axis=0)
    for _ in range(passes if n > 1 else 0):
        for i in range(n):
            kept = Z[keep, np.arange(n)]
            rest_sum, rest_sq = kept.sum(axis=0) - kept[i], (kept ** 2).sum(axis=0) - kept[i] ** 2
            m = (rest_sum + Z[:, i]) / n  # [cands, features]: the set's mean with candidate k at i
            sd = np.sqrt(np.maximum((rest_sq + Z[:, i] ** 2) / n - m ** 2, 0.0))
            distance = ((m ** 2 + (sd - 1.0) ** 2) * w).sum(axis=1)
            keep[i] = int(np.argmax(scores[:, i] - n * distance))
    return keep


def best_of(scores) -> np.ndarray:
    """For a (candidates x samples) array of scores, the candidate each sample keeps (the first of
    equal best)."""
    scores = np.asarray(scores, float)
    return np.argmax(np.where(np.isnan(scores), -np.inf, scores), axis=0)
