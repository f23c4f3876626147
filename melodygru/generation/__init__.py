"""generation: a run directory -> new token sequences -> files. Pure samplers (`samplers`), the
compiled stateful decoder with the grammar as tensors and form-plan copying (`decoder`), primers
(`primer`), writing the samples (`files`) and the `generate` entry point (`generate`: it also keeps
the critic's best of several candidates).

May import core, io, tokens, analysis and model; never training or evaluation.
"""
