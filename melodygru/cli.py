"""The `melodygru` command line: parse options, call one library function, print the result.

TensorFlow is imported only inside the commands that run a model, so `melodygru --help`,
`prepare` and `roundtrip` start in well under a second.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path

import click

from . import __version__
from .errors import MelodyGRUError

EXIT_USER_ERROR = 2


class _Group(click.Group):
    """Turns the project's errors into one line + exit 2, and unexpected ones into a short
    message plus the path of a file holding the full traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MelodyGRUError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except OSError as e:
            if e.errno == 28:  # ENOSPC
                click.echo(f"error: disk full while writing {e.filename or ''}".rstrip(), err=True)
                sys.exit(EXIT_USER_ERROR)
            _crash(e)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:
            _crash(e)


def _crash(e: BaseException):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(tempfile.gettempdir()) / f"melodygru-crash-{stamp}-{os.getpid()}.log"
    try:
        path.write_text("".join(traceback.format_exception(e)))
        where = f"full traceback in {path}"
    except OSError:
        where = "the traceback could not be saved"
    click.echo(f"internal error: {type(e).__name__}: {e} ({where}; please report it)", err=True)
    sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="melodygru")
def main():
    """Train GRU language models on your own music and generate new pieces.

    \b
    Typical use:
      melodygru prepare my_midi/            # read, tokenize and cache; report what was skipped
      melodygru train my_midi/ --out runs/mine
      melodygru generate --checkpoint runs/mine --length 512
    """


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
    @functools.wraps(f)
    def wrapper(*args, steps_per_quarter, velocity_bins, programs, drums, **kwargs):
        from .tokenizer import Tokenizer, TokenizerConfig

        config = TokenizerConfig(steps_per_quarter=steps_per_quarter, velocity_bins=velocity_bins,
                                 programs=programs, drums=drums)
        return f(*args, tokenizer=Tokenizer(config), **kwargs)

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


@main.command()
@input_options
@tokenizer_options
@click.option("--no-cache", is_flag=True, help="Ignore and do not write the token cache.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Token cache folder. [default: $MELODYGRU_CACHE_DIR or the user cache dir]")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def prepare(paths, corpora, jobs, max_file_mb, tokenizer, no_cache, cache_dir, as_json, quiet):
    """Read, tokenize and cache every piece under PATH... (folders are walked recursively).

    Reads .mid .midi .kar, .mxl .xml .musicxml, .abc (every tune of a multi-tune file) and .krn.
    Ends with a summary: pieces, notes, tokens, lossy steps and every skipped file with its reason.
    Exits 2 when nothing usable is found.
    """
    from .corpus import build_corpus

    _require_input(paths, corpora)
    pieces, report = build_corpus(paths, corpora, tokenizer, jobs=jobs, cache_dir=cache_dir,
                                  use_cache=not no_cache, max_file_mb=max_file_mb, progress=not quiet)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=1))
    else:
        for line in report.summary_lines():
            click.echo(line)
    if not pieces:
        raise MelodyGRUError(f"nothing usable found in {', '.join(map(str, paths)) or 'the corpus'}"
                             f" ({report.files} music files, {len(report.skipped)} skipped)")


