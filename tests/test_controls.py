"""Controls end to end. Keys: names and signatures, the key-finding estimate (on built pieces and
music21's chorales), KEY tokens in the tokenizer, grammar and transposition, and `generate --key` on
a tiny model trained here (the written MIDI file says the key). Meter: `generate --meter`, kept
throughout the written file. One-line errors for each."""

from __future__ import annotations

import json

import mido
import numpy as np
import pytest
from click.testing import CliRunner

from melodygru.cli.app import main
from melodygru.core.events import KeySignature, Note, Piece, TimeSignature
from melodygru.core.keys import (
    clear_key,
    estimate_key,
    key_name,
    keys_of_signature,
    long_key_name,
    parse_key,
    sharps_of,
)
from melodygru.tokens.config import TokenizerConfig
from melodygru.tokens.tokenizer import Tokenizer
from melodygru.tokens.transpose import transpose
from melodygru.training.windows import transpose_windows

KEYED = Tokenizer(TokenizerConfig(velocity_bins=0, key_tokens=True))
PLAIN = Tokenizer(TokenizerConfig(velocity_bins=0))
MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 11)  # harmonic minor: the leading tone


def scale_piece(tonic_pitch: int, steps, signature: KeySignature | None = None, repeats: int = 2) -> Piece:
    """A scale up and down, tonic first and last, held longer on the tonic and fifth (as a tune would)."""
    line = [tonic_pitch + s for s in steps] + [tonic_pitch + 12]
    line = (line + line[::-1]) * repeats
    notes, t = [], 0.0
    for p in line:
        d = 1.0 if (p - tonic_pitch) % 12 in (0, 7) else 0.5
        notes.append(Note(t, d, p))
        t += d
    return Piece(notes, time_signatures=[TimeSignature(0, 4, 4)], key_signatures=[signature] if signature else [])


# ------------------------------------------------------------------------------ names
@pytest.mark.parametrize("text, key", [("C", (0, False)), ("Am", (9, True)), ("D minor", (2, True)),
                                       ("F# major", (6, False)), ("Bb", (10, False)), ("eb minor", (3, True)),
                                       ("c#m", (1, True)), ("Gb", (6, False)), ("B min", (11, True))])
def test_key_names_parse(text, key):
    assert parse_key(text) == key


@pytest.mark.parametrize("bad", ["H minor", "", "C dorian", "D# sharp", "12"])
def test_a_bad_key_name_says_what_is_accepted(bad):
    with pytest.raises(ValueError, match="is not a key: use a tonic and a mode"):
        parse_key(bad)


def test_every_key_has_one_signature_whose_keys_include_it():
    for minor in (False, True):
        for tonic in range(12):
            sharps = sharps_of(tonic, minor)
            assert -6 <= sharps <= 6
            assert (tonic, minor) in keys_of_signature(sharps)
            assert parse_key(key_name(tonic, minor)) == (tonic, minor) == parse_key(long_key_name(tonic, minor))
    assert sharps_of(7, False) == 1 and sharps_of(4, True) == 1 and sharps_of(5, False) == -1 and sharps_of(3, True) == -6


# ------------------------------------------------------------------------------ estimate
def test_the_estimate_finds_major_and_minor_scales_in_every_key():
    for tonic in range(12):
        assert estimate_key(scale_piece(60 + tonic, MAJOR)) == (tonic, False)
        assert estimate_key(scale_piece(60 + tonic, MINOR)) == (tonic, True)


def test_a_signature_decides_between_its_keys_and_a_wrong_one_is_overruled():
    # A minor's notes under a signature of no sharps or flats stated as C major: the notes pick A minor
    assert estimate_key(scale_piece(57, MINOR, KeySignature(0, 0, "major"))) == (9, True)
    # a MIDI file's default C major over music in E major: the signature is ignored
    assert estimate_key(scale_piece(64, MAJOR, KeySignature(0, 0, "major"))) == (4, False)
    # no notes: C major, not an error
    assert estimate_key(Piece([])) == (0, False)


