"""Form plans: which bars repeat, learned from pieces, and a decoder that copies them."""

from __future__ import annotations

import numpy as np
import pytest
from test_sampling import random_weights

from melodygru.core.events import Note, Piece, TimeSignature
from melodygru.tokens import form
from melodygru.generation.decoder import Decoder, GrammarTables
from melodygru.tokens.config import TokenizerConfig
from melodygru.tokens.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def tok():
    return Tokenizer(TokenizerConfig(velocity_bins=0))


def kinds_of(tok):
    kinds = np.array(tok.grammar.kinds)
    return (int(np.flatnonzero(kinds == "BAR")[0]), np.flatnonzero(np.isin(kinds, ["TS", "TEMPO"])),
            np.flatnonzero(np.isin(kinds, ["EOS", "PAD"])))


def bars_piece(bars, ts=(4, 4)):
    """A piece whose bar i holds the quarter-note pitches bars[i]."""
    notes = []
    for i, bar in enumerate(bars):
        notes += [Note(4.0 * i + j, 1.0, p) for j, p in enumerate(bar)]
    return Piece(notes, time_signatures=[TimeSignature(0, *ts)])


def test_plan_of_a_piece_by_hand(tok):
    a, b, c = [60, 62, 64, 65], [67, 65, 64, 62], [60, 60, 59, 60]
    ids = tok.encode(bars_piece([a, b, a, b, c, a]))
    bar, ignore, stops = kinds_of(tok)
    # bar 0 states the meter and tempo: its repeats count all the same
    # bar 2 = bar 0 (2 back), bar 3 = bar 1 (2 back), bar 5 = bar 2, the nearest copy of a (3 back)
    assert form.plan_of(ids, bar, ignore, stops) == [0, 0, 2, 2, 0, 3]
    assert form.repeat_share([form.plan_of(ids, bar, ignore, stops)]) == pytest.approx(0.5)
    assert form.plans_for(tok, [ids]) == [[0, 0, 2, 2, 0, 3]]


def test_plan_matrix_draws_one_plan_per_sample_and_is_seeded():
    plans = [[0, 1], [0, 0, 2, 2], [0]]
    m = form.plan_matrix(plans, 6, seed=3, max_bars=3)
    assert m.shape == (6, 3) and m.dtype == np.int32
    for row in m:
        assert any(list(row) == (p + [0] * 3)[:3] for p in plans)
    assert np.array_equal(m, form.plan_matrix(plans, 6, seed=3, max_bars=3))


def test_form_document_round_trips_and_refuses_junk():
    plans = [[0, 0, 2], [0, 1]]
    doc = form.form_document(plans, "test")
    assert form.read_form_document(doc) == plans and doc["repeat_share"] == pytest.approx(0.4)
    for bad in ({}, {"version": 1, "plans": [[-1]]}, {"version": 1, "plans": "x"}, {"version": 2, "plans": []}):
        with pytest.raises(ValueError):
            form.read_form_document(bad)


def test_decoder_copies_the_bars_its_plan_names(tok):
    bar, ignore, stops = kinds_of(tok)
    weights = random_weights(len(tok), seed=3)
    weights.dense_bias[bar] += 4.0  # short bars, so 150 tokens hold several
    weights.dense_bias[np.array(tok.grammar.kinds) == "TS"] -= 30.0  # one meter: every copy is allowed
    dec = Decoder(weights, GrammarTables.from_grammar(tok.grammar))
    skip = set(np.flatnonzero(np.array(tok.grammar.kinds) == "TS").tolist())
    plan = np.zeros((4, 8), np.int32)
    plan[:, 2] = 1  # bar 2 repeats bar 1
    plan[:, 4] = 3  # bar 4 repeats bar 1 as well
    free = dec.generate([tok.bos], 150, num_samples=4, seed=5)
    out = dec.generate([tok.bos], 150, num_samples=4, seed=5, plan=plan)
    copies = 0
    for row, free_row in zip(out, free):
        seq = np.concatenate([[tok.bos], row])
        tok.decode(seq, strict=True)  # still valid music
        spans = form.bar_spans(seq, bar)
        body = lambda k: [x for x in seq[spans[k][0] + 1:spans[k][1]].tolist() if x not in skip]  # noqa: E731
        assert len(spans) > 2
        # up to bar 2 the tokens are the free sample's (the same seed draws the same tokens)
        assert seq[:spans[2][0] + 1].tolist() == np.concatenate([[tok.bos], free_row])[:spans[2][0] + 1].tolist()
        if len(spans) > 3:  # bar 2 is complete
            assert body(2) == body(1)
            copies += 1
        if len(spans) > 5 and spans[2][0] - spans[1][0] <= 150 - (spans[4][0] - 1) - 1:  # bar 1 fits in what is left
            assert body(4) == body(1)
    assert copies >= 2
    # every other plan value is free: a zero plan gives exactly the free samples
    assert np.array_equal(dec.generate([tok.bos], 150, num_samples=4, seed=5, plan=np.zeros((4, 8), np.int32)), free)


