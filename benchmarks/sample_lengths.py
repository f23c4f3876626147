"""How long generated pieces are, beside the run's held-out pieces (the listening test cuts its
reference to the samples' lengths, so it cannot see a difference here; a listener can).

    python benchmarks/sample_lengths.py --checkpoint checkpoints/folk /tmp/folk100 /tmp/folk100-plain

Prints, for each folder of MIDI files and for the run's validation pieces, the median length in
quarter notes (onset of the first note to the end of the last) and the 10th and 90th percentiles.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def describe(name: str, lengths) -> str:
    q = np.percentile(lengths, [10, 50, 90])
    return f"{name}: {len(lengths)} pieces, median {q[1]:.1f} quarter notes (10th-90th percentile {q[0]:.1f}-{q[2]:.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--checkpoint", type=Path, required=True)
    a = ap.parse_args()

    from melodygru.corpus.build import build_corpus
    from melodygru.evaluation.likelihood import training_sources
    from melodygru.io.readers import read_file
    from melodygru.tokens.tokenizer import Tokenizer

    for folder in a.folders:
        pieces = [read_file(str(p))[0] for p in sorted(folder.glob("*.mid"))]
        print(describe(str(folder), [p.end - min(n.onset for n in p.notes) for p in pieces if p.notes]))
    tok = Tokenizer.load(a.checkpoint / "tokenizer.json")
    paths, corpora = training_sources(a.checkpoint)
    val = set(json.loads((a.checkpoint / "split.json").read_text())["val"])
    held = [tok.decode(p.ids) for p in build_corpus(paths, corpora, tok, progress=False)[0] if p.source in val]
    print(describe(f"{a.checkpoint} validation pieces", [p.end - min(n.onset for n in p.notes) for p in held if p.notes]))


if __name__ == "__main__":
    main()
