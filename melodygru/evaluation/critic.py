"""Fit a run's critic (`melodygru critic`, and the end of `melodygru train`): sample the model with
its recommended settings, read the pieces it trained on, fit `analysis.critic.fit_critic` between
the two and save it as the run's `critic.json`, which `generate --candidates` ranks with.

The critic never sees the run's validation pieces: the listening test (`evaluate --checkpoint RUN
--samples DIR`) compares samples with those, so its verdict stays about pieces neither the model
nor the critic learned from.
"""


from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..analysis.critic import OUTSIDE_PENALTY, Critic, fit_critic
from ..analysis.features import feature_matrix
from ..core.errors import MelodyGRUError

MAX_REAL = 3000  # training pieces the critic reads at most (a random draw of larger corpora)


@dataclass
class CriticResult:
    """What `fit_run_critic` did."""

    path: Path
    critic: Critic
    seconds: float

    def lines(self) -> list[str]:
        i = self.critic.info
        out = [f"critic: {i['samples']} samples of {i['length']} tokens against {i['real_pieces']} training pieces; "
               f"it tells them apart {i['cross_validated_accuracy']:.1%} of the time (5-fold cross-validated, "
               f"0.5 = no difference), {self.seconds:.0f} s",
               ]
        if "samples_outside_real_range" in i:
            out.append(f"  {i['samples_outside_real_range']:.0%} of the samples lie outside the training pieces' range "
                       f"on some peaked feature (silence, polyphony, repetition, ...): each such feature costs a "
                       f"candidate {OUTSIDE_PENALTY:g} in score")
        out.append("  it leans most on:")
        out += [f"    {what}: {'+' if w > 0 else '-'} (real pieces have {'more' if w > 0 else 'less'}), "
                f"weight {w:+.2f} per sd" for what, w in self.critic.weights(6)]
        out.append(f"saved {self.path}; generate chooses among --candidates K per sample (sampling.json, else 16)")
        return out

    def as_dict(self) -> dict:
        return {"critic": str(self.path), **self.critic.info, "seconds": round(self.seconds, 2),
                "leans_on": [{"feature": f, "weight": round(w, 4)} for f, w in self.critic.weights(10)]}


def _minor_share(pieces) -> float | None:
    """The share of the pieces with pitched notes that the mode finder hears in minor."""
    from ..analysis.critic import finder_minor

    flags = [finder_minor(p) for p in pieces if any(not n.is_drum for n in p.notes)]
    return round(float(np.mean(flags)), 6) if flags else None


def fit_run_critic(run_dir, num_samples: int = 1000, length: int = 512, seed: int = 0, C: float = 1.0,
                   training=None, reference_only: bool = False, **corpus_kw) -> CriticResult:
    """Sample `num_samples` pieces from the run (its sampling.json, one candidate each), fit a critic
    between them and the run's training pieces, and write `critic.json` (atomically).

    Args:
        training: the training pieces as the corpus reader gives them (`.ids`, `.source`) [default:
            read from the sources the run recorded, less its validation pieces]; at most `MAX_REAL`
            of them, drawn at random (by the fitted critic's own seed with `reference_only`), are used.
        reference_only: keep the fitted critic's weights and add what the real pieces alone give:
            the mean and spread of every feature, the atoms of the matched features and the share
            in minor by `analysis.critic.MODE_FINDER`, drawing no samples.
        corpus_kw: passed to the corpus reader (jobs, cache_dir, use_cache, progress, ...).

    Raises:
        MelodyGRUError: the run records no training data (pass `training`), or too few pieces.
    """
    import time

    from ..generation.generate import load_checkpoint, recommended_sampling, sample
    from ..model import rundir as rd
    from .evaluate import run_pieces

    start = time.perf_counter()
    ckpt = load_checkpoint(run_dir, with_critic=False)  # an old or broken critic.json is what this replaces
    tok = ckpt.tokenizer
    fitted = None
    if reference_only:  # checked before the corpus is read
        from ..generation.choose import read_critic

        fitted = read_critic(ckpt.path)
        if fitted is None:
            raise MelodyGRUError(f"{ckpt.path} has no critic.json to add a reference to: fit one first")
    if training is None:
        found = run_pieces(ckpt.path, tok, **corpus_kw)
        if found is None or not found[1]:
            raise MelodyGRUError(f"{ckpt.path} does not record the pieces it trained on: a critic needs them")
        training = found[1]
    if len(training) > MAX_REAL:  # the fit's own draw: a reference added later reads the same pieces
        fitted_seed = fitted.info.get("seed") if fitted is not None and isinstance(fitted.info.get("seed"), int) else seed
        training = sorted(training, key=lambda p: str(p.source))
        draw = np.random.default_rng(fitted_seed)
        training = [training[i] for i in sorted(draw.choice(len(training), MAX_REAL, replace=False))]
    # each training piece as far as its first `length` tokens go (the whole piece when shorter),
    # as a sample of `length` tokens: then how long a sample lasts is compared like with like, and
    # a choice that kept only tunes ending early would be told from the corpus
    originals = training
    training = [tok.decode(p.ids[:length + 1], source=p.source) for p in training]
    if reference_only:  # the fitted critic kept; the real pieces' spread of every feature added
        fitted_length = fitted.info.get("length") if isinstance(fitted.info.get("length"), int) else length
        real = [tok.decode(p.ids[:fitted_length + 1], source=p.source) for p in originals]
        R, _ = feature_matrix(real, critic=True)
        critic = dataclasses.replace(fitted.with_reference(R), finder_minor_share=_minor_share(real))
        if not (np.isfinite(critic.all_mean).all() and np.isfinite(critic.all_sd).all()):
            raise MelodyGRUError(f"cannot add a reference to {ckpt.path}'s critic: no training piece has features")
        path = Path(ckpt.path) / rd.CRITIC
        rd.write_json(path, critic.to_dict())
        return CriticResult(path, critic, time.perf_counter() - start)
    rec = recommended_sampling(ckpt.path)
    form = rec["form"] and bool(ckpt.plans)
    samples = sample(ckpt, length, num_samples, rec["temperature"], rec["top_k"], rec["top_p"], seed,
                     allow_end=rec["allow_end"], form=form, kind_temperatures=rec["temperatures"],
                     monophonic=rec["monophonic"], voices=rec["voices"], scale_penalty=rec["scale_penalty"])
    pieces = [s.piece for s in samples]
    S, _ = feature_matrix(pieces, critic=True)
    R, _ = feature_matrix(training, critic=True)
    settings = {k: rec[k] for k in ("temperature", "top_k", "top_p", "temperatures", "allow_end", "monophonic", "voices",
                                    "scale_penalty")}
    try:
        critic = fit_critic(R, S, C=C, seed=seed, info={"length": length, "seed": seed, "form": form,
                                                        "sampling": settings})
    except ValueError as e:
        raise MelodyGRUError(f"cannot fit a critic for {ckpt.path}: {e}") from None
    critic = dataclasses.replace(critic, finder_minor_share=_minor_share(training))
    path = Path(ckpt.path) / rd.CRITIC
    rd.write_json(path, critic.to_dict())
    return CriticResult(path, critic, time.perf_counter() - start)
