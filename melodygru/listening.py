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

from .events import Note, Piece

EPS = 1e-9
# |interval| classes in semitones: unison, 1..7 one by one, a sixth or seventh, the octave, wider
INTERVAL_CLASSES = ("0", "1", "2", "3", "4", "5", "6", "7", "8-11", "12", ">12")
# onset gaps and note lengths in quarter notes, each class up to a factor sqrt(2) either side
LENGTH_CLASSES = ("16th or less", "8th", "quarter", "half", "whole or more")
LENGTH_EDGES = (2 ** -1.5, 2 ** -0.5, 2 ** 0.5, 2 ** 1.5)
# Krumhansl & Kessler (1982) key profiles, tonic first
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
REPEAT_ORDERS = (2, 3, 4, 6, 8)
DEGREE_NAMES = ("1", "b2", "2", "b3", "3", "4", "#4", "5", "b6", "6", "b7", "7")


def _feature_names() -> tuple[tuple[str, str], ...]:
    out = []
    for line in ("top", "bass"):
        for c in INTERVAL_CLASSES:
            out.append((f"{line}_interval_{c}", f"{line} line: share of moves by {c} semitones"))
        out.append((f"{line}_mean_interval", f"{line} line: mean size of a move (semitones)"))
        out.append((f"{line}_direction_changes", f"{line} line: share of moves that turn the melody around"))
        out.append((f"{line}_range", f"{line} line: range (semitones)"))
    for c in LENGTH_CLASSES:
        out.append((f"length_{c}", f"share of notes lasting a {c}"))
    for c in LENGTH_CLASSES:
        out.append((f"gap_{c}", f"share of gaps between onsets of a {c}"))
    out += [
        ("polyphony", "mean number of notes sounding at an onset"),
        ("notes_per_onset", "mean number of notes starting together"),
        ("block_chords", "share of onsets where every sounding voice starts together"),
        ("single_onsets", "share of onsets where only one note starts"),
        ("offbeat_onsets", "share of onsets off the beat"),
        ("sixteenth_onsets", "share of onsets off the eighth-note grid"),
        ("onsets_per_quarter", "onsets per quarter note"),
        ("silence", "share of quarter notes with nothing sounding"),
        ("pitch_range", "range of all notes (semitones)"),
        ("key_clarity", "correlation of the pitch-class profile with its best major/minor key"),
        ("minor_mode", "best key is minor (1) or major (0)"),
        ("pc_entropy", "entropy of the pitch classes (bits)"),
        ("top_pc_share", "share of the most common pitch class"),
    ]
    for d in DEGREE_NAMES:
        out.append((f"degree_{d}", f"share of time on scale degree {d} of the piece's key"))
    for n in REPEAT_ORDERS:
        out.append((f"top_repeat_{n}", f"share of top-line patterns of {n} intervals heard earlier in the piece"))
    out += [
        ("bass_repeat_4", "share of bass patterns of 4 intervals heard earlier in the piece"),
        ("rhythm_repeat_4", "share of rhythms of 4 onset gaps heard earlier in the piece"),
        ("melody_rhythm_repeat_4", "share of 4-note figures (intervals and rhythm) heard earlier"),
        ("bar_repeat", "share of bars that repeat an earlier bar (transposed or not)"),
    ]
    return tuple(out)


FEATURES = _feature_names()
FEATURE_NAMES = tuple(n for n, _ in FEATURES)
FEATURE_HELP = dict(FEATURES)


# --------------------------------------------------------------------------- per-piece features
def _class_of(x: float, edges) -> int:
    return int(np.searchsorted(edges, x, side="right"))


def _shares(counts) -> list[float]:
    counts = np.asarray(counts, float)
    total = counts.sum()
    return list(counts / total) if total > 0 else [math.nan] * len(counts)


def _interval_class(iv: int) -> int:
    iv = abs(iv)
    if iv <= 7:
        return iv
    if iv < 12:
        return 8
    return 9 if iv == 12 else 10


def _onset_table(notes: list[Note]):
    """Onsets in order, with the notes starting and the notes sounding at each."""
    by_onset: dict[float, list[Note]] = {}
    for n in notes:
        by_onset.setdefault(round(n.onset, 6), []).append(n)
    onsets = sorted(by_onset)
    order = sorted(notes, key=lambda n: n.onset)
    sounding_at = []
    active: list[Note] = []
    k = 0
    for t in onsets:
        while k < len(order) and round(order[k].onset, 6) <= t:
            active.append(order[k])
            k += 1
        active = [n for n in active if n.onset + max(n.duration, EPS) > t + EPS or round(n.onset, 6) == t]
        sounding_at.append(list(active))
    return onsets, by_onset, sounding_at


