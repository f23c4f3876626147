"""An LSTM run (`train --cell lstm`, kept for the GRU-vs-LSTM comparisons of the benchmarks): `evaluate`'s
likelihood scores it as it scores a GRU run, and sampling, whose decoder steps GRUs only, refuses it in one
line."""

from __future__ import annotations

import pytest
from toy_tokens import toy_corpus, toy_tokenizer

from melodygru.core.errors import CheckpointError
from melodygru.evaluation.likelihood import likelihood
from melodygru.generation.checkpoint import load_run
from melodygru.training.config import TrainConfig
from melodygru.training.run import train


def test_an_lstm_run_is_scored_and_not_sampled(tmp_path):
    tok = toy_tokenizer()
    corpus = toy_corpus(tok, 24)
    run = tmp_path / "lstm"
    train(corpus[:20], tok, run, TrainConfig(preset="tiny", cell="lstm", epochs=1, seq_len=32, batch_size=8),
          val_pieces=corpus[20:], log=lambda _line: None, progress=False)
    result = likelihood(run, corpus[20:], tok)
    assert result["pieces"] == 4 and 0 < result["nats_per_token"] < 20
    with pytest.raises(CheckpointError, match="'lstm' model; generate samples GRU models only"):
        load_run(run)
