"""Held-out likelihood against a hand computation, the baselines, and the `evaluate` command."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import evaluate_cli, scale_notes, write_midi

from melodygru.core.errors import CheckpointError, MelodyGRUError
from melodygru.core.events import Note, Piece
from melodygru.evaluation.likelihood import (
    baseline_table,
    baselines,
    likelihood,
    quarter_steps,
    rates,
    training_sources,
)
from melodygru.tokens.config import TokenizerConfig
from melodygru.tokens.tokenizer import Tokenizer

TOKENIZER = Tokenizer(TokenizerConfig(velocity_bins=0))


def melody(start: int, count: int, step: float = 0.5) -> Piece:
    return Piece([Note(on, dur, pitch, vel) for on, dur, pitch, vel in scale_notes(start, count, step)])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny untrained GRU LM saved the way a run directory holds it (model.keras, tokenizer.json
    and the config.json it is rebuilt from)."""
    import keras

    from melodygru.model import rundir as rd
    from melodygru.model.network import ModelConfig, build_model

    keras.utils.set_random_seed(0)
    model_config = ModelConfig(len(TOKENIZER), layers=1, units=16, embedding_dim=8, dropout=0.0)
    model = build_model(model_config)
    # larger weights than the initialiser's, so the logits are far from uniform
    model.set_weights([w * 3 for w in model.get_weights()])
    path = tmp_path_factory.mktemp("run")
    model.save(path / "model.keras")
    TOKENIZER.save(path / "tokenizer.json")
    (path / "config.json").write_text(json.dumps({"format": rd.RUN_FORMAT, "version": rd.FORMAT_VERSION,
                                                  "model": model_config.to_dict(),
                                                  "data": {"paths": ["train/"], "corpora": ["bach"]}}))
    return path


# a one-beat pickup, two full bars, a last bar of three beats: 12 quarters of music under 4 bar lines
PICKUP = Piece([Note(3.0 + q, 1.0, 60 + (2 * q) % 7) for q in range(12)])


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """A real run directory trained for one epoch with mixed precision (float16 compute, as on a
    GPU), validated on the pickup piece alone; returns (run_dir, metrics, validation ids)."""
    from toy_tokens import toy_corpus

    from melodygru.training.config import TrainConfig
    from melodygru.training.run import train

    run = tmp_path_factory.mktemp("mixed") / "run"
    val = [TOKENIZER.encode(PICKUP)]
    config = TrainConfig(preset="tiny", seq_len=32, batch_size=8, epochs=1, lr=1e-2, mixed_precision="on",
                         steps_per_execution=4)
    metrics = train(toy_corpus(TOKENIZER, 24), TOKENIZER, run, config, val_pieces=val, log=lambda _line: None)
    return run, metrics, val


def manual_token_nll(run_dir: Path, ids: np.ndarray) -> np.ndarray:
    """NLL of each of ids[1:], one forward pass and a plain softmax."""
    import keras

    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    logits = np.asarray(model(ids[None, :-1].astype("int32")), dtype=np.float64)[0]
    log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    return -log_probs[np.arange(len(ids) - 1), ids[1:]]


def manual_nll(run_dir: Path, ids: np.ndarray) -> float:
    return float(manual_token_nll(run_dir, ids).sum())


