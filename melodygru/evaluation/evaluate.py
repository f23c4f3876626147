"""`melodygru evaluate`: held-out likelihood of a trained model, count-based baselines, and music
statistics of generated samples against a reference corpus.

Likelihood is the summed negative log-likelihood of every predicted token (targets `ids[1:]`, EOS
included; BOS is given), divided three ways:

* per token, with the perplexity `exp(nats per token)`;
* per note: by the number of PITCH tokens;
* per quarter note: by the number of quarter-note steps of the piece, `ceil(end of the last note -
  first onset)` of the decoded piece, i.e. the frames a quarter-note piano roll of it needs
  (`tokens.timing.quarters_of`, the count training's per-quarter figures use too). This is the unit of
  the published JSB Chorales results (nats per time step of quarter-note frames), so the figure is
  total NLL / N for a piece of N quarter-note steps.

Baselines (`baselines`) fit an interpolated Kneser-Ney n-gram and an add-one unigram on training
pieces and score the same targets, so their numbers stand in one table with the GRU's.

TensorFlow is imported only inside `likelihood`.
"""


from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import MelodyGRUError
from ..core.units import LN2  # noqa: E402,F401
from ..tokens.tokenizer import Tokenizer
from .likelihood import (
    DEFAULT_NGRAM_ORDER,
    baseline_table,
    baselines,
    likelihood,
    load_run_tokenizer,
    training_sources,
)


# --------------------------------------------------------------------------- the command
@dataclass
class EvaluationResult:
    """What `evaluate` found; `lines()` for people, `as_dict()` for --json."""

    heldout: dict = field(default_factory=dict)  # corpus report of the held-out / reference set
    likelihood: dict | None = None
    baselines: dict | None = None
    table: list[dict] | None = None
    statistics: object = None  # musicstats.StatsComparison (degeneracy check, --plot)
    listening: object = None  # listening.ListeningReport
    ensemble: dict | None = None  # pointer.ensemble_likelihood: the runs' mean distribution
    cache: dict | None = None  # pointer.continuous_cache: the likelihood with a continuous cache
    plot: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = {"heldout": self.heldout}
        if self.likelihood is not None:
            d["likelihood"] = self.likelihood
        if self.baselines is not None:
            d["baselines"] = {**self.baselines, "table": self.table}
        if self.statistics is not None:
            d["statistics"] = self.statistics.as_dict()
        if self.ensemble is not None:
            d["ensemble"] = self.ensemble
        if self.cache is not None:
            d["continuous_cache"] = self.cache
        if self.listening is not None:
            d["listening"] = self.listening.as_dict()
        if self.plot:
            d["plot"] = self.plot
        if self.notes:
            d["notes"] = self.notes
        return d

    def lines(self) -> list[str]:
        out = list(self.notes)
        if self.likelihood is not None:
            L = self.likelihood
            out.append(f"held-out likelihood: {L['pieces']} pieces, {L['tokens']} predicted tokens, "
                       f"{L['notes']} notes, {L['quarters']} quarter notes")
            for unit in ("token", "note", "quarter"):
                out.append(f"  per {unit:<8} {L[f'nats_per_{unit}']:8.4f} nats  {L[f'bits_per_{unit}']:8.4f} bits")
            out.append(f"  perplexity {L['perplexity']:.3f} (per token)")
            out.append("  by token kind: " + ", ".join(
                f"{k} {v['share']:.1%} ({v['nats_per_token']:.3f} nats x {v['tokens']})"
                for k, v in L.get("by_kind", {}).items()))
        if self.ensemble is not None:
            e = self.ensemble
            alone = ", ".join(f"{x:.4f}" for x in e["run_nats_per_token"])
            out.append(f"ensemble of {len(e['runs'])} runs (the mean of their distributions): per token "
                       f"{e['nats_per_token']:.4f} nats (each alone: {alone}), per quarter {e['nats_per_quarter']:.4f}")
        if self.cache is not None:
            c = self.cache
            whose = f"the ensemble's {len(c['runs'])} runs" if len(c["runs"]) > 1 else "the top layer"
            out.append(f"with a continuous cache over {whose} (theta {c['theta']:g}, lambda {c['lambda']:g}, "
                       f"window {c['window']} tokens; chosen on {c['fit']['pieces']} pieces, where it moved "
                       f"{c['fit']['nats_per_token']:.4f} to {c['fit']['cache_nats_per_token']:.4f} nats per token):")
            alone = "the ensemble alone" if len(c["runs"]) > 1 else "the model alone"
            out.append(f"  per token    {c['nats_per_token']:8.4f} nats ({alone} {c['plain_nats_per_token']:.4f})")
            out.append(f"  per quarter  {c['nats_per_quarter']:8.4f} nats  {c['bits_per_quarter']:8.4f} bits")
        if self.table is not None:
            b = self.baselines
            dropped = f", {b['dropped_overlap']} identical to held-out pieces left out" if b["dropped_overlap"] else ""
            out.append(f"baselines fitted on {b['train_pieces']} training pieces ({b['train_tokens']} tokens){dropped}")
            out.append(f"  {'model':<22} {'nats/token':>10} {'bits/token':>10} {'perplexity':>10}  GRU gain")
            for r in self.table:
                gain = "" if r["gru_gain_nats_per_token"] is None else \
                    f"{r['gru_gain_nats_per_token']:+.4f} nats/token ({r['gru_gain_percent']:+.1f}%)"
                out.append(f"  {r['model']:<22} {r['nats_per_token']:>10.4f} {r['bits_per_token']:>10.4f} "
                           f"{r['perplexity']:>10.3f}  {gain}")
        if self.listening is not None:
            out += self.listening.lines()
        if self.statistics is not None:  # the plain table when there are too few pieces for the test
            out += self.statistics.degeneracy_lines() if self.listening is not None else self.statistics.lines()
        if self.plot:
            out.append(f"plot: {self.plot}")
        return out


