"""The tokenizer: round trips on the grid, the grammar, transposition, and the saved JSON.

Expected values are derived from the spec (12 steps per quarter, bar lines from meters, summed
durations, binned velocity and tempo), not copied from the code's output: where a test needs a
reference it computes it independently (e.g. `reference_notes` re-derives onsets from BAR/TS/POS).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from melodygru.core.errors import TokenizerError
from melodygru.core.events import DEFAULT_VELOCITY, Note, Piece, Tempo, TimeSignature
from melodygru.io.readers import read_midi_bytes
from melodygru.io.writers import midi_bytes_with_report
from melodygru.tokens.config import TokenizerConfig
from melodygru.tokens.tokenizer import Tokenizer
from melodygru.tokens.transpose import transpose, transpose_range

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DEFAULT = Tokenizer()
# Tokenizers whose settings change the token layout, so each property runs on more than one vocabulary.
TOKENIZERS = {
    "default": DEFAULT,
    "no-velocity-short-durations": Tokenizer(TokenizerConfig(velocity_bins=0, max_duration_quarters=1, tempo_bins=8)),
    "programs-drums": Tokenizer(TokenizerConfig(programs=True, drums=True, velocity_bins=5)),
    "coarse-grid": Tokenizer(TokenizerConfig(steps_per_quarter=4, max_bar_quarters=6, pitch_low=40, pitch_high=80,
                                             velocity_bins=127)),
    "shared-durations": Tokenizer(TokenizerConfig(shared_durations=True)),
    "shared-programs-no-velocity": Tokenizer(TokenizerConfig(shared_durations=True, programs=True, drums=True,
                                                             velocity_bins=0, max_duration_quarters=2)),
}
tokenizers = pytest.mark.parametrize("tok", list(TOKENIZERS.values()), ids=list(TOKENIZERS))


# ---------------------------------------------------------------------------------------- helpers
def names(tok, ids):
    return [tok.vocab[int(i)] for i in ids]


def valid(tok, *toks):
    """Whether BOS followed by the tokens named `toks` is a sequence `tok`'s grammar allows."""
    return tok.grammar.is_valid([tok.bos] + [tok.index[t] for t in toks])


def bar_steps(tok, meter):
    num, den = meter
    return num * 4 * tok.config.steps_per_quarter // den


def grid_key(tok, note):
    """(pitch, onset step, duration step, velocity bin, program) of a note, for multiset comparisons."""
    spq = tok.config.steps_per_quarter
    vel = tok.velocity_bin(note.velocity) if tok.config.velocity_bins else None
    if tok.config.programs:
        program = "drums" if note.is_drum else note.program
    else:
        program = None
    return note.pitch, round(note.onset * spq), round(note.duration * spq), vel, program


def tempo_bins(tok, tempos, steps):
    """The tempo bin in force at each grid step 0..steps-1: the last change at or before it (120 bpm before any)."""
    out = np.full(steps, tok.tempo_bin(120.0))
    for t in tempos:  # Piece keeps tempos sorted by time; ties keep list order, so the last one wins
        out[max(0, round(t.time * tok.config.steps_per_quarter)):] = tok.tempo_bin(t.bpm)
    return out


def reference_notes(tok, ids):
    """Notes of a grammar-valid sequence, re-derived from the spec: bar starts add up the bar lengths
    given by TS tokens (4/4 before any), a note's onset is its bar start plus POS, durations add up;
    with shared durations, pitches before a DUR all take that duration."""
    spq = tok.config.steps_per_quarter
    bar_len, bar_start, pos = 4 * spq, None, None
    notes, pitches, dur = [], [], 0
    for name in names(tok, ids):
        kind, _, value = name.partition("_")
        if kind != "DUR" and pitches and dur:
            notes += [(p, pos, dur) for p in pitches]
            pitches, dur = [], 0
        if kind == "BAR":
            bar_start = 0 if bar_start is None else bar_start + bar_len
        elif kind == "TS":
            num, den = map(int, value.split("/"))
            bar_len = num * 4 * spq // den
        elif kind == "POS":
            pos = bar_start + int(value)
        elif kind == "PITCH":
            pitches.append(int(value))
        elif kind == "DUR":
            dur += int(value)
        elif kind == "EOS":
            break
    if pitches and dur:
        notes += [(p, pos, dur) for p in pitches]
    return Counter(notes)


def decoded_keys(piece, spq):
    """(pitch, onset step, duration step) of decoded notes, asserting they lie exactly on the grid."""
    keys = Counter()
    for n in piece.notes:
        on, du = n.onset * spq, n.duration * spq
        assert abs(on - round(on)) < 1e-9 and abs(du - round(du)) < 1e-9, n
        keys[(n.pitch, round(on), round(du))] += 1
    return keys


def assert_valid_music(tok, piece):
    """What "decodes to valid music" means: every note, tempo and meter is one the tokenizer could
    have encoded, and the piece writes a Standard MIDI File that reads back with the same notes."""
    c, spq = tok.config, tok.config.steps_per_quarter
    assert isinstance(piece, Piece)
    for n in piece.notes:
        on, du = n.onset * spq, n.duration * spq
        assert on >= 0 and abs(on - round(on)) < 1e-9 and du >= 1 and abs(du - round(du)) < 1e-9, n
        assert c.pitch_low <= n.pitch <= c.pitch_high and 1 <= n.velocity <= 127, n
        assert 0 <= n.program <= 127 and (not n.is_drum or c.drums), n
    for t in piece.tempos:
        assert t.time >= 0 and c.tempo_min <= t.bpm <= c.tempo_max, t
    assert piece.time_signatures and piece.time_signatures[0].time == 0
    for m in piece.time_signatures:
        assert (m.numerator, m.denominator) in tok.meters, m
    data, report = midi_bytes_with_report(piece)
    back = read_midi_bytes(data)
    # every note reads back at its pitch and onset, but for notes the writer reports merged: hits of
    # one drum key struck together (drums have one channel), or unisons past all 15 channels
    got = Counter((n.pitch, round(n.onset * spq)) for n in back.notes)
    want = Counter((n.pitch, round(n.onset * spq)) for n in piece.notes)
    assert not got - want and sum((want - got).values()) <= report.merged_unisons


def assert_mask_admits(tok, ids):
    """Walk `ids` with allowed()/advance(): the mask admits every token, ending where state_after() does."""
    g = tok.grammar
    assert int(ids[0]) == tok.bos
    state = g.initial_state()
    for i, t in enumerate(ids[1:], start=1):
        mask = g.allowed(state)
        assert mask.dtype == bool and mask.shape == (len(tok),)
        assert mask[int(t)], f"token {i} ({tok.vocab[int(t)]}) is masked out after {tok.vocab[state.prev]}"
        state = g.advance(state, int(t))
    assert state == g.state_after(ids)


def random_walk(tok, rng, steps):
    """A sequence that samples uniformly from the grammar's mask at every step."""
    g = tok.grammar
    ids, state = [tok.bos], g.initial_state()
    for _ in range(steps):
        choices = np.flatnonzero(g.allowed(state))
        assert choices.size, f"grammar allows nothing after {tok.vocab[state.prev]}"
        t = int(rng.choice(choices))
        ids.append(t)
        state = g.advance(state, t)
    return ids


