"""`melodygru generate`: sample new pieces from a run directory and write them as files (MIDI, and
with options audio, a piano roll and sheet music).
"""


from __future__ import annotations

import importlib
import json
from pathlib import Path

import click

from ..core.errors import MelodyGRUError
from .app import _check_out_dir, main
from .options import checkpoint_path, _given, verbose_option


def _checked(module: str, name: str):
    """A click callback that checks a given value at once (not after sampling) with `name` of
    `module` (relative to this package: light modules only, no TensorFlow) and turns its one-line
    error into a usage error."""
    def callback(ctx, param, value):
        if value is not None:
            try:
                getattr(importlib.import_module(module, __package__), name)(value)
            except (MelodyGRUError, ValueError) as e:
                raise click.BadParameter(str(e)) from None
        return value

    return callback


_tempo_option = _checked("..generation.settings", "check_tempo")  # below 3.5763 bpm a MIDI file cannot store it
_key_option = _checked("..core.keys", "parse_key")
_meter_option = _checked("..generation.primer", "parse_meter")


@main.command()
@verbose_option
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None, callback=checkpoint_path,
              help="Run directory from `melodygru train` (model.keras, tokenizer.json, config.json), or a "
                   "bundle file from `melodygru export`. "
                   "[default: the shipped checkpoints/bach]")
@click.option("--length", "-n", type=click.IntRange(1, 1_000_000), default=512, show_default=True,
              help="New tokens per sample (after the primer); a note takes 2-4 (PITCH [VEL] DUR, a POS per onset). "
                   "With --bars or --seconds: the most tokens drawn. [default with them: 96 per bar, 48 per second]")
@click.option("--bars", type=click.IntRange(1, 100_000), default=None,
              help="Stop every sample at the bar line that ends bar N (the primer's bars count): the file has N "
                   "bars. The model's own early end is then off unless --allow-end is given.")
@click.option("--seconds", type=click.FloatRange(0, 24 * 3600, min_open=True), default=None,
              help="Stop every sample at the first bar line at or after S seconds (with --bars: whichever comes "
                   "first).")
@click.option("--num-samples", "-k", type=click.IntRange(1, 4096), default=1, show_default=True,
              help="Samples to write; all are decoded together as one batch.")
@click.option("--temperature", "-t", type=click.FloatRange(0, 100), default=None,
              help="Divides the logits: < 1 safer, > 1 wilder, 0 always the likeliest token. "
                   "[default: the checkpoint's sampling.json (0.8 for checkpoints/bach, with its own rhythm "
                   "temperature; 1.0 for checkpoints/folk), else 1.0]")
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
@click.option("--allow-end/--no-allow-end", "allow_end", default=None,
              help="Let a sample stop before --length when the model ends the piece. "
                   "[default: the checkpoint's sampling.json, else no]")
@click.option("--monophonic/--polyphonic", "monophonic", default=None,
              help="One note at a time, for a model of melodies: no chords, and a note still sounding when the "
                   "next starts ends there. "
                   "[default: the checkpoint's sampling.json, else polyphonic]")
@click.option("--form/--no-form", "form", default=None,
              help="Give each sample the form of a random training piece (form.json): the bars it repeats are "
                   "copied from the sample's own earlier bars. [default: the checkpoint's sampling.json, else no]")
@click.option("--candidates", type=click.IntRange(1, 1024), default=None,
              help="Draw K candidates for each sample and keep the one the run's critic (critic.json, fitted by "
                   "`melodygru critic`) finds most like the training music; 1 draws once. "
                   "[default: the checkpoint's sampling.json, else 16 with a critic, else 1]")
@click.option("--selection", type=click.Choice(["best", "weighted", "matched"]), default=None,
              help="How the critic chooses among candidates: the best score; a draw weighted by "
                   "exp(score) (closer to the variety of the real music); or matched: for the whole set at "
                   "once, so its spread of silence, voices, leaps, repetition, modes... is the real music's. "
                   "[default: the checkpoint's sampling.json, else best]")
@click.option("--resample-every", type=click.IntRange(0), default=None,
              help="With candidates: every N tokens the critic scores each candidate so far and each sample's "
                   "candidates are drawn again by how much their score grew (sequential Monte Carlo), so the rest "
                   "of the piece grows from the openings most like the corpus; 0: never. "
                   "[default: the checkpoint's sampling.json, else 0]")
@click.option("--voices", type=click.IntRange(0, 128), default=None,
              help="At most N notes sounding at once (e.g. 4 for chorales; 0: no limit): where a note starts "
                   "and more would sound, the notes held longest end there. [default: the checkpoint's "
                   "sampling.json, else 0]")
