"""The continuous cache (`evaluation.pointer`, `evaluate --continuous-cache`): its pointer
distribution against a loop written out step by step, the mixture, that it finds a piece's own
repeats, that its settings are chosen on one set and never on the held-out one, and the command's
output on MIDI files written here."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import evaluate_cli, write_midi

from melodygru.core.errors import CheckpointError, MelodyGRUError
from melodygru.core.events import Note, Piece
from melodygru.evaluation.likelihood import likelihood
from melodygru.evaluation.pointer import cache_probs, continuous_cache, ensemble_likelihood, mixed_nll, top_states
from melodygru.tokens.config import TokenizerConfig
from melodygru.tokens.tokenizer import Tokenizer

TOKENIZER = Tokenizer(TokenizerConfig(velocity_bins=0))


def slow_cache_probs(states, targets, theta, window):
    """p_cache of each step's target, one step and one key at a time."""
    out = []
    for t in range(len(targets)):
        keys = range(max(0, t - window), t)
        weights = {i: math.exp(theta * float(np.dot(states[t], states[i]))) for i in keys}
        total = sum(weights.values())
        out.append(sum(w for i, w in weights.items() if targets[i] == targets[t]) / total if total else 0.0)
    return np.array(out)


@pytest.mark.parametrize("window", [1, 3, 10, 20, 50])  # chunks of 7 inside, across and beyond the window
def test_the_pointer_matches_a_step_by_step_loop(window):
    rng = np.random.default_rng(window)
    states = rng.normal(size=(40, 5)).astype(np.float32)
    targets = rng.integers(0, 4, size=40)
    got = cache_probs(states, targets, (0.3, 1.0), window=window, chunk=7)  # chunks cut across the window
    for k, theta in enumerate((0.3, 1.0)):
        np.testing.assert_allclose(got[k], slow_cache_probs(states, targets, theta, window), rtol=1e-5, atol=1e-12)
    assert got[:, 0].tolist() == [0.0, 0.0]  # the first step has no past


def test_the_mixture():
    logp = np.log(np.array([0.5, 0.2, 0.1]))
    pc = np.array([0.0, 1.0, 0.0])
    np.testing.assert_allclose(mixed_nll(logp, pc, 0.0), -logp)
    # step 0 by the model alone; then 0.5 * 0.2 + 0.5 * 1.0, and 0.5 * 0.1 + 0 for a token the cache never saw
    np.testing.assert_allclose(mixed_nll(logp, pc, 0.5), [-math.log(0.5), -math.log(0.6), -math.log(0.05)])
    with pytest.raises(MelodyGRUError, match="cache weight"):
        mixed_nll(logp, pc, 1.0)


def repeated_piece(rng, bars: int = 2, times: int = 4) -> Piece:
    """A random phrase of eighth notes played `times` times: only its first statement is new."""
    phrase = rng.integers(48, 84, size=8 * bars)
    notes = [Note(0.5 * i, 0.5, int(p)) for i, p in enumerate(np.tile(phrase, times))]
    return Piece(notes)


def make_run(path, seed, tokenizer=TOKENIZER):
    """An untrained GRU with large weights saved as a run directory: its states still say which
    tokens came just before, which is all the pointer needs to find a repeat."""
    import keras

    from melodygru.model import rundir as rd
    from melodygru.model.network import ModelConfig, build_model

    keras.utils.set_random_seed(seed)
    config = ModelConfig(len(tokenizer), layers=2, units=32, embedding_dim=16, dropout=0.0)
    model = build_model(config)
    model.set_weights([w * 3 for w in model.get_weights()])
    model.save(path / "model.keras")
    tokenizer.save(path / "tokenizer.json")
    (path / "config.json").write_text(json.dumps({"format": rd.RUN_FORMAT, "version": rd.FORMAT_VERSION,
                                                  "model": config.to_dict()}))
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run"), 1)


@pytest.fixture(scope="module")
def other_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("other"), 2)


