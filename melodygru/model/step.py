"""The one recurrent step generation runs: the trained GRU's weights as plain arrays and a step
function (tokens, states) -> (logits, states) that matches the Keras model exactly.
"""


from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ..core.errors import CheckpointError


# --------------------------------------------------------------------------- the recurrent step
@dataclass
class StepWeights:
    """The weights a single recurrent step needs, taken from a trained Keras model.

    Attributes:
        embedding: float32 [vocab, dim].
        grus: per GRU layer (kernel [in, 3u], recurrent_kernel [u, 3u], input_bias [3u],
            recurrent_bias [3u]); gates in Keras order z, r, h, with reset_after=True.
        dense_kernel: float32 [units, vocab]; dense_bias: float32 [vocab].
    """

    embedding: np.ndarray
    grus: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    dense_kernel: np.ndarray
    dense_bias: np.ndarray

    @property
    def vocab_size(self) -> int:
        return self.embedding.shape[0]

    @property
    def units(self) -> list[int]:
        return [g[1].shape[0] for g in self.grus]

    @classmethod
    def from_model(cls, model) -> "StepWeights":
        """Read the weights of an Embedding -> GRU* -> Dense Keras model (Dropout layers are skipped).

        Raises:
            CheckpointError: the model has another shape or a GRU variant the step does not implement.
        """
        embedding, grus, dense = None, [], None
        for layer in model.layers:
            name = type(layer).__name__
            if name in ("InputLayer", "Dropout", "SpatialDropout1D", "GaussianNoise"):
                continue
            if name == "Embedding" and embedding is None and not grus:
                embedding = np.asarray(layer.embeddings.numpy(), np.float32)
            elif name == "GRU" and embedding is not None and dense is None:
                cell = layer.cell
                problems = []
                if not cell.reset_after:
                    problems.append("reset_after=False")
                if cell.activation.__name__ != "tanh" or cell.recurrent_activation.__name__ != "sigmoid":
                    problems.append("non-default activations")
                if getattr(layer, "go_backwards", False):
                    problems.append("go_backwards")
                if problems:
                    raise CheckpointError(f"GRU layer {layer.name!r} uses {', '.join(problems)}, which the decoder does not support")
                units = cell.units
                kernel = np.asarray(cell.kernel.numpy(), np.float32)
                recurrent = np.asarray(cell.recurrent_kernel.numpy(), np.float32)
                if cell.use_bias:
                    bias = np.asarray(cell.bias.numpy(), np.float32).reshape(2, 3 * units)
                else:
                    bias = np.zeros((2, 3 * units), np.float32)
                grus.append((kernel, recurrent, bias[0], bias[1]))
            elif name == "Dense" and grus and dense is None:
                activation = layer.activation.__name__
                if activation != "linear":
                    raise CheckpointError(f"output layer {layer.name!r} has activation {activation!r}; the decoder needs logits")
                kernel = np.asarray(layer.kernel.numpy(), np.float32)
                bias = np.asarray(layer.bias.numpy(), np.float32) if layer.use_bias else np.zeros(kernel.shape[1], np.float32)
                dense = (kernel, bias)
            else:
                raise CheckpointError(
                    f"model layer {layer.name!r} ({name}) is not part of Embedding -> GRU... -> Dense; cannot decode it"
                )
        if embedding is None or not grus or dense is None:
            raise CheckpointError("model is not Embedding -> GRU... -> Dense; cannot decode it")
        if dense[0].shape[1] != embedding.shape[0]:
            raise CheckpointError(
                f"model's output has {dense[0].shape[1]} classes but its embedding {embedding.shape[0]} tokens"
            )
        return cls(embedding, grus, dense[0], dense[1])


class StepFunction:
    """One recurrent step as tensor ops: (tokens [B], states) -> (logits [B, vocab], states).

    The first GRU layer's input projection is folded into the embedding (one [vocab, 3u] table
    gathered per step instead of an embedding lookup plus a matmul).
    """

    def __init__(self, weights: StepWeights):
        first_kernel, _, first_bias, _ = weights.grus[0]
        self.input_table = tf.constant(weights.embedding @ first_kernel + first_bias)
        self.layers = []
        for i, (kernel, recurrent, in_bias, rec_bias) in enumerate(weights.grus):
            k = None if i == 0 else tf.constant(kernel)
            b = None if i == 0 else tf.constant(in_bias)
            self.layers.append((k, b, tf.constant(recurrent), tf.constant(rec_bias)))
        self.dense_kernel = tf.constant(weights.dense_kernel)
        self.dense_bias = tf.constant(weights.dense_bias)
        self.units = weights.units

    def initial_states(self, batch):
        return tuple(tf.zeros([batch, u], tf.float32) for u in self.units)

    def advance(self, tokens, states):
        """The GRU states after reading `tokens`; returns (top layer output, states)."""
        x = None
        new_states = []
        for i, ((kernel, in_bias, recurrent, rec_bias), h) in enumerate(zip(self.layers, states)):
            proj = tf.gather(self.input_table, tokens) if i == 0 else tf.matmul(x, kernel) + in_bias
            inner = tf.matmul(h, recurrent) + rec_bias
            x_z, x_r, x_h = tf.split(proj, 3, axis=-1)
            r_z, r_r, r_h = tf.split(inner, 3, axis=-1)
            z = tf.sigmoid(x_z + r_z)
            r = tf.sigmoid(x_r + r_r)
            candidate = tf.tanh(x_h + r * r_h)
            h = z * h + (1.0 - z) * candidate
            new_states.append(h)
            x = h
        return x, tuple(new_states)

    def __call__(self, tokens, states):
        top, states = self.advance(tokens, states)
        return tf.matmul(top, self.dense_kernel) + self.dense_bias, states
