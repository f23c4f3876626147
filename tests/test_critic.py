"""The critic (analysis/critic.py), fitting it for a run (evaluation/critic.py, `melodygru critic`),
and generation keeping the best of several candidates; also one-voice sampling."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow  # noqa: F401  (a hard dependency)
from click.testing import CliRunner

from melodygru.analysis import critic as K
from melodygru.analysis import features as F
from melodygru.cli.app import main
from melodygru.core.events import Note, Piece
from melodygru.io.readers import read_file


@pytest.fixture(scope="module")
def chorales():
    """48 real chorales from music21's bundled corpus, read the way `evaluate` reads files."""
    from music21 import corpus

    paths = [p for p in sorted(corpus.getComposer("bach")) if str(p).endswith(".mxl")][:48]
    return [read_file(str(p))[0] for p in paths]


def _junk(pieces, seed):
    rng = np.random.default_rng(seed)
    return [F.shuffled_pitches(p, rng) for p in pieces]


def test_a_critic_fitted_on_real_and_junk_ranks_unseen_real_pieces_higher(chorales):
    fit, held = chorales[:24], chorales[24:]
    R, _ = F.feature_matrix(fit, critic=True)
    J, _ = F.feature_matrix(_junk(fit, 1), critic=True)
    critic = K.fit_critic(R, J, seed=0)
    assert critic.info["cross_validated_accuracy"] > 0.9
    real = np.array([critic.score(p) for p in held])
    junk = np.array([critic.score(p) for p in _junk(held, 2)])
    assert np.mean(real > junk) > 0.9  # pairwise: each chorale above its own shuffled version
    assert critic.score(Piece([Note(0.0, 1.0, 60)])) == -np.inf  # one note: nothing to judge


def test_the_critic_reads_length_so_tunes_that_end_too_soon_show(chorales):
    f = dict(zip(F.CRITIC_FEATURE_NAMES, F.critic_features(chorales[0])))
    assert f["length_quarters"] == pytest.approx(chorales[0].end)
    fit, held = chorales[:24], chorales[24:]
    R, _ = F.feature_matrix(fit, critic=True)
    S, _ = F.feature_matrix([F.crop(p, 6.0) for p in fit], critic=True)  # the same music, ended early
    critic = K.fit_critic(R, S, seed=0)
    whole = np.array([critic.score(p) for p in held])
    early = np.array([critic.score(F.crop(p, 6.0)) for p in held])
    assert np.mean(whole > early) > 0.9


def test_critic_document_round_trip_and_refusals(chorales, tmp_path):
    R, _ = F.feature_matrix(chorales[:20], critic=True)
    J, _ = F.feature_matrix(_junk(chorales[:20], 3), critic=True)
    critic = K.fit_critic(R, J)
    path = tmp_path / "critic.json"
    path.write_text(json.dumps(critic.to_dict()))
    again = K.Critic.from_dict(json.loads(path.read_text()))
    assert [again.score(p) for p in chorales[20:26]] == pytest.approx([critic.score(p) for p in chorales[20:26]])
    doc = critic.to_dict()
    with pytest.raises(ValueError, match="other features"):
        K.Critic.from_dict({**doc, "features": doc["features"][:-1]})
    with pytest.raises(ValueError, match="finite"):
        K.Critic.from_dict({**doc, "scale": [0.0] * len(doc["scale"])})
    with pytest.raises(ValueError, match="not a melodygru critic"):
        K.Critic.from_dict({"format": "something else"})
    with pytest.raises(ValueError, match="at least 5"):
        K.fit_critic(R[:3], J)
    for bad in ({**doc, "features": doc["features"][::-1]}, {**doc, "features": doc["features"][:-1] + ["tempo"]},
                {**doc, "version": 2}):
        with pytest.raises(ValueError, match="other features"):
            K.Critic.from_dict(bad)


def test_a_candidate_beyond_every_real_piece_loses_to_one_inside(chorales):
    R, _ = F.feature_matrix(chorales[:24], critic=True)
    J, _ = F.feature_matrix(_junk(chorales[:24], 5), critic=True)
    critic = K.fit_critic(R, J, seed=0)
    assert critic.low is not None and 0 <= critic.info["samples_outside_real_range"] <= 1
    silence = F.CRITIC_FEATURE_NAMES.index("silence")
    inside = R[:1].copy()
    far = inside.copy()
    far[0, silence] = critic.high[K.TWO_SIDED.index("silence")] + 0.2  # a fifth of its beats more silent than any
    base = dataclasses.replace(critic, low=None, high=None)  # the same weights, no guard
    drop = critic.score_features(far)[0] - base.score_features(far)[0]
    assert drop == pytest.approx(-K.OUTSIDE_PENALTY)
    assert critic.score_features(inside)[0] == pytest.approx(base.score_features(inside)[0])
    again = K.Critic.from_dict(json.loads(json.dumps(critic.to_dict())))
    assert again.score_features(far)[0] == pytest.approx(critic.score_features(far)[0])
    with pytest.raises(ValueError, match="real range"):
        K.Critic.from_dict({**critic.to_dict(), "low": critic.to_dict()["high"], "high": critic.to_dict()["low"]})


