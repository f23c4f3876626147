"""Harmonize the soprano lines of the chorales a model never trained on, and compare with Bach's.

For each of the run's held-out validation chorales (split.json), its top line (`melody_line`) is
harmonized by `melodygru harmonize`'s library function with the given settings; every result is
checked (melody kept, the other notes below it, voices at its onsets, parallel fifths and octaves
between the melody and the bass: `check_harmony`) and written
as MIDI into one folder, so the listening test can tell Bach's own harmonizations of the same
melodies from the model's: `melodygru evaluate --checkpoint RUN --samples OUT`. Bach's
harmonizations are checked the same way, as the ceiling.

Usage: python benchmarks/harmonize_chorales.py [--checkpoint checkpoints/bach] --out DIR
       [--candidates 8] [--seed 0] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=Path(__file__).resolve().parents[1] / "checkpoints" / "bach")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--candidates", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="only the first N held-out chorales")
    args = ap.parse_args()

    from melodygru.core.tfenv import import_tensorflow

    import_tensorflow()
    from melodygru.evaluation.evaluate import run_pieces
    from melodygru.generation.files import write_samples
    from melodygru.generation.generate import load_checkpoint
    from melodygru.generation.harmonize import check_harmony, harmonize

    ckpt = load_checkpoint(args.checkpoint)
    tok = ckpt.tokenizer
    spq = tok.config.steps_per_quarter
    held, _ = run_pieces(ckpt.path, tok, cache_dir=os.environ.get("MELODYGRU_CACHE_DIR"), progress=False)
    held = held[: args.limit] if args.limit else held
    rows, real_rows, chosen = [], [], []
    start = time.perf_counter()
    for i, p in enumerate(held):
        bach = tok.decode(p.ids, source=p.source)
        samples, line = harmonize(ckpt, bach, 1, args.candidates, args.seed + i)
        rows.append(check_harmony(line, samples[0].piece, spq))
        real_rows.append(check_harmony(line, bach, spq))
        chosen.append(samples[0])
    seconds = time.perf_counter() - start
    write_samples(chosen, args.out, force=True)

    def summary(rs):
        return ", ".join(f"{k.replace('_', ' ')} {np.mean([r[k] for r in rs]):.1%} (lowest {min(r[k] for r in rs):.1%})"
                         for k in ("melody_kept", "below_melody", "three_voices"))

    print(f"{len(held)} held-out chorales of {ckpt.path}, {args.candidates} candidates each, {seconds:.0f} s "
          f"({seconds / max(1, len(held)):.1f} s a chorale)")
    print(f"  the model's harmonizations: {summary(rows)}; "
          f"{np.mean([r['three_voices'] >= 0.8 for r in rows]):.0%} of them with 3+ voices at >= 80% of the onsets")
    print(f"  Bach's own:                 {summary(real_rows)}")
    print(f"  notes below the melody per melody note: model {np.mean([r['other_notes'] / r['melody_notes'] for r in rows]):.2f}, "
          f"Bach {np.mean([r['other_notes'] / r['melody_notes'] for r in real_rows]):.2f}")
    def parallels(rs):
        notes = sum(r["melody_notes"] for r in rs)
        return (f"fifths {100 * sum(r['parallel_fifths'] for r in rs) / notes:.2f}, "
                f"octaves {100 * sum(r['parallel_octaves'] for r in rs) / notes:.2f}")

    print(f"  parallels between the melody and the bass per 100 melody notes: model {parallels(rows)}; "
          f"Bach {parallels(real_rows)}")
    print(f"listening test: melodygru evaluate --checkpoint {args.checkpoint} --samples {args.out}")


if __name__ == "__main__":
    main()