# ------------------------------------------------------------------------------------- strategies
@st.composite
def grid_pieces(draw, tok, max_bars=16):
    """A piece on `tok`'s grid with its bar layout: meters from the supported list at bar lines
    (sometimes restated unchanged), chords, echoes of the same pitch that overlap, long notes,
    gaps of whole bars, tempo changes (some outside the tempo range), velocities, programs and drums."""
    spq = tok.config.steps_per_quarter
    c = tok.config
    n_bars = draw(st.integers(1, max_bars))
    changes = draw(st.lists(st.one_of(st.none(), st.none(), st.sampled_from(tok.meters)),
                            min_size=n_bars, max_size=n_bars))
    bars, time_signatures, meter, start = [], [], (4, 4), 0
    for change in changes:
        if change is not None:
            meter = change
            time_signatures.append(TimeSignature(start / spq, *meter))
        bars.append((start, meter))
        start += bar_steps(tok, meter)
    total = start

    def program_and_drum():
        if not c.programs:
            return draw(st.integers(0, 127)), False  # programs merge: any program decodes as 0
        drum = c.drums and draw(st.booleans())
        return draw(st.integers(0, 127)), drum

    notes = []
    groups = draw(st.lists(st.tuples(st.integers(0, n_bars - 1), st.integers(0, 10**6)), max_size=10))
    for bar, where in groups:
        bar_start, meter = bars[bar]
        onset = bar_start + where % bar_steps(tok, meter)
        chord_dur = draw(st.one_of(st.none(), st.integers(1, 2 * spq), st.integers(1, 40 * spq)))
        for _ in range(draw(st.integers(1, 4))):  # a chord, its notes all as long or not
            pitch = draw(st.integers(c.pitch_low, c.pitch_high))
            dur = chord_dur or draw(st.one_of(st.integers(1, 2 * spq), st.integers(1, 40 * spq)))
            program, drum = program_and_drum()
            notes.append(Note(onset / spq, dur / spq, pitch, draw(st.integers(1, 127)), program, drum))
    echoes = draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 2 * spq), st.integers(1, 6 * spq)),
                           max_size=3))
    for which, shift, dur in echoes:
        if notes:  # the same pitch again while (or exactly when) the first one sounds
            first = notes[which % len(notes)]
            onset = min(round(first.onset * spq) + shift, total - 1)
            notes.append(Note(onset / spq, dur / spq, first.pitch, first.velocity, first.program, first.is_drum))
    tempos = [Tempo(step / spq, bpm) for step, bpm in draw(st.lists(
        st.tuples(st.integers(0, total - 1), st.floats(15, 500, allow_nan=False)), max_size=4))]
    return Piece(notes, tempos, time_signatures), bars


# -------------------------------------------------------------------------- round trip (property)
@tokenizers
@PROPERTY
@given(data=st.data())
def test_round_trip_on_the_grid_is_exact(tok, data):
    piece, bars = data.draw(grid_pieces(tok))
    spq = tok.config.steps_per_quarter
    ids, stats = tok.encode_with_stats(piece)

    assert ids.dtype == np.int32
    assert int(ids[0]) == tok.bos and int(ids[-1]) == tok.eos
    assert tok.grammar.is_valid(ids)
    assert_mask_admits(tok, ids)
    assert stats.notes == len(piece.notes)
    assert stats.snapped_onsets == stats.snapped_durations == stats.zero_length == 0
    assert stats.dropped_out_of_range == stats.dropped_drums == stats.unsupported_meters == 0

    out = tok.decode(ids, strict=True)
    assert out.stats == {"skipped_tokens": 0, "incomplete_notes": 0}

    # notes: the multiset of (pitch, onset, duration), duplicates and overlaps included, exactly;
    # velocity within its bin; program (or drum) when programs are on
    assert decoded_keys(out, spq) == Counter(grid_key(tok, n)[:3] for n in piece.notes)
    assert Counter(map(lambda n: grid_key(tok, n), out.notes)) == Counter(map(lambda n: grid_key(tok, n), piece.notes))
    if not tok.config.velocity_bins:
        assert all(n.velocity == DEFAULT_VELOCITY for n in out.notes)
    if not tok.config.programs:
        assert all(n.program == 0 and not n.is_drum for n in out.notes)
    assert reference_notes(tok, ids) == decoded_keys(out, spq)

    # the span the tokens cover: up to the last onset, and tempo changes while notes still sound
    last_onset = max((round(n.onset * spq) for n in piece.notes), default=0)
    sound_end = max((round(n.end * spq) for n in piece.notes), default=0)
    audible = max(last_onset + 1, sound_end)  # grid steps 0..audible-1
    expected_bins = tempo_bins(tok, piece.tempos, audible)
    span_end = max([last_onset] + (np.flatnonzero(np.diff(expected_bins)) + 1).tolist())

    # meters: every change at its bar line, up to the last bar the tokens reach
    expected_meters = []
    for start, meter in bars:
        if start <= span_end and (not expected_meters or expected_meters[-1][1:] != meter):
            expected_meters.append((start, *meter))
    assert [(round(ts.time * spq), ts.numerator, ts.denominator) for ts in out.time_signatures] == expected_meters
    assert names(tok, ids).count("BAR") == sum(start <= span_end for start, _ in bars)

    # tempo: the same bin in force at every audible grid step; a bin is narrower than ~8 %
    assert out.tempos and out.tempos[0].time == 0
    assert tempo_bins(tok, out.tempos, audible).tolist() == expected_bins.tolist()
    edges = np.geomspace(tok.config.tempo_min, tok.config.tempo_max, tok.config.tempo_bins + 1)
    for t in out.tempos:
        assert tok.config.tempo_min <= t.bpm <= tok.config.tempo_max
        originals = [o.bpm for o in piece.tempos if round(o.time * spq) == round(t.time * spq)] or [120.0]
        bpm = min(max(originals[-1], tok.config.tempo_min), tok.config.tempo_max)
        # what the bin decodes to: the whole bpm nearest its centre (within the bin), never another bin's
        assert t.bpm == tok.tempo_bpms[tok.tempo_bin(bpm)] and tok.tempo_bin(t.bpm) == tok.tempo_bin(bpm)
        assert abs(math.log(t.bpm / bpm)) <= math.log(edges[1] / edges[0]) + 1e-9


@tokenizers
@FEW
@given(data=st.data())
def test_re_encoding_a_decoded_piece_gives_the_same_tokens(tok, data):
    piece, _ = data.draw(grid_pieces(tok))
    ids = tok.encode(piece)
    assert tok.encode(tok.decode(ids, strict=True)).tolist() == ids.tolist()


# -------------------------------------------------------------------------- long rests, long notes
def test_long_rest_is_repeated_bar_lines_and_long_note_sums_durations():
    # notes at quarter 0 and quarter 40 (bar 11 of 4/4): nine empty bars in between
    piece = Piece([Note(0, 8.5, 60), Note(40, 1, 62)])
    ids = DEFAULT.encode(piece)
    toks = names(DEFAULT, ids)
    assert toks.count("BAR") == 11
    first = toks.index("PITCH_60")
    # 8.5 quarters = 102 steps = 48 + 48 + 6, spelt as the docstring says
    assert toks[first + 2:first + 5] == ["DUR_48", "DUR_48", "DUR_6"]
    out = DEFAULT.decode(ids, strict=True)
    assert [(n.onset, n.duration, n.pitch) for n in out.notes] == [(0, 8.5, 60), (40, 1, 62)]


@pytest.mark.parametrize("steps", [1, 47, 48, 49, 95, 96, 97, 12 * 64 + 5])
def test_every_duration_has_one_spelling(steps):
    ids = DEFAULT.encode(Piece([Note(0, steps / 12, 60)]))
    durs = [int(n[4:]) for n in names(DEFAULT, ids) if n.startswith("DUR_")]
    assert sum(durs) == steps
    assert all(d == 48 for d in durs[:-1]) and 1 <= durs[-1] <= 48  # only the longest continues
    assert len(durs) == math.ceil(steps / 48)
    # the same length spelt another way is not in the grammar
    if len(durs) > 1 and durs[-1] != 48:
        pitch_at = names(DEFAULT, ids).index("PITCH_60") + 2
        swapped = list(ids)
        swapped[pitch_at], swapped[pitch_at + len(durs) - 1] = swapped[pitch_at + len(durs) - 1], swapped[pitch_at]
        assert not DEFAULT.grammar.is_valid(swapped)
        with pytest.raises(TokenizerError):
            DEFAULT.decode(swapped, strict=True)