def test_the_cache_finds_repeats_and_scores_the_model_alone_exactly(run_dir):
    rng = np.random.default_rng(0)
    fit = [TOKENIZER.encode(repeated_piece(rng)) for _ in range(4)]
    held = [TOKENIZER.encode(repeated_piece(rng)) for _ in range(3)]
    out = continuous_cache(run_dir, fit, held, TOKENIZER)
    plain = likelihood(run_dir, held, TOKENIZER)
    # without the cache it is the likelihood `evaluate` reports, piece by piece
    np.testing.assert_allclose(out["plain_piece_nll"], plain["piece_nll"], rtol=1e-5)
    assert out["plain_nats_per_token"] == pytest.approx(plain["nats_per_token"], rel=1e-5)
    # the pointer predicts the three repeats an untrained model cannot: a large share of the NLL goes
    assert 0 < out["lambda"] < 1 and out["theta"] > 0
    assert out["nats_per_token"] < 0.6 * out["plain_nats_per_token"]
    assert out["fit"]["cache_nats_per_token"] < 0.6 * out["fit"]["nats_per_token"]
    assert out["tokens"] == plain["tokens"] and out["quarters"] == plain["quarters"]
    # every piece of the held-out set gains, and the first statement of a phrase cannot be predicted by
    # it, so the cache never reaches zero
    assert all(0 < c < p for c, p in zip(out["piece_nll"], out["plain_piece_nll"]))
    # the grid holds every pair, and the chosen one is its minimum
    assert min(g[2] for g in out["grid"]) == pytest.approx(out["fit"]["cache_nats_per_token"])


def test_top_states_pair_each_state_with_the_token_that_followed_it(run_dir):
    import keras

    ids = TOKENIZER.encode(repeated_piece(np.random.default_rng(4), times=1))
    logp, h, y = top_states(run_dir, [ids], TOKENIZER)[0]
    assert y.tolist() == ids[1:].tolist() and h.shape == (len(ids) - 1, 32) and np.all(logp < 0)
    # the states are the top GRU's outputs over ids[:-1], step by step
    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    top = keras.Model(model.input, model.get_layer("gru_1").output)
    np.testing.assert_allclose(h, np.asarray(top(ids[None, :-1].astype("int32")))[0], rtol=1e-4, atol=1e-5)


def test_the_cache_is_causal(run_dir):
    # two pieces that share their first statement: every step inside it scores the same with the cache
    rng = np.random.default_rng(5)
    first = repeated_piece(rng, times=3)
    prefix = first.notes[:16]
    other = Piece(prefix + [Note(n.onset, n.duration, min(127, n.pitch + 1)) for n in first.notes[16:]])
    scored = [top_states(run_dir, [TOKENIZER.encode(p)], TOKENIZER)[0] for p in (first, other)]
    (la, ha, ya), (lb, hb, yb) = scored
    shared = next(i for i, (a, b) in enumerate(zip(ya, yb)) if a != b)  # the first target that differs
    assert shared > 20
    nll = [mixed_nll(lp, cache_probs(h, y, (0.5,))[0], 0.3) for lp, h, y in scored]
    np.testing.assert_allclose(nll[0][:shared], nll[1][:shared], rtol=1e-6)
    assert not np.allclose(nll[0][shared:], nll[1][shared:])


def test_an_ensemble_scores_the_mean_of_its_runs_distributions(run_dir, other_run):
    rng = np.random.default_rng(3)
    held = [TOKENIZER.encode(repeated_piece(rng, times=2)) for _ in range(3)]
    one, two = likelihood(run_dir, held, TOKENIZER), likelihood(other_run, held, TOKENIZER)
    out = ensemble_likelihood([run_dir, other_run], held, TOKENIZER)
    assert out["run_nats_per_token"] == pytest.approx([one["nats_per_token"], two["nats_per_token"]], rel=1e-5)
    # token by token: -log((p1 + p2) / 2) from each run's own probabilities
    for k, (a, b) in enumerate(zip(top_states(run_dir, held, TOKENIZER), top_states(other_run, held, TOKENIZER))):
        manual = -np.log((np.exp(a[0]) + np.exp(b[0])) / 2).sum()
        assert out["piece_nll"][k] == pytest.approx(manual, rel=1e-9)
    # a mixture is never worse than its runs' mean NLL (Jensen), and a run with itself is the run
    assert out["nll_nats"] <= (one["nll_nats"] + two["nll_nats"]) / 2
    same = ensemble_likelihood([run_dir, run_dir], held, TOKENIZER)
    np.testing.assert_allclose(same["piece_nll"], one["piece_nll"], rtol=1e-5)
    # the cache over an ensemble: its model-alone figure is the ensemble's
    fit = [TOKENIZER.encode(repeated_piece(rng, times=2)) for _ in range(2)]
    cached = continuous_cache([run_dir, other_run], fit, held, TOKENIZER)
    np.testing.assert_allclose(cached["plain_piece_nll"], out["piece_nll"], rtol=1e-9)
    assert cached["runs"] == [str(run_dir), str(other_run)] and cached["nats_per_token"] < out["nats_per_token"]