def test_a_critic_fitted_before_a_feature_existed_reads_the_features_it_knows(chorales):
    """A critic.json names its features: one written before `onset_top_interval` (version 3, as the
    folk critic shipped until session 9) scores with the columns it names, exactly as it did."""
    R, _ = F.feature_matrix(chorales[:20], critic=True)
    J, _ = F.feature_matrix(_junk(chorales[:20], 4), critic=True)
    keep = [i for i, n in enumerate(F.CRITIC_FEATURE_NAMES) if n != "onset_top_interval"]
    two = [n for n in K.TWO_SIDED if n not in ("onset_top_interval", "length_quarters")]
    # the old critic, refitted by hand on the old columns: standardize, weigh, no new terms
    X = np.vstack([J, R])[:, keep]
    names = [F.CRITIC_FEATURE_NAMES[i] for i in keep]
    centre = np.median(R[:, keep][:, [names.index(n) for n in two]], axis=0)
    T = np.hstack([X, np.abs(X[:, [names.index(n) for n in two]] - centre)])
    rng = np.random.default_rng(0)
    coef = rng.normal(size=T.shape[1])
    doc = {"format": K.CRITIC_FORMAT, "version": 3, "features": names, "two_sided": two,
           "fill": X.mean(axis=0).tolist(), "centre": centre.tolist(), "mean": T.mean(axis=0).tolist(),
           "scale": (T.std(axis=0) + 1e-3).tolist(), "coef": coef.tolist(), "intercept": 0.25}
    old = K.Critic.from_dict(doc)
    assert old.features == tuple(names) and "onset_top_interval" not in old.terms
    held = chorales[20:26]
    Xh = np.array([F.critic_features(p) for p in held])[:, keep]
    Th = np.hstack([Xh, np.abs(Xh[:, [names.index(n) for n in two]] - centre)])
    expected = ((Th - np.array(doc["mean"])) / np.array(doc["scale"])) @ coef + 0.25
    assert [old.score(p) for p in held] == pytest.approx(expected.tolist())
    assert old.to_dict()["features"] == names  # written back as it was read
    shipped = json.loads((Path(__file__).resolve().parents[1] / "checkpoints" / "folk" / "critic.json").read_text())
    assert np.isfinite(K.Critic.from_dict(shipped).score(held[0]))


def test_best_of_takes_the_highest_score_per_sample():
    scores = np.array([[0.0, 5.0, np.nan], [1.0, 2.0, -1.0], [1.0, -3.0, -2.0]])
    assert K.best_of(scores).tolist() == [1, 0, 1]
    nothing = np.full((4, 3), -np.inf)  # no candidate has notes: both keep the first
    assert K.best_of(nothing).tolist() == [0, 0, 0]
    assert K.weighted_choice(nothing, np.random.default_rng(1)).tolist() == [0, 0, 0]