SHARED = TOKENIZERS["shared-durations"]


def test_shared_durations_state_a_chords_length_once():
    no_vel = Tokenizer(TokenizerConfig(shared_durations=True, velocity_bins=0))
    piece = Piece([Note(0, 1, 60), Note(0, 1, 64), Note(0, 1, 67),  # a triad of quarters
                   Note(1, 2, 48), Note(1, 1, 64), Note(1, 1, 67),  # a longer bass under a shorter pair
                   Note(2, 9, 40), Note(2, 9, 52)])  # longer than the longest DUR: the sum is shared
    toks = names(no_vel, no_vel.encode(piece))
    assert toks[toks.index("POS_0"):] == [
        "POS_0", "TEMPO_19", "PITCH_60", "PITCH_64", "PITCH_67", "DUR_12",
        "POS_12", "PITCH_48", "DUR_24", "PITCH_64", "PITCH_67", "DUR_12",
        "POS_24", "PITCH_40", "PITCH_52", "DUR_48", "DUR_48", "DUR_12", "EOS"]
    for tok in (no_vel, SHARED):
        out = tok.decode(tok.encode(piece), strict=True)
        assert sorted((n.onset, n.duration, n.pitch) for n in out.notes) == \
            sorted((n.onset, n.duration, n.pitch) for n in piece.notes)
    # saved DUR tokens: 2 in the triad, 1 in the pair, 3 (48 + 48 + 12) in the long dyad
    per_note = Tokenizer(TokenizerConfig(velocity_bins=0))
    assert len(per_note.encode(piece)) - len(no_vel.encode(piece)) == 2 + 1 + 3


def test_shared_durations_keep_each_notes_velocity_and_program():
    tok = Tokenizer(TokenizerConfig(shared_durations=True, programs=True))
    piece = Piece([Note(0, 1, 60, velocity=30, program=0), Note(0, 1, 60, velocity=120, program=40),
                   Note(0, 1, 72, velocity=64, program=40)])
    toks = names(tok, tok.encode(piece))
    assert toks.count("DUR_12") == 1 and toks[-2] == "DUR_12"
    out = tok.decode(tok.encode(piece), strict=True)
    assert Counter(grid_key(tok, n) for n in out.notes) == Counter(grid_key(tok, n) for n in piece.notes)


def test_shared_durations_grammar():
    v = SHARED.index
    assert valid(SHARED, "BAR", "POS_0", "PITCH_60", "VEL_1", "PITCH_64", "VEL_2", "DUR_12", "POS_12",
                 "PITCH_60", "VEL_1", "DUR_12", "EOS")
    assert valid(SHARED, "BAR", "POS_0", "PITCH_60", "VEL_1", "DUR_12", "PITCH_64", "VEL_2", "DUR_6")  # own durations
    assert not valid(SHARED, "BAR", "POS_0", "PITCH_60", "PITCH_64")  # the velocity still comes with its pitch
    assert not valid(SHARED, "BAR", "POS_0", "PITCH_60", "VEL_1", "PITCH_64", "VEL_1", "POS_12")  # a group ends on a DUR
    assert not valid(SHARED, "BAR", "POS_0", "PITCH_60", "VEL_1", "PITCH_64", "VEL_1", "EOS")
    # without the option a pitch never waits for the next note's duration
    assert not valid(DEFAULT, "BAR", "POS_0", "PITCH_60", "VEL_1", "PITCH_64", "VEL_2", "DUR_12")
    # a sequence cut inside a chord counts every note still waiting for its duration
    cut = [SHARED.bos] + [v[t] for t in ("BAR", "POS_0", "PITCH_60", "VEL_1", "DUR_12", "POS_12",
                                          "PITCH_62", "VEL_1", "PITCH_65", "VEL_1", "PITCH_69")]
    out = SHARED.decode(cut, strict=True)
    assert [n.pitch for n in out.notes] == [60] and out.stats["incomplete_notes"] == 3


def test_pitch_order_down_writes_the_top_note_of_each_onset_first():
    up, down = Tokenizer(TokenizerConfig(velocity_bins=0)), Tokenizer(TokenizerConfig(velocity_bins=0, pitch_order="down"))
    piece = Piece([Note(0, 1, 48), Note(0, 1, 67), Note(0, 1, 60), Note(1, 2, 65), Note(1, 1, 50)])
    pitches = lambda tok: [t for t in names(tok, tok.encode(piece)) if t.startswith("PITCH")]
    assert pitches(up) == ["PITCH_48", "PITCH_60", "PITCH_67", "PITCH_50", "PITCH_65"]
    assert pitches(down) == ["PITCH_67", "PITCH_60", "PITCH_48", "PITCH_65", "PITCH_50"]
    for tok in (up, down):  # both read back as the same music
        out = tok.decode(tok.encode(piece), strict=True)
        assert sorted((n.onset, n.duration, n.pitch) for n in out.notes) == \
            sorted((n.onset, n.duration, n.pitch) for n in piece.notes)
    assert up.config.digest() != down.config.digest()
    assert TokenizerConfig.from_dict(down.config.to_dict()) == down.config
    with pytest.raises(TokenizerError, match="wrong type"):
        TokenizerConfig.from_dict({"pitch_order": 1})


def test_settings_added_later_leave_older_configs_and_digests_unchanged():
    d = TokenizerConfig().to_dict()
    later = ("shared_durations", "pitch_order", "key_tokens", "styles")
    assert not set(later) & set(d) and TokenizerConfig.from_dict(d) == TokenizerConfig()
    older = {k: v for k, v in dataclasses.asdict(TokenizerConfig()).items() if k not in later}
    # the digest a run or cache made before the setting existed (config.json's tokenizer_digest)
    assert TokenizerConfig().digest() == hashlib.sha256(json.dumps(older, sort_keys=True).encode()).hexdigest()[:16]
    on = TokenizerConfig(shared_durations=True)
    assert on.to_dict()["shared_durations"] is True and on.digest() != TokenizerConfig().digest()
    assert TokenizerConfig.from_dict(on.to_dict()) == on
    styled = TokenizerConfig(styles=("jigs", "reels"))
    assert json.loads(json.dumps(styled.to_dict()))["styles"] == ["jigs", "reels"]
    assert TokenizerConfig.from_dict(json.loads(json.dumps(styled.to_dict()))) == styled
    for bad in (("Reels",), ("a", "a"), ("",), ("x y",)):
        with pytest.raises(TokenizerError, match="styles must be"):
            TokenizerConfig(styles=bad)


def test_config_diff_names_every_changed_setting_including_later_ones():
    base = TokenizerConfig()
    assert base.diff(TokenizerConfig()) == []
    other = TokenizerConfig(velocity_bins=0, shared_durations=True)
    assert base.diff(other) == ["velocity_bins 16 -> 0", "shared_durations False -> True"]
    assert other.diff(base) == ["velocity_bins 0 -> 16", "shared_durations True -> False"]


def test_empty_piece_states_bar_meter_and_tempo():
    ids = DEFAULT.encode(Piece([]))
    assert names(DEFAULT, ids) == ["BOS", "BAR", "TS_4/4", "POS_0", f"TEMPO_{DEFAULT.tempo_bin(120)}", "EOS"]
    out = DEFAULT.decode(ids, strict=True)
    assert out.notes == [] and out.time_signatures == [TimeSignature(0.0, 4, 4)]
    assert [DEFAULT.tempo_bin(t.bpm) for t in out.tempos] == [DEFAULT.tempo_bin(120)]


def test_overlapping_and_identical_same_pitch_notes_all_survive():
    notes = [Note(0, 4, 60), Note(0, 4, 60), Note(1, 0.5, 60), Note(1, 6, 60, velocity=20)]
    out = DEFAULT.decode(DEFAULT.encode(Piece(notes)), strict=True)
    assert Counter(grid_key(DEFAULT, n) for n in out.notes) == Counter(grid_key(DEFAULT, n) for n in notes)


