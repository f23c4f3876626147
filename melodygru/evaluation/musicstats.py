"""Music statistics of pieces, and how closely two sets of pieces agree on them.

Per-piece metrics in the spirit of MusPy (Dong et al. 2020) and MGEval (Yang & Lerch 2018), all on
note events in quarter notes. A "beat" is a quarter note, and a piece spans the whole quarters
from the floor of its first onset to the ceiling of its last note's end (leading silence before
the first note is not counted, trailing silence inside the last quarter is).

Two sets are compared metric by metric with MGEval's overlapping area: the area under the minimum of
the two sets' Gaussian kernel density estimates (Scott's bandwidth), 1 for identical distributions
and 0 for disjoint ones. The note-length histogram is compared by its mean over each set, as
1 - total variation distance. Implemented with numpy only (scipy is not a dependency).
"""


from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np

from ..analysis.features import repeated_4grams, scale_fit
from ..core.events import Piece

TICKS = 960  # per quarter: exact for 12-step grids and MIDI at 480/960 tpq; float onsets are compared as ints
# Duration classes: each standard value up to a factor sqrt(2) either side (geometric midpoints),
# so a triplet eighth (1/3) counts as a 16th and a dotted quarter (1.5) as a half.
LENGTH_CLASSES = ("32nd or less", "16th", "8th", "quarter", "half", "whole or more")
LENGTH_EDGES = tuple(2.0 ** (e + 0.5) for e in (-3, -2, -1, 0, 1))


@dataclass(frozen=True)
class Metric:
    """A per-piece statistic; `step` > 0 for one whose values are multiples of it (counts)."""

    name: str
    label: str
    help: str
    step: float = 0.0

    @property
    def min_bandwidth(self) -> float:
        # A count that is (nearly) constant in one set would be a spike of Scott's bandwidth ~0,
        # whose overlap with a set that has the same value 90% of the time would come out ~0.1.
        # A quarter step keeps neighbouring counts apart (overlap of k vs k+1 is 0.05).
        return self.step / 4


METRICS = (
    Metric("pitch_range", "pitch range", "highest - lowest MIDI pitch (semitones)", step=1),
    Metric("pitch_classes", "pitch classes", "distinct pitch classes used (0-12)", step=1),
    Metric("pitch_class_entropy", "pitch-class entropy", "entropy of the pitch-class histogram (bits)"),
    Metric("scale_consistency", "scale consistency", "largest share of notes in one major/minor scale"),
    Metric("polyphony", "polyphony", "mean number of notes sounding at each onset"),
    Metric("onsets_per_quarter", "onsets per beat", "distinct onset times per quarter note"),
    Metric("empty_beat_rate", "empty-beat rate", "share of quarter-note beats with no sounding note"),
    Metric("mean_abs_interval", "mean |interval|", "mean absolute step between the top notes of consecutive onsets"),
    Metric("top_pitch_share", "top-pitch share", "share of notes on the most common pitch (degeneracy)"),
    Metric("repeated_4gram_rate", "repeated 4-grams", "share of pitch 4-grams that repeat an earlier one (degeneracy)"),
    Metric("longest_token_run", "longest token run", "longest run of one repeated token id (degeneracy)", step=1),
)
HISTOGRAM = Metric("note_length_hist", "note lengths", "distribution of notes over duration classes")
DEGENERACY = ("top_pitch_share", "repeated_4gram_rate")  # flagged above the reference's own maximum


