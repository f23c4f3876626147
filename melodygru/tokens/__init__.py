"""tokens: note events <-> token ids. The tokenizer's settings (`config`), the vocabulary with
encode and decode (`tokenizer`), the grammar of valid sequences (`grammar`), transposition of
token sequences (`transpose`), the one length unit, quarter notes, and where bars start (`timing`), and form plans:
which bars of a piece repeat which (`form`).

May import core only: a reader of `tokenizer.py` never needs to know that Keras exists.
"""
