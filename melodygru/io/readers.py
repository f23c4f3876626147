"""Files -> note events: `read_file` reads every format melodygru accepts into Pieces.

MIDI goes through melodygru's own Standard MIDI File parser (`midifile.py`): music21 is about
100x slower on MIDI. MusicXML, kern and ABC go through music21 and are turned into notes the way
music21's own MIDI export plays them, so a score and the MIDI file music21 writes from it read
back as the same notes:

* repeats are expanded, ties merged, chords split into notes, transposing parts sounded;
* onsets are the offsets in the flattened part: a pickup (anacrusis) measure starts at time 0,
  as in the export, so bar lines downstream are shifted by the pickup for both paths alike;
* velocity is music21's realized volume (90 without dynamics, `events.DEFAULT_VELOCITY`);
* program is the midiProgram of the part's instrument in force at the note (0 when unset).

What the export would also play but a Piece leaves out is counted in `Piece.stats`: grace notes
('grace_notes'), unpitched percussion ('unpitched'), chord symbols ('chord_symbols').

Each tune of a multi-tune ABC file is its own Piece, with source `"<path>#<n>"` where n is the
tune's 1-based position in the file (not its X: number, which may repeat or be missing). A file
with one tune, and every other format, gives a single Piece whose source is the path.

Every failure is a ReaderError with a one-line reason (a FileAccessError when the file system, not
the content, is to blame); nothing else escapes but MemoryError, which says nothing about the file.
"""


from __future__ import annotations

import re
import stat
import warnings
from collections import Counter
from pathlib import Path

from ..core.errors import ReaderError
from ..core.events import KeySignature, Note, Piece, Tempo, TimeSignature
from .midifile import parse_smf

MIDI_EXTS = frozenset({".mid", ".midi", ".kar"})
SCORE_EXTS = frozenset({".mxl", ".xml", ".musicxml", ".krn"})
ABC_EXTS = frozenset({".abc"})
READABLE_EXTS = MIDI_EXTS | SCORE_EXTS | ABC_EXTS

_MB = 1024 * 1024
_MIN_BPM, _MAX_BPM = 1.0, 2000.0  # same bounds as the MIDI parser: outside them it is not music
_MAX_REASON = 160  # characters of a music21 message kept in a one-line reason


class FileAccessError(ReaderError):
    """The file system refused the file (missing, not a file, no permission, an I/O error).

    A verdict on the path at this moment, not on the file's bytes: a cache keyed by content must
    not keep it, the next try may succeed.
    """