def test_final_ritardando_while_the_last_note_sounds_is_kept():
    # the last onset is at 0; the tempo slows down at quarter 8 while the note (16 quarters) still sounds;
    # a change at quarter 20, after every note ended, changes nothing audible
    piece = Piece([Note(0, 16, 60)], tempos=[Tempo(0, 120), Tempo(8, 60), Tempo(20, 200)])
    ids = DEFAULT.encode(piece)
    assert DEFAULT.grammar.is_valid(ids)
    out = DEFAULT.decode(ids, strict=True)
    assert [(t.time, DEFAULT.tempo_bin(t.bpm)) for t in out.tempos] == [(0, DEFAULT.tempo_bin(120)),
                                                                        (8, DEFAULT.tempo_bin(60))]
    assert [(n.onset, n.duration) for n in out.notes] == [(0, 16)]


def test_tempo_before_the_start_applies_from_the_start():
    ids = DEFAULT.encode(Piece([Note(1, 1, 60)], tempos=[Tempo(-2.0, 100)]))
    assert DEFAULT.grammar.is_valid(ids)
    out = DEFAULT.decode(ids, strict=True)
    assert [(t.time, DEFAULT.tempo_bin(t.bpm)) for t in out.tempos] == [(0, DEFAULT.tempo_bin(100))]


def test_no_tempo_means_120_and_out_of_range_tempos_are_clamped_and_counted():
    assert DEFAULT.decode(DEFAULT.encode(Piece([Note(0, 1, 60)]))).tempos[0].bpm == pytest.approx(120, rel=0.08)
    piece = Piece([Note(0, 1, 60), Note(4, 1, 60)], tempos=[Tempo(0, 10), Tempo(4, 1000)])
    ids, stats = DEFAULT.encode_with_stats(piece)
    assert stats.clamped_tempos == 2
    out = DEFAULT.decode(ids, strict=True)
    assert [DEFAULT.tempo_bin(t.bpm) for t in out.tempos] == [0, DEFAULT.config.tempo_bins - 1]


# --------------------------------------------------------------------------------- meters
def test_meter_change_inside_a_bar_waits_for_the_bar_line_and_onsets_stay_exact():
    # 4/4 from 0, 3/4 from quarter 2 (inside the first bar): the change takes effect at quarter 4
    onsets = [k / 12 for k in range(0, 12 * 14, 5)] + [2.0, 4.0, 7.0, 10.0, 13.0]
    notes = [Note(t, 1 / 3, 60 + i % 12) for i, t in enumerate(onsets)]
    piece = Piece(notes, time_signatures=[TimeSignature(0, 4, 4), TimeSignature(2, 3, 4)])
    ids = DEFAULT.encode(piece)
    out = DEFAULT.decode(ids, strict=True)
    assert decoded_keys(out, 12) == Counter(DEFAULT.note_key(n) for n in notes)
    assert out.time_signatures == [TimeSignature(0, 4, 4), TimeSignature(4, 3, 4)]
    # bar lines at 0, 4, 7, 10, 13 quarters
    assert names(DEFAULT, ids).count("BAR") == 5


def test_unsupported_meter_falls_back_to_four_four_counted_and_onsets_stay_exact():
    # 9/2 is 18 quarters, longer than max_bar_quarters=8
    notes = [Note(k / 4, 0.25, 60 + k % 5) for k in range(0, 4 * 40, 7)] + [Note(17 + 2 / 3, 1 / 3, 72)]
    piece = Piece(notes, time_signatures=[TimeSignature(0, 9, 2)])
    ids, stats = DEFAULT.encode_with_stats(piece)
    assert stats.unsupported_meters == 1
    assert DEFAULT.grammar.is_valid(ids)
    out = DEFAULT.decode(ids, strict=True)
    assert decoded_keys(out, 12) == Counter(DEFAULT.note_key(n) for n in notes)
    assert out.time_signatures == [TimeSignature(0, 4, 4)]


@pytest.mark.parametrize("meter", [(3, 4), (6, 8), (5, 8), (7, 8), (2, 2), (12, 8), (1, 16), (8, 4)])
def test_every_supported_meter_makes_bars_of_its_length(meter):
    assert meter in DEFAULT.meters
    length = meter[0] * 4 / meter[1]
    notes = [Note(b * length, min(length, 1), 60) for b in range(5)]  # one note at each bar line
    ids = DEFAULT.encode(Piece(notes, time_signatures=[TimeSignature(0, *meter)]))
    toks = names(DEFAULT, ids)
    assert toks.count("BAR") == 5 and toks.count("POS_0") == 5 and f"TS_{meter[0]}/{meter[1]}" in toks
    out = DEFAULT.decode(ids, strict=True)
    assert out.time_signatures == [TimeSignature(0, *meter)]


def test_piece_longer_than_max_bars_is_refused():
    piece = Piece([Note(0, 1, 60), Note(8.0, 1, 60)])  # last onset in the third 4/4 bar
    assert DEFAULT.decode(DEFAULT.encode(piece, max_bars=3)).notes[-1].onset == 8.0
    for max_bars in (1, 2):
        with pytest.raises(TokenizerError, match=f"more than {max_bars} bars"):
            DEFAULT.encode(piece, max_bars=max_bars)
    # a long note does not count, its onset does
    assert len(DEFAULT.encode(Piece([Note(3.5, 100, 60)]), max_bars=1)) > 0


# ---------------------------------------------------------------------- lossy steps are counted
def test_off_grid_onsets_are_snapped_and_counted():
    notes = [Note(0.1, 1.0, 60), Note(0.5, 0.5, 62), Note(1.13, 0.5, 64), Note(2.0, 0.01, 65)]
    ids, stats = DEFAULT.encode_with_stats(Piece(notes))
    assert stats.snapped_onsets == 2  # 0.1 -> 1/12, 1.13 -> 14/12
    assert stats.zero_length == 1  # 0.01 quarters is under half a step: kept as one step
    assert stats.notes == 4
    out = DEFAULT.decode(ids, strict=True)
    assert sorted((round(n.onset * 12), round(n.duration * 12), n.pitch) for n in out.notes) == [
        (1, 12, 60), (6, 6, 62), (14, 6, 64), (24, 1, 65)]


def test_notes_outside_the_pitch_range_are_dropped_and_counted():
    notes = [Note(0, 1, 20), Note(0, 1, 21), Note(1, 1, 108), Note(1, 1, 109), Note(2, 1, 0), Note(2, 1, 127)]
    ids, stats = DEFAULT.encode_with_stats(Piece(notes))
    assert stats.dropped_out_of_range == 4 and stats.notes == 2
    assert sorted(n.pitch for n in DEFAULT.decode(ids).notes) == [21, 108]


def test_drums_are_dropped_and_counted_by_default():
    notes = [Note(0, 1, 60, program=5), Note(0, 0.25, 36, is_drum=True), Note(1, 0.25, 38, is_drum=True)]
    for tok in (DEFAULT, Tokenizer(TokenizerConfig(programs=True))):
        ids, stats = tok.encode_with_stats(Piece(notes))
        assert stats.dropped_drums == 2 and stats.notes == 1
        assert [n.pitch for n in tok.decode(ids).notes] == [60]
    with pytest.raises(TokenizerError, match="drums=True needs programs=True"):
        TokenizerConfig(drums=True)


def test_pitched_tracks_merge_by_default():
    notes = [Note(0, 1, 60, program=0), Note(0, 1, 64, program=40), Note(1, 1, 67, program=73)]
    ids = DEFAULT.encode(Piece(notes))
    assert not any(n.startswith("PROGRAM") for n in names(DEFAULT, ids))
    out = DEFAULT.decode(ids, strict=True)
    assert sorted((n.pitch, n.program) for n in out.notes) == [(60, 0), (64, 0), (67, 0)]


