"""A listening test a machine can run: can a classifier tell generated pieces from real ones?

The two-sample test (Lopez-Paz & Oquab 2017, "Revisiting classifier two-sample tests") trains a
classifier to separate two sets of pieces and reports its cross-validated accuracy: 0.5 means the
sets cannot be told apart, 1.0 that every piece gives itself away. Each piece is described by
transposition-invariant features a musician would recognise (`FEATURES`): the intervals of the top
and bottom lines, note lengths and the gaps between onsets, texture (how many notes sound, how often
all voices move together), the shape of the pitch-class profile relative to the piece's own key, and
how often melodic patterns and whole bars come back. The classifier is scikit-learn's L2 logistic
regression on standardized features, scored by stratified k-fold cross-validation over repeated
draws; the same test on two disjoint draws of real pieces gives its floor (~0.5).

Pieces are compared over the same stretch of music: a real piece longer than the samples is cut at
the first bar line after the samples' typical length, so length itself (a longer piece has a wider
range and more chances to repeat) does not give the samples away.
"""


from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..core.events import Piece
from .copies import _copy_summary, copy_check
from ..analysis.features import feature_matrix, match_lengths, random_piece, shuffled_pitches
from .twosample import Giveaway, TwoSampleResult, giveaways, two_sample_test


# --------------------------------------------------------------------------- statistics with ceilings
@dataclass
class CalibratedMetric:
    """One music statistic: the samples' overlap with real pieces beside what real pieces (the
    ceiling) and junk (the floor) get on it; only metrics that junk fails count in the mean."""

    name: str
    label: str
    samples_median: float | None
    real_median: float | None
    overlap: float
    ceiling: float
    junk: dict[str, float]
    kept: bool
    compared: int = 0  # pieces per set in the overlaps (samples, ceiling and junk alike)

    @property
    def of_ceiling(self) -> float:
        return self.overlap / self.ceiling if self.ceiling > 0 else math.nan

    def as_dict(self) -> dict:
        r = lambda v: None if v is None or not math.isfinite(v) else round(float(v), 4)  # noqa: E731
        return {"label": self.label, "samples_median": r(self.samples_median), "real_median": r(self.real_median),
                "overlap": r(self.overlap), "ceiling": r(self.ceiling), "of_ceiling": r(self.of_ceiling),
                "junk": {k: r(v) for k, v in self.junk.items()}, "kept": self.kept, "pieces_per_set": self.compared}


JUNK_MAX = 0.5  # a metric counts only when some junk scores below this overlap (and well below the ceiling)
SIZE_DRAWS = 10  # draws of equal-sized sets averaged where a set is larger than the smallest one


def calibrated_statistics(samples: list[Piece], real_a: list[Piece], real_b: list[Piece], tokenizer,
                          seed: int = 0) -> list[CalibratedMetric]:
    """melodygru's music statistics (`musicstats`) of the samples against `real_a`, with the
    real-vs-real ceiling (`real_b` against `real_a`) and two junk floors (`real_b` with shuffled
    pitches; random notes over each piece's span and range).

    The samples, the ceiling's real pieces and the junk are compared with `real_a` as sets of one
    size, the smaller of the samples and `real_b` (each larger set drawn `SIZE_DRAWS` times at
    random, its overlaps averaged): a distribution estimated from fewer pieces overlaps less with
    any other (a few pieces more or less on a peak move a small set's density a lot), so a
    ceiling from 500 real pieces would ask more of 100 samples than real music of that size
    achieves, and one from 20 would ask less."""
    from .musicstats import HISTOGRAM, compare_sets, piece_statistics

    rng = np.random.default_rng(seed)

    def stats(pieces):
        out = []
        for p in pieces:
            try:
                ids = tokenizer.encode(p)
            except Exception:  # a junk piece the tokenizer refuses: its token runs are unknown
                ids = None
            out.append((p.source, piece_statistics(p, ids)))
        return out

    ref = stats(real_a)
    other = [p for p in real_b if any(not n.is_drum for n in p.notes)]
    sets = {"samples": stats(samples), "ceiling": stats(other),
            "shuffled": stats([shuffled_pitches(p, rng) for p in other]),
            "random": stats([random_piece(p, rng) for p in other])}
    size = min(len(sets["samples"]), len(sets["ceiling"]))
    draw_rng = np.random.default_rng(seed + 7)

    def overlaps(rows) -> np.ndarray:
        """Each metric's overlap with `ref` for sets of `size` rows (averaged over draws)."""
        if len(rows) <= size:
            return np.array([m.overlap for m in compare_sets(rows, ref).metrics])
        got = [[m.overlap for m in compare_sets([rows[i] for i in draw_rng.choice(len(rows), size, replace=False)],
                                                ref).metrics] for _ in range(SIZE_DRAWS)]
        got = np.array(got, float)
        return np.array([np.mean(c[np.isfinite(c)]) if np.isfinite(c).any() else math.nan for c in got.T])

    whole = compare_sets(sets["samples"], ref)  # the medians, from every sample
    runs = {k: np.array([m.overlap for m in whole.metrics]) if k == "samples" and len(rows) <= size
            else overlaps(rows) for k, rows in sets.items()}  # samples no larger than `size`: `whole` is their run
    out = []
    for i, m in enumerate(whole.metrics):
        ceiling = float(runs["ceiling"][i])
        junk = {k: float(runs[k][i]) for k in ("shuffled", "random")}
        finite = [v for v in junk.values() if math.isfinite(v)]
        kept = bool(finite) and math.isfinite(ceiling) and min(finite) < min(JUNK_MAX, 0.6 * ceiling)
        hist = m.name == HISTOGRAM.name
        out.append(CalibratedMetric(m.name, m.label, None if hist else m.summary(m.samples),
                                    None if hist else m.summary(m.reference), float(runs["samples"][i]), ceiling,
                                    junk, kept, size))
    return out


