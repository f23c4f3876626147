"""Sampling settings against the listening test: sample a run directory with one setting, write the
MIDI files, and score them against the run's validation pieces (the same test as
`melodygru evaluate --samples`, without the likelihood and copy check, so a sweep is quick).

    python benchmarks/listening_sweep.py RUN_DIR --corpus bach --temperature 0.8 --form \\
        --kind DUR=1.3 --kind POS=1.3 --allow-end

Prints one RESULT line (two-sample accuracy, its floor, the mean overlap of the counted statistics
and its share of the real-vs-real ceiling) and the six largest giveaways. The run must have been
trained on `--corpus` (its split.json names the validation pieces); the floor draws from the whole
corpus when the validation set is smaller than twice the samples.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--corpus", required=True, choices=["bach", "folk"])
    ap.add_argument("--num-samples", type=int, default=100)
    ap.add_argument("--length", type=int, default=512)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--kind", action="append", default=[], help="KIND=T, a temperature for one token kind")
    ap.add_argument("--form", action="store_true", help="form plans from the run's training pieces")
    ap.add_argument("--allow-end", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="where the MIDI files go [default: a temp folder]")
    a = ap.parse_args()

    from melodygru.core.tfenv import import_tensorflow

    import_tensorflow()
    from melodygru.corpus.build import build_corpus
    from melodygru.evaluation.listening import listening_test
    from melodygru.generation.decoder import Decoder, GrammarTables
    from melodygru.generation.samplers import kind_temperatures
    from melodygru.io.readers import read_file
    from melodygru.io.writers import write_midi
    from melodygru.model.rundir import load_trained
    from melodygru.model.step import StepWeights
    from melodygru.tokens import form

    model, tok, _ = load_trained(a.run)
    decoder = Decoder(StepWeights.from_model(model), GrammarTables.from_grammar(tok.grammar))
    pieces, _ = build_corpus((), [a.corpus], tok, progress=False)
    val = set(json.loads((a.run / "split.json").read_text())["val"])
    plan = None
    if a.form:
        plans = form.plans_for(tok, [p.ids for p in pieces if p.source not in val])
        plan = form.plan_matrix(plans, a.num_samples, a.seed, 64)
    kinds = dict((k, float(v)) for k, v in (x.split("=") for x in a.kind))
    temps = kind_temperatures(tok.grammar.kinds, a.temperature, kinds)
    start = time.perf_counter()
    ids = decoder.generate([tok.bos], a.length, num_samples=a.num_samples, temperature=temps, top_p=a.top_p,
                           seed=a.seed, plan=plan, allow_end=a.allow_end)
    ended = float(np.mean([(row == tok.eos).any() for row in ids]))
    print(f"sampled {a.num_samples} x {a.length} tokens in {time.perf_counter() - start:.1f} s; "
          f"{ended:.0%} ended with the model's end of piece")
    out = a.out or Path(tempfile.mkdtemp(prefix="listening-"))
    out.mkdir(parents=True, exist_ok=True)
    samples = []
    for i, row in enumerate(ids):
        seq = np.concatenate([[tok.bos], row])
        write_midi(tok.decode(seq[seq != tok.pad]), out / f"s{i:03d}.mid")
        samples.append(read_file(str(out / f"s{i:03d}.mid"))[0])  # what a player reads
    real = [tok.decode(p.ids, source=p.source) for p in pieces]
    held = [r for r in real if r.source in val]
    report = listening_test(samples, held, tok, "held-out pieces",
                            floor_pool=real if len(held) < 2 * len(samples) else None)
    d = report.as_dict()
    setting = f"T {a.temperature:g}" + "".join(f", {k} {v:g}" for k, v in kinds.items()) + \
        (f", top-p {a.top_p:g}" if a.top_p < 1 else "") + (", form" if a.form else "") + \
        (", allow-end" if a.allow_end else "")
    print(f"RESULT {a.run.name} ({setting}): accuracy {d['two_sample']['accuracy']:.3f} "
          f"floor {d['floor']['accuracy']:.3f} statistics {d['kept_mean_overlap']} "
          f"({d['kept_mean_of_ceiling']:.1%} of the ceiling)")
    for g in report.giveaways[:6]:
        print("   ", g.describe())


if __name__ == "__main__":
    main()