def read_file(path: str | Path, max_file_mb: float = 20.0) -> list[Piece]:
    """Read one music file into pieces, choosing the reader by the lower-cased extension.

    Args:
        path: a file with one of `READABLE_EXTS`.
        max_file_mb: files larger than this many MiB are refused before reading.

    Returns:
        One Piece per piece in the file (one per tune of a multi-tune ABC file). A piece may have
        no notes, or only drum notes: the caller decides whether it is usable.

    Raises:
        FileAccessError: the file is missing, not a file, or cannot be read.
        ReaderError: with a short reason, for anything else that stops the file being read.
        MemoryError: out of memory (transient: a retry may succeed).
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in READABLE_EXTS:
        raise ReaderError(f"unsupported file type '{ext or p.name}'")
    try:
        st = p.stat()
    except FileNotFoundError:  # also a dangling symlink
        raise FileAccessError("file not found") from None
    except OSError as e:  # no permission on the folder, a symlink loop, a name too long...
        raise FileAccessError(f"cannot read file: {e.strerror or e}") from e
    if not stat.S_ISREG(st.st_mode):
        raise FileAccessError("not a file")
    if st.st_size == 0:
        raise ReaderError("empty file")
    check_size(st.st_size, max_file_mb)
    if ext in MIDI_EXTS:
        try:
            data = p.read_bytes()
        except OSError as e:
            raise FileAccessError(f"cannot read file: {e.strerror or e}") from e
        return [read_midi_bytes(data, source=str(path))]
    return read_score(path)


def check_size(size: int, max_file_mb: float) -> None:
    """Refuse a file of `size` bytes over the `--max-file-mb` limit (MiB).

    Raises:
        ReaderError: "file is 50.0 MB, over the --max-file-mb limit of 20".
    """
    if size > max_file_mb * _MB:
        raise ReaderError(f"file is {size / _MB:.1f} MB, over the --max-file-mb limit of {max_file_mb:g}")


def read_midi_bytes(data: bytes, source: str = "") -> Piece:
    """Parse Standard MIDI File bytes into one Piece (see `midifile.parse_smf`).

    Raises:
        ReaderError: for every failure, including ones the parser did not foresee.
        MemoryError: out of memory; not the file's fault, so not called corrupt.
    """
    try:
        return parse_smf(data, source)
    except (ReaderError, MemoryError):
        raise
    except Exception as e:  # a corrupt byte the parser did not foresee must still be one line
        raise ReaderError(f"corrupt MIDI file ({type(e).__name__})") from e


def read_score(path: str | Path) -> list[Piece]:
    """Read a MusicXML, kern or ABC file with music21; one Piece per score (per tune for ABC).

    Raises:
        FileAccessError: the file cannot be read.
        ReaderError: music21 could not parse the file, or it holds no score.
        MemoryError: out of memory (music21 is not to blame for it).
    """
    source = str(path)
    try:
        with warnings.catch_warnings():  # music21 warns freely about odd but readable input
            warnings.simplefilter("ignore")
            scores, bad_tunes = _parse_scores(Path(path))
            if not scores:
                raise ReaderError("no score found in file")
            many = len(scores) > 1 or bad_tunes > 0
            pieces = [_score_to_piece(score, f"{source}#{n}" if many else source) for n, score in scores]
    except (ReaderError, MemoryError):
        raise
    except OSError as e:
        raise FileAccessError(f"cannot read file: {e.strerror or e}") from e
    except RecursionError as e:
        raise ReaderError("music21 could not parse: nesting too deep") from e
    except Exception as e:  # music21 raises many types; each is one reason line for the user
        raise ReaderError(_parse_failure(e)) from e
    if bad_tunes:
        pieces[0].stats["bad_tunes"] = bad_tunes
    return pieces


def _parse_failure(e: Exception) -> str:
    lines = str(e).strip().splitlines()
    msg = lines[0].strip() if lines else type(e).__name__
    if len(msg) > _MAX_REASON:
        msg = msg[:_MAX_REASON - 3] + "..."
    return f"music21 could not parse: {msg}"


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:  # older ABC and kern collections are often Latin-1
        return data.decode("latin-1")


def _parse_scores(path: Path):
    """Returns ([(1-based index, score)], number of ABC tunes that failed to parse)."""
    from music21 import converter

    ext = path.suffix.lower()
    if ext in ABC_EXTS:
        return _parse_abc(_read_text(path))
    if ext == ".krn":
        obj = converter.parseData(_read_text(path), format="humdrum")
    else:
        obj = converter.parse(path, forceSource=True)  # no pickle cache: the corpus wing caches tokens
    return list(enumerate(_scores_of(obj), start=1)), 0


def _scores_of(obj) -> list:
    from music21 import stream

    if isinstance(obj, stream.Opus):
        return list(obj.scores)
    return [obj]


def _parse_abc(text: str):
    """Parse all tunes at once; if that fails, tune by tune so one bad tune loses only itself."""
    from music21 import converter

    try:
        return list(enumerate(_scores_of(converter.parseData(text, format="abc")), start=1)), 0
    except MemoryError:
        raise  # not the tunes' fault: the whole file is to be tried again
    except Exception as whole_error:
        tunes = _split_abc(text)
        if len(tunes) < 2:
            raise
        scores, bad = [], 0
        for n, tune in enumerate(tunes, start=1):
            try:
                scores.extend((n, s) for s in _scores_of(converter.parseData(tune, format="abc")))
            except MemoryError:
                raise
            except Exception:
                bad += 1
        if not scores:
            raise whole_error
        return scores, bad


_ABC_FIELD = re.compile(r"^([A-Za-z]:|%%)")


def _split_abc(text: str) -> list[str]:
    """The tunes of an ABC file (from each 'X:' line), each with the file header's fields."""
    header, tunes = [], []
    for line in text.splitlines(keepends=True):
        if line.startswith("X:"):
            tunes.append([line])
        elif tunes:
            tunes[-1].append(line)
        elif _ABC_FIELD.match(line):
            header.append(line)
    head = "".join(header)
    return [head + "".join(lines) for lines in tunes]


def _score_to_piece(score, source: str) -> Piece:
    """One music21 score as a Piece, following the steps of music21's MIDI export."""
    from music21 import stream, volume

    stats: Counter = Counter()
    score = _expand_repeats(score, stats)
    if score.atSoundingPitch is False:
        score.toSoundingPitch(inPlace=True)
    parts = list(score.getElementsByClass(stream.Stream)) if score.hasPartLikeStreams() else [score]
    notes: list[Note] = []
    metas: dict[tuple[str, float], object] = {}  # (kind, offset) -> value; the first part wins
    for part in parts:
        part.stripTies(inPlace=True, matchByPitch=True)
        volume.realizeVolume(part)
        _read_part(part.flatten(), notes, metas, stats)
    if parts and parts[0] is not score:  # tempo or meter set on the score itself, outside every part
        _read_part(score, [], metas, stats)
    tempos, meters, keys = _conductor(metas)
    return Piece(notes, tempos, meters, keys, source=source, stats={k: v for k, v in stats.items() if v})