# --------------------------------------------------------------------------- the whole report
@dataclass
class ListeningReport:
    """Everything `evaluate --samples` says about how far samples are from real music."""

    samples: int
    reference: int
    reference_kind: str
    test: TwoSampleResult
    floor: TwoSampleResult
    floor_kind: str
    boosting: TwoSampleResult | None
    giveaways: list[Giveaway]
    statistics: list[CalibratedMetric]
    copies: dict | None = None  # {'samples': summary, 'held_out': summary}
    endings: dict | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def kept_mean(self) -> tuple[float, float]:
        kept = [m for m in self.statistics if m.kept and math.isfinite(m.overlap)]
        if not kept:
            return math.nan, math.nan
        return float(np.mean([m.overlap for m in kept])), float(np.mean([m.of_ceiling for m in kept]))

    def as_dict(self) -> dict:
        mean, of_ceiling = self.kept_mean
        return {"samples": self.samples, "reference": self.reference, "reference_kind": self.reference_kind,
                "two_sample": {**self.test.as_dict(), "classifier": "logistic regression (L2)"},
                "floor": {**self.floor.as_dict(), "kind": self.floor_kind},
                "boosting": self.boosting.as_dict() if self.boosting else None,
                "giveaways": [{"feature": g.name, "help": g.help, "samples": g.samples, "real": g.real,
                               "effect": g.effect} for g in self.giveaways],
                "statistics": {m.name: m.as_dict() for m in self.statistics},
                "kept_mean_overlap": None if math.isnan(mean) else round(mean, 4),
                "kept_mean_of_ceiling": None if math.isnan(of_ceiling) else round(of_ceiling, 4),
                "copies": self.copies, "endings": self.endings, "notes": self.notes}

    def lines(self) -> list[str]:
        t, f = self.test, self.floor
        out = [f"listening test: {self.samples} samples vs {self.reference} {self.reference_kind}",
               f"  two-sample accuracy {t.accuracy:.3f} (95% {t.low:.2f}-{t.high:.2f}; logistic regression, "
               f"{t.folds}-fold CV x {t.repeats}, n = {t.n_a} + {t.n_b}; 0.5 = cannot be told apart, 1 = always)",
               f"  floor: {f.accuracy:.3f} for two disjoint sets of real pieces ({self.floor_kind}, n = {f.n_a} + {f.n_b})"]
        if self.boosting is not None:
            out.append(f"  gradient boosting on the same features: {self.boosting.accuracy:.3f}")
        if self.giveaways:
            out.append("  what gives the samples away (largest differences first):")
            out += [f"    {g.describe()}" for g in self.giveaways]
        size = self.statistics[0].compared if self.statistics else 0
        out.append("music statistics (overlap of the distributions, 1 = same; ceiling = real vs real; "
                   f"junk = shuffled pitches / random notes; sets of {size} pieces each against the same real ones):")
        out.append(f"  {'metric':<20} {'samples':>9} {'real':>9} {'overlap':>8} {'ceiling':>8} "
                   f"{'of ceil.':>8} {'junk':>11}  counted")
        fmt = lambda v: "n/a" if v is None or not math.isfinite(v) else f"{v:.3g}"  # noqa: E731
        for m in self.statistics:
            junk = "/".join("n/a" if not math.isfinite(v) else f"{v:.2f}" for v in m.junk.values())
            out.append(f"  {m.label:<20} {fmt(m.samples_median):>9} {fmt(m.real_median):>9} {fmt(m.overlap):>8} "
                       f"{fmt(m.ceiling):>8} {fmt(m.of_ceiling):>8} {junk:>11}  "
                       f"{'yes' if m.kept else 'no (junk passes)'}")
        mean, of_ceiling = self.kept_mean
        n_kept = sum(m.kept for m in self.statistics)
        out.append(f"  mean overlap over the {n_kept} counted metrics: {mean:.3f} ({of_ceiling:.1%} of the real-vs-real ceiling)")
        if self.copies:
            s, h = self.copies["samples"], self.copies["held_out"]
            out.append(f"copy check against {self.copies['training']} training pieces: longest run of bars found "
                       f"verbatim (transposed or not) median {s['median_longest_bars']}, max {s['max_longest_bars']}; "
                       f"2-bar windows found {s['mean_share_2bar']:.1%}")
            if h:
                out.append(f"  held-out real pieces: median {h['median_longest_bars']}, max {h['max_longest_bars']}; "
                           f"2-bar windows {h['mean_share_2bar']:.1%}")
            if self.copies.get("over"):
                out.append(f"  samples sharing more bars than any held-out piece: {', '.join(self.copies['over'])}")
        if self.endings:
            out.append(f"endings: {self.endings['eos']} of {self.endings['samples']} samples end with the model's "
                       f"own end of piece; {self.endings['on_bar']} end on a bar line")
        out += self.notes
        return out