def test_likelihood_equals_a_manual_computation(run_dir):
    counts = (3, 9, 16, 30, 31)
    pieces = [TOKENIZER.encode(melody(48, n)) for n in counts]
    out = likelihood(run_dir, pieces, TOKENIZER)
    expected = [manual_nll(run_dir, p) for p in pieces]
    np.testing.assert_allclose(out["piece_nll"], expected, rtol=1e-5)
    tokens = sum(len(p) - 1 for p in pieces)
    assert out["tokens"] == tokens
    assert out["notes"] == sum(counts)
    assert out["quarters"] == sum(math.ceil(n / 2) for n in counts)
    assert out["nats_per_token"] == pytest.approx(sum(expected) / tokens, rel=1e-5)
    assert out["bits_per_note"] == pytest.approx(out["nll_nats"] / out["notes"] / math.log(2))
    assert out["nats_per_quarter"] == pytest.approx(out["nll_nats"] / out["quarters"])
    assert out["perplexity"] == pytest.approx(math.exp(out["nats_per_token"]))
    # where the NLL goes: each predicted token's NLL summed by its kind
    by_kind = {}
    for p in pieces:
        for tok, nll in zip(p[1:], manual_token_nll(run_dir, p)):
            kind = TOKENIZER.kinds[tok]
            n, nats = by_kind.get(kind, (0, 0.0))
            by_kind[kind] = (n + 1, nats + nll)
    assert list(out["by_kind"]) == sorted(by_kind, key=lambda k: -by_kind[k][1])
    assert {"PITCH", "DUR", "POS", "BAR", "EOS"} <= set(by_kind)
    for kind, (n, nats) in by_kind.items():
        got = out["by_kind"][kind]
        assert got["tokens"] == n, kind
        assert got["nats"] == pytest.approx(nats, rel=1e-5) and got["nats_per_token"] == pytest.approx(nats / n, rel=1e-5)
        assert got["share"] == pytest.approx(nats / sum(expected), rel=1e-5)
    # batching, padding and order do not change anything
    small = likelihood(run_dir, pieces[::-1], TOKENIZER, batch_tokens=64, max_batch=2)
    np.testing.assert_allclose(small["piece_nll"], expected[::-1], rtol=1e-5)
    assert {k: v["tokens"] for k, v in small["by_kind"].items()} == {k: n for k, (n, _) in by_kind.items()}


def test_a_mixed_precision_run_is_scored_in_float32(mixed_run):
    import keras
    from toy_tokens import toy_corpus

    from melodygru.model import rundir as rd

    run, _, val = mixed_run
    saved = keras.saving.load_model(run / "model.keras", compile=False)
    assert saved.get_layer("gru_0").dtype_policy.name == "mixed_float16"  # what the file carries
    pieces = toy_corpus(TOKENIZER, 6, seed=5) + val
    float32, _, _ = rd.load_trained(run)
    assert float32.get_layer("gru_0").compute_dtype == "float32"

    def nll(model, ids):
        logits = np.asarray(model(ids[None, :-1].astype("int32")), dtype=np.float64)[0]
        log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        return float(-log_probs[np.arange(len(ids) - 1), ids[1:]].sum())

    want = [nll(float32, p) for p in pieces]
    assert not np.allclose([nll(saved, p) for p in pieces], want, rtol=1e-6)  # float16 scores differ
    np.testing.assert_allclose(likelihood(run, pieces, TOKENIZER)["piece_nll"], want, rtol=1e-6)


def test_training_and_evaluate_count_the_same_quarter_notes(mixed_run):
    from melodygru.training.windows import quarters_of

    run, metrics, val = mixed_run
    assert metrics["val_quarters"] == likelihood(run, val, TOKENIZER)["quarters"]
    assert metrics["val_quarters"] == quarters_of(val[0], TOKENIZER) == 12  # not the 16 of its four bar lines


def test_quarter_steps_run_from_the_first_onset_to_the_last_end():
    assert quarter_steps(TOKENIZER.encode(Piece([Note(1.5, 1.0, 60), Note(4.0, 2.5, 62)])), TOKENIZER) == 5
    assert quarter_steps(TOKENIZER.encode(Piece([Note(1.5, 1.0, 60), Note(4.0, 2.75, 62)])), TOKENIZER) == 6
    assert quarter_steps(TOKENIZER.encode(Piece([Note(0, 8, 60)])), TOKENIZER) == 8


