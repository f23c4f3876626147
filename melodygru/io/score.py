"""Sheet music of a piece: MusicXML built from its note events (music21 objects, exported without
re-reading any MIDI file) and an engraved page as SVG (verovio).

What the score holds:

* one part per General MIDI program, the highest-sounding on top; a part whose notes do not fit one clef gets a grand staff
  (treble and bass, split at middle C), so a merged stream of several voices reads as piano music;
* drums on a percussion part of their own (a five-line staff, kick low, snare in the middle,
  cymbals above with x note heads);
* the piece's meters, tempos and keys: the key signature is the piece's own (a key-token model
  writes one) or else the key found from its notes (`core.keys.estimate_key`), and every pitch is
  spelled for the key it sounds in (its scale's letters, the usual raised and lowered degrees);
* durations made notatable: onsets and lengths on a grid of 1/12 quarter note (16ths and
  triplets), notes cut at bar lines and tied over them, chords where notes start and end together,
  and further voices where they overlap otherwise. music21's exporter writes a length no single
  note value holds (a quarter tied to a 16th, say) as tied notes, and triplets as tuplets.
"""


from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..core.atomic import atomic_write_bytes
from ..core.events import Note, Piece
from ..core.keys import estimate_key, sharps_of
from .writers import bar_lines

GRID = 12  # steps per quarter note a score is written on: lcm(4, 3), 16ths and 8th-note triplets
MAX_VOICES = 4  # voices a staff may have: MuseScore shows four
MIDDLE_C = 60  # a grand staff's split: this pitch and above on the treble staff
TREBLE_LOWEST, BASS_HIGHEST = 55, 64  # one staff holds a part within three ledger lines of its clef
SVG_OPTIONS = {"pageWidth": 2100, "pageHeight": 60000, "adjustPageHeight": True, "scale": 40,
               "footer": "none", "breaks": "auto"}  # one long page: the whole piece in one SVG

# where General MIDI drums sit on the percussion staff (display step and octave), and x note heads
DRUM_PLACES = {35: "F4", 36: "F4", 37: "C5", 38: "C5", 39: "C5", 40: "C5", 41: "A4", 43: "A4", 45: "D5",
               47: "D5", 48: "E5", 50: "E5", 42: "G5", 44: "D4", 46: "G5", 49: "A5", 51: "F5", 52: "A5",
               53: "F5", 55: "A5", 57: "A5", 59: "F5"}
X_HEADS = {42, 44, 46, 49, 51, 52, 53, 55, 57, 59}
OTHER_DRUM = "E5"

# the interval above the tonic that spells each pitch class of a key (major / minor): the scale's
# own letters, a raised 4th and the minor's raised 6th and 7th, the major's lowered 3rd, 6th and 7th
_MAJOR_SPELLING = ("P1", "A1", "M2", "m3", "M3", "P4", "A4", "P5", "m6", "M6", "m7", "M7")
_MINOR_SPELLING = ("P1", "m2", "M2", "m3", "M3", "P4", "A4", "P5", "m6", "M6", "m7", "M7")


@dataclass
class ScoreReport:
    """What writing the score changed or left out, for the line printed beside it."""

    parts: list[str] = field(default_factory=list)
    key: str = ""
    key_estimated: bool = False
    moved_to_grid: int = 0  # notes whose onset or length was rounded to the 1/12-quarter grid
    unisons: int = 0  # notes of one part sounding a pitch it already sounds at that onset: written once
    shortened: int = 0  # notes cut short where a staff already had `MAX_VOICES` voices sounding
    drums: int = 0  # drum notes, written on the percussion part
    pages: int = 0  # pages verovio engraved (0: no SVG)

    def describe(self) -> str:
        """One line: the parts, the key and every change (empty parts: nothing to say)."""
        said = [f"key {self.key}" + (" (estimated)" if self.key_estimated else "")] if self.key else []
        if self.parts:
            said.insert(0, ", ".join(self.parts))
        if self.moved_to_grid:
            said.append(f"{self.moved_to_grid} note(s) rounded to the 1/{GRID * 4} note grid")
        if self.shortened:
            said.append(f"{self.shortened} note(s) shortened to keep {MAX_VOICES} voices a staff")
        if self.unisons:
            said.append(f"{self.unisons} unison(s) written once")
        if self.pages > 1:
            said.append(f"the SVG holds page 1 of {self.pages} (the MusicXML all of them)")
        return "; ".join(said)

    def as_dict(self) -> dict:
        return {"parts": self.parts, "key": self.key, "key_estimated": self.key_estimated,
                "moved_to_grid": self.moved_to_grid, "unisons": self.unisons, "shortened": self.shortened, "drums": self.drums,
                "pages": self.pages}


