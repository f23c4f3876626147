"""Ingest speed: `melodygru prepare` (cold and warm cache) against music21's `converter.parse`.

    python benchmarks/ingest.py [--chorales 60] [--performances 4] [--notes 6000]

Builds one folder of MIDI files: Bach chorales exported by music21 (score-like files) and
synthetic piano performances (unquantized onsets, sustained overlaps, like a recorded player).
Then, in the same run, on the same files:

  baseline   music21.converter.parse on every file, one process (what tutorials do)
  cold       `melodygru prepare DIR` as a fresh process with an empty cache (all cores)
  warm       the same command again: every file comes from the cache
  floor      a bare `python -c "import music21"` process

and prints the cold speed-up over the baseline last. Goals (issue 2): cold >= 10x faster than
the baseline; warm <= ~3x the floor.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_folder(folder: Path, chorales: int, performances: int, notes: int) -> None:
    import mido
    from music21 import corpus

    folder.mkdir(parents=True, exist_ok=True)
    paths = [p for p in corpus.getComposer("bach") if p.name.startswith("bwv") and p.suffix == ".mxl"]
    for p in paths[:chorales]:
        corpus.parse(p).write("midi", fp=str(folder / (p.stem + ".mid")))
    rng = random.Random(0)
    for k in range(performances):
        mid = mido.MidiFile(ticks_per_beat=480)
        track = mido.MidiTrack()
        mid.tracks.append(track)
        events, t = [], 0
        for _ in range(notes):
            t += rng.randint(20, 200)
            pitch = rng.randint(36, 96)
            events.append((t, 1, pitch, rng.randint(30, 110)))
            events.append((t + rng.randint(30, 900), 0, pitch, 0))
        events.sort()
        now = 0
        for tick, on, pitch, vel in events:
            kind = "note_on" if on else "note_off"
            track.append(mido.Message(kind, note=pitch, velocity=vel, time=tick - now))
            now = tick
        mid.save(str(folder / f"performance-{k}.mid"))


def run(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chorales", type=int, default=60)
    ap.add_argument("--performances", type=int, default=4)
    ap.add_argument("--notes", type=int, default=6000, help="notes per synthetic performance")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder, cache = Path(tmp) / "midi", Path(tmp) / "cache"
        make_folder(folder, args.chorales, args.performances, args.notes)
        files = sorted(folder.glob("*.mid"))
        print(f"folder: {len(files)} MIDI files ({args.chorales} chorales, {args.performances} performances "
              f"of {args.notes} notes)")

        from music21 import converter

        t = time.perf_counter()
        for f in files:
            converter.parse(str(f))
        baseline = time.perf_counter() - t
        print(f"baseline  music21 converter.parse, 1 process : {baseline:8.2f} s")

        prepare = [sys.executable, "-m", "melodygru.cli", "prepare", str(folder), "--cache-dir", str(cache), "-q"]
        cold = run(prepare)
        print(f"cold      melodygru prepare (all cores)       : {cold:8.2f} s")
        cold1 = run(prepare[:-1] + ["--jobs", "1", "--no-cache", "-q"])
        print(f"cold      melodygru prepare --jobs 1 --no-cache: {cold1:8.2f} s")
        warm = run(prepare)
        floor = run([sys.executable, "-c", "import music21"])
        print(f"warm      melodygru prepare (cached)          : {warm:8.2f} s")
        print(f"floor     python -c 'import music21'          : {floor:8.2f} s")
        print(f"warm / floor                                  : {warm / floor:8.2f}x (goal <= ~3x)")
        print(f"one core: baseline / cold --jobs 1            : {baseline / cold1:8.1f}x")
        print(f"speed-up: baseline / cold (all cores)         : {baseline / cold:8.1f}x (goal >= 10x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
