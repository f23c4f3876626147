"""The listening test: features, the classifier two-sample test with pieces of known answers,
the calibrated statistics and the copy check."""

from __future__ import annotations

import math

import numpy as np
import pytest

from melodygru.core.events import Note, Piece, TimeSignature
from melodygru.evaluation import copies as C
from melodygru.analysis import features as F
from melodygru.evaluation import listening as L
from melodygru.evaluation import twosample as T
from melodygru.tokens.config import TokenizerConfig
from melodygru.tokens.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def chorales():
    """48 real chorales from music21's bundled corpus, read the way `evaluate` reads files."""
    from music21 import corpus

    from melodygru.io.readers import read_file

    paths = [p for p in sorted(corpus.getComposer("bach")) if str(p).endswith(".mxl")][:48]
    return [read_file(str(p))[0] for p in paths]


def melody(pitches, step=1.0, onset=0.0):
    return [Note(onset + i * step, step, p) for i, p in enumerate(pitches)]


def test_repeat_rate_by_hand():
    # intervals 2,2,-4,2,2: the 2-grams (2,2) (2,-4) (-4,2) (2,2): the last one was heard before
    assert F._repeat_rate([2, 2, -4, 2, 2], 2) == pytest.approx(0.25)
    assert F._repeat_rate([1, 2, 3], 3) != F._repeat_rate([1, 2, 3], 3)  # too short: NaN


def test_features_of_a_known_melody():
    p = Piece(melody([60, 62, 64, 65, 67, 65, 64, 62]))
    f = dict(zip(F.FEATURE_NAMES, F.piece_features(p)))
    assert f["top_interval_2"] == pytest.approx(5 / 7)  # five whole steps, two half steps
    assert f["top_interval_1"] == pytest.approx(2 / 7)
    assert f["top_mean_interval"] == pytest.approx(12 / 7)
    assert f["top_direction_changes"] == pytest.approx(1 / 6)  # up x4, then down x3: one turn
    assert f["gap_quarter"] == 1.0 and f["length_quarter"] == 1.0
    assert f["polyphony"] == 1.0 and f["single_onsets"] == 1.0
    assert f["bar_repeat"] == 0.0


def test_features_are_transposition_invariant(chorales):
    p = chorales[0]
    up = p.replace(notes=[Note(n.onset, n.duration, n.pitch + 5, n.velocity) for n in p.notes])
    a, b = F.piece_features(p), F.piece_features(up)
    assert np.allclose(np.nan_to_num(a, nan=-1), np.nan_to_num(b, nan=-1))


def test_bar_repeat_sees_a_transposed_bar():
    bar = [60, 64, 62, 65]
    p = Piece(melody(bar) + melody([p + 2 for p in bar], onset=4.0), time_signatures=[TimeSignature(0, 4, 4)])
    f = dict(zip(F.FEATURE_NAMES, F.piece_features(p)))
    assert f["bar_repeat"] == pytest.approx(0.5)


def test_crop_cuts_at_the_next_bar_line():
    p = Piece(melody(list(range(60, 76))))  # 16 quarters, 4 bars of 4/4
    cut = F.crop(p, 5.0)
    assert cut.end == 8.0 and len(cut.notes) == 8
    assert F.crop(p, 100.0) is p


def test_real_against_real_is_near_chance(chorales):
    X, _ = F.feature_matrix(chorales)
    result = T.two_sample_test(X[:24], X[24:48], repeats=5)
    assert 0.2 <= result.accuracy <= 0.75
    assert result.low < 0.5 < result.high


def test_real_against_shuffled_pitches_is_told_apart(chorales):
    rng = np.random.default_rng(0)
    junk = [F.shuffled_pitches(p, rng) for p in chorales[24:48]]
    X, _ = F.feature_matrix(chorales[:24])
    J, _ = F.feature_matrix(junk)
    assert T.two_sample_test(X, J, repeats=3).accuracy >= 0.9


