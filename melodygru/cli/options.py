"""Options shared by several commands: the input (PATH..., --corpus, --jobs, --max-file-mb), the
tokenizer settings, --checkpoint as a run directory or a bundle file, and --verbose for the
commands that run TensorFlow.
"""


from __future__ import annotations

import functools
from pathlib import Path

import click


def tokenizer_options(f):
    """Options that decide the tokenizer (and therefore the cache key and the model's vocabulary)."""

    @click.option("--grid", "steps_per_quarter", type=click.IntRange(1, 96), default=12, show_default=True,
                  help="Grid steps per quarter note for onsets and durations (12: 16ths and triplets exact).")
    @click.option("--velocity-bins", type=click.IntRange(0, 127), default=16, show_default=True,
                  help="Velocity bins; 0 drops velocity.")
    @click.option("--programs/--merge", "programs", default=False, show_default=True,
                  help="Keep each note's instrument as a PROGRAM token, or merge all pitched tracks into one stream.")
    @click.option("--drums/--no-drums", default=False, show_default=True,
                  help="Keep drum notes (needs --programs); dropped drums are counted in the report.")
    @click.option("--shared-durations/--note-durations", "shared_durations", default=False, show_default=True,
                  help="Notes that start together and last equally long share one duration token "
                       "(a third fewer tokens for four-part chorales), or every note states its own.")
    @click.option("--pitch-order", type=click.Choice(["up", "down"]), default="up", show_default=True,
                  help="Order of the notes that start together: from the lowest up (bass first), or from "
                       "the highest down (the top voice first, so the melody leads).")
    @click.option("--key-tokens/--no-key-tokens", "key_tokens", default=False, show_default=True,
                  help="Start every piece with a KEY token (tonic and mode, from the key signature and the "
                       "notes), so `generate --key` can ask for a key and samples keep the corpus's modes.")
    @functools.wraps(f)
    def wrapper(*args, steps_per_quarter, velocity_bins, programs, drums, shared_durations, pitch_order,
                key_tokens, **kwargs):
        from ..tokens.config import TokenizerConfig
        from ..tokens.tokenizer import Tokenizer

        config = TokenizerConfig(steps_per_quarter=steps_per_quarter, velocity_bins=velocity_bins,
                                 programs=programs, drums=drums, shared_durations=shared_durations,
                                 pitch_order=pitch_order, key_tokens=key_tokens)
        return f(*args, tokenizer=Tokenizer(config), **kwargs)

    return wrapper


def checkpoint_path(ctx, param, value):
    """--checkpoint's callback: a run directory is taken as given; a file is a bundle from `melodygru
    export`, opened into the temporary run directory it holds (`model.bundle`: CheckpointError, one
    line, when it is not a safe bundle), before any slow import."""
    if value is None or not Path(value).is_file():
        return value
    from ..model.bundle import open_bundle

    return open_bundle(value)


def verbose_option(f):
    """--verbose: TensorFlow's own log lines on stderr (kept out by default, see `core.tfenv`)."""

    @click.option("--verbose", is_flag=True,
                  help="Show TensorFlow's own log lines (device probes, oneDNN notes), hidden by default.")
    @functools.wraps(f)
    def wrapper(*args, verbose, **kwargs):
        from ..core.tfenv import set_verbose

        set_verbose(verbose)
        return f(*args, **kwargs)

    return wrapper


def input_options(f):
    """PATH... plus --corpus: where the music comes from."""
    f = click.option("--corpus", "corpora", multiple=True, type=click.Choice(["bach", "folk"]),
                     help="A built-in corpus from music21's bundled files (bach: the chorales; folk: Essen "
                          "folksongs and O'Neill's 1850 collection). Repeatable; combines with PATHs.")(f)
    f = click.option("--jobs", "-j", type=click.IntRange(1, 512), default=None,
                     help="Parallel worker processes. [default: all cores]")(f)
    f = click.option("--max-file-mb", type=click.FloatRange(0, min_open=True), default=20.0, show_default=True,
                     help="Skip files larger than this (a MIDI file of real music is rarely over 1 MB).")(f)
    f = click.argument("paths", nargs=-1, type=click.Path(path_type=Path))(f)
    return f


def _require_input(paths, corpora):
    if not paths and not corpora:
        raise click.UsageError("give at least one PATH or --corpus NAME")
_TOKENIZER_PARAMS = ("steps_per_quarter", "velocity_bins", "programs", "drums", "shared_durations", "pitch_order",
                     "key_tokens")


def _given(ctx, name) -> bool:
    """True when the user typed option `name` (not a default)."""
    return ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)
