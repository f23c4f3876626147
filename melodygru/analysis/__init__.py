"""analysis: what a piece's notes say, as numbers. Per-piece musical features, transposition-invariant
(`features`: the lines' intervals, note lengths, texture, key profile, repetition), and the critic
that scores a piece by how much it looks like its corpus (`critic`: a linear model over those
features, applied with numpy alone), and a piece's top line with what a listener checks in a
harmonization of it (`melody`).

May import core and io; imported by generation (ranking candidates) and evaluation (the listening test).
"""
