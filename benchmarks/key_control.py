"""Does `generate --key` give music in the key asked for? And without --key, are the samples'
keys spread as the corpus's are?

For each requested key, N samples are drawn with the run's recommended settings and written as
MIDI, and an independent key-finder reads each file: music21's `analyze("key")` (its default
Krumhansl-Schmuckler variant with Aarden-Essen weights, not the estimate melodygru trains with).
A sample counts when tonic and mode both match. Then N samples without --key: the share in minor
and the spread of tonics, against the same key-finder on the run's training pieces.

With --meters, N samples of each requested meter too: a sample counts when its written file
states that meter and no other.

Usage: python benchmarks/key_control.py --checkpoint RUN [--keys "D major,F major,A minor,E minor"]
       [--num-samples 40] [--length 512] [--seed 1] [--out DIR] [--meters 3/4,6/8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def music21_key(path) -> tuple[int, bool] | None:
    """(tonic pitch class, minor) that music21's key analysis finds in a file."""
    import music21

    try:
        k = music21.converter.parse(str(path)).analyze("key")
    except Exception:  # a file music21 cannot analyse counts as a miss, not a crash
        return None
    return k.tonic.pitchClass, k.mode == "minor"


def training_keys(run: Path, limit: int = 200, held_out: bool = False) -> list[tuple[int, bool]]:
    """music21's keys of up to `limit` of the run's training pieces (split.json; with `held_out`,
    its validation pieces), drawn at random, decoded from their tokens and written to MIDI the way
    samples are."""
    import numpy as np

    from melodygru.evaluation.evaluate import run_pieces
    from melodygru.io.writers import write_midi
    from melodygru.tokens.tokenizer import Tokenizer

    tok = Tokenizer.load(run / "tokenizer.json")
    found = run_pieces(run, tok, cache_dir=os.environ.get("MELODYGRU_CACHE_DIR"), progress=False)
    if found is None:
        return []
    pieces = found[0] if held_out else found[1]
    pick = np.random.default_rng(0).choice(len(pieces), min(limit, len(pieces)), replace=False)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in sorted(pick):
            key = music21_key(write_midi(tok.decode(pieces[i].ids), Path(tmp) / f"{i}.mid"))
            if key is not None:
                out.append(key)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True, type=Path)
    ap.add_argument("--keys", default="D major,F major,A minor,E minor")
    ap.add_argument("--num-samples", type=int, default=40)
    ap.add_argument("--length", type=int, default=512)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="keep the samples here [default: a temporary folder]")
    ap.add_argument("--skip-corpus", action="store_true", help="do not read the training pieces' keys")
    ap.add_argument("--meters", default="", help="also N samples of each of these meters (e.g. 3/4,6/8): the share "
                    "whose written file keeps it throughout")
    args = ap.parse_args()

    from melodygru.core.keys import long_key_name, parse_key
    from melodygru.generation.generate import generate

    out_root = args.out or Path(tempfile.mkdtemp(prefix="keys-"))
    rows, report = [], {}
    for i, name in enumerate([k.strip() for k in args.keys.split(",")] + [None]):
        start = time.perf_counter()
        folder = out_root / (name.replace(" ", "-") if name else "no-key")
        result = generate(args.checkpoint, length=args.length, num_samples=args.num_samples, seed=args.seed + i,
                          key=name, out_dir=folder, force=True)
        found = [music21_key(f.midi) for f in result.files]
        seconds = time.perf_counter() - start
        if name is None:
            report["no_key"] = found
            continue
        want = parse_key(name)
        hits = sum(k == want for k in found)
        mode_hits = sum(k is not None and k[1] == want[1] for k in found)
        rows.append((long_key_name(*want), hits, mode_hits, len(found), seconds))
        print(f"{long_key_name(*want):10s} key found by music21 = requested: {hits}/{len(found)} "
              f"({hits / len(found):.0%}); mode right {mode_hits / len(found):.0%}  [{seconds:.0f} s]", flush=True)
    total = sum(r[1] for r in rows)
    n = sum(r[3] for r in rows)
    print(f"all requested keys: {total}/{n} = {total / n:.1%} (goal >= 90%)")
    free = [k for k in report["no_key"] if k is not None]
    minor = sum(k[1] for k in free) / max(1, len(free))
    tonics = Counter(k[0] for k in free)
    print(f"without --key: {len(free)} samples, {minor:.0%} in minor, {len(tonics)} different tonics")
    if not args.skip_corpus:
        real = training_keys(args.checkpoint)
        if real:
            print(f"training pieces (music21's keys, as written MIDI): {len(real)}, "
                  f"{sum(k[1] for k in real) / len(real):.0%} in minor, {len(Counter(k[0] for k in real))} different tonics "
                  "(training transposes every piece by up to +-6 semitones, so every tonic is in the model's data)")
    for i, meter in enumerate(m.strip() for m in args.meters.split(",") if m.strip()):
        folder = out_root / ("meter-" + meter.replace("/", "-"))
        result = generate(args.checkpoint, length=args.length, num_samples=args.num_samples, seed=args.seed + 100 + i,
                          meter=meter, out_dir=folder, force=True)
        want = tuple(int(x) for x in meter.split("/"))
        kept = sum(file_meters(f.midi) == [want] for f in result.files)
        print(f"--meter {meter}: {kept}/{len(result.files)} written files in {meter} throughout "
              f"({kept / len(result.files):.0%}; goal 100%)")
    print(f"samples in {out_root}")
    return 0


def file_meters(path) -> list[tuple[int, int]]:
    """The distinct meters a MIDI file's time-signature events state, in order."""
    import mido

    out = []
    for track in mido.MidiFile(path).tracks:
        for m in track:
            if m.type == "time_signature" and (m.numerator, m.denominator) not in out:
                out.append((m.numerator, m.denominator))
    return out


if __name__ == "__main__":
    sys.exit(main())
