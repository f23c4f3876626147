"""`melodygru export`: pack a run directory's sampling files into one bundle file."""

from __future__ import annotations

from pathlib import Path

import click

from ..core.errors import MelodyGRUError
from .app import main


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("out_file", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace OUT_FILE when it exists.")
def export(run_dir, out_file, force):
    """Write RUN_DIR's model and everything sampling needs into one file, OUT_FILE (e.g. mine.mgru).

    The file is a zip archive with a manifest (no code, no pickle): model.keras, tokenizer.json,
    config.json, and the run's sampling.json, critic.json, form.json, split.json and TRAINED.md
    where it has them. Every command that takes --checkpoint takes the file too, and samples
    from it exactly as from the run directory.
    """
    from ..model.bundle import export_bundle

    if out_file.is_dir():
        raise MelodyGRUError(f"{out_file} is a folder: give the bundle's file name, e.g. {out_file / 'run.mgru'}")
    if out_file.exists() and not force:
        raise MelodyGRUError(f"{out_file} exists: give --force to replace it")
    if Path(run_dir).is_file():
        raise MelodyGRUError(f"{run_dir} is a file: export reads a run directory from `melodygru train`")
    names = export_bundle(run_dir, out_file)
    click.echo(f"{out_file}: {', '.join(names)} ({out_file.stat().st_size:,} bytes)")
    click.echo(f"sample with: melodygru generate --checkpoint {out_file}")