# --------------------------------------------------------------------------- a run with a critic
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Two epochs of a tiny model on toy scales, and its critic fitted on 60 samples."""
    from toy_tokens import toy_corpus, toy_tokenizer

    from melodygru.evaluation.critic import fit_run_critic
    from melodygru.training.config import TrainConfig
    from melodygru.training.run import train

    tokenizer = toy_tokenizer()
    path = tmp_path_factory.mktemp("run") / "tiny"
    corpus = toy_corpus(tokenizer, 40)
    config = TrainConfig(preset="tiny", epochs=2, seq_len=32, batch_size=16, lr=1e-2, steps_per_execution=4)
    train(corpus, tokenizer, path, config, log=lambda line: None)
    result = fit_run_critic(path, num_samples=60, length=96,
                            training=[SimpleNamespace(ids=ids, source=f"toy{i}") for i, ids in enumerate(corpus)])
    assert result.path == path / "critic.json" and result.path.exists()
    assert "tells them apart" in result.lines()[0]
    return path


def test_candidates_keep_the_critics_best(run_dir):
    from melodygru.generation.generate import load_checkpoint, sample

    ck = load_checkpoint(run_dir)
    assert ck.critic is not None
    once = sample(ck, 96, 8, seed=3)
    best = sample(ck, 96, 8, seed=3, candidates=6)
    assert all(s.critic_score is None for s in once)
    for a, b in zip(once, best):
        assert b.critic_score == pytest.approx(ck.critic.score(b.piece))
        assert b.critic_score >= ck.critic.score(a.piece) - 1e-9  # candidate 0 is the single draw
        if b.candidate == 0:
            assert np.array_equal(a.ids, b.ids)
    assert any(b.candidate != 0 for b in best)
    assert sum(b.critic_score for b in best) > sum(ck.critic.score(a.piece) for a in once)
    w1 = sample(ck, 96, 8, seed=3, candidates=6, selection="weighted")
    w2 = sample(ck, 96, 8, seed=3, candidates=6, selection="weighted")
    assert [s.candidate for s in w1] == [s.candidate for s in w2]  # the same seed, the same choice
    assert all(np.array_equal(a.ids, b.ids) for a, b in zip(w1, w2))
    from melodygru.core.errors import MelodyGRUError

    for bad in (dict(candidates=0), dict(candidates=True), dict(selection="bogus"), dict(voices=-1)):
        with pytest.raises(MelodyGRUError):
            sample(ck, 16, 1, **bad)


def test_generate_uses_the_critic_by_default_and_candidates_1_is_the_plain_draw(run_dir, tmp_path):
    runner = CliRunner()

    def gen(run, out, *args):
        res = runner.invoke(main, ["generate", "--checkpoint", str(run), "--out", str(out), "--length", "64",
                                   "--num-samples", "3", "--seed", "5", "--json", *args])
        assert res.exit_code == 0, res.output
        return json.loads(res.output)

    got = gen(run_dir, tmp_path / "a")
    assert got["candidates"] == 16 and all("critic_score" in s for s in got["samples"])
    plain = tmp_path / "plain"
    shutil.copytree(run_dir, plain)
    (plain / "critic.json").unlink()
    one = gen(run_dir, tmp_path / "b", "--candidates", "1")
    none = gen(plain, tmp_path / "c")
    assert one["candidates"] == none["candidates"] == 1
    for x, y in zip(one["samples"], none["samples"]):
        assert open(x["midi"], "rb").read() == open(y["midi"], "rb").read()
    res = runner.invoke(main, ["generate", "--checkpoint", str(plain), "--out", str(tmp_path / "d"),
                               "--candidates", "4"])
    assert res.exit_code != 0 and "no critic" in res.output and len(res.output.strip().splitlines()) == 1
    for broken in ('{"format": "melodygru-critic", "version": 1, "features": []}', "[1, 2]", "{not json"):
        (plain / "critic.json").write_text(broken)
        (plain / "sampling.json").write_text('{"candidates": 8}')
        res = runner.invoke(main, ["generate", "--checkpoint", str(plain), "--out", str(tmp_path / "e")])
        assert res.exit_code != 0 and "critic.json" in res.output and len(res.output.strip().splitlines()) == 1
        assert "Traceback" not in res.output
        # a plain draw needs no critic: a broken one is no reason to refuse it
        assert gen(plain, tmp_path / "f", "--candidates", "1", "--force")["candidates"] == 1
    good = json.loads((run_dir / "critic.json").read_text())
    (plain / "critic.json").write_text(json.dumps({**good, "info": 5}))
    res = runner.invoke(main, ["generate", "--checkpoint", str(plain), "--out", str(tmp_path / "g")])
    assert res.exit_code != 0 and "info" in res.output and "Traceback" not in res.output


def test_sampling_json_sets_candidates(run_dir, tmp_path):
    from melodygru.core.errors import CheckpointError
    from melodygru.generation.generate import recommended_sampling

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / "sampling.json").write_text(json.dumps({"candidates": 3}))
    assert recommended_sampling(run)["candidates"] == 3
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(run), "--out", str(tmp_path / "o"),
                                    "--length", "32", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["candidates"] == 3
    for bad in (0, 2.5, "4", 5000):
        (run / "sampling.json").write_text(json.dumps({"candidates": bad}))
        with pytest.raises(CheckpointError):
            recommended_sampling(run)
    (run / "sampling.json").write_text(json.dumps({"candidates": 4, "selection": "matched", "match_all": 0.1}))
    assert recommended_sampling(run)["match_all"] == 0.1
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(run), "--out", str(tmp_path / "m"),
                                    "--length", "32", "--num-samples", "10", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["match_all"] == 0.1
    # a critic without every feature's spread (fitted before session 10) cannot honour match_all:
    # a one-line error naming the fix, not a silent choice on 13 features
    doc = json.loads((run / "critic.json").read_text())
    (run / "critic.json").write_text(json.dumps({k: v for k, v in doc.items() if k not in ("all_mean", "all_sd")}))
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(run), "--out", str(tmp_path / "n"),
                                    "--length", "32", "--num-samples", "10"])
    assert res.exit_code != 0 and len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    assert "match_all" in res.output and "--reference-only" in res.output and not (tmp_path / "n").exists()
    (run / "critic.json").write_text(json.dumps(doc))
    for bad in (-1, "0.1", 11):
        (run / "sampling.json").write_text(json.dumps({"match_all": bad}))
        with pytest.raises(CheckpointError, match="match_all"):
            recommended_sampling(run)


def test_critic_command_refits_and_reports(tmp_path, monkeypatch):
    """`melodygru critic` on a run trained from MIDI files through the command line."""
    from helpers import scale_notes, write_midi

    monkeypatch.setenv("MELODYGRU_CACHE_DIR", str(tmp_path / "cache"))
    for i in range(12):
        write_midi(tmp_path / "music" / f"piece{i}.mid", scale_notes(start_pitch=55 + i, count=24))
    run = tmp_path / "run"
    runner = CliRunner()
    res = runner.invoke(main, ["train", str(tmp_path / "music"), "--out", str(run), "--epochs", "1", "--preset", "tiny",
                               "--seq-len", "32", "--batch-size", "8", "-q", "--critic-samples", "20"])
    assert res.exit_code == 0, res.output
    assert "critic: 20 samples" in res.output and (run / "critic.json").exists()
    first = json.loads((run / "critic.json").read_text())
    res = runner.invoke(main, ["critic", "--checkpoint", str(run), "--samples", "30", "--length", "64", "--json", "-q"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    split = json.loads((run / "split.json").read_text())
    assert out["samples"] == 30 and out["real_pieces"] == len(split["train"])  # never the validation pieces
    assert json.loads((run / "critic.json").read_text())["info"]["samples"] == 30 != first["info"]["samples"]
    (run / "critic.json").write_text('{"format": "melodygru-critic", "version": 0}')  # stale: refit, not refused
    res = runner.invoke(main, ["critic", "--checkpoint", str(run), "--samples", "20", "--length", "64", "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads((run / "critic.json").read_text())["version"] == K.CRITIC_VERSION
    res = runner.invoke(main, ["critic", "--checkpoint", str(run), "--samples", "20", "--length", "64", "-q",
                               "--cache-dir", str(tmp_path / "cache2")])
    assert res.exit_code == 0, res.output
    assert any((tmp_path / "cache2").rglob("*")), "the token cache goes where --cache-dir says"
    res = runner.invoke(main, ["critic", "--checkpoint", str(run), "--samples", "20", "--length", "64", "-q",
                               "--max-file-mb", "0.0001", "--no-cache"])  # every training file is too large
    assert res.exit_code != 0 and len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    fitted = json.loads((run / "critic.json").read_text())
    assert fitted["minor_share"]["finder"] == "aarden-essen" and 0.0 <= fitted["minor_share"]["share"] <= 1.0
    kept_share = fitted.pop("minor_share")
    fitted.pop("atoms", None)
    del fitted["all_mean"], fitted["all_sd"]  # a critic fitted before it kept them
    (run / "critic.json").write_text(json.dumps(fitted))
    res = runner.invoke(main, ["critic", "--checkpoint", str(run), "--reference-only", "-q"])
    assert res.exit_code == 0, res.output
    now = json.loads((run / "critic.json").read_text())
    assert now["coef"] == fitted["coef"] and len(now["all_mean"]) == len(F.CRITIC_FEATURE_NAMES)
    # --reference-only writes the training pieces' share in minor again, from the fit's pieces
    assert now["minor_share"] == kept_share
    res = runner.invoke(main, ["critic", "--checkpoint", str(tmp_path / "nowhere")])
    assert res.exit_code != 0 and len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output


# --------------------------------------------------------------------------- one voice
def test_limit_voices_ends_the_notes_held_longest():
    from melodygru.generation.generate import limit_voices

    p = Piece([Note(0.0, 2.0, 60), Note(1.0, 0.5, 62), Note(2.0, 1.0, 64), Note(4.0, 3.0, 65)])
    got = limit_voices(p, 1)
    assert [(n.onset, n.duration) for n in got.notes] == [(0.0, 1.0), (1.0, 0.5), (2.0, 1.0), (4.0, 3.0)]
    # a primer's notes (before `after`) are never shortened, even when held into the new music
    assert [n.duration for n in limit_voices(p, 1, after=1.5).notes] == [2.0, 0.5, 1.0, 3.0]
    held = Piece([Note(0.0, 3.0, 60), Note(2.0, 1.0, 64), Note(2.0, 1.0, 67)])
    assert [n.duration for n in limit_voices(held, 2, after=1.5).notes] == [3.0, 1.0, 1.0]
    assert [n.duration for n in limit_voices(held, 2).notes] == [2.0, 1.0, 1.0]
    assert [n.duration for n in limit_voices(p, 2).notes] == [2.0, 0.5, 1.0, 3.0]  # two at once: nothing to end
    # a chord of four held under a fifth voice: the bass (held since 0) ends when the fifth starts
    chord = [Note(0.0, 4.0, 48), Note(1.0, 3.0, 60), Note(1.0, 3.0, 64), Note(1.0, 3.0, 67), Note(2.0, 1.0, 72),
             Note(2.0, 1.0, 36, is_drum=True)]
    got = {(n.onset, n.pitch): n.duration for n in limit_voices(Piece(chord), 4).notes}
    assert got == {(0.0, 48): 2.0, (1.0, 60): 3.0, (1.0, 64): 3.0, (1.0, 67): 3.0, (2.0, 72): 1.0, (2.0, 36): 1.0}
    # notes that start together are all kept, however many
    assert len(limit_voices(Piece([Note(0.0, 1.0, 60 + i) for i in range(6)]), 4).notes) == 6


def test_weighted_choice_follows_exp_scores():
    rng = np.random.default_rng(0)
    scores = np.tile(np.array([[0.0], [np.log(3.0)], [-np.inf]]), (1, 20000))
    picks = K.weighted_choice(scores, rng)
    assert set(np.unique(picks)) == {0, 1}  # a candidate without notes is never kept
    assert np.mean(picks == 1) == pytest.approx(0.75, abs=0.01)


def test_voices_and_selection_through_the_command_line(run_dir, tmp_path):
    def held_over(path, voices):
        """Onsets where more than `voices` notes sound and some of them were held from before."""
        notes = read_file(str(path))[0].notes
        bad = 0
        for t in sorted({n.onset for n in notes}):
            new = sum(n.onset == t for n in notes)
            held = sum(n.onset < t < n.end - 1e-6 for n in notes)
            bad += held > 0 and held + new > voices
        return bad

    runner = CliRunner()
    for voices in ("0", "2"):
        res = runner.invoke(main, ["generate", "--checkpoint", str(run_dir), "--out", str(tmp_path / voices),
                                   "--length", "160", "--num-samples", "6", "--seed", "4", "--temperature", "1.5",
                                   "--voices", voices, "--selection", "weighted", "--json"])
        assert res.exit_code == 0, res.output
        got = json.loads(res.output)
        assert got["voices"] == int(voices) and got["selection"] == "weighted"
        over = sum(held_over(s["midi"], 2) for s in got["samples"])
        assert over == 0 if voices == "2" else over > 0


def test_explicit_voices_replace_a_recommended_one_note_at_a_time(run_dir, tmp_path):
    mono = tmp_path / "mono"
    shutil.copytree(run_dir, mono)
    (mono / "sampling.json").write_text(json.dumps({"monophonic": True, "candidates": 1}))
    runner = CliRunner()
    chords = {}
    for extra in ([], ["--voices", "3"], ["--voices", "1"]):
        res = runner.invoke(main, ["generate", "--checkpoint", str(mono), "--out", str(tmp_path / f"out{len(chords)}"),
                                   "--length", "160", "--num-samples", "4", "--seed", "3", "--temperature", "1.5",
                                   "--json", *extra])
        assert res.exit_code == 0, res.output
        got = json.loads(res.output)
        most = max(Counter(n.onset for n in read_file(s["midi"])[0].notes).most_common(1)[0][1] for s in got["samples"])
        chords[" ".join(extra)] = (got["monophonic"], most)
    assert chords[""] == (True, 1) and chords["--voices 1"] == (True, 1)  # sampling.json: one note per onset
    assert chords["--voices 3"][0] is False and chords["--voices 3"][1] > 1  # the user's limit: chords again


def test_monophonic_files_never_hold_a_note_into_the_next(run_dir, tmp_path):
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(run_dir), "--out", str(tmp_path), "--length", "160",
                                    "--num-samples", "6", "--seed", "2", "--monophonic", "--temperature", "1.5",
                                    "--candidates", "1"])
    assert res.exit_code == 0, res.output
    held = 0
    for path in sorted(tmp_path.glob("*.mid")):
        notes = sorted(read_file(str(path))[0].notes, key=lambda n: n.onset)
        for a, b in zip(notes, notes[1:]):
            assert b.onset > a.onset  # one note per onset
            held += a.end > b.onset + 1e-6
    assert held == 0


def test_resample_groups_keeps_rows_in_their_group_and_follows_the_gain():
    from melodygru.generation.choose import resample_groups

    rng = np.random.default_rng(0)
    same = resample_groups(np.zeros(8), np.zeros(8), 4, rng)
    assert same.tolist() == list(range(8))  # equal gains: systematic resampling keeps every row once
    scores = np.array([0.0, 9.0, 0.0, 0.0, -np.inf, 1.0, 1.0, np.nan])
    rows = resample_groups(scores, np.zeros(8), 4, rng)
    assert rows[:4].tolist() == [1, 1, 1, 1]  # one row far ahead takes its whole group
    assert set(rows[4:]) <= {5, 6} and all(4 <= r < 8 for r in rows[4:])  # a row without notes is dropped
    picks = np.concatenate([resample_groups(np.log([1.0, 3.0]), np.zeros(2), 2, rng) for _ in range(4000)])
    assert np.mean(picks == 1) == pytest.approx(0.75, abs=0.02)


def test_candidates_resampled_part_way_through_the_command_line(run_dir, tmp_path):
    runner = CliRunner()
    args = ["generate", "--checkpoint", str(run_dir), "--length", "96", "--num-samples", "3", "--seed", "6",
            "--candidates", "5", "--selection", "weighted", "--resample-every", "32", "--json"]
    outs = []
    for name in ("a", "b"):
        res = runner.invoke(main, args + ["--out", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
        outs.append(json.loads(res.output))
    assert outs[0]["resample_every"] == 32 and len(outs[0]["samples"]) == 3
    for a, b in zip(outs[0]["samples"], outs[1]["samples"]):  # seeded: the same files again
        assert Path(a["midi"]).read_bytes() == Path(b["midi"]).read_bytes()
        assert read_file(a["midi"])[0].notes
    text = runner.invoke(main, args[:-1] + ["--out", str(tmp_path / "c")]).output
    assert "resampled every 32 tokens" in text
    res = runner.invoke(main, args + ["--out", str(tmp_path / "never"), "--resample-every", "0"])
    never = [Path(s["midi"]).read_bytes() for s in json.loads(res.output)["samples"]]
    assert never != [Path(s["midi"]).read_bytes() for s in outs[0]["samples"]]  # the resampling path ran
    res = runner.invoke(main, args[:-1] + ["--out", str(tmp_path / "d"), "--resample-every", "-1"])
    assert res.exit_code != 0 and "Traceback" not in res.output


# --------------------------------------------------------------------------- the matched choice
def test_matched_choice_keeps_the_sets_spread_where_each_samples_best_would_not():
    """Every sample's best candidate is its lowest on the first feature, so best_of keeps a set all
    at -2 sd; the matched choice keeps one whose mean and sd are the real pieces' (0 and 1 sd)."""
    n, cands, m = 60, 12, len(K.MATCHED)
    critic = SimpleNamespace(ref_mean=np.full(m, 5.0), ref_sd=np.full(m, 2.0))
    values = np.full((cands, n, m), 5.0)
    values[:, :, 0] = 5.0 + 2.0 * np.linspace(-2, 2, cands)[:, None]  # candidate k: (-2 + 4k/11) sd
    rng = np.random.default_rng(0)
    scores = -0.01 * np.arange(cands)[:, None] + 0.001 * rng.random((cands, n))
    assert (K.best_of(scores) == 0).all()
    keep = K.matched_choice(scores, values, critic)
    z = (values[keep, np.arange(n), 0] - 5.0) / 2.0
    assert abs(z.mean()) < 0.15 and abs(z.std() - 1.0) < 0.15
    assert (K.matched_choice(scores, values, critic, weight=0.0) == K.best_of(scores)).all()
    # a candidate in another mode than the plain draw (candidate 0) is never kept, however good
    modes = values.copy()
    modes[:, :, K.MATCHED.index("minor_mode")] = (np.arange(cands) % 2)[:, None]
    assert (K.matched_choice(scores, modes, critic, keep_mode=True) % 2 == 0).all()
    assert (K.matched_choice(scores + 5.0 * (np.arange(cands) % 2)[:, None], modes, critic, keep_mode=True) % 2 == 0).all()
    assert (K.matched_choice(scores + 5.0 * (np.arange(cands) % 2)[:, None], modes, critic) % 2 == 1).any()
    # fewer than MATCH_MIN_SAMPLES samples: each keeps its best (a few samples' spread says little)
    assert (K.matched_choice(scores[:, :4], values[:, :4], critic) == 0).all()
    # an unreadable candidate (fewer than two notes: -inf) never wins over a readable one, however bad
    bad = scores.copy()
    bad[0], bad[1:] = -np.inf, -500.0
    assert (K.matched_choice(bad, values, critic) != 0).all()
    # a far worse score is not bought for the spread: candidate 0 is then the only sane one
    scores[1:] -= 1000.0
    assert (K.matched_choice(scores, values, critic) == 0).all()



