"""`melodygru harmonize` with the shipped Bach model: the melody kept note for note as the top
voice, every other note below the melody note it sounds with, four voices, the melody's meter,
melody and harmony on tracks of their own, MusicXML with --score, one-line errors."""

from __future__ import annotations

import json

import mido
import pytest
from click.testing import CliRunner

from melodygru.cli.app import main
from melodygru.core.events import Note, Piece, TimeSignature
from melodygru.generation.harmonize import MELODY_PROGRAM, check_harmony, melody_line
from melodygru.io.readers import read_file
from melodygru.io.writers import write_midi


@pytest.fixture(scope="module")
def soprano(tmp_path_factory):
    """The top line of a chorale from music21's corpus, alone in a MIDI file."""
    from music21 import corpus

    from melodygru.io.readers import read_score

    chorale = read_score(corpus.getComposer("bach")[7])[0]
    line = melody_line(chorale, 12)
    path = tmp_path_factory.mktemp("melody") / "soprano.mid"
    write_midi(chorale.replace(notes=[Note(m.onset / 12, m.duration / 12, m.pitch) for m in line]), path)
    return path, line


def test_the_melody_is_kept_and_the_voices_lie_below_it(soprano, tmp_path):
    path, line = soprano
    res = CliRunner().invoke(main, ["harmonize", str(path), "--out", str(tmp_path), "-k", "2", "--candidates", "4",
                                    "--seed", "1", "--score", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["melody_notes"] == len(line) and len(out["samples"]) == 2
    for s in out["samples"]:
        written = read_file(s["midi"])[0]
        check = check_harmony(line, written, 12)  # the file, read back
        assert check["melody_kept"] == 1.0 and check["below_melody"] == 1.0, check
        assert check["three_voices"] >= 0.8 and check["other_notes"] >= 2 * len(line), check
        assert check["parallel_fifths"] == check["parallel_octaves"] == 0, check  # none with the bass
        melody = sorted((n.onset, n.duration, n.pitch) for n in written.notes if n.program == MELODY_PROGRAM)
        assert melody == sorted((m.onset / 12, m.duration / 12, m.pitch) for m in line)
        tracks = [t for t in mido.MidiFile(s["midi"]).tracks if any(m.type == "note_on" for m in t)]
        programs = [{m.program for m in t if m.type == "program_change"} for t in tracks]
        assert {MELODY_PROGRAM} in programs and len(tracks) >= 2  # the melody on a track of its own
        ends = max(n.onset + n.duration for n in written.notes)
        assert ends == pytest.approx(max(m.onset + m.duration for m in line) / 12)  # it ends with the melody
        from music21 import converter

        score = converter.parse(s["score"])
        assert len(score.parts) >= 2 and len(score.flatten().notes) > 0
        assert score.parts[0].partName == "Bright Acoustic Piano"  # the melody's own part, on top
        assert "<svg" in open(s["svg"]).read()[:2000] and "key " in s["score_report"]


def test_a_waltz_melody_keeps_its_meter(tmp_path):
    tune = [67, 72, 74, 76, 74, 72, 71, 72, 74, 72]
    notes = [Note(i * 1.0, 1.0 if i < len(tune) - 1 else 3.0, p) for i, p in enumerate(tune)]
    path = write_midi(Piece(notes, time_signatures=[TimeSignature(0, 3, 4)]), tmp_path / "waltz.mid")
    res = CliRunner().invoke(main, ["harmonize", str(path), "--out", str(tmp_path / "out"), "--candidates", "2",
                                    "--json"])
    assert res.exit_code == 0, res.output
    midi = json.loads(res.output)["samples"][0]["midi"]
    meters = {(m.numerator, m.denominator) for t in mido.MidiFile(midi).tracks for m in t if m.type == "time_signature"}
    assert meters == {(3, 4)}
    check = check_harmony(melody_line(read_file(path)[0], 12), read_file(midi)[0], 12)
    assert check["melody_kept"] == 1.0 and check["below_melody"] == 1.0


def test_harmonize_errors_are_one_line(tmp_path):
    runner = CliRunner()
    empty = write_midi(Piece([]), tmp_path / "empty.mid")
    res = runner.invoke(main, ["harmonize", str(empty), "--out", str(tmp_path / "a")])
    assert res.exit_code != 0 and "error:" in res.output and "Traceback" not in res.output
    high = write_midi(Piece([Note(0, 1, 120)]), tmp_path / "high.mid")
    res = runner.invoke(main, ["harmonize", str(high), "--out", str(tmp_path / "b")])
    assert res.exit_code != 0 and "pitch range" in res.output
    res = runner.invoke(main, ["harmonize", str(tmp_path / "none.mid"), "--out", str(tmp_path / "c")])
    assert res.exit_code == 2 and "does not exist" in res.output
    tune = write_midi(Piece([Note(0, 1, 60)]), tmp_path / "one.mid")
    res = runner.invoke(main, ["harmonize", str(tune), "--piece", "2", "--out", str(tmp_path / "d")])
    assert res.exit_code != 0 and "holds 1 piece(s)" in res.output
    assert not any((tmp_path / d).exists() for d in "abcd")


def test_a_legato_melody_keeps_every_note():
    legato = Piece([Note(0, 1.05, 76), Note(1, 1.05, 74), Note(2, 1.05, 72), Note(3, 1.0, 71)])
    line = melody_line(legato, 12)
    assert [(m.onset, m.duration, m.pitch) for m in line] == [(0, 12, 76), (12, 12, 74), (24, 12, 72), (36, 12, 71)]
    # a soprano held while a lower voice moves stays the line; the lower voice is not melody
    held = Piece([Note(0, 2, 72), Note(0, 1, 60), Note(1, 1, 62), Note(2, 1, 71)])
    assert [(m.onset, m.pitch) for m in melody_line(held, 12)] == [(0, 72), (24, 71)]


def test_a_model_with_velocities_and_instruments_harmonizes_too(tmp_path):
    """Velocity and PROGRAM tokens come between a note's pitch and duration or before its pitch:
    the constraints still hold, every sequence is valid, and no candidate meets a dead end."""
    from pathlib import Path

    from melodygru.generation.generate import load_checkpoint
    from melodygru.generation.harmonize import harmonize

    examples = Path(__file__).resolve().parents[1] / "data" / "examples"
    run = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", str(examples), "--programs", "--preset", "tiny", "--epochs", "1",
                                    "--critic-samples", "0", "--cache-dir", str(tmp_path / "cache"), "-q",
                                    "--out", str(run)])
    assert res.exit_code == 0, res.output
    ckpt = load_checkpoint(run)
    assert ckpt.tokenizer.vel_offset >= 0 and ckpt.tokenizer.program_offset >= 0
    tune = Piece([Note(i * 0.5, 0.5, p) for i, p in enumerate([67, 69, 71, 72, 74, 72, 71, 69, 67])])
    samples, line = harmonize(ckpt, tune, num_samples=2, candidates=2, seed=3)
    for s in samples:
        ckpt.tokenizer.decode(s.ids, strict=True)  # raises on any token the grammar forbids
        check = check_harmony(line, s.piece, 12)
        assert check["melody_kept"] == 1.0 and check["below_melody"] == 1.0


