"""evaluation: how good is a model and its music. Held-out likelihood and baselines
(`likelihood`, `ngram`), the likelihood of an ensemble of runs and with a continuous cache (`pointer`), music statistics (`musicstats`), the listening test (`twosample`,
`copies`, `listening`, over `analysis.features`), fitting a run's critic (`critic`), the round trip
of files (`roundtrip`) and the `evaluate` entry point (`evaluate`).

May import core, io, tokens, analysis, corpus, model and generation; nothing imports evaluation but cli.
"""
