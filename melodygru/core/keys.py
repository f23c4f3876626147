"""Keys: names, key signatures and a key-finding estimate from the notes.

A key is `(tonic, minor)`: the tonic's pitch class 0..11 (C = 0) and whether the mode is minor.
The estimate is Krumhansl-Schmuckler key finding: the duration-weighted pitch-class profile of the
notes is correlated with the Krumhansl & Kessler (1982) probe-tone profiles of all 24 keys, and
the best correlation wins. A file's key signature, where the notes do not contradict it, decides
(see `estimate_key`). `clear_key` asks three published profiles and answers only where all three
agree: a stricter test of whether music is in a key, used to choose among generated candidates.
"""


from __future__ import annotations

import re

import numpy as np

# Krumhansl & Kessler (1982) key profiles, tonic first
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
# two more published profiles, for `clear_key`: Temperley's (2007), from the excerpts of the
# Kostka & Payne harmony textbook, and Bellman's (2005), from Budge's (1943) chord counts
TKP_MAJOR = np.array([0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400])
TKP_MINOR = np.array([0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330])
BB_MAJOR = np.array([16.80, 0.86, 12.95, 1.41, 13.49, 11.93, 1.25, 20.28, 1.80, 8.04, 0.62, 10.57])
BB_MINOR = np.array([18.16, 0.69, 12.99, 13.34, 1.07, 11.15, 1.38, 21.07, 7.49, 1.53, 0.92, 10.21])
# and, for a key asked for, Aarden's (2003), from the Essen folksongs' melodies (music21's default)
AE_MAJOR = np.array([17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062, 0.145624, 8.15494,
                     0.232998, 4.95122])
AE_MINOR = np.array([18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161, 4.56621, 1.93186,
                     7.37619, 1.75623])
PROFILES = {"krumhansl-kessler": (KK_MAJOR, KK_MINOR), "temperley-kostka-payne": (TKP_MAJOR, TKP_MINOR),
            "bellman-budge": (BB_MAJOR, BB_MINOR), "aarden-essen": (AE_MAJOR, AE_MINOR)}
THREE = ("krumhansl-kessler", "temperley-kostka-payne", "bellman-budge")
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


def key_correlations(pc: np.ndarray, profile: str = "krumhansl-kessler") -> np.ndarray:
    """[2, 12]: correlation of a pitch-class profile with every major (row 0) and minor (row 1) key
    under one of `PROFILES`."""
    out = np.zeros((2, 12))
    if np.std(pc) <= 0:
        return out
    for mode, prof in enumerate(PROFILES[profile]):
        for tonic in range(12):
            out[mode, tonic] = float(np.corrcoef(np.roll(pc, -tonic), prof)[0, 1])
    return out


def best_key(pc: np.ndarray, profile: str = "krumhansl-kessler") -> tuple[float, int, bool]:
    """(correlation, tonic, minor) of the best-fitting key; ties go to major, then the lower tonic;
    a flat profile (no notes, or all twelve equally) gives (0, C, major)."""
    r = key_correlations(pc, profile)
    if not r.any():
        return 0.0, 0, False
    mode, tonic = divmod(int(np.argmax(r.reshape(-1))), 12)
    return float(r[mode, tonic]), tonic, bool(mode)


def clear_key(notes, profiles=THREE) -> tuple[int, bool] | None:
    """The key that every one of `profiles` (names of `PROFILES`) finds best for these notes, or
    None where they disagree (or there are no pitched notes). On the samples of a key-conditioned
    Bach model, the key music21's own key-finder (Aarden-Essen) reports agreed with the three
    default profiles' in 98% of the samples that had one; on a folk model's melodies in fewer,
    so a key asked for is checked with all four (`generation.choose.off_key`)."""
    pc = pitch_class_profile(notes)
    if np.std(pc) <= 0:
        return None
    found = {best_key(pc, name)[1:] for name in profiles}
    return found.pop() if len(found) == 1 else None


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
