"""Choosing among candidates and shaping what was drawn: the critic's pick of each sample's
candidates (`choose`; a key model's candidates must also be clearly in their key: `off_key`, and a
sample with none in a key asked for draws more: `redraw_off_key`), the resampling of candidates part-way (`resample_groups`, for
`--resample-every`), the run's critic (`read_critic`), and the limit on notes sounding at once
(`limit_voices`, for `--monophonic` and `--voices`)."""


from __future__ import annotations

import dataclasses

import numpy as np

from ..analysis.critic import (MATCH_MIN_SAMPLES, MATCHED, MODE_FINDER, Critic, best_of, choice_probabilities, finder_minor,
                               matched_choice, weighted_choice)
from ..analysis.features import CRITIC_FEATURE_NAMES, critic_features
from ..core.events import Piece
from ..core.keys import THREE, clear_key, keys_of_signature
from ..model.rundir import CRITIC, read_document
from .files import Sample


KEY_PENALTY = 10.0  # what a candidate of a key model loses in score when its notes are not clearly in its key


def off_key(piece: Piece, strict: bool = True) -> bool:
    """Whether a piece states a key (its first key signature: a key model's KEY token) that its
    notes are not in: (`strict`, for a key asked for) the key music21's default key-finder
    (`analysis.critic.MODE_FINDER`, Aarden-Essen's profiles) finds is another one, or (for a key
    the model drew) the key three profiles of `core.keys.clear_key` agree on is another one. A
    piece without a key signature is never off key. (Until session 12 a key asked for had to be
    found by all four profiles: on the Bach model that kept too few candidates, and the listening
    test told the samples of four requested keys from the corpus 0.725 of the time over three
    draws, against 0.703 with music21's finder alone; benchmarks/results/quality-probes-session12.md.)"""
    if not piece.key_signatures or not -7 <= piece.key_signatures[0].sharps <= 7:
        return False
    first = piece.key_signatures[0]
    major, minor = keys_of_signature(first.sharps)
    found = clear_key(piece.notes, (MODE_FINDER,) if strict else THREE)
    return found != (minor if first.mode == "minor" else major) and (strict or found is not None)


def key_penalties(pieces, keyed: bool, requested: bool = False) -> np.ndarray:
    """`KEY_PENALTY` for each piece that is `off_key`, 0 for the others (all 0 unless `keyed`). A
    requested key must be the one music21's finder hears (`strict`); a key the model drew only must not be clearly another
    one: a third of real folk tunes and a quarter of the chorales are in no key all three
    profiles agree on, and a set of samples should be no clearer than its corpus."""
    return np.array([KEY_PENALTY * (keyed and off_key(p, strict=requested)) for p in pieces], float)


def choose(rounds: list[list[Sample]], critic: Critic, selection: str, seed: int, length: int = 0,
           keyed: bool = False, requested: bool = False, match_all: float = 0.0,
           keep_mode: bool = False, mode_share: bool = False) -> list[Sample]:
    """Sample i of the result is candidate k of sample i (`rounds[k][i]`), chosen by the critic:
    the best score ('best'), a draw weighted by exp(score) ('weighted', seeded by `seed`), or
    for the whole set at once ('matched': `analysis.critic.matched_choice`; a critic fitted before
    version 4 knows no real spread and chooses 'best'). A sample of `length` tokens other than the
    critic was fitted on has its length rescaled by the ratio before it is judged. With `keyed` (a
    model with key tokens), a candidate whose notes are off its key loses `KEY_PENALTY`
    (`key_penalties`: not clearly in it when the key was `requested`, else clearly in another);
    a requested key is a rule, not a preference: where any candidate of a sample is in it, the
    ones out of it are not chosen, however the critic likes them. With `keep_mode`, a key the
    model drew keeps its mode: a candidate whose KEY is major where its sample's plain draw
    (candidate 0) drew minor, or the other way round, is not chosen (`other_mode`), so the set's
    share of minor keys is the model's own, drawn at temperature 1 as the corpus's (the critic
    and the key check prefer clear major keys: the shipped folk model wrote half the corpus's
    share without it; on the Bach model it costs quality, see the README). `match_all` > 0: the matched
    choice also brings every other feature's spread to the real pieces', at that weight each (a
    critic that knows them: `Critic.all_mean`). `mode_share` (no key asked for, a critic that knows
    the real share of pieces in minor: by music21's default key-finder, `mode_target`, where it
    knows that one): every candidate in minor gains one bonus in score, the one
    with which the set's share in minor is the training pieces' (`share_bonus`): for the weighted
    choice its expected share, for the others the nearest whole number of samples in minor, and
    nothing for fewer than `MATCH_MIN_SAMPLES` samples (one would always be kept in major)."""
    empty = np.full(len(CRITIC_FEATURE_NAMES), np.nan)
    feats = [[critic_features(s.piece) for s in r] for r in rounds]
    X = np.array([[empty if f is None else f for f in row] for row in feats])
    fitted = critic.info.get("length") if isinstance(critic.info.get("length"), int) else 0
    if length and fitted and length != fitted:  # the critic knows pieces of `fitted` tokens: compare like with like
        X[..., CRITIC_FEATURE_NAMES.index("length_quarters")] *= fitted / length
    scores = critic.score_features(X.reshape(-1, X.shape[-1])).reshape(X.shape[:2])
    penalties = key_penalties([s.piece for r in rounds for s in r], keyed, requested).reshape(scores.shape)
    scores -= penalties
    if requested:  # a key asked for: a candidate out of it is kept only where no candidate of its sample is in it
        scores = key_rule(scores, penalties)
    elif keyed and keep_mode:  # a key drawn: every candidate of a sample keeps the mode its plain draw drew
        scores = np.where(other_mode(rounds), -np.inf, scores)
    scores = np.where([[f is None for f in row] for row in feats], -np.inf, scores)
    matched = selection == "matched" and critic.ref_mean is not None
    values = critic.matched_values(X.reshape(-1, X.shape[-1])).reshape(*X.shape[:2], -1) if matched else None

    def pick(s):
        if selection == "weighted":
            return weighted_choice(s, np.random.default_rng([seed, len(rounds)]))
        return matched_choice(s, values, critic, every=X, every_weight=match_all) if matched else best_of(s)

    target = mode_target(critic) if mode_share and not requested else None
    n = len(rounds[0])
    if target is not None and selection != "weighted":  # a set of n has k / n in minor: aim at a whole k
        if n < MATCH_MIN_SAMPLES:  # too few for a share (one sample would always be kept in major)
            target = None
        else:  # the nearest whole number: off by at most half a sample
            target = round(n * target) / n
    if target is not None and len(rounds) > 1:
        minor = mode_flags(rounds, critic, X)
        share = (lambda b: expected_share(scores + b * minor, minor)) if selection == "weighted" else \
            (lambda b: float(minor[pick(scores + b * minor), np.arange(minor.shape[1])].mean()))
        scores = scores + share_bonus(share, target) * minor
    keep = pick(scores)
    return [dataclasses.replace(rounds[k][i], critic_score=float(scores[k, i]) if np.isfinite(scores[k, i]) else None,
                                candidate=int(k)) for i, k in enumerate(keep)]


