"""core: the ground floor. Note-event value types (`events`), the error classes (`errors`),
atomic file writes and their one temporary-file naming (`atomic`), units (`units`) and the
environment TensorFlow is imported under (`tfenv`).

Imports nothing else of melodygru; every other wing may import it.
"""
