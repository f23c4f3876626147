"""Probe: choose each sample's candidate one by one (the critic's weighted pick, as shipped) or
for the whole set at once, so that the set's spread of music statistics matches the training
pieces' (mean and spread of each), and write every strategy's samples as MIDI for
`melodygru evaluate`.

One draw of candidates serves every strategy: `generate` runs with the run's sampling.json and
its candidates are kept (the shipped choice is written as `weighted/`).

Usage: python benchmarks/probes/set_selection.py --checkpoint RUN --seed 11 --out DIR
then:  for d in DIR/*/; do melodygru evaluate --checkpoint RUN --samples $d; done
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

STATS = ("mean_abs_interval", "polyphony", "empty_beat_rate", "pitch_class_entropy", "scale_consistency",
         "onsets_per_quarter", "top_pitch_share", "repeated_4gram_rate", "pitch_classes")


def stats_row(piece) -> np.ndarray:
    from melodygru.analysis.features import FEATURE_NAMES, piece_features
    from melodygru.evaluation.musicstats import piece_statistics

    s = piece_statistics(piece)
    f = piece_features(piece)
    minor = f[list(FEATURE_NAMES).index("minor_mode")] if f is not None else np.nan
    return np.array([s[k] if s else np.nan for k in STATS] + [minor], float)


def set_match(scores, X, ref, lam, tau, passes=3):
    """Per sample one candidate, maximizing sum(score / tau) - lam * the set's distance from `ref`
    (per statistic: the standardized gap in mean and in sd), by coordinate ascent from the best."""
    cands, n = scores.shape
    mu, sd = np.nanmean(ref, axis=0), np.nanstd(ref, axis=0) + 1e-9
    Z = (X - mu) / sd  # [cands, n, stats]
    Z = np.where(np.isfinite(Z), Z, 0.0)
    s = np.where(np.isfinite(scores), scores, -50.0) / tau
    keep = np.argmax(s, axis=0)

    def distance(sel):
        m, v = sel.mean(axis=0), sel.std(axis=0)
        return float(np.sum(m ** 2) + np.sum((v - 1.0) ** 2))

    for _ in range(passes):
        for i in range(n):
            sel = Z[keep, np.arange(n)]
            best, best_val = keep[i], -np.inf
            for k in range(cands):
                sel[i] = Z[k, i]
                val = s[k, i] - lam * n * distance(sel)
                if val > best_val:
                    best, best_val = k, val
            keep[i] = best
    return keep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--num-samples", type=int, default=100)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--critics", nargs="*", default=[],
                    help="NAME=critic.json: also choose with these critics, by every --selections mode")
    ap.add_argument("--selections", default="weighted,matched,best")
    ap.add_argument("--weights", default="", help="with --critics: matched choices at these weights, "
                    "keeping each sample's mode and not (e.g. 0.25,0.5,1)")
    ap.add_argument("--only-critics", action="store_true", help="skip the built-in strategies")
    args = ap.parse_args()

    from melodygru.analysis.critic import best_of, weighted_choice
    from melodygru.evaluation.evaluate import run_pieces
    from melodygru.generation import generate as G
    from melodygru.generation.files import write_samples

    captured = {}
    real_choose = G.choose

    def keep_rounds(rounds, critic, selection, seed, *rest):
        captured["rounds"] = rounds
        return real_choose(rounds, critic, selection, seed, *rest)

    G.choose = keep_rounds
    res = G.generate(args.checkpoint, length=512, num_samples=args.num_samples, seed=args.seed,
                     out_dir=args.out / "weighted", force=True)
    G.choose = real_choose
    rounds = captured["rounds"]
    ckpt = G.load_checkpoint(args.checkpoint)
    scores = np.array([[ckpt.critic.score(s.piece) for s in r] for r in rounds])
    X = np.array([[stats_row(s.piece) for s in r] for r in rounds])
    tok = ckpt.tokenizer
    _, training = run_pieces(ckpt.path, tok)[:2]
    ref = np.array([stats_row(tok.decode(p.ids[:513])) for p in training])
    print(f"{len(rounds)} candidates x {args.num_samples} samples; {len(ref)} training pieces; seed {args.seed}; "
          f"settings {res.settings['candidates']} candidates, {res.settings['selection']}")
    names = STATS + ("minor_mode",)
    print("training pieces' means: " + ", ".join(f"{n} {v:.3f}" for n, v in zip(names, np.nanmean(ref, axis=0))))
    strategies = {
        "best": best_of(scores),
        "weighted_t2": weighted_choice(scores / 2, np.random.default_rng([args.seed, 2])),
        "plain": np.zeros(args.num_samples, int),
        "match_l0.5": set_match(scores, X, ref, 0.5, 1.0),
        "match_l2": set_match(scores, X, ref, 2.0, 1.0),
        "match_l2_t2": set_match(scores, X, ref, 2.0, 2.0),
    }
    from melodygru.analysis.critic import Critic
    from melodygru.generation.choose import choose
    import json

    for spec in args.critics:
        cname, _, path = spec.partition("=")
        critic = Critic.from_dict(json.loads(Path(path).read_text()))
        for selection in args.selections.split(","):
            chosen = choose(rounds, critic, selection, args.seed)
            write_samples(chosen, args.out / f"{cname}-{selection}", force=True)
            sel = np.array([stats_row(c.piece) for c in chosen])
            print(f"{cname}-{selection:8s} " + ", ".join(f"{n} {v:.3f}" for n, v in zip(names, np.nanmean(sel, axis=0))),
                  flush=True)
        from melodygru.analysis.critic import matched_choice
        from melodygru.analysis.features import CRITIC_FEATURE_NAMES, critic_features

        empty = np.full(len(CRITIC_FEATURE_NAMES), np.nan)
        F = np.array([[v if (v := critic_features(c.piece)) is not None else empty for c in r] for r in rounds])
        sc = np.array([[critic.score(c.piece) for c in r] for r in rounds])
        M = critic.matched_values(F.reshape(-1, F.shape[-1])).reshape(*F.shape[:2], -1)
        for w in [float(x) for x in args.weights.split(",") if x]:
            for keep_mode in (True, False):
                keep = matched_choice(sc, M, critic, weight=w, keep_mode=keep_mode)
                chosen = [rounds[k][i] for i, k in enumerate(keep)]
                tag = f"{cname}-m{w:g}" + ("-mode" if keep_mode else "")
                write_samples(chosen, args.out / tag, force=True)
                sel = X[keep, np.arange(args.num_samples)]
                print(f"{tag:12s} " + ", ".join(f"{n} {v:.3f}" for n, v in zip(names, np.nanmean(sel, axis=0))),
                      flush=True)
    if args.only_critics:
        return
    for name, keep in strategies.items():
        chosen = [rounds[k][i] for i, k in enumerate(keep)]
        write_samples(chosen, args.out / name, force=True)
        sel = X[keep, np.arange(args.num_samples)]
        print(f"{name:12s} " + ", ".join(f"{n} {v:.3f}" for n, v in zip(names, np.nanmean(sel, axis=0))), flush=True)


if __name__ == "__main__":
    main()
