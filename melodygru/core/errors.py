"""The project's error types: every failure a user can cause is one of these."""


import errno

# OSError numbers that mean "the disk is full": no later file can be written either, so a command
# stops with one line instead of skipping file after file.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class MelodyGRUError(Exception):
    """Base class: an error with a one-line, user-facing message."""


class ReaderError(MelodyGRUError):
    """A file could not be turned into note events (corrupt, empty, unsupported...)."""


class TokenizerError(MelodyGRUError):
    """A token sequence or tokenizer configuration is invalid."""


class CheckpointError(MelodyGRUError):
    """A run directory is missing, incomplete or does not match what was asked."""
