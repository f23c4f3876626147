"""Round-trip note recall on score-derived MIDI: the bach and folk corpora, or a few composers'
polyphonic scores from music21's corpus, exported by music21.

    python benchmarks/roundtrip_corpus.py [--corpus bach --corpus folk] [--every N] [--work DIR]
    python benchmarks/roundtrip_corpus.py --composers palestrina,monteverdi,mozart,beethoven,haydn [--per-composer 6]

Exports every piece of the chosen built-in corpora to MIDI with music21 (`score.write('midi')`,
one file per tune of a multi-tune ABC file; pieces music21 itself cannot export are counted and
listed), then runs `melodygru roundtrip` on each exported set and prints its total line. With
`--composers`, the scores are `--per-composer` files of each composer (spread evenly over music21's
sorted list of that composer's score files) exported as one more set, 'composers'.

The recall is measured on the MIDI files roundtrip writes, read back with mido (issue 11), so
what the writer loses (a unison cut short, an instrument on another's channel) counts as well as
what the tokenizer loses. The goal (issues 2 and 11) is recall >= 99.5% on every set.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def export_one(src: str, out_dir: str, stem: str = "") -> tuple[int, list[str]]:
    """Export every score of one corpus file as `stem` (default: the file's own); returns
    (written, failures)."""
    from music21 import converter

    written, failures = 0, []
    try:
        parsed = converter.parse(src)
    except Exception as e:
        return 0, [f"{src}: music21 cannot parse ({type(e).__name__})"]
    scores = list(parsed.scores) if hasattr(parsed, "scores") else [parsed]
    stem = stem or Path(src).stem
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
    ap.add_argument("--composers", default="",
                    help="comma-separated music21 corpus composers (e.g. palestrina,monteverdi,mozart,beethoven)")
    ap.add_argument("--per-composer", type=int, default=6, help="score files per composer (default 6)")
    ap.add_argument("--every", type=int, default=1,
                    help="export every N-th file of each corpus (a deterministic sample; 1 = all)")
    ap.add_argument("--work", type=Path, default=None, help="keep the exported MIDI and reconstructions here")
    args = ap.parse_args()
    composers = [c.strip() for c in args.composers.split(",") if c.strip()]
    corpora = args.corpus or ([] if composers else ["bach", "folk"])
    from melodygru.corpus.walk import corpus_files

    sets = {name: corpus_files(name)[:: max(args.every, 1)] for name in corpora}
    if composers:
        sets["composers"] = [f for c in composers for f in composer_files(c, args.per_composer)]
    # composers' works share file names (mozart/k155/movement1, haydn/.../movement1): name them by
    # their path inside music21's corpus
    stems = {f: corpus_stem(f) for f in sets.get("composers", [])}
    work = args.work or Path(tempfile.mkdtemp(prefix="melodygru-rt-"))
    code = 0
    for name, files in sets.items():
        out = work / "midi" / name
        out.mkdir(parents=True, exist_ok=True)
        written, failures = 0, []
        with ProcessPoolExecutor() as pool:
            for w, f in pool.map(export_one, map(str, files), [str(out)] * len(files),
                                 [stems.get(f, "") for f in files]):
                written += w
                failures += f
        print(f"{name}: exported {written} pieces from {len(files)} files to MIDI; music21 failed on {len(failures)}")
        for line in failures[:20]:
            print("  " + line)
        args_ = ["roundtrip", str(out), "--out", str(work / "roundtrip" / name), "-q"]
        print("$ melodygru", *args_, flush=True)
        code = max(code, subprocess.run([sys.executable, "-m", "melodygru.cli", *args_]).returncode)
    return code


def corpus_stem(path: str) -> str:
    """`.../corpus/mozart/k155/movement1.mxl` -> `mozart-k155-movement1`."""
    parts = Path(path).with_suffix("").parts
    inside = parts[len(parts) - parts[::-1].index("corpus"):] if "corpus" in parts else parts[-1:]
    return "-".join(inside)


def composer_files(composer: str, count: int) -> list[str]:
    """`count` score files of a music21 corpus composer, spread evenly over its sorted list
    (analyses such as .rntxt are no scores and are left out)."""
    from music21 import corpus

    files = sorted(str(p) for p in corpus.getComposer(composer)
                   if Path(p).suffix.lower() in (".mxl", ".xml", ".musicxml", ".krn", ".abc"))
    if not files:
        raise SystemExit(f"error: music21's corpus has no score files by {composer!r}")
    step = max(1, len(files) // max(count, 1))
    return files[::step][:count]


if __name__ == "__main__":
    sys.exit(main())
