"""`melodygru roundtrip`: encode, decode and write every file, then measure what survived in the
written files.
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
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder for the reconstructions; input paths are mirrored under it.")
@click.option("--json", "as_json", is_flag=True, help="Print per-file results as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; only the total line.")
def roundtrip(paths, corpora, jobs, max_file_mb, tokenizer, out_dir, as_json, quiet):
    """Tokenize and decode every file, write the result as MIDI under --out, and print the note
    recall (pitch + onset + duration on the grid) per file and in total, with every lossy step counted."""
    from collections import Counter

    from ..corpus.walk import hidden_note
    from ..evaluation.roundtrip import roundtrip as run

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
