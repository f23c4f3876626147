"""The four polyphonic piano-roll benchmarks of Boulanger-Lewandowski et al. (ICML 2012): JSB Chorales,
Nottingham, MuseData and Piano-midi.de, scored as test NLL per time step of the data, the figure the
papers report.

    python benchmarks/polyphonic.py --dataset jsb|nottingham|musedata|piano-midi \\
        [--arch gru|lstm] [--minutes M] [--limit N] [--work DIR] [-- extra `melodygru train` options]

The data is the JSON form of `../shared/data/jsb/` and `../shared/data/poly/`: splits `train`, `valid`,
`test`; a piece is a list of time steps, a step the list of MIDI pitches sounding in it. A step is a
quarter note in the JSB file and an eighth note in the other three (the release sampled those every
eighth note and JSB every quarter). Each dataset's step length sets the MIDI written and the
tokenizer's grid (`Dataset.steps_per_quarter`: 1 for JSB, 2 for the others), so one step of the data is
one grid step of the tokens and the NLL is divided by the same steps as in the papers.

What one run does:
  1. Writes every piece of `train`, `valid` and `test` as a MIDI file (`midi_file`): each step becomes a note of one
     step's length for every pitch sounding in it, so a note held over several steps is re-struck at
     every step, exactly as the data encodes it (held and re-struck notes are not distinguished there).
  2. Checks that the tokens keep every (step, pitch) of every test piece (the MIDI file read back,
     encoded, decoded): the model is scored on the whole step sequence and pays for every pitch.
  3. Trains with `melodygru train WORK/train --val WORK/valid` (the best epoch on `valid` is kept).
  4. Scores `test` once with `melodygru evaluate --checkpoint RUN --json` and divides the total NLL of
     the test pieces (every token after BOS, EOS included) by their number of steps in the JSON,
     inner silent steps counted.
  5. Prints the published rows beside ours; the last line is our test NLL per step. The result, with
     the run's history, goes to benchmarks/results/DATASET-RUN.json (not for a --limit smoke run).

Time: `--minutes M` bounds the training's wall time. The run starts with a long cosine plan, is
stopped after its second epoch (both kept), and resumes with the number of epochs that fits M minutes
at the measured pace of an epoch (`melodygru train --resume --epochs N` re-plans the cosine decay from
where the rate stands); if the machine slows down, training is interrupted at M minutes and the best
epoch so far is scored. JSB keeps its fixed 180 epochs (~22 min) unless --minutes is given; the other
three default to 85 minutes, so a run with its reading and scoring fits in about 90. An `--epochs`
among the train options switches the time plan off.

`--arch lstm` trains an LSTM with the number of units that gives the 2 x 256 GRU's parameter count
(within 1%) on the same tokens, with the same budget, for the GRU-vs-LSTM comparison.

Rows beyond one plain model, each printed beside it (`melodygru evaluate --ensemble / --continuous-cache`):
`--cache` also scores test with a continuous cache over the top layer (Grave et al. 2017), its two
settings chosen on valid; `--ensemble NAME` (repeatable) adds finished runs under WORK, scored as the
mean of the runs' distributions (the cache, if asked, over that mean; the result goes to
DATASET-RUN-ensembleK.json); `--score-only` scores a finished run again without training it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from melodygru.core.atomic import atomic_write_bytes  # light: no TensorFlow

DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True)
class Dataset:
    """One benchmark: where its JSON is, how long its step is, its default budget, the published rows.

    `published` rows are (model, test NLL per step in nats, source, status); status says how the
    figure was checked (benchmarks/results/polyphonic-published.md has the details).
    """

    name: str
    title: str
    path: str  # under DATA_ROOT
    steps_per_quarter: int  # 1: a step is a quarter note (JSB); 2: an eighth note
    minutes: float | None  # default training budget; None: a fixed number of epochs
    published: tuple[tuple[str, float, str, str], ...]
    results_prefix: str  # benchmarks/results/PREFIX-RUN.json

    @property
    def step_name(self) -> str:
        return {1: "quarter-note", 2: "eighth-note"}.get(self.steps_per_quarter, f"1/{self.steps_per_quarter}-quarter")


# How each figure was checked (benchmarks/results/polyphonic-published.md has the details): "table" was read in
# the paper's own table by the session that converted the data (../shared/data/poly/README.md); "cited" is a
# figure as other work cites it, not yet read in its paper. Figures no source at hand states are left out.
TABLE = "read in the paper's table (../shared/data/poly/README.md)"
CITED = "as cited, not confirmed"
BLW = "Boulanger-Lewandowski et al. 2012"
CHUNG = "Chung et al. 2014, Table 2"
BAI = "Bai et al. 2018"
DATASETS = {
    "jsb": Dataset("jsb", "JSB Chorales", "jsb/jsb-chorales-quarter.json", 1, None, (
        ("GRU-RNN", 8.54, CHUNG, CITED),
        ("LSTM-RNN", 8.67, CHUNG, CITED),
        ("TCN", 8.10, BAI, TABLE),
        ("GRU (Bai et al.)", 8.43, BAI, TABLE),
        ("LSTM (Bai et al.)", 8.45, BAI, TABLE),
        ("RNN-RBM", 6.27, BLW, CITED),
        ("RNN-NADE", 5.56, BLW, CITED),
    ), "jsb"),
    "nottingham": Dataset("nottingham", "Nottingham", "poly/nottingham.json", 2, 85.0, (
        ("TCN", 3.07, BAI, TABLE),
        ("GRU (Bai et al.)", 3.46, BAI, TABLE),
        ("LSTM (Bai et al.)", 3.29, BAI, TABLE),
        ("RNN-RBM", 2.39, BLW, CITED),
        ("RNN-NADE", 2.31, BLW, CITED),
    ), "nottingham"),
    "musedata": Dataset("musedata", "MuseData", "poly/musedata.json", 2, 85.0, (
        ("RNN-NADE", 5.60, BLW, CITED),
    ), "musedata"),
    "piano-midi": Dataset("piano-midi", "Piano-midi.de", "poly/piano-midi.json", 2, 85.0, (
        ("RNN-NADE", 7.05, BLW, CITED),
    ), "piano-midi"),
}


def tokenizer_config(steps_per_quarter: int = 1) -> dict:
    """The tokens: a grid of one step of the data (every onset and duration is a whole step), no
    velocity (the data has none), one DUR shared by the notes of a step (they all last one step): a
    step is POS + its pitches + DUR."""
    return {"steps_per_quarter": steps_per_quarter, "velocity_bins": 0, "shared_durations": True}


def tokenizer_options(steps_per_quarter: int = 1) -> list[str]:
    return ["--grid", str(steps_per_quarter), "--velocity-bins", "0", "--shared-durations"]


# The GRU settings, chosen on JSB's `valid` only (histories in benchmarks/results/jsb-*.json): 2x256 as
# the `small` preset, windows of 256 tokens, batch 16 / lr 2e-3 (the `train` defaults), warmup + cosine
# decay, transpositions of +-6 (the `train` default). What the JSB runs showed:
# * batch 64 / lr 1e-3 was still at 12.66 nats per step after 18 epochs; batch 16 / lr 2e-3 passed that after 3;
# * per-note DURs on a 12-step grid: 60 epochs halving the rate on plateaus, 5.36 on valid (16.9 min);
#   130 epochs of cosine decay, 4.95 (28 min);
# * windows of 512 tokens learned more slowly per minute (half the updates per epoch; stopped);
# * shared DURs on the quarter grid: a third fewer tokens, so 180 epochs in about the same time;
# * transposition +-6 although the data is in C: with none, valid bottomed at 5.08 per step at epoch 28
#   and rose; with +-3, 4.73 at epoch 98 (+-6: 4.62 at 166);
# * 2x320 for 140 epochs (`-- --units 320 --epochs 140`, 23.4 min): valid 4.59, test 4.62; the default
#   stays 2x256, the size the LSTM comparison matches; 3x256 for 130 epochs (`-- --layers 3 --epochs 130`,
#   25.1 min): valid 4.78, test 4.82.
# The other three datasets start from the same settings (not yet tuned on their own `valid`).
BASE_OPTIONS = ["--preset", "small", "--seq-len", "256", "--lr-schedule", "cosine", "--patience", "20"]
JSB_GRU_EPOCHS = 180  # ~22 min on the 2-core machine (session 3)
# The LSTM has no fused CPU kernel: with shared DURs it trained at 6,095 tokens/s against the GRU's 16,727,
# and its 100 epochs took 33.4 min (session 4), so on JSB it gets more time than the GRU, not less.
JSB_LSTM_EPOCHS = 100
CALIBRATION_EPOCHS = 2  # epochs trained under a long cosine plan before the real plan is known
PROVISIONAL_EPOCHS = 10_000  # that long plan: the rate stays at its peak for the calibration epochs
GRU_SHAPE = {"units": 256, "layers": 2, "emb": 128}  # the `small` preset, which the LSTM matches


TICKS_PER_QUARTER = 480


def _vlq(n: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def midi_file(piece, steps_per_quarter: int = 1) -> bytes:
    """A format-0 Standard MIDI File of one piece at 120 bpm: every pitch of every step a note one step
    long, re-struck at each step it sounds in. Written here, not with melodygru's own writer, so the
    check reads back a file the package did not make; the note-offs of a tick come before its note-ons,
    so a re-struck pitch ends and starts again at the step boundary."""
    step = TICKS_PER_QUARTER // steps_per_quarter
    events = []  # (tick, 0 = off before 1 = on, pitch)
    for i, pitches in enumerate(piece):
        for p in sorted(set(pitches)):
            events += [(i * step, 1, int(p)), ((i + 1) * step, 0, int(p))]
    events.sort()
    track = bytearray(b"\x00\xff\x51\x03" + (500_000).to_bytes(3, "big"))  # a quarter note = 0.5 s
    tick = 0
    for t, on, p in events:
        track += _vlq(t - tick) + bytes([0x90 if on else 0x80, p, 80 if on else 0])
        tick = t
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big") + TICKS_PER_QUARTER.to_bytes(2, "big")
    return header + b"MTrk" + len(track).to_bytes(4, "big") + bytes(track)


def write_split(pieces, out_dir: Path, steps_per_quarter: int = 1) -> dict[str, int]:
    """One MIDI file per piece (`midi_file`); returns {file name: number of steps}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.mid"):  # a run with another --limit left other files
        old.unlink()
    steps = {}
    for n, piece in enumerate(pieces):
        name = f"{n:03d}.mid"
        atomic_write_bytes(out_dir / name, midi_file(piece, steps_per_quarter))
        steps[name] = len(piece)
    return steps


