"""`melodygru generate` end to end on a tiny run directory built here: every option through
click's CliRunner, seeds, the primer, file naming, and one-line errors for bad checkpoints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tensorflow  # noqa: F401  (a hard dependency: missing, the module must fail, not skip)
from click.testing import CliRunner

from melodygru.cli.app import main
from melodygru.core.events import KeySignature, Note, Piece, Tempo, TimeSignature
from melodygru.io.readers import read_file
from melodygru.io.writers import write_midi
from melodygru.tokens.config import TokenizerConfig
from melodygru.tokens.tokenizer import Tokenizer

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real run directory: two epochs of `melodygru.train` on toy scales (a few seconds)."""
    from toy_tokens import toy_corpus, toy_tokenizer

    from melodygru.training.config import TrainConfig
    from melodygru.training.run import train

    tokenizer = toy_tokenizer()
    path = tmp_path_factory.mktemp("run") / "tiny"
    config = TrainConfig(preset="tiny", epochs=2, seq_len=32, batch_size=16, lr=1e-2, steps_per_execution=4)
    train(toy_corpus(tokenizer, 40), tokenizer, path, config, log=lambda line: None)
    return path


@pytest.fixture(scope="module")
def primer_file(tmp_path_factory):
    """Six bars of 3/4 at 100 bpm in D major, on a violin (program 40)."""
    scale = [62, 64, 66, 67, 69, 71, 73, 74]
    notes = [Note(i * 1.0, 1.0, scale[i % 8], 80, program=40) for i in range(18)]
    piece = Piece(notes, [Tempo(0.0, 100.0)], [TimeSignature(0.0, 3, 4)], [KeySignature(0.0, 2, "major")])
    return write_midi(piece, tmp_path_factory.mktemp("primer") / "primer.mid")


def gen(run_dir, out, *args):
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(run_dir), "--out", str(out), *map(str, args)])
    return res


def ok(res):
    assert res.exit_code == 0, res.output + (f"\n{res.exception!r}" if res.exception else "")
    return res


def test_generate_writes_a_valid_midi_and_reports_it(run_dir, tmp_path):
    res = ok(gen(run_dir, tmp_path / "out", "--length", 96, "--seed", 1))
    midi = tmp_path / "out" / "sample-001.mid"
    assert midi.is_file()
    [piece] = read_file(midi)
    line = next(line for line in res.output.splitlines() if line.startswith(str(midi)))
    assert f"{len(piece.notes)} notes" in line and " s " in line and "bars" in line
    assert "seed 1" in res.output


def test_every_sample_follows_the_grammar(run_dir, tmp_path):
    from melodygru.generation.generate import load_checkpoint, sample

    ckpt = load_checkpoint(run_dir)
    for s in sample(ckpt, length=150, num_samples=6, temperature=1.3, top_k=20, top_p=0.95, seed=3):
        assert len(s.ids) == 151 and not s.ended
        ckpt.tokenizer.decode(s.ids, strict=True)
        assert s.piece.stats["incomplete_notes"] == 0