def _line(onsets, by_onset, sounding_at, top: bool) -> list[int]:
    """The skyline (top) or the bass: the highest / lowest sounding note at each onset, taken
    where that note starts there (a held note is one note of the line, not a repeat)."""
    line = []
    for t, sounding in zip(onsets, sounding_at):
        pick = max(sounding, key=lambda n: n.pitch) if top else min(sounding, key=lambda n: n.pitch)
        if round(pick.onset, 6) == t:
            line.append(pick.pitch)
    return line


def _repeat_rate(seq, n: int) -> float:
    """Share of positions whose n-gram already occurred earlier in `seq` (NaN when too short)."""
    if len(seq) < n + 1:
        return math.nan
    seen = set()
    hits = 0
    grams = [tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)]
    for g in grams:
        hits += g in seen
        seen.add(g)
    return hits / len(grams)


def bar_starts(piece: Piece, end: float | None = None) -> list[float]:
    """Bar-line positions (quarter notes) from the piece's meters, up to `end`."""
    end = piece.end if end is None else end
    meters = [(ts.time, ts.bar_quarters) for ts in piece.time_signatures] or [(0.0, 4.0)]
    if meters[0][0] > 0:
        meters.insert(0, (0.0, 4.0))
    lines, t, i, length = [], 0.0, 0, meters[0][1]
    while t < end + EPS and len(lines) < 100_000:
        while i + 1 < len(meters) and meters[i + 1][0] <= t + EPS:
            i += 1
            length = meters[i][1]
        lines.append(t)
        t += max(length, 0.25)
    return lines


def bar_contents(piece: Piece) -> list[tuple]:
    """Each bar as a transposition-invariant tuple of (onset in bar, pitch above the bar's lowest
    note, duration), on a 48th-of-a-quarter grid; empty bars are ()."""
    notes = [n for n in piece.notes if not n.is_drum]
    starts = bar_starts(piece)
    out = []
    k = 0
    notes = sorted(notes, key=lambda n: n.onset)
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else math.inf
        bar = []
        while k < len(notes) and notes[k].onset < e - EPS:
            bar.append(notes[k])
            k += 1
        if bar:
            low = min(n.pitch for n in bar)
            out.append(tuple(sorted((round((n.onset - s) * 48), n.pitch - low, round(n.duration * 48)) for n in bar)))
        else:
            out.append(())
    return out


def piece_features(piece: Piece) -> np.ndarray | None:
    """`FEATURES` of one piece as a float vector (NaN where undefined), or None without notes."""
    notes = [n for n in piece.notes if not n.is_drum]
    if len(notes) < 2:
        return None
    onsets, by_onset, sounding_at = _onset_table(notes)
    f: list[float] = []
    lines = {}
    for top in (True, False):
        line = _line(onsets, by_onset, sounding_at, top)
        lines[top] = line
        iv = np.diff(line) if len(line) > 1 else np.zeros(0, int)
        f += _shares(np.bincount([_interval_class(int(x)) for x in iv], minlength=len(INTERVAL_CLASSES)))
        f.append(float(np.mean(np.abs(iv))) if len(iv) else math.nan)
        moves = [int(np.sign(x)) for x in iv if x != 0]
        f.append(float(np.mean([a != b for a, b in zip(moves, moves[1:])])) if len(moves) > 1 else math.nan)
        f.append(float(max(line) - min(line)) if line else math.nan)
    lengths = [n.duration for n in notes]
    f += _shares(np.bincount([_class_of(x, LENGTH_EDGES) for x in lengths], minlength=len(LENGTH_CLASSES)))
    gaps = np.diff(onsets)
    f += _shares(np.bincount([_class_of(x, LENGTH_EDGES) for x in gaps], minlength=len(LENGTH_CLASSES)))
    starting = [len(by_onset[t]) for t in onsets]
    sounding = [len(s) for s in sounding_at]
    f.append(float(np.mean(sounding)))
    f.append(float(np.mean(starting)))
    f.append(float(np.mean([a == b and a > 1 for a, b in zip(starting, sounding)])))
    f.append(float(np.mean([a == 1 for a in starting])))
    frac = np.array([t % 1.0 for t in onsets])
    f.append(float(np.mean(frac > 1e-6)))
    f.append(float(np.mean(np.array([t % 0.5 for t in onsets]) > 1e-6)))
    first, last = math.floor(min(onsets)), math.ceil(max(n.end for n in notes))
    quarters = max(1, last - first)
    f.append(len(onsets) / quarters)
    covered = np.zeros(quarters, bool)
    for n in notes:
        a = int(math.floor(n.onset)) - first
        b = int(math.ceil(n.end)) - first
        covered[max(a, 0):max(b, a + 1)] = True
    f.append(float(1 - covered.mean()))
    pitches = [n.pitch for n in notes]
    f.append(float(max(pitches) - min(pitches)))
    pc = np.zeros(12)
    for n in notes:
        pc[n.pitch % 12] += max(n.duration, 1 / 12)
    pc /= pc.sum()
    best = (-2.0, 0, 0)
    for mode, prof in ((0, KK_MAJOR), (1, KK_MINOR)):
        for tonic in range(12):
            r = float(np.corrcoef(np.roll(pc, -tonic), prof)[0, 1]) if pc.std() > 0 else 0.0
            if r > best[0]:
                best = (r, mode, tonic)
    f.append(best[0])
    f.append(float(best[1]))
    nz = pc[pc > 0]
    f.append(float(-(nz * np.log2(nz)).sum()))
    f.append(float(pc.max()))
    f += list(np.roll(pc, -best[2]))
    top_iv = list(np.diff(lines[True]))
    for n in REPEAT_ORDERS:
        f.append(_repeat_rate(top_iv, n))
    f.append(_repeat_rate(list(np.diff(lines[False])), 4))
    gap_q = [round(g * 12) for g in gaps]
    f.append(_repeat_rate(gap_q, 4))
    # the top line's notes with the gap to the next top-line onset: a figure of pitch and rhythm
    top_on = [t for t, s in zip(onsets, sounding_at) if round(max(s, key=lambda n: n.pitch).onset, 6) == t]
    fig = [(int(iv), round((b - a) * 12)) for iv, a, b in zip(top_iv, top_on, top_on[1:])]
    f.append(_repeat_rate(fig, 4))
    bars = [b for b in bar_contents(piece) if b]
    seen, hits = set(), 0
    for b in bars:
        hits += b in seen
        seen.add(b)
    f.append(hits / len(bars) if len(bars) > 1 else math.nan)
    assert len(f) == len(FEATURES), (len(f), len(FEATURES))
    return np.array(f, float)