@click.option("--scale-penalty", type=click.FloatRange(0, 20), default=None,
              help="Nats taken from every pitch outside the major/minor scale that holds most of the notes so far "
                   "(once 8 are heard): fewer stray notes out of key; 0: off. [default: the checkpoint's "
                   "sampling.json, else 0]")
@click.option("--key", type=str, default=None, callback=_key_option,
              help="Key of every sample, e.g. 'D minor', 'Dm', 'F# major', 'Bb' (a model trained with "
                   "--key-tokens). [default: the model draws each sample's key as often as its corpus has it]")
@click.option("--meter", type=str, default=None, callback=_meter_option,
              help="Meter of every sample, e.g. 3/4 or 6/8, kept throughout (no meter changes). "
                   "[default: the model's choice]")
@click.option("--style", type=str, default=None,
              help="Style of every sample, one of those the model was trained with (train --styles-from-folders; "
                   "--help-controls lists them). [default: the model draws each sample's style]")
@click.option("--help-controls", is_flag=True,
              help="Print what the checkpoint can be asked for (keys, styles, meters, tempo) and exit.")
@click.option("--tempo", type=float, default=None, callback=_tempo_option,
              help="Tempo in BPM (3.5763-1000: the slowest a MIDI file can store) for the whole output, "
                   "replacing the model's (and the primer's).")
@click.option("--program", type=click.IntRange(0, 127), default=None,
              help="General MIDI program (instrument, 0-127) for every pitched note. [default: the primer's, or piano]")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("samples"), show_default=True,
              help="Folder for the files (created if needed).")
@click.option("--audio", is_flag=True,
              help="Also write audio: FluidSynth with a General MIDI SoundFont when installed (pip install -e "
                   "\".[audio]\" and apt-get install libfluidsynth3), else a plucked-tone fallback, named in the output.")
@click.option("--audio-format", type=click.Choice(["wav", "flac", "ogg"]), default=None,
              help="Audio file format (implies --audio): flac is lossless and about half a WAV, ogg (Vorbis) about a "
                   "seventh. [default: wav]")
@click.option("--plot", is_flag=True, help="Also write a piano-roll .png (a colour per instrument, drums in their own lane).")
@click.option("--score", is_flag=True,
              help="Also write sheet music: a .musicxml score (opens in MuseScore) and its engraved page as .svg.")
@click.option("--force", is_flag=True,
              help="Number the files from sample-001 and overwrite; without it, existing files are never "
                   "touched and new ones take the next free numbers.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
def generate(checkpoint, length, bars, seconds, num_samples, temperature, top_k, top_p, seed, primer, primer_bars, allow_end,
             monophonic, form, candidates, selection, resample_every, voices, scale_penalty, key, meter, style,
             help_controls, tempo, program, out_dir, audio, audio_format, plot, score, force, as_json):
    """Sample new pieces from a trained model and write them as MIDI files.

    Every sample follows the tokenizer's grammar, so it always decodes to valid music. For every
    file it prints the path, notes, length in seconds and bars.
    """
    if help_controls:
        return _print_controls(checkpoint, as_json)
    _check_out_dir(out_dir, "--out")
    if (bars or seconds) and not _given(click.get_current_context(), "length"):
        length = None  # a budget that fits the bars or seconds asked for
    from ..core.tfenv import import_tensorflow

    import_tensorflow()
    from ..generation.generate import generate as run

    result = run(checkpoint, length=length, num_samples=num_samples, temperature=temperature, top_k=top_k,
                 top_p=top_p, seed=seed, primer=primer, primer_bars=primer_bars, allow_end=allow_end,
                 tempo=tempo, program=program, out_dir=out_dir, audio=audio or audio_format is not None,
                 audio_format=audio_format or "wav", plot=plot, score=score, force=force, form=form,
                 monophonic=monophonic, candidates=candidates, selection=selection, voices=voices,
                 scale_penalty=scale_penalty, resample_every=resample_every, key=key,
                 meter=meter, style=style, bars=bars, seconds=seconds)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=1))
    else:
        for line in result.lines():
            click.echo(line)


def _print_controls(checkpoint, as_json: bool) -> None:
    """`generate --help-controls`: what the run's model understands, read from its tokenizer."""
    from ..core.tfenv import import_tensorflow

    import_tensorflow()
    from ..generation.generate import DEFAULT_CHECKPOINT
    from ..generation.primer import control_lines, controls
    from ..model import rundir as rd
    from ..tokens.tokenizer import Tokenizer

    path = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
    rd.check_run_dir(path)
    found = controls(Tokenizer.load(path / rd.TOKENIZER))
    click.echo(json.dumps({"checkpoint": str(path), "controls": found}, indent=1) if as_json
               else "\n".join(control_lines(path, found)))