def test_programs_and_drums_round_trip_when_kept():
    tok = Tokenizer(TokenizerConfig(programs=True, drums=True))
    notes = [Note(0, 1, 60, program=0), Note(0, 1, 60, program=40), Note(1, 1, 67, program=127),
             Note(0, 0.25, 36, is_drum=True), Note(0.5, 0.25, 42, program=3, is_drum=True)]
    ids, stats = tok.encode_with_stats(Piece(notes))
    assert stats.dropped_drums == 0 and stats.notes == 5
    assert names(tok, ids).count("PROGRAM_DRUMS") == 2
    out = tok.decode(ids, strict=True)
    got = sorted((n.onset, n.pitch, n.is_drum, n.program if not n.is_drum else None) for n in out.notes)
    assert got == [(0, 36, True, None), (0, 60, False, 0), (0, 60, False, 40), (0.5, 42, True, None),
                   (1, 67, False, 127)]


def test_velocity_bins_zero_removes_velocity_tokens():
    tok = Tokenizer(TokenizerConfig(velocity_bins=0))
    assert "VEL" not in tok.kinds and len(tok) == len(DEFAULT) - DEFAULT.config.velocity_bins
    ids = tok.encode(Piece([Note(0, 1, 60, velocity=10), Note(1, 1, 62, velocity=127)]))
    assert not any(n.startswith("VEL") for n in names(tok, ids))
    assert [n.velocity for n in tok.decode(ids, strict=True).notes] == [DEFAULT_VELOCITY] * 2


@pytest.mark.parametrize("bins", range(1, 128))
def test_velocity_bins_partition_1_to_127_and_decode_inside_their_bin(bins):
    tok = Tokenizer(TokenizerConfig(velocity_bins=bins))
    of = [tok.velocity_bin(v) for v in range(1, 128)]
    assert of[0] == 0 and of[-1] == bins - 1
    assert all(b - a in (0, 1) for a, b in zip(of, of[1:]))  # contiguous, every bin used
    width = math.ceil(127 / bins)
    for b in range(bins):
        v = tok.velocity_of_bin(b)
        assert 1 <= v <= 127 and tok.velocity_bin(v) == b
        members = [u for u in range(1, 128) if of[u - 1] == b]
        assert all(abs(u - v) < width for u in members)


# ----------------------------------------------------------------------------- transposition
@pytest.mark.parametrize("tok", [DEFAULT, TOKENIZERS["programs-drums"], TOKENIZERS["coarse-grid"],
                                 TOKENIZERS["shared-durations"]],
                         ids=["default", "programs-drums", "coarse-grid", "shared-durations"])
@FEW
@given(data=st.data())
def test_transposing_tokens_equals_encoding_the_transposed_piece(tok, data):
    piece, _ = data.draw(grid_pieces(tok))
    c = tok.config
    ids = tok.encode(piece)
    lo, hi = transpose_range(tok, ids)
    pitches = [n.pitch for n in piece.notes if not n.is_drum]  # on the drum channel a pitch is an instrument
    if pitches:  # tight: the bounds put the lowest / highest note exactly on the range's ends
        assert (lo, hi) == (c.pitch_low - min(pitches), c.pitch_high - max(pitches))
    else:
        assert (lo, hi) == (-(c.pitch_high - c.pitch_low), c.pitch_high - c.pitch_low)
    k = data.draw(st.integers(lo, hi))
    for shift in {k, lo, hi}:
        moved = piece.replace(notes=[n if n.is_drum else dataclasses.replace(n, pitch=n.pitch + shift)
                                     for n in piece.notes])
        assert transpose(tok, ids, shift).tolist() == tok.encode(moved).tolist()
    if pitches:
        for beyond in (lo - 1, hi + 1):
            with pytest.raises(TokenizerError, match=f"allowed {lo}..{hi}"):
                transpose(tok, ids, beyond)
    assert transpose(tok, ids, 0).tolist() == ids.tolist()


@FEW
@given(data=st.data(), k=st.integers(-100, 100))
def test_fold_keeps_pitches_in_range_and_moves_by_octaves_only(data, k):
    tok = DEFAULT
    piece, _ = data.draw(grid_pieces(tok))
    ids = tok.encode(piece)
    folded = transpose(tok, ids, k, out_of_range="fold")
    is_pitch = tok.pitch_mask(ids)
    assert (tok.pitch_mask(folded) == is_pitch).all()
    assert (folded[~is_pitch] == ids[~is_pitch]).all()  # only pitches change
    old = ids[is_pitch] - tok.pitch_offset + tok.config.pitch_low
    new = folded[is_pitch] - tok.pitch_offset + tok.config.pitch_low
    assert ((tok.config.pitch_low <= new) & (new <= tok.config.pitch_high)).all()
    assert ((new - old - k) % 12 == 0).all()
    inside = (tok.config.pitch_low <= old + k) & (old + k <= tok.config.pitch_high)
    assert (new[inside] == old[inside] + k).all()  # in-range pitches are never folded or wrapped
    # a folded pitch is the nearest octave of its target: one more octave inward would leave the range
    low_out, high_out = old + k < tok.config.pitch_low, old + k > tok.config.pitch_high
    assert (new[low_out] - 12 < tok.config.pitch_low).all() and (new[high_out] + 12 > tok.config.pitch_high).all()
    assert tok.grammar.is_valid(folded)
    assert len(tok.decode(folded, strict=True).notes) == len(tok.decode(ids, strict=True).notes)


def test_transpose_does_not_touch_the_input_and_checks_its_arguments():
    ids = DEFAULT.encode(Piece([Note(0, 1, 100), Note(1, 1, 30)]))
    before = ids.copy()
    assert transpose_range(DEFAULT, ids) == (-9, 8)
    up = transpose(DEFAULT, ids, 8)
    assert (ids == before).all()
    assert sorted(n.pitch for n in DEFAULT.decode(up).notes) == [38, 108]
    with pytest.raises(TokenizerError, match="allowed -9..8"):
        transpose(DEFAULT, ids, 9)
    assert sorted(n.pitch for n in DEFAULT.decode(transpose(DEFAULT, ids, 9, out_of_range="fold")).notes) == [39, 97]
    with pytest.raises(ValueError, match="out_of_range"):
        transpose(DEFAULT, ids, 9, out_of_range="wrap")
    narrow = Tokenizer(TokenizerConfig(pitch_low=60, pitch_high=67))
    with pytest.raises(TokenizerError, match="narrower than an octave"):
        transpose(narrow, narrow.encode(Piece([Note(0, 1, 67)])), 1, out_of_range="fold")


# --------------------------------------------------------------------------------------- grammar
@tokenizers
@FEW
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 400))
def test_any_sequence_the_grammar_allows_decodes_strictly(tok, seed, steps):
    rng = np.random.default_rng(seed)
    ids = random_walk(tok, rng, steps)
    assert tok.grammar.is_valid(ids)

    # positions strictly increase inside a bar and stay inside the bar
    spq = tok.config.steps_per_quarter
    bar_len, last = 4 * spq, -1
    for name in names(tok, ids):
        kind, _, value = name.partition("_")
        if kind == "BAR":
            last = -1
        elif kind == "TS":
            num, den = map(int, value.split("/"))
            bar_len = num * 4 * spq // den
        elif kind == "POS":
            assert last < int(value) < bar_len
            last = int(value)

    out = tok.decode(ids, strict=True)
    assert_valid_music(tok, out)
    assert reference_notes(tok, ids) == decoded_keys(out, spq)
    waiting = 0  # pitches at the end still without their duration (several when durations are shared)
    for t in reversed(ids):
        if tok.kinds[t] not in ("PITCH", "VEL", "PROGRAM"):
            break
        waiting += tok.kinds[t] == "PITCH"
    assert out.stats["incomplete_notes"] == waiting
    # what the grammar lets a model write is a piece the tokenizer can encode again, notes unchanged
    again = tok.decode(tok.encode(out), strict=True)
    assert Counter(grid_key(tok, n) for n in again.notes) == Counter(grid_key(tok, n) for n in out.notes)


