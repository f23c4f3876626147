"""How often melodygru's key (core/keys.py: the file's key signature where the notes allow it, else
the Krumhansl-Schmuckler estimate) agrees with the key music21's chorales state (signature and
mode), against the notes alone (the best of 24 keys, no signature) as the baseline.

Usage: python benchmarks/key_finding.py
"""

from __future__ import annotations

from music21 import corpus

from melodygru.core.keys import best_key, estimate_key, keys_of_signature, pitch_class_profile
from melodygru.io.readers import read_score


def main() -> None:
    n = with_signature = notes_only = minor = 0
    for path in corpus.getComposer("bach"):
        for piece in read_score(path):
            if not piece.notes or not piece.key_signatures:
                continue
            ks = piece.key_signatures[0]
            major, relative_minor = keys_of_signature(ks.sharps)
            stated = relative_minor if ks.mode == "minor" else major
            _, tonic, is_minor = best_key(pitch_class_profile(piece.notes))
            n += 1
            with_signature += estimate_key(piece) == stated
            notes_only += (tonic, is_minor) == stated
            minor += stated[1]
    print(f"{n} chorales with a stated key ({minor / n:.0%} minor)")
    print(f"melodygru's key (signature where the notes allow it) = the stated key: {with_signature / n:.1%}")
    print(f"notes alone (best of 24 keys) = the stated key: {notes_only / n:.1%}")
    print(f"ratio: {with_signature / max(notes_only, 1):.2f}x as many agree")


if __name__ == "__main__":
    main()