def _read_set(paths, corpora, tokenizer, what: str, **corpus_kw):
    from ..corpus.build import build_corpus

    pieces, report = build_corpus(paths, corpora, tokenizer, **corpus_kw)
    if not pieces:
        where = ", ".join([*map(str, paths), *corpora]) or "nowhere"
        raise MelodyGRUError(f"no usable {what} pieces in {where} "
                             f"({report.files} music files, {len(report.skipped)} skipped)")
    return pieces, report


def run_pieces(checkpoint, tokenizer: Tokenizer, **corpus_kw):
    """(validation pieces, training pieces) of a run, read from the sources its config.json
    records and split as its split.json says, each stating its style as in training when the run
    has styles; None when the run does not record them."""
    from ..model import rundir as rd

    recorded = training_sources(checkpoint)
    try:
        split = rd.read_json(Path(checkpoint) / rd.SPLIT)
        config = rd.read_json(Path(checkpoint) / rd.CONFIG)
    except Exception:
        return None
    if recorded is None or not isinstance(split, dict):
        return None
    styles = (config.get("data") or {}).get("styles") if tokenizer.config.styles else None
    pieces, _ = _read_set(*recorded, tokenizer, "training", styles=styles, **corpus_kw)
    if split.get("val_from") == "val_split":
        val = set(split.get("val", []))
        return [p for p in pieces if p.source in val], [p for p in pieces if p.source not in val]
    val_paths = (config.get("data") or {}).get("val_paths") or []
    if not val_paths:
        return None
    held, _ = _read_set(val_paths, (), tokenizer, "validation", styles="folders" if styles == "folders" else None,
                        **corpus_kw)
    return held, pieces


