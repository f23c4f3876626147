"""Styles end to end: a STYLE token per top-level folder (or per input path), read by every
training window, forced by `generate --style` and drawn without it; `--help-controls`; one-line
errors; and `train --init-from`, which starts a model with a larger vocabulary from a smaller one."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest
from click.testing import CliRunner

from melodygru.cli.app import main
from melodygru.core.events import Note, Piece, TimeSignature
from melodygru.io.writers import write_midi
from melodygru.tokens.config import TokenizerConfig
from melodygru.tokens.styles import corpus_style, folder_style, style_of, with_style
from melodygru.tokens.tokenizer import Tokenizer

MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 11)


def tune(tonic: int, steps, note: float) -> Piece:
    line = [tonic + s for s in steps] + [tonic + 12]
    line = line + line[::-1]
    return Piece([Note(i * note, note, p) for i, p in enumerate(line)], time_signatures=[TimeSignature(0, 4, 4)])


@pytest.fixture(scope="module")
def music(tmp_path_factory):
    """reels/: quick tunes in major keys; airs/: slow tunes in minor keys (MIDI files)."""
    root = tmp_path_factory.mktemp("music")
    rng = np.random.default_rng(1)
    for style, steps, note in (("reels", MAJOR, 0.5), ("Slow Airs", MINOR, 1.0)):
        (root / style).mkdir()
        for i in range(24):
            write_midi(tune(int(rng.integers(55, 67)), steps, note), root / style / f"{i}.mid")
    return root


@pytest.fixture(scope="module")
def styled_run(music, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "styled"
    res = CliRunner().invoke(main, ["train", str(music), "--styles-from-folders", "--key-tokens", "--velocity-bins", "0",
                                    "--preset", "tiny", "--epochs", "20", "--batch-size", "8", "--seq-len", "64", "--lr", "0.01",
                                    "--critic-samples", "0", "--cache-dir", str(out.parent / "cache"), "-q",
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "styles: reels 24, slow-airs 24" in res.output
    return out


def _midi_keys(path) -> list[str]:
    return [m.key for t in mido.MidiFile(path).tracks for m in t if m.type == "key_signature"]


def test_the_run_knows_its_styles_and_says_so(styled_run):
    assert Tokenizer.load(styled_run / "tokenizer.json").config.styles == ("reels", "slow-airs")
    runner = CliRunner()
    res = runner.invoke(main, ["generate", "--checkpoint", str(styled_run), "--help-controls"])
    assert res.exit_code == 0 and "--style   reels, slow-airs" in res.output and "any of 24 keys" in res.output
    res = runner.invoke(main, ["generate", "--checkpoint", str(styled_run), "--help-controls", "--json"])
    assert json.loads(res.output)["controls"]["style"] == ["reels", "slow-airs"]
    res = runner.invoke(main, ["generate", "--help-controls"])  # the shipped Bach model
    assert res.exit_code == 0 and "--style   no (trained without" in res.output


def test_a_requested_style_leads_to_its_keys(styled_run, tmp_path):
    """The model learnt that reels are in major keys and airs in minor ones: each style's samples
    (their key drawn after the forced style) say so in their files."""
    def keys(style):
        res = CliRunner().invoke(main, ["generate", "--checkpoint", str(styled_run), "--style", style, "--length", "16",
                                        "--num-samples", "40", "--seed", "2", "--out", str(tmp_path / style), "--json"])
        assert res.exit_code == 0, res.output
        out = json.loads(res.output)
        assert out["style"] == style.lower() and out["controls"]["style"] == ["reels", "slow-airs"]
        return [k for s in out["samples"] for k in _midi_keys(s["midi"])]

    reels, airs = keys("reels"), keys("Slow-Airs")
    assert len(reels) == len(airs) == 40
    assert sum(k.endswith("m") for k in reels) <= 10 and sum(k.endswith("m") for k in airs) >= 30, (reels, airs)


def test_style_errors_are_one_line(styled_run, tmp_path, music):
    runner = CliRunner()
    res = runner.invoke(main, ["generate", "--checkpoint", str(styled_run), "--style", "jazz", "--out", str(tmp_path / "a")])
    assert res.exit_code != 0 and "style 'jazz' is not one of this model's: reels, slow-airs" in res.output
    res = runner.invoke(main, ["generate", "--style", "reels", "--length", "8", "--out", str(tmp_path / "b")])
    assert res.exit_code != 0 and "trained without styles" in res.output
    res = runner.invoke(main, ["generate", "--checkpoint", str(styled_run), "--style", "reels", "--primer",
                               str(music / "reels" / "0.mid"), "--out", str(tmp_path / "c")])
    assert res.exit_code != 0 and "--style and --primer" in res.output
    assert "Traceback" not in res.output and not any((tmp_path / d).exists() for d in "abc")
    res = runner.invoke(main, ["train", str(music / "reels"), str(music / "Slow Airs"), "--style", "x",
                               "--out", str(tmp_path / "d")])
    assert res.exit_code != 0 and "1 --style name(s) for 2 input path(s)" in res.output


def test_a_style_per_input_path(music, tmp_path):
    res = CliRunner().invoke(main, ["train", str(music / "reels"), str(music / "Slow Airs"), "--style", "Fast",
                                    "--style", "slow", "--preset", "tiny", "--epochs", "1", "--seq-len", "32",
                                    "--critic-samples", "0", "--cache-dir", str(tmp_path / "cache"), "-q",
                                    "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert "styles: fast 24, slow 24" in res.output
    assert Tokenizer.load(tmp_path / "run" / "tokenizer.json").config.styles == ("fast", "slow")


def test_style_tokens_and_windows():
    from melodygru.training.windows import epoch_windows

    tok = Tokenizer(TokenizerConfig(velocity_bins=0, key_tokens=True, styles=("airs", "reels")))
    ids = with_style(tok, tok.encode(tune(60, MAJOR, 0.25)), "reels")
    assert [tok.vocab[i] for i in ids[:4]] == ["BOS", "STYLE_reels", "KEY_C", "BAR"]
    assert style_of(tok, ids) == "reels" and tok.key_of(ids) == (0, False)
    assert tok.decode(ids, strict=True).notes == tok.decode(tok.encode(tune(60, MAJOR, 0.25)), strict=True).notes
    long = np.concatenate([ids[:-1], np.tile(ids[4:-1], 6), ids[-1:]])
    w = epoch_windows([long], tok, 24, 0, seed=0, epoch=1)
    assert len(w) > 3 and all(tok.vocab[r[0]] in ("BOS", "STYLE_reels") for r in w)
    mid = [r for r in w if r[0] != tok.bos]
    assert mid and all(tok.vocab[r[1]] == "KEY_C" for r in mid)  # mid-piece windows read style, then key


def test_corpus_and_folder_styles(tmp_path):
    assert corpus_style("folk", Path("/x/oneills1850/0001-0050.abc")) == "irish"
    assert corpus_style("folk", Path("/x/essenFolksong/han2.abc")) == "chinese"
    assert corpus_style("folk", Path("/x/essenFolksong/erk10.abc")) == "german"
    assert corpus_style("bach", Path("/x/bach/bwv66.6.mxl")) == "chorale"
    (tmp_path / "Jigs & Reels" / "deep").mkdir(parents=True)
    assert folder_style(tmp_path, tmp_path / "Jigs & Reels" / "deep" / "a.mid") == "jigs-reels"
    assert folder_style(tmp_path / "Jigs & Reels", tmp_path / "Jigs & Reels" / "a.mid") == "jigs-reels"


def test_init_from_keeps_the_old_tokens_weights(music, tmp_path):
    from melodygru.model.network import ModelConfig, build_model, copy_weights

    small = build_model(ModelConfig(vocab_size=50, layers=1, units=16, embedding_dim=8))
    big = build_model(ModelConfig(vocab_size=53, layers=1, units=16, embedding_dim=8))
    assert copy_weights(small, big) == 3
    for name in ("embedding", "gru_0"):
        for s, b in zip(small.get_layer(name).weights, big.get_layer(name).weights):
            np.testing.assert_array_equal(np.asarray(s)[:50], np.asarray(b)[:50])
    np.testing.assert_array_equal(np.asarray(small.get_layer("logits").weights[0]),
                                  np.asarray(big.get_layer("logits").weights[0])[:, :50])
    with pytest.raises(ValueError, match="vocabulary shrinks"):
        copy_weights(big, small)
    with pytest.raises(ValueError, match="layers differ"):
        copy_weights(small, build_model(ModelConfig(vocab_size=53, layers=2, units=16, embedding_dim=8)))

    runner = CliRunner()
    common = ["--preset", "tiny", "--epochs", "1", "--seq-len", "32", "--critic-samples", "0",
              "--cache-dir", str(tmp_path / "cache"), "-q"]
    assert runner.invoke(main, ["train", str(music), *common, "--out", str(tmp_path / "plain")]).exit_code == 0
    res = runner.invoke(main, ["train", str(music), "--styles-from-folders", *common, "--init-from",
                               str(tmp_path / "plain"), "--out", str(tmp_path / "styled")])
    assert res.exit_code == 0, res.output
    assert f"starting from the weights of {tmp_path / 'plain'} (2 new tokens)" in res.output
    # keys added to a run with styles: every token keeps its own weights (by name, not by position)
    res = runner.invoke(main, ["train", str(music), "--styles-from-folders", "--key-tokens", *common, "--init-from",
                               str(tmp_path / "styled"), "--out", str(tmp_path / "keyed"), "--epochs", "1"])
    assert res.exit_code == 0 and "(24 new tokens)" in res.output, res.output
    from melodygru.model import rundir as rd

    before, tok_a, _ = rd.load_trained(tmp_path / "styled")
    after, tok_b, _ = rd.load_trained(tmp_path / "keyed")
    assert tok_b.index["STYLE_reels"] != tok_a.index["STYLE_reels"]
    rows_a = np.asarray(before.get_layer("embedding").weights[0])
    rows_b = np.asarray(after.get_layer("embedding").weights[0])
    # one epoch moved them a little, never as far as another token's row lies
    for name in ("STYLE_reels", "PITCH_60", "BAR"):
        gap = np.abs(rows_b[tok_b.index[name]] - rows_a[tok_a.index[name]]).max()
        assert gap < np.abs(rows_a[tok_a.index["STYLE_slow-airs"]] - rows_a[tok_a.index["STYLE_reels"]]).max(), name
    res = runner.invoke(main, ["train", str(music), "--velocity-bins", "4", *common, "--init-from",
                               str(tmp_path / "plain"), "--out", str(tmp_path / "vel")])
    assert res.exit_code != 0 and "differs by more than key and style tokens" in res.output
    res = runner.invoke(main, ["train", "--resume", "--out", str(tmp_path / "plain"), "--init-from", str(tmp_path / "styled")])
    assert res.exit_code == 2 and "--init-from starts a new run" in res.output
    res = runner.invoke(main, ["train", str(music), "--preset", "small", "--epochs", "1", "--critic-samples", "0",
                               "--init-from", str(tmp_path / "plain"), "--out", str(tmp_path / "bigger"), "-q"])
    assert res.exit_code != 0 and "cannot start from" in res.output and "Traceback" not in res.output


def test_a_requested_key_follows_a_drawn_style(styled_run):
    """Asked for a key but not a style, every sample draws a style first (never a KEY in its
    place), then gets the key asked for."""
    from melodygru.generation.generate import load_checkpoint, sample

    ckpt = load_checkpoint(styled_run)
    tok = ckpt.tokenizer
    samples = sample(ckpt, 12, 24, seed=4, key=(2, False))
    styles = [style_of(tok, s.ids) for s in samples]
    assert all(st in ("reels", "slow-airs") for st in styles)
    assert all(tok.vocab[int(s.ids[2])] == "KEY_D" for s in samples)
    assert len(set(styles)) == 2  # drawn, not one for all


def test_a_styles_run_resumes_with_its_styles(music, tmp_path):
    runner = CliRunner()
    common = ["--preset", "tiny", "--seq-len", "32", "--critic-samples", "0", "--cache-dir", str(tmp_path / "cache"), "-q"]
    res = runner.invoke(main, ["train", str(music), "--styles-from-folders", "--epochs", "1", *common,
                               "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["train", "--resume", "--out", str(tmp_path / "run"), "--epochs", "2", *common])
    assert res.exit_code == 0, res.output
    assert "styles: reels 24, slow-airs 24" in res.output and "epoch 2/2" in res.output
    assert Tokenizer.load(tmp_path / "run" / "tokenizer.json").config.styles == ("reels", "slow-airs")
