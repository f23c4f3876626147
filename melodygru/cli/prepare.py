"""`melodygru prepare`: read, tokenize and cache a folder; print what was kept and skipped.
"""


from __future__ import annotations

import json
from pathlib import Path

import click

from ..core.errors import MelodyGRUError
from .app import main
from .options import _require_input, input_options, tokenizer_options


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
    from ..corpus.build import build_corpus

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