def test_match_all_brings_every_features_spread_to_the_real_pieces():
    """Feature 0 of the matched ones is fine in every candidate; an unmatched feature (one of all
    CRITIC_FEATURE_NAMES) is what the best candidates get wrong: only `every_weight` sees it."""
    n, cands, m, f = 60, 12, len(K.MATCHED), len(F.CRITIC_FEATURE_NAMES)
    other = next(i for i, name in enumerate(F.CRITIC_FEATURE_NAMES) if name not in K.MATCHED)
    critic = SimpleNamespace(ref_mean=np.full(m, 5.0), ref_sd=np.full(m, 2.0), all_mean=np.full(f, 5.0),
                             all_sd=np.full(f, 2.0))
    values = np.full((cands, n, m), 5.0)
    every = np.full((cands, n, f), 5.0)
    every[:, :, other] = 5.0 + 2.0 * np.linspace(-2, 2, cands)[:, None]
    scores = -0.01 * np.arange(cands)[:, None] + 0.001 * np.random.default_rng(0).random((cands, n))
    assert (K.matched_choice(scores, values, critic, every=every) == 0).all()  # every_weight 0: as before
    keep = K.matched_choice(scores, values, critic, every=every, every_weight=0.5)
    z = (every[keep, np.arange(n), other] - 5.0) / 2.0
    assert abs(z.mean()) < 0.15 and abs(z.std() - 1.0) < 0.15
    no_reference = SimpleNamespace(ref_mean=critic.ref_mean, ref_sd=critic.ref_sd, all_mean=None, all_sd=None)
    assert (K.matched_choice(scores, values, no_reference, every=every, every_weight=0.5) == 0).all()