def _expand_repeats(score, stats: Counter):
    """Repeats expanded as the MIDI export does; a badly formed repeat is left as written."""
    from music21 import bar, repeat

    # Building an Expander flattens the part: look for a repeat sign first (most files have none)
    if score.recurse().getElementsByClass((bar.Repeat, repeat.RepeatExpression)).first() is None:
        return score
    parts = list(score.parts) if score.hasPartLikeStreams() else [score]
    try:
        expandable = [repeat.Expander(p).isExpandable() if p.hasMeasures() else None for p in parts]
        if True in expandable:
            return score.expandRepeats()
    except Exception:  # music21's own export fails here too; the notes as written still count
        stats["repeats_not_expanded"] += 1
        return score
    if False in expandable:  # repeat signs music21 cannot make sense of (the export refuses them)
        stats["repeats_not_expanded"] += 1
    return score


def _read_part(flat, notes: list, metas: dict, stats: Counter) -> None:
    """Append one flattened part's notes; collect its tempos, meters and keys into `metas`."""
    from music21 import chord, harmony, instrument, key, meter, note, percussion, tempo

    program = 0
    for el in flat:
        if isinstance(el, note.NotRest):
            if isinstance(el, harmony.Harmony):  # chord symbols: labels, not notes, in a score
                stats["chord_symbols"] += 1
                continue
            if isinstance(el, (note.Unpitched, percussion.PercussionChord)):
                stats["unpitched"] += len(el.notes) if isinstance(el, percussion.PercussionChord) else 1
                continue
            if isinstance(el, chord.Chord):
                shared = None if el.hasComponentVolumes() else el.volume.cachedRealized
                members = [(n.pitch, shared if shared is not None else n.volume.cachedRealized)
                           for n in el.notes]
            elif isinstance(el, note.Note):
                members = [(el.pitch, el.volume.cachedRealized)]
            else:
                continue
            length = float(el.duration.quarterLength)
            if length <= 0 or el.duration.isGrace:
                stats["grace_notes"] += len(members)
                continue
            onset = float(flat.elementOffset(el))
            for p, realized in members:
                midi = p.midi
                if not 0 <= midi <= 127:
                    stats["out_of_range"] += 1
                    continue
                velocity = min(127, max(1, int(round(realized * 127))))
                notes.append(Note(onset, length, midi, velocity, program, False))
        elif isinstance(el, instrument.Instrument):
            program = el.midiProgram if el.midiProgram is not None and 0 <= el.midiProgram <= 127 else 0
        elif isinstance(el, tempo.MetronomeMark):
            bpm = el.getQuarterBPM()
            if bpm is None:
                continue
            if _MIN_BPM <= bpm <= _MAX_BPM:
                metas.setdefault(("tempo", float(flat.elementOffset(el))), float(bpm))
            else:
                stats["bad_tempo"] += 1
        elif isinstance(el, meter.TimeSignature):
            num, den = el.numerator, el.denominator
            if num >= 1 and den in (1, 2, 4, 8, 16, 32, 64):
                metas.setdefault(("meter", float(flat.elementOffset(el))), (num, den))
            else:
                stats["bad_time_signature"] += 1
        elif isinstance(el, key.KeySignature):
            mode = "minor" if isinstance(el, key.Key) and el.mode == "minor" else "major"
            if -7 <= el.sharps <= 7:
                metas.setdefault(("key", float(flat.elementOffset(el))), (el.sharps, mode))
            else:
                stats["bad_key_signature"] += 1


def _conductor(metas: dict):
    """Tempo map, meters and keys in time order, restatements of the same value dropped."""
    tempos, meters, keys = [], [], []
    for (kind, time), value in sorted(metas.items(), key=lambda kv: kv[0][1]):
        if kind == "tempo":
            if not tempos or tempos[-1].bpm != value:
                tempos.append(Tempo(time, value))
        elif kind == "meter":
            if not meters or (meters[-1].numerator, meters[-1].denominator) != value:
                meters.append(TimeSignature(time, *value))
        elif not keys or (keys[-1].sharps, keys[-1].mode) != value:
            keys.append(KeySignature(time, *value))
    return tempos, meters, keys
