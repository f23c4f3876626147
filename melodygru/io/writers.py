"""Note events -> files: Standard MIDI (exact ticks), WAV audio and piano-roll PNG.

MIDI is written with mido in ticks (480 per quarter, a multiple of every grid the tokenizer uses),
so onsets in quarter notes land exactly; tempo and meter go in the first track, then one track per
channel. pretty_midi is used only to render audio.

A MIDI channel plays one instrument at a time and one note per key, so the writer places every
note on a channel where it sounds as written (`midi_bytes_with_report`):

* Two notes of one pitch and instrument at once (a unison, common where voices meet in a
  chorale) go on two channels carrying the same program: on one channel the second note-on and
  the first note-off would cut both short on every player.
* Each instrument gets a channel of its own while it sounds; with more than 15 instruments in a
  piece, a channel silent for the moment changes program and plays another one.
* Only when more than MIDI's 15 pitched channels would sound at once does a note share a channel
  it does not belong on: with its own instrument (the sounding note of its pitch ends where it
  strikes) or else with another instrument's. Both are counted in the `WriteReport`.
* Drums always play on channel 10 (index 9); a drum hit whose key is still held re-strikes it.
* Tempos outside what a set_tempo event can hold (`MIN_BPM` to `MAX_BPM`) are clamped and counted.

A piece with at most 15 instruments and no unisons is written exactly as before these rules: one
channel per instrument in program order, its program set at tick 0.
"""


from __future__ import annotations

import bisect
import dataclasses
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..core.atomic import atomic_write_bytes
from ..core.events import DEFAULT_TEMPO, Piece

TICKS_PER_QUARTER = 480
_KEYS_MAJOR = ["Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#"]
_KEYS_MINOR = ["Abm", "Ebm", "Bbm", "Fm", "Cm", "Gm", "Dm", "Am", "Em", "Bm", "F#m", "C#m", "G#m", "D#m", "A#m"]

# set_tempo stores microseconds per quarter in 3 bytes: 1 .. 16,777,215
MAX_TEMPO_US = 0xFFFFFF
MIN_BPM = 60e6 / MAX_TEMPO_US  # 3.5763 bpm: the slowest tempo a MIDI file can hold
MAX_BPM = 60e6  # 1 microsecond per quarter

DRUM_CHANNEL = 9  # channel 10 in General MIDI's numbering
PITCHED_CHANNELS = tuple(c for c in range(16) if c != DRUM_CHANNEL)
# at one tick: notes end, then a channel changes program, then notes start (a repeated pitch re-sounds)
_OFF, _PROGRAM, _ON = 1, 2, 3


@dataclass
class WriteReport:
    """What a MIDI file could not hold exactly as the piece has it (all zero for almost every piece).

    Attributes:
        merged_programs: notes played on a channel set to another instrument, because more than
            the 15 pitched channels MIDI has were sounding at once.
        merged_unisons: notes that had to share a channel with a sounding note of their pitch and
            instrument (every other channel busy): the earlier note ends where the later strikes,
            or, struck at the same tick, the two are one note. Drum hits struck together on one
            key count here too (drums have one channel); a drum hit on a key still held only
            re-strikes it, which drums do anyway, and is not counted.
        unwritable_tempos: tempos outside `MIN_BPM`..`MAX_BPM`, written clamped into that range.
    """

    merged_programs: int = 0
    merged_unisons: int = 0
    unwritable_tempos: int = 0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def lossy(self) -> dict:
        """The counts that are not zero."""
        return {k: v for k, v in self.as_dict().items() if v}

    def describe(self) -> str:
        """One line for a command's output, or '' when the file holds the piece exactly."""
        parts = []
        if self.merged_programs:
            parts.append(f"{_plural(self.merged_programs, 'note')} on another instrument's channel "
                         "(more than MIDI's 15 channels needed at once)")
        if self.merged_unisons:
            parts.append(f"{_plural(self.merged_unisons, 'unison')} re-struck on one channel (no channel free)")
        if self.unwritable_tempos:
            parts.append(f"{_plural(self.unwritable_tempos, 'tempo')} outside what MIDI can store, clamped "
                         f"to {MIN_BPM:.2f}..{MAX_BPM:,.0f} bpm")
        return "; ".join(parts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _tick(q: float) -> int:
    return int(round(q * TICKS_PER_QUARTER))


def tempo_microseconds(bpm: float) -> tuple[int, bool]:
    """A set_tempo value for `bpm`, clamped into what the event can hold; (value, was clamped)."""
    us = int(round(60e6 / bpm))
    clamped = min(max(us, 1), MAX_TEMPO_US)
    return clamped, clamped != us


def midi_bytes(piece: Piece) -> bytes:
    """The piece as a type-1 Standard MIDI File (see `midi_bytes_with_report`)."""
    return midi_bytes_with_report(piece)[0]


def midi_bytes_with_report(piece: Piece) -> tuple[bytes, WriteReport]:
    """The piece as a type-1 Standard MIDI File, and what the file could not hold exactly."""
    import mido

    report = WriteReport()
    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    meta = []  # (tick, order, message)
    tempos = piece.tempos or []
    if not tempos or tempos[0].time > 0:
        meta.append((0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(DEFAULT_TEMPO))))
    for t in tempos:
        us, clamped = tempo_microseconds(t.bpm)
        report.unwritable_tempos += clamped
        meta.append((_tick(t.time), 0, mido.MetaMessage("set_tempo", tempo=us)))
    for ts in piece.time_signatures:
        meta.append((_tick(ts.time), 1, mido.MetaMessage("time_signature", numerator=ts.numerator, denominator=ts.denominator)))
    for ks in piece.key_signatures:
        if -7 <= ks.sharps <= 7:
            names = _KEYS_MINOR if ks.mode == "minor" else _KEYS_MAJOR
            meta.append((_tick(ks.time), 2, mido.MetaMessage("key_signature", key=names[ks.sharps + 7])))
    end = _tick(piece.end)
    mid.tracks.append(_track(meta, end=end))

    placed, changes = _place_notes(piece.notes, report)
    events = defaultdict(list)  # channel -> (tick, order, message)
    for tick, channel, program in changes:
        events[channel].append((tick, _PROGRAM, mido.Message("program_change", channel=channel, program=program)))
    sounding = set()
    for p in placed:  # in the piece's order, so equal events keep the order they always had
        if p.merged_into_earlier:
            continue
        sounding.add(p.channel)
        events[p.channel].append((p.on, _ON, mido.Message("note_on", channel=p.channel, note=p.pitch,
                                                          velocity=p.velocity)))
        events[p.channel].append((p.off, _OFF, mido.Message("note_off", channel=p.channel, note=p.pitch, velocity=0)))
    for channel in PITCHED_CHANNELS + (DRUM_CHANNEL,):  # drums last, as the tracks always were
        if channel in sounding:
            mid.tracks.append(_track(events[channel], end=end))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue(), report