def test_real_atoms_find_the_value_many_real_pieces_hold_exactly():
    m = len(K.MATCHED)
    rng = np.random.default_rng(1)
    M = rng.normal(5.0, 1.0, (100, m))
    poly, mode = K.MATCHED.index("polyphony"), K.MATCHED.index("minor_mode")
    M[:50, poly] = 4.0  # half the pieces: four voices at every onset
    M[:, mode] = (np.arange(100) % 3 == 0)  # two values: its mean says its share already
    atoms = K.real_atoms(M)
    assert atoms == (("polyphony", 4.0, 0.5),)
    M[:15, poly] = 3.0  # 35 at 4.0 and 15 at 3.0: only the most common value, still >= 20%
    assert K.real_atoms(M) == (("polyphony", 4.0, 0.35),)
    M[:, poly] = 4.0  # every piece: nothing to match a share against
    assert K.real_atoms(M) == ()
    M[:95, poly], M[95:, poly] = 4.0, [3.0, 3.5, 4.5, 5.0, 6.0]  # 95%: over ATOM_MAX_SHARE, a rule not a share
    assert K.real_atoms(M) == ()
    M[:40, poly], M[40:70, poly], M[70:, poly] = 4.0, np.nan, 3.0 + np.arange(30) / 10  # undefined: left out
    assert K.real_atoms(M) == (("polyphony", 4.0, round(41 / 70, 6)),)  # 4.0 among the 30 once more
    on, share, sd = K.atom_columns(np.array([[4.0] * m, [4.000001] * m, [3.9] * m, [np.nan] * m]),
                                   (("polyphony", 4.0, 0.5),))
    assert on[:3, 0].tolist() == [1.0, 1.0, 0.0] and np.isnan(on[3, 0]) and share.tolist() == [0.5] and sd.tolist() == [0.5]


