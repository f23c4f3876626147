"""The `melodygru` command line: parse options, call one library function, print the result.

TensorFlow is imported only inside the commands that run a model, so `melodygru --help`,
`prepare` and `roundtrip` start in well under a second.
"""

from __future__ import annotations

import codecs
import datetime
import errno
import functools
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path

import click

from . import __version__
from .errors import DISK_FULL_ERRNOS, CheckpointError, MelodyGRUError

EXIT_USER_ERROR = 2


def _escape_unprintable(err: UnicodeError):
    """Encoding error handler for stdout/stderr: a byte of a file name that is not valid in the
    file-system encoding (Python holds it as a lone surrogate) prints as `\\xNN`, any other character
    the terminal cannot show as a backslash escape. Printing a path never fails."""
    if not isinstance(err, UnicodeEncodeError):
        raise err
    out = []
    for c in err.object[err.start:err.end]:
        n = ord(c)
        out.append(f"\\x{n - 0xDC00:02x}" if 0xDC80 <= n <= 0xDCFF else c.encode("ascii", "backslashreplace").decode())
    return "".join(out), err.end


codecs.register_error("melodygru-escape", _escape_unprintable)


def _printable_streams() -> None:
    """Make stdout and stderr print any path: with a UTF-8 terminal's default 'strict' errors, a
    non-UTF-8 file name would otherwise end the command with a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", "melodygru-escape") != "melodygru-escape":
            try:
                stream.reconfigure(errors="melodygru-escape")
            except (AttributeError, ValueError, OSError):  # not a TextIOWrapper: leave it alone
                pass


class _Group(click.Group):
    """Turns the project's errors into one line + exit 2, and unexpected ones into a short
    message plus the path of a file holding the full traceback."""

    def main(self, *args, **kwargs):
        _printable_streams()
        return super().main(*args, **kwargs)

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as e:  # a bad option of `melodygru` itself
            _usage_error(e)

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
            _os_error(e)
        except click.UsageError as e:  # a bad option value, a missing argument, an unknown command
            _usage_error(e)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:
            _crash(e)


# OSErrors about a path the user gave or can fix (permissions, a file where a folder should be, a
# read-only disk): one line naming the path. Any other OSError is reported as an internal error.
_USER_OS_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
                             errno.ENOENT, errno.ENAMETOOLONG, errno.ELOOP})


def _os_error(e: OSError):
    if e.errno == errno.EPIPE:  # stdout closed early (`melodygru ... | head`): click exits quietly
        raise e
    where = f" {e.filename}" if e.filename is not None else ""
    if e.errno in DISK_FULL_ERRNOS:
        click.echo(f"error: disk full while writing{where} ({e.strerror})", err=True)
        sys.exit(EXIT_USER_ERROR)
    if e.errno in _USER_OS_ERRNOS and e.filename is not None:
        click.echo(f"error:{where}: {e.strerror}", err=True)
        sys.exit(EXIT_USER_ERROR)
    _crash(e)


def _usage_error(e: click.UsageError):
    """Click's usage errors as one line (click prints the usage, a hint and the error on 3-4 lines)."""
    message = " ".join(e.format_message().split())
    hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
    click.echo(f"error: {message}{hint}", err=True)
    sys.exit(EXIT_USER_ERROR)


def _check_out_dir(path: Path, option: str) -> None:
    """Refuse an output folder that cannot be created or written to, before any slow work.

    Raises:
        MelodyGRUError: a file stands where the folder (or one of its parents) should be, or the
            nearest existing folder is not writable.
    """
    probe = Path(path)
    try:
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            what = "is a file" if probe == Path(path) else f"cannot be created: {probe} is a file"
            raise MelodyGRUError(f"{option} {path} {what}, not a folder")
        if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
            raise MelodyGRUError(f"{option} {path} is not writable (no write permission on {probe})")
    except OSError as e:
        raise MelodyGRUError(f"{option} {path}: {e.strerror or e}") from None