@dataclass
class ScoreFiles:
    """The files `write_score` wrote: the MusicXML, the SVG (None when not asked) and the report."""

    musicxml: Path
    svg: Path | None
    report: ScoreReport


# --------------------------------------------------------------------------- keys and spelling
def _key_changes(piece: Piece) -> tuple[list[tuple[float, int, str]], bool]:
    """[(time, sharps, mode)] of the piece's key signatures, or the estimated key at 0; and
    whether it was estimated."""
    keys = [(k.time, max(-7, min(7, k.sharps)), "minor" if k.mode == "minor" else "major")
            for k in piece.key_signatures]
    if keys:
        return ([(0.0, keys[0][1], keys[0][2])] + keys[1:]) if keys[0][0] > 0 else keys, False
    tonic, minor = estimate_key(piece)
    return [(0.0, sharps_of(tonic, minor), "minor" if minor else "major")], True


def speller(sharps: int, mode: str):
    """A function midi pitch -> music21 Pitch spelled for the key of `sharps` in `mode`."""
    import music21

    tonic = music21.key.KeySignature(sharps).asKey(mode).tonic
    table = _MINOR_SPELLING if mode == "minor" else _MAJOR_SPELLING
    names = {}
    for interval in table:
        p = tonic.transpose(interval)
        if abs(p.alter) > 1:  # a double sharp or flat: the plain enharmonic reads better outside the scale
            p = p.getEnharmonic() if abs(p.getEnharmonic().alter) <= 1 else music21.pitch.Pitch(p.midi)
        names[p.pitchClass] = p.name

    def spell(midi: int):
        p = music21.pitch.Pitch(names[midi % 12] + "4")
        p.octave += (midi - p.midi) // 12
        return p

    return spell


# --------------------------------------------------------------------------- layout
def _on_grid(x: float) -> Fraction:
    return Fraction(round(x * GRID), GRID)


def _events(notes: list[Note], report: ScoreReport, drums: bool = False):
    """Notes -> [(onset, length, pitches)] on the grid: chords of what starts and ends together,
    one unison each; drum hits last until the next hit (a beat at most)."""
    groups: dict[tuple[Fraction, Fraction], set[int]] = {}
    onsets = sorted({_on_grid(n.onset) for n in notes})
    nxt = {a: b for a, b in zip(onsets, onsets[1:])}
    for n in notes:
        onset = _on_grid(n.onset)
        length = max(_on_grid(n.duration), Fraction(1, GRID))
        if drums:
            length = min(nxt.get(onset, onset + 1) - onset, Fraction(1))
        elif onset != n.onset or length != n.duration:
            report.moved_to_grid += abs(float(onset) - n.onset) > 1e-6 or abs(float(length) - n.duration) > 1e-6
        pitches = groups.setdefault((onset, length), set())
        report.unisons += n.pitch in pitches
        pitches.add(n.pitch)
    return sorted((o, d, tuple(sorted(p))) for (o, d), p in groups.items())


def _voices(events, report: ScoreReport) -> list[list]:
    """Greedy voices: each event goes to the first voice free at its onset. A staff has at most
    `MAX_VOICES` (MuseScore's limit): where every one is still sounding, the one that would end
    first is cut short at the new onset (or joins its chord, when it started there too)."""
    voices: list[list] = []
    for e in events:
        free = next((v for v in voices if v[-1][0] + v[-1][1] <= e[0]), None)
        if free is not None:
            free.append(e)
        elif len(voices) < MAX_VOICES:
            voices.append([e])
        else:
            v = min(voices, key=lambda v: v[-1][0] + v[-1][1])
            onset, length, pitches = v[-1]
            report.shortened += 1
            if onset == e[0]:
                v[-1] = (onset, min(length, e[1]), tuple(sorted(set(pitches) | set(e[2]))))
            else:
                v[-1] = (onset, e[0] - onset, pitches)
                v.append(e)
    return voices


def _staves(notes: list[Note]) -> list[tuple[str, list[Note]]]:
    """[(clef, notes)]: one staff when the part fits a clef, else a grand staff."""
    low, high = min(n.pitch for n in notes), max(n.pitch for n in notes)
    if low >= TREBLE_LOWEST:
        return [("treble", notes)]
    if high <= BASS_HIGHEST:
        return [("bass", notes)]
    return [("treble", [n for n in notes if n.pitch >= MIDDLE_C]), ("bass", [n for n in notes if n.pitch < MIDDLE_C])]


def _instrument(program: int, drums: bool):
    import music21

    from .audio import pretty_midi_module

    pretty_midi = pretty_midi_module()

    if drums:
        inst = music21.instrument.UnpitchedPercussion()
        inst.partName = "Drums"
        inst.midiChannel = 9
        return inst
    try:
        inst = music21.instrument.instrumentFromMidiProgram(program)
    except Exception:  # a program music21 has no class for: a generic instrument that keeps it
        inst = music21.instrument.Instrument()
    inst.midiProgram = program
    inst.partName = pretty_midi.program_to_instrument_name(program)
    inst.partAbbreviation = None
    return inst


