"""Round-trip note recall on score-derived MIDI: the bach and folk corpora exported by music21.

    python benchmarks/roundtrip_corpus.py [--corpus bach --corpus folk] [--every N] [--work DIR]

Exports every piece of the chosen built-in corpora to MIDI with music21 (`score.write('midi')`,
one file per tune of a multi-tune ABC file; pieces music21 itself cannot export are counted and
listed), then runs `melodygru roundtrip` on the exported folder and prints its total line last.
The goal (issue 2) is recall >= 99.5%.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def export_one(src: str, out_dir: str) -> tuple[int, list[str]]:
    """Export every score of one corpus file; returns (written, failures)."""
    from music21 import converter

    written, failures = 0, []
    try:
        parsed = converter.parse(src)
    except Exception as e:
        return 0, [f"{src}: music21 cannot parse ({type(e).__name__})"]
    scores = list(parsed.scores) if hasattr(parsed, "scores") else [parsed]
    stem = Path(src).stem
    for i, score in enumerate(scores, start=1):
        name = f"{stem}-{i}.mid" if len(scores) > 1 else f"{stem}.mid"
        try:
            score.write("midi", fp=str(Path(out_dir) / name))
            written += 1
        except Exception as e:
            failures.append(f"{src}#{i}: music21 cannot export ({type(e).__name__})")
    return written, failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", action="append", choices=["bach", "folk"])
    ap.add_argument("--every", type=int, default=1,
                    help="export every N-th file of each corpus (a deterministic sample; 1 = all)")
    ap.add_argument("--work", type=Path, default=None, help="keep the exported MIDI and reconstructions here")
    args = ap.parse_args()
    corpora = args.corpus or ["bach", "folk"]
    from melodygru.corpus import corpus_files

    work = args.work or Path(tempfile.mkdtemp(prefix="melodygru-rt-"))
    for name in corpora:
        out = work / "midi" / name
        out.mkdir(parents=True, exist_ok=True)
        files = corpus_files(name)[:: max(args.every, 1)]
        written, failures = 0, []
        with ProcessPoolExecutor() as pool:
            for w, f in pool.map(export_one, map(str, files), [str(out)] * len(files)):
                written += w
                failures += f
        print(f"{name}: exported {written} pieces from {len(files)} files to MIDI; music21 failed on {len(failures)}")
        for line in failures[:20]:
            print("  " + line)
    cmd = [sys.executable, "-m", "melodygru.cli", "roundtrip", str(work / "midi"), "--out", str(work / "roundtrip"), "-q"]
    print("$ melodygru roundtrip", str(work / "midi"), "--out", str(work / "roundtrip"), "-q", flush=True)
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    sys.exit(main())
