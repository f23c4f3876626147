"""cli: the command line, thin: each command parses its options, calls one library function and
prints the result. TensorFlow is imported only inside the commands that run a model, so
`melodygru --help`, `prepare` and `roundtrip` start in well under a second.

May import every other wing; nothing imports cli.
"""

from . import cache, critic, export, generate, harmonize, info, prepare, roundtrip, serve, train  # noqa: F401  (each module adds its command to `main`)
from .app import main
from .evaluate import register

register(main)

__all__ = ["main"]
