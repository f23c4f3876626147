"""Probe (session 7): how far real-vs-real overlaps of the scale fit spread. The folk model's
validation tunes are cut to the lengths of the samples in /tmp/folk-300 (made by `melodygru
generate --checkpoint checkpoints/folk --length 512 --num-samples 300 --seed 13 --out
/tmp/folk-300`), split in two halves, and sets of 100 / 300 from one half are compared with the
other 200 times (MGEval's KDE overlap), beside sets of the samples.

    python benchmarks/probes/scale_spread.py
"""
import glob, os
import numpy as np
from melodygru.core.tfenv import import_tensorflow
import_tensorflow()
from melodygru.analysis.features import match_lengths, scale_fit
from melodygru.evaluation.evaluate import run_pieces
from melodygru.evaluation.musicstats import kde_overlap
from melodygru.generation.generate import load_checkpoint
from melodygru.io.readers import read_file
ck = load_checkpoint("checkpoints/folk"); tok = ck.tokenizer
held, train = run_pieces(ck.path, tok, cache_dir=os.environ.get("MELODYGRU_CACHE_DIR"), progress=False)
held = [tok.decode(p.ids) for p in held]
S = [read_file(f)[0] for f in sorted(glob.glob("/tmp/folk-300/*.mid"))]
pool = match_lengths(held, S, 2)
rng = np.random.default_rng(0); cut = rng.permutation(len(pool)); a = [pool[i] for i in cut[:526]]; b = [pool[i] for i in cut[526:]]
fit = lambda p: scale_fit(np.bincount(np.array([n.pitch for n in p.notes]) % 12, minlength=12))
A = np.array([fit(p) for p in a]); B = np.array([fit(p) for p in b]); Sv = np.array([fit(p) for p in S])
for n in (100, 300):
    ov = [kde_overlap(B[rng.choice(len(B), n, replace=False)], A) for _ in range(200)]
    sv = [kde_overlap(Sv[rng.choice(len(Sv), n, replace=False)], A) for _ in range(50)] if n <= len(Sv) else []
    print(n, "real: mean %.3f q05 %.3f q10 %.3f min %.3f" % (np.mean(ov), np.quantile(ov, .05), np.quantile(ov, .1), np.min(ov)), "samples mean %.3f" % np.mean(sv) if sv else "")
