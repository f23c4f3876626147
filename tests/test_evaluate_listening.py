"""`melodygru evaluate --samples` end to end: the listening test on written MIDI files, its floor,
the calibrated statistics, the run's validation pieces as the default reference, the copy check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from melodygru.cli import main
from melodygru.analysis.features import shuffled_pitches
from melodygru.io.writers import write_midi


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Chorales from music21's corpus written as MIDI: a reference set, other real pieces as
    'samples', and junk samples (other chorales with their pitches shuffled)."""
    from music21 import corpus

    from melodygru.io.readers import read_file

    root = tmp_path_factory.mktemp("listen")
    paths = [p for p in sorted(corpus.getComposer("bach")) if str(p).endswith(".mxl")][:42]
    pieces = [read_file(str(p))[0] for p in paths]
    rng = np.random.default_rng(0)
    out = {}
    for name, group in (("ref", pieces[:18]), ("real", pieces[18:30]), ("junk", pieces[30:42])):
        folder = root / name
        folder.mkdir()
        for i, p in enumerate(group):
            write_midi(shuffled_pitches(p, rng) if name == "junk" else p, folder / f"{name}-{i:02d}.mid")
        out[name] = folder
    out["cache"] = root / "cache"
    return out


def run(args):
    res = CliRunner().invoke(main, ["evaluate", *map(str, args)])
    assert res.exit_code == 0, res.output
    return res.output


def test_real_samples_are_harder_to_tell_from_music_than_junk(folders):
    common = [folders["ref"], "--cache-dir", folders["cache"], "--repeats", 3, "-q"]
    real = json.loads(run(["--samples", folders["real"], *common, "--json"]))["listening"]
    junk_text = run(["--samples", folders["junk"], *common])
    junk = json.loads(run(["--samples", folders["junk"], *common, "--json"]))["listening"]
    assert junk["two_sample"]["accuracy"] >= 0.85
    assert junk["two_sample"]["accuracy"] - real["two_sample"]["accuracy"] >= 0.2
    assert real["floor"]["accuracy"] <= 0.8 and real["samples"] == 12 and real["reference"] == 18
    # only metrics that junk fails count, and each stands beside its real-vs-real ceiling
    stats = junk["statistics"]
    assert not stats["longest_token_run"]["kept"] and stats["repeated_4gram_rate"]["kept"]
    assert all(m["ceiling"] is not None for m in stats.values())
    assert junk["kept_mean_overlap"] < real["kept_mean_overlap"]
    for words in ("listening test: 12 samples vs 18 reference pieces", "two-sample accuracy", "floor:",
                  "what gives the samples away", "of the real-vs-real ceiling", "no (junk passes)"):
        assert words in junk_text
    assert junk["giveaways"] and not junk["giveaways"][0]["feature"].startswith(("gap_", "length_"))


def test_the_run_decides_the_reference_and_the_copy_check(folders, tmp_path):
    """With --checkpoint and no PATH, the reference is the run's validation pieces (split.json) and
    the samples are checked for verbatim copies of its training pieces."""
    from melodygru.tokens.config import TokenizerConfig
    from melodygru.tokens.tokenizer import Tokenizer
    from melodygru.training.config import TrainConfig
    from melodygru.training.run import train
    from melodygru.corpus.build import build_corpus

    tok = Tokenizer(TokenizerConfig(velocity_bins=0))
    pieces, _ = build_corpus([folders["ref"]], (), tok, cache_dir=folders["cache"], progress=False)
    run_dir = tmp_path / "run"
    train([p.ids for p in pieces], tok, run_dir,
          TrainConfig(preset="tiny", epochs=1, seq_len=32, batch_size=8, val_split=0.4, seed=1),
          sources=[p.source for p in pieces], log=lambda *a: None, progress=False,
          data={"paths": [str(folders["ref"])], "corpora": [], "val_paths": []})
    split = json.loads((run_dir / "split.json").read_text())
    # a sample that copies a training piece verbatim, beside the junk
    samples = tmp_path / "samples"
    samples.mkdir()
    for f in sorted(Path(folders["junk"]).glob("*.mid"))[:8]:
        (samples / f.name).write_bytes(f.read_bytes())
    copied = next(p for p in pieces if p.source in set(split["train"]))
    write_midi(tok.decode(copied.ids), samples / "copy.mid")
    out = json.loads(run(["--checkpoint", run_dir, "--samples", samples, "--cache-dir", folders["cache"],
                          "--repeats", 2, "--json", "-q"]))
    assert out["heldout"]["pieces"] == len(split["val"]) and "likelihood" in out
    listening = out["listening"]
    assert listening["reference"] == len(split["val"]) and listening["reference_kind"] == "held-out pieces"
    assert listening["copies"]["training"] == len(split["train"])
    assert listening["copies"]["samples"]["max_longest_bars"] >= 8  # the copied piece, bar for bar
    assert any(name.endswith("copy.mid") for name in listening["copies"]["over"])