def test_decoder_copies_primer_bars_and_never_runs_past_the_length(tok):
    bar, ignore, stops = kinds_of(tok)
    weights = random_weights(len(tok), seed=8)
    weights.dense_bias[bar] += 4.0
    dec = Decoder(weights, GrammarTables.from_grammar(tok.grammar))
    primer = tok.encode(bars_piece([[60, 62, 64, 65], [67, 64, 62, 60]]))
    primer = primer[:np.flatnonzero(primer == tok.eos)[0]]  # BOS + two bars, no EOS
    skip = set(np.flatnonzero(np.array(tok.grammar.kinds) == "TS").tolist())
    plan = np.zeros((3, 4), np.int32)
    plan[:, 2] = 2  # the first new bar repeats the primer's first bar
    copied = 0
    for length in (3, 12, 60):
        out = dec.generate(primer, length, num_samples=3, seed=1, plan=plan)
        assert out.shape[1] <= length
        for row in out:
            seq = np.concatenate([primer, row])
            tok.decode(seq, strict=True)
            spans = form.bar_spans(seq, bar)
            if len(spans) < 3:
                continue
            first = [x for x in seq[spans[0][0] + 1:spans[0][1]].tolist() if x not in skip]
            t0 = spans[2][0] - len(primer)  # the step that wrote the BAR opening bar 2
            fits = spans[1][0] - spans[0][0] <= length - t0 - 1
            assert (seq[spans[2][0] + 1:spans[2][0] + 1 + len(first)].tolist() == first) == fits
            copied += fits
    assert copied >= 3
    with pytest.raises(ValueError):
        dec.generate(primer, 10, num_samples=3, plan=np.zeros((2, 4), np.int32))


@pytest.mark.parametrize("config", [TokenizerConfig(velocity_bins=0), TokenizerConfig(shared_durations=True),
                                    TokenizerConfig(programs=True, drums=True, velocity_bins=4)],
                         ids=["plain", "shared", "programs"])
def test_copies_stay_valid_music_through_meter_and_tempo_changes(config):
    """Random weights that love TS and TEMPO tokens (meter changes, onsets holding only a tempo
    change) and plans that repeat every bar: every sample still decodes strictly, and a bar is
    copied only into the meter it was written in."""
    tok = Tokenizer(config)
    kinds = np.array(tok.grammar.kinds)
    weights = random_weights(len(tok), seed=11)
    weights.dense_bias[kinds == "TS"] += 3.0
    weights.dense_bias[kinds == "TEMPO"] += 3.0
    weights.dense_bias[kinds == "BAR"] += 3.0
    dec = Decoder(weights, GrammarTables.from_grammar(tok.grammar))
    for lags, length in (((1, 2, 3), 300), ((1,), 120), ((2, 5), 57)):
        plan = np.tile(np.array(lags * 40, np.int32)[np.newaxis, :40], (8, 1))
        out = dec.generate([tok.bos], length, num_samples=8, seed=3, plan=plan, allow_end=True)
        for row in out:
            seq = np.concatenate([[tok.bos], row[row != tok.pad]])
            tok.decode(seq, strict=True)  # raises on any grammar violation


def test_generate_with_form_writes_the_planned_repeats(tmp_path):
    """The shipped checkpoint's form.json drives `generate --form`: the written files repeat bars
    where the plans say, and the same seed without --form writes other music."""
    from click.testing import CliRunner

    from melodygru.cli import main
    from melodygru.analysis.features import bar_contents
    from melodygru.io.readers import read_file

    def gen(out, *extra):
        res = CliRunner().invoke(main, ["generate", "--length", "256", "--num-samples", "6", "--seed", "4",
                                        "--temperature", "0.8", "--out", str(out), *extra])
        assert res.exit_code == 0, res.output
        return res.output, [read_file(str(p))[0] for p in sorted(out.glob("*.mid"))]

    text, planned = gen(tmp_path / "form", "--form", "--allow-end")
    _, free = gen(tmp_path / "free", "--no-form", "--no-allow-end")
    assert "form plans" in text and "samples ended with the model's own end of piece" in text

    def repeats(pieces):
        bars = [[b for b in bar_contents(p) if b] for p in pieces]
        return sum(sum(b in bs[:i] for i, b in enumerate(bs)) for bs in bars)

    assert repeats(planned) > repeats(free)


def test_sampling_json_form_and_kind_temperatures_are_checked(tmp_path):
    import json

    from melodygru.core.errors import CheckpointError
    from melodygru.generation.generate import recommended_sampling

    (tmp_path / "sampling.json").write_text(json.dumps(
        {"temperature": 0.8, "temperatures": {"DUR": 1.3, "POS": 1.3}, "form": True, "allow_end": True}))
    got = recommended_sampling(tmp_path)
    assert got["temperatures"] == {"DUR": 1.3, "POS": 1.3} and got["form"] and got["allow_end"]
    for bad in ({"form": "yes"}, {"temperatures": {"NOTE": 1.0}}, {"temperatures": {"DUR": 0}}, {"allow_end": 1}):
        (tmp_path / "sampling.json").write_text(json.dumps(bad))
        with pytest.raises(CheckpointError):
            recommended_sampling(tmp_path)


@pytest.mark.parametrize("config", [TokenizerConfig(velocity_bins=0), TokenizerConfig(shared_durations=True),
                                    TokenizerConfig(programs=True, velocity_bins=4)],
                         ids=["plain", "shared", "programs"])
def test_monophonic_sampling_never_starts_two_notes_at_once(config):
    tok = Tokenizer(config)
    weights = random_weights(len(tok), seed=6)
    weights.dense_bias[np.array(tok.grammar.kinds) == "PITCH"] += 3.0  # chords wherever they may go
    dec = Decoder(weights, GrammarTables.from_grammar(tok.grammar))
    for monophonic in (False, True):
        out = dec.generate([tok.bos], 200, num_samples=6, seed=2, monophonic=monophonic)
        onsets = []
        for row in out:
            piece = tok.decode(np.concatenate([[tok.bos], row]), strict=True)
            per_onset = {}
            for n in piece.notes:
                per_onset[n.onset] = per_onset.get(n.onset, 0) + 1
            onsets += list(per_onset.values())
        assert (max(onsets) == 1) == monophonic  # the free model does write chords
