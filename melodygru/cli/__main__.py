"""`python -m melodygru.cli`: the same command line as `melodygru`, under the same name (in its help,
and for shell completion's `_MELODYGRU_COMPLETE`)."""

from . import main

main(prog_name="melodygru")
