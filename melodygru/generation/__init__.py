"""generation: a run directory -> new token sequences -> files. A run loaded for sampling
(`checkpoint`), pure samplers (`samplers`), the grammar as tensors and the masks each step applies
(`tables`), the compiled stateful decoder with form-plan copying (`decoder`), where a sample
stops: its end, its token budget, or a bar line after a length in bars or seconds (`length`),
primers (`primer`), the critic's choice among candidates and the limit on voices sounding
(`choose`), writing the samples (`files`) and the `generate` entry point (`generate`).

May import core, io, tokens, analysis and model; never training or evaluation.
"""
