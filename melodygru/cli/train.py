"""`melodygru train`: read the corpus, then train or resume a run directory."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import click

from ..core.errors import CheckpointError, MelodyGRUError
from .app import _check_out_dir, main
from .options import (
    _TOKENIZER_PARAMS,
    _given,
    _require_input,
    input_options,
    tokenizer_options,
    verbose_option,
)

_TRAIN_OPTION_FIELDS = {  # CLI parameter name -> TrainConfig field
    "preset": "preset", "layers": "layers", "units": "units", "embedding_dim": "embedding_dim",
    "dropout": "dropout", "cell": "cell", "seq_len": "seq_len", "batch_size": "batch_size", "epochs": "epochs",
    "lr": "lr", "lr_schedule": "lr_schedule", "clipnorm": "clipnorm", "patience": "patience",
    "val_split": "val_split", "transpose": "transpose", "seed": "seed", "distribute": "distribute",
    "mixed_precision": "mixed_precision", "tensorboard": "tensorboard",
}


@main.command()
@verbose_option
@input_options
@tokenizer_options
@click.option("--out", "--run-dir", "run_dir", type=click.Path(path_type=Path), default=None,
              help="Run directory for the model and everything needed to sample from it. "
                   "[default: a new folder checkpoints/run-YYYYmmdd-HHMMSS]")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out from its last finished epoch (optimizer state and history kept). "
                   "Without PATH/--corpus it reads the data the run was started with; it always validates on "
                   "the run's own validation set (its --val folders, else --val-split), and refuses another --val.")
@click.option("--val", "val_paths", multiple=True, type=click.Path(path_type=Path),
              help="A separate validation folder/file (repeatable). [default: hold out --val-split of the pieces]")
@click.option("--preset", type=click.Choice(["tiny", "small", "medium", "large"]), default="small", show_default=True,
              help="Model size: tiny 1x64, small 2x256, medium 3x512, large 3x1024 (GRU layers x units).")
@click.option("--layers", type=click.IntRange(1, 16), default=None, help="GRU layers. [default: the preset's]")
@click.option("--units", type=click.IntRange(1, 8192), default=None, help="Units per GRU layer. [default: the preset's]")
@click.option("--embedding-dim", type=click.IntRange(1, 4096), default=None,
              help="Token embedding width. [default: the preset's]")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Dropout after each GRU layer. [default: the preset's]")
@click.option("--cell", type=click.Choice(["gru", "lstm"]), default="gru", show_default=True,
              help="Recurrent cell (lstm only for comparisons).")
@click.option("--seq-len", type=click.IntRange(2, 100_000), default=128, show_default=True,
              help="Tokens per training window.")
@click.option("--batch-size", "-b", type=click.IntRange(1, 1_000_000), default=16, show_default=True,
              help="Global batch size (split over replicas when distributed).")
@click.option("--epochs", "-e", type=click.IntRange(1, 1_000_000), default=30, show_default=True,
              help="Most epochs to train (early stopping may end sooner). Changed on --resume under the cosine "
                   "schedule, the rest of the decay is re-planned from the current learning rate down to the "
                   "minimum at the new last epoch: the rate goes on from where it was, without a jump.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=2e-3, show_default=True,
              help="Adam learning rate.")
@click.option("--lr-schedule", type=click.Choice(["plateau", "cosine"]), default="plateau", show_default=True,
              help="plateau: halve the rate after 2 epochs without improvement; cosine: warmup + cosine decay.")
@click.option("--clipnorm", type=click.FloatRange(0), default=3.0, show_default=True,
              help="Clip the global gradient norm (0: off).")
@click.option("--patience", type=click.IntRange(0), default=5, show_default=True,
              help="Stop after this many epochs without a better validation loss (0: never stop early).")
@click.option("--val-split", type=click.FloatRange(0, 1, max_open=True), default=0.1, show_default=True,
              help="Share of pieces held out for validation (by piece), when --val is not given.")
@click.option("--transpose", type=click.IntRange(0, 24), default=6, show_default=True,
              help="Random transposition of each window by up to +-N semitones (0: off).")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True,
              help="Seed for the split, the initial weights and the data order.")
@click.option("--distribute", type=click.Choice(["none", "mirrored", "multiworker"]), default="none",
              show_default=True,
              help="none: one device; mirrored: all GPUs of this machine; multiworker: several machines via "
                   "TF_CONFIG (see docs/distributed.md).")
@click.option("--mixed-precision", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
              help="float16 compute (auto: on when a GPU is present).")
@click.option("--tensorboard", is_flag=True, help="Write TensorBoard logs to RUN_DIR/tensorboard.")
@click.option("--no-cache", is_flag=True, help="Ignore and do not write the token cache.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Token cache folder. [default: $MELODYGRU_CACHE_DIR or the user cache dir]")
@click.option("--critic-samples", type=click.IntRange(0, 100_000), default=1000, show_default=True,
              help="When training ends, fit the run's critic on this many samples (see `melodygru critic`; "
                   "generate then keeps the best of 16 candidates per sample); 0: no critic.")
@click.option("--styles-from-folders", is_flag=True,
              help="Make each top-level folder of every PATH a style (reels/, jigs/, ...; a built-in corpus brings "
                   "its own collections), so `generate --style NAME` can ask for one.")
@click.option("--style", "style_names", multiple=True, metavar="NAME",
              help="The style of the pieces of each PATH, one --style per PATH in order (instead of the folders).")
@click.option("--init-from", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="Start from the weights of this run directory (same model size; a vocabulary that grew, "
                   "as with --key-tokens or styles, keeps the old tokens' weights).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars; one line per epoch.")
def train(paths, corpora, jobs, max_file_mb, tokenizer, run_dir, resume, val_paths, no_cache, cache_dir, quiet,
          critic_samples, styles_from_folders, style_names, init_from, **options):
    """Train a stacked GRU language model on the music under PATH... and/or --corpus.

    Every file is read and tokenized (cached, as `prepare` does), pieces are split into training
    and validation sets, and the best model by validation loss is kept in the run directory with
    its tokenizer and settings, ready for `melodygru generate --checkpoint RUN_DIR`. Each epoch is
    saved: Ctrl-C, a crash or a reboot loses at most one epoch (`--resume` goes on).
    """
    ctx = click.get_current_context()
    if run_dir is None:
        if resume:
            raise click.UsageError("--resume needs --out RUN_DIR")
        run_dir = Path("checkpoints") / datetime.datetime.now().strftime("run-%Y%m%d-%H%M%S")
    if styles_from_folders and style_names:
        raise click.UsageError("give --styles-from-folders or --style, not both")
    styles = "folders" if styles_from_folders else list(style_names) or None
    if resume and init_from:
        raise click.UsageError("--init-from starts a new run; --resume goes on with the weights the run has")
    if resume:
        paths, corpora, val_paths, tokenizer, config, styles, init_from = _resume_settings(
            ctx, run_dir, paths, corpora, val_paths, tokenizer, options, styles)
    else:
        config = {field: options[name] for name, field in _TRAIN_OPTION_FIELDS.items()}
    _require_input(paths, corpora)
    _check_out_dir(run_dir, "--out")
    from ..corpus.build import build_corpus

    if styles and not resume:
        tokenizer = _with_styles(tokenizer, paths, corpora, val_paths, styles)
    # the corpus is read before TensorFlow is imported: worker processes fork faster without it
    kw = dict(jobs=jobs, cache_dir=cache_dir, use_cache=not no_cache, max_file_mb=max_file_mb, progress=not quiet,
              styles=styles)
    pieces, report = build_corpus(paths, corpora, tokenizer, **kw)
    if styles:
        from collections import Counter

        counts = Counter(p.style for p in pieces)
        click.echo("styles: " + ", ".join(f"{name} {counts[name]}" for name in tokenizer.config.styles))
    for line in report.summary_lines():
        click.echo(line)
    if not pieces:
        raise MelodyGRUError(f"nothing usable to train on in {', '.join(map(str, paths)) or 'the corpus'}")
    val_pieces = None
    if val_paths:
        val, val_report = build_corpus(val_paths, (), tokenizer, **{**kw, "styles": _val_styles(styles, val_paths)})
        if not val:
            raise MelodyGRUError(f"no usable validation pieces in {', '.join(map(str, val_paths))}")
        click.echo(f"validation: {len(val)} pieces from {', '.join(map(str, val_paths))}")
        val_pieces = [p.ids for p in val]

    from ..core.tfenv import import_tensorflow

    import_tensorflow()
    from ..training.config import TrainConfig, format_duration
    from ..training.run import train as run_training

    config = config if isinstance(config, TrainConfig) else TrainConfig(**config)
    data = {"paths": [str(Path(p).resolve()) for p in paths], "corpora": list(corpora),
            "val_paths": [str(Path(p).resolve()) for p in val_paths], **({"styles": styles} if styles else {}),
            **({"init_from": str(Path(init_from).resolve())} if init_from else {})}
    try:
        metrics = run_training([p.ids for p in pieces], tokenizer, run_dir, config, val_pieces=val_pieces,
                               resume=resume, log=click.echo, sources=[p.source for p in pieces],
                               progress=not quiet, data=data)
    except KeyboardInterrupt:
        click.echo(f"interrupted: {run_dir} keeps the last finished epoch; go on with "
                   f"`melodygru train --resume --out {run_dir}`", err=True)
        sys.exit(130)
    best = metrics.get("best_val_loss")
    if best is not None:
        click.echo(f"best validation loss {best:.4f} nats/token ({metrics['val_nll_per_token_bits']:.3f} bits) "
                   f"at epoch {metrics['best_epoch']}"
                   + (f", {format_duration(metrics['wall_time_s'])}" if metrics.get("wall_time_s") else ""))
    if critic_samples:
        _fit_critic(run_dir, pieces, critic_samples, config.seed)
    click.echo(f"model in {run_dir}; sample with: melodygru generate --checkpoint {run_dir}")


def _fit_critic(run_dir, pieces, num_samples: int, seed: int) -> None:
    """Fit the run's critic on its training pieces (split.json's validation pieces left out); a run
    too small for one trains all the same, and says so."""
    from ..evaluation.critic import fit_run_critic
    from ..model import rundir as rd

    val = set(rd.read_json(Path(run_dir) / rd.SPLIT).get("val", []))
    try:
        result = fit_run_critic(run_dir, num_samples, seed=seed, training=[p for p in pieces if p.source not in val])
    except (MelodyGRUError, ValueError) as e:
        click.echo(f"no critic: {e}")
        return
    except KeyboardInterrupt:  # the model is saved: only the critic is missing
        click.echo(f"no critic (interrupted); the model in {run_dir} is complete: fit one with "
                   f"`melodygru critic --checkpoint {run_dir}`", err=True)
        sys.exit(130)
    for line in result.lines()[:1]:
        click.echo(line)


def _val_styles(styles, val_paths):
    """The styles of --val folders: by their top-level folders, as the training data's; with --style
    names, none (the validation pieces then state no style)."""
    return "folders" if styles == "folders" else None


def _with_styles(tokenizer, paths, corpora, val_paths, styles):
    """The tokenizer with a STYLE token for every style of the training and validation files."""
    import dataclasses

    from ..corpus.build import file_styles
    from ..corpus.walk import find_files
    from ..tokens.tokenizer import Tokenizer

    names = set(file_styles(find_files(paths, corpora), paths, corpora, styles))
    if val_paths:
        names |= set(file_styles(find_files(val_paths), val_paths, (), _val_styles(styles, val_paths)))
    return Tokenizer(dataclasses.replace(tokenizer.config, styles=tuple(sorted(names))))


def _resume_settings(ctx, run_dir, paths, corpora, val_paths, tokenizer, options, styles):
    """Data, validation folders, tokenizer and config for `--resume`: the run directory's, with the
    options the user typed.

    The validation set is the run's own: its recorded --val folders, or, when it recorded none (or
    its config.json predates the record), --val-split of the training pieces as before. A --val
    that names other folders is refused: the best epoch and early stopping would compare
    validation losses of different sets.
    """
    from ..model import rundir as rd
    from ..tokens.tokenizer import Tokenizer

    config_path = Path(run_dir) / rd.CONFIG
    try:
        saved = rd.read_json(config_path)
    except CheckpointError as e:
        raise MelodyGRUError(f"nothing to resume in {run_dir}: {e}") from None
    if not any(_given(ctx, n) for n in _TOKENIZER_PARAMS):
        tokenizer = Tokenizer.load(Path(run_dir) / rd.TOKENIZER)
    if not paths and not corpora:
        data = saved.get("data") or {}
        paths = tuple(Path(p) for p in data.get("paths", []))
        corpora = tuple(data.get("corpora", []))
        if not paths and not corpora:
            raise MelodyGRUError(f"{config_path} does not record the training data: give PATH or --corpus")
    recorded = [str(p) for p in (saved.get("data") or {}).get("val_paths") or []]
    given = [str(Path(p).resolve()) for p in val_paths]
    if not val_paths:
        val_paths = tuple(Path(p) for p in recorded)
    elif sorted(set(given)) != sorted(set(recorded)):
        if not recorded:
            split = (saved.get("train") or {}).get("val_split", "?")
            raise MelodyGRUError(f"cannot resume {run_dir} with --val {', '.join(given)}: it holds out --val-split "
                                 f"{split} of its training pieces instead; leave out --val or start a new run")
        raise MelodyGRUError(f"cannot resume {run_dir} with another validation set: it validates on "
                             f"{', '.join(recorded)}, --val gives {', '.join(given)}; leave out --val to use the run's own")
    changes = {field: options[name] for name, field in _TRAIN_OPTION_FIELDS.items() if _given(ctx, name)}
    from ..training.config import resume_config

    styles = styles or (saved.get("data") or {}).get("styles")
    init_from = (saved.get("data") or {}).get("init_from")  # a run stopped in its first epoch starts from it again
    return paths, corpora, val_paths, tokenizer, resume_config(run_dir, **changes), styles, init_from

