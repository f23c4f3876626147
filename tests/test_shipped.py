"""The models shipped in checkpoints/: complete, small, documented, and they generate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from melodygru.cli.app import main
from melodygru.tokens.tokenizer import Tokenizer

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ["bach", "folk"]
MUST_SHIP = {"bach", "folk"}  # bach is the default model of `generate`: the quick start needs it


def _run_dir(name: str) -> Path:
    run = REPO / "checkpoints" / name
    if name not in MUST_SHIP and not (run / "model.keras").is_file():
        pytest.skip(f"checkpoints/{name} is not shipped in this checkout")
    return run


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_run_dir_is_complete_small_and_documented(name):
    run = _run_dir(name)
    for f in ("model.keras", "tokenizer.json", "config.json", "metrics.json", "history.csv", "TRAINED.md",
              "sampling.json"):
        assert (run / f).is_file(), f"checkpoints/{name}/{f} is missing"
    files = [p for p in run.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 10 * 2**20
    assert not [p.name for p in files if "optimizer" in p.name or p.name.startswith("last") or p.name == "train.lock"]
    Tokenizer.load(run / "tokenizer.json")
    config = json.loads((run / "config.json").read_text())
    assert name in config["data"]["corpora"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 < metrics["best_val_loss"] < 3.0
    from melodygru.generation.generate import recommended_sampling

    sampling = recommended_sampling(run)  # raises on a value out of range
    assert 0 < sampling["temperature"] <= 1.0 and 0 < sampling["top_p"] <= 1.0
    trained = (run / "TRAINED.md").read_text()
    assert f"melodygru train --corpus {name}" in trained


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_generates_the_same_music_for_the_same_seed(name, tmp_path):
    run = _run_dir(name)
    outputs = []
    for k in range(2):
        res = CliRunner().invoke(main, ["generate", "--checkpoint", str(run), "--length", "96", "--seed", "7",
                                        "--out", str(tmp_path / str(k))])
        assert res.exit_code == 0, res.output
        outputs.append((tmp_path / str(k) / "sample-001.mid").read_bytes())
    assert outputs[0] == outputs[1] and len(outputs[0]) > 100