def test_checkpoint_problems_are_one_line_errors(run_dir, tmp_path):
    ids = [TOKENIZER.encode(melody(60, 8))]
    with pytest.raises(CheckpointError, match="does not exist"):
        likelihood(tmp_path / "nope", ids, TOKENIZER)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="missing tokenizer.json"):
        likelihood(tmp_path / "empty", ids, TOKENIZER)
    TOKENIZER.save(tmp_path / "empty" / "tokenizer.json")
    with pytest.raises(CheckpointError, match="missing model.keras"):
        likelihood(tmp_path / "empty", ids, TOKENIZER)
    with pytest.raises(CheckpointError, match="differs from the tokenizer"):
        likelihood(run_dir, [Tokenizer().encode(melody(60, 8))], Tokenizer())
    (tmp_path / "empty" / "model.keras").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="missing config.json"):
        likelihood(tmp_path / "empty", ids, TOKENIZER)
    (tmp_path / "empty" / "config.json").write_bytes((run_dir / "config.json").read_bytes())
    with pytest.raises(CheckpointError, match="cannot load model.keras") as e:
        likelihood(tmp_path / "empty", ids, TOKENIZER)
    assert "\n" not in str(e.value)
    other = tmp_path / "other"
    other.mkdir()
    for name in ("model.keras", "config.json"):
        (other / name).write_bytes((run_dir / name).read_bytes())
    wide = Tokenizer(TokenizerConfig(velocity_bins=4))
    wide.save(other / "tokenizer.json")
    with pytest.raises(CheckpointError, match=f"tokenizer has {len(wide)} tokens but the model was built for"):
        likelihood(other, [wide.encode(melody(60, 8))], wide)
    with pytest.raises(MelodyGRUError, match="no pieces"):
        likelihood(run_dir, [np.array([TOKENIZER.bos])], TOKENIZER)


def test_baselines_score_the_same_targets_and_never_train_on_held_out_pieces():
    train = [TOKENIZER.encode(melody(start, 24)) for start in range(50, 70)]
    held = [TOKENIZER.encode(melody(61, 20)), train[0]]
    base = baselines(train, held, TOKENIZER, order=4)
    assert base["dropped_overlap"] == 1 and base["train_pieces"] == 19
    tokens = sum(len(p) - 1 for p in held)
    assert base["ngram"]["tokens"] == base["unigram"]["tokens"] == tokens
    assert base["ngram"]["nats_per_token"] < base["unigram"]["nats_per_token"]
    gru = rates(0.5 * tokens, tokens, 48, 24)
    table = baseline_table(gru, base)
    assert [r["model"] for r in table] == ["GRU", "4-gram (Kneser-Ney)", "unigram (add-one)"]
    gain = base["ngram"]["nats_per_token"] - 0.5
    assert table[1]["gru_gain_nats_per_token"] == pytest.approx(gain)
    assert table[1]["gru_gain_percent"] == pytest.approx(100 * gain / base["ngram"]["nats_per_token"])
    with pytest.raises(MelodyGRUError, match="also in the held-out"):
        baselines(held[1:], held, TOKENIZER)


def test_training_sources_come_from_the_run_config(run_dir, tmp_path):
    assert training_sources(run_dir) == (["train/"], ["bach"])
    (tmp_path / "config.json").write_text(json.dumps({"model": {}}))
    assert training_sources(tmp_path) is None
    assert training_sources(tmp_path / "missing") is None


# --------------------------------------------------------------------------- the command
@pytest.fixture()
def cli(tmp_path, monkeypatch):
    return evaluate_cli(tmp_path, monkeypatch)


def music(folder: Path, starts) -> Path:
    for s in starts:
        write_midi(folder / f"m{s}.mid", scale_notes(s, 16))
    return folder


