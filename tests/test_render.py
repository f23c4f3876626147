"""Rendering for people, measured on the files written: audio (FluidSynth with the General MIDI
SoundFont, or the fallback's decaying tone and noise drums) read back as WAV / FLAC / Ogg; the
MusicXML score read back by music21 and engraved by verovio; the piano roll's colours."""

import os
import wave

import numpy as np
import pytest
from click.testing import CliRunner

from melodygru.cli import main
from melodygru.core.errors import MelodyGRUError
from melodygru.core.events import KeySignature, Note, Piece, Tempo, TimeSignature
from melodygru.io import audio as audio_mod
from melodygru.io.audio import FALLBACK, FLUIDSYNTH, REQUIRE_ENV, audio_backend, fallback_render, render, write_audio
from melodygru.io.render import PALETTE, write_piano_roll
from melodygru.io.score import write_score
from melodygru.io.writers import seconds

RATE = 22050


def rms(x, a, b, rate=RATE):
    seg = x[int(a * rate):int(b * rate)]
    return float(np.sqrt(np.mean(seg.astype(np.float64) ** 2))) if len(seg) else 0.0


def flatness(x):
    """Spectral flatness: near 1 for noise, near 0 for a tone."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) + 1e-12
    return float(np.exp(np.mean(np.log(spec))) / np.mean(spec))


def read_back(path):
    """(samples as float, sample rate) of a written audio file."""
    import soundfile

    data, rate = soundfile.read(str(path), dtype="float32")
    return data, rate


@pytest.fixture
def no_fluidsynth(monkeypatch):
    """Make the SoundFont synthesizer absent, as on a machine without pyfluidsynth."""
    import sys

    import pretty_midi  # noqa: F401  (first: it notes at import whether pyfluidsynth is there)

    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "fluidsynth", None)


def band(tempo=120.0):
    """Two bars of 4/4: a piano chord and melody, a violin line, and drums alone in bar 2's second half."""
    notes = [Note(0, 2, 60), Note(0, 2, 64), Note(0, 2, 67), Note(2, 1, 72), Note(3, 1, 74),
             Note(0, 1, 76, program=40), Note(1, 1, 79, program=40), Note(2, 2, 81, program=40),
             Note(4, 2, 48, program=32)]
    drums = [Note(6 + i * 0.5, 0.25, p, is_drum=True) for i, p in enumerate((36, 42, 38, 42))]
    return Piece(notes + drums, [Tempo(0, tempo)], [TimeSignature(0, 4, 4)])


# --------------------------------------------------------------------------- audio: the fallback
def test_fallback_is_a_decaying_tone(no_fluidsynth):
    """One long C4: loud after the onset, much quieter a second and a half later, silent after."""
    piece = Piece([Note(0, 4, 60)], [Tempo(0, 120)])  # 2 s
    x = fallback_render(piece, RATE)
    assert rms(x, 0.02, 0.2) > 4 * rms(x, 1.6, 1.95) > 0  # it decays, and it still sounds
    assert rms(x, 2.2, 2.9) < 0.01 * rms(x, 0.02, 0.2)  # released at the note's end
    spectrum = np.abs(np.fft.rfft(x[:RATE]))
    assert abs(np.argmax(spectrum) - 261.6) < 3  # a 1 s window: bins of 1 Hz; C4 is 261.6 Hz


def test_fallback_drums_are_noise_bursts(no_fluidsynth):
    """Where only drums sound there is sound, and it is noise-like, unlike the pitched notes."""
    piece = band()
    x = fallback_render(piece, RATE)
    drums_alone = x[int(3.05 * RATE):int(3.95 * RATE)]  # quarters 6-8 at 120 bpm: only drum notes
    tones = fallback_render(Piece([Note(0, 2, 60)], [Tempo(0, 120)]), RATE)[: int(0.9 * RATE)]
    assert rms(drums_alone, 0, 0.9) > 0.05 * rms(x, 0, 2.5)
    assert flatness(drums_alone) > 5 * flatness(tones)


