"""Generation speed: the tutorials' sampling loop against melodygru's compiled decoder.

    python benchmarks/generate_speed.py [--checkpoint RUN_DIR] [--naive-tokens 50]

In one run, on the same model:

  naive      what popular tutorials do: for every new token, `model.predict` on the last 100
             tokens and keep the last step's output (one sample at a time). Measured on
             --naive-tokens tokens and extrapolated per token to 512 tokens and to 64 samples,
             clearly labelled, so the benchmark takes minutes rather than hours.
  melodygru  `generation.decoder.Decoder`: one pass over the prefix, then one token per step with the GRU
             states carried, all samples as one batch, in one tf.function built once (grammar mask
             included). Steady state, best of --repeats; the one-off tracing is shown separately.
  xla        the same decoder with the per-step body compiled by XLA (`jit_compile=True`).
  command    `melodygru generate --length 512 --candidates 1` (and `--num-samples 64`) as fresh
             processes, and one sample with the run's default candidates (its sampling.json, or 16
             with a critic), against the floor: a bare `python -c "import tensorflow, keras"`.

Goals (issue 4): >= 100x faster per token than naive; 64 samples cost <= 3x one sample; the
command costs <= 2x the floor. The speed-up is printed last.

The model is --checkpoint, else the shipped checkpoints/bach, else an untrained model of the
'small' preset (the same shape and therefore the same speed as a trained one).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WINDOW = 100  # the tutorials' sequence length


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def untrained_run_dir(folder: Path) -> Path:
    from melodygru.model import rundir
    from melodygru.model.network import build_model
    from melodygru.tokens.tokenizer import Tokenizer
    from melodygru.training.config import TrainConfig

    tokenizer = Tokenizer()
    train_config = TrainConfig(preset="small")
    config = train_config.model_config(len(tokenizer))
    build_model(config).save(folder / "model.keras")
    tokenizer.save(folder / "tokenizer.json")
    rundir.write_json(folder / "config.json", {"format": rundir.RUN_FORMAT, "version": rundir.FORMAT_VERSION,
                                               "train": train_config.to_dict(), "model": config.to_dict()})
    return folder


def naive_per_token(model, tokenizer, tokens: int) -> float:
    """Seconds per token of the tutorials' loop: predict on the last 100 tokens, sample the last step."""
    import numpy as np

    rng = np.random.default_rng(0)
    seq = [tokenizer.bos] + [tokenizer.bar] * (WINDOW - 1)
    model.predict(np.array([seq[-WINDOW:]]), verbose=0)  # warm-up (builds predict's function)
    start = time.perf_counter()
    for _ in range(tokens):
        logits = model.predict(np.array([seq[-WINDOW:]]), verbose=0)[0, -1]
        probs = np.exp(logits - logits.max())
        seq.append(int(rng.choice(len(probs), p=probs / probs.sum())))
    return (time.perf_counter() - start) / tokens