def test_parallel_fifths_and_octaves_between_the_outer_voices_are_counted():
    from melodygru.generation.harmonize import MelodyNote, outer_parallels

    def line(pitches):
        return [MelodyNote(12 * i, 12, p) for i, p in enumerate(pitches)]

    def bass(pitches):
        return [(12 * i, 12, p) for i, p in enumerate(pitches)]

    top = line([72, 74, 76, 74])
    assert outer_parallels(top, bass([60, 62, 64, 62])) == (0, 3)  # octaves all the way
    assert outer_parallels(top, bass([53, 55, 57, 55])) == (3, 0)  # compound fifths all the way
    assert outer_parallels(top, bass([60, 59, 57, 59])) == (0, 0)  # contrary motion
    assert outer_parallels(top, bass([60, 60, 64, 64])) == (0, 0)  # a held bass is no parallel
    assert outer_parallels(line([72, 74]), bass([67, 69])) == (0, 0)  # parallel fourths are no fault
    # a lower note above the melody is not the bass; a melody with nothing below has no interval
    assert outer_parallels(top, [(0, 48, 80)]) == (0, 0)
    # Bach's own harmonization: the check reads it as it reads the model's, from the written notes
    from music21 import corpus

    from melodygru.io.readers import read_score

    chorale = read_score(corpus.getComposer("bach")[7])[0]
    check = check_harmony(melody_line(chorale, 12), chorale, 12)
    assert check["parallel_fifths"] + check["parallel_octaves"] <= check["melody_notes"] // 10


def test_a_repeated_melody_bar_keeps_its_harmony(tmp_path):
    """Where the melody repeats an earlier bar note for note, the harmony of that bar is written
    again, whenever the earlier bar's lower notes lie inside it and nothing sounds across the
    repeated bar's first bar line; read from the written files."""
    phrase = [(72, 1), (71, 1), (69, 1), (67, 1), (65, 2), (64, 2)]  # two bars of 4/4
    tune, t = [], 0.0
    for rep in range(2):
        for p, d in phrase:
            tune.append(Note(t, float(d), p))
            t += d
    tune += [Note(t, 2.0, 62), Note(t + 2, 2.0, 60)]  # a fifth bar to end on
    path = write_midi(Piece(tune, time_signatures=[TimeSignature(0, 4, 4)]), tmp_path / "aa.mid")
    res = CliRunner().invoke(main, ["harmonize", str(path), "--out", str(tmp_path / "out"), "-k", "4",
                                    "--candidates", "2", "--seed", "2", "--json"])
    assert res.exit_code == 0, res.output

    def lower(piece, start, end):  # the non-melody notes of [start, end), from `start`
        return sorted((round(n.onset - start, 3), round(n.duration, 3), n.pitch) for n in piece.notes
                      if n.program != MELODY_PROGRAM and start <= n.onset < end)

    repeated = 0
    for s in json.loads(res.output)["samples"]:
        piece = read_file(s["midi"])[0]
        others = [n for n in piece.notes if n.program != MELODY_PROGRAM]
        crosses = any(n.onset < b - 1e-6 and n.onset + n.duration > b + 1e-6 for n in others for b in (0, 4, 8))
        if not crosses:  # bars 1 and 2 hold their own lower notes and nothing crosses into bar 3
            repeated += 1
            assert lower(piece, 8, 12) == lower(piece, 0, 4) and lower(piece, 12, 16) == lower(piece, 4, 8)
    assert repeated >= 1
