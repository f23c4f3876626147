"""Keys: names, key signatures and a key-finding estimate from the notes.

A key is `(tonic, minor)`: the tonic's pitch class 0..11 (C = 0) and whether the mode is minor.
The estimate is Krumhansl-Schmuckler key finding: the duration-weighted pitch-class profile of the
notes is correlated with the Krumhansl & Kessler (1982) probe-tone profiles of all 24 keys, and
the best correlation wins. A file's key signature, where the notes do not contradict it, decides
(see `estimate_key`).
"""


from __future__ import annotations

import re

import numpy as np

# Krumhansl & Kessler (1982) key profiles, tonic first
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
# one spelling per pitch class (a key name; the signature written is `sharps_of`'s, within 6 either way)
TONIC_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_KEY_RE = re.compile(r"^\s*([A-Ga-g])\s*([#♯]|b|♭|s|-)?\s*(m|min|minor|maj|major|M)?\s*$")


def key_name(tonic: int, minor: bool) -> str:
    """'C', 'F#m', 'Bb', ...: the tonic's name, 'm' for minor."""
    return TONIC_NAMES[int(tonic) % 12] + ("m" if minor else "")


def long_key_name(tonic: int, minor: bool) -> str:
    """'C major', 'F# minor'."""
    return f"{TONIC_NAMES[int(tonic) % 12]} {'minor' if minor else 'major'}"


def parse_key(text: str) -> tuple[int, bool]:
    """'D minor', 'Dm', 'F# major', 'Bb', 'eb minor' -> (tonic, minor).

    Raises:
        ValueError: not a key name (the message says what is accepted).
    """
    t = str(text).strip()
    words = t.split()
    if len(words) == 2 and words[1].lower() in ("major", "minor", "maj", "min"):
        t = words[0] + ("m" if words[1].lower().startswith("min") else "")
    m = _KEY_RE.match(t)
    if not m:
        raise ValueError(f"{text!r} is not a key: use a tonic and a mode, e.g. 'D minor', 'Dm', 'F# major' or 'Bb'")
    letter, accidental, mode = m.groups()
    tonic = _LETTERS[letter.upper()]
    if accidental in ("#", "♯", "s"):
        tonic += 1
    elif accidental in ("b", "♭", "-"):
        tonic -= 1
    minor = mode in ("m", "min", "minor")
    return tonic % 12, minor


def sharps_of(tonic: int, minor: bool) -> int:
    """The key signature of a key, -6..6 (negative: flats; F# major / Eb minor get 6 sharps / 6 flats)."""
    major_tonic = (int(tonic) + (3 if minor else 0)) % 12
    sharps = (major_tonic * 7) % 12  # the circle of fifths: C 0, G 1, D 2, ...
    if sharps > 6:
        sharps -= 12
    return -6 if minor and sharps == 6 else sharps  # Eb minor (as TONIC_NAMES spells it), not D# minor


def keys_of_signature(sharps: int) -> tuple[tuple[int, bool], tuple[int, bool]]:
    """The major key and its relative minor written with `sharps` (-7..7)."""
    major = (int(sharps) * 7) % 12
    return (major, False), ((major + 9) % 12, True)


def pitch_class_profile(notes) -> np.ndarray:
    """Duration-weighted share of each pitch class among the pitched notes (drums left out), [12]."""
    pc = np.zeros(12)
    for n in notes:
        if not n.is_drum:
            pc[n.pitch % 12] += max(n.duration, 1 / 12)
    total = pc.sum()
    return pc / total if total > 0 else pc


def key_correlations(pc: np.ndarray) -> np.ndarray:
    """[2, 12]: correlation of a pitch-class profile with every major (row 0) and minor (row 1) key."""
    out = np.zeros((2, 12))
    if np.std(pc) <= 0:
        return out
    for mode, prof in enumerate((KK_MAJOR, KK_MINOR)):
        for tonic in range(12):
            out[mode, tonic] = float(np.corrcoef(np.roll(pc, -tonic), prof)[0, 1])
    return out


def best_key(pc: np.ndarray) -> tuple[float, int, bool]:
    """(correlation, tonic, minor) of the best-fitting key; ties go to major, then the lower tonic;
    a flat profile (no notes, or all twelve equally) gives (0, C, major)."""
    r = key_correlations(pc)
    if not r.any():
        return 0.0, 0, False
    mode, tonic = divmod(int(np.argmax(r.reshape(-1))), 12)
    return float(r[mode, tonic]), tonic, bool(mode)


SIGNATURE_MARGIN = 0.1  # a signature's keys may fit this much worse than the best key and still win


def estimate_key(piece) -> tuple[int, bool]:
    """The key of a piece, from its first key signature where the notes allow it, else from the notes.

    The signature's own key (its sharps and stated mode) when that key's correlation comes within
    `SIGNATURE_MARGIN` of the best of all 24; else whichever of the signature's two keys (the major
    and the relative minor) the notes fit better, if that one comes within the margin; else, as
    without a signature (or when the file's signature is wrong: a MIDI file's default C major over
    music in E, say), the best of all 24.
    """
    pc = pitch_class_profile(piece.notes)
    r = key_correlations(pc)
    if not r.any():
        return 0, False
    best, tonic, minor = best_key(pc)
    signatures = getattr(piece, "key_signatures", None) or []
    if signatures and -7 <= signatures[0].sharps <= 7:
        (maj, _), (mnr, _) = keys_of_signature(signatures[0].sharps)
        stated = (mnr, True) if signatures[0].mode == "minor" else (maj, False)
        fitter = (mnr, True) if r[1, mnr] > r[0, maj] else (maj, False)
        for choice in (stated, fitter):
            if r[int(choice[1]), choice[0]] >= best - SIGNATURE_MARGIN:
                return choice
    return tonic, minor
