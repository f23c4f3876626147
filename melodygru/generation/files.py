"""Writing generated samples: file names that never overwrite (unless forced), MIDI, audio
(WAV, FLAC or Ogg), piano-roll PNG and score (MusicXML and SVG) files, the per-file summary `generate` prints and the command's whole report
(`GenerateResult`).
"""


from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.errors import MelodyGRUError
from ..core.events import Piece
from ..io.writers import WriteReport, bar_lines, seconds, write_midi_with_report

if TYPE_CHECKING:
    from .primer import Primer

OUTPUT_SUFFIXES = (".mid", ".wav", ".flac", ".ogg", ".png", ".musicxml", ".svg")  # every file a sample may have


@dataclass
class Sample:
    """One generated piece: its tokens as the model drew them (BOS, primer, new tokens, EOS if it
    ended) and its notes as they are written (after `--monophonic` or `--voices` shortened held
    notes, and a requested tempo or program, so `piece` is not always `decode(ids)`), and, when it
    was chosen among candidates, the critic's score and which candidate it was."""

    ids: np.ndarray
    piece: Piece
    new_tokens: int
    ended: bool
    critic_score: float | None = None
    candidate: int | None = None
    reached: bool = False  # stopped at the bar line a length in bars or seconds asked for (`length.Stop`)



# --------------------------------------------------------------------------- files
@dataclass
class SampleFiles:
    """What was written for one sample, with the numbers printed for every file."""

    midi: Path
    wav: Path | None  # the audio file, of any --audio-format
    png: Path | None
    notes: int
    seconds: float
    bars: int
    tokens: int
    ended: bool
    renderer: str | None = None
    report: WriteReport = field(default_factory=WriteReport)
    critic_score: float | None = None  # the critic's log-odds that it is real, when chosen among candidates
    musicxml: Path | None = None
    svg: Path | None = None
    score: str = ""  # the score's parts, key and what writing it changed (`io.score.ScoreReport.describe`)

    @property
    def paths(self) -> list[Path]:
        return [p for p in (self.midi, self.wav, self.png, self.musicxml, self.svg) if p is not None]

    def as_dict(self) -> dict:
        return {"midi": str(self.midi), "wav": str(self.wav) if self.wav else None,  # "wav": any audio format
                "audio": str(self.wav) if self.wav else None,
                "png": str(self.png) if self.png else None,
                "musicxml": str(self.musicxml) if self.musicxml else None, "svg": str(self.svg) if self.svg else None,
                **({"score_report": self.score} if self.score else {}),
                "notes": self.notes,
                "seconds": round(self.seconds, 3), "bars": self.bars, "tokens": self.tokens,
                "ended_with_eos": self.ended, "audio_renderer": self.renderer, "written": self.report.as_dict(),
                **({"critic_score": round(self.critic_score, 4)} if self.critic_score is not None else {})}


def count_bars(piece: Piece) -> int:
    """Bars the music spans (a bar counts once a note sounds in it)."""
    end = piece.end
    return sum(1 for x in bar_lines(piece) if x < end - 1e-9)


