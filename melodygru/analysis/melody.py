"""The top line of a piece and what a listener checks in a harmonization of it: the melody
kept note for note, the other notes below it, the voices at its onsets and the parallel fifths
and octaves between the melody and the bass (`check_harmony`, `outer_parallels`). Read by
`generation.harmonize` and the harmonizing benchmark."""


from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..core.events import Note, Piece

LEGATO_QUARTERS = 0.25  # a melody note held this much into the next one (legato playing) ends there


@dataclass(frozen=True)
class MelodyNote:
    onset: int  # grid steps from the start
    duration: int  # grid steps, >= 1
    pitch: int


def melody_line(piece: Piece, steps_per_quarter: int) -> list[MelodyNote]:
    """The top line of a piece on the tokenizer's grid: at each onset, the highest note starting
    there when nothing sounding from before is as high (a held soprano note keeps the line while
    lower voices move; a note held less than `LEGATO_QUARTERS` into the next is over); a note still
    sounding when the next starts ends there."""
    notes = sorted((n for n in piece.notes if not n.is_drum), key=lambda n: (n.onset, -n.pitch))
    line: list[MelodyNote] = []
    held: list[Note] = []
    for n in notes:
        if held and held[-1].onset == n.onset:
            continue  # a lower note of the same onset
        held = [h for h in held if h.onset + h.duration > n.onset + LEGATO_QUARTERS + 1e-9]
        if any(h.pitch >= n.pitch for h in held):
            continue  # under a melody note still sounding
        held.append(n)
        onset = int(round(n.onset * steps_per_quarter))
        end = int(round((n.onset + n.duration) * steps_per_quarter))
        if line and line[-1].onset + line[-1].duration > onset:
            last = line.pop()
            if onset > last.onset:
                line.append(dataclasses.replace(last, duration=onset - last.onset))
        if end > onset:
            line.append(MelodyNote(onset, end - onset, n.pitch))
    return line


def check_harmony(melody: list[MelodyNote], piece: Piece, steps_per_quarter: int) -> dict:
    """What a listener checks in a harmonization: the share of melody notes kept exactly (pitch,
    onset, duration), the share of other notes that sound below every melody note they sound
    with, the share of melody onsets where at least 3 voices sound, and the parallel fifths and
    octaves between the melody and the bass (`outer_parallels`)."""
    spq = steps_per_quarter
    notes = [(int(round(n.onset * spq)), int(round(n.duration * spq)), n.pitch) for n in piece.notes if not n.is_drum]
    wanted = {(m.onset, m.duration, m.pitch) for m in melody}
    kept = len(wanted & set(notes))
    others = [n for n in notes if n not in wanted]
    below = 0
    for on, dur, pitch in others:
        over = [m for m in melody if m.onset < on + dur and on < m.onset + m.duration]
        below += all(pitch < m.pitch for m in over)
    voices = sum(1 for m in melody if sum(1 for on, dur, _ in notes if on <= m.onset < on + dur) >= 3)
    fifths, octaves = outer_parallels(melody, others)
    return {"melody_kept": kept / len(melody), "below_melody": below / len(others) if others else 1.0,
            "three_voices": voices / len(melody), "melody_notes": len(melody), "other_notes": len(others),
            "parallel_fifths": fifths, "parallel_octaves": octaves}


def outer_parallels(melody: list[MelodyNote], others) -> tuple[int, int]:
    """(parallel fifths, parallel octaves) between the outer voices: the melody and the lowest of
    the `others` (onset, duration, pitch on the grid) sounding with it. At every step where either
    outer voice starts a note and both sound, the interval between them is taken; two consecutive
    such points with both voices moving the same way and the same perfect fifth, or the same
    octave or unison (compound intervals count as their simple ones), are one parallel."""
    times = sorted({m.onset for m in melody} | {on for on, _, _ in others})
    points = []
    for t in times:
        top = [m.pitch for m in melody if m.onset <= t < m.onset + m.duration]
        low = [p for on, dur, p in others if on <= t < on + dur and top and p < top[0]]
        if top and low:
            points.append((top[0], min(low)))
    fifths = octaves = 0
    for (s1, b1), (s2, b2) in zip(points, points[1:]):
        if s1 == s2 or b1 == b2 or (s2 > s1) != (b2 > b1) or (s1 - b1) % 12 != (s2 - b2) % 12:
            continue
        fifths += (s1 - b1) % 12 == 7
        octaves += (s1 - b1) % 12 == 0
    return fifths, octaves
