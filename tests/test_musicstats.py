"""Music statistics on hand-built pieces with known answers, and the set comparisons."""

from __future__ import annotations

import math

import numpy as np
import pytest

from melodygru.core.events import Note, Piece
from melodygru.evaluation.musicstats import (
    LENGTH_CLASSES,
    compare_sets,
    histogram_overlap,
    kde_overlap,
    length_histogram,
    longest_run,
    piece_statistics,
    plot_comparison,
    scott_bandwidth,
)

C_MAJOR = [60, 62, 64, 65, 67, 69, 71]


def piece(notes) -> Piece:
    return Piece([Note(on, dur, p) for on, dur, p in notes])


def scale_piece(top: bool = False) -> Piece:
    pitches = C_MAJOR + ([72] if top else [])
    return piece([(float(i), 1.0, p) for i, p in enumerate(pitches)])


def test_c_major_scale():
    s = piece_statistics(scale_piece())
    assert s["pitch_classes"] == 7
    assert s["scale_consistency"] == 1.0
    assert s["pitch_range"] == 11
    assert piece_statistics(scale_piece(top=True))["pitch_range"] == 12
    assert s["pitch_class_entropy"] == pytest.approx(math.log2(7))
    assert s["polyphony"] == 1.0
    assert s["onsets_per_quarter"] == 1.0
    assert s["empty_beat_rate"] == 0.0
    assert s["mean_abs_interval"] == pytest.approx(11 / 6)  # 2 2 1 2 2 2
    assert s["top_pitch_share"] == pytest.approx(1 / 7)
    assert s["repeated_4gram_rate"] == 0.0
    assert list(s["note_length_hist"]) == [0, 0, 0, 1, 0, 0]
    assert math.isnan(s["longest_token_run"])  # no token ids given


def test_a_chromatic_line_is_less_scale_consistent():
    s = piece_statistics(piece([(float(i), 1.0, 60 + i) for i in range(12)]))
    assert s["pitch_classes"] == 12
    assert s["scale_consistency"] == pytest.approx(7 / 12)
    assert s["pitch_class_entropy"] == pytest.approx(math.log2(12))


def test_chords_only_have_polyphony_three():
    chords = [(float(t), 1.0, p) for t in range(8) for p in (60, 64, 67)]
    s = piece_statistics(piece(chords))
    assert s["polyphony"] == 3.0
    assert s["onsets_per_quarter"] == 1.0
    assert s["mean_abs_interval"] == 0.0  # the top voice is always G


def test_a_held_note_counts_at_every_onset_it_sounds_over():
    notes = [(0.0, 4.0, 48)] + [(float(t), 1.0, 72 + t) for t in range(4)]
    assert piece_statistics(piece(notes))["polyphony"] == 2.0
    # notes that end exactly where the next starts do not overlap it
    legato = [(t * 0.5, 0.5, 60 + t) for t in range(8)]
    assert piece_statistics(piece(legato))["polyphony"] == 1.0


def test_one_repeated_note_is_degenerate():
    s = piece_statistics(piece([(t * 0.5, 0.5, 64) for t in range(20)]))
    assert s["top_pitch_share"] == 1.0
    assert s["repeated_4gram_rate"] == pytest.approx(1 - 1 / 17)
    assert s["pitch_classes"] == 1
    assert s["pitch_class_entropy"] == 0.0
    assert s["onsets_per_quarter"] == 2.0


def test_empty_beats_count_quarters_with_nothing_sounding():
    assert piece_statistics(piece([(0.0, 1.0, 60), (3.0, 1.0, 62)]))["empty_beat_rate"] == 0.5
    # a held note fills the beats it spans; beats 3 and 4 of 6 are silent
    s = piece_statistics(piece([(0.0, 3.0, 60), (5.0, 1.0, 62)]))
    assert s["empty_beat_rate"] == pytest.approx(2 / 6)
    # a note inside a beat fills it; leading silence before the first note's beat is not counted
    s = piece_statistics(piece([(4.5, 0.25, 60), (6.0, 1.0, 62)]))
    assert s["empty_beat_rate"] == pytest.approx(1 / 3)


def test_note_length_classes():
    h = length_histogram([0.125, 0.25, 1 / 3, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0])
    assert len(h) == len(LENGTH_CLASSES)
    assert h.sum() == pytest.approx(1.0)
    assert list(h * 10) == pytest.approx([1, 2, 1, 2, 2, 2])  # 0.75 is nearer 1 than 0.5 in log time


