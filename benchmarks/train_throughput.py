"""Training throughput (tokens/s) of melodygru's pipeline against bare Keras and a plain PyTorch GRU.

All three train the same shape, a 3-layer GRU of 512 units with a 256-wide embedding over the
default tokenizer's vocabulary, on windows of 128 tokens in batches of 64, with Adam:

* melodygru: `melodygru.training.run.train` itself (windowing, random transposition, tf.data, the compiled
  loop; on a CPU the fused GRU of `melodygru.model.gru_cpu`), tokens/s as its history.csv reports it;
* bare Keras: `model.fit` on random token arrays, the same `build_model` network with Keras' own GRU;
* PyTorch: `nn.Embedding -> nn.GRU(num_layers=3) -> nn.Linear` with a hand-written training step,
  in a separate process (two thread pools in one process slow both down).

Measurements are interleaved round by round (melodygru epoch, model.fit, PyTorch), so a busy
machine slows all three alike; each reports its median round. Warmup (tracing, XLA compilation,
the first steps) is excluded. torch is a benchmark-only dependency (`pip install torch`).

Run: python benchmarks/train_throughput.py [--rounds 3] [--steps 12] [--keras-gru]   (about 10 minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LAYERS, UNITS, EMBEDDING, SEQ_LEN, BATCH = 3, 512, 256, 128, 64


def torch_worker(vocab_size: int) -> None:
    """Serve 'run N steps' requests on stdin; answer with the seconds they took."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(vocab_size, EMBEDDING)
            self.gru = torch.nn.GRU(EMBEDDING, UNITS, num_layers=LAYERS, batch_first=True)
            self.logits = torch.nn.Linear(UNITS, vocab_size)

        def forward(self, x):
            return self.logits(self.gru(self.embedding(x))[0])

    torch.manual_seed(0)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batch = torch.randint(1, vocab_size, (BATCH, SEQ_LEN + 1))
    x, y = batch[:, :-1], batch[:, 1:]

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x).reshape(-1, vocab_size), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 3.0)
        opt.step()

    for _ in range(2):  # warmup
        step()
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        n = int(line)
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        print(json.dumps({"seconds": time.perf_counter() - t0}), flush=True)


class TorchProcess:
    def __init__(self, vocab_size: int):
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--torch-worker", str(vocab_size)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.info = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the PyTorch worker died (is torch installed? pip install torch)")
        return json.loads(line)

    def run(self, steps: int) -> float:
        self.proc.stdin.write(f"{steps}\n")
        self.proc.stdin.flush()
        return self._read()["seconds"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per contender (after one warmup)")
    # a real epoch has hundreds of steps: 12 per round keeps per-epoch setup (and PyTorch's slower
    # first steps after a pause) from weighing more than they do in training
    parser.add_argument("--steps", type=int, default=12, help="training steps per round")
    parser.add_argument("--keras-gru", action="store_true",
                        help="train melodygru with keras.layers.GRU instead of its fused CPU GRU (to compare the loops alone)")
    parser.add_argument("--torch-worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_worker is not None:
        return torch_worker(args.torch_worker)

    import keras
    import numpy as np
    import tensorflow as tf

    from melodygru.model.network import ModelConfig, build_model
    from melodygru.model.rundir import read_history
    from melodygru.tokens.tokenizer import Tokenizer
    from melodygru.training.config import TrainConfig
    from melodygru.training.run import train

    tok = Tokenizer()
    vocab = tok.vocab_size
    tokens_per_step = BATCH * SEQ_LEN
    print(f"shape: {LAYERS}x{UNITS} GRU, embedding {EMBEDDING}, vocabulary {vocab}, seq {SEQ_LEN}, batch {BATCH}; "
          f"{os.cpu_count()} CPUs, TensorFlow {tf.__version__}, Keras {keras.__version__}", flush=True)

    torch_proc = TorchProcess(vocab)
    print(f"PyTorch {torch_proc.info['torch']} ({torch_proc.info['threads']} threads) warmed up", flush=True)

    # bare Keras: the same network, model.fit on random tokens
    rng = np.random.default_rng(0)
    x = rng.integers(1, vocab, size=(BATCH * args.steps, SEQ_LEN)).astype("int32")
    y = rng.integers(1, vocab, size=x.shape).astype("int32")
    bare = build_model(ModelConfig(vocab, LAYERS, UNITS, EMBEDDING, dropout=0.0))
    bare.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    bare.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, epochs=1, verbose=0)  # warmup: tracing + first step

    def fit_round() -> float:
        t0 = time.perf_counter()
        bare.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
        return args.steps * tokens_per_step / (time.perf_counter() - t0)

    # melodygru: pieces of 1024 tokens give 8 windows of 128 each, so an epoch is exactly `steps` steps
    pieces = [np.concatenate([[tok.bos], rng.integers(4, vocab, size=1022), [tok.eos]]).astype(np.int32)
              for _ in range(8 * args.steps)]
    config = TrainConfig(preset="medium", dropout=0.0, seq_len=SEQ_LEN, batch_size=BATCH, epochs=args.rounds + 1,
                         val_split=0.0, patience=0, fast_cpu_gru=not args.keras_gru)
    results = {"fit": [], "torch": []}

    def after_epoch(line: str):
        if line.startswith("epoch ") and not line.startswith("epoch 1/"):  # epoch 1 is the warmup
            results["fit"].append(fit_round())
            results["torch"].append(args.steps * tokens_per_step / torch_proc.run(args.steps))
            ours_now = re.search(r"([\d,]+) tok/s", line).group(1)
            print(f"  round {len(results['fit'])}: melodygru {ours_now} tok/s, "
                  f"model.fit {results['fit'][-1]:,.0f} tok/s, PyTorch {results['torch'][-1]:,.0f} tok/s", flush=True)
        elif line.startswith(("model ", "epoch 1/")):
            print("  " + line, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        metrics = train(pieces, tok, os.path.join(tmp, "run"), config, log=after_epoch)
        ours = [r["tokens_per_second"] for r in read_history(os.path.join(tmp, "run", "history.csv"))[1:]]
    torch_proc.close()

    mine, fit, pt = median(ours), median(results["fit"]), median(results["torch"])
    kernel = "fused CPU GRU" if metrics.get("fused_cpu_gru") else "keras.layers.GRU"
    print(f"melodygru pipeline ({kernel}): {mine:,.0f} tokens/s  (rounds: {', '.join(f'{v:,.0f}' for v in ours)})")
    print(f"bare Keras model.fit:          {fit:,.0f} tokens/s  (rounds: {', '.join(f'{v:,.0f}' for v in results['fit'])})")
    print(f"PyTorch nn.GRU:                {pt:,.0f} tokens/s  (rounds: {', '.join(f'{v:,.0f}' for v in results['torch'])})")
    print(f"melodygru / bare model.fit: {mine / fit:.2f}x (goal >= 0.90)")
    print(f"bare model.fit / PyTorch:   {fit / pt:.2f}x")
    print(f"melodygru / PyTorch:        {mine / pt:.2f}x (goal >= 1.30)")


if __name__ == "__main__":
    main()