@main.command()
@input_options
@tokenizer_options
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder for the reconstructions; input paths are mirrored under it.")
@click.option("--json", "as_json", is_flag=True, help="Print per-file results as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; only the total line.")
def roundtrip(paths, corpora, jobs, max_file_mb, tokenizer, out_dir, as_json, quiet):
    """Tokenize and decode every file, write the result as MIDI under --out, and print the note
    recall (pitch + onset + duration on the grid) per file and in total, with every lossy step counted."""
    from collections import Counter

    from .roundtrip import roundtrip as run

    _require_input(paths, corpora)
    rows, fileset = run(paths, corpora, out_dir, tokenizer, jobs=jobs, max_file_mb=max_file_mb, progress=not quiet)
    matched = sum(r.matched for r in rows)
    total = sum(r.total for r in rows)
    lossy = Counter()
    for r in rows:
        lossy.update(r.lossy)
    recall = matched / total if total else 0.0
    if as_json:
        click.echo(json.dumps({
            "files": [{"path": r.path, "matched": r.matched, "notes": r.total, "recall": r.recall,
                       "written": r.written, "skip": r.skip, "lossy": dict(r.lossy)} for r in rows],
            "total": {"matched": matched, "notes": total, "recall": recall, "lossy": dict(lossy),
                      "ignored": fileset.ignored},
        }, indent=1))
    else:
        if not quiet:
            for r in rows:
                extra = f"  [{', '.join(f'{k} {v}' for k, v in sorted(r.lossy.items()))}]" if r.lossy else ""
                if r.skip and not r.total:
                    click.echo(f"{r.path}: skipped: {r.skip}")
                else:
                    click.echo(f"{r.path}: {r.matched}/{r.total} notes, recall {r.recall:.2%}{extra}")
        skipped = sum(1 for r in rows if r.skip)
        click.echo(f"total: {matched}/{total} notes, recall {recall:.3%} over {len(rows) - skipped} files"
                   f" ({skipped} with problems, {fileset.ignored} other files ignored)")
        if lossy:
            click.echo("lossy steps: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(lossy.items())))
    if total == 0:
        raise MelodyGRUError("no notes could be read from the input")


@main.command()
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="Run directory from `melodygru train` (model.keras, tokenizer.json, config.json). "
                   "[default: the shipped checkpoints/bach]")
@click.option("--length", "-n", type=click.IntRange(1, 1_000_000), default=512, show_default=True,
              help="New tokens per sample (after the primer); a note takes about 3-4.")
@click.option("--num-samples", "-k", type=click.IntRange(1, 4096), default=1, show_default=True,
              help="Samples to write; all are decoded together as one batch.")
@click.option("--temperature", "-t", type=click.FloatRange(0, 100), default=1.0, show_default=True,
              help="Divides the logits: < 1 safer, > 1 wilder, 0 always the likeliest token.")
@click.option("--top-k", type=click.IntRange(0), default=0, show_default=True,
              help="Sample only among the K likeliest tokens (0: off).")
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True,
              help="Sample only among the likeliest tokens that together reach probability P (1: off).")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=None,
              help="Same seed, same files, byte for byte. [default: a random seed, printed]")
@click.option("--primer", type=click.Path(path_type=Path), default=None,
              help="MIDI or score file to continue: its opening is kept verbatim, its tempo, meter and key carry over.")
@click.option("--primer-bars", type=click.IntRange(0), default=4, show_default=True,
              help="Bars of the primer to keep (0: the whole file).")
@click.option("--allow-end", is_flag=True, help="Let a sample stop early when the model ends the piece.")
@click.option("--tempo", type=click.FloatRange(1, 1000), default=None,
              help="Tempo in BPM for the whole output, replacing the model's (and the primer's).")
@click.option("--program", type=click.IntRange(0, 127), default=None,
              help="General MIDI program (instrument, 0-127) for every pitched note. [default: the primer's, or piano]")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("samples"), show_default=True,
              help="Folder for the files (created if needed).")
@click.option("--audio", is_flag=True, help="Also write a .wav (FluidSynth when installed, else simple synthesis).")
@click.option("--plot", is_flag=True, help="Also write a piano-roll .png.")
@click.option("--force", is_flag=True,
              help="Number the files from sample-001 and overwrite; without it, existing files are never "
                   "touched and new ones take the next free numbers.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
def generate(checkpoint, length, num_samples, temperature, top_k, top_p, seed, primer, primer_bars, allow_end,
             tempo, program, out_dir, audio, plot, force, as_json):
    """Sample new pieces from a trained model and write them as MIDI files.

    Every sample follows the tokenizer's grammar, so it always decodes to valid music. For every
    file it prints the path, notes, length in seconds and bars.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter; read at import
    from .generate import generate as run

    result = run(checkpoint, length=length, num_samples=num_samples, temperature=temperature, top_k=top_k,
                 top_p=top_p, seed=seed, primer=primer, primer_bars=primer_bars, allow_end=allow_end,
                 tempo=tempo, program=program, out_dir=out_dir, audio=audio, plot=plot, force=force)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=1))
    else:
        for line in result.lines():
            click.echo(line)


if __name__ == "__main__":  # pragma: no cover
    main()
