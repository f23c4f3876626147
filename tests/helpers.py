"""Builders for real music files used across the tests (nothing is downloaded)."""

from __future__ import annotations

import struct
from pathlib import Path

import mido


def write_midi(path: Path, notes, tpq: int = 480, channel: int = 0, program: int = 0, tempo_bpm: float = 120,
               meter=(4, 4)) -> Path:
    """A type-1 MIDI file with `notes` as (onset_q, duration_q, pitch, velocity) on one channel."""
    mid = mido.MidiFile(type=1, ticks_per_beat=tpq)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0))
    meta.append(mido.MetaMessage("time_signature", numerator=meter[0], denominator=meter[1], time=0))
    mid.tracks.append(meta)
    track = mido.MidiTrack()
    if channel != 9:
        track.append(mido.Message("program_change", channel=channel, program=program, time=0))
    events = []
    for on, dur, pitch, vel in notes:
        events.append((round(on * tpq), 1, pitch, vel))
        events.append((round((on + dur) * tpq), 0, pitch, 0))
    events.sort()
    now = 0
    for tick, is_on, pitch, vel in events:
        msg = "note_on" if is_on else "note_off"
        track.append(mido.Message(msg, channel=channel, note=pitch, velocity=vel, time=tick - now))
        now = tick
    mid.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    mid.save(str(path))
    return path


