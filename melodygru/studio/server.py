"""Running the studio: a threaded HTTP server (Werkzeug's, which Flask brings) on one address.

Request threads only check, queue and wait (`jobs`), so the server's threads stay free for the
page's polling and files while a piece is being made.
"""


from __future__ import annotations

import ipaddress
import logging

from ..core.errors import MelodyGRUError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this machine (localhost, 127.x.x.x, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def exposure_warning(host: str, port: int) -> str | None:
    """The warning `serve` prints when the studio can be reached from other machines (None on
    localhost)."""
    if is_loopback(host):
        return None
    return (f"warning: serving on {host}:{port}, beyond localhost: anyone who can reach this port can generate "
            "pieces, upload files and download every piece of the session (there is no login); "
            "use --host 127.0.0.1 unless you mean it")


def make_studio_server(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, out_dir="samples/studio",
                       models_dir=None, max_upload: int | None = None, log=None, quiet: bool = True):
    """A ready Werkzeug server for the studio (call `serve_forever()`; `server_port` is the port,
    also when `port` was 0).

    Raises:
        MelodyGRUError: the address cannot be listened on (in use, not this machine's, no permission).
    """
    from werkzeug.serving import make_server

    from .app import MAX_UPLOAD, create_app

    if quiet:  # one line per request (the page polls twice a second) would bury the job lines
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app(out_dir, models_dir, max_upload=max_upload or MAX_UPLOAD, check_host=is_loopback(host), log=log)
    try:
        return make_server(host, port, app, threaded=True)
    except (OSError, OverflowError) as e:
        raise MelodyGRUError(f"cannot listen on {host}:{port}: {getattr(e, 'strerror', None) or e}") from None