def crop(piece: Piece, quarters: float) -> Piece:
    """The piece's first bars up to the first bar line at or after `quarters` (notes cut there)."""
    ends = [b for b in bar_starts(piece, piece.end + 64) if b >= quarters - EPS]
    cut = ends[0] if ends else quarters
    if piece.end <= cut + EPS:
        return piece
    kept = []
    for n in piece.notes:
        if n.onset < cut - EPS:
            kept.append(Note(n.onset, min(n.duration, cut - n.onset), n.pitch, n.velocity, n.program, n.is_drum))
    return piece.replace(notes=kept)


def match_lengths(reference: list[Piece], samples: list[Piece]) -> list[Piece]:
    """Cut each reference piece to the samples' median length (at a bar line)."""
    if not samples:
        return list(reference)
    target = float(np.median([p.end for p in samples]))
    return [crop(p, target) for p in reference]


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


def feature_matrix(pieces: list[Piece]) -> tuple[np.ndarray, list[int]]:
    """Features of every piece with notes, and the indices of the pieces used."""
    rows, used = [], []
    for i, p in enumerate(pieces):
        v = piece_features(p)
        if v is not None:
            rows.append(v)
            used.append(i)
    return (np.vstack(rows) if rows else np.zeros((0, len(FEATURES)))), used


# --------------------------------------------------------------------------- junk, for floors
def shuffled_pitches(piece: Piece, rng: np.random.Generator) -> Piece:
    """The same rhythm and pitch set with the pitches dealt out at random (a floor for pitch order)."""
    notes = list(piece.notes)
    pitches = rng.permutation([n.pitch for n in notes])
    return piece.replace(notes=[Note(n.onset, n.duration, int(p), n.velocity, n.program, n.is_drum)
                                for n, p in zip(notes, pitches)])


def random_piece(piece: Piece, rng: np.random.Generator) -> Piece:
    """Uniform random notes over the piece's length and range (a floor for everything)."""
    notes = piece.notes
    lo, hi = min(n.pitch for n in notes), max(n.pitch for n in notes)
    end = max(piece.end, 1.0)
    out = []
    for _ in range(len(notes)):
        onset = round(float(rng.uniform(0, end)) * 4) / 4
        out.append(Note(onset, float(rng.choice([0.25, 0.5, 1.0, 2.0])), int(rng.integers(lo, hi + 1))))
    return piece.replace(notes=out)


# --------------------------------------------------------------------------- copy check
def _window_set(bars: list[tuple], k: int) -> set:
    out = set()
    for i in range(len(bars) - k + 1):
        w = bars[i:i + k]
        if sum(len(b) for b in w) >= 2:  # a held chord or an empty stretch proves nothing
            out.add(tuple(w))
    return out