def evaluate(checkpoint=None, paths=(), corpora=(), samples=None, with_baselines: bool = False, train_paths=(),
             train_corpora=(), ngram_order: int = DEFAULT_NGRAM_ORDER, plot=None, jobs=None, cache_dir=None,
             use_cache: bool = True, max_file_mb: float = 20.0, progress: bool = True,
             tokenizer: Tokenizer | None = None, repeats: int = 10, seed: int = 0,
             cache_fit=(), ensemble=()) -> EvaluationResult:
    """Everything `melodygru evaluate` does; see the module docstring and `cli/evaluate.py`.

    Args:
        checkpoint: run directory; with it the held-out likelihood is computed.
        paths, corpora: the held-out pieces (likelihood) and the reference set (statistics)
            [default with `checkpoint`: the run's own validation pieces, which it did not train on].
        samples: folder of generated files; with it the music statistics are compared.
        with_baselines: also fit and score the n-gram and unigram baselines (needs `checkpoint`).
        train_paths, train_corpora: the baselines' training pieces [default: the run's recorded sources].
        ngram_order: the n-gram's n.
        plot: PNG path for the statistics' distributions.
        repeats, seed: draws of the listening test's cross-validation.
        cache_fit: files or folders on which a continuous cache's two settings are chosen (the
            validation pieces); the held-out pieces are then scored with it too (`pointer`).
        ensemble: more run directories: the held-out pieces are also scored by the mean of their
            and `checkpoint`'s distributions (and the cache, if asked, applies to that mean).
        tokenizer: how to read the pieces when no checkpoint decides it [default: `Tokenizer()`].
            The statistics do not depend on it (beyond the grid); it decides which token cache is
            used, e.g. the one `train --velocity-bins 0` filled.
    """
    if checkpoint is None and samples is None:
        raise MelodyGRUError("nothing to evaluate: give --checkpoint (likelihood) and/or --samples (statistics)")
    if with_baselines and checkpoint is None:
        raise MelodyGRUError("--baselines compares against a model: give --checkpoint too")
    if cache_fit and checkpoint is None:
        raise MelodyGRUError("--continuous-cache scores a model: give --checkpoint too")
    if ensemble and checkpoint is None:
        raise MelodyGRUError("--ensemble adds runs to --checkpoint's: give --checkpoint too")
    if plot is not None and samples is None:
        raise MelodyGRUError("--plot draws the sample statistics: give --samples too")
    if checkpoint is not None:
        run_tokenizer = load_run_tokenizer(checkpoint)
        if tokenizer is not None and tokenizer != run_tokenizer:
            raise MelodyGRUError(f"the checkpoint {checkpoint} decides the tokenizer: drop the tokenizer options")
        tokenizer = run_tokenizer
    seen = {Path(checkpoint).resolve()} if checkpoint is not None else set()
    for other in ensemble:  # before any file is read or model run
        if Path(other).resolve() in seen:
            raise MelodyGRUError(f"--ensemble {other} is already in the ensemble: give each run once")
        seen.add(Path(other).resolve())
        if load_run_tokenizer(other) != tokenizer:
            raise MelodyGRUError(f"--ensemble {other}: its tokenizer.json differs from {checkpoint}'s; "
                                 "an ensemble's runs must read the same tokens")
    tokenizer = tokenizer or Tokenizer()
    kw = dict(jobs=jobs, cache_dir=cache_dir, use_cache=use_cache, max_file_mb=max_file_mb, progress=progress)
    result = EvaluationResult()
    run_train = None
    if not paths and not corpora:
        if checkpoint is None:
            raise MelodyGRUError("give the reference pieces (PATH or --corpus), or --checkpoint to use its "
                                 "validation pieces")
        found_run = run_pieces(checkpoint, tokenizer, **kw)
        if found_run is None or not found_run[0]:
            raise MelodyGRUError(f"{checkpoint} records no held-out validation pieces (split.json) to compare with: give PATH or --corpus")
        held, run_train = found_run
        result.heldout = {"pieces": len(held), "tokens": int(sum(len(p.ids) for p in held)),
                          "notes": int(sum(p.notes for p in held)), "skipped": 0, "from": "the run's validation pieces"}
        result.notes.append(f"reference: the {len(held)} validation pieces of {checkpoint} (split.json), "
                            f"which it did not train on")
    else:
        held, report = _read_set(paths, corpora, tokenizer, "held-out" if checkpoint else "reference", **kw)
        result.heldout = {"pieces": report.pieces, "tokens": report.tokens, "notes": report.notes,
                          "skipped": len(report.skipped)}
        if report.skipped:
            result.notes.append(f"held-out/reference set: {len(report.skipped)} files or pieces skipped "
                                f"(run `melodygru prepare` on them for the reasons)")
        if samples is not None and checkpoint is not None:
            try:  # only for the copy check: a run whose training files are gone still gets the rest
                found_run = run_pieces(checkpoint, tokenizer, **kw)
            except MelodyGRUError as e:
                found_run = None
                result.notes.append(f"copy check skipped: the run's training pieces cannot be read ({e})")
            run_train = found_run[1] if found_run else None
    held_ids = [p.ids for p in held]
    # Read every file set before TensorFlow is imported: the corpus reader's worker processes can
    # then fork instead of spawning (and re-importing everything) once TensorFlow's threads run.
    train = None
    if with_baselines:
        if not train_paths and not train_corpora:
            recorded = training_sources(checkpoint)
            if recorded is None:
                raise MelodyGRUError(f"{checkpoint}/config.json records no training sources: "
                                     "give --train PATH or --train-corpus NAME for the baselines")
            train_paths, train_corpora = recorded
            result.notes.append(f"baselines trained on the run's sources: {', '.join([*train_paths, *train_corpora])}")
        train, _ = _read_set(train_paths, train_corpora, tokenizer, "training", **kw)
    fit = None
    if cache_fit:
        fit, _ = _read_set(list(cache_fit), (), tokenizer, "cache-fitting", **kw)
        shared = {p.ids.tobytes() for p in fit} & {p.ids.tobytes() for p in held}
        if shared:
            raise MelodyGRUError(f"--continuous-cache: {len(shared)} of its pieces are also held-out pieces; its "
                                 "settings must be chosen on other pieces (the validation set, not the test set)")
    found = s_report = None
    if samples is not None:
        if not Path(samples).is_dir():
            raise MelodyGRUError(f"--samples {samples} is not a folder")
        # samples are small MIDI files read on the fast path; caching them would only fill the cache
        found, s_report = _read_set([samples], (), tokenizer, "sample", **{**kw, "use_cache": False})

    if checkpoint is not None:
        result.likelihood = likelihood(checkpoint, held_ids, tokenizer)
        result.likelihood["sources"] = [p.source for p in held if len(p.ids) >= 2]
    if ensemble or fit is not None:
        from .pointer import continuous_cache, ensemble_likelihood, scored_pieces

        runs = [checkpoint, *ensemble]
        scored = scored_pieces(runs, held_ids, tokenizer)  # each run over the held-out pieces once
        if ensemble:
            result.ensemble = ensemble_likelihood(runs, held_ids, tokenizer, scored=scored)
            result.ensemble["sources"] = result.likelihood["sources"]
        if fit is not None:
            result.cache = continuous_cache(runs, [p.ids for p in fit], held_ids, tokenizer, scored=scored)
            result.cache["sources"] = result.likelihood["sources"]
    if train is not None:
        result.baselines = baselines([p.ids for p in train], held_ids, tokenizer, ngram_order)
        result.table = baseline_table(result.likelihood, result.baselines)
    if found is not None:
        from .listening import listening_test
        from .musicstats import compare_sets, piece_statistics, plot_comparison

        decoded = [tokenizer.decode(p.ids, source=p.source) for p in found]  # each piece decoded once
        reference = [tokenizer.decode(p.ids, source=p.source) for p in held]
        sample_stats = [(p.source, piece_statistics(d, p.ids)) for p, d in zip(found, decoded)]
        ref_stats = [(p.source, piece_statistics(d, p.ids)) for p, d in zip(held, reference)]
        comparison = compare_sets(sample_stats, ref_stats)
        comparison.empty_samples += [f"{path} ({reason})" for path, reason in s_report.skipped]
        result.statistics = comparison
        training = run_train if run_train is not None else train
        training = [tokenizer.decode(p.ids, source=p.source) for p in training] if training else None
        n = len([p for p in decoded if p.notes])
        pool = reference if len(reference) >= 2 * n or not training else reference + training
        try:
            result.listening = listening_test(
                decoded, reference, tokenizer,
                reference_kind="held-out pieces" if checkpoint is not None else "reference pieces",
                floor_pool=None if pool is reference else pool, training=training, repeats=repeats, seed=seed,
                boosting=True)
        except MelodyGRUError as e:
            result.notes.append(f"listening test skipped: {e}")
        if plot is not None:
            plot_comparison(comparison, plot, samples_label=f"samples ({Path(samples).name})",
                            reference_label="reference")
            result.plot = str(plot)
    return result
