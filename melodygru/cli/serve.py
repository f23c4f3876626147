"""`melodygru serve`: the studio, a local web page for generating pieces (melodygru/studio)."""


from __future__ import annotations

from pathlib import Path

import click

from ..core.errors import MelodyGRUError
from .app import _check_out_dir, main
from .options import verbose_option


@main.command()
@verbose_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but localhost lets other machines in (a warning is printed).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: a free one, printed).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("samples/studio"), show_default=True,
              help="Folder for the pieces and uploaded primers (created if needed).")
@click.option("--models", "models_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="Folder searched for run directories (3 levels down) offered besides the shipped models.")
@click.option("--max-upload-mb", type=click.FloatRange(0.01, 1024), default=4.0, show_default=True,
              help="Largest request body (a primer upload) in MiB; larger ones get a 413.")
def serve(host, port, out_dir, models_dir, max_upload_mb):
    """Serve the studio: pick a model, set the sampling, press Generate, listen, download.

    The page and its JSON API (README, "Studio") work offline: nothing is fetched from elsewhere.
    Needs the web extra: pip install -e ".[web]".
    """
    _check_out_dir(out_dir, "--out")
    try:
        import flask  # noqa: F401
    except ImportError:
        raise MelodyGRUError('the studio needs Flask: pip install -e ".[web]"') from None
    from ..core.tfenv import import_tensorflow

    import_tensorflow()
    from ..studio.server import exposure_warning, make_studio_server

    server = make_studio_server(host, port, out_dir, models_dir, max_upload=int(max_upload_mb * 1024 * 1024),
                                log=lambda line: click.echo(line, err=True))
    warning = exposure_warning(host, server.server_port)
    if warning:
        click.echo(warning, err=True)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"melodygru studio on http://{shown}:{server.server_port}/ (pieces in {out_dir}; Ctrl+C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