def _crash(e: BaseException):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(tempfile.gettempdir()) / f"melodygru-crash-{stamp}-{os.getpid()}.log"
    try:
        path.write_text("".join(traceback.format_exception(e)))
        where = f"full traceback in {path}"
    except OSError:
        where = "the traceback could not be saved"
    lines = str(e).strip().splitlines()
    message = lines[0] if lines else ""  # the whole message is in the file: keep this to one line
    if len(message) > 200 or len(lines) > 1:
        message = message[:200] + "..."
    click.echo(f"internal error: {type(e).__name__}: {message} ({where}; please report it)", err=True)
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
    @click.option("--shared-durations/--note-durations", "shared_durations", default=False, show_default=True,
                  help="Notes that start together and last equally long share one duration token "
                       "(a third fewer tokens for four-part chorales), or every note states its own.")
    @functools.wraps(f)
    def wrapper(*args, steps_per_quarter, velocity_bins, programs, drums, shared_durations, **kwargs):
        from .tokenizer import Tokenizer, TokenizerConfig

        config = TokenizerConfig(steps_per_quarter=steps_per_quarter, velocity_bins=velocity_bins,
                                 programs=programs, drums=drums, shared_durations=shared_durations)
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

    from .corpus import hidden_note
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
                      "ignored": fileset.ignored, "hidden": fileset.hidden},
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
                   f" ({skipped} with problems, {fileset.ignored} other files ignored{hidden_note(fileset.hidden)})")
        if lossy:
            click.echo("lossy steps: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(lossy.items())))
    if total == 0:
        raise MelodyGRUError("no notes could be read from the input")


_TRAIN_OPTION_FIELDS = {  # CLI parameter name -> TrainConfig field
    "preset": "preset", "layers": "layers", "units": "units", "embedding_dim": "embedding_dim",
    "dropout": "dropout", "cell": "cell", "seq_len": "seq_len", "batch_size": "batch_size", "epochs": "epochs",
    "lr": "lr", "lr_schedule": "lr_schedule", "clipnorm": "clipnorm", "patience": "patience",
    "val_split": "val_split", "transpose": "transpose", "seed": "seed", "distribute": "distribute",
    "mixed_precision": "mixed_precision", "tensorboard": "tensorboard",
}
_TOKENIZER_PARAMS = ("steps_per_quarter", "velocity_bins", "programs", "drums", "shared_durations")


def _given(ctx, name) -> bool:
    """True when the user typed option `name` (not a default)."""
    return ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)


@main.command()
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
@click.option("--quiet", "-q", is_flag=True, help="No progress bars; one line per epoch.")
def train(paths, corpora, jobs, max_file_mb, tokenizer, run_dir, resume, val_paths, no_cache, cache_dir, quiet,
          **options):
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
    if resume:
        paths, corpora, val_paths, tokenizer, config = _resume_settings(ctx, run_dir, paths, corpora, val_paths,
                                                                        tokenizer, options)
    else:
        config = {field: options[name] for name, field in _TRAIN_OPTION_FIELDS.items()}
    _require_input(paths, corpora)
    _check_out_dir(run_dir, "--out")
    from .corpus import build_corpus

    # the corpus is read before TensorFlow is imported: worker processes fork faster without it
    kw = dict(jobs=jobs, cache_dir=cache_dir, use_cache=not no_cache, max_file_mb=max_file_mb, progress=not quiet)
    pieces, report = build_corpus(paths, corpora, tokenizer, **kw)
    for line in report.summary_lines():
        click.echo(line)
    if not pieces:
        raise MelodyGRUError(f"nothing usable to train on in {', '.join(map(str, paths)) or 'the corpus'}")
    val_pieces = None
    if val_paths:
        val, val_report = build_corpus(val_paths, (), tokenizer, **kw)
        if not val:
            raise MelodyGRUError(f"no usable validation pieces in {', '.join(map(str, val_paths))}")
        click.echo(f"validation: {len(val)} pieces from {', '.join(map(str, val_paths))}")
        val_pieces = [p.ids for p in val]

    from .tfenv import import_tensorflow

    import_tensorflow()
    from .train import TrainConfig, format_duration, train as run_training

    config = config if isinstance(config, TrainConfig) else TrainConfig(**config)
    data = {"paths": [str(Path(p).resolve()) for p in paths], "corpora": list(corpora),
            "val_paths": [str(Path(p).resolve()) for p in val_paths]}
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
    click.echo(f"model in {run_dir}; sample with: melodygru generate --checkpoint {run_dir}")