def mode_target(critic: Critic) -> float | None:
    """The share of the critic's training pieces in minor: by MODE_FINDER (music21's default
    key-finder) where the critic knows it, else by its own key estimate (the `minor_mode`
    feature); None for a critic that knows neither."""
    if getattr(critic, "finder_minor_share", None) is not None:
        return float(critic.finder_minor_share)
    if critic.ref_mean is None or "minor_mode" not in MATCHED:
        return None
    value = float(np.asarray(critic.ref_mean)[MATCHED.index("minor_mode")])
    return value if 0.0 <= value <= 1.0 else None


def mode_flags(rounds: list[list[Sample]], critic: Critic, X: np.ndarray) -> np.ndarray:
    """(candidates x samples) True for each candidate in minor, by the finder `mode_target` reads:
    MODE_FINDER where the critic knows its real share, else the critic's `minor_mode` feature."""
    if getattr(critic, "finder_minor_share", None) is not None:
        return np.array([[finder_minor(s.piece) for s in r] for r in rounds], bool)
    return np.nan_to_num(X[..., CRITIC_FEATURE_NAMES.index("minor_mode")]) > 0.5


def expected_share(scores, flags) -> float:
    """The expected share of samples whose chosen candidate is flagged, for a choice weighted by
    exp(score) within each sample (candidates x samples; a sample with no finite score keeps its
    first candidate, as `weighted_choice` does)."""
    return float((choice_probabilities(scores) * flags).sum(axis=0).mean())


BONUS_RANGE = 30.0  # the most a flagged candidate's score may gain or lose in `share_bonus` (scores span about 20)


def share_bonus(share, target: float, steps: int = 24) -> float:
    """The bonus b in [-BONUS_RANGE, BONUS_RANGE] added to the score of every flagged candidate
    for which `share(b)` (the chosen set's share of flagged candidates, non-decreasing in b) comes
    closest to `target`; of equally close ones, the smallest in size. Bisection, `steps` calls."""
    at_zero = share(0.0)
    best_b, best_gap = 0.0, abs(at_zero - target)
    lo, hi = (0.0, BONUS_RANGE) if at_zero < target else (-BONUS_RANGE, 0.0)
    for _ in range(steps):
        mid = (lo + hi) / 2
        got = share(mid)
        gap = abs(got - target)
        if gap < best_gap - 1e-12 or (abs(gap - best_gap) <= 1e-12 and abs(mid) < abs(best_b)):
            best_b, best_gap = mid, gap
        if got < target:
            lo = mid
        else:
            hi = mid
    return best_b


def key_rule(scores, penalties) -> np.ndarray:
    """(candidates x samples) scores with -inf for every candidate out of the key asked for
    (penalty > 0) of a sample that has a candidate in it: a requested key is a rule. A sample
    with none in it keeps its scores (one out of the key is still chosen, never none)."""
    penalties = np.asarray(penalties, float)
    return np.where((penalties > 0) & (penalties == 0).any(axis=0, keepdims=True), -np.inf, scores)


