"""Per-piece features of the listening test: transposition-invariant descriptions a musician would
recognise (intervals of the top and bottom lines, note lengths and onset gaps, texture, the
pitch-class profile relative to the piece's key, repeated patterns and bars), plus the junk
pieces (shuffled pitches, random notes) that give every figure its floor.
"""


from __future__ import annotations

import math

import numpy as np

from ..core.events import Note, Piece
from ..io.writers import bar_lines

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
    for prefix, what in (("length", "notes lasting"), ("gap", "gaps between onsets of")):
        out += [(f"{prefix}_{c}", f"share of {what} a {c}") for c in LENGTH_CLASSES]
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


# what the critic reads besides FEATURES: four of the music statistics (evaluation/musicstats.py)
# the listening features do not already measure, and the piece's length (the critic compares a
# sample with the same number of tokens of each real piece, so a tune that ends too soon shows)
EXTRAS = (
    ("pitch_classes_used", "number of pitch classes used"),
    ("pitch_4gram_repeat", "share of pitch 4-grams (all notes, by onset) that repeat an earlier one"),
    ("scale_consistency", "share of notes in the best-fitting major or minor scale"),
    ("top_pitch_share", "share of notes on the most common pitch"),
    ("length_quarters", "length in quarter notes"),
    ("onset_top_interval", "mean size of a move between the highest notes starting at consecutive onsets (semitones)"),
)
CRITIC_FEATURES = FEATURES + EXTRAS
CRITIC_FEATURE_NAMES = tuple(n for n, _ in CRITIC_FEATURES)
FEATURE_HELP.update(EXTRAS)
MAJOR_SCALE, MINOR_SCALE = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)  # natural minor


def scale_fit(pc_counts) -> float:
    """Share of the notes (counted per pitch class) in the best-fitting major or minor scale."""
    pc_counts = np.asarray(pc_counts)
    hits = max(pc_counts[[(root + d) % 12 for d in scale]].sum()
               for root in range(12) for scale in (MAJOR_SCALE, MINOR_SCALE))
    return float(hits / pc_counts.sum())


def repeated_4grams(pitch) -> float:
    """Share of the pitch 4-grams (pitches in onset order) that repeat an earlier one; NaN under 4."""
    pitch = np.asarray(pitch)
    if len(pitch) < 4:
        return math.nan
    grams = np.lib.stride_tricks.sliding_window_view(pitch, 4)
    return 1.0 - len(np.unique(grams, axis=0)) / len(grams)


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


def _line(onsets, sounding_at, top: bool) -> tuple[list[int], list[float]]:
    """The skyline (top) or the bass: the highest / lowest sounding note at each onset, taken
    where that note starts there (a held note is one note of the line, not a repeat); returns
    the line's pitches and their onsets."""
    pitches, times = [], []
    for t, sounding in zip(onsets, sounding_at):
        pick = max(sounding, key=lambda n: n.pitch) if top else min(sounding, key=lambda n: n.pitch)
        if round(pick.onset, 6) == t:
            pitches.append(pick.pitch)
            times.append(t)
    return pitches, times


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


def bar_contents(piece: Piece) -> list[tuple]:
    """Each bar as a transposition-invariant tuple of (onset in bar, pitch above the bar's lowest
    note, duration), on a 48th-of-a-quarter grid; empty bars are ()."""
    notes = [n for n in piece.notes if not n.is_drum]
    starts = bar_lines(piece)
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
    lines, times = {}, {}
    for top in (True, False):
        line, times[top] = _line(onsets, sounding_at, top)
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
    top_on = times[True]
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


def critic_features(piece: Piece) -> np.ndarray | None:
    """`CRITIC_FEATURES` of one piece (`piece_features` and the `EXTRAS`), or None with fewer than
    two pitched notes."""
    f = piece_features(piece)
    if f is None:
        return None
    pitch = np.array([n.pitch for n in piece.notes if not n.is_drum])  # a Piece keeps its notes by onset, pitch
    pcs = np.bincount(pitch % 12, minlength=12)
    top = np.bincount(pitch).max() / len(pitch)
    highest: dict[float, int] = {}  # the highest pitch starting at each onset
    for n in piece.notes:
        if not n.is_drum:
            at = round(n.onset, 6)
            highest[at] = max(highest.get(at, n.pitch), n.pitch)
    tops = np.array([highest[k] for k in sorted(highest)])
    leap = float(np.abs(np.diff(tops)).mean()) if len(tops) > 1 else math.nan
    return np.r_[f, float(np.count_nonzero(pcs)), repeated_4grams(pitch), scale_fit(pcs), top, float(piece.end), leap]


def crop(piece: Piece, quarters: float) -> Piece:
    """The piece's first bars up to the first bar line at or after `quarters` (notes cut there)."""
    ends = [b for b in bar_lines(piece, piece.end + 64) if b >= quarters - EPS]
    cut = ends[0] if ends else quarters
    if piece.end <= cut + EPS:
        return piece
    kept = []
    for n in piece.notes:
        if n.onset < cut - EPS:
            kept.append(Note(n.onset, min(n.duration, cut - n.onset), n.pitch, n.velocity, n.program, n.is_drum))
    return piece.replace(notes=kept)


def match_lengths(reference: list[Piece], samples: list[Piece], seed: int = 0) -> list[Piece]:
    """Cut each reference piece (at a bar line) to the length of a sample drawn at random, so the
    reference has the samples' spread of lengths, not only their median: counts that grow with
    length (pitch classes used, range) then compare like with like. Pieces shorter than their
    draw stay whole."""
    lengths = [p.end for p in samples if p.notes]
    if not lengths:
        return list(reference)
    draws = np.random.default_rng(seed).choice(np.array(lengths, float), len(reference))
    return [crop(p, float(q)) for p, q in zip(reference, draws)]


def feature_matrix(pieces: list[Piece], critic: bool = False) -> tuple[np.ndarray, list[int]]:
    """Features of every piece with notes (`critic_features` with `critic`, else `piece_features`),
    and the indices of the pieces used."""
    rows, used = [], []
    for i, p in enumerate(pieces):
        v = critic_features(p) if critic else piece_features(p)
        if v is not None:
            rows.append(v)
            used.append(i)
    return (np.vstack(rows) if rows else np.zeros((0, len(CRITIC_FEATURES if critic else FEATURES)))), used


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