def test_grammar_rules_from_the_docstring():
    g = DEFAULT.grammar
    assert valid(DEFAULT, "BAR", "TS_3/4", "POS_0", "TEMPO_3", "PITCH_60", "VEL_2", "DUR_12", "PITCH_64", "VEL_2",
                 "DUR_12", "POS_35", "PITCH_60", "VEL_1", "DUR_48", "DUR_48", "DUR_1", "BAR", "BAR", "EOS", "PAD", "PAD")
    assert not valid(DEFAULT, "POS_0")  # a bar first
    assert not valid(DEFAULT, "BAR", "TS_3/4", "POS_36")  # past the end of a 3/4 bar
    assert valid(DEFAULT, "BAR", "POS_47")  # 4/4 before any TS
    note = ("PITCH_60", "VEL_1", "DUR_1")
    assert valid(DEFAULT, "BAR", "POS_5", *note, "POS_6", "TEMPO_0")
    assert not valid(DEFAULT, "BAR", "POS_5", *note, "POS_5")  # positions strictly increase
    assert not valid(DEFAULT, "BAR", "POS_5", "TEMPO_0", "POS_4")
    assert not valid(DEFAULT, "BAR", "POS_5", *note, "BAR", "POS_6", *note, "POS_4")
    assert valid(DEFAULT, "BAR", "POS_5", *note, "BAR", "POS_4")  # a new bar starts over
    assert not valid(DEFAULT, "BAR", "POS_5", "PITCH_60", "POS_6")  # a note needs its velocity and duration
    assert not valid(DEFAULT, "BAR", "POS_0", "PITCH_60", "DUR_12")  # velocity is on by default
    assert not valid(DEFAULT, "BAR", "POS_0", "PITCH_60", "VEL_1", "DUR_12", "DUR_12")  # only the longest continues
    assert not valid(DEFAULT, "BAR", "POS_0", "TEMPO_1", "TEMPO_2")
    assert not valid(DEFAULT, "BAR", "EOS", "BAR")
    assert not valid(DEFAULT, "BAR", "POS_0", "EOS")  # a position holds a tempo or a note
    assert not valid(DEFAULT, "BAR", "POS_0", "PITCH_60", "VEL_1", "BAR")  # a note needs a duration
    assert not g.is_valid([DEFAULT.bar])  # BOS first
    assert not g.is_valid([DEFAULT.bos, len(DEFAULT)])


@tokenizers
@PROPERTY
@given(data=st.data())
def test_random_ids_decode_leniently_and_strict_agrees_with_the_grammar(tok, data):
    n = len(tok)
    body = data.draw(st.lists(st.integers(0, n - 1), max_size=60))
    ids = [tok.bos] + body if data.draw(st.booleans()) else body

    piece = tok.decode(ids)  # never raises for in-vocabulary ids
    assert_valid_music(tok, piece)

    # lenient decoding is strict decoding of the tokens the grammar accepts, in order
    g, state, accepted, skipped = tok.grammar, tok.grammar.initial_state(), [tok.bos], 0
    for t in (ids[1:] if ids and ids[0] == tok.bos else ids):
        if g.is_allowed(state, t):
            accepted.append(t)
            state = g.advance(state, t)
            if tok.kinds[t] == "EOS":
                break
        else:
            skipped += 1
    assert piece.stats["skipped_tokens"] == skipped
    same = tok.decode(accepted, strict=True)
    assert (same.notes, same.tempos, same.time_signatures) == (piece.notes, piece.tempos, piece.time_signatures)

    with_bos = ids if ids and ids[0] == tok.bos else [tok.bos] + ids
    if g.is_valid(with_bos):
        assert tok.decode(ids, strict=True).notes == piece.notes
    else:
        with pytest.raises(TokenizerError, match="may not follow"):
            tok.decode(ids, strict=True)


@given(ids=st.lists(st.integers(-10**6, 10**6), min_size=1, max_size=30))
@settings(max_examples=100, deadline=None)
def test_only_out_of_vocabulary_ids_make_decoding_raise(ids):
    n = len(DEFAULT)
    if all(0 <= i < n for i in ids):
        assert isinstance(DEFAULT.decode(ids), Piece)
    else:
        bad = next(i for i in ids if not 0 <= i < n)
        for strict in (False, True):
            with pytest.raises(TokenizerError, match=f"token id {bad} is outside the vocabulary"):
                DEFAULT.decode(ids, strict=strict)


@tokenizers
@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(0, 150),
       edits=st.lists(st.tuples(st.sampled_from(["set", "insert", "delete", "swap"]), st.integers(0, 10**6),
                                st.integers(-3, 10**6)), min_size=1, max_size=8))
def test_mutated_valid_sequences_decode_to_valid_music_or_raise_tokenizer_error(tok, seed, steps, edits):
    """A grammar-valid sequence with a few tokens changed, inserted, deleted or swapped (some of
    them out of the vocabulary): decoding gives valid music or raises TokenizerError, nothing else."""
    ids = random_walk(tok, np.random.default_rng(seed), steps)
    n = len(tok)
    for op, where, value in edits:
        token = value if value < 0 else value % (n + 3)  # mostly in the vocabulary, a few outside it
        pos = where % (len(ids) + 1)
        if op == "insert" or not ids:
            ids.insert(pos, token)
        elif op == "set":
            ids[pos % len(ids)] = token
        elif op == "delete":
            del ids[pos % len(ids)]
        else:
            j = (pos + 1) % len(ids)
            ids[pos % len(ids)], ids[j] = ids[j], ids[pos % len(ids)]
    in_vocab = all(0 <= t < n for t in ids)
    with_bos = ids if ids and ids[0] == tok.bos else [tok.bos] + ids
    for strict in (False, True):
        try:
            piece = tok.decode(ids, strict=strict)
        except TokenizerError as e:
            assert str(e) and "\n" not in str(e)
            assert not in_vocab or (strict and not tok.grammar.is_valid(with_bos)), (strict, str(e))
        else:
            assert in_vocab and (not strict or tok.grammar.is_valid(with_bos))
            assert_valid_music(tok, piece)


def test_decode_accepts_arrays_and_refuses_non_integer_ids():
    ids = DEFAULT.encode(Piece([Note(0, 1, 60)]))
    expected = DEFAULT.decode(ids).notes
    assert DEFAULT.decode(ids.astype(np.int64)).notes == expected
    assert DEFAULT.decode(ids.tolist()).notes == expected
    assert DEFAULT.decode(ids[None, :]).notes == expected  # a batch of one
    assert DEFAULT.decode(ids[1:]).notes == expected  # read as if BOS were there
    assert DEFAULT.decode([]).notes == []
    with pytest.raises(TokenizerError, match="integers"):
        DEFAULT.decode(ids.astype(np.float32))


def test_strict_decoding_checks_what_follows_eos():
    ids = DEFAULT.encode(Piece([Note(0, 1, 60)])).tolist()
    assert DEFAULT.decode(ids + [DEFAULT.pad] * 3, strict=True).notes == DEFAULT.decode(ids).notes
    trailing = ids + [DEFAULT.index["PITCH_60"]]
    assert not DEFAULT.grammar.is_valid(trailing)
    with pytest.raises(TokenizerError, match="may not follow EOS"):
        DEFAULT.decode(trailing, strict=True)
    assert len(DEFAULT.decode(trailing).notes) == 1  # lenient: stops at EOS


def test_truncated_sequence_decodes_what_is_complete():
    ids = DEFAULT.encode(Piece([Note(0, 1, 60), Note(1, 1, 62)])).tolist()
    cut = ids[:names(DEFAULT, ids).index("PITCH_62") + 1]  # ends inside the second note
    out = DEFAULT.decode(cut, strict=True)
    assert [n.pitch for n in out.notes] == [60] and out.stats["incomplete_notes"] == 1