def test_the_estimate_agrees_with_the_chorales_own_keys():
    from music21 import corpus

    from melodygru.io.readers import read_score

    paths = corpus.getComposer("bach")[:40]
    agree = n = 0
    for path in paths:
        piece = read_score(path)[0]
        if not piece.key_signatures:
            continue
        ks = piece.key_signatures[0]
        major, minor = keys_of_signature(ks.sharps)
        n += 1
        agree += estimate_key(piece) == (minor if ks.mode == "minor" else major)
    assert n >= 30 and agree / n >= 0.75, (agree, n)


def test_a_clear_key_is_one_every_profile_agrees_on():
    from melodygru.core.keys import PROFILES

    for tonic in range(12):
        for kw in ({}, {"profiles": tuple(PROFILES)}):  # the three of a drawn key, the four of a key asked for
            assert clear_key(scale_piece(60 + tonic, MAJOR).notes, **kw) == (tonic, False)
            assert clear_key(scale_piece(60 + tonic, MINOR).notes, **kw) == (tonic, True)
    chromatic = [Note(i * 0.5, 0.5, 60 + i % 12) for i in range(48)]
    assert clear_key(chromatic) is None and clear_key([]) is None
    # C and E major triads in turn, equally long: the three profiles do not agree on one key
    both = [Note(t, 1.0, p) for t in range(0, 16, 2) for p in (60, 64, 67)] + \
        [Note(t, 1.0, p) for t in range(1, 16, 2) for p in (64, 68, 71)]
    assert clear_key(both) is None


def test_a_key_models_candidates_must_be_in_their_key():
    from melodygru.generation.choose import KEY_PENALTY, choose, off_key
    from melodygru.generation.files import Sample

    d_major = scale_piece(62, MAJOR, KeySignature(0, sharps_of(2, False), "major"))
    under_eb = scale_piece(62, MAJOR, KeySignature(0, sharps_of(3, False), "major"))  # D major's notes, Eb's signature
    assert not off_key(d_major) and off_key(under_eb) and not off_key(scale_piece(62, MAJOR))
    unclear = Piece([Note(i * 0.5, 0.5, 60 + i % 12) for i in range(48)], key_signatures=[KeySignature(0, 2, "major")])
    assert off_key(unclear) and not off_key(unclear, strict=False)  # a drawn key need only not be clearly another
    assert off_key(under_eb, strict=False)

    class EvenCritic:  # scores every candidate alike, so only the key decides
        info, ref_mean = {}, None

        def score_features(self, X):
            return np.zeros(len(X))

    rounds = [[Sample(np.zeros(1, int), under_eb, 1, False)], [Sample(np.zeros(1, int), d_major, 1, False)]]
    assert choose(rounds, EvenCritic(), "best", 0)[0].candidate == 0  # no keys: the first of equals
    for requested in (False, True):
        kept = choose(rounds, EvenCritic(), "best", 0, keyed=True, requested=requested)[0]
        assert kept.candidate == 1 and kept.critic_score == 0.0
    assert choose(rounds[:1], EvenCritic(), "best", 0, keyed=True)[0].critic_score == -KEY_PENALTY
    vague = [[Sample(np.zeros(1, int), unclear, 1, False)], [Sample(np.zeros(1, int), d_major, 1, False)]]
    assert choose(vague, EvenCritic(), "best", 0, keyed=True)[0].candidate == 0  # drawn: unclear is no fault
    assert choose(vague, EvenCritic(), "best", 0, keyed=True, requested=True)[0].candidate == 1



