"""evaluation: how good is a model and its music. Held-out likelihood and baselines
(`likelihood`, `ngram`), music statistics (`musicstats`), the listening test (`features`,
`twosample`, `copies`, `listening`), the round trip of files (`roundtrip`) and the `evaluate` entry
point (`evaluate`).

May import core, io, tokens, corpus, model and generation; nothing imports evaluation but cli.
"""