def test_giveaways_name_the_difference(chorales):
    rng = np.random.default_rng(1)
    junk = [F.shuffled_pitches(p, rng) for p in chorales[24:48]]
    X, _ = F.feature_matrix(chorales[:24])
    J, _ = F.feature_matrix(junk)
    top = T.giveaways(J, X, top=5)
    # shuffling pitches keeps the rhythm: rhythm features cannot be what gives it away
    assert not any(g.name.startswith(("gap_", "length_")) for g in top)
    assert any(g.name.startswith(("top_", "bass_", "bar_")) for g in top)
    assert "samples" in top[0].describe() and "real" in top[0].describe()


def test_copy_check_finds_verbatim_bars_transposed_or_not():
    rng = np.random.default_rng(2)
    ts = [TimeSignature(0, 4, 4)]
    train = Piece(melody(list(rng.integers(55, 80, 40))), time_signatures=ts)
    copied = [Note(n.onset - 8, n.duration, n.pitch + 3) for n in train.notes if 8 <= n.onset < 20]
    sample = Piece(copied + melody([60, 60, 60, 60], onset=12.0), time_signatures=ts)
    other = Piece(melody([50, 51, 52, 53] * 4), time_signatures=ts)
    rows = C.copy_check([sample, other], [train])
    assert rows[0]["longest_bars"] == 3
    assert rows[1]["longest_bars"] == 0 and rows[1]["share_2bar"] == 0.0


def test_statistics_drop_metrics_that_junk_passes(chorales):
    tok = Tokenizer(TokenizerConfig(velocity_bins=0))
    stats = {m.name: m for m in L.calibrated_statistics(chorales[:12], chorales[12:30], chorales[30:48], tok)}
    # random notes keep every run of one token at 1, as music does: the metric cannot fail
    assert not stats["longest_token_run"].kept
    assert stats["repeated_4gram_rate"].kept and stats["pitch_class_entropy"].kept
    assert stats["repeated_4gram_rate"].junk["shuffled"] < 0.5 < stats["repeated_4gram_rate"].ceiling
    for m in stats.values():
        assert m.ceiling > 0.5 or not m.kept


def test_listening_report_on_real_and_junk(chorales):
    tok = Tokenizer(TokenizerConfig(velocity_bins=0))
    rng = np.random.default_rng(3)
    junk = [F.shuffled_pitches(p, rng) for p in chorales[:16]]
    report = L.listening_test(junk, chorales[16:32], tok, floor_pool=chorales[16:48], training=chorales[32:48],
                              repeats=3)
    d = report.as_dict()
    assert d["two_sample"]["accuracy"] >= 0.85
    assert d["floor"]["accuracy"] <= 0.8
    assert d["copies"]["samples"]["max_longest_bars"] <= 1
    text = "\n".join(report.lines())
    assert "two-sample accuracy" in text and "floor" in text and "what gives the samples away" in text
    assert math.isfinite(report.kept_mean[0])


def test_too_few_real_pieces_for_a_floor_is_a_clear_error(chorales):
    from melodygru.core.errors import MelodyGRUError

    tok = Tokenizer(TokenizerConfig(velocity_bins=0))
    with pytest.raises(MelodyGRUError, match="floor needs at least 10 real pieces"):
        L.listening_test(chorales[:8], chorales[8:15], tok, repeats=1)


def test_statistics_compare_sets_of_one_size(chorales):
    """Real chorales scored as if they were samples reach the ceiling on average: the ceiling's
    real pieces are compared in sets as small as the samples, not as one larger, smoother set
    (which gave these subsets 0.94 of the ceiling on average)."""
    tok = Tokenizer(TokenizerConfig(velocity_bins=0))
    real_b = chorales[20:48]
    means = []
    for lo in range(20, 41, 4):  # 8 of real_b's 28 pieces as the "samples"
        stats = L.calibrated_statistics(chorales[lo:lo + 8], chorales[:20], real_b, tok)
        assert {m.compared for m in stats} == {8} and stats[0].as_dict()["pieces_per_set"] == 8
        means.append(np.mean([m.of_ceiling for m in stats if m.kept]))
    assert 0.96 <= float(np.mean(means)) <= 1.06, means