def named(tok, *kinds, pos=range(0), also=()):
    """Token names, spelled out: every token of `kinds` (e.g. "PITCH": PITCH_21 ... PITCH_108),
    the positions POS_k for k in `pos`, and the names in `also`."""
    return ({n for n in tok.vocab if n.split("_")[0] in kinds} | {f"POS_{k}" for k in pos} | set(also))


NOTE_END = ("BAR", "EOS")  # what may close a group besides a next note or position
# (tokenizer, prefix after BOS, exactly the tokens that may come next), written from the grammar's
# docstring: bar = BAR [TS] group*, group = POS [TEMPO] note*, note = [PROGRAM] PITCH [VEL] DUR+
NEXT_TOKENS = [
    ("default", (), lambda t: {"BAR"}),
    ("default", ("BAR",), lambda t: named(t, "TS", pos=range(48), also=NOTE_END)),  # 4/4: 48 steps
    ("default", ("BAR", "TS_3/4"), lambda t: named(t, pos=range(36), also=NOTE_END)),
    ("default", ("BAR", "TS_3/4", "POS_30"), lambda t: named(t, "TEMPO", "PITCH")),  # never empty
    ("default", ("BAR", "TS_3/4", "POS_30", "TEMPO_2"), lambda t: named(t, "PITCH", pos=range(31, 36), also=NOTE_END)),
    ("default", ("BAR", "POS_30", "PITCH_60"), lambda t: named(t, "VEL")),
    ("default", ("BAR", "POS_30", "PITCH_60", "VEL_1"), lambda t: named(t, "DUR")),
    ("default", ("BAR", "POS_30", "PITCH_60", "VEL_1", "DUR_12"), lambda t: named(t, "PITCH", pos=range(31, 48),
                                                                                   also=NOTE_END)),
    ("default", ("BAR", "POS_30", "PITCH_60", "VEL_1", "DUR_48"),  # only the longest duration continues
     lambda t: named(t, "DUR", "PITCH", pos=range(31, 48), also=NOTE_END)),
    ("default", ("BAR", "TS_3/4", "POS_35", "PITCH_60", "VEL_1", "DUR_1"), lambda t: named(t, "PITCH", also=NOTE_END)),
    ("default", ("BAR", "TS_3/4", "POS_0", "PITCH_60", "VEL_1", "DUR_1", "BAR"),  # the meter carries over
     lambda t: named(t, "TS", pos=range(36), also=NOTE_END)),
    ("default", ("BAR", "EOS"), lambda t: {"PAD"}),
    ("default", ("BAR", "EOS", "PAD"), lambda t: {"PAD"}),
    ("no-velocity-short-durations", ("BAR", "POS_0", "PITCH_60"), lambda t: named(t, "DUR")),
    ("no-velocity-short-durations", ("BAR", "POS_0", "PITCH_60", "DUR_11"),
     lambda t: named(t, "PITCH", pos=range(1, 48), also=NOTE_END)),
    ("no-velocity-short-durations", ("BAR", "POS_0", "PITCH_60", "DUR_12"),  # a quarter is the longest here
     lambda t: named(t, "DUR", "PITCH", pos=range(1, 48), also=NOTE_END)),
    ("programs-drums", ("BAR", "POS_0"), lambda t: named(t, "TEMPO", "PROGRAM")),
    ("programs-drums", ("BAR", "POS_0", "PROGRAM_DRUMS"), lambda t: named(t, "PITCH")),
    ("programs-drums", ("BAR", "POS_0", "PROGRAM_0", "PITCH_60"), lambda t: named(t, "VEL")),
    ("programs-drums", ("BAR", "POS_0", "PROGRAM_0", "PITCH_60", "VEL_4", "DUR_3"),
     lambda t: named(t, "PROGRAM", pos=range(1, 48), also=NOTE_END)),
    ("coarse-grid", ("BAR",), lambda t: named(t, "TS", pos=range(16), also=NOTE_END)),  # 4 steps a quarter
    ("coarse-grid", ("BAR", "TS_6/4"), lambda t: named(t, pos=range(24), also=NOTE_END)),
    ("coarse-grid", ("BAR", "POS_15", "PITCH_40", "VEL_126", "DUR_16"), lambda t: named(t, "DUR", "PITCH",
                                                                                        also=NOTE_END)),
    ("shared-durations", ("BAR", "POS_0", "PITCH_60", "VEL_1"), lambda t: named(t, "DUR", "PITCH")),  # a chord
    ("shared-durations", ("BAR", "POS_0", "PITCH_60", "VEL_1", "PITCH_64", "VEL_1", "DUR_12"),
     lambda t: named(t, "PITCH", pos=range(1, 48), also=NOTE_END)),
    ("shared-programs-no-velocity", ("BAR", "POS_0", "PROGRAM_0", "PITCH_60"), lambda t: named(t, "DUR", "PROGRAM")),
]


@pytest.mark.parametrize("name, prefix, expected", NEXT_TOKENS,
                         ids=[f"{n}:{' '.join(p) or 'BOS'}" for n, p, _ in NEXT_TOKENS])
def test_grammar_allows_exactly_the_hand_written_next_tokens(name, prefix, expected):
    tok = TOKENIZERS[name]
    want = expected(tok)
    assert want <= set(tok.vocab)  # every name written above is a real token
    state = tok.grammar.state_after([tok.bos] + [tok.index[t] for t in prefix])
    assert set(names(tok, np.flatnonzero(tok.grammar.allowed(state)))) == want
    for u, token in enumerate(tok.vocab):  # and one token at a time, as strict decoding checks
        assert valid(tok, *prefix, token) == (token in want), token
        assert tok.grammar.is_allowed(state, u) == (token in want), token


@pytest.mark.parametrize("name, tokens, ok", [
    ("no-velocity-short-durations", ("BAR", "POS_0", "PITCH_60", "DUR_12", "DUR_12", "DUR_1", "EOS"), True),
    ("no-velocity-short-durations", ("BAR", "POS_0", "PITCH_60", "DUR_6", "DUR_6"), False),  # DUR_12 spells it
    ("programs-drums", ("BAR", "POS_0", "TEMPO_0", "PROGRAM_DRUMS", "PITCH_36", "VEL_4", "DUR_3", "PROGRAM_40",
                        "PITCH_60", "VEL_1", "DUR_12", "BAR", "EOS"), True),
    ("programs-drums", ("BAR", "POS_0", "PITCH_60", "VEL_1", "DUR_1"), False),  # a note names its program
    ("coarse-grid", ("BAR", "POS_16"), False),  # 4/4 has 16 steps of a 16th
    ("coarse-grid", ("BAR", "TS_6/4", "POS_23", "PITCH_80", "VEL_0", "DUR_16", "BAR", "POS_23", "TEMPO_5"), True),
    ("shared-programs-no-velocity", ("BAR", "POS_0", "PROGRAM_0", "PITCH_60", "PROGRAM_0", "PITCH_64", "DUR_24",
                                     "EOS"), True),
    ("shared-programs-no-velocity", ("BAR", "POS_0", "PROGRAM_0", "PITCH_60", "PITCH_64", "DUR_24"), False),
    ("shared-programs-no-velocity", ("BAR", "POS_0", "PROGRAM_0", "PITCH_60", "PROGRAM_0", "PITCH_64", "EOS"), False),
])
def test_hand_written_sequences_of_each_vocabulary(name, tokens, ok):
    assert valid(TOKENIZERS[name], *tokens) is ok


