"""The stacked-GRU language model, built from a `ModelConfig`; nothing about files or sampling.

Architecture: `Embedding -> (GRU -> Dropout) x layers -> Dense(vocab_size)` logits, the shape of
Magenta's melody RNN and of the Zaremba et al. (2014) regularised RNN language model (dropout on
the non-recurrent connections only). Every GRU keeps Keras' cuDNN-compatible defaults (tanh /
sigmoid, `reset_after=True`, bias, no recurrent dropout, no unroll), so a GPU runs the fused cuDNN
kernel; on a CPU, training uses `melodygru.model.gru_cpu`, the same function on the same weights.

Generation does not call this model: `model.step` takes its trained weights into the one
recurrent step the decoder runs, one token at a time with the state carried (STYLE.md example 2).
"""


from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import keras  # noqa: E402  (after the log-level setting, which TensorFlow reads at import)
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CELLS = ("gru", "lstm")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that decides the model's shape; saved in the run directory's `config.json`.

    Attributes:
        vocab_size: size of the tokenizer's vocabulary (inputs and output logits).
        layers: stacked recurrent layers.
        units: hidden units per recurrent layer.
        embedding_dim: token embedding width.
        dropout: dropout rate after every recurrent layer (training only).
        cell: 'gru' (the product) or 'lstm' (for comparisons only).
    """

    vocab_size: int
    layers: int = 2
    units: int = 256
    embedding_dim: int = 128
    dropout: float = 0.2
    cell: str = "gru"

    def __post_init__(self):
        problems = []
        if self.vocab_size < 2:
            problems.append("vocab_size must be >= 2")
        if self.layers < 1:
            problems.append("layers must be >= 1")
        if self.units < 1 or self.embedding_dim < 1:
            problems.append("units and embedding_dim must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            problems.append("dropout must be in [0, 1)")
        if self.cell not in CELLS:
            problems.append(f"cell must be one of {', '.join(CELLS)}")
        if problems:
            raise ValueError("bad model config: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown model setting(s): {', '.join(unknown)}")
        return cls(**d)

    @property
    def states_per_layer(self) -> int:
        """Recurrent state tensors per layer: 1 for a GRU (h), 2 for an LSTM (h, c)."""
        return 2 if self.cell == "lstm" else 1


@dataclass(frozen=True)
class Preset:
    layers: int
    units: int
    embedding_dim: int
    dropout: float


# Named sizes (parameter counts for the default tokenizer's 346-token vocabulary). Token sequences
# run at ~5-15 tokens per quarter note, so a 128-token window holds a few bars; what grows with the
# preset is how much corpus the model can absorb before it overfits, and what it costs per token.
PRESETS: dict[str, Preset] = {
    # Tests and demos: ~58k parameters (most in the output layer); an epoch over a toy corpus takes
    # well under a second on a CPU. No dropout: too small to overfit in the few epochs a test runs.
    "tiny": Preset(layers=1, units=64, embedding_dim=32, dropout=0.0),
    # Laptop default: ~0.82M parameters, 10,870 training tokens/s at batch 16 on the 2-core dev
    # machine (checkpoints/bach/metrics.json), so an epoch of a
    # few hundred thousand tokens (the Bach chorales) takes well under a minute; 2 layers capture
    # bar-level structure that 1 misses. Dropout 0.2: a few hundred pieces overfit quickly.
    "small": Preset(layers=2, units=256, embedding_dim=128, dropout=0.2),
    # The benchmark shape (3x512, embedding 256): ~4.6M parameters, Magenta's melody-RNN size class;
    # suits thousands of pieces (the Essen folk songs) and 2,846 tokens/s on the 2-core dev machine
    # (benchmarks/train_throughput.py, batch 64): a GPU helps.
    "medium": Preset(layers=3, units=512, embedding_dim=256, dropout=0.3),
    # ~18M parameters for large corpora (tens of thousands of MIDI files); GPU only. Dropout stays
    # at 0.3: more data is the better regulariser at this size.
    "large": Preset(layers=3, units=1024, embedding_dim=512, dropout=0.3),
}


def model_config_from_preset(name: str, vocab_size: int, **overrides) -> ModelConfig:
    """A `ModelConfig` from a named preset; `overrides` that are not None replace preset values.

    Raises:
        ValueError: unknown preset name or invalid values.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    values = dataclasses.asdict(PRESETS[name])
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ModelConfig(vocab_size=vocab_size, **values)


