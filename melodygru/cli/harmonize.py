"""`melodygru harmonize`: keep a melody note for note and let the model write the voices below it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .app import _check_out_dir, main
from .options import checkpoint_path, verbose_option


@main.command()
@verbose_option
@click.argument("melody", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None, callback=checkpoint_path,
              help="Run directory (or `melodygru export` bundle) of a polyphonic model. [default: the shipped checkpoints/bach]")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("harmonized"), show_default=True,
              help="Folder for the files (created if needed).")
@click.option("--num-samples", "-k", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Harmonizations to write.")
@click.option("--candidates", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Drawn for each harmonization; the run's critic keeps the one most like its corpus.")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True)
@click.option("--temperature", "-t", type=click.FloatRange(0, 100, min_open=True), default=None,
              help="[default: the checkpoint's sampling.json]")
@click.option("--voices", type=click.IntRange(0, 16), default=4, show_default=True,
              help="At most this many notes sound at once, the melody's included (0: no limit).")
@click.option("--piece", type=click.IntRange(1), default=1, show_default=True,
              help="Which piece of a file of several tunes (an ABC book) to harmonize.")
@click.option("--score", is_flag=True, help="Also write each harmonization as MusicXML and its engraved page as SVG.")
@click.option("--force", is_flag=True, help="Number the files from sample-001 and overwrite.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
def harmonize(melody, checkpoint, out_dir, num_samples, candidates, seed, temperature, voices, piece, score, force,
              as_json):
    """Harmonize MELODY (any file melodygru reads: MIDI, MusicXML, ABC, kern).

    Its top line is kept note for note (pitch, onset, duration) as the highest voice, and the model
    writes the voices below it, in the melody's meter, ending with it. Each output MIDI file has the
    melody and the harmony on tracks of their own.
    """
    _check_out_dir(out_dir, "--out")
    from ..core.tfenv import import_tensorflow

    import_tensorflow()
    from ..generation.harmonize import harmonize_file

    result = harmonize_file(melody, checkpoint, out_dir, num_samples, candidates, seed, temperature, voices, piece,
                            score, force)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=1))
    else:
        for line in result.lines():
            click.echo(line)