def check_test_encoding(test_dir: Path, pieces, steps_per_quarter: int = 1) -> int:
    """Every (step, pitch) of the data must come back from the file's tokens, each note one step
    long; returns the number of notes."""
    from melodygru.io.readers import read_file
    from melodygru.tokens.config import TokenizerConfig
    from melodygru.tokens.tokenizer import Tokenizer

    tok = Tokenizer(TokenizerConfig(**tokenizer_config(steps_per_quarter)))
    total = 0
    for n, piece in enumerate(pieces):
        want = sorted((i, p) for i, ps in enumerate(piece) for p in set(ps))
        (events,) = read_file(test_dir / f"{n:03d}.mid")
        back = tok.decode(tok.encode(events))
        got = sorted((round(x.onset * steps_per_quarter), x.pitch) for x in back.notes)
        if got != want or any(abs(x.duration * steps_per_quarter - 1) > 1e-9 for x in back.notes):
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


def lstm_units(vocab: int, gru_units: int = 256, layers: int = 2, emb: int = 128) -> int:
    """LSTM units whose parameter count is closest to the GRU's (the `small` preset's shape)."""
    gru = param_count("gru", gru_units, layers, emb, vocab)
    return min(range(64, 512), key=lambda u: abs(param_count("lstm", u, layers, emb, vocab) - gru))