def test_matched_choice_keeps_the_real_share_on_an_atom():
    """Half the real pieces hold exactly 4.0; every sample has a candidate just beside it (4.0 +-
    0.01, its best score) and one on it. Mean and sd cannot tell them apart, so without the atom
    the set keeps none on it; with the atom, about half."""
    n, cands, m = 60, 2, len(K.MATCHED)
    poly = K.MATCHED.index("polyphony")
    values = np.full((cands, n, m), 5.0)
    values[0, :, poly] = 4.0 + 0.01 * np.where(np.arange(n) % 2, 1, -1)
    values[1, :, poly] = 4.0
    scores = np.zeros((cands, n))
    scores[1] -= 0.05
    plain = SimpleNamespace(ref_mean=np.r_[np.full(m, 5.0)], ref_sd=np.full(m, 2.0))
    plain.ref_mean[poly], plain.ref_sd[poly] = 4.0, 0.5
    assert (K.matched_choice(scores, values, plain) == 0).all()
    atoms = SimpleNamespace(**vars(plain), atoms=(("polyphony", 4.0, 0.5),))
    on = K.matched_choice(scores, values, atoms) == 1
    assert abs(on.mean() - 0.5) <= 0.1
    scores[1] -= 100.0  # not bought at any price: a far worse candidate stays unchosen
    assert (K.matched_choice(scores, values, atoms) == 0).all()
    # nor when nearly every real piece sits on the atom (its indicator's sd is small: clipped)
    common = SimpleNamespace(**vars(plain), atoms=(("polyphony", 4.0, K.ATOM_MAX_SHARE),))
    assert (K.matched_choice(scores, values, common) == 0).all()