def test_longest_token_run_and_empty_pieces():
    assert longest_run([3, 3, 1, 1, 1, 1, 2, 3]) == 4
    assert longest_run([]) == 0
    s = piece_statistics(scale_piece(), ids=np.array([1, 3, 3, 3, 5]))
    assert s["longest_token_run"] == 3
    assert piece_statistics(Piece([])) is None
    assert piece_statistics(Piece([Note(0, 1, 36, is_drum=True)])) is None


def test_kde_overlap_of_identical_and_disjoint_sets():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, 200)
    assert kde_overlap(a, a) > 0.99
    assert kde_overlap(a, a + 100) < 0.01
    assert 0.3 < kde_overlap(a, a + 1) < 0.8
    assert kde_overlap([5, 5, 5], [5, 5]) == 1.0  # one constant value in both
    assert kde_overlap([1, 1, 1], [9, 9, 9]) < 0.01
    assert math.isnan(kde_overlap([], [1, 2]))
    assert kde_overlap([1, 2, np.nan], [1, 2]) > 0.99  # NaN values are ignored


def test_counts_get_a_bandwidth_floor_so_near_constant_sets_still_overlap():
    always_one, mostly_one = [1] * 10, [1] * 18 + [2] * 2
    assert kde_overlap(always_one, mostly_one) < 0.3  # a spike against a smooth bump
    assert kde_overlap(always_one, mostly_one, min_bandwidth=0.25) > 0.85
    assert kde_overlap([3] * 5, [4] * 5, min_bandwidth=0.25) < 0.05


def test_kde_matches_scipy():
    from scipy import (
        stats,  # in the `test` extra: a missing scipy fails here instead of skipping
    )
    rng = np.random.default_rng(1)
    x = rng.gamma(2.0, 1.0, 50)
    kde = stats.gaussian_kde(x)
    assert scott_bandwidth(x) == pytest.approx(float(np.sqrt(kde.covariance[0, 0])))
    from melodygru.evaluation.musicstats import gaussian_kde

    grid = np.linspace(-2, 12, 50)
    np.testing.assert_allclose(gaussian_kde(x, grid, scott_bandwidth(x)), kde(grid), rtol=1e-8)


def test_histogram_overlap():
    assert histogram_overlap(np.array([1, 2, 3]), np.array([2, 4, 6])) == pytest.approx(1.0)
    assert histogram_overlap(np.array([1, 0]), np.array([0, 1])) == 0.0
    assert histogram_overlap(np.array([0.5, 0.5]), np.array([1.0, 0.0])) == pytest.approx(0.5)


def _set(rng, n, degenerate=False):
    out = []
    for i in range(n):
        if degenerate:
            notes = [(t * 0.5, 0.5, 60) for t in range(16)]
        else:
            pitches = rng.choice(C_MAJOR, 16)
            notes = [(t * 0.5, 0.5, int(p)) for t, p in enumerate(pitches)]
        out.append((f"piece{i}", piece_statistics(piece(notes))))
    return out


def test_compare_sets_reports_medians_overlap_and_degenerate_samples(tmp_path):
    rng = np.random.default_rng(2)
    reference = _set(rng, 30)
    samples = _set(rng, 10) + [("stuck.mid", _set(rng, 1, degenerate=True)[0][1]), ("empty.mid", None)]
    cmp = compare_sets(samples, reference)
    by_name = {m.name: m for m in cmp.metrics}
    assert by_name["note_length_hist"].overlap == pytest.approx(1.0)  # all eighth notes
    assert by_name["scale_consistency"].overlap == 1.0  # always 1.0 in both
    assert 0 < cmp.mean_overlap <= 1
    assert [name for name, _ in cmp.flagged] == ["stuck.mid"]
    assert "top-pitch share" in cmp.flagged[0][1][0]
    assert cmp.empty_samples == ["empty.mid"]
    d = cmp.as_dict()
    assert d["metrics"]["polyphony"]["samples_median"] == 1.0
    assert d["metrics"]["note_length_hist"]["reference_mean_histogram"] == [0, 0, 1, 0, 0, 0]
    text = "\n".join(cmp.lines())
    assert "stuck.mid" in text and "mean overlap" in text

    same = compare_sets(reference, reference)
    assert same.flagged == []
    assert same.mean_overlap > 0.99

    png = tmp_path / "stats.png"
    plot_comparison(cmp, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