def gpu_available() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def build_model(config: ModelConfig, mixed_precision: bool = False, name: str = "melodygru") -> keras.Model:
    """The training model: int token ids `(batch, time)` -> float32 logits `(batch, time, vocab)`.

    Args:
        config: the architecture.
        mixed_precision: compute in float16 with float32 weights (GPUs); the logits layer stays
            float32 so the softmax and the loss are computed at full precision.
        name: the Keras model name.

    Only standard Keras layers are used, so the saved `.keras` file loads with `safe_mode=True`.
    """
    policy = "mixed_float16" if mixed_precision else "float32"
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    # PAD (id 0) is not masked here: padding only ever follows EOS, so it cannot influence the
    # outputs at real positions, and a mask would keep the GRU off cuDNN's fast path.
    x = keras.layers.Embedding(config.vocab_size, config.embedding_dim, dtype=policy, name="embedding")(tokens)
    for i in range(config.layers):
        if config.cell == "gru":
            # Keras defaults are exactly cuDNN's GRU: tanh, sigmoid, reset_after=True, no
            # recurrent dropout, no unroll. Do not change them or the GPU falls back to a slow loop.
            rnn = keras.layers.GRU(config.units, return_sequences=True, dtype=policy, name=f"gru_{i}")
        else:
            rnn = keras.layers.LSTM(config.units, return_sequences=True, dtype=policy, name=f"lstm_{i}")
        x = rnn(x)
        if config.dropout > 0:
            x = keras.layers.Dropout(config.dropout, dtype=policy, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(config.vocab_size, dtype="float32", name="logits")(x)
    return keras.Model(tokens, logits, name=name)


def recurrent_layers(model: keras.Model) -> list:
    """The model's GRU/LSTM layers, bottom to top."""
    return [layer for layer in model.layers if isinstance(layer, (keras.layers.GRU, keras.layers.LSTM))]


def count_params(model: keras.Model) -> int:
    return int(model.count_params())


def copy_weights(source: keras.Model, target: keras.Model, rows=None) -> int:
    """Start `target` from the weights of `source` (`train --init-from`): every layer of the same
    name and every weight of the same shape is copied. A target with a larger vocabulary takes the
    source's embedding rows and output columns for the tokens both have (`rows`: (source ids,
    target ids); default: the source's ids, at the same ids) and keeps its own fresh ones for the
    new tokens. Returns the vocabulary tokens added.

    Raises:
        ValueError: the models differ otherwise (layers, units, cell, a smaller vocabulary).
    """
    old, new = source.get_layer("embedding").input_dim, target.get_layer("embedding").input_dim
    if new < old:
        raise ValueError(f"the vocabulary shrinks from {old} to {new} tokens")
    src, dst = (np.arange(old), np.arange(old)) if rows is None else (np.asarray(rows[0]), np.asarray(rows[1]))
    names = [layer.name for layer in source.layers if layer.weights]
    if names != [layer.name for layer in target.layers if layer.weights]:
        raise ValueError("the layers differ: " + ", ".join(names) + " -> "
                         + ", ".join(layer.name for layer in target.layers if layer.weights))
    for name in names:
        for s, d in zip(source.get_layer(name).weights, target.get_layer(name).weights):
            value, shape = keras.ops.convert_to_numpy(s), tuple(d.shape)
            if value.shape == shape and old == new and rows is None:
                d.assign(value)
                continue
            fresh = keras.ops.convert_to_numpy(d).copy()
            if name == "embedding" and value.shape == (old,) + shape[1:]:
                fresh[dst] = value[src]
            elif name == "logits" and value.shape == shape[:-1] + (old,):
                fresh[..., dst] = value[..., src]
            elif value.shape == shape:
                fresh = value
            else:
                raise ValueError(f"layer {name}: weight of shape {value.shape} cannot start one of shape {shape}")
            d.assign(fresh)
    return new - old