def test_an_ensemble_of_runs_with_other_tokenizers_is_refused(run_dir, tmp_path):
    other = Tokenizer(TokenizerConfig(velocity_bins=4))
    stranger = make_run(tmp_path, 3, other)
    with pytest.raises(CheckpointError, match="an ensemble's runs must share one"):
        ensemble_likelihood([run_dir, stranger], [TOKENIZER.encode(repeated_piece(np.random.default_rng(0)))],
                            TOKENIZER)


@pytest.fixture
def cli(tmp_path, monkeypatch):
    return evaluate_cli(tmp_path, monkeypatch)


def write_set(folder, seed, n):
    rng = np.random.default_rng(seed)
    for i in range(n):
        piece = repeated_piece(rng)
        write_midi(folder / f"p{i}.mid", [(n.onset, n.duration, n.pitch, 80) for n in piece.notes])
    return folder


def test_cli_continuous_cache(cli, run_dir, tmp_path):
    valid, test = write_set(tmp_path / "valid", 1, 3), write_set(tmp_path / "test", 2, 2)
    res = cli(["--checkpoint", run_dir, test, "--continuous-cache", valid, "--json", "-q"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    c, L = data["continuous_cache"], data["likelihood"]
    assert c["pieces"] == L["pieces"] == 2 and c["fit"]["pieces"] == 3
    assert c["plain_nats_per_token"] == pytest.approx(L["nats_per_token"], rel=1e-5)
    assert c["nats_per_quarter"] < L["nats_per_quarter"]
    res = cli(["--checkpoint", run_dir, test, "--continuous-cache", valid, "-q"])
    assert res.exit_code == 0, res.output
    assert "with a continuous cache over the top layer (theta" in res.output
    assert f"(the model alone {L['nats_per_token']:.4f})" in res.output


def test_cli_ensemble_with_the_cache(cli, run_dir, other_run, tmp_path):
    valid, test = write_set(tmp_path / "valid", 1, 2), write_set(tmp_path / "test", 2, 2)
    res = cli(["--checkpoint", run_dir, test, "--ensemble", other_run, "--continuous-cache", valid, "--json", "-q"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    e, c = data["ensemble"], data["continuous_cache"]
    assert e["runs"] == c["runs"] == [str(run_dir), str(other_run)]
    assert e["run_nats_per_token"][0] == pytest.approx(data["likelihood"]["nats_per_token"], rel=1e-5)
    assert c["plain_nats_per_token"] == pytest.approx(e["nats_per_token"], rel=1e-9)
    res = cli(["--checkpoint", run_dir, test, "--ensemble", other_run, "-q"])
    assert res.exit_code == 0 and "ensemble of 2 runs (the mean of their distributions): per token" in res.output
    res = cli(["--checkpoint", run_dir, test, "--ensemble", tmp_path / "nowhere", "-q"])
    assert res.exit_code != 0 and "nowhere" in res.output and "Traceback" not in res.output


def test_cli_refuses_to_choose_the_cache_on_held_out_pieces(cli, run_dir, tmp_path):
    test = write_set(tmp_path / "test", 2, 2)
    res = cli(["--checkpoint", run_dir, test, "--continuous-cache", test, "-q"])
    assert res.exit_code != 0
    assert "2 of its pieces are also held-out pieces" in res.output and "Traceback" not in res.output
    res = cli([test, "--continuous-cache", test, "--samples", test, "-q"])
    assert res.exit_code != 0 and "give --checkpoint too" in res.output
