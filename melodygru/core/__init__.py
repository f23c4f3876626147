"""core: the ground floor. Note-event value types (`events`), the error classes (`errors`),
atomic file writes and their one temporary-file naming (`atomic`), units (`units`), the
environment TensorFlow is imported under (`tfenv`) and progress displays: a bar on a terminal,
plain lines in a log (`progress`).

Imports nothing else of melodygru; every other wing may import it.
"""