def command_times(run_dir: Path, length: int, samples: int, repeats: int) -> tuple[float, float, float, float]:
    """Wall times of fresh processes, best of `repeats`, interleaved: `melodygru generate` for one
    sample (with the run's default candidates, and with `--candidates 1`), for `samples` (with
    `--candidates 1`: the goal is about batching, not the critic), and the bare import."""
    import shutil

    script = shutil.which("melodygru")  # the installed command, as users run it
    exe = [script] if script else [sys.executable, "-m", "melodygru.cli"]
    floor, one, plain, many = [], [], [], []
    with tempfile.TemporaryDirectory() as out:
        for i in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import tensorflow, keras"], check=True, capture_output=True)
            floor.append(time.perf_counter() - start)
            plain_draw = ["--candidates", "1"]
            for k, extra, times in ((1, [], one), (1, plain_draw, plain), (samples, plain_draw, many)):
                start = time.perf_counter()
                subprocess.run(exe + ["generate", "--checkpoint", str(run_dir), "--length", str(length),
                                      "--num-samples", str(k), "--seed", str(i), "--out", out, *extra],
                               check=True, capture_output=True, cwd=REPO)
                times.append(time.perf_counter() - start)
    return min(one), min(plain), min(many), min(floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--naive-tokens", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-xla", action="store_true", help="skip the XLA variant")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.checkpoint
        label = str(run_dir)
        if run_dir is None:
            shipped = REPO / "checkpoints" / "bach"
            if (shipped / "model.keras").is_file():
                run_dir, label = shipped, "checkpoints/bach (shipped)"
            else:
                run_dir, label = untrained_run_dir(Path(tmp)), "untrained 'small' preset (no shipped checkpoint yet)"

        import keras
        import tensorflow as tf

        from melodygru.generation.decoder import Decoder, GrammarTables
        from melodygru.generation.generate import load_checkpoint
        from melodygru.model.step import StepWeights

        start = time.perf_counter()
        ckpt = load_checkpoint(run_dir)
        load_s = time.perf_counter() - start
        tok, dec, n, k = ckpt.tokenizer, ckpt.decoder, args.length, args.samples
        prefix = [tok.bos]
        print(f"model: {label}: {ckpt.description}")
        print(f"machine: {os.cpu_count()} CPUs, TensorFlow {tf.__version__}, Keras {keras.__version__}")
        print(f"load run dir (rebuild from config.json, weights from model.keras, build decoder): {load_s:.2f} s")

        start = time.perf_counter()
        dec.generate(prefix, n, num_samples=1, seed=0)
        first_s = time.perf_counter() - start
        ours_1 = best_of(lambda: dec.generate(prefix, n, num_samples=1, seed=1), args.repeats)
        dec.generate(prefix, n, num_samples=k, seed=0)
        ours_k = best_of(lambda: dec.generate(prefix, n, num_samples=k, seed=1), args.repeats)
        print(f"melodygru first call (traces the graph once): {first_s:.2f} s for 1 x {n} tokens")

        xla = None
        if not args.no_xla:
            model = keras.saving.load_model(run_dir / "model.keras", compile=False)
            xdec = Decoder(StepWeights.from_model(model), GrammarTables.from_grammar(tok.grammar), jit_compile=True)
            start = time.perf_counter()
            xdec.generate(prefix, n, num_samples=1, seed=0)
            xfirst = time.perf_counter() - start
            x1 = best_of(lambda: xdec.generate(prefix, n, num_samples=1, seed=1), args.repeats)
            start = time.perf_counter()
            xdec.generate(prefix, n, num_samples=k, seed=0)
            xfirst_k = time.perf_counter() - start
            xk = best_of(lambda: xdec.generate(prefix, n, num_samples=k, seed=1), args.repeats)
            xla = (xfirst, xfirst_k, x1, xk)

        model = keras.saving.load_model(run_dir / "model.keras", compile=False)
        naive = naive_per_token(model, tok, args.naive_tokens)
        cmd_s, cmd_plain, cmd_k, floor_s = command_times(run_dir, n, k, max(2, args.repeats - 1))

    naive_1, naive_k = naive * n, naive * n * k
    print()
    print(f"{'':44s} {'1 x ' + str(n):>12s} {str(k) + ' x ' + str(n):>12s} {'ms/token':>10s}")
    print(f"{'naive predict() on last 100 tokens [extrap.]':44s} {naive_1:11.1f}s {naive_k:11.1f}s "
          f"{naive * 1e3:10.2f}   (measured on {args.naive_tokens} tokens, x{n} and x{n * k} extrapolated)")
    print(f"{'melodygru decoder':44s} {ours_1:11.3f}s {ours_k:11.3f}s {ours_1 / n * 1e3:10.3f}"
          f"   ({ours_k / (n * k) * 1e3:.4f} ms/token at {k} samples)")
    if xla:
        xfirst, xfirst_k, x1, xk = xla
        print(f"{'melodygru decoder, XLA step (not default)':44s} {x1:11.3f}s {xk:11.3f}s {x1 / n * 1e3:10.3f}"
              f"   (+{xfirst - x1:.1f} s compile for batch 1, +{xfirst_k - xk:.1f} s for batch {k})")
    print()
    print(f"{k} samples cost {ours_k / ours_1:.2f}x one sample in the decoder, "
          f"{cmd_k / cmd_plain:.2f}x as whole commands with --candidates 1 ({cmd_k:.2f} s vs {cmd_plain:.2f} s) "
          f"(goal <= 3x)")
    print(f"`melodygru generate --length {n} --candidates 1` process: {cmd_plain:.2f} s; bare `import tensorflow, "
          f"keras`: {floor_s:.2f} s -> {cmd_plain / floor_s:.2f}x the floor (goal <= 2x); with the run's default "
          f"candidates (the critic's choice): {cmd_s:.2f} s, {cmd_s / floor_s:.2f}x")
    print(f"speed-up per token over naive: {naive / (ours_1 / n):.0f}x for 1 sample, "
          f"{naive / (ours_k / (n * k)):.0f}x for {k} samples (goal >= 100x)")


if __name__ == "__main__":
    main()