def test_without_fluidsynth_the_fallback_is_named_and_written(no_fluidsynth, tmp_path):
    renderer, why = audio_backend()
    assert renderer == FALLBACK and "pyfluidsynth" in why
    piece = band()
    path, audio = write_audio(piece, tmp_path / "a.wav")
    assert audio.renderer == FALLBACK and audio.describe().startswith(f"{FALLBACK}: pyfluidsynth")
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        frames = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert abs(len(frames) / RATE - seconds(piece)) < 1.5 and np.abs(frames).max() > 20000


def test_require_soundfont_refuses_the_fallback(no_fluidsynth, monkeypatch):
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(MelodyGRUError, match="pyfluidsynth"):
        render(band())


def test_a_failing_fluidsynth_falls_back_with_its_error(monkeypatch, tmp_path):
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    monkeypatch.setattr(audio_mod, "audio_backend", lambda: (FLUIDSYNTH, "/no/such.sf2"))
    path, audio = write_audio(band(), tmp_path / "a.wav")
    assert audio.renderer == FALLBACK and "FluidSynth failed while rendering" in audio.detail and path.stat().st_size


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
def test_every_format_reads_back(no_fluidsynth, tmp_path, fmt):
    piece = band(tempo=90)
    path, _ = write_audio(piece, tmp_path / f"a.{fmt}")
    data, rate = read_back(path)
    assert rate == RATE and data.ndim == 1
    assert abs(len(data) / rate - seconds(piece)) < 1.5 and np.abs(data).max() > 0.5


def test_compressed_formats_are_smaller(no_fluidsynth, tmp_path):
    sizes = {fmt: write_audio(band(tempo=60), tmp_path / f"a.{fmt}")[0].stat().st_size for fmt in ("wav", "flac", "ogg")}
    assert sizes["ogg"] < sizes["flac"] < sizes["wav"]


# --------------------------------------------------------------------------- audio: the SoundFont
def test_fluidsynth_renders_the_soundfont(tmp_path):
    """The real path: FluidSynth, not the fallback. Required where MELODYGRU_REQUIRE_SOUNDFONT=1
    (CI sets it after installing what the README says); skipped, with the reason, elsewhere."""
    renderer, why = audio_backend()
    if renderer != FLUIDSYNTH:
        if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
            pytest.fail(f"{REQUIRE_ENV} is set but FluidSynth is not there: {why}")
        pytest.skip(f"no SoundFont synthesizer here ({why}); CI installs it and sets {REQUIRE_ENV}=1")
    from music21 import corpus

    from melodygru.io.readers import read_score

    chorale = read_score(corpus.getComposer("bach")[7])[0]
    path, audio = write_audio(chorale, tmp_path / "chorale.ogg")
    assert audio.renderer == FLUIDSYNTH and audio.describe() == "FluidSynth (TimGM6mb.sf2)"
    data, rate = read_back(path)
    assert rate == RATE and abs(len(data) / rate - seconds(chorale)) < 1.5
    assert rms(data, 0.5, seconds(chorale) - 0.5) > 0.02  # sounding throughout, not silent
    x = render(band()).samples  # the drum kit plays where only drums sound
    assert rms(x, 3.05, 3.95) > 0.02 * rms(x, 0, 3)