def _element(length, pitches, tie, spell, drums: bool):
    """A note, chord, drum hit or drum chord of `length` quarters, tied as `tie` says."""
    import music21

    ql = float(length)
    if drums:
        heads = []
        for p in pitches:
            u = music21.note.Unpitched(displayName=DRUM_PLACES.get(p, OTHER_DRUM), quarterLength=ql)
            if p in X_HEADS:
                u.notehead = "x"
            heads.append(u)
        el = heads[0] if len(heads) == 1 else music21.percussion.PercussionChord(heads, quarterLength=ql)
        el.stemDirection = "up"
    elif len(pitches) == 1:
        el = music21.note.Note(spell(pitches[0]), quarterLength=ql)
    else:
        el = music21.chord.Chord([spell(p) for p in pitches], quarterLength=ql)
    if tie:
        el.tie = music21.tie.Tie(tie)
    return el


def _measures(events, bars, clef_name, meters, keys, tempos, drums: bool, report: ScoreReport):
    """One staff's measures: every voice cut at the bar lines (tied over them), gaps as rests."""
    import music21

    voices = _voices(events, report)
    measures = []
    for i, (start, end) in enumerate(bars):
        m = music21.stream.Measure(number=i + 1)
        if i == 0:
            m.insert(0, music21.clef.PercussionClef() if drums else
                     (music21.clef.TrebleClef() if clef_name == "treble" else music21.clef.BassClef()))
        if start in meters:
            m.insert(0, music21.meter.TimeSignature(meters[start]))
        if start in keys and not drums:
            sharps, mode = keys[start][:2]
            m.insert(0, music21.key.Key(music21.key.KeySignature(sharps).asKey(mode).tonic.name, mode))
        for t, bpm in tempos:
            if start <= t < end:
                m.insert(float(t - start), music21.tempo.MetronomeMark(number=round(bpm, 1), referent="quarter"))
        chosen = [v for v in voices if any(o < end and o + d > start for o, d, _ in v)] or [[]]
        for k, voice in enumerate(chosen):
            v = music21.stream.Voice(id=str(k + 1))
            at = start
            for onset, length, pitches in voice:
                a, b = max(onset, start), min(onset + length, end)
                if b <= a:
                    continue
                if a > at:
                    v.insert(float(at - start), music21.note.Rest(quarterLength=float(a - at)))
                tie = ("continue" if onset < start and onset + length > end else "stop" if onset < start
                       else "start" if onset + length > end else None)
                spell = _key_at(keys, a)
                v.insert(float(a - start), _element(b - a, pitches, tie, spell, drums))
                at = b
            if at < end and (k == 0 or at > start):
                v.insert(float(at - start), music21.note.Rest(quarterLength=float(end - at)))
            m.insert(0, v)
        measures.append(m)
    return measures


def _key_at(keys: dict, t):
    """The speller of the key in force at time `t` (`keys`: bar start -> (sharps, mode, speller))."""
    now = None
    for start in sorted(keys):
        if start <= t:
            now = keys[start][2]
    return now


