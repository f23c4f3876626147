"""corpus: folders -> tokenized pieces. Finding files and the built-in corpora (`walk`),
the process pool that survives a dead worker (`pool`), the token cache keyed by content hash and
tokenizer settings (`cache`), and the build with its report (`build`).

May import core, io and tokens.
"""
