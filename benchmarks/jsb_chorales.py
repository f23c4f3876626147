"""JSB Chorales (Boulanger-Lewandowski et al. 2012): test NLL per quarter-note step, comparable to the literature.

    python benchmarks/jsb_chorales.py [--cell gru|lstm] [--data PATH] [--work DIR] [-- extra `melodygru train` options]

The same as `python benchmarks/polyphonic.py --dataset jsb` (that script's docstring has the protocol:
every step written as MIDI, the check that the tokens keep every (step, pitch) of `test`, training on
`train` with selection on `valid`, `test` scored once, total NLL divided by the number of steps). Kept
under this name because the README and benchmarks/results/jsb-run-*.json cite it; the names the JSB
tests use are re-exported from there.

`--cell lstm` trains an LSTM with the number of units that gives the GRU run's parameter count
(within 1%), for the GRU-vs-LSTM comparison. Settings were chosen on `valid` only.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import polyphonic
from polyphonic import (  # noqa: F401
    check_test_encoding,
    ending_on_c,
    lstm_units,
    melodygru,
    param_count,
    write_split,
)

TOKENIZER_CONFIG = polyphonic.tokenizer_config(1)  # one step = one quarter note
PUBLISHED = [(model, nll, source) for model, nll, source, _ in polyphonic.DATASETS["jsb"].published]


def main(argv=None) -> int:
    return polyphonic.main(argv, dataset="jsb")


if __name__ == "__main__":
    sys.exit(main())