# ----------------------------------------------------------------------------------- config/JSON
EVERY_FIELD_CHANGED = TokenizerConfig(steps_per_quarter=24, max_bar_quarters=12, pitch_low=30, pitch_high=90,
                                      velocity_bins=8, max_duration_quarters=6, tempo_bins=20, tempo_min=40.5,
                                      tempo_max=250.25, programs=True, drums=True, shared_durations=True,
                                      pitch_order="down", key_tokens=True, styles=("jigs", "reels"))


def test_every_config_field_differs_from_its_default_in_the_fixture():
    default = TokenizerConfig()
    for f in dataclasses.fields(TokenizerConfig):
        assert getattr(EVERY_FIELD_CHANGED, f.name) != getattr(default, f.name), f.name


@pytest.mark.parametrize("config", [TokenizerConfig(), EVERY_FIELD_CHANGED, TokenizerConfig(velocity_bins=0)])
def test_save_and_load_give_an_equal_tokenizer(tmp_path, config):
    tok = Tokenizer(config)
    path = tmp_path / "sub" / "tokenizer.json"
    tok.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["tokenizer.json"]  # no temp file left behind
    loaded = Tokenizer.load(path)
    assert loaded == tok and hash(loaded) == hash(tok)
    for f in dataclasses.fields(TokenizerConfig):
        assert getattr(loaded.config, f.name) == getattr(config, f.name), f.name
        assert type(getattr(loaded.config, f.name)) is type(getattr(config, f.name)), f.name
    assert loaded.vocab == tok.vocab and loaded.config.digest() == config.digest()
    piece = Piece([Note(0, 1, 60, program=3), Note(0.5, 6, 64)], tempos=[Tempo(0, 90)])
    assert loaded.encode(piece).tolist() == tok.encode(piece).tolist()
    data = json.loads(path.read_text())
    assert data["format"] == "melodygru-tokenizer" and data["version"] == 1
    # settings added later are written only when switched on, so older files and digests stay valid
    later = {"shared_durations", "pitch_order", "key_tokens", "styles"}
    assert set(data["config"]) == {f.name for f in dataclasses.fields(TokenizerConfig)
                                   if f.name not in later or getattr(config, f.name) != getattr(TokenizerConfig, f.name)}


def test_different_configs_give_different_tokenizers_and_digests():
    a, b = Tokenizer(), Tokenizer(TokenizerConfig(velocity_bins=8))
    assert a != b and a.config.digest() != b.config.digest()
    assert a == Tokenizer(TokenizerConfig()) and a.config.digest() == TokenizerConfig().digest()


def _tamper(tmp_path, edit):
    path = tmp_path / "tokenizer.json"
    data = DEFAULT.to_dict()
    edit(data)
    path.write_text(json.dumps(data))
    return path


def _swap_two_tokens(d):
    d["vocab"][5], d["vocab"][6] = d["vocab"][6], d["vocab"][5]


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(format="something-else"), "not a melodygru tokenizer file"),
    (lambda d: d.pop("format"), "not a melodygru tokenizer file"),
    (lambda d: d.update(version=2), "version 2 is not supported"),
    (lambda d: d.pop("version"), "version None is not supported"),
    (_swap_two_tokens, "vocabulary does not match"),
    (lambda d: d["vocab"].append("PITCH_200"), "vocabulary does not match"),
    (lambda d: d.pop("vocab"), "vocabulary does not match"),
    (lambda d: d["config"].update(colour="blue"), "unknown tokenizer setting.*colour"),
    (lambda d: d["config"].update(steps_per_quarter="12"), "'steps_per_quarter' has the wrong type"),
    (lambda d: d["config"].update(steps_per_quarter=12.0), "'steps_per_quarter' has the wrong type"),
    (lambda d: d["config"].update(programs=1), "'programs' has the wrong type"),
    (lambda d: d["config"].update(velocity_bins=True), "'velocity_bins' has the wrong type"),
    (lambda d: d["config"].update(tempo_min="30"), "'tempo_min' has the wrong type"),
    (lambda d: d["config"].update(steps_per_quarter=0), "bad tokenizer config.*steps_per_quarter"),
    (lambda d: d["config"].update(pitch_low=100, pitch_high=50), "bad tokenizer config.*pitch_low"),
    (lambda d: d["config"].update(max_bar_quarters=3), "bad tokenizer config.*max_bar_quarters"),
    (lambda d: d["config"].update(tempo_max=float("inf")), "bad tokenizer config.*tempo"),
    (lambda d: d.update(config=[1, 2]), "config must be a JSON object"),
    (lambda d: d.pop("config"), "config must be a JSON object"),
])
def test_tampered_tokenizer_files_are_refused_clearly(tmp_path, edit, message):
    path = _tamper(tmp_path, edit)
    with pytest.raises(TokenizerError, match=message):
        Tokenizer.load(path)


@pytest.mark.parametrize("content, message", [
    ("{", "is not valid JSON"),
    ("", "is not valid JSON"),
    ("[1, 2, 3]", "not a melodygru tokenizer file"),
    ("null", "not a melodygru tokenizer file"),
    (b"\xff\xfe\x00garbage\x80", "not a text"),
])
def test_unreadable_tokenizer_files_are_refused_clearly(tmp_path, content, message):
    path = tmp_path / "tokenizer.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(TokenizerError, match=message):
        Tokenizer.load(path)


def test_missing_tokenizer_file_is_a_clear_error(tmp_path):
    with pytest.raises(TokenizerError, match="cannot read tokenizer file .*nope.json"):
        Tokenizer.load(tmp_path / "nope.json")
    with pytest.raises(TokenizerError, match="cannot read tokenizer file"):
        Tokenizer.load(tmp_path)  # a folder


@pytest.mark.parametrize("changes", [
    dict(steps_per_quarter=0), dict(steps_per_quarter=97), dict(max_bar_quarters=33), dict(max_bar_quarters=2),
    dict(pitch_low=-1), dict(pitch_high=128), dict(velocity_bins=128), dict(velocity_bins=-1),
    dict(max_duration_quarters=0), dict(tempo_bins=0), dict(tempo_min=0), dict(tempo_min=300, tempo_max=30),
    dict(tempo_max=float("nan")), dict(pitch_order="sideways"),
])
def test_bad_configs_are_refused(changes):
    with pytest.raises(TokenizerError, match="bad tokenizer config"):
        TokenizerConfig(**changes)


@pytest.mark.parametrize("changes", [dict(max_bar_quarters=4), dict(steps_per_quarter=1), dict(steps_per_quarter=5),
                                     dict(pitch_low=60, pitch_high=60), dict(tempo_bins=1), dict(velocity_bins=1)])
def test_extreme_but_valid_configs_round_trip_a_small_piece(changes):
    tok = Tokenizer(TokenizerConfig(**changes))
    spq = tok.config.steps_per_quarter
    low, high = tok.config.pitch_low, tok.config.pitch_high
    notes = [Note(0, 1, low), Note(1, 2, high), Note(3 + (spq - 1) / spq, 5, low), Note(11, 1 / spq, high)]
    ids = tok.encode(Piece(notes, time_signatures=[TimeSignature(0, 4, 4)]))
    assert tok.grammar.is_valid(ids)
    assert decoded_keys(tok.decode(ids, strict=True), spq) == Counter(tok.note_key(n) for n in notes)


def test_a_sequence_that_states_4_4_only_later_decodes_to_one_meter():
    t = DEFAULT
    ids = [t.bos, t.bar, t.pos_offset, t.pitch_offset + 40, t.vel_offset, t.dur_offset + 11,
           t.bar, t.meter_token(4, 4), t.pos_offset, t.pitch_offset + 42, t.vel_offset, t.dur_offset + 11, t.eos]
    piece = t.decode(ids, strict=True)
    assert piece.time_signatures == [TimeSignature(0.0, 4, 4)] and len(piece.notes) == 2
    ids[7] = t.meter_token(3, 4)  # a real change stays
    assert [(m.time, m.numerator) for m in t.decode(ids, strict=True).time_signatures] == [(0.0, 4), (4.0, 3)]
