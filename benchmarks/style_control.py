"""Does `generate --style` give music of the style asked for?

A classifier is trained only on real pieces: the run's training pieces of each style (their first
`--length` tokens, as long as a sample), described by the listening test's per-piece features
(`analysis.features.piece_features`: intervals of the top and bottom lines, note lengths, onsets,
key profile, repetition), standardized, in a multinomial logistic regression with balanced class
weights. Its figures on real music come first: 5-fold cross-validated accuracy on the training
pieces, and accuracy on the run's held-out validation pieces (which it never saw): what a perfect
generator's samples would score. Then N samples per style (the run's recommended settings and
`--style`), written as MIDI and read back, are classified; a sample counts when the classifier
assigns it to the style asked for. The baseline, measured in the same run: N samples without
`--style`, and the share the classifier gives each style.

Usage: python benchmarks/style_control.py --checkpoint RUN [--num-samples 40] [--length 512]
       [--seed 1] [--out DIR] [--per-style 600]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def real_sets(run: Path, length: int, per_style: int, seed: int):
    """(training features, their styles, validation features, their styles) of a run with styles."""
    from melodygru.analysis.features import feature_matrix
    from melodygru.evaluation.evaluate import run_pieces
    from melodygru.tokens.styles import style_of
    from melodygru.tokens.tokenizer import Tokenizer

    tok = Tokenizer.load(run / "tokenizer.json")
    found = run_pieces(run, tok, cache_dir=os.environ.get("MELODYGRU_CACHE_DIR"), progress=False)
    if found is None:
        sys.exit(f"error: {run} does not record its training data")
    held, train = found
    rng = np.random.default_rng(seed)
    out = []
    for group, cap in ((train, per_style), (held, per_style // 2)):
        by_style: dict[str, list] = {}
        for p in group:
            by_style.setdefault(style_of(tok, p.ids), []).append(p)
        chosen = []
        for style, ps in sorted(by_style.items(), key=lambda kv: str(kv[0])):
            if style is None:
                continue
            keep = sorted(rng.choice(len(ps), min(cap, len(ps)), replace=False))
            chosen += [(style, ps[i]) for i in keep]
        X, used = feature_matrix([tok.decode(p.ids[:length + 1]) for _, p in chosen])
        out += [X, np.array([chosen[i][0] for i in used])]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, type=Path)
    ap.add_argument("--num-samples", type=int, default=40)
    ap.add_argument("--length", type=int, default=512)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-style", type=int, default=600, help="training pieces per style for the classifier")
    ap.add_argument("--out", type=Path, default=None, help="keep the samples here [default: a temporary folder]")
    args = ap.parse_args()

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from melodygru.analysis.features import feature_matrix
    from melodygru.generation.generate import generate
    from melodygru.io.readers import read_file

    X, y, Xv, yv = real_sets(args.checkpoint, args.length, args.per_style, args.seed)
    styles = sorted(set(y))
    if len(styles) < 2:
        sys.exit(f"error: {args.checkpoint} has fewer than two styles with training pieces")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced"))
    folds = StratifiedKFold(5, shuffle=True, random_state=args.seed)
    cv = cross_val_score(clf, np.nan_to_num(X), y, cv=folds).mean()
    clf.fit(np.nan_to_num(X), y)
    held = (clf.predict(np.nan_to_num(Xv)) == yv) if len(yv) else np.zeros(0, bool)
    print(f"classifier on real pieces only: {len(y)} training pieces of {len(styles)} styles "
          f"({', '.join(f'{s} {int((y == s).sum())}' for s in styles)})")
    print(f"  real pieces, 5-fold cross-validated: {cv:.1%}; held-out validation pieces: {held.mean():.1%} "
          f"({', '.join(f'{s} {held[yv == s].mean():.0%}' for s in styles if (yv == s).any())})")
    out_root = args.out or Path(tempfile.mkdtemp(prefix="styles-"))
    hits = total = 0
    for i, style in enumerate(styles):
        start = time.perf_counter()
        folder = out_root / style
        result = generate(args.checkpoint, length=args.length, num_samples=args.num_samples, seed=args.seed + i,
                          style=style, out_dir=folder, force=True)
        pieces = [read_file(f.midi)[0] for f in result.files]
        F, used = feature_matrix(pieces)
        got = clf.predict(np.nan_to_num(F)) if len(F) else np.array([])
        n = int((got == style).sum())
        hits, total = hits + n, total + len(pieces)
        print(f"--style {style:10s} assigned to {style}: {n}/{len(pieces)} ({n / max(1, len(pieces)):.0%}); "
              f"others: {', '.join(f'{s} {int((got == s).sum())}' for s in styles if s != style)}  "
              f"[{time.perf_counter() - start:.0f} s]", flush=True)
    print(f"all requested styles: {hits}/{total} = {hits / max(1, total):.1%} (goal >= 80%)")
    # the baseline: samples without --style, assigned by the same classifier (a requested style
    # that did nothing would score its share here)
    result = generate(args.checkpoint, length=args.length, num_samples=args.num_samples, seed=args.seed + 50,
                      out_dir=out_root / "no-style", force=True)
    F, _ = feature_matrix([read_file(f.midi)[0] for f in result.files])
    got = clf.predict(np.nan_to_num(F))
    print("without --style (the baseline): assigned " + ", ".join(f"{s} {np.mean(got == s):.0%}" for s in styles)
          + "; training pieces: " + ", ".join(f"{s} {np.mean(y == s):.0%}" for s in styles)
          + f" (of the classifier's sample; chance for one style of {len(styles)}: {1 / len(styles):.0%})")
    print(f"samples in {out_root}")


if __name__ == "__main__":
    main()
