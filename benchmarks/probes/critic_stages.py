"""Probe (session 7): critics in stages. Stage 1 is the run's critic.json; stage s + 1 is fitted
between the training pieces and a pool of GROUPS x K samples weighted as stages 1..s would choose
among each group's K (importance weights), so it learns what the choice still gets wrong.
Candidates of a saved test set (TEST.pkl: (unused, candidates) pickled, candidate k of sample i
at k * 100 + i) are then chosen with the summed scores and put through the listening test.

    MELODYGRU_CACHE_DIR=... STAGES=3 python benchmarks/probes/critic_stages.py checkpoints/bach GROUPS K TAG TEST.pkl

Results: benchmarks/results/quality-probes-session7.md."""
import os, pickle, sys, tempfile, time
from pathlib import Path
import numpy as np
from melodygru.core.tfenv import import_tensorflow
import_tensorflow()
from melodygru.analysis import critic as C
from melodygru.analysis.features import feature_matrix, critic_features
from melodygru.evaluation.evaluate import run_pieces
from melodygru.evaluation.listening import listening_test
from melodygru.generation.generate import load_checkpoint, sample, recommended_sampling
from melodygru.io.readers import read_file
from melodygru.io.writers import write_midi

run = Path(sys.argv[1]); groups = int(sys.argv[2]); K = int(sys.argv[3]); tag = sys.argv[4]
testpkl = sys.argv[5]  # (crit, cand) with cand[k*100+i]
ck = load_checkpoint(run); tok = ck.tokenizer; c1 = ck.critic
rec = recommended_sampling(run)
kw = dict(temperature=rec["temperature"], top_k=rec["top_k"], top_p=rec["top_p"], allow_end=rec["allow_end"],
          form=rec["form"] and bool(ck.plans), kind_temperatures=rec["temperatures"], monophonic=rec["monophonic"], voices=rec["voices"])
held, train = run_pieces(ck.path, tok, cache_dir=os.environ.get("MELODYGRU_CACHE_DIR"), progress=False)
held = [tok.decode(p.ids, source=p.source) for p in held]; train = [tok.decode(p.ids, source=p.source) for p in train]
print("held", len(held), "train", len(train), flush=True)
t = time.perf_counter()
pool_path = Path(f"pool_{tag}.pkl")
if pool_path.exists():
    F, ends = pickle.load(open(pool_path, "rb"))
else:
    F, ends = [], []
    n = groups * K; chunk = 2000
    for j, first in enumerate(range(0, n, chunk)):
        got = sample(ck, 512, min(chunk, n - first), seed=9000 + j, **kw)
        for s in got:
            v = critic_features(s.piece)
            F.append(v if v is not None else np.full(len(C.CRITIC_FEATURE_NAMES), np.nan)); ends.append(s.piece.end)
        print(f"pool {first + len(got)}/{n} {time.perf_counter() - t:.0f}s", flush=True)
    F, ends = np.array(F), np.array(ends)
    pickle.dump((F, ends), open(pool_path, "wb"))

def scores(critics, X):
    return sum(c.score_features(X) for c in critics)

def fit_stage(critics, F, ends, seed):
    """Critic fitted on the pool weighted as the previous stages' choice would weight it."""
    from sklearn.linear_model import LogisticRegression
    s = scores(critics, F).reshape(K, groups)
    s = np.where(np.isfinite(s), s, -1e9)
    w = np.exp(s - s.max(0)); w = (w / w.sum(0)).reshape(-1)
    # real crops at lengths drawn from the weighted pool
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(ends), 3 * len(train), p=w / w.sum())
    from melodygru.analysis.features import crop
    reps = [crop(train[i % len(train)], float(ends[picks[i]])) for i in range(3 * len(train))]
    R, _ = feature_matrix(reps, critic=True)
    X = np.vstack([F, R]); y = np.r_[np.zeros(len(F)), np.ones(len(R))]
    sw = np.r_[w * (len(R) / w.sum()), np.ones(len(R))]  # the two classes count alike
    keep = sw > 1e-6
    X, y, sw = X[keep], y[keep], sw[keep]
    finite = np.where(np.isfinite(X), X, np.nan)
    counted = np.isfinite(finite).any(axis=0)
    fill = np.where(counted, np.nanmean(np.where(counted, finite, 0.0), axis=0), 0.0)
    X = np.where(np.isfinite(X), X, fill)
    centre = np.median(X[y == 1][:, C._TWO_SIDED_AT], axis=0)
    T = C._terms(X, centre)
    mean = np.average(T, axis=0, weights=sw); scale = np.sqrt(np.average((T - mean) ** 2, axis=0, weights=sw))
    scale = np.where(scale > 1e-12, scale, 1.0)
    m = LogisticRegression(C=float(os.environ.get("CC", "1.0")), max_iter=5000).fit((T - mean) / scale, y, sample_weight=sw)
    ess = 1 / np.sum((w / w.sum()) ** 2)
    print(f"stage fitted: pool ess {ess:.0f} of {len(w)}, weighted train acc {m.score((T - mean) / scale, y, sample_weight=sw):.3f}", flush=True)
    return C.Critic(fill, centre, mean, scale, m.coef_[0].astype(float), float(m.intercept_[0]), {})

nstages = int(os.environ.get("STAGES", "3"))
critics = [c1]
for st in range(1, nstages):
    critics.append(fit_stage(critics, F, ends, st))
    print("stage", st, [(w_[:50], round(x, 2)) for w_, x in critics[-1].weights(6)], flush=True)
pickle.dump(critics, open(f"critics_{tag}.pkl", "wb"))

crit, cand = pickle.load(open(testpkl, "rb"))
KT = len(cand) // 100
Ft = np.array([v if (v := critic_features(s.piece)) is not None else np.full(len(C.CRITIC_FEATURE_NAMES), np.nan) for s in cand])
out = Path(tempfile.mkdtemp(prefix="stage2-"))
for nst in range(1, nstages + 1):
    for beta, rs in ((1.0, 5), (1.0, 6)):
        s = beta * scores(critics[:nst], Ft).reshape(KT, 100)
        keep = C.weighted_choice(s, np.random.default_rng(rs))
        chosen = [cand[keep[i] * 100 + i] for i in range(100)]
        got = []
        for i, smp in enumerate(chosen):
            p = out / f"s{nst}_{rs}_{i:03d}.mid"; write_midi(smp.piece, p); got.append(read_file(str(p))[0])
        rep = listening_test(got, held, tok, "held-out", floor_pool=held + train if len(held) < 200 else None, boosting=True)
        d = rep.as_dict()
        st = d["statistics"]
        low = [f"{k} {v['of_ceiling']}" for k, v in st.items() if v["kept"] and v["of_ceiling"] < 0.9]
        print(f"RESULT stages {nst} rng {rs}: acc {d['two_sample']['accuracy']:.3f} boost {d['boosting']['accuracy']:.3f} "
              f"stats {d['kept_mean_of_ceiling']:.1%} low {low}", flush=True)
        for g in rep.giveaways[:5]: print("   ", g.describe())
