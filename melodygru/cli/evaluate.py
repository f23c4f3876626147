"""`melodygru evaluate`; `register(main)` adds it to a click group.

The command imports nothing heavy until it runs: TensorFlow is loaded only by the likelihood path
(`--checkpoint`), matplotlib only for `--plot`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from .options import _TOKENIZER_PARAMS, _given, checkpoint_path, tokenizer_options, verbose_option


def _jsonable(x):
    """NaN and infinity become null: strict JSON has no spelling for them."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _checkpoints(ctx, param, values):
    return tuple(checkpoint_path(ctx, param, v) for v in values)


def register(main: click.Group) -> click.Command:
    """Add the `evaluate` command to the click group `main` and return it (tests add it to a group
    of their own, to run it without the rest of the command line)."""

    @main.command("evaluate")
    @verbose_option
    @click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
    @click.option("--checkpoint", type=click.Path(path_type=Path), default=None, callback=checkpoint_path,
                  help="Run directory from `melodygru train` (or a bundle from `melodygru export`): report the held-out NLL of PATH... / --corpus "
                       "per token, note and quarter note, and the perplexity.")
    @click.option("--corpus", "corpora", multiple=True, type=click.Choice(["bach", "folk"]),
                  help="A built-in corpus as the held-out / reference set. Repeatable; combines with PATHs.")
    @click.option("--reference", "references", multiple=True, type=click.Path(path_type=Path),
                  help="Reference files or folders for --samples (the same as giving them as PATHs).")
    @click.option("--samples", type=click.Path(path_type=Path), default=None,
                  help="Folder of generated files: compare their music statistics with the reference set.")
    @click.option("--plot", type=click.Path(path_type=Path), default=None,
                  help="Write a PNG of each statistic's distribution in both sets (needs --samples).")
    @click.option("--baselines", "with_baselines", is_flag=True,
                  help="Also score an n-gram (Kneser-Ney) and a unigram model fitted on the training pieces.")
    @click.option("--train", "train_paths", multiple=True, type=click.Path(path_type=Path),
                  help="Training files or folders for --baselines. [default: the sources the run recorded]")
    @click.option("--train-corpus", "train_corpora", multiple=True, type=click.Choice(["bach", "folk"]),
                  help="A built-in corpus as the baselines' training set.")
    @click.option("--ngram-order", type=click.IntRange(2, 8), default=6, show_default=True,
                  help="n of the n-gram baseline (a note is 2-4 tokens, so 6 sees at least one note back).")
    @click.option("--continuous-cache", "cache_fit", multiple=True, type=click.Path(path_type=Path),
                  help="Also score the held-out pieces with a continuous cache over the model's top layer "
                       "(Grave et al. 2017), its two settings chosen on these files or folders (validation "
                       "pieces, never the held-out ones). Repeatable. For likelihood only.")
    @click.option("--ensemble", multiple=True, type=click.Path(path_type=Path), callback=_checkpoints,
                  help="Another run directory (or bundle) with --checkpoint's tokenizer: also score the held-out "
                       "pieces by the mean of the runs' next-token distributions (e.g. one setting trained from "
                       "several seeds). Repeatable; --continuous-cache then applies to the ensemble.")
    @click.option("--jobs", "-j", type=click.IntRange(1, 512), default=None,
                  help="Parallel worker processes for reading files. [default: all cores]")
    @click.option("--max-file-mb", type=click.FloatRange(0, min_open=True), default=20.0, show_default=True,
                  help="Skip files larger than this.")
    @click.option("--no-cache", is_flag=True, help="Ignore and do not write the token cache.")
    @click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
                  help="Token cache folder. [default: $MELODYGRU_CACHE_DIR or the user cache dir]")
    @click.option("--repeats", type=click.IntRange(1, 1000), default=10, show_default=True,
                  help="Listening test: repeated draws of its 5-fold cross-validation.")
    @click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True,
                  help="Listening test: seed of the draws, folds and junk pieces.")
    @click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
    @click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
    @tokenizer_options
    @click.pass_context
    def evaluate(ctx, paths, checkpoint, corpora, references, samples, plot, with_baselines, train_paths, train_corpora,
                 ngram_order, cache_fit, ensemble, jobs, max_file_mb, no_cache, cache_dir, repeats, seed, as_json, quiet, tokenizer):
        """Score a trained model on held-out pieces, and/or compare generated samples with a corpus.

        \b
        melodygru evaluate --checkpoint RUN_DIR held_out/ [--baselines --train train/]
        melodygru evaluate --samples samples/ --corpus bach [--plot stats.png]

        With --checkpoint: negative log-likelihood per token, per note and per quarter note (nats and
        bits), perplexity and the share of the NLL by token kind on PATH... / --corpus (default: the
        run's own validation pieces); with --baselines, the same for an n-gram and a unigram model in
        one table. With --samples: the listening test (a classifier's cross-validated accuracy at
        telling the samples from real pieces, beside its floor for two sets of real pieces; 0.5 =
        indistinguishable), what gives the samples away, music statistics with their real-vs-real
        ceilings (only those junk fails count in the mean), and with --checkpoint a copy check
        against the training pieces.
        """
        # the tokenizer options only pick how the pieces are read (and so which token cache is hit,
        # e.g. the one `train --velocity-bins 0` filled); with --checkpoint the run's tokenizer is used
        given = [name for name in _TOKENIZER_PARAMS if _given(ctx, name)]
        if given and checkpoint is not None:
            flags = [p.opts[0] for p in ctx.command.params if p.name in given]
            raise click.UsageError("--checkpoint decides the tokenizer: drop " + ", ".join(flags))
        held = [*paths, *references]
        if not held and not corpora and checkpoint is None:
            raise click.UsageError("give the held-out / reference pieces: PATH..., --reference PATH or --corpus NAME "
                                   "(with --checkpoint they default to the run's validation pieces)")
        from ..evaluation.evaluate import evaluate as run

        result = run(checkpoint, held, corpora, samples=samples, with_baselines=with_baselines,
                     train_paths=train_paths, train_corpora=train_corpora, ngram_order=ngram_order, plot=plot,
                     jobs=jobs, cache_dir=cache_dir, use_cache=not no_cache, max_file_mb=max_file_mb,
                     progress=not quiet, tokenizer=tokenizer if given else None, repeats=repeats, seed=seed,
                     cache_fit=cache_fit, ensemble=ensemble)
        if as_json:
            click.echo(json.dumps(_jsonable(result.as_dict()), indent=1))
        else:
            for line in result.lines():
                click.echo(line)

    return evaluate