def test_a_critic_keeps_the_real_spread_of_every_feature(chorales):
    R, _ = F.feature_matrix(chorales[:20], critic=True)
    J, _ = F.feature_matrix(_junk(chorales[:20], 3), critic=True)
    critic = K.fit_critic(R, J)
    assert critic.all_mean.shape == critic.all_sd.shape == (len(F.CRITIC_FEATURE_NAMES),)
    filled = np.where(np.isfinite(R), R, np.nanmean(np.where(np.isfinite(R), R, np.nan), axis=0))
    at = [F.CRITIC_FEATURE_NAMES.index(n) for n in K.MATCHED]
    assert critic.all_mean[at] == pytest.approx(critic.ref_mean)
    again = K.Critic.from_dict(json.loads(json.dumps(critic.to_dict())))
    assert again.all_mean == pytest.approx(critic.all_mean) and again.all_sd == pytest.approx(critic.all_sd)
    older = {k: v for k, v in critic.to_dict().items() if k not in ("all_mean", "all_sd", "atoms", "minor_share")}  # of session 9
    old = K.Critic.from_dict(older)
    assert old.all_mean is None
    added = old.with_reference(R)
    assert added.all_mean == pytest.approx(filled.mean(axis=0)) and (added.coef == critic.coef).all()
    with pytest.raises(ValueError, match="every feature"):
        K.Critic.from_dict({**critic.to_dict(), "all_sd": [0.0] * len(F.CRITIC_FEATURE_NAMES)})
    # the atoms travel through critic.json; a malformed list is refused, a critic without one has none
    atoms = (("polyphony", 4.0, 0.5), ("silence", 0.0, 0.8))
    doc = json.loads(json.dumps(dataclasses.replace(critic, atoms=atoms).to_dict()))
    assert K.Critic.from_dict(doc).atoms == atoms
    assert K.Critic.from_dict(older).atoms == ()
    for bad in ({"feature": "nonsense", "value": 1, "share": 0.5}, {"feature": "polyphony", "value": 4, "share": 1.0},
                {"feature": "polyphony", "share": 0.5}, "polyphony"):
        with pytest.raises(ValueError, match="atoms"):
            K.Critic.from_dict({**doc, "atoms": [bad]})
    with pytest.raises(ValueError, match="one per feature"):
        K.Critic.from_dict({**doc, "atoms": [{"feature": "polyphony", "value": 4, "share": 0.5}] * 2})
    assert K.Critic.from_dict({**doc, "atoms": None}).atoms == ()
    assert added.atoms == K.real_atoms(added.matched_values(filled))
    # the share in minor by music21's default key-finder travels too; another finder is refused
    doc = json.loads(json.dumps(dataclasses.replace(critic, finder_minor_share=0.24).to_dict()))
    assert doc["minor_share"] == {"finder": "aarden-essen", "share": 0.24}
    assert K.Critic.from_dict(doc).finder_minor_share == 0.24 and K.Critic.from_dict(older).finder_minor_share is None
    for bad in ({"finder": "krumhansl-kessler", "share": 0.2}, {"finder": "aarden-essen", "share": 1.5}, {"share": 0.2}, 0.2):
        with pytest.raises(ValueError, match="minor_share"):
            K.Critic.from_dict({**doc, "minor_share": bad})


def test_matched_selection_through_the_command_line(run_dir, tmp_path):
    critic = K.Critic.from_dict(json.loads((run_dir / "critic.json").read_text()))
    assert critic.ref_mean is not None and critic.ref_mean.shape == (len(K.MATCHED),)
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(run_dir), "--length", "64", "--num-samples", "12",
                                    "--candidates", "8", "--selection", "matched", "--seed", "3", "--out",
                                    str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["selection"] == "matched" and len(out["samples"]) == 12
    assert all(Path(s["midi"]).stat().st_size > 0 and "critic_score" in s for s in out["samples"])
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(run_dir), "--length", "64", "--num-samples", "12",
                                    "--candidates", "8", "--selection", "best", "--seed", "3", "--out",
                                    str(tmp_path / "best"), "--json"])
    best = json.loads(res.output)["samples"]
    # the same candidates (one seed): each best score is at least the matched choice's
    assert all(b["critic_score"] >= m["critic_score"] - 1e-9 for b, m in zip(best, out["samples"]))