@dataclass
class _Placed:
    """One note as it goes into the file: its channel and ticks (the off tick may move when a
    unison has to share a channel)."""

    channel: int
    pitch: int
    velocity: int
    on: int
    off: int
    merged_into_earlier: bool = False  # a unison struck together with a note on its channel: one note-on


class _Channels:
    """Greedy channel allocation over time, note by note in onset order (see the module docstring)."""

    def __init__(self, notes, programs: list[int]):
        # the first 15 instruments each have a home channel, set at tick 0, as files always had
        self.home = {p: c for p, c in zip(programs, PITCHED_CHANNELS)}
        self.program = {c: None for c in PITCHED_CHANNELS}
        self.changes = []  # (tick, channel, program)
        for p, c in self.home.items():
            self.set_program(c, p, 0)
        self.busy_until = dict.fromkeys(PITCHED_CHANNELS + (DRUM_CHANNEL,), 0)
        self.last = {c: {} for c in self.busy_until}  # channel -> pitch -> its latest _Placed
        self.onsets = defaultdict(list)  # program -> sorted onset ticks, to see which is needed soonest
        self.order = {}  # program -> channels in the order it prefers them
        for on, n in notes:
            if not n.is_drum:
                self.onsets[n.program].append(on)

    def set_program(self, channel: int, program: int, tick: int) -> None:
        self.program[channel] = program
        self.changes.append((tick, channel, program))

    def sounding(self, channel: int, pitch: int, tick: int):
        """The note of `pitch` still sounding on `channel` at `tick`, or None."""
        p = self.last[channel].get(pitch)
        return p if p is not None and p.off > tick else None

    def next_use(self, program, tick: int) -> float:
        ticks = self.onsets.get(program, [])
        i = bisect.bisect_left(ticks, tick)
        return ticks[i] if i < len(ticks) else float("inf")

    def choose(self, program: int, pitch: int, tick: int, report: WriteReport) -> int:
        order = self.order.get(program)
        if order is None:  # its home first
            order = self.order[program] = sorted(PITCHED_CHANNELS, key=lambda c: c != self.home.get(program))
        for c in order:  # a channel already playing this instrument, with this key free
            if self.program[c] == program and self.sounding(c, pitch, tick) is None:
                return c
        silent = [c for c in PITCHED_CHANNELS if self.busy_until[c] <= tick]
        if silent:
            # its own home, else a channel no instrument has used, else the one whose instrument
            # plays again latest (or never), so that instrument is the least likely to miss it
            def cost(c):
                if c == self.home.get(program):
                    return (0, 0.0, c)
                if self.program[c] is None:
                    return (1, 0.0, c)
                return (2, -self.next_use(self.program[c], tick), c)

            c = min(silent, key=cost)
            self.set_program(c, program, tick)
            return c
        # every channel sounds: share one. Its own instrument's, where the key sounds from earlier
        # (re-struck: both onsets heard); else one with the key free, of the closest instrument
        # (same General MIDI family of 8) whose notes end soonest; only with the key held on every
        # channel does the note become one with a note struck at the same tick
        own = [c for c in order if self.program[c] == program]
        for c in own:
            if self.sounding(c, pitch, tick).on < tick:
                return c
        free = [c for c in PITCHED_CHANNELS if self.sounding(c, pitch, tick) is None]
        if own and not free:
            return own[0]
        report.merged_programs += 1
        return min(free or PITCHED_CHANNELS,
                   key=lambda c: (self.program[c] // 8 != program // 8, self.busy_until[c], c))

    def place(self, p: _Placed, report: WriteReport, count_unison: bool = True) -> None:
        """Put `p` on its channel; a note of its pitch still sounding there ends where `p` strikes
        (or, struck at the same tick, becomes one note with it, always counted in the report)."""
        held = self.sounding(p.channel, p.pitch, p.on)
        if held is not None:
            report.merged_unisons += count_unison or held.on == p.on
            if held.on == p.on:
                held.off = max(held.off, p.off)
                held.velocity = max(held.velocity, p.velocity)
                p.merged_into_earlier = True
                p = held
            else:
                p.off, held.off = max(p.off, held.off), p.on
        self.last[p.channel][p.pitch] = p
        self.busy_until[p.channel] = max(self.busy_until[p.channel], p.off)


def _place_notes(notes, report: WriteReport) -> tuple[list[_Placed], list[tuple[int, int, int]]]:
    """Every note's channel and ticks (in the piece's order), and the program changes to write."""
    ticks = [(_tick(n.onset), n) for n in notes]
    programs = sorted({n.program for n in notes if not n.is_drum})
    channels = _Channels(sorted(ticks, key=lambda t: t[0]), programs)
    placed = [None] * len(notes)
    for i in sorted(range(len(notes)), key=lambda i: ticks[i][0]):  # onset order, ties in the piece's order
        on, n = ticks[i]
        off = max(_tick(n.end), on + 1)
        if n.is_drum:  # drum hits are one-shots: a hit on a held key re-strikes it, as a drummer does
            placed[i] = _Placed(DRUM_CHANNEL, n.pitch, n.velocity, on, off)
            channels.place(placed[i], report, count_unison=False)
            continue
        merged_before = report.merged_programs
        channel = channels.choose(n.program, n.pitch, on, report)
        placed[i] = _Placed(channel, n.pitch, n.velocity, on, off)
        # a note already counted as on another instrument's channel is not counted twice
        channels.place(placed[i], report, count_unison=report.merged_programs == merged_before)
    return placed, channels.changes


def _track(events, end: int):
    import mido

    track = mido.MidiTrack()
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, end - now)))
    return track


