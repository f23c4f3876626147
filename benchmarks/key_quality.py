"""The listening test with a requested key: is music asked for a key as hard to tell from its
corpus as music that chose its own?

Every sample is drawn with `generate --key K` (the run's recommended settings), in two major and
two minor keys, and all are written into one folder for `melodygru evaluate --checkpoint RUN
--samples OUT`. The listening test's features do not depend on the tonic but do on the mode, so
how many samples are asked for in minor decides what the test compares:

* `--spread corpus` (default): the share in minor is the held-out pieces' own, as music21's
  key-finder hears them (for folk about a quarter), split evenly over the two minor keys, the
  rest over the two major ones: the test then asks only whether asking for a key costs quality;
* `--spread even`: the same number in each key (half in minor), the design of the first check
  (a folk set half in minor differs from a corpus a quarter in minor before any note is heard).

Each key's samples are one `generate` call (seeds --seed, --seed + 1, ...), so the critic's
choice among candidates works as it does for a user asking for that many samples.

Usage: python benchmarks/key_quality.py --checkpoint RUN --out DIR [--num-samples 100]
       [--keys "D major,F major,A minor,E minor"] [--spread corpus|even] [--seed 21]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from key_control import music21_key, training_keys  # noqa: E402  (the same key-finder as the key check)


def held_out_minor_share(run: Path, limit: int = 200) -> tuple[float, int]:
    """The share of (up to `limit`, drawn at random) held-out pieces music21 hears in minor."""
    keys = training_keys(run, limit, held_out=True)
    if not keys:
        sys.exit(f"error: music21 finds no key in any held-out piece of {run}")
    return float(np.mean([minor for _, minor in keys])), len(keys)


def counts(keys: list[str], n: int, minor_share: float) -> dict[str, int]:
    """How many of `n` samples each key gets: `minor_share` of them over the minor keys, evenly,
    the rest over the major ones."""
    minor = [k for k in keys if k.lower().endswith("minor")]
    major = [k for k in keys if k not in minor]
    n_minor = int(round(n * minor_share)) if minor and major else (n if minor else 0)
    out = {}
    for group, total in ((major, n - n_minor), (minor, n_minor)):
        for j, k in enumerate(group):
            out[k] = total // len(group) + (j < total % len(group))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--num-samples", type=int, default=100)
    ap.add_argument("--keys", default="D major,F major,A minor,E minor")
    ap.add_argument("--spread", choices=("corpus", "even"), default="corpus")
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--length", type=int, default=512)
    args = ap.parse_args()

    from melodygru.core.tfenv import import_tensorflow

    import_tensorflow()
    from melodygru.generation.generate import generate

    keys = [k.strip() for k in args.keys.split(",") if k.strip()]
    if args.spread == "corpus":
        share, n = held_out_minor_share(args.checkpoint)
        print(f"held-out pieces in minor (music21's key-finder): {share:.0%} of {n}")
    else:
        share = sum(k.lower().endswith("minor") for k in keys) / len(keys)
    plan = counts(keys, args.num_samples, share)
    if args.out.exists() and any(f.suffix != ".mid" for f in args.out.rglob("*") if f.is_file()):
        sys.exit(f"error: {args.out} holds other files than this script's MIDI files: give an empty or new folder")
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    hits = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (key, n) in enumerate(plan.items()):
            if not n:
                continue
            res = generate(args.checkpoint, length=args.length, num_samples=n, seed=args.seed + i, key=key,
                           out_dir=Path(tmp) / str(i), force=True)
            for f in res.files:
                target = args.out / f"{key.replace(' ', '-')}-{f.midi.name}"
                shutil.move(str(f.midi), target)
                found = music21_key(target)
                hits += found == _parse(key)
            print(f"{key:10s} {n:3d} samples", flush=True)
    print(f"{args.num_samples} samples in {args.out} ({sum(v for k, v in plan.items() if k.lower().endswith('minor'))} "
          f"in minor), music21's key-finder reports the key asked for in {hits}")
    print(f"listening test: melodygru evaluate --checkpoint {args.checkpoint} --samples {args.out}")
    return 0


def _parse(key: str) -> tuple[int, bool]:
    from melodygru.core.keys import parse_key

    tonic, minor = parse_key(key)
    return tonic % 12, bool(minor)


if __name__ == "__main__":
    sys.exit(main())