def test_a_requested_key_is_a_rule_and_a_drawn_one_a_preference():
    from melodygru.generation.choose import choose
    from melodygru.generation.files import Sample

    d_major = scale_piece(62, MAJOR, KeySignature(0, sharps_of(2, False), "major"))
    under_eb = scale_piece(62, MAJOR, KeySignature(0, sharps_of(3, False), "major"))

    class FondCritic:  # likes the candidate out of its key far more than the one in it
        info, ref_mean = {}, None

        def score_features(self, X):
            return np.array([30.0, 0.0][: len(X)] * (len(X) // 2 or 1))[: len(X)]

    rounds = [[Sample(np.zeros(1, int), under_eb, 1, False)], [Sample(np.zeros(1, int), d_major, 1, False)]]
    assert choose(rounds, FondCritic(), "best", 0, keyed=True)[0].candidate == 0  # drawn: 30 - 10 still wins
    for selection in ("best", "weighted"):
        for seed in range(20):
            assert choose(rounds, FondCritic(), selection, seed, keyed=True, requested=True)[0].candidate == 1
    # with no candidate in the key asked for, one out of it is still chosen (never none)
    assert choose(rounds[:1], FondCritic(), "weighted", 0, keyed=True, requested=True)[0].candidate == 0


def test_a_drawn_key_keeps_the_mode_of_the_plain_draw():
    """A sample whose plain draw (candidate 0) drew a minor key keeps a minor candidate, however
    much the critic prefers one in major, so the set's share of minor keys is what the model drew."""
    from melodygru.generation.choose import choose, other_mode
    from melodygru.generation.files import Sample

    b_minor = scale_piece(71, MINOR, KeySignature(0, sharps_of(2, False), "minor"))
    d_major = scale_piece(62, MAJOR, KeySignature(0, sharps_of(2, False), "major"))
    no_key = scale_piece(62, MAJOR)

    from melodygru.analysis.features import CRITIC_FEATURE_NAMES

    class MajorCritic:  # far prefers a candidate in major
        info, ref_mean = {}, None

        def score_features(self, X):
            return 30.0 * (1.0 - X[:, CRITIC_FEATURE_NAMES.index("minor_mode")])

    rounds = [[Sample(np.zeros(1, int), b_minor, 1, False), Sample(np.zeros(1, int), d_major, 1, False)],
              [Sample(np.zeros(1, int), d_major, 1, False), Sample(np.zeros(1, int), b_minor, 1, False)]]
    assert other_mode(rounds).tolist() == [[False, False], [True, True]]
    assert [s.candidate for s in choose(rounds, MajorCritic(), "best", 0, keyed=True, keep_mode=True)] == [0, 0]
    assert [s.candidate for s in choose(rounds, MajorCritic(), "best", 0, keyed=True)] == [1, 0]  # not asked: free
    assert [s.candidate for s in choose(rounds, MajorCritic(), "best", 0)] == [1, 0]  # no key model: no rule
    unstated = [[Sample(np.zeros(1, int), no_key, 1, False)], [Sample(np.zeros(1, int), b_minor, 1, False)]]
    assert not other_mode(unstated).any()  # a plain draw without a key signature binds nothing

def test_samples_with_no_candidate_in_the_requested_key_draw_fresh_ones():
    from melodygru.generation.choose import KEY_REDRAWS, redraw_off_key
    from melodygru.generation.files import Sample

    d_major = scale_piece(62, MAJOR, KeySignature(0, sharps_of(2, False), "major"))
    under_eb = scale_piece(62, MAJOR, KeySignature(0, sharps_of(3, False), "major"))
    calls, misses = [], [1]  # the first `misses[0]` fresh rounds out of key, then in it

    def draw(count, redraw, first):
        calls.append((count, redraw, first))
        piece = under_eb if len(calls) <= misses[0] else d_major
        return [Sample(np.full(1, len(calls)), piece, 1, False) for _ in range(count)]

    out = Sample(np.zeros(1, int), under_eb, 1, False)
    good = Sample(np.zeros(1, int), d_major, 1, False)
    rounds = [[out, out, out], [out, good, out], [out, out, out]]  # rounds[k][i]: candidate k of sample i
    redraw_off_key(rounds, draw, 2048)
    assert calls == [(6, 1, 0), (6, 2, 0)]  # samples 0 and 2 (sample 1 has one in D major), twice: the first missed
    for i in (0, 2):
        assert rounds[0][i] is out  # candidate 0 stays the plain draw
        assert [int(rounds[k][i].ids[0]) for k in (1, 2)] == [2, 2] and rounds[1][i].piece is d_major
    assert [rounds[k][1] for k in range(3)] == [out, good, out]  # a sample with one in key is left alone
    calls.clear()
    misses[0] = 0
    rounds = [[out, out, out], [out, out, out], [out, out, out]]
    redraw_off_key(rounds, draw, 4)  # at most 4 rows a call: whole samples of 3 candidates, 3 rows a call
    assert [c[0] for c in calls] == [3, 3, 3] and [c[2] for c in calls] == [0, 3, 6]
    calls.clear()
    misses[0] = 99  # never in key: KEY_REDRAWS rounds, then the candidates stay as they were
    rounds = [[out], [out]]
    redraw_off_key(rounds, draw, 2048)
    assert [c[1] for c in calls] == list(range(1, KEY_REDRAWS + 1)) and rounds == [[out], [out]]


# ------------------------------------------------------------------------------ tokens
def test_a_key_token_follows_bos_and_decodes_to_the_key_signature():
    piece = scale_piece(62, MINOR)  # D minor
    ids = KEYED.encode(piece)
    assert [KEYED.vocab[i] for i in ids[:3]] == ["BOS", "KEY_Dm", "BAR"]
    assert KEYED.key_of(ids) == (2, True) and PLAIN.key_of(PLAIN.encode(piece)) is None
    out = KEYED.decode(ids, strict=True)
    assert out.key_signatures == [KeySignature(0.0, -1, "minor")]
    assert out.notes == PLAIN.decode(PLAIN.encode(piece), strict=True).notes
    # every other token keeps its id: the key tokens come last
    assert KEYED.vocab[:len(PLAIN)] == PLAIN.vocab and len(KEYED) == len(PLAIN) + 24


def test_the_grammar_wants_exactly_one_key_first():
    ids = KEYED.encode(scale_piece(60, MAJOR)).tolist()
    g = KEYED.grammar
    assert g.is_valid(ids)
    assert not g.is_valid([ids[0]] + ids[2:])  # no key
    assert not g.is_valid(ids[:2] + ids[1:])  # two keys
    bar = ids.index(KEYED.bar)
    assert not g.is_valid(ids[:bar + 1] + [KEYED.key_token(4, False)] + ids[bar + 1:])  # a key inside
    assert not PLAIN.grammar.is_valid(ids)  # ... and a model without key tokens never sees one


def test_transposition_moves_the_key_with_the_notes():
    ids = KEYED.encode(scale_piece(62, MAJOR))  # D major
    up = transpose(KEYED, ids, 3)
    assert KEYED.key_of(up) == (5, False) and estimate_key(KEYED.decode(up)) == (5, False)
    assert KEYED.key_of(transpose(KEYED, ids, -4)) == (10, False)  # D down a major third: Bb
    windows = np.stack([ids[:40]] * 64)
    moved = transpose_windows(windows, KEYED, 6, np.random.default_rng(0))
    for w, m in zip(windows, moved):
        shift = int(m[KEYED.pitch_mask(m)][0] - w[KEYED.pitch_mask(w)][0])
        assert KEYED.key_of(m) == ((2 + shift) % 12, False)
    assert len({KEYED.key_of(m) for m in moved}) > 6


# ------------------------------------------------------------------------------ generate
@pytest.fixture(scope="module")
def keyed_run(tmp_path_factory):
    """A tiny model trained with key tokens on scales in every key, 70% major and 30% minor."""
    from melodygru.training.config import TrainConfig
    from melodygru.training.run import train

    rng = np.random.default_rng(0)
    pieces = [KEYED.encode(scale_piece(int(rng.integers(55, 67)), MINOR if rng.random() < 0.3 else MAJOR, repeats=1))
              for _ in range(80)]
    path = tmp_path_factory.mktemp("run") / "keyed"
    config = TrainConfig(preset="tiny", epochs=4, seq_len=64, batch_size=16, lr=1e-2, steps_per_execution=4)
    train(pieces, KEYED, path, config, log=lambda line: None)
    return path


def _midi_keys(path) -> list[str]:
    return [m.key for t in mido.MidiFile(path).tracks for m in t if m.type == "key_signature"]


def test_generate_writes_the_requested_key(keyed_run, tmp_path):
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(keyed_run), "--length", "60", "--num-samples", "4",
                                    "--seed", "3", "--key", "F# minor", "--candidates", "1", "--out",
                                    str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["key"] == "F# minor" and len(out["samples"]) == 4
    for s in out["samples"]:
        assert _midi_keys(s["midi"]) == ["F#m"]


def test_without_a_key_each_sample_draws_one_at_temperature_1_and_uncut(keyed_run, tmp_path):
    """The key is drawn from the model's own distribution whatever the temperature (a low
    temperature over 24 keys would keep only the few likeliest): the same seed draws the same keys
    at temperature 0.3 as at 1, and about as many minor keys as the corpus has (30%)."""
    def keys(temperature, *more):
        out = tmp_path / "-".join((str(temperature),) + more)
        res = CliRunner().invoke(main, ["generate", "--checkpoint", str(keyed_run), "--length", "12",
                                        "--num-samples", "64", "--seed", "5", "--temperature", str(temperature),
                                        "--candidates", "1", "--out", str(out), "--json", *more])
        assert res.exit_code == 0, res.output
        return [k for s in json.loads(res.output)["samples"] for k in _midi_keys(s["midi"])]

    warm, cold = keys(1.0), keys(0.3)
    assert len(warm) == 64 and cold == warm
    # nor do top-k and top-p cut the tail of rarer keys: the same keys, drawn from the whole distribution
    assert keys(1.0, "--top-p", "0.3") == warm and keys(1.0, "--top-k", "1") == warm
    assert 9 <= sum(k.endswith("m") for k in warm) <= 40, warm
    assert len(set(warm)) >= 8  # transposition taught it every tonic


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """A tiny model trained without key tokens."""
    from melodygru.training.config import TrainConfig
    from melodygru.training.run import train

    pieces = [PLAIN.encode(scale_piece(60 + k, MAJOR, repeats=1)) for k in range(12)]
    path = tmp_path_factory.mktemp("run") / "plain"
    train(pieces, PLAIN, path, TrainConfig(preset="tiny", epochs=1, seq_len=32, batch_size=4), log=lambda line: None)
    return path


def test_key_errors_are_one_line(keyed_run, plain_run, tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["generate", "--checkpoint", str(plain_run), "--length", "8", "--key", "Dm",
                               "--out", str(tmp_path / "a")])
    assert res.exit_code != 0 and "trained without key tokens" in res.output and "Traceback" not in res.output
    res = runner.invoke(main, ["generate", "--checkpoint", str(keyed_run), "--key", "H minor", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "is not a key" in res.output
    from melodygru.io.writers import write_midi

    primer = write_midi(scale_piece(60, MAJOR), tmp_path / "primer.mid")
    res = runner.invoke(main, ["generate", "--checkpoint", str(keyed_run), "--key", "Dm", "--primer", str(primer),
                               "--out", str(tmp_path / "b")])
    assert res.exit_code != 0 and "--key and --primer" in res.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def _midi_meters(path) -> list[tuple[int, int]]:
    return [(m.numerator, m.denominator) for t in mido.MidiFile(path).tracks for m in t if m.type == "time_signature"]


def test_generate_keeps_the_requested_meter_throughout(keyed_run, tmp_path):
    """The toy model only ever saw 4/4; asked for 3/4 and 6/8, every file is in that meter from its
    first bar to its last, and its notes fall inside those bars."""
    from melodygru.io.readers import read_file

    for meter in ("3/4", "6/8"):
        out = tmp_path / meter.replace("/", "-")
        res = CliRunner().invoke(main, ["generate", "--checkpoint", str(keyed_run), "--length", "120",
                                        "--num-samples", "12", "--seed", "2", "--meter", meter, "--candidates", "1",
                                        "--out", str(out), "--json"])
        assert res.exit_code == 0, res.output
        doc = json.loads(res.output)
        assert doc["meter"] == meter
        num, den = map(int, meter.split("/"))
        for s in doc["samples"]:
            assert _midi_meters(s["midi"]) == [(num, den)]
            piece = read_file(s["midi"])[0]
            assert piece.notes and [(t.numerator, t.denominator) for t in piece.time_signatures] == [(num, den)]
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(keyed_run), "--length", "60", "--num-samples",
                                    "4", "--seed", "2", "--candidates", "1", "--out", str(tmp_path / "free"), "--json"])
    assert all(_midi_meters(s["midi"]) == [(4, 4)] for s in json.loads(res.output)["samples"])


def test_meter_errors_are_one_line(keyed_run, tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["generate", "--checkpoint", str(keyed_run), "--meter", "5/3", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "is not a meter" in res.output
    res = runner.invoke(main, ["generate", "--checkpoint", str(keyed_run), "--meter", "40/4", "--out", str(tmp_path / "a")])
    assert res.exit_code != 0 and "has no 40/4 bars" in res.output and "Traceback" not in res.output
    from melodygru.io.writers import write_midi

    primer = write_midi(scale_piece(60, MAJOR), tmp_path / "primer.mid")
    res = runner.invoke(main, ["generate", "--checkpoint", str(keyed_run), "--meter", "3/4", "--primer", str(primer),
                               "--out", str(tmp_path / "b")])
    assert res.exit_code != 0 and "--meter and --primer" in res.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_every_training_window_reads_its_pieces_key_first():
    """A window cut from the middle of a piece starts with the piece's KEY token (in place of the
    token before its first target), so the key conditions every window; the first window keeps
    BOS KEY. Transposition then moves it with the window's pitches."""
    from melodygru.training.windows import epoch_windows

    pieces = [KEYED.encode(scale_piece(62, MINOR, repeats=3)) for _ in range(6)]  # D minor, ~100 tokens
    w = epoch_windows(pieces, KEYED, 24, 0, seed=0, epoch=1)
    assert len(w) > 3 * len(pieces)
    first = w[:, 0] == KEYED.bos
    assert first.sum() == len(pieces)
    assert (w[first, 1] == KEYED.key_token(2, True)).all() and (w[~first, 0] == KEYED.key_token(2, True)).all()
    moved = epoch_windows(pieces, KEYED, 24, 6, seed=0, epoch=1)
    assert len({KEYED.key_of_token(t) for t in moved[moved[:, 0] != KEYED.bos, 0]}) > 3
    assert all(KEYED.key_of_token(t)[1] for t in moved[moved[:, 0] != KEYED.bos, 0])  # still minor
    plain = [PLAIN.encode(scale_piece(62, MINOR, repeats=3)) for _ in range(6)]
    assert PLAIN.key_of_token(epoch_windows(plain, PLAIN, 24, 0, seed=0, epoch=1)[0, 0]) is None


def test_meter_edge_cases_are_one_line_errors(keyed_run, tmp_path):
    runner = CliRunner()
    for bad in ("³/4", "3/32", "0/4", "3/"):
        res = runner.invoke(main, ["generate", "--checkpoint", str(keyed_run), "--meter", bad, "--out", str(tmp_path)])
        assert res.exit_code == 2 and "is not a meter" in res.output and "Traceback" not in res.output, bad
    res = runner.invoke(main, ["generate", "--checkpoint", str(keyed_run), "--meter", "3/4", "--length", "2",
                               "--candidates", "1", "--out", str(tmp_path / "a")])
    assert res.exit_code != 0 and "too short" in res.output and not (tmp_path / "a").exists()
    # with the key given, the meter is part of the prefix and any length works
    res = runner.invoke(main, ["generate", "--checkpoint", str(keyed_run), "--meter", "3/4", "--key", "G", "--length",
                               "40", "--candidates", "1", "--out", str(tmp_path / "b"), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)["samples"][0]
    assert _midi_meters(s["midi"]) == [(3, 4)] and _midi_keys(s["midi"]) == ["G"]


def test_the_key_rule_keeps_a_sample_in_key_where_it_can():
    """`key_rule` (used by the plain choice and by `--resample-every`'s final choice): a candidate
    out of the key asked for is never chosen where its sample has one in it, whatever it scores;
    a sample with none in it keeps all its scores."""
    from melodygru.analysis.critic import best_of, weighted_choice
    from melodygru.generation.choose import key_rule

    scores = np.array([[30.0, 5.0], [0.0, 9.0]])  # candidates x samples
    penalties = np.array([[10.0, 10.0], [0.0, 10.0]])  # sample 0: only candidate 1 in key; sample 1: none
    ruled = key_rule(scores, penalties)
    assert ruled[0, 0] == -np.inf and ruled[1, 0] == 0.0 and ruled[:, 1].tolist() == [5.0, 9.0]
    assert best_of(ruled).tolist() == [1, 1]
    for seed in range(20):
        assert weighted_choice(ruled, np.random.default_rng(seed))[0] == 1


def test_mode_share_brings_the_chosen_share_in_minor_to_the_corpus():
    """A critic that far prefers major keeps no sample in minor; with `mode_share` one bonus for
    every candidate in minor makes the kept share the critic's training pieces' (half here), for
    the best, the matched and (in expectation) the weighted choice, and a requested key turns it
    off."""
    from melodygru.analysis.critic import MATCHED
    from melodygru.analysis.features import CRITIC_FEATURE_NAMES
    from melodygru.generation.choose import choose, expected_share, share_bonus
    from melodygru.generation.files import Sample

    minor_at, length_at = CRITIC_FEATURE_NAMES.index("minor_mode"), CRITIC_FEATURE_NAMES.index("length_quarters")

    class MajorCritic:  # 30 for major, plus a little for length, so each sample's gap differs
        info = {}
        ref_mean = np.where(np.array(MATCHED) == "minor_mode", 0.5, 0.0)
        ref_sd = np.ones(len(MATCHED))
        all_mean = None

        def score_features(self, X):
            return 30.0 * (1.0 - X[:, minor_at]) - 0.05 * X[:, length_at]

        def matched_values(self, X):
            return np.zeros((len(X), len(MATCHED)))

    def s(p):
        return Sample(np.zeros(1, int), p, 1, False)

    rounds = [[s(scale_piece(62, MAJOR, repeats=r)) for r in range(1, 11)],
              [s(scale_piece(71, MINOR, repeats=11 - r)) for r in range(1, 11)]]
    minor = lambda kept: sum(k.candidate == 1 for k in kept) / len(kept)  # noqa: E731
    assert minor(choose(rounds, MajorCritic(), "best", 0)) == 0.0
    assert minor(choose(rounds, MajorCritic(), "best", 0, mode_share=True)) == 0.5
    assert minor(choose(rounds, MajorCritic(), "matched", 0, mode_share=True)) == 0.5
    assert minor(choose(rounds, MajorCritic(), "best", 0, keyed=True, requested=True, mode_share=True)) == 0.0
    weighted = [minor(choose(rounds, MajorCritic(), "weighted", seed, mode_share=True)) for seed in range(40)]
    assert 0.4 <= np.mean(weighted) <= 0.6 and min(weighted) < max(weighted)
    # a set too small for a share keeps its choice (one sample would otherwise always stay major)
    few = [r[:3] for r in rounds]
    for selection in ("best", "matched"):
        assert [k.candidate for k in choose(few, MajorCritic(), selection, 0, mode_share=True)] == \
            [k.candidate for k in choose(few, MajorCritic(), selection, 0)]
    # a critic that knows the share in minor by music21's default key-finder (Aarden-Essen) aims at
    # that one and reads each candidate's mode with the same finder, not with its own estimate
    from melodygru.generation.choose import mode_flags, mode_target

    class FinderCritic(MajorCritic):
        finder_minor_share = 0.3

    assert mode_target(FinderCritic()) == 0.3 and mode_target(MajorCritic()) == 0.5
    X = np.zeros((2, 10, len(CRITIC_FEATURE_NAMES)))  # the critic's own estimate: every candidate major
    assert mode_flags(rounds, FinderCritic(), X).tolist() == [[False] * 10, [True] * 10]
    assert not mode_flags(rounds, MajorCritic(), X).any()
    assert minor(choose(rounds, FinderCritic(), "best", 0, mode_share=True)) == 0.3
    assert minor(choose(rounds, FinderCritic(), "matched", 0, mode_share=True)) == 0.3
    # the bonus itself: the closest share, the smallest bonus among equals
    assert share_bonus(lambda b: 0.5, 0.5) == 0.0
    assert abs(share_bonus(lambda b: float(np.clip(0.2 + b / 10, 0, 1)), 0.5) - 3.0) < 1e-3
    assert abs(expected_share(np.array([[0.0, 0.0], [0.0, np.log(3.0)]]), np.array([[0, 0], [1, 1]])) - 0.625) < 1e-9
