"""JSB Chorales (Boulanger-Lewandowski et al. 2012): test NLL per quarter-note step, comparable to the literature.

    python benchmarks/jsb_chorales.py --data ../shared/data/jsb/jsb-chorales-quarter.json \
        [--cell gru|lstm] [--work DIR] [-- extra `melodygru train` options]

What it does, in one run:
  1. Writes every chorale of `train`, `valid` and `test` as a MIDI file: each time step becomes a
     quarter note for every pitch sounding in it, so a note held over several steps is re-struck
     at every step, exactly as the data encodes it.
  2. Checks that the tokenizer keeps every (step, pitch) of every test piece: the model is scored on
     the whole step sequence and pays for every pitch.
  3. Trains with `melodygru train work/train --val work/valid` (early stopping on `valid`).
  4. Scores `test` once with `melodygru evaluate --checkpoint RUN --json` and divides each piece's
     total NLL (every token from the first after BOS to EOS) by its number of quarter-note steps
     in the JSON, counting trailing and inner silent steps.
  5. Prints the published rows next to ours; the last line is our test NLL per step.

`--cell lstm` trains an LSTM with the number of units that gives the GRU run's parameter count
(within 1%), for the GRU-vs-LSTM comparison. Settings were chosen on `valid` only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

PUBLISHED = [  # (model, test NLL per step in nats, source) from ../shared/data/jsb/README.md
    ("GRU-RNN", 8.54, "Chung et al. 2014, Table 2"),
    ("LSTM-RNN", 8.67, "Chung et al. 2014, Table 2"),
    ("TCN", 8.10, "Bai et al. 2018"),
    ("RNN-RBM", 6.27, "Boulanger-Lewandowski et al. 2012"),
    ("RNN-NADE", 5.56, "Boulanger-Lewandowski et al. 2012"),
]
# The tokens: a quarter-note grid (every onset and duration of the data is a whole quarter), no
# velocity (the data has none), and one DUR shared by the notes of a step (they all last a quarter):
# a step is POS + its pitches + DUR, ~6.2 tokens instead of ~9.1 with a DUR per note.
TOKENIZER_CONFIG = {"steps_per_quarter": 1, "velocity_bins": 0, "shared_durations": True}
TOKENIZER_OPTIONS = ["--grid", str(TOKENIZER_CONFIG["steps_per_quarter"]),
                     "--velocity-bins", str(TOKENIZER_CONFIG["velocity_bins"]), "--shared-durations"]
# The GRU settings: 2x256 as the `small` preset, windows of 256 tokens, warmup + cosine decay over a
# fixed number of epochs that fits ~28 minutes. Chosen on `valid` only (histories in benchmarks/results/):
# * batch 64 / lr 1e-3 was still at 12.66 nats per step after 18 epochs; batch 16 / lr 2e-3 (now
#   the `train` defaults) passed that after 3;
# * per-note DURs on a 12-step grid: 60 epochs halving the rate on plateaus, 5.36 on valid (16.9 min);
#   130 epochs of cosine decay, 4.95 (28 min);
# * windows of 512 tokens learned more slowly per minute (half the updates per epoch; stopped);
# * shared DURs on the quarter grid: a third fewer tokens, so 180 epochs in about the same time;
# * transposition +-6 (the `train` default) although the data is in C: with none, valid bottomed
#   at 5.08 per step at epoch 28 and rose; with +-3, 4.73 at epoch 98 (+-6: 4.62 at 166);
# * 2x320 for 140 epochs (`-- --units 320 --epochs 140`, 23.4 min): valid 4.59, test 4.62; the
#   default stays 2x256, the size the LSTM comparison matches; 3x256 for 130 epochs
#   (`-- --layers 3 --epochs 130`, 25.1 min): valid 4.78, test 4.82.
GRU_OPTIONS = ["--preset", "small", "--seq-len", "256", *TOKENIZER_OPTIONS,
               "--lr-schedule", "cosine", "--epochs", "180", "--patience", "20"]
# The LSTM has no fused CPU kernel: with shared DURs it trained at 6,095 tokens/s against the GRU's
# 16,727, and its 100 epochs took 33.4 min (the GRU's 180: 22.2 min), so it gets more time than the
# GRU, not less. At the GRU's wall time its best valid was 7.25 nats per step (the GRU's 4.62).
LSTM_EPOCHS = 100


def write_split(chorales, out_dir: Path) -> dict[str, int]:
    """One MIDI file per chorale; returns {file name: number of steps}."""
    import pretty_midi

    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.mid"):  # a run with another --limit left other files
        old.unlink()
    steps = {}
    for n, chorale in enumerate(chorales):
        pm = pretty_midi.PrettyMIDI(initial_tempo=120.0, resolution=480)  # a quarter note = 0.5 s
        inst = pretty_midi.Instrument(program=0, name="chorale")
        for i, pitches in enumerate(chorale):
            for p in sorted(set(pitches)):
                inst.notes.append(pretty_midi.Note(velocity=80, pitch=int(p), start=i * 0.5, end=(i + 1) * 0.5))
        pm.instruments.append(inst)
        name = f"{n:03d}.mid"
        pm.write(str(out_dir / name))
        steps[name] = len(chorale)
    return steps


def check_test_encoding(test_dir: Path, chorales) -> int:
    """Every (step, pitch) of the data must come back from the tokens; returns the number of notes."""
    from melodygru.io.readers import read_file
    from melodygru.tokens.config import TokenizerConfig
    from melodygru.tokens.tokenizer import Tokenizer

    tok = Tokenizer(TokenizerConfig(**TOKENIZER_CONFIG))
    total = 0
    for n, chorale in enumerate(chorales):
        want = sorted((i, p) for i, ps in enumerate(chorale) for p in set(ps))
        (piece,) = read_file(test_dir / f"{n:03d}.mid")
        back = tok.decode(tok.encode(piece))
        got = sorted((round(x.onset), x.pitch) for x in back.notes)
        if got != want or any(abs(x.duration - 1) > 1e-9 for x in back.notes):
            raise SystemExit(f"test piece {n}: the tokens do not keep every step's pitches")
        total += len(want)
    return total


def param_count(cell: str, units: int, layers: int, emb: int, vocab: int) -> int:
    gates = 3 if cell == "gru" else 4
    bias = 2 * units if cell == "gru" else units  # Keras GRU reset_after has two bias vectors
    total, width = vocab * emb, emb
    for _ in range(layers):
        total += gates * (width * units + units * units + bias)
        width = units
    return total + units * vocab + vocab


def ending_on_c(chorales) -> int:
    """How many chorales end with a C in the bass (the data is transposed to C major / C minor)."""
    return sum(1 for c in chorales if any(c) and min([s for s in c if s][-1]) % 12 == 0)


def lstm_units(vocab: int, gru_units: int = 256, layers: int = 2, emb: int = 128) -> int:
    """LSTM units whose parameter count is closest to the GRU's (the `small` preset's shape)."""
    gru = param_count("gru", gru_units, layers, emb, vocab)
    return min(range(64, 512), key=lambda u: abs(param_count("lstm", u, layers, emb, vocab) - gru))


def melodygru(*args, env=None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "melodygru.cli", *map(str, args)]
    print("$ melodygru " + " ".join(map(str, args)), flush=True)
    return subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/jsb/jsb-chorales-quarter.json")
    ap.add_argument("--cell", choices=["gru", "lstm"], default="gru")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/out/jsb"))
    ap.add_argument("--run-name", default=None, help="run directory name under WORK [default: run-CELL]")
    ap.add_argument("--limit", type=int, default=None, help="only the first N chorales of each split (smoke test)")
    ap.add_argument("train_options", nargs="*", help="extra `melodygru train` options (after --)")
    args = ap.parse_args()
    if not args.data.is_file():
        print(f"error: {args.data} not found (give --data PATH/jsb-chorales-quarter.json)", file=sys.stderr)
        return 2
    data = json.loads(args.data.read_text())
    if args.limit:
        data = {k: v[: args.limit] for k, v in data.items()}
    work = args.work
    steps = {}
    for split in ("train", "valid", "test"):
        steps[split] = write_split(data[split], work / split)
    notes = check_test_encoding(work / "test", data["test"])
    print(f"wrote {', '.join(f'{len(data[s])} {s}' for s in ('train', 'valid', 'test'))} chorales to {work}; "
          f"the tokens keep all {notes} test notes ({sum(steps['test'].values())} steps); "
          f"{ending_on_c(data['train'])} of {len(data['train'])} training chorales end on a C in the bass")

    from melodygru.tokens.config import TokenizerConfig
    from melodygru.tokens.tokenizer import Tokenizer

    vocab = Tokenizer(TokenizerConfig(**TOKENIZER_CONFIG)).vocab_size
    options = list(GRU_OPTIONS)
    if args.cell == "lstm":
        units = lstm_units(vocab)
        gru_params = param_count("gru", 256, 2, 128, vocab)
        options += ["--cell", "lstm", "--units", str(units), "--epochs", str(LSTM_EPOCHS)]
        print(f"lstm: {units} units -> {param_count('lstm', units, 2, 128, vocab):,} parameters "
              f"(the GRU has {gru_params:,})")
    run = work / (args.run_name or f"run-{args.cell}")
    if (run / "config.json").exists():
        print(f"{run} exists: resuming it (delete it to start over)")
        options = ["--resume"]
    env = {**os.environ, "MELODYGRU_CACHE_DIR": str(work / "cache")}
    start = time.perf_counter()
    train = melodygru("train", work / "train", "--val", work / "valid", "--out", run, "-q", "--critic-samples", "0", *options,
                      *args.train_options, env=env)
    wall = time.perf_counter() - start
    print(train.stdout, end="")
    if train.returncode:
        return train.returncode
    ev = melodygru("evaluate", "--checkpoint", run, work / "test", "--json", "-q", "--no-cache", env=env)
    if ev.returncode:
        return ev.returncode
    likelihood = json.loads(ev.stdout)["likelihood"]
    by_name = {Path(s).name: nll for s, nll in zip(likelihood["sources"], likelihood["piece_nll"])}
    if sorted(by_name) != sorted(steps["test"]):
        raise SystemExit("evaluate did not score every test piece")
    test_nll = sum(by_name.values()) / sum(steps["test"].values())
    metrics = json.loads((run / "metrics.json").read_text())
    shape = json.loads((run / "config.json").read_text())["model"]
    result = {
        "cell": args.cell, "layers": shape["layers"], "units": shape["units"], "parameters": metrics["parameters"], "train_wall_seconds": round(wall, 1),
        "best_epoch": metrics["best_epoch"], "epochs": metrics["epochs"],
        "valid_nll_per_token": metrics["best_val_loss"], "test_nll_per_step": test_nll,
        "test_nll_per_token": likelihood["nats_per_token"], "test_pieces": likelihood["pieces"],
        "test_steps": sum(steps["test"].values()), "train_options": options + list(args.train_options),
    }
    (run / "jsb_result.json").write_text(json.dumps(result, indent=1))
    if not args.limit:  # a smoke test is not a result
        kept = Path(__file__).resolve().parent / "results" / f"jsb-{run.name}.json"
        kept.parent.mkdir(exist_ok=True)
        kept.write_text(json.dumps({**result, "history": (run / "history.csv").read_text()}, indent=1))

    print("\nJSB Chorales, test NLL per quarter-note step (nats, lower is better)")
    for name, nll, source in PUBLISHED:
        print(f"  {name:<22} {nll:6.2f}   {source}")
    ours = f"melodygru {args.cell.upper()} {shape['layers']}x{shape['units']}"
    print(f"  {ours:<22} {test_nll:6.2f}   this run: {metrics['parameters']:,} parameters, "
          f"best epoch {metrics['best_epoch']}/{metrics['epochs']}, {wall / 60:.1f} min (train + read)")
    print(f"test NLL per step: {test_nll:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