def scale_notes(start_pitch: int = 60, count: int = 16, step: float = 0.5):
    """An ascending major scale in eighth notes (a small learnable melody)."""
    major = [0, 2, 4, 5, 7, 9, 11]
    return [(i * step, step, start_pitch + 12 * (i // 7) + major[i % 7], 80) for i in range(count)]


ABC_THREE_TUNES = """X:1
T:First
M:4/4
L:1/8
K:G
GABc dedB|dedB dedB|c2ec B2dB|c2A2 A2BA|

X:2
T:Second
M:3/4
L:1/4
K:D
D E F|G A B|A3|

X:3
T:Third
M:6/8
L:1/8
K:C
CEG cGE|CEG c3|
"""


def messy_folder(root: Path) -> Path:
    """A folder a user might really have: good files, nested and upper-case names, and junk."""
    write_midi(root / "good.mid", scale_notes())
    write_midi(root / "sub" / "deeper" / "CAPS.MID", scale_notes(48, 24))
    write_midi(root / "drums.mid", [(i * 0.5, 0.25, 36 + (i % 3), 100) for i in range(16)], channel=9)
    (root / "empty.mid").write_bytes(b"")
    (root / "text.mid").write_text("this is not a MIDI file, just text that someone renamed\n")
    (root / "random.mid").write_bytes(bytes(range(256)) * 3)
    (root / "tunes.abc").write_text(ABC_THREE_TUNES)
    (root / "notes.txt").write_text("ignored\n")
    (root / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    return root


# ---------------------------------------------------------------------------------------------
# raw Standard MIDI File bytes, for what mido refuses to write (running status, odd headers, cuts)


def vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack(">I", len(body)) + body


def smf(*tracks: bytes, fmt: int = 1, division: int = 480, ntracks: int | None = None) -> bytes:
    header = chunk(b"MThd", struct.pack(">HHH", fmt, len(tracks) if ntracks is None else ntracks, division))
    return header + b"".join(chunk(b"MTrk", t) for t in tracks)


EOT = b"\x00\xff\x2f\x00"


def ev(delta: int, *data: int) -> bytes:
    return vlq(delta) + bytes(data)


MB = 1024 * 1024


def big_midi(path: Path, size_mb: float = 50) -> Path:
    """A valid MIDI file (one note) padded to `size_mb` MiB by an unknown chunk; sparse, so cheap."""
    body = smf(ev(0, 0x90, 60, 80) + ev(480, 0x80, 60, 0) + EOT)
    size = int(size_mb * MB)
    with open(path, "wb") as f:
        f.write(body + b"XBIG" + struct.pack(">I", size - len(body) - 8))
        f.truncate(size)
    return path


def every_kind_of_input(root: Path) -> dict[str, tuple[str, object]]:
    """One folder holding every kind of input the reliability issue lists that can live in a folder.

    Returns:
        relative path -> ("read", number of notes the corpus keeps) or ("skip", the exact reason).
    """
    def put(rel, data):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    expected: dict[str, tuple[str, object]] = {}
    write_midi(root / "good.mid", scale_notes())
    expected["good.mid"] = ("read", 16)
    deep = "/".join(["deep"] + ["d"] * 60 + ["deep.mid"])  # 60 nested folders
    write_midi(root / deep, scale_notes(48, 8))
    expected[deep] = ("read", 8)

    put("empty.mid", b"")
    expected["empty.mid"] = ("skip", "empty file")
    put("text.mid", b"this is not a MIDI file, just text that someone renamed\n")
    expected["text.mid"] = ("skip", "not a MIDI file (no MThd header)")
    put("random.mid", bytes((i * 97 + 13) % 256 for i in range(3000)))
    expected["random.mid"] = ("skip", "not a MIDI file (no MThd header)")
    put("header_only.mid", smf())
    expected["header_only.mid"] = ("skip", "no MIDI tracks (MTrk chunks) in file")
    put("zero_tracks.mid", smf(ntracks=0))
    expected["zero_tracks.mid"] = ("skip", "no MIDI tracks (MTrk chunks) in file")
    put("no_notes.mid", smf(ev(0, 0xFF, 0x51, 3, 7, 0xA1, 0x20) + EOT, EOT))
    expected["no_notes.mid"] = ("skip", "no notes")
    drums = b"".join(ev(0, 0x99, 36 + k, 100) + ev(240, 0x89, 36 + k, 0) for k in range(4)) + EOT
    put("drums_only.mid", smf(drums))
    expected["drums_only.mid"] = ("skip", "drums only (4 drum notes dropped)")
    notes8 = smf(b"".join(ev(0, 0x90, 60 + k, 80) + ev(240, 0x80, 60 + k, 0) for k in range(8)) + EOT)
    put("truncated_header.mid", notes8[:10])
    expected["truncated_header.mid"] = ("skip", "truncated MIDI header")
    put("truncated.mid", notes8[:22 + 9 * 5 + 2])  # header, 5 whole notes (9 bytes each), half a note-on
    expected["truncated.mid"] = ("read", 5)
    put("cut_before_notes.mid", notes8[:22 + 2])
    expected["cut_before_notes.mid"] = ("skip", "truncated MIDI file (no notes before the cut)")
    put("tpq1.mid", smf(ev(1, 0x90, 60, 80) + ev(3, 0x80, 60, 0) + EOT, division=1))
    expected["tpq1.mid"] = ("read", 1)
    put("smpte.mid", smf(ev(1000, 0x90, 60, 80) + ev(500, 0x80, 60, 0) + EOT, division=((256 - 25) << 8) | 40))
    expected["smpte.mid"] = ("read", 1)
    pattern = ev(0, 0x90, 60, 80) + ev(480, 0x80, 60, 0) + ev(1440, 0xFF, 0x2F, 0)
    put("type2.mid", smf(pattern, pattern, fmt=2))
    expected["type2.mid"] = ("read", 2)
    put("running_status.mid", smf(ev(0, 0x90, 60, 80) + ev(0, 64, 81) + ev(480, 60, 0) + ev(0, 64, 0)
                                  + ev(240, 67, 90) + ev(240, 0x80, 67, 0) + EOT))
    expected["running_status.mid"] = ("read", 3)
    put("unterminated.mid", smf(ev(0, 0x90, 60, 70) + ev(0, 0x80, 60, 0) + ev(0, 0x90, 62, 70)
                                + ev(960, 0xFF, 0x2F, 0)))
    expected["unterminated.mid"] = ("read", 2)  # one zero-length note, one never switched off
    tempo = lambda us: (0xFF, 0x51, 3, us >> 16, (us >> 8) & 0xFF, us & 0xFF)  # noqa: E731
    put("bad_tempo.mid", smf(ev(0, *tempo(0)) + ev(0, *tempo(1)) + ev(0, 0x90, 60, 80) + ev(480, 0x80, 60, 0) + EOT))
    expected["bad_tempo.mid"] = ("read", 1)
    put("far.mid", smf(ev(0, 0x90, 60, 80) + ev(480, 0x80, 60, 0) + ev(20_000_000, 0x90, 62, 80)
                       + ev(480, 0x80, 62, 0) + EOT))
    expected["far.mid"] = ("read", 2)  # 20 million ticks later: 41,667 quarters, still under 20,000 bars
    put("stray.mid", smf(ev(0, 0x90, 60, 80) + ev(1, 0x80, 60, 0) + ev(100_000_000, 0x90, 62, 80)
                         + ev(1, 0x80, 62, 0) + EOT, division=1))
    expected["stray.mid"] = ("skip", "piece spans more than 20000 bars (last event at quarter 100000001): "
                                     "is there a stray event after a long silence?")
    big_midi(root / "big.mid")
    expected["big.mid"] = ("skip", "file is 50.0 MB, over the --max-file-mb limit of 20")
    (root / "broken.musicxml").write_text('<?xml version="1.0"?>\n<score-partwise><part id="P1"><measure')
    expected["broken.musicxml"] = ("skip", "music21 could not parse: ")  # music21's own words follow
    (root / "broken.abc").write_text("X:1\nT:x\nM:4/4\nK:C\nC D E F|[[[[ ((( %%% Z$#@\n")
    expected["broken.abc"] = ("skip", "music21 could not parse: ")
    (root / "loop").symlink_to(root, target_is_directory=True)  # a folder that contains itself
    (root / "self.mid").symlink_to(root / "self.mid")  # a file symlink pointing at itself
    expected["self.mid"] = ("skip", "cannot read file: Too many levels of symbolic links")
    (root / "dangling.mid").symlink_to(root / "nowhere.mid")
    expected["dangling.mid"] = ("skip", "file not found")
    (root / "notes.txt").write_text("ignored\n")
    return expected


def evaluate_cli(tmp_path: Path, monkeypatch):
    """`melodygru evaluate` in a click group of its own, with a token cache under tmp_path: call it
    with the arguments, get click's result."""
    import click
    from click.testing import CliRunner

    from melodygru.cli.app import _Group
    from melodygru.cli.evaluate import register

    monkeypatch.setenv("MELODYGRU_CACHE_DIR", str(tmp_path / "cache"))

    @click.group(cls=_Group)
    def group():
        pass

    register(group)
    return lambda args: CliRunner().invoke(group, ["evaluate", *map(str, args)])
