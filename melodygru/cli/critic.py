"""`melodygru critic`: fit (or fit again) a run's critic, which `generate --candidates` ranks with."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..core.errors import MelodyGRUError
from .app import main
from .options import verbose_option


@main.command()
@verbose_option
@click.option("--checkpoint", type=click.Path(path_type=Path), required=True,
              help="Run directory from `melodygru train`.")
@click.option("--samples", "num_samples", type=click.IntRange(10, 100_000), default=1000, show_default=True,
              help="Samples to draw from the model (its sampling.json settings, one candidate each).")
@click.option("--length", type=click.IntRange(16, 100_000), default=512, show_default=True,
              help="New tokens per sample: the length you will generate at.")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True)
@click.option("--jobs", "-j", type=click.IntRange(1, 512), default=None,
              help="Parallel worker processes for reading the training files. [default: all cores]")
@click.option("--max-file-mb", type=click.FloatRange(0, min_open=True), default=20.0, show_default=True,
              help="Skip training files larger than this.")
@click.option("--no-cache", is_flag=True, help="Ignore and do not write the token cache.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Token cache folder. [default: $MELODYGRU_CACHE_DIR or the user cache dir]")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.option("--reference-only", is_flag=True,
              help="Keep the fitted critic; add the training pieces' mean and spread of every feature (what "
                   "sampling.json's match_all needs), the values many of them hold exactly (atoms, for the matched "
                   "choice) and their share in minor by music21's default key-finder (for mode_share), drawing "
                   "no samples.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def critic(checkpoint, num_samples, length, seed, jobs, max_file_mb, no_cache, cache_dir, reference_only, as_json,
           quiet):
    """Fit the critic of a run: a logistic regression over musical features that tells the model's
    samples from the pieces it trained on, saved as critic.json in the run directory.

    `generate` then draws several candidates per sample (--candidates, 16 by default when a run has
    a critic) and keeps the one the critic finds most like the training music. `train` fits one
    when it ends; fit it again after changing the run's sampling.json. The run's validation pieces
    are never used, so `evaluate --checkpoint RUN --samples DIR` still judges on unseen music.
    """
    if checkpoint.is_file():
        raise MelodyGRUError(f"critic writes critic.json into a run directory, and {checkpoint} is a file (a bundle "
                             "is read-only): fit it in the run directory, then `melodygru export` it again")
    from ..core.tfenv import import_tensorflow

    import_tensorflow()
    from ..evaluation.critic import fit_run_critic

    result = fit_run_critic(checkpoint, num_samples, length, seed, jobs=jobs, max_file_mb=max_file_mb,
                            cache_dir=cache_dir, use_cache=not no_cache, progress=not quiet,
                            reference_only=reference_only)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=1))
    else:
        for line in result.lines():
            click.echo(line)
