"""The JSB Chorales benchmark's own checks: the MIDI it writes and the tokens it trains on keep every
(step, pitch) of the data, and its tokens spend one DUR per step, on chorales built here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from melodygru.io.readers import read_file
from melodygru.tokens.config import TokenizerConfig
from melodygru.tokens.tokenizer import Tokenizer

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "jsb_chorales.py"


@pytest.fixture(scope="module")
def jsb():
    spec = importlib.util.spec_from_file_location("jsb_chorales", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chorales(n: int, seed: int = 0):
    """Four-voice steps as the data has them: sorted pitch lists, some steps with fewer voices or none."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        steps = []
        for i in range(int(rng.integers(8, 40))):
            voices = int(rng.choice([4, 4, 4, 3, 2, 0]))
            steps.append(sorted(int(p) for p in rng.choice(np.arange(36, 82), voices, replace=False)))
        out.append(steps)
    return out


def test_written_chorales_keep_every_step_and_cost_one_dur_per_step(jsb, tmp_path):
    data = chorales(5)
    steps = jsb.write_split(data, tmp_path / "test")
    assert steps == {f"{i:03d}.mid": len(c) for i, c in enumerate(data)}
    assert jsb.check_test_encoding(tmp_path / "test", data) == sum(len(s) for c in data for s in c)
    tok = Tokenizer(TokenizerConfig(**jsb.TOKENIZER_CONFIG))
    for i, chorale in enumerate(data):
        (piece,) = read_file(tmp_path / "test" / f"{i:03d}.mid")
        names = [tok.vocab[t] for t in tok.encode(piece)]
        sounding = sum(1 for s in chorale if s)
        assert sum(n.startswith("DUR_") for n in names) == sounding  # one shared duration per chord
        assert sum(n.startswith("PITCH_") for n in names) == sum(len(s) for s in chorale)


def test_a_changed_chorale_is_caught(jsb, tmp_path):
    data = chorales(2, seed=1)
    jsb.write_split(data, tmp_path / "test")
    data[1][3] = data[1][3][:-1] if data[1][3] else [60]
    with pytest.raises(SystemExit, match="test piece 1"):
        jsb.check_test_encoding(tmp_path / "test", data)


def test_a_smaller_split_replaces_the_files_of_a_larger_one(jsb, tmp_path):
    jsb.write_split(chorales(6), tmp_path / "valid")
    jsb.write_split(chorales(2), tmp_path / "valid")
    assert sorted(p.name for p in (tmp_path / "valid").iterdir()) == ["000.mid", "001.mid"]


def test_lstm_units_match_the_grus_parameter_count(jsb):
    vocab = Tokenizer(TokenizerConfig(**jsb.TOKENIZER_CONFIG)).vocab_size
    gru = jsb.param_count("gru", 256, 2, 128, vocab)
    units = jsb.lstm_units(vocab)
    assert abs(jsb.param_count("lstm", units, 2, 128, vocab) - gru) / gru < 0.01


def test_ending_on_c_looks_at_the_bass_of_the_last_sounding_step(jsb):
    assert jsb.ending_on_c([[[60, 64, 67], []], [[48, 55, 64], [43, 59, 62]], [], [[36], [41, 60]]]) == 1
    assert jsb.ending_on_c([[[55, 60, 64]], [[47, 60]]]) == 0
