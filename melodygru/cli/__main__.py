"""`python -m melodygru.cli`: the same command line as `melodygru`."""

from . import main

main()