def write_midi(piece: Piece, path) -> Path:
    """Write a MIDI file atomically; returns its path."""
    return write_midi_with_report(piece, path)[0]


def write_midi_with_report(piece: Piece, path) -> tuple[Path, WriteReport]:
    """Write a MIDI file atomically; returns its path and what it could not hold exactly."""
    path = Path(path)
    data, report = midi_bytes_with_report(piece)
    atomic_write_bytes(path, data)
    return path, report


def seconds(piece: Piece, quarters: float | None = None) -> float:
    """Wall-clock length of `quarters` (default: the whole piece) under the piece's tempo map, as
    its MIDI file plays it (a tempo outside MIN_BPM..MAX_BPM clamped, as `midi_bytes` writes it)."""
    q_end = piece.end if quarters is None else quarters
    tempos = [(t.time, min(max(t.bpm, MIN_BPM), MAX_BPM)) for t in piece.tempos] or [(0.0, DEFAULT_TEMPO)]
    if tempos[0][0] > 0:
        tempos.insert(0, (0.0, DEFAULT_TEMPO))
    total = 0.0
    for i, (t, bpm) in enumerate(tempos):
        nxt = tempos[i + 1][0] if i + 1 < len(tempos) else float("inf")
        if t >= q_end:
            break
        total += (min(nxt, q_end) - t) * 60.0 / bpm
    return total


def bar_lines(piece: Piece, end: float | None = None) -> list[float]:
    """Bar-line positions in quarter notes up to `end` (default: the end of the piece)."""
    meters = [(ts.time, ts.bar_quarters) for ts in piece.time_signatures] or [(0.0, 4.0)]
    if meters[0][0] > 0:
        meters.insert(0, (0.0, 4.0))
    lines, t, i = [], 0.0, 0
    length = meters[0][1]
    end = piece.end if end is None else end
    while t <= end and len(lines) < 100000:
        while i + 1 < len(meters) and meters[i + 1][0] <= t + 1e-9:
            i += 1
            length = meters[i][1]
        lines.append(t)
        t += length
    return lines