def test_same_seed_same_bytes(run_dir, tmp_path):
    for name in ("a", "b", "c"):
        seed = 2 if name == "c" else 7
        ok(gen(run_dir, tmp_path / name, "--length", 128, "--num-samples", 2, "--seed", seed, "--top-p", 0.9))
    for f in ("sample-001.mid", "sample-002.mid"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert (tmp_path / "a" / "sample-001.mid").read_bytes() != (tmp_path / "c" / "sample-001.mid").read_bytes()
    assert (tmp_path / "a" / "sample-001.mid").read_bytes() != (tmp_path / "a" / "sample-002.mid").read_bytes()


def test_never_overwrites_without_force(run_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "sample-002.png").write_bytes(b"someone's plot")
    ok(gen(run_dir, out, "--length", 32, "--seed", 1))
    first = (out / "sample-001.mid").read_bytes()
    res = ok(gen(run_dir, out, "--length", 32, "--seed", 2, "--num-samples", 2))
    assert (out / "sample-001.mid").read_bytes() == first  # untouched
    assert (out / "sample-002.png").read_bytes() == b"someone's plot"
    assert not (out / "sample-002.mid").exists()  # 002 is taken by the .png
    assert {p.name for p in out.glob("*.mid")} == {"sample-001.mid", "sample-003.mid", "sample-004.mid"}
    assert "sample-003.mid" in res.output and "sample-004.mid" in res.output
    ok(gen(run_dir, out, "--length", 32, "--seed", 2, "--force"))
    assert (out / "sample-001.mid").read_bytes() != first  # --force: numbered from 001, replaced
    assert (out / "sample-001.mid").read_bytes() == (out / "sample-003.mid").read_bytes()


def test_json_summary_and_sampling_options(run_dir, tmp_path):
    res = ok(gen(run_dir, tmp_path, "--length", 64, "--num-samples", 3, "--temperature", 0.7, "--top-k", 10,
                 "--top-p", 0.8, "--seed", 5, "--json"))
    summary = json.loads(res.output)
    assert summary["seed"] == 5 and summary["top_k"] == 10 and summary["top_p"] == 0.8
    assert summary["temperature"] == 0.7 and summary["length"] == 64 and summary["primer"] is None
    assert len(summary["samples"]) == 3
    for s in summary["samples"]:
        [piece] = read_file(s["midi"])
        assert s["notes"] == len(piece.notes) and s["tokens"] == 65
        assert s["seconds"] >= 0 and s["bars"] >= 0 and s["wav"] is None and s["png"] is None


def test_greedy_is_deterministic_without_a_seed(run_dir, tmp_path):
    ok(gen(run_dir, tmp_path / "a", "--length", 48, "--temperature", 0))
    ok(gen(run_dir, tmp_path / "b", "--length", 48, "--temperature", 0))
    assert (tmp_path / "a" / "sample-001.mid").read_bytes() == (tmp_path / "b" / "sample-001.mid").read_bytes()


def test_primer_opening_is_kept_with_its_tempo_meter_key_and_instrument(run_dir, primer_file, tmp_path):
    res = ok(gen(run_dir, tmp_path, "--length", 80, "--seed", 4, "--primer", primer_file, "--primer-bars", 2,
                 "--json"))
    summary = json.loads(res.output)
    assert summary["primer"]["bars"] == 2 and summary["primer"]["notes"] == 6
    [out] = read_file(summary["samples"][0]["midi"])
    [original] = read_file(primer_file)
    opening = [(n.onset, n.duration, n.pitch) for n in original.notes[:6]]
    assert [(n.onset, n.duration, n.pitch) for n in out.notes if n.onset <= 5.0] == opening
    assert out.tempos[0].time == 0 and out.tempos[0].bpm == pytest.approx(100.0, abs=1e-3)  # exact, not a bin
    assert (out.time_signatures[0].numerator, out.time_signatures[0].denominator) == (3, 4)
    assert out.key_signatures and out.key_signatures[0].sharps == 2
    assert {n.program for n in out.notes} == {40}


def test_primer_tokens_open_every_sample(run_dir, primer_file):
    from melodygru.generation.generate import load_checkpoint, sample
    from melodygru.generation.primer import load_primer

    ckpt = load_checkpoint(run_dir)
    primer = load_primer(primer_file, ckpt.tokenizer, bars=0)
    assert primer.bars == 6 and primer.notes == 18
    for s in sample(ckpt, length=40, num_samples=3, seed=1, primer=primer):
        np.testing.assert_array_equal(s.ids[: len(primer.ids)], primer.ids)


def test_tempo_and_program_override(run_dir, primer_file, tmp_path):
    res = ok(gen(run_dir, tmp_path, "--length", 64, "--seed", 1, "--primer", primer_file, "--tempo", 72.5,
                 "--program", 0))
    [out] = read_file(tmp_path / "sample-001.mid")
    assert [(t.time, round(t.bpm, 3)) for t in out.tempos] == [(0.0, 72.5)]
    assert {n.program for n in out.notes} == {0}
    assert "primer" in res.output and "first 4 bars" in res.output


def test_audio_and_plot(run_dir, tmp_path):
    res = ok(gen(run_dir, tmp_path, "--length", 48, "--seed", 1, "--audio", "--plot"))
    wav, png = tmp_path / "sample-001.wav", tmp_path / "sample-001.png"
    assert wav.read_bytes()[:4] == b"RIFF" and png.read_bytes()[:4] == b"\x89PNG"
    for path in (wav, png):
        assert any(line.startswith(str(path)) and "notes" in line and "bars" in line
                   for line in res.output.splitlines())


def test_score_and_compressed_audio(run_dir, tmp_path):
    """--score writes MusicXML and its SVG page beside the MIDI file; --audio-format ogg (implying
    --audio) an Ogg file; the renderer and the score's key are printed and in --json."""
    import soundfile
    from music21 import converter

    out = json.loads(ok(gen(run_dir, tmp_path, "--length", 48, "--seed", 1, "--audio-format", "ogg", "--score",
                            "--json")).output)
    [s] = out["samples"]
    assert s["audio"].endswith("sample-001.ogg") and s["svg"].endswith("sample-001.svg")
    assert s["audio_renderer"].startswith(("FluidSynth (TimGM6mb.sf2)", "plucked-tone fallback: "))
    assert "key " in s["score_report"]
    data, rate = soundfile.read(s["audio"])
    assert rate == 22050 and abs(len(data) / rate - s["seconds"]) < 1.5 and np.abs(data).max() > 0.3
    written = read_file(s["midi"])[0]
    score = converter.parse(s["musicxml"])
    heads = [(n.getOffsetInHierarchy(score), h.pitch.midi) for n in score.recurse().notes
             for h in (n.notes if n.isChord else [n]) if (h.tie or n.tie) is None or (h.tie or n.tie).type == "start"]
    assert sorted(heads) == sorted({(n.onset, n.pitch) for n in written.notes})  # unisons once
    assert "<svg" in Path(s["svg"]).read_text()[:2000]
    again = ok(gen(run_dir, tmp_path, "--length", 48, "--seed", 1, "--score"))
    assert str(tmp_path / "sample-002.musicxml") in again.output  # sample-001's files are never touched


def test_allow_end_stops_samples_at_eos(run_dir, tmp_path):
    """--allow-end lets a sample stop where the model ends the piece; without it every sample has
    all its tokens. Top-k and top-p are off, so both runs draw the same tokens until the EOS."""
    length = 200
    ended = json.loads(ok(gen(run_dir, tmp_path / "end", "--length", length, "--num-samples", 4, "--seed", 1,
                              "--allow-end", "--json")).output)
    held = json.loads(ok(gen(run_dir, tmp_path / "held", "--length", length, "--num-samples", 4, "--seed", 1,
                             "--json")).output)
    assert ended["allow_end"] is True and held["allow_end"] is False
    for s in held["samples"]:
        assert s["ended_with_eos"] is False and s["tokens"] == length + 1  # BOS + every token
    stopped = [s for s in ended["samples"] if s["ended_with_eos"]]
    assert any(s["tokens"] < length + 1 for s in stopped)  # the toy model ends its scales early
    for e, h in zip(ended["samples"], held["samples"]):
        assert e["tokens"] <= length + 1 and (e["ended_with_eos"] or e["tokens"] == length + 1)
        [short], [full] = read_file(e["midi"]), read_file(h["midi"])
        short_notes = sorted((n.onset, n.duration, n.pitch) for n in short.notes)
        full_notes = sorted((n.onset, n.duration, n.pitch) for n in full.notes)
        last = short_notes[-1][0]  # the same music, cut at the EOS (maybe inside the last chord)
        assert [n for n in full_notes if n[0] < last] == [n for n in short_notes if n[0] < last]
        assert not Counter(short_notes) - Counter(full_notes)
        assert e["notes"] == len(short.notes) and e["seconds"] <= h["seconds"]
        if e["tokens"] < length + 1:
            assert len(short.notes) < len(full.notes)


# --------------------------------------------------------------------------- errors
def one_line_error(res, *words):
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    for w in words:
        assert w in lines[0], lines[0]


def test_missing_checkpoint(tmp_path):
    one_line_error(gen(tmp_path / "nowhere", tmp_path), "does not exist")
    (tmp_path / "empty").mkdir()
    one_line_error(gen(tmp_path / "empty", tmp_path), "missing model.keras, tokenizer.json, config.json")
    no_model = tmp_path / "no-model"  # a run killed before its first epoch finished
    no_model.mkdir()
    Tokenizer().save(no_model / "tokenizer.json")
    (no_model / "config.json").write_text("{}")
    one_line_error(gen(no_model, tmp_path), f"checkpoint {no_model} is incomplete: missing model.keras (")
    one_line_error(gen(no_model / "tokenizer.json", tmp_path), "is not a directory")


def test_missing_default_checkpoint(tmp_path, monkeypatch):
    import melodygru.generation.generate

    monkeypatch.setattr(melodygru.generation.generate, "DEFAULT_CHECKPOINT", tmp_path / "checkpoints" / "bach")
    res = CliRunner().invoke(main, ["generate", "--out", str(tmp_path)])
    one_line_error(res, "default checkpoint", "--checkpoint")


def test_mismatched_or_broken_checkpoint(run_dir, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    Tokenizer(TokenizerConfig(velocity_bins=5)).save(other / "tokenizer.json")
    one_line_error(gen(other, tmp_path), "different runs")
    same_size = Tokenizer(TokenizerConfig(velocity_bins=0, tempo_min=40.0))  # same vocabulary size, other bins
    same_size.save(other / "tokenizer.json")
    one_line_error(gen(other, tmp_path), "tokenizer_digest")
    shutil.copy(run_dir / "tokenizer.json", other / "tokenizer.json")
    config = json.loads((run_dir / "config.json").read_text())
    config["model"]["vocab_size"] += 1
    (other / "config.json").write_text(json.dumps(config))
    one_line_error(gen(other, tmp_path), "vocab_size")
    shutil.copy(run_dir / "config.json", other / "config.json")
    (other / "model.keras").write_bytes(b"not a zip file")
    one_line_error(gen(other, tmp_path), "cannot load", "model.keras")
    (other / "tokenizer.json").write_text("{}")
    one_line_error(gen(other, tmp_path), "tokenizer")


def test_bad_primer_and_options(run_dir, tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd garbage")
    one_line_error(gen(run_dir, tmp_path, "--primer", bad), "primer")
    one_line_error(gen(run_dir, tmp_path, "--primer", tmp_path / "missing.mid"), "primer")
    assert gen(run_dir, tmp_path, "--top-p", 0).exit_code == 2  # click's usage errors
    assert gen(run_dir, tmp_path, "--temperature", -1).exit_code == 2
    assert gen(run_dir, tmp_path, "--program", 128).exit_code == 2
    assert not list(tmp_path.glob("sample-*"))  # nothing written, no names left claimed


def test_generate_help_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from melodygru.cli import main\n"
        "r = CliRunner().invoke(main, ['generate', '--help'])\n"
        "assert r.exit_code == 0 and '--top-p' in r.output, r.output\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_same_seed_same_bytes_across_processes(tmp_path):
    """Two separate `melodygru generate` processes (nothing cached in between) write the same bytes."""
    checkpoint = REPO / "checkpoints" / "bach"
    if not (checkpoint / "model.keras").is_file():
        pytest.fail(f"the shipped checkpoint {checkpoint} is missing")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    written = []
    for name in ("a", "b"):
        out = tmp_path / name
        cmd = [sys.executable, "-m", "melodygru.cli", "generate", "--checkpoint", str(checkpoint),
               "--length", "64", "--num-samples", "2", "--seed", "3", "--out", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        written.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert sorted(written[0]) == ["sample-001.mid", "sample-002.mid"]
    assert written[0] == written[1]
    assert written[0]["sample-001.mid"] != written[0]["sample-002.mid"]  # two draws, not one copied


def test_json_on_stdout_stays_json_with_audio_score_and_plot_under_ci(run_dir, tmp_path):
    """pyfluidsynth 1.4 (imported by pretty_midi) prints where it found its library when CI is set;
    in a fresh process with every renderer used, --json's stdout must still be one JSON document."""
    env = {**os.environ, "CI": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, "-m", "melodygru.cli", "generate", "--checkpoint", str(run_dir), "--length", "48",
           "--seed", "2", "--audio", "--plot", "--score", "--json", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [sample] = json.loads(proc.stdout)["samples"]
    assert Path(sample["wav"]).stat().st_size > 44 and Path(sample["png"]).is_file()


@pytest.mark.skipif(not (REPO / "checkpoints" / "bach" / "model.keras").is_file(), reason="no shipped checkpoint yet")
def test_shipped_checkpoint_generates(tmp_path):
    res = CliRunner().invoke(main, ["generate", "--length", "64", "--seed", "1", "--out", str(tmp_path)])
    ok(res)
    assert (tmp_path / "sample-001.mid").is_file()


def test_default_temperature_comes_from_sampling_json(run_dir, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    summary = json.loads(ok(gen(run, tmp_path / "a", "--length", 32, "--seed", 3, "--json")).output)
    assert summary["temperature"] == 1.0  # no sampling.json: the model as trained
    (run / "sampling.json").write_text(json.dumps({"temperature": 0.0}))
    summary = json.loads(ok(gen(run, tmp_path / "b", "--length", 32, "--seed", 3, "--json")).output)
    assert summary["temperature"] == 0.0
    # temperature 0 is greedy: the seed no longer matters
    ok(gen(run, tmp_path / "c", "--length", 32, "--seed", 4))
    assert (tmp_path / "b" / "sample-001.mid").read_bytes() == (tmp_path / "c" / "sample-001.mid").read_bytes()
    summary = json.loads(ok(gen(run, tmp_path / "d", "--length", 32, "--temperature", 1.5, "--json")).output)
    assert summary["temperature"] == 1.5  # an explicit option wins
    (run / "sampling.json").write_text('{"temperature": "warm"}')
    one_line_error(gen(run, tmp_path / "e", "--length", 32), "sampling.json")


def test_sampling_json_also_sets_top_k_and_top_p(run_dir, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / "sampling.json").write_text(json.dumps({"temperature": 0.9, "top_p": 0.5, "chosen_by": "a note"}))
    res = ok(gen(run, tmp_path / "a", "--length", 48, "--seed", 5))
    assert "temperature 0.9, top-p 0.5" in res.output and "top-k" not in res.output
    summary = json.loads(ok(gen(run, tmp_path / "b", "--length", 48, "--seed", 5, "--json")).output)
    assert (summary["temperature"], summary["top_k"], summary["top_p"]) == (0.9, 0, 0.5)
    # the same as giving the options by hand: the same bytes
    ok(gen(run, tmp_path / "c", "--length", 48, "--seed", 5, "--temperature", 0.9, "--top-p", 0.5))
    assert (tmp_path / "a" / "sample-001.mid").read_bytes() == (tmp_path / "c" / "sample-001.mid").read_bytes()
    # an explicit option wins over the file; top-k comes from the file when it sets one
    (run / "sampling.json").write_text(json.dumps({"top_k": 3, "top_p": 0.5}))
    summary = json.loads(ok(gen(run, tmp_path / "d", "--length", 48, "--top-p", 1, "--json")).output)
    assert (summary["temperature"], summary["top_k"], summary["top_p"]) == (1.0, 3, 1.0)
    for bad in ('{"top_p": 0}', '{"top_p": 1.5}', '{"top_k": -1}', '{"top_k": 2.5}', '[0.8]', '{"top_k": true}'):
        (run / "sampling.json").write_text(bad)
        one_line_error(gen(run, tmp_path / "e", "--length", 32), "sampling.json")


def test_scale_penalty_from_the_command_line_and_sampling_json(run_dir, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    args = ("--length", 96, "--seed", 8, "--candidates", 1, "--temperature", 1.5)
    free = json.loads(ok(gen(run, tmp_path / "a", *args, "--json")).output)
    assert free["scale_penalty"] == 0.0
    by_hand = json.loads(ok(gen(run, tmp_path / "b", *args, "--scale-penalty", 6, "--json")).output)
    assert by_hand["scale_penalty"] == 6.0
    (run / "sampling.json").write_text(json.dumps({"scale_penalty": 6}))
    from_file = ok(gen(run, tmp_path / "c", *args))
    assert "scale penalty 6" in from_file.output
    assert (tmp_path / "b" / "sample-001.mid").read_bytes() == (tmp_path / "c" / "sample-001.mid").read_bytes()
    assert (tmp_path / "a" / "sample-001.mid").read_bytes() != (tmp_path / "b" / "sample-001.mid").read_bytes()
    for bad in ('{"scale_penalty": -1}', '{"scale_penalty": 21}', '{"scale_penalty": "high"}'):
        (run / "sampling.json").write_text(bad)
        one_line_error(gen(run, tmp_path / "e", "--length", 32), "sampling.json")
    one_line_error(gen(run_dir, tmp_path / "f", "--length", 32, "--scale-penalty", 30), "scale-penalty")