def ending_on_c(pieces) -> int:
    """How many pieces end with a C in the bass (JSB is transposed to C major / C minor)."""
    return sum(1 for c in pieces if any(c) and min([s for s in c if s][-1]) % 12 == 0)


def melodygru(*args, env=None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "melodygru.cli", *map(str, args)]
    print("$ melodygru " + " ".join(map(str, args)), flush=True)
    return subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=False)


def committed(run: Path) -> tuple[int, list[dict]]:
    """The last epoch the run has committed (last_state.json) and its history rows."""
    try:
        epoch = int(json.loads((run / "last_state.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0, []
    from melodygru.model import rundir as rd

    return epoch, [r for r in rd.read_history(run / rd.HISTORY) if r["epoch"] <= epoch]


def train_until(args, env, run: Path, *, stop_after: int | None = None, deadline: float | None = None) -> tuple[int, str | None]:
    """Run `melodygru train ARGS`, its output going straight through; Ctrl-C it (so it keeps its last
    finished epoch) once epoch `stop_after` is committed or at `deadline` (time.perf_counter()).
    Returns (exit status, 'calibrated' / 'time' / None)."""
    cmd = [sys.executable, "-m", "melodygru.cli", "train", *map(str, args)]
    print("$ melodygru train " + " ".join(map(str, args)), flush=True)
    proc = subprocess.Popen(cmd, env=env)
    why = None
    while proc.poll() is None:
        time.sleep(0.5)
        if stop_after is not None and committed(run)[0] >= stop_after:
            why = "calibrated"
        elif deadline is not None and time.perf_counter() >= deadline:
            why = "time"
        if why:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=300)
            except subprocess.TimeoutExpired:  # stuck in a long native call: its last epoch is safe on disk
                proc.terminate()
                proc.wait()
            return 0, why
    return proc.returncode, None


def planned_epochs(done: int, pace: float, restart: float, left: float) -> int:
    """The epochs a run that has `done` epochs can reach in the `left` seconds of its budget: a restart
    costing `restart` seconds, then whole epochs of `pace` seconds (never fewer than `done`)."""
    return done + max(int((left - restart) // pace), 0) if pace > 0 else done


def train_on_time(common: list[str], options: list[str], env, run: Path, minutes: float) -> dict:
    """Train within `minutes` of wall time: CALIBRATION_EPOCHS under a long plan, then a resume with
    the epochs that fit at the measured pace (the module docstring says why)."""
    start = time.perf_counter()
    deadline = start + minutes * 60
    rc, why = train_until([*common, *options, "--epochs", PROVISIONAL_EPOCHS], env, run, stop_after=CALIBRATION_EPOCHS, deadline=deadline)
    if rc:
        raise SystemExit(rc)
    done, history = committed(run)
    plan = {"minutes": minutes, "calibration_epochs": done}
    if why != "calibrated" or not history:  # out of time already, or it stopped early
        return {**plan, "planned_epochs": done, "stopped_by_time": why == "time"}
    now = time.perf_counter()
    pace = history[-1]["epoch_seconds"]
    # the next start reads the cached tokens and compiles again: charge it what the first start cost
    restart = max(now - start - sum(r["epoch_seconds"] for r in history), 0.0)
    planned = planned_epochs(done, pace, restart, deadline - now)
    plan.update(seconds_per_epoch=round(pace, 1), startup_seconds=round(restart, 1), planned_epochs=planned)
    print(f"time plan: {pace:.1f} s an epoch, {restart:.0f} s to start: {planned} epochs fit {minutes:g} minutes", flush=True)
    stopped = False
    if planned > done:
        rc, why = train_until([*common, "--resume", "--epochs", planned], env, run, deadline=deadline)
        if rc:
            raise SystemExit(rc)
        stopped = why == "time"
    return {**plan, "stopped_by_time": stopped}


def parse_args(argv=None, dataset: str | None = None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    if dataset is None:
        ap.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    ap.add_argument("--data", type=Path, default=None, help="the dataset's JSON [default: under ../shared/data/]")
    ap.add_argument("--arch", "--cell", dest="arch", choices=["gru", "lstm"], default="gru")
    ap.add_argument("--work", type=Path, default=None, help="[default: benchmarks/out/DATASET]")
    ap.add_argument("--run-name", default=None, help="run directory name under WORK [default: run-ARCH]")
    ap.add_argument("--limit", type=int, default=None, help="only the first N pieces of each split (smoke test)")
    ap.add_argument("--minutes", type=float, default=None,
                    help="training wall-time budget [default: 85 for nottingham, musedata, piano-midi; none for jsb]")
    ap.add_argument("--train-only", action="store_true",
                    help="stop after training, test not scored (a timing run: its history is kept)")
    ap.add_argument("--cache", action="store_true",
                    help="also score test with a continuous cache over the top layer (Grave et al. 2017), "
                         "its theta and lambda chosen on valid (a second row: ours with the cache)")
    ap.add_argument("--ensemble", action="append", default=[], metavar="RUN_NAME",
                    help="another finished run under WORK: test is also scored by the mean of the runs' "
                         "distributions (repeatable; with --cache the cache applies to the ensemble); the "
                         "result goes to DATASET-RUN-ensembleK.json")
    ap.add_argument("--score-only", action="store_true",
                    help="score the existing run directory WORK/RUN_NAME without training it further")
    ap.add_argument("train_options", nargs="*", help="extra `melodygru train` options (after --)")
    args = ap.parse_args(argv)
    if dataset is not None:
        args.dataset = dataset
    return args


def main(argv=None, dataset: str | None = None) -> int:
    args = parse_args(argv, dataset)
    ds = DATASETS[args.dataset]
    data_path = args.data or DATA_ROOT / ds.path
    if not data_path.is_file():
        print(f"error: {data_path} not found (give --data PATH)", file=sys.stderr)
        return 2
    data = json.loads(data_path.read_text())
    if args.limit:
        data = {k: v[: args.limit] for k, v in data.items()}
    spq = ds.steps_per_quarter
    work = args.work or Path("benchmarks/out") / ds.name
    t0 = time.perf_counter()
    steps = {split: write_split(data[split], work / split, spq) for split in ("train", "valid", "test")}
    t1 = time.perf_counter()
    notes = check_test_encoding(work / "test", data["test"], spq)
    t2 = time.perf_counter()
    print(f"wrote {', '.join(f'{len(data[s])} {s}' for s in ('train', 'valid', 'test'))} pieces to {work} "
          f"(one {ds.step_name} a step, {t1 - t0:.1f} s); the tokens keep all {notes} test notes "
          f"({sum(steps['test'].values())} steps; checked in {t2 - t1:.1f} s)"
          + (f"; {ending_on_c(data['train'])} of {len(data['train'])} training chorales end on a C in the bass" if ds.name == "jsb" else ""))

    from melodygru.tokens.config import TokenizerConfig
    from melodygru.tokens.tokenizer import Tokenizer

    vocab = Tokenizer(TokenizerConfig(**tokenizer_config(spq))).vocab_size
    extra = list(args.train_options)
    minutes = args.minutes if args.minutes is not None else ds.minutes
    if any(o in ("--epochs", "-e") or o.startswith("--epochs=") for o in extra):
        minutes = None  # the caller fixed the epochs
    options = [*BASE_OPTIONS, *tokenizer_options(spq)]
    if args.arch == "lstm":
        units = lstm_units(vocab, GRU_SHAPE["units"], GRU_SHAPE["layers"], GRU_SHAPE["emb"])
        gru_params = param_count("gru", GRU_SHAPE["units"], GRU_SHAPE["layers"], GRU_SHAPE["emb"], vocab)
        options += ["--cell", "lstm", "--units", str(units)]
        print(f"lstm: {units} units -> {param_count('lstm', units, 2, 128, vocab):,} parameters "
              f"(the GRU has {gru_params:,})")
    if minutes is None and ds.name == "jsb" and not any(o in ("--epochs", "-e") or o.startswith("--epochs=") for o in extra):
        options += ["--epochs", str(JSB_LSTM_EPOCHS if args.arch == "lstm" else JSB_GRU_EPOCHS)]
    options += extra
    run = work / (args.run_name or f"run-{args.arch}")
    env = {**os.environ, "MELODYGRU_CACHE_DIR": str(work / "cache")}
    common = [work / "train", "--val", work / "valid", "--out", run, "-q", "--critic-samples", "0"]
    start = time.perf_counter()
    plan = None
    if args.score_only:
        if args.train_only:
            print("error: --score-only and --train-only exclude each other", file=sys.stderr)
            return 2
        if not (run / "metrics.json").is_file():
            print(f"error: --score-only: {run} holds no finished run (no metrics.json)", file=sys.stderr)
            return 2
        kept = run / f"{ds.results_prefix}_result.json"
        previous = json.loads(kept.read_text()) if kept.is_file() else {}
        wall = previous.get("train_wall_seconds") or json.loads((run / "metrics.json").read_text()).get("wall_time_s", 0.0)
        options = previous.get("train_options", options)
        return score(args, ds, work, run, steps, options, previous.get("time_plan"), wall, env)
    if (run / "config.json").exists():
        print(f"{run} exists: resuming it (delete it to start over)")
        deadline = start + minutes * 60 if minutes else None
        rc, why = train_until([*common, "--resume"], env, run, deadline=deadline)
        if rc:
            return rc
        plan = {"resumed": True, "stopped_by_time": why == "time"}
    elif minutes:
        plan = train_on_time(common, options, env, run, minutes)
    else:
        rc, _ = train_until([*common, *options], env, run)
        if rc:
            return rc
    wall = time.perf_counter() - start
    if args.train_only:
        return keep_timing(args, ds, run, options, plan, wall)
    return score(args, ds, work, run, steps, options, plan, wall, env)


def keep_timing(args, ds: Dataset, run: Path, options: list, plan: dict | None, wall: float) -> int:
    """A --train-only run: its pace and history, without a test score."""
    metrics = json.loads((run / "metrics.json").read_text())
    result = {
        "dataset": ds.name, "cell": args.arch, "timing_only": True, "parameters": metrics["parameters"],
        "train_wall_seconds": round(wall, 1), "epochs": metrics["epochs"],
        "train_tokens_per_second": metrics.get("train_tokens_per_second"), "train_tokens": metrics.get("train_tokens"),
        "valid_nll_per_token": metrics.get("best_val_loss"), "time_plan": plan, "train_options": options,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
    }
    if not args.limit:
        kept = Path(__file__).resolve().parent / "results" / f"{ds.results_prefix}-{run.name}.json"
        atomic_write_bytes(kept, json.dumps({**result, "history": (run / "history.csv").read_text()}, indent=1).encode())
    print(json.dumps(result, indent=1))
    return 0


def _valid_per_step(run: Path, valid_steps: int) -> float | None:
    """A run's best validation NLL per step, from its metrics.json."""
    metrics = json.loads((run / "metrics.json").read_text())
    return metrics["best_val_loss"] * metrics["val_tokens"] / valid_steps if metrics.get("best_val_loss") else None


def score(args, ds: Dataset, work: Path, run: Path, steps: dict, options: list, plan: dict | None, wall: float, env) -> int:
    """Score `test` once, write the result (and keep it in benchmarks/results/), print the table."""
    t = time.perf_counter()
    cache = ["--continuous-cache", work / "valid"] if args.cache else []
    others = [work / name for name in args.ensemble]
    for other in others:
        if not (other / "metrics.json").is_file():
            print(f"error: --ensemble: {other} holds no finished run (no metrics.json)", file=sys.stderr)
            return 2
    ensemble = [x for other in others for x in ("--ensemble", other)]
    ev = melodygru("evaluate", "--checkpoint", run, work / "test", *ensemble, *cache, "--json", "-q", "--no-cache",
                   env=env)
    if ev.returncode:
        return ev.returncode
    test_seconds = time.perf_counter() - t
    scored = json.loads(ev.stdout)
    likelihood = scored["likelihood"]
    by_name = {Path(s).name: nll for s, nll in zip(likelihood["sources"], likelihood["piece_nll"])}
    if sorted(by_name) != sorted(steps["test"]):
        raise SystemExit("evaluate did not score every test piece")
    test_steps = sum(steps["test"].values())
    test_nll = sum(by_name.values()) / test_steps
    metrics = json.loads((run / "metrics.json").read_text())
    shape = json.loads((run / "config.json").read_text())["model"]
    valid_steps = sum(steps["valid"].values())
    valid_per_step = _valid_per_step(run, valid_steps)
    result = {
        "dataset": ds.name, "step": ds.step_name, "cell": shape.get("cell", "gru"), "layers": shape["layers"], "units": shape["units"],
        "parameters": metrics["parameters"], "train_wall_seconds": round(wall, 1),
        "train_tokens_per_second": metrics.get("train_tokens_per_second"),
        "best_epoch": metrics["best_epoch"], "epochs": metrics["epochs"], "time_plan": plan,
        "valid_nll_per_token": metrics["best_val_loss"], "valid_nll_per_step": valid_per_step,
        "test_nll_per_step": test_nll, "test_nll_per_token": likelihood["nats_per_token"],
        "test_pieces": likelihood["pieces"], "test_steps": test_steps, "test_seconds": round(test_seconds, 1),
        "train_options": options, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
    }
    if others or args.cache:  # one evaluate call scored them all
        result["test_seconds_include"] = [x for x, on in (("ensemble", others), ("continuous_cache", args.cache)) if on]
    for extra in ("ensemble", "continuous_cache"):
        if extra in scored and scored[extra]["sources"] != likelihood["sources"]:
            raise SystemExit(f"evaluate's {extra} scored other pieces than its likelihood")
    if others:
        e = scored["ensemble"]
        result["ensemble"] = {
            "runs": [Path(r).name for r in e["runs"]], "test_nll_per_step": sum(e["piece_nll"]) / test_steps,
            "test_nll_per_token": e["nats_per_token"],
            "runs_test_nll_per_step": [x * e["tokens"] / test_steps for x in e["run_nats_per_token"]],
            "runs_valid_nll_per_step": [_valid_per_step(r, valid_steps) for r in (run, *others)],
        }
    if args.cache:
        c = scored["continuous_cache"]
        result["continuous_cache"] = {
            "theta": c["theta"], "lambda": c["lambda"], "window_tokens": c["window"],
            "valid_nll_per_step": c["fit"]["nats_per_token"] * c["fit"]["tokens"] / valid_steps,
            "valid_cache_nll_per_step": c["fit"]["cache_nats_per_token"] * c["fit"]["tokens"] / valid_steps,
            "test_nll_per_step": sum(c["piece_nll"]) / test_steps, "test_nll_per_token": c["nats_per_token"],
            "grid_on_valid": c["grid"],
        }
    suffix = f"-ensemble{len(others) + 1}" if others else ""
    atomic_write_bytes(run / f"{ds.results_prefix}_result{suffix}.json", json.dumps(result, indent=1).encode())
    if not args.limit:  # a smoke test is not a result
        kept = Path(__file__).resolve().parent / "results" / f"{ds.results_prefix}-{run.name}{suffix}.json"
        kept.parent.mkdir(exist_ok=True)
        atomic_write_bytes(kept, json.dumps({**result, "history": (run / "history.csv").read_text()}, indent=1).encode())

    print(f"\n{ds.title}, test NLL per {ds.step_name} step (nats, lower is better)")
    for name, nll, source, status in ds.published:
        print(f"  {name:<22} {nll:6.2f}   {source} ({status})")
    ours = f"melodygru {args.arch.upper()} {shape['layers']}x{shape['units']}"
    tps = metrics.get("train_tokens_per_second") or 0
    print(f"  {ours:<22} {test_nll:6.2f}   this run: {metrics['parameters']:,} parameters, "
          f"best epoch {metrics['best_epoch']}/{metrics['epochs']}, {wall / 60:.1f} min (train + read), {tps:,.0f} tokens/s")
    if others:
        e = result["ensemble"]
        print(f"  {'ensemble of ' + str(len(e['runs'])):<22} {e['test_nll_per_step']:6.2f}   the mean distribution of "
              f"{', '.join(e['runs'])} (each alone: {', '.join(f'{x:.3f}' for x in e['runs_test_nll_per_step'])})")
    if args.cache:
        c = result["continuous_cache"]
        ours = f"ensemble of {len(others) + 1}" if others else ours
        print(f"  {ours + ' + cache':<22} {c['test_nll_per_step']:6.2f}   with a continuous cache "
              f"(theta {c['theta']:g}, lambda {c['lambda']:g}, chosen on valid: {c['valid_nll_per_step']:.3f} -> "
              f"{c['valid_cache_nll_per_step']:.3f} per step)")
        print(f"test NLL per step with the continuous cache{' over the ensemble' if others else ''}: "
              f"{result['continuous_cache']['test_nll_per_step']:.3f}")
    if others:
        print(f"test NLL per step of the ensemble: {result['ensemble']['test_nll_per_step']:.3f}")
    print(f"test NLL per step: {test_nll:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
