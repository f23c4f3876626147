"""Probe (session 7): critic-steered sequential Monte Carlo. Every EVERY tokens each group of K
rows is resampled by exp(score now - score at the last resampling) (the run's critic.json scores
the piece decoded so far); at the end one row per group is drawn by exp(final - last score). 100
samples of 512 tokens go through the listening test against the run's validation pieces.

    MELODYGRU_CACHE_DIR=... python benchmarks/probes/critic_smc.py checkpoints/bach K EVERY SEED
    (BETA=b scales the scores; CRITICS=file.pkl uses the stages critic_stages.py saved)

Results: benchmarks/results/quality-probes-session7.md."""
import os, sys, tempfile, time, json, pickle
from pathlib import Path
import numpy as np
from melodygru.core.tfenv import import_tensorflow
import_tensorflow()
from melodygru.analysis.critic import weighted_choice
from melodygru.analysis.features import critic_features
from melodygru.evaluation.evaluate import run_pieces
from melodygru.evaluation.listening import listening_test
from melodygru.generation.generate import load_checkpoint, recommended_sampling
from melodygru.generation.choose import limit_voices
from melodygru.generation.samplers import kind_temperatures
from melodygru.tokens.form import plan_matrix
from melodygru.io.readers import read_file
from melodygru.io.writers import write_midi

run = Path(sys.argv[1]); K = int(sys.argv[2]); every = int(sys.argv[3]); seed = int(sys.argv[4])
beta = float(os.environ.get("BETA", "1"))
crit_pkl = os.environ.get("CRITICS")
ck = load_checkpoint(run); tok = ck.tokenizer
critics = pickle.load(open(crit_pkl, "rb")) if crit_pkl else [ck.critic]
if os.environ.get("NST"): critics = critics[:int(os.environ["NST"])]
rec = recommended_sampling(run)
mono, voices = rec["monophonic"], rec["voices"]
held, train = run_pieces(ck.path, tok, cache_dir=os.environ.get("MELODYGRU_CACHE_DIR"), progress=False)
held = [tok.decode(p.ids) for p in held]; train = [tok.decode(p.ids) for p in train]
N = 100; length = 512
prefix = np.array([tok.bos], np.int32)

def piece_of(row):
    row = row[row != tok.pad]
    e = np.flatnonzero(row == tok.eos)
    row = row[: e[0] + 1] if e.size else row
    p = tok.decode(np.r_[prefix, row])
    if mono or voices:
        p = limit_voices(p, 1 if mono else voices)
    return p

def score_rows(tokens):
    out = np.empty(len(tokens))
    for r, row in enumerate(tokens):
        v = critic_features(piece_of(row))
        out[r] = -np.inf if v is None else beta * sum(float(c.score_features(v)[0]) for c in critics)
    return out

temps = kind_temperatures(tok.grammar.kinds, rec["temperature"], rec["temperatures"])
out_dir = Path(tempfile.mkdtemp(prefix="smc-"))
chosen = []
t0 = time.perf_counter()
rng = np.random.default_rng(seed)
chunk = max(1, 2048 // K)  # groups per decode call
for g0 in range(0, N, chunk):
    G = min(chunk, N - g0)
    rows = G * K
    plan = plan_matrix(ck.plans, rows, seed + g0, length // 4 + 2) if rec["form"] and ck.plans else None
    prev = np.zeros(rows)
    def steer(tokens, done):
        global prev
        s = score_rows(tokens)
        lw = (s - prev).reshape(G, K)
        idx = []
        for g in range(G):
            w = lw[g]; w = np.where(np.isfinite(w), w, -1e30); p = np.exp(w - w.max()); p /= p.sum()
            # systematic resampling
            u = (rng.random() + np.arange(K)) / K
            idx.append(g * K + np.minimum(np.searchsorted(np.cumsum(p), u), K - 1))
        idx = np.concatenate(idx)
        prev = s[idx]
        return idx
    toks = ck.decoder.generate(prefix, length, num_samples=rows, temperature=temps, top_k=rec["top_k"],
                               top_p=rec["top_p"], seed=seed * 1000 + g0, allow_end=rec["allow_end"], plan=plan,
                               monophonic=mono, every=every, steer=steer if every else None)
    s = score_rows(toks)
    lw = (s - prev).reshape(G, K).T
    keep = weighted_choice(lw, rng)
    for g in range(G):
        chosen.append(piece_of(toks[g * K + keep[g]]))
    print(f"groups {g0 + G}/{N} {time.perf_counter() - t0:.0f}s", flush=True)
got = []
for i, p in enumerate(chosen):
    f = out_dir / f"s{i:03d}.mid"; write_midi(p, f); got.append(read_file(str(f))[0])
rep = listening_test(got, held, tok, "held-out", floor_pool=held + train if len(held) < 200 else None,
                     training=train, boosting=True)
d = rep.as_dict(); st = d["statistics"]
low = [f"{k} {v['of_ceiling']}" for k, v in st.items() if v["kept"] and v["of_ceiling"] < 0.9]
print(f"RESULT K {K} every {every} seed {seed} beta {beta} critics {len(critics)}: acc {d['two_sample']['accuracy']:.3f} "
      f"boost {d['boosting']['accuracy']:.3f} stats {d['kept_mean_of_ceiling']:.1%} low {low} "
      f"ended {np.mean([p.end for p in chosen]):.1f}q  dir {out_dir}", flush=True)
for g in rep.giveaways[:6]: print("   ", g.describe())
print("   copies", json.dumps(d.get("copies", {}))[:300])
