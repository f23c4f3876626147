"""A studio's pieces: which files each one gets (`Outputs`, and `make_pieces`, the one place that
writes them), what the API says of a piece (`piece_row`: a URL for every file that was written,
and only those), and the names the server may hand out again (`Library`).

A file is served only by a name this server wrote in this session and only from its out folder:
a requested name is looked up, never joined to a path.
"""


from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..generation.files import SampleFiles

# the files a piece may have, by suffix: the API's name for each and how it is served. A new
# output (a score SVG, another audio format) is one line here and one switch in `Outputs`.
KINDS = {".mid": ("midi", "audio/midi"), ".wav": ("wav", "audio/wav"), ".png": ("png", "image/png"),
         ".musicxml": ("score", "application/vnd.recordare.musicxml+xml"), ".svg": ("svg", "image/svg+xml"),
         ".ogg": ("ogg", "audio/ogg"), ".flac": ("flac", "audio/flac")}
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,120}\.[a-z0-9]{1,10}")  # sample-001.mid: no '/', no '..'
MAX_AUDIO_SECONDS = 900.0  # a piece longer than 15 minutes gets no audio (a WAV of it would be 40 MB and more)
MAX_PIECES = 2000  # pieces a session lists at most (the oldest are dropped from the list, not deleted)


@dataclass(frozen=True)
class Outputs:
    """The files every piece gets besides its MIDI file.

    Attributes:
        audio: a WAV file (`io.audio`), played by the page.
        plot: a piano-roll PNG (`io.render.write_piano_roll`).
        score: a MusicXML score and its engraved SVG page (`io.score`).
    """

    audio: bool = True
    plot: bool = True
    score: bool = True


def make_pieces(checkpoint, settings: dict, primer: Path | None, out_dir: Path, outputs: Outputs,
                stage=lambda text: None) -> tuple[list[SampleFiles], dict]:
    """Generate the pieces a request asks for and write every file `outputs` names.

    Args:
        checkpoint: a loaded `Checkpoint`.
        settings: `GenerateRequest.settings()`.
        primer: the uploaded primer file, or None.
        stage: called with a few words whenever the work moves on (the job's progress).

    Returns:
        (the files of each piece, the generation's report as `GenerateResult.as_dict` gives it).

    Raises:
        MelodyGRUError: a setting the model refuses, with a one-line reason.
    """
    from ..generation.generate import generate

    s = dict(settings)
    stage("sampling" + (" and rendering audio" if outputs.audio else "") + (" and engraving scores" if outputs.score else ""))
    result = generate(checkpoint, length=s.pop("length"), num_samples=s.pop("num_samples"), primer=primer,
                      primer_bars=s.pop("primer_bars"), out_dir=out_dir, audio=outputs.audio, plot=outputs.plot,
                      score=outputs.score, max_audio_seconds=MAX_AUDIO_SECONDS, **s)
    report = result.as_dict()
    report.pop("samples", None)
    return result.files, report


def piece_row(files: SampleFiles, model: str, report: dict, outputs: Outputs) -> dict:
    """What the API says of one piece: `/files/NAME` for each of its files that exists (MIDI, and
    whatever else was written: wav, png, score, svg, ...), its numbers and how it was made, and
    under 'missing' the files `outputs` asked for that could not be written."""
    stem = files.midi.with_suffix("")
    row = {"id": stem.name}
    for suffix, (kind, _) in KINDS.items():
        path = stem.with_suffix(suffix)
        if path.is_file():
            row[kind] = f"/files/{path.name}"
    row.update(notes=files.notes, seconds=round(files.seconds, 3), bars=files.bars, tokens=files.tokens,
               model=model, seed=report.get("seed"), temperature=report.get("temperature"),
               top_k=report.get("top_k"), top_p=report.get("top_p"), key=report.get("key"),
               meter=report.get("meter"), style=report.get("style"), audio_renderer=files.renderer,
               created=round(time.time(), 3))
    missing = [kind for kind, wanted in (("wav", outputs.audio), ("png", outputs.plot), ("score", outputs.score))
               if wanted and kind not in row]
    if missing:
        row["missing"] = missing
    if files.report.describe():
        row["written"] = files.report.describe()  # what MIDI could not hold, never silently
    return row


class Library:
    """The pieces of this session and the files the server may serve (only those it wrote).

    Args:
        out_dir: the folder every file is written to.
    """

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir).resolve()
        self._lock = threading.Lock()
        self._pieces: list[dict] = []
        self._files: dict[str, Path] = {}

    def add(self, rows: list[dict]) -> None:
        """List these pieces and let their files be served."""
        with self._lock:
            for row in rows:
                for suffix, (kind, _) in KINDS.items():
                    if kind in row:
                        name = row[kind].rpartition("/")[2]
                        self._files[name] = self.out_dir / name
            self._pieces.extend(rows)
            del self._pieces[:-MAX_PIECES]

    def pieces(self) -> list[dict]:
        """The session's pieces, newest first."""
        with self._lock:
            return list(reversed(self._pieces))

    def file(self, name: str) -> tuple[Path, str]:
        """The path and media type of a file this server wrote, by its name.

        Raises:
            RequestError: (400) a name that is not a plain file name; (404) none this server wrote.
        """
        from .request import RequestError

        if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
            raise RequestError(f"not a file name this server writes: {name[:80]!r}")
        with self._lock:
            path = self._files.get(name)
        if path is None or path.is_symlink() or not path.is_file():  # a link put there later: not ours
            raise RequestError(f"no file {name} in this session", 404)
        return path, KINDS[path.suffix][1]