def build_score(piece: Piece, title: str = "", report: ScoreReport | None = None):
    """A music21 Score of the piece (see the module docstring for what it holds)."""
    import music21

    report = report if report is not None else ScoreReport()
    end = max(piece.end, 1.0)
    lines = [Fraction(x).limit_denominator(GRID * 16) for x in bar_lines(piece, end)]
    if lines[-1] < end - 1e-9:
        lines.append(lines[-1] + (lines[-1] - lines[-2] if len(lines) > 1 else 4))
    bars = list(zip(lines, lines[1:])) or [(Fraction(0), Fraction(4))]
    meter_at, current = {}, None  # bar start -> the meter written there (where it changes)
    for start, _ in bars:  # as `bar_lines` lays them out: a meter from the first bar line at or after it
        named = [t for t in piece.time_signatures if t.time <= start + Fraction(1, 1000)]
        sig = f"{named[-1].numerator}/{named[-1].denominator}" if named else "4/4"
        if sig != current:
            meter_at[start], current = sig, sig
    changes, estimated = _key_changes(piece)
    keys = {}
    for t, sharps, mode in changes:  # a key from the next bar line on
        start = next((a for a, _ in bars if a >= _on_grid(t)), None)
        if start is not None:
            keys[start] = (sharps, mode, speller(sharps, mode))
    if not keys or min(keys) > 0:
        keys[Fraction(0)] = (changes[0][1], changes[0][2], speller(changes[0][1], changes[0][2]))
    first = keys[min(keys)]
    report.key = music21.key.KeySignature(first[0]).asKey(first[1]).name.replace("-", "b")  # "Ab major"
    report.key_estimated = estimated
    tempos = []  # a metronome mark where the tempo changes (a repeated bar's copy of the same one is not)
    for t in piece.tempos:
        if not tempos or round(tempos[-1][1], 1) != round(t.bpm, 1):
            tempos.append((_on_grid(t.time), t.bpm))

    score = music21.stream.Score()
    score.metadata = music21.metadata.Metadata()
    score.metadata.title = title or Path(piece.source).stem or "melodygru"
    score.metadata.composer = "melodygru"
    by_program: dict[int, list[Note]] = {}
    for n in piece.notes:
        if not n.is_drum:
            by_program.setdefault(n.program, []).append(n)
    drums = [n for n in piece.notes if n.is_drum]
    report.drums = len(drums)
    ordered = sorted(by_program.items(), key=lambda kv: (-sum(n.pitch for n in kv[1]) / len(kv[1]), kv[0]))
    groups = [(p, False, _staves(notes)) for p, notes in ordered]  # the highest part on top
    if drums:
        groups.append((0, True, [("percussion", drums)]))
    if not groups:
        groups = [(0, False, [("treble", [])])]
    top = True
    for program, is_drum, staves in groups:
        inst = _instrument(program, is_drum)
        report.parts.append(inst.partName + (" (grand staff)" if len(staves) > 1 else ""))
        parts = []
        for clef_name, notes in staves:
            part = music21.stream.PartStaff() if len(staves) > 1 else music21.stream.Part()
            part.id = f"P{len(score.parts) + 1}"  # fixed ids: the same piece, the same file
            staff_inst = _instrument(program, is_drum)
            staff_inst.instrumentId, staff_inst.partId = f"I{len(score.parts) + 1}", f"P{len(score.parts) + 1}"
            part.insert(0, staff_inst)
            part.partName = inst.partName
            for m in _measures(_events(notes, report, is_drum), bars, clef_name, meter_at, keys,
                               tempos if top else [], is_drum, report):
                part.append(m)
            top = False
            parts.append(part)
            score.insert(0, part)
        if len(parts) > 1:
            score.insert(0, music21.layout.StaffGroup(parts, name=inst.partName, symbol="brace", barTogether=True))
    return score


# --------------------------------------------------------------------------- files
def musicxml_bytes(piece: Piece, title: str = "", report: ScoreReport | None = None) -> bytes:
    """The piece as MusicXML (see `build_score`)."""
    import re

    from music21.musicxml.m21ToXml import GeneralObjectExporter

    xml = GeneralObjectExporter(build_score(piece, title, report)).parse()
    return re.sub(rb"\s*<encoding-date>[^<]*</encoding-date>", b"", xml, count=1)  # today's date: files would differ


def engrave_svg(xml: bytes) -> tuple[str, int]:
    """(the first page of the engraved score as SVG, how many pages verovio laid out): the page is
    as long as the piece needs (up to verovio's tallest page), so most pieces are one page.

    Raises:
        MelodyGRUError: verovio is not installed or could not read the MusicXML.
    """
    from ..core.errors import MelodyGRUError

    try:
        import verovio
    except ImportError as e:
        raise MelodyGRUError(f"engraving a score needs verovio (pip install verovio): {e}") from None
    verovio.enableLog(verovio.LOG_ERROR)
    # the fonts' folder named on every toolkit: verovio's default one is found only in the first
    # thread that makes a toolkit (a studio engraves on its worker thread after the main one)
    tk = verovio.toolkit(False)
    tk.setResourcePath(str(Path(verovio.__file__).parent / "data"))
    tk.setOptions(SVG_OPTIONS)
    tk.resetXmlIdSeed(1)  # element ids from a fixed seed (0 would seed from the clock): the same score, the same SVG
    if not tk.loadData(xml.decode("utf-8")):
        raise MelodyGRUError("verovio could not read the MusicXML score")
    pages = tk.getPageCount()
    return tk.renderToSVG(1), pages


def write_score(piece: Piece, path, svg: bool = True, title: str = "") -> ScoreFiles:
    """Write the piece's MusicXML to `path` and, with `svg`, its engraved page beside it (same
    name, .svg); both written atomically. Returns the paths and what the score changed."""
    path = Path(path)
    report = ScoreReport()
    xml = musicxml_bytes(piece, title or path.stem, report)
    atomic_write_bytes(path, xml)
    svg_path = None
    if svg:
        page, report.pages = engrave_svg(xml)
        svg_path = path.with_suffix(".svg")
        atomic_write_bytes(svg_path, page.encode("utf-8"))
    return ScoreFiles(path, svg_path, report)