def test_cli_likelihood_and_baselines(cli, run_dir, tmp_path):
    held = music(tmp_path / "held", [60, 62])
    train = music(tmp_path / "train", [48, 50, 52, 55, 57])
    res = cli(["--checkpoint", run_dir, held, "--baselines", "--train", train, "--ngram-order", 3, "--json", "-q"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    L = data["likelihood"]
    assert L["pieces"] == 2 and L["notes"] == 32
    assert sorted(L["sources"]) == ["m60.mid", "m62.mid"]
    assert [r["model"] for r in data["baselines"]["table"]] == ["GRU", "3-gram (Kneser-Ney)", "unigram (add-one)"]
    res = cli(["--checkpoint", run_dir, held, "-q"])
    assert res.exit_code == 0, res.output
    assert "per quarter" in res.output and "perplexity" in res.output and "by token kind: " in res.output


def test_cli_statistics_with_plot(cli, tmp_path):
    ref = music(tmp_path / "ref", [55, 60, 62, 64, 65, 67])
    samples = music(tmp_path / "samples", [60, 72])
    write_midi(samples / "stuck.mid", [(i * 0.5, 0.5, 60, 80) for i in range(16)])
    png = tmp_path / "out" / "stats.png"
    res = cli(["--samples", samples, "--reference", ref, "--plot", png, "-q"])
    assert res.exit_code == 0, res.output
    assert "mean overlap" in res.output and "stuck.mid" in res.output
    assert png.read_bytes()[:4] == b"\x89PNG"
    res = cli(["--samples", samples, ref, "--json", "-q"])
    data = json.loads(res.output)
    assert data["statistics"]["samples"] == 3
    assert [f["sample"] for f in data["statistics"]["flagged"]] == ["stuck.mid"]


def test_cli_errors(cli, run_dir, tmp_path):
    held = music(tmp_path / "held", [60])
    res = cli(["--checkpoint", run_dir])
    assert res.exit_code == 2 and "held-out" in res.output
    res = cli([held])
    assert res.exit_code == 2 and "nothing to evaluate" in res.output
    res = cli(["--checkpoint", tmp_path / "nope", held])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = cli(["--samples", held, held, "--baselines"])
    assert res.exit_code == 2 and "--checkpoint" in res.output


def test_tokenizer_options_pick_the_reference_cache(cli, run_dir, tmp_path):
    from melodygru.cli.app import main

    ref = music(tmp_path / "ref", [55, 60, 62, 64])
    samples = music(tmp_path / "samples", [60, 72])
    cache = tmp_path / "cache"  # the cli fixture's MELODYGRU_CACHE_DIR
    res = CliRunner().invoke(main, ["prepare", str(ref), "--velocity-bins", "0", "-q"])
    assert res.exit_code == 0, res.output
    entries = sorted(cache.rglob("*.npz"))
    assert len(entries) == 4
    # the same options read the reference from the cache `prepare` (or `train`) filled...
    same = cli(["--samples", samples, "--reference", ref, "--velocity-bins", "0", "--json", "-q"])
    assert same.exit_code == 0, same.output
    assert sorted(cache.rglob("*.npz")) == entries
    # ...the default tokenizer is another cache key, with the same statistics
    default = cli(["--samples", samples, "--reference", ref, "--json", "-q"])
    assert default.exit_code == 0, default.output
    assert len(list(cache.rglob("*.npz"))) == 8
    assert json.loads(same.output)["statistics"] == json.loads(default.output)["statistics"]
    # with a checkpoint the run decides: a tokenizer option is refused in one line
    res = cli(["--checkpoint", run_dir, ref, "--grid", "4"])
    assert res.exit_code == 2 and "--checkpoint decides the tokenizer: drop --grid" in res.output


def test_statistics_do_not_import_tensorflow(tmp_path):
    music(tmp_path / "ref", [60, 62])
    music(tmp_path / "s", [64])
    code = (
        "import sys, click\n"
        "from click.testing import CliRunner\n"
        "from melodygru.cli.evaluate import register\n"
        "g = click.Group('g')\n"
        "register(g)\n"
        f"r = CliRunner().invoke(g, ['evaluate', '--samples', {str(tmp_path / 's')!r}, {str(tmp_path / 'ref')!r},"
        f" '--cache-dir', {str(tmp_path / 'c')!r}, '-q'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False False"
