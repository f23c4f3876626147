"""Running the studio: a threaded HTTP server (Werkzeug's, which Flask brings) on one address.

Request threads only check, queue and wait (`jobs`), so the server's threads stay free for the
page's polling and files while a piece is being made.
"""


from __future__ import annotations

import logging

from ..core.errors import MelodyGRUError
from .request import is_loopback

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


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
    import socket

    from werkzeug.serving import get_sockaddr, make_server, select_address_family

    from .app import MAX_UPLOAD, create_app

    if quiet:  # one line per request (the page polls twice a second) would bury the job lines
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app(out_dir, models_dir, max_upload=max_upload or MAX_UPLOAD, check_host=is_loopback(host), log=log)
    try:  # bound here, not by Werkzeug, which prints its own lines and exits when the port is taken
        family = select_address_family(host, port)
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(get_sockaddr(host, int(port), family))
            sock.listen(128)
            server = make_server(host, port, app, threaded=True, fd=sock.fileno())  # a copy of the socket
    except (OSError, OverflowError) as e:
        raise MelodyGRUError(f"cannot listen on {host}:{port}: {getattr(e, 'strerror', None) or e}") from None
    server.port = server.server_port = server.socket.getsockname()[1]
    return server
