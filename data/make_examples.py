"""Export a small example folder of MIDI files from music21's bundled corpus (rerunnable).

    python data/make_examples.py            # writes data/examples/{bach,folk}/*.mid

Used by the README's "train your own" example and by the tests. The output is deterministic:
the same music21 version writes the same files.
"""

from __future__ import annotations

import sys
from pathlib import Path

BACH = ["bach/bwv66.6", "bach/bwv7.7", "bach/bwv40.8", "bach/bwv84.5", "bach/bwv253", "bach/bwv269",
        "bach/bwv347", "bach/bwv394", "bach/bwv416", "bach/bwv438"]
FOLK = [("essenFolksong/altdeu10", 4), ("oneills1850/0001-0050", 6)]  # (work, number of tunes)


def main(out: Path) -> int:
    from music21 import corpus

    (out / "bach").mkdir(parents=True, exist_ok=True)
    (out / "folk").mkdir(parents=True, exist_ok=True)
    written = 0
    for name in BACH:
        score = corpus.parse(name)
        score.write("midi", fp=str(out / "bach" / (name.split("/")[1] + ".mid")))
        written += 1
    for name, count in FOLK:
        opus = corpus.parse(name)
        scores = list(opus.scores) if hasattr(opus, "scores") else [opus]
        done = 0
        for score in scores:
            if done == count:
                break
            try:  # music21 cannot export a few ABC tunes (a duplicated meter); take the next one
                score.write("midi", fp=str(out / "folk" / f"{name.split('/')[1]}-{done + 1}.mid"))
            except Exception as e:
                print(f"skipped a tune of {name}: {type(e).__name__}", file=sys.stderr)
                continue
            done += 1
            written += 1
    print(f"wrote {written} MIDI files under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "examples"))