def copy_check(pieces: list[Piece], training: list[Piece], max_bars: int = 32) -> list[dict]:
    """How much of each piece appears verbatim (transposed or not) in the training pieces.

    Returns per piece: 'longest_bars' (the longest run of consecutive bars found in one training
    piece) and 'share_2bar' (the share of the piece's 2-bar windows found in some training piece).
    """
    train_bars = [bar_contents(p) for p in training]
    index: dict[int, set] = {}

    def windows(k):
        if k not in index:
            s = set()
            for bars in train_bars:
                s |= _window_set(bars, k)
            index[k] = s
        return index[k]

    out = []
    for p in pieces:
        bars = bar_contents(p)
        mine2 = [tuple(bars[i:i + 2]) for i in range(len(bars) - 1) if sum(len(b) for b in bars[i:i + 2]) >= 2]
        share = float(np.mean([w in windows(2) for w in mine2])) if mine2 else math.nan
        longest = 0
        for k in range(1, max_bars + 1):
            mine = _window_set(bars, k)
            if not mine or not (mine & windows(k)):
                break
            longest = k
        out.append({"source": p.source, "longest_bars": longest, "share_2bar": share})
    return out


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

    @property
    def of_ceiling(self) -> float:
        return self.overlap / self.ceiling if self.ceiling > 0 else math.nan

    def as_dict(self) -> dict:
        r = lambda v: None if v is None or not math.isfinite(v) else round(float(v), 4)  # noqa: E731
        return {"label": self.label, "samples_median": r(self.samples_median), "real_median": r(self.real_median),
                "overlap": r(self.overlap), "ceiling": r(self.ceiling), "of_ceiling": r(self.of_ceiling),
                "junk": {k: r(v) for k, v in self.junk.items()}, "kept": self.kept}


JUNK_MAX = 0.5  # a metric counts only when some junk scores below this overlap (and well below the ceiling)


def calibrated_statistics(samples: list[Piece], real_a: list[Piece], real_b: list[Piece], tokenizer,
                          seed: int = 0) -> list[CalibratedMetric]:
    """melodygru's music statistics (`musicstats`) of the samples against `real_a`, with the
    real-vs-real ceiling (`real_b` against `real_a`) and two junk floors (`real_b` with shuffled
    pitches; random notes over each piece's span and range)."""
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
    runs = {"samples": compare_sets(stats(samples), ref), "ceiling": compare_sets(stats(other), ref),
            "shuffled": compare_sets(stats([shuffled_pitches(p, rng) for p in other]), ref),
            "random": compare_sets(stats([random_piece(p, rng) for p in other]), ref)}
    out = []
    for i, m in enumerate(runs["samples"].metrics):
        ceiling = runs["ceiling"].metrics[i].overlap
        junk = {k: runs[k].metrics[i].overlap for k in ("shuffled", "random")}
        finite = [v for v in junk.values() if math.isfinite(v)]
        kept = bool(finite) and math.isfinite(ceiling) and min(finite) < min(JUNK_MAX, 0.6 * ceiling)
        hist = m.name == HISTOGRAM.name
        out.append(CalibratedMetric(m.name, m.label, None if hist else m.summary(m.samples),
                                    None if hist else m.summary(m.reference), m.overlap, ceiling, junk, kept))
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
        out.append("music statistics (overlap of the distributions, 1 = same; ceiling = real vs real; "
                   "junk = shuffled pitches / random notes):")
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


def _copy_summary(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    longest = [r["longest_bars"] for r in rows]
    shares = [r["share_2bar"] for r in rows if math.isfinite(r["share_2bar"])]
    return {"median_longest_bars": float(np.median(longest)), "max_longest_bars": int(max(longest)),
            "mean_share_2bar": float(np.mean(shares)) if shares else math.nan, "pieces": len(rows)}


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
    ref = match_lengths(reference, samples)
    S, _ = feature_matrix(samples)
    R, _ = feature_matrix(ref)
    if len(S) < folds or len(R) < folds:
        from .errors import MelodyGRUError

        raise MelodyGRUError(f"the listening test needs at least {folds} samples and {folds} reference pieces "
                             f"with notes (got {len(S)} and {len(R)})")
    test = two_sample_test(S, R, folds, repeats, seed)
    boost = two_sample_test(S, R, folds, max(1, repeats // 3), seed, classifier="boosting") if boosting else None
    pool = match_lengths(floor_pool if floor_pool is not None else reference, samples)
    P, _ = feature_matrix(pool)
    rng = np.random.default_rng(seed + 1)
    order = rng.permutation(len(P))
    n = min(test.n_a, len(P) // 2)
    floor_kind = "held-out pieces" if floor_pool is None else "pieces of the same corpus"
    if n < test.n_a:
        notes.append(f"note: the floor uses {n} + {n} pieces (the pool has {len(P)}), the test {test.n_a} + {test.n_b}")
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
