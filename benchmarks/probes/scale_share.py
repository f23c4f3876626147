"""Probe (session 7): the share of tunes wholly in one major/minor scale (and under 0.95 / 0.9),
for each folder of samples given, beside the folk model's validation tunes cut to their lengths.

    python benchmarks/probes/scale_share.py DIR...
"""
import glob, os, sys
import numpy as np
from melodygru.core.tfenv import import_tensorflow
import_tensorflow()
from melodygru.analysis.features import scale_fit, match_lengths
from melodygru.evaluation.evaluate import run_pieces
from melodygru.generation.generate import load_checkpoint
from melodygru.io.readers import read_file
ck = load_checkpoint("checkpoints/folk"); tok = ck.tokenizer
held, train = run_pieces(ck.path, tok, cache_dir=os.environ.get("MELODYGRU_CACHE_DIR"), progress=False)
held = [tok.decode(p.ids) for p in held]
def fit(p):
    pcs = np.bincount(np.array([n.pitch for n in p.notes]) % 12, minlength=12); return scale_fit(pcs)
for d in sys.argv[1:]:
    S = [read_file(f)[0] for f in sorted(glob.glob(d + "/*.mid"))]
    R = match_lengths(held, S, 0)
    a = np.array([fit(p) for p in S]); b = np.array([fit(p) for p in R])
    print(d, "samples: =1 %.2f  <0.95 %.2f <0.9 %.2f q10 %.3f | real: =1 %.2f <0.95 %.2f <0.9 %.2f q10 %.3f" % (
        np.mean(a >= 0.9999), np.mean(a < 0.95), np.mean(a < 0.9), np.quantile(a, 0.1), np.mean(b >= 0.9999), np.mean(b < 0.95), np.mean(b < 0.9), np.quantile(b, 0.1)))
    print("   sample lengths q", np.quantile([p.end for p in S], [0.1, 0.5, 0.9]))
