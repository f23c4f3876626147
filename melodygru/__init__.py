"""melodygru: train stacked GRU language models on your own music and generate new pieces."""

__version__ = "0.1.0"
