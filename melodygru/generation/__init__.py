"""generation: a run directory -> new token sequences -> files. Pure samplers (`samplers`), the
compiled stateful decoder with the grammar as tensors and form-plan copying (`decoder`), primers
(`primer`), the critic's choice among candidates and the limit on voices sounding (`choose`),
writing the samples (`files`) and the `generate` entry point (`generate`).

May import core, io, tokens, analysis and model; never training or evaluation.
"""