def listening_test(samples: list[Piece], reference: list[Piece], tokenizer, reference_kind: str = "reference pieces",
                   floor_pool: list[Piece] | None = None, training: list[Piece] | None = None,
                   repeats: int = 10, folds: int = 5, seed: int = 0, boosting: bool = False) -> ListeningReport:
    """The whole test: two-sample accuracy and its floor, the giveaways, the calibrated statistics
    and (with `training`) the copy check.

    Args:
        samples: the generated pieces.
        reference: real pieces the model did not train on.
        floor_pool: real pieces for the floor's two disjoint sets [default: `reference`]; the floor
            uses as many pieces per set as the test does, or half the pool when it is smaller.
        training: the model's training pieces, for the copy check.
    """
    notes = []
    ref = match_lengths(reference, samples, seed)
    S, _ = feature_matrix(samples)
    R, _ = feature_matrix(ref)
    if len(S) < folds or len(R) < folds:
        from ..core.errors import MelodyGRUError

        raise MelodyGRUError(f"the listening test needs at least {folds} samples and {folds} reference pieces "
                             f"with notes (got {len(S)} and {len(R)})")
    test = two_sample_test(S, R, folds, repeats, seed)
    boost = two_sample_test(S, R, folds, max(1, repeats // 3), seed, classifier="boosting") if boosting else None
    if floor_pool is None:  # the floor draws from the reference itself: its features are at hand
        pool, P = ref, R
    else:
        pool = match_lengths(floor_pool, samples, seed + 2)
        P, _ = feature_matrix(pool)
    rng = np.random.default_rng(seed + 1)
    order = rng.permutation(len(P))
    n = min(test.n_a, len(P) // 2)
    floor_kind = "held-out pieces" if floor_pool is None else "pieces of the same corpus"
    if n < test.n_a:
        notes.append(f"note: the floor uses {n} + {n} pieces (the pool has {len(P)}), the test {test.n_a} + {test.n_b}")
    if n < folds:
        from ..core.errors import MelodyGRUError

        raise MelodyGRUError(f"the listening test's floor needs at least {2 * folds} real pieces with notes "
                             f"(two sets of {folds}), got {len(P)}")
    floor = two_sample_test(P[order[:n]], P[order[n:2 * n]], folds, repeats, seed)
    half = len(pool) // 2
    cut = rng.permutation(len(pool))
    stats = calibrated_statistics(samples, [pool[i] for i in cut[:half]], [pool[i] for i in cut[half:]], tokenizer, seed)
    copies = None
    if training:
        s_rows = copy_check(samples, training)
        h_rows = copy_check(ref, training)
        limit = max((r["longest_bars"] for r in h_rows), default=0)
        copies = {"training": len(training), "samples": _copy_summary(s_rows), "held_out": _copy_summary(h_rows),
                  "over": [r["source"] for r in s_rows if r["longest_bars"] > max(limit, 2)]}
    return ListeningReport(len(S), len(R), reference_kind, test, floor, floor_kind, boost,
                           giveaways(S, R), stats, copies, None, notes)