def test_unknown_audio_format_is_a_usage_error(tmp_path):
    res = CliRunner().invoke(main, ["generate", "--audio-format", "mp3", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "Invalid value for '--audio-format'" in res.output
    assert "Traceback" not in res.output and not any(tmp_path.iterdir())


# --------------------------------------------------------------------------- the score
def parsed_notes(path):
    """(the score, [(onset, midi pitch)] of every note music21 reads back from a MusicXML file): a
    tied chain counts once, at its first note (music21's own `stripTies` joins ties across voices
    wrongly, so chains are read here)."""
    from music21 import converter

    score = converter.parse(str(path))
    found = []
    for n in score.recurse().notes:
        for head in (n.notes if n.isChord else [n]):
            tie = head.tie or n.tie
            if getattr(head, "pitch", None) is not None and (tie is None or tie.type == "start"):
                found.append((float(n.getOffsetInHierarchy(score)), head.pitch.midi))
    return score, sorted(found)


def engraves_cleanly(xml_path, capfd):
    """verovio loads the file without a warning or error and lays out at least one page."""
    import verovio

    capfd.readouterr()
    verovio.enableLog(verovio.LOG_WARNING)
    tk = verovio.toolkit()
    try:
        assert tk.loadData(xml_path.read_text())
        assert tk.getPageCount() >= 1 and "<svg" in tk.renderToSVG(1)
    finally:
        verovio.enableLog(verovio.LOG_ERROR)
    err = capfd.readouterr()
    assert "[Error]" not in err.out + err.err and "[Warning]" not in err.out + err.err, err


def test_a_hand_built_piece_as_a_score(tmp_path, capfd):
    """Ties over bar lines, a triplet, chords, a second voice, three instruments and drums, 3/4 in
    D major: music21 reads back the same pitched notes, the key, the meter and D major's spelling."""
    from music21 import key, meter

    notes = [Note(0, 1.25, 72), Note(1.25, 2.75, 74), Note(4, 5, 76), Note(0.5, 1 / 3, 61), Note(0.5, 1 / 3, 66),
             Note(2, 3, 50), Note(2, 3, 43), Note(3, 1, 70, program=40), Note(4, 2, 73, program=40),
             Note(0, 0.5, 36, is_drum=True), Note(1, 0.5, 38, is_drum=True), Note(1, 0.5, 42, is_drum=True)]
    piece = Piece(notes, [Tempo(0, 100)], [TimeSignature(0, 3, 4)], [KeySignature(0, 2, "major")])
    files = write_score(piece, tmp_path / "hand.musicxml")
    assert files.svg == tmp_path / "hand.svg" and "<svg" in files.svg.read_text()[:2000]
    assert files.report.parts == ["Violin", "Acoustic Grand Piano (grand staff)", "Drums"]
    assert files.report.key == "D major" and not files.report.key_estimated and files.report.drums == 3
    score, got = parsed_notes(files.musicxml)
    assert got == sorted((n.onset, n.pitch) for n in notes if not n.is_drum)
    assert {k.sharps for k in score.recurse().getElementsByClass(key.KeySignature)} == {2}
    assert {m.ratioString for m in score.recurse().getElementsByClass(meter.TimeSignature)} == {"3/4"}
    names = {p.midi: p.name for n in score.recurse().notes for p in getattr(n, "pitches", ())}
    assert names[61] == "C#" and names[66] == "F#" and names[70] == "B-"  # D major's C# and F#, its flat 6th
    assert len(score.parts) == 4  # violin, the piano's two staves, drums
    engraves_cleanly(files.musicxml, capfd)
    again = write_score(piece, tmp_path / "again" / "hand.musicxml")  # the same piece, the same files
    assert again.musicxml.read_bytes() == files.musicxml.read_bytes() and again.svg.read_text() == files.svg.read_text()


def test_a_chorale_as_a_score(tmp_path, capfd):
    """A corpus chorale merged into one stream: a grand staff, its key estimated (D major) once its
    signature is dropped, every note read back (unisons once), engraved without a warning."""
    from music21 import corpus

    from melodygru.io.readers import read_score

    chorale = read_score(corpus.getComposer("bach")[7])[0]
    merged = chorale.replace(notes=[Note(n.onset, n.duration, n.pitch) for n in chorale.notes], key_signatures=[])
    files = write_score(merged, tmp_path / "chorale.musicxml")
    assert files.report.parts == ["Acoustic Grand Piano (grand staff)"] and files.report.key_estimated
    assert files.report.key == "D major" and files.report.moved_to_grid == 0
    _, got = parsed_notes(files.musicxml)
    want = sorted((n.onset, n.pitch) for n in merged.notes)
    assert sorted(set(got)) == sorted(set(want)) and len(want) - len(got) == files.report.unisons
    engraves_cleanly(files.musicxml, capfd)


def test_a_key_change_and_a_meter_change(tmp_path):
    from music21 import key, meter

    notes = [Note(float(i), 1.0, 62 + (i % 5)) for i in range(14)]
    piece = Piece(notes, [], [TimeSignature(0, 4, 4), TimeSignature(8, 3, 4)],
                  [KeySignature(0, -1, "minor"), KeySignature(8, 3, "major")])
    files = write_score(piece, tmp_path / "changes.musicxml", svg=False)
    score, got = parsed_notes(files.musicxml)
    assert files.svg is None and got == [(n.onset, n.pitch) for n in notes]
    assert [k.sharps for k in score.recurse().getElementsByClass(key.KeySignature)] == [-1, 3]
    assert [m.ratioString for m in score.recurse().getElementsByClass(meter.TimeSignature)] == ["4/4", "3/4"]


def test_dense_and_odd_pieces_still_make_scores(tmp_path, capfd):
    """Eight staggered overlapping notes on one staff keep at most four voices (the rest cut short,
    said so), with every onset and pitch kept; notes off the grid are rounded, said so; an empty
    piece and a drums-only piece are scores too."""
    from music21 import stream

    dense = Piece([Note(i * 0.5, 4.0 - i * 0.25, 64 + i) for i in range(8)], [], [TimeSignature(0, 4, 4)])
    files = write_score(dense, tmp_path / "dense.musicxml")
    score, got = parsed_notes(files.musicxml)
    assert got == [(n.onset, n.pitch) for n in dense.notes] and files.report.shortened > 0
    assert "shortened to keep 4 voices a staff" in files.report.describe()
    assert max(len(m.getElementsByClass(stream.Voice)) for m in score.recurse().getElementsByClass(stream.Measure)) <= 4
    engraves_cleanly(files.musicxml, capfd)
    odd = write_score(Piece([Note(0.02, 0.97, 60), Note(1.0, 1.0, 62)]), tmp_path / "odd.musicxml", svg=False)
    assert odd.report.moved_to_grid == 1 and parsed_notes(odd.musicxml)[1] == [(0.0, 60), (1.0, 62)]
    empty = write_score(Piece([]), tmp_path / "empty.musicxml")
    assert parsed_notes(empty.musicxml)[1] == [] and empty.svg.stat().st_size > 0
    drums = write_score(Piece([Note(i / 2, 0.25, 36 + i % 10, is_drum=True) for i in range(16)]), tmp_path / "d.musicxml")
    assert drums.report.parts == ["Drums"] and drums.report.drums == 16 and drums.svg.stat().st_size > 0


# --------------------------------------------------------------------------- the piano roll
def test_piano_roll_colours_instruments_and_gives_drums_a_lane(tmp_path):
    import matplotlib.image

    path = write_piano_roll(band(), tmp_path / "roll.png", title="band")
    img = (matplotlib.image.imread(str(path))[..., :3] * 255).round().astype(int)
    present = {tuple(c) for c in img.reshape(-1, 3)}
    colours = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in PALETTE[:3]]
    assert all(c in present for c in colours)  # piano, bass and violin each in their own colour
    assert (68, 68, 68) in present  # the drums' lane
    one = write_piano_roll(Piece([Note(0, 1, 60)]), tmp_path / "one.png")
    assert one.read_bytes()[:4] == b"\x89PNG"


def test_a_stray_score_or_audio_file_keeps_its_number(tmp_path):
    from melodygru.generation.files import reserve_stems

    for name in ("sample-001.ogg", "sample-002.svg", "sample-003.musicxml", "sample-004.flac"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in reserve_stems(tmp_path, 1)] == ["sample-005"]


def test_a_score_is_engraved_on_another_thread_after_the_main_one(tmp_path):
    """verovio finds its fonts by itself only in the first thread that asks; the studio engraves
    on its worker thread, after the main thread may have."""
    import threading

    from melodygru.io.score import write_score

    piece = Piece([Note(float(i), 1.0, 60 + i) for i in range(8)], time_signatures=[TimeSignature(0, 4, 4)])
    write_score(piece, tmp_path / "main.musicxml")
    errors = []

    def other():
        try:
            write_score(piece, tmp_path / "thread.musicxml")
        except Exception as e:  # reported to the test, not lost in the thread
            errors.append(e)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert not errors and (tmp_path / "thread.svg").read_text().lstrip().startswith(("<svg", "<?xml"))