# --------------------------------------------------------------------------- per piece
def piece_statistics(piece: Piece, ids=None) -> dict | None:
    """Every metric of one piece: floats (NaN where undefined), and 'note_length_hist' as an array.

    Args:
        piece: the notes (drums are ignored: they have no pitch in the melodic sense).
        ids: the piece's token ids, for 'longest_token_run' (NaN without them).

    Returns:
        The metrics, or None for a piece without pitched notes.
    """
    notes = [n for n in piece.notes if not n.is_drum]
    if not notes:
        return None
    pitch = np.array([n.pitch for n in notes])
    on = np.array([round(n.onset * TICKS) for n in notes], dtype=np.int64)
    end = np.maximum(np.array([round(n.end * TICKS) for n in notes], dtype=np.int64), on + 1)  # zero-length: 1 tick
    dur_q = np.array([n.duration for n in notes])
    order = np.lexsort((pitch, on))
    pitch, on, end = pitch[order], on[order], end[order]

    pc_counts = np.bincount(pitch % 12, minlength=12)
    pc_share = pc_counts / pc_counts.sum()
    nz = pc_share[pc_share > 0]

    onsets, first = np.unique(on, return_index=True)
    # notes sounding at each onset u: started at or before u and ending after it
    started = np.searchsorted(np.sort(on), onsets, side="right")
    ended = np.searchsorted(np.sort(end), onsets, side="right")
    sounding = started - ended

    beat0 = int(on.min() // TICKS)
    beats = max(1, -(-int(end.max()) // TICKS) - beat0)
    cover = np.zeros(beats + 1, dtype=np.int64)  # difference array over beats
    np.add.at(cover, on // TICKS - beat0, 1)
    np.add.at(cover, -(-end // TICKS) - beat0, -1)
    empty = float(np.mean(np.cumsum(cover)[:beats] == 0))

    top = np.maximum.reduceat(pitch, first)  # highest pitch at each onset (notes sorted by onset)
    _, pitch_counts = np.unique(pitch, return_counts=True)

    return {
        "pitch_range": float(pitch.max() - pitch.min()),
        "pitch_classes": float(np.count_nonzero(pc_counts)),
        "pitch_class_entropy": float(-(nz * np.log2(nz)).sum()),
        "scale_consistency": scale_fit(pc_counts),
        "polyphony": float(sounding.mean()),
        "onsets_per_quarter": float(len(onsets) / beats),
        "empty_beat_rate": empty,
        "mean_abs_interval": float(np.abs(np.diff(top)).mean()) if len(top) > 1 else math.nan,
        "top_pitch_share": float(pitch_counts.max() / pitch.size),
        "repeated_4gram_rate": float(repeated_4grams(pitch)),
        "longest_token_run": float(longest_run(ids)) if ids is not None else math.nan,
        HISTOGRAM.name: length_histogram(dur_q),
    }


def length_histogram(durations) -> np.ndarray:
    """Share of `durations` (quarter notes) in each of `LENGTH_CLASSES`."""
    d = np.asarray(durations, dtype=float)
    counts = np.bincount(np.searchsorted(LENGTH_EDGES, d, side="right"), minlength=len(LENGTH_CLASSES))
    return counts / max(1, d.size)


def longest_run(ids) -> int:
    """Length of the longest run of one repeated value (0 for an empty sequence)."""
    a = np.asarray(ids).reshape(-1)
    if a.size == 0:
        return 0
    breaks = np.flatnonzero(a[1:] != a[:-1]) + 1
    bounds = np.concatenate([[0], breaks, [a.size]])
    return int(np.diff(bounds).max())


# --------------------------------------------------------------------------- distributions
def scott_bandwidth(x) -> float:
    """Scott's rule for a 1-D Gaussian KDE: std (ddof=1) * n**(-1/5), as scipy's gaussian_kde."""
    x = np.asarray(x, dtype=float)
    if x.size < 2:
        return 0.0
    return float(np.std(x, ddof=1) * x.size ** (-0.2))


def gaussian_kde(x, grid, bandwidth: float) -> np.ndarray:
    """Density of the Gaussian KDE of samples `x` with `bandwidth` at the points `grid`."""
    x = np.asarray(x, dtype=float)
    z = (np.asarray(grid, dtype=float)[:, None] - x[None, :]) / bandwidth
    return np.exp(-0.5 * z * z).sum(axis=1) / (x.size * bandwidth * math.sqrt(2 * math.pi))


def kde_curves(a, b, points: int = 2048, min_bandwidth: float = 0.0):
    """(grid, density of a, density of b) on one grid covering both sets, or None if either set is
    empty or every value of both is the same.

    A set whose values are all equal has no spread for Scott's rule; its bandwidth is floored at
    1/100 of the pooled range (and at `min_bandwidth`), so it shows as a narrow bump.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return None
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    span = hi - lo
    if span == 0:
        return None
    bw_a = max(scott_bandwidth(a), span / 100, min_bandwidth)
    bw_b = max(scott_bandwidth(b), span / 100, min_bandwidth)
    pad = 4 * max(bw_a, bw_b)
    grid = np.linspace(lo - pad, hi + pad, points)
    return grid, gaussian_kde(a, grid, bw_a), gaussian_kde(b, grid, bw_b)


def kde_overlap(a, b, points: int = 2048, min_bandwidth: float = 0.0) -> float:
    """MGEval's overlapping area of the two sets' KDEs: 1 = same distribution, 0 = disjoint.

    Two sets holding one and the same constant value overlap fully (1.0); an empty set gives NaN.
    `min_bandwidth` floors both bandwidths (see `Metric.min_bandwidth`).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return math.nan
    curves = kde_curves(a, b, points, min_bandwidth)
    if curves is None:
        return 1.0  # every value of both sets is the same number
    grid, fa, fb = curves
    y = np.minimum(fa, fb)
    return float(min(1.0, np.sum((y[1:] + y[:-1]) * np.diff(grid)) / 2))


def histogram_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """1 - total variation distance between two histograms (normalised first)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.sum() <= 0 or b.sum() <= 0:
        return math.nan
    return float(1.0 - 0.5 * np.abs(a / a.sum() - b / b.sum()).sum())


# --------------------------------------------------------------------------- comparing two sets
@dataclass
class MetricComparison:
    """One metric over both sets: medians (or mean histograms) and their overlap."""

    name: str
    label: str
    samples: np.ndarray  # per-piece values (finite ones) or (pieces, classes) histograms
    reference: np.ndarray
    overlap: float
    min_bandwidth: float = 0.0

    @property
    def is_histogram(self) -> bool:
        return self.samples.ndim == 2

    def summary(self, values: np.ndarray):
        if self.is_histogram:
            return values.mean(axis=0).tolist() if len(values) else None
        return float(np.median(values)) if len(values) else None

    def as_dict(self) -> dict:
        key = "mean_histogram" if self.is_histogram else "median"
        d = {f"samples_{key}": self.summary(self.samples), f"reference_{key}": self.summary(self.reference),
             "overlap": None if math.isnan(self.overlap) else round(self.overlap, 4),
             "samples_n": len(self.samples), "reference_n": len(self.reference)}
        if self.is_histogram:
            d["classes"] = list(LENGTH_CLASSES)
        return d


@dataclass
class StatsComparison:
    """Samples against a reference set, metric by metric, plus the degeneracy check."""

    metrics: list[MetricComparison]
    samples: int
    reference: int
    empty_samples: list[str] = field(default_factory=list)
    flagged: list[tuple[str, list[str]]] = field(default_factory=list)  # (sample, reasons)

    @property
    def mean_overlap(self) -> float:
        values = [m.overlap for m in self.metrics if not math.isnan(m.overlap)]
        return float(np.mean(values)) if values else math.nan

    def as_dict(self) -> dict:
        return {
            "samples": self.samples,
            "reference": self.reference,
            "metrics": {m.name: m.as_dict() for m in self.metrics},
            "mean_overlap": None if math.isnan(self.mean_overlap) else round(self.mean_overlap, 4),
            "empty_samples": self.empty_samples,
            "flagged": [{"sample": name, "reasons": reasons} for name, reasons in self.flagged],
        }

    def degeneracy_lines(self) -> list[str]:
        """What `lines` says about empty and degenerate samples, without the table."""
        out = []
        if self.empty_samples:
            out.append(f"{len(self.empty_samples)} samples have no notes: {', '.join(self.empty_samples)}")
        if self.flagged:
            out.append(f"degenerate: {len(self.flagged)} samples exceed the reference's own maximum:")
            out += [f"  {name}: {'; '.join(reasons)}" for name, reasons in self.flagged]
        else:
            out.append("degeneracy check: no sample exceeds the reference's maximum top-pitch share "
                       "or repeated-4-gram rate")
        return out

    def lines(self) -> list[str]:
        out = [f"music statistics: {self.samples} samples vs {self.reference} reference pieces",
               f"  {'metric':<20} {'samples':>9} {'reference':>10} {'overlap':>8}"]
        for m in self.metrics:
            ov = "n/a" if math.isnan(m.overlap) else f"{m.overlap:.3f}"
            if m.is_histogram:
                out.append(f"  {m.label:<20} {'(mean histograms)':>20} {ov:>8}")
                for cls, s, r in zip(LENGTH_CLASSES, m.summary(m.samples) or [], m.summary(m.reference) or []):
                    out.append(f"    {cls:<18} {s:>9.3f} {r:>10.3f}")
                continue
            s, r = m.summary(m.samples), m.summary(m.reference)
            fmt = lambda v: "n/a" if v is None else f"{v:.3g}"  # noqa: E731
            out.append(f"  {m.label:<20} {fmt(s):>9} {fmt(r):>10} {ov:>8}")
        out.append(f"mean overlap over {len(self.metrics)} metrics: {self.mean_overlap:.3f} (1 = same distributions)")
        return out + self.degeneracy_lines()


def compare_sets(samples: list[tuple[str, dict | None]], reference: list[tuple[str, dict | None]]) -> StatsComparison:
    """Compare per-piece statistics (from `piece_statistics`) of samples against a reference set.

    Args:
        samples: (name, statistics or None for a piece without notes) per sample.
        reference: the same for the reference pieces.
    """
    s_stats = [st for _, st in samples if st is not None]
    r_stats = [st for _, st in reference if st is not None]
    metrics = []
    for m in METRICS:
        s = np.array([st[m.name] for st in s_stats], dtype=float)
        r = np.array([st[m.name] for st in r_stats], dtype=float)
        s, r = s[np.isfinite(s)], r[np.isfinite(r)]
        metrics.append(MetricComparison(m.name, m.label, s, r, kde_overlap(s, r, min_bandwidth=m.min_bandwidth),
                                        m.min_bandwidth))
    hs = np.array([st[HISTOGRAM.name] for st in s_stats]).reshape(-1, len(LENGTH_CLASSES))
    hr = np.array([st[HISTOGRAM.name] for st in r_stats]).reshape(-1, len(LENGTH_CLASSES))
    overlap = histogram_overlap(hs.mean(axis=0), hr.mean(axis=0)) if len(hs) and len(hr) else math.nan
    metrics.append(MetricComparison(HISTOGRAM.name, HISTOGRAM.label, hs, hr, overlap))

    flagged = []
    limits = {}
    for name in DEGENERACY:
        values = [st[name] for st in r_stats if math.isfinite(st[name])]
        if values:
            limits[name] = max(values)
    labels = {m.name: m.label for m in METRICS}
    for sample_name, st in samples:
        if st is None:
            continue
        reasons = [f"{labels[k]} {st[k]:.3f} > reference max {limit:.3f}"
                   for k, limit in limits.items() if math.isfinite(st[k]) and st[k] > limit + 1e-12]
        if reasons:
            flagged.append((sample_name, reasons))
    return StatsComparison(metrics, len(samples), len(reference),
                           empty_samples=[name for name, st in samples if st is None], flagged=flagged)


def plot_comparison(comparison: StatsComparison, path, samples_label: str = "samples",
                    reference_label: str = "reference") -> None:
    """A PNG with one panel per metric: both sets' KDEs (or mean histograms) with the overlap shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core.atomic import atomic_write_bytes

    n = len(comparison.metrics)
    cols = 4
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, m in zip(axes.flat, comparison.metrics):
        title = m.label if math.isnan(m.overlap) else f"{m.label} (overlap {m.overlap:.2f})"
        ax.set_title(title, fontsize=9)
        if m.is_histogram:
            x = np.arange(len(LENGTH_CLASSES))
            for off, values, label in ((-0.2, m.samples, samples_label), (0.2, m.reference, reference_label)):
                if len(values):
                    ax.bar(x + off, values.mean(axis=0), width=0.4, label=label)
            ax.set_xticks(x, LENGTH_CLASSES, rotation=30, fontsize=7)
            continue
        curves = kde_curves(m.samples, m.reference, min_bandwidth=m.min_bandwidth)
        if curves is None:
            for values, label in ((m.samples, samples_label), (m.reference, reference_label)):
                if len(values):
                    ax.axvline(values[0], label=label)
            continue
        grid, fa, fb = curves
        ax.plot(grid, fa, label=samples_label)
        ax.plot(grid, fb, label=reference_label)
        ax.fill_between(grid, np.minimum(fa, fb), alpha=0.3, color="grey")
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{samples_label} vs {reference_label}: mean overlap {comparison.mean_overlap:.3f}", fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