def other_mode(rounds: list[list[Sample]]) -> np.ndarray:
    """(candidates x samples): whether candidate k of sample i states a key (its first key
    signature) in the other mode than candidate 0 of the same sample does."""
    def mode(s: Sample):
        return s.piece.key_signatures[0].mode if s.piece.key_signatures else None

    first = [mode(s) for s in rounds[0]]
    return np.array([[mode(s) is not None and f is not None and mode(s) != f for s, f in zip(r, first)]
                     for r in rounds], bool)


KEY_REDRAWS = 3  # fresh rounds of candidates, at most, for a sample none of whose candidates is in the key asked for


def redraw_off_key(rounds: list[list[Sample]], draw, max_rows: int) -> None:
    """For a key asked for: every sample none of whose candidates is clearly in that key
    (`off_key`, strict) gets a fresh round of as many candidates, up to `KEY_REDRAWS` times while
    some sample still has none, and the fresh ones in the key take the places of candidates 1,
    2, ... of that sample in `rounds` (`rounds[k][i]`: candidate k of sample i; changed in place;
    candidate 0 stays the plain draw). `draw(count, redraw, first)` returns `count` new candidates
    (the redraw's rows from `first` on), asked for in batches of at most `max_rows` rows. A folk
    model asked for a minor key writes many tunes no key-finder hears in it; without this a
    sample with no candidate in the key kept one out of it."""
    k, n = len(rounds), len(rounds[0])
    for r in range(1, KEY_REDRAWS + 1):
        need = [i for i in range(n) if all(off_key(rounds[j][i].piece) for j in range(k))]
        if not need:
            return
        drawn: list[Sample] = []
        rows = max(1, max_rows // k) * k
        for first in range(0, len(need) * k, rows):
            drawn += draw(min(rows, len(need) * k - first), r, first)
        for a, i in enumerate(need):
            fresh = [s for s in drawn[a * k:(a + 1) * k] if not off_key(s.piece)]
            for j, s in zip(range(1, k), fresh):
                rounds[j][i] = s


SCORE_FLOOR = -50.0  # a score for a piece the critic cannot read yet (fewer than two notes)


def clean_scores(scores) -> np.ndarray:
    """Scores with -inf, NaN and runaway values held in [SCORE_FLOOR, -SCORE_FLOOR]."""
    scores = np.asarray(scores, float)
    return np.clip(np.where(np.isfinite(scores), scores, SCORE_FLOOR), SCORE_FLOOR, -SCORE_FLOOR)


def resample_groups(scores, previous, group: int, rng: np.random.Generator) -> np.ndarray:
    """Sequential Monte Carlo's resampling step for rows in groups of `group` consecutive rows (the
    candidates of one sample): each group's rows are drawn again, systematically, with probability
    proportional to exp(score now - score at the last resampling), so the openings the critic
    likes more are continued more often and the others are dropped. Returns the row each row
    continues from (always a row of its own group)."""
    gain = (clean_scores(scores) - clean_scores(previous)).reshape(-1, group)
    w = np.exp(gain - gain.max(axis=1, keepdims=True))
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    u = (rng.random((len(gain), 1)) + np.arange(group)[np.newaxis, :]) / group
    picks = np.array([np.searchsorted(c, x, side="right") for c, x in zip(cum, u)])
    return (np.minimum(picks, group - 1) + group * np.arange(len(gain))[:, np.newaxis]).reshape(-1)


def read_critic(run_dir) -> Critic | None:
    """The run's critic (`critic.json`), or None when it has none.

    Raises:
        CheckpointError: the file exists but is not a usable critic.
    """
    return read_document(run_dir, CRITIC, Critic.from_dict)


def limit_voices(piece: Piece, voices: int, after: float = 0.0) -> Piece:
    """`piece` with at most `voices` pitched notes sounding at once where new music starts (at
    onsets from `after` on): where a note starts and more would sound, the notes held longest
    end there (a chorale's fifth note, a melody's held note). Notes that start before `after` (a
    primer's opening) are never shortened, and notes that start together are all kept; the
    notes stay in the piece's order."""
    order = sorted(range(len(piece.notes)), key=lambda k: (piece.notes[k].onset, piece.notes[k].pitch))
    notes = piece.notes
    ends = [n.end for n in notes]
    active: list[int] = []  # indices of pitched notes sounding, earliest onset first
    i = 0
    while i < len(order):
        t, first = notes[order[i]].onset, i
        while i < len(order) and notes[order[i]].onset == t:
            i += 1
        pitched = [k for k in order[first:i] if not notes[k].is_drum]
        if not pitched:
            continue
        active = [k for k in active if ends[k] > t + 1e-9]
        if t >= after - 1e-9:
            cuttable = [k for k in active if notes[k].onset >= after - 1e-9]
            while cuttable and len(active) + len(pitched) > voices:
                k = cuttable.pop(0)
                active.remove(k)
                ends[k] = t
        active += pitched
    out = [n if ends[k] == n.end else dataclasses.replace(n, duration=ends[k] - n.onset) for k, n in enumerate(notes)]
    return piece.replace(notes=out)