def _resume_settings(ctx, run_dir, paths, corpora, val_paths, tokenizer, options):
    """Data, validation folders, tokenizer and config for `--resume`: the run directory's, with the
    options the user typed.

    The validation set is the run's own: its recorded --val folders, or, when it recorded none (or
    its config.json predates the record), --val-split of the training pieces as before. A --val
    that names other folders is refused: the best epoch and early stopping would compare
    validation losses of different sets.
    """
    from . import rundir as rd
    from .tokenizer import Tokenizer

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
    from .train import resume_config

    return paths, corpora, val_paths, tokenizer, resume_config(run_dir, **changes)


def _tempo_option(ctx, param, value):
    """--tempo: refused at once when a MIDI file cannot store it (below 3.5763 bpm), not after sampling."""
    if value is not None:
        from .generate import check_tempo  # light: numpy and the tokenizer, no TensorFlow

        try:
            check_tempo(value)
        except MelodyGRUError as e:
            raise click.BadParameter(str(e)) from None
    return value


@main.command()
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="Run directory from `melodygru train` (model.keras, tokenizer.json, config.json). "
                   "[default: the shipped checkpoints/bach]")
@click.option("--length", "-n", type=click.IntRange(1, 1_000_000), default=512, show_default=True,
              help="New tokens per sample (after the primer); a note takes 2-4 (PITCH [VEL] DUR, a POS per onset).")
@click.option("--num-samples", "-k", type=click.IntRange(1, 4096), default=1, show_default=True,
              help="Samples to write; all are decoded together as one batch.")
@click.option("--temperature", "-t", type=click.FloatRange(0, 100), default=None,
              help="Divides the logits: < 1 safer, > 1 wilder, 0 always the likeliest token. "
                   "[default: the checkpoint's sampling.json (0.8 for the shipped models), else 1.0]")
@click.option("--top-k", type=click.IntRange(0), default=None,
              help="Sample only among the K likeliest tokens (0: off). [default: the checkpoint's sampling.json, else 0]")
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Sample only among the likeliest tokens that together reach probability P (1: off). "
                   "[default: the checkpoint's sampling.json, else 1]")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=None,
              help="Same seed, same files, byte for byte. [default: a random seed, printed]")
@click.option("--primer", type=click.Path(path_type=Path), default=None,
              help="MIDI or score file to continue: its opening is kept verbatim, its tempo, meter and key carry over.")
@click.option("--primer-bars", type=click.IntRange(0), default=4, show_default=True,
              help="Bars of the primer to keep (0: the whole file).")
@click.option("--allow-end", is_flag=True, help="Let a sample stop early when the model ends the piece.")
@click.option("--tempo", type=float, default=None, callback=_tempo_option,
              help="Tempo in BPM (3.5763-1000: the slowest a MIDI file can store) for the whole output, "
                   "replacing the model's (and the primer's).")
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
    _check_out_dir(out_dir, "--out")
    from .tfenv import import_tensorflow

    import_tensorflow()
    from .generate import generate as run

    result = run(checkpoint, length=length, num_samples=num_samples, temperature=temperature, top_k=top_k,
                 top_p=top_p, seed=seed, primer=primer, primer_bars=primer_bars, allow_end=allow_end,
                 tempo=tempo, program=program, out_dir=out_dir, audio=audio, plot=plot, force=force)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=1))
    else:
        for line in result.lines():
            click.echo(line)


from .cli_evaluate import register as _register_evaluate  # noqa: E402

_register_evaluate(main, tokenizer_options, _TOKENIZER_PARAMS)

if __name__ == "__main__":  # pragma: no cover
    main()