def reserve_stems(out_dir, count: int, force: bool = False, prefix: str = "sample") -> list[Path]:
    """`count` output stems `out_dir/prefix-NNN`: the first free numbers, or 1..count with `force`.

    A number is free when none of its files (`OUTPUT_SUFFIXES`) exists; it is claimed by creating the .mid
    exclusively, so two runs writing into one folder at once never pick the same name.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MelodyGRUError(f"cannot create output folder {out_dir}: {e.strerror or e}") from None
    if not out_dir.is_dir():
        raise MelodyGRUError(f"output path {out_dir} is not a folder")
    if force:
        return [out_dir / f"{prefix}-{n:03d}" for n in range(1, count + 1)]
    stems, n = [], 0
    while len(stems) < count:
        n += 1
        stem = out_dir / f"{prefix}-{n:03d}"
        if any(stem.with_suffix(s).exists() for s in OUTPUT_SUFFIXES):
            continue
        try:
            os.close(os.open(stem.with_suffix(".mid"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        stems.append(stem)
    return stems


def write_samples(samples: list[Sample], out_dir, audio: bool = False, plot: bool = False,
                  force: bool = False, audio_format: str = "wav", score: bool = False,
                  max_audio_seconds: float | None = None) -> list[SampleFiles]:
    """Write each sample as MIDI (and audio in `audio_format`, a piano-roll PNG, a MusicXML score
    with its engraved SVG page) under fresh names; see `reserve_stems`. A sample over
    `max_audio_seconds` gets no audio file, and its renderer line says why."""
    stems = reserve_stems(out_dir, len(samples), force=force)
    written = []
    try:
        for s, stem in zip(samples, stems):
            midi, report = write_midi_with_report(s.piece, stem.with_suffix(".mid"))
            wav = renderer = png = xml = svg = None
            described = ""
            lasts = seconds(s.piece)
            if audio and max_audio_seconds is not None and lasts > max_audio_seconds:
                renderer = f"no audio: {lasts:,.0f} s is over the limit of {max_audio_seconds:,.0f} s"
            elif audio:
                from ..io.audio import write_audio

                wav, rendered = write_audio(s.piece, stem.with_suffix("." + audio_format), audio_format)
                renderer = rendered.describe()
            if plot:
                from ..io.render import write_piano_roll

                png = write_piano_roll(s.piece, stem.with_suffix(".png"), title=stem.name)
            if score:
                from ..io.score import write_score

                sheet = write_score(s.piece, stem.with_suffix(".musicxml"), title=stem.name)
                xml, svg, described = sheet.musicxml, sheet.svg, sheet.report.describe()
            written.append(SampleFiles(midi, wav, png, len(s.piece.notes), lasts,
                                       count_bars(s.piece), len(s.ids), s.ended, renderer, report, s.critic_score,
                                       xml, svg, described))
    finally:
        if not force:  # names claimed but never written (an error on the way): give them back
            for stem in stems[len(written):]:
                mid = stem.with_suffix(".mid")
                try:
                    if mid.stat().st_size == 0:
                        mid.unlink()
                except OSError:
                    pass
    return written


# --------------------------------------------------------------------------- the command's report
@dataclass
class GenerateResult:
    """What `generate` did, for printing (`lines`) or as JSON (`as_dict`)."""

    checkpoint: Path
    description: str
    seed: int
    settings: dict
    primer: Primer | None
    files: list[SampleFiles]
    decode_seconds: float

    def as_dict(self) -> dict:
        return {"checkpoint": str(self.checkpoint), "model": self.description, "seed": self.seed,
                **self.settings, "primer": self.primer.as_dict() if self.primer else None,
                "decode_seconds": round(self.decode_seconds, 3), "samples": [f.as_dict() for f in self.files]}

    def lines(self) -> list[str]:
        s = self.settings
        size = f"{s['stop']} (at most {s['length']} tokens)" if s.get("stop") else f"{s['length']} tokens"
        out = [f"{self.checkpoint} ({self.description}): {len(self.files)} x {size} in "
               f"{self.decode_seconds:.2f} s, seed {self.seed}, temperature {s['temperature']:g}"
               + (f", top-k {s['top_k']}" if s["top_k"] else "")
               + (f", top-p {s['top_p']:g}" if s["top_p"] < 1 else "")
               + "".join(f", {k.lower()} {v:g}" for k, v in s.get("temperatures", {}).items())
               + (", form plans" if s.get("form") else "")
               + (", one note at a time" if s.get("monophonic") else "")
               + (f", at most {s['voices']} voices" if s.get("voices") and not s.get("monophonic") else "")
               + (f", scale penalty {s['scale_penalty']:g}" if s.get("scale_penalty") else "")
               + (f", in {s['key']}" if s.get("key") else "") + (f", in {s['meter']}" if s.get("meter") else "")
               + (f", style {s['style']}" if s.get("style") else "")
               + (f", the critic's {dict(weighted='pick', matched='set-wide pick').get(s.get('selection'), 'best')} of {s['candidates']} "
                  "candidates" if s.get("candidates", 1) > 1 else "")
               + (f", resampled every {s['resample_every']} tokens" if s.get("resample_every") else "")]
        if s.get("stop"):
            others = "ended with the model's own end of piece or " if s.get("allow_end") else ""
            rest = f" (the others {others}stopped at {s['length']} tokens)" if s["reached"] < len(self.files) else ""
            out.append(f"{s['reached']} of {len(self.files)} samples stopped at the first bar line at or after "
                       f"{s['stop']}{rest}")
        elif s.get("allow_end"):
            out.append(f"{s['ended']} of {len(self.files)} samples ended with the model's own end of piece "
                       f"(the others stopped at {s['length']} tokens)")
        if self.primer:
            p = self.primer
            changes = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(p.lossy.items()))
            lossy = f" [{changes}]" if changes else ""
            out.append(f"primer {p.source}: first {p.bars} bars, {p.notes} notes kept verbatim{lossy}")
        for f in self.files:
            for path in f.paths:
                extra = f" ({f.renderer})" if path == f.wav else f" ({f.score})" if path == f.musicxml and f.score else ""
                if path == f.midi and f.report.describe():  # never silently: what the file could not hold
                    extra = f"  [{f.report.describe()}]"
                out.append(f"{path}  {f.notes} notes  {f.seconds:.1f} s  {f.bars} bars{extra}")
        return out
