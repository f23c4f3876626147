"""`melodygru cache`: where the token cache is and how much it holds; `--clear` empties it."""

from __future__ import annotations

from pathlib import Path

import click

from ..core.units import human_bytes
from .app import main


@main.command()
@click.option("--clear", is_flag=True, help="Remove every cached entry (they are rebuilt when needed).")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Token cache folder. [default: $MELODYGRU_CACHE_DIR or the user cache dir]")
def cache(clear, cache_dir):
    """Print the token cache's folder and size, or empty it with --clear.

    `prepare`, `train`, `evaluate` and `critic` keep the token ids of every file they read there,
    keyed by the file's content and the tokenizer settings, so a second read is fast; every new
    setting adds entries and none are ever removed but by --clear.
    """
    from ..corpus.cache import cache_usage, clear_cache

    if clear:
        folder, files, size = clear_cache(cache_dir)
        click.echo(f"cleared {folder}: removed {files:,} files ({human_bytes(size)})")
    else:
        folder, files, size = cache_usage(cache_dir)
        click.echo(f"{folder}: {files:,} files, {human_bytes(size)}")
