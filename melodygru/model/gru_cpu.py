"""A faster CPU training forward pass for the model of `melodygru.model`, on the same weights.

On a GPU, `keras.layers.GRU` runs cuDNN's fused kernel. On a CPU it runs a generic `while` loop
that multiplies each step's input by the input kernel and lets autodiff accumulate the weight
gradients one time step at a time. This module computes exactly the same function (Keras' GRU,
`reset_after=True`, z|r|h gate order, zero initial state) the way cuDNN and PyTorch do instead:

* input projections for all time steps are one large matmul before the loop (for the first layer
  the embedding table is projected once, `gather(E @ W)` instead of `gather(E) @ W`);
* only `h @ recurrent_kernel` and the gate arithmetic stay inside the loop;
* the backward pass is written out (`tf.custom_gradient`): the loop only carries dh back, and the
  recurrent-kernel gradient is one large matmul over all steps afterwards.

The two time loops are compiled with XLA, which fuses each step's gate arithmetic into a few
kernels. Training the 3x512 benchmark model was ~1.8x faster than with `model(x, training=True)`
on a 2-core CPU (benchmarks/train_throughput.py, with and without --keras-gru; measured in an
earlier session, not re-measured since). The model and its saved
files are unchanged: this reads the variables of the Keras layers.
"""


from __future__ import annotations

import keras
import tensorflow as tf

from .network import recurrent_layers


def _forward_loop(projected, recurrent_kernel, recurrent_bias):
    """The time loop of the forward pass; returns the states and what the backward pass needs."""
    steps = tf.shape(projected)[0]
    batch = tf.shape(projected)[1]
    units = tf.shape(recurrent_kernel)[0]
    h0 = tf.zeros(tf.stack([batch, units]), projected.dtype)
    arrays = [tf.TensorArray(projected.dtype, size=steps) for _ in range(5)]

    def body(t, h, hs, zs, rs, ns, hhs):
        x = projected[t]
        m = tf.matmul(h, recurrent_kernel) + recurrent_bias
        zr = tf.sigmoid(x[:, : 2 * units] + m[:, : 2 * units])
        z, r = zr[:, :units], zr[:, units:]
        hh = m[:, 2 * units :]
        n = tf.tanh(x[:, 2 * units :] + r * hh)
        h_new = n + z * (h - n)  # = z * h + (1 - z) * n
        return t + 1, h_new, hs.write(t, h_new), zs.write(t, z), rs.write(t, r), ns.write(t, n), hhs.write(t, hh)

    _, _, hs, zs, rs, ns, hhs = tf.while_loop(lambda t, *_: t < steps, body, [0, h0] + arrays)
    return hs.stack(), zs.stack(), rs.stack(), ns.stack(), hhs.stack()


def _backward_loop(dH, H_prev, Z, R, N, HH, recurrent_kernel):
    """The time loop of the backward pass: carries dh back, returns d(projected) and d(h @ W + b)."""
    steps = tf.shape(dH)[0]
    arrays = [tf.TensorArray(dH.dtype, size=steps) for _ in range(2)]

    def body(i, dh, dxs, dms):
        t = steps - 1 - i
        dh = dh + dH[t]
        z, r, n, hh = Z[t], R[t], N[t], HH[t]
        da_n = dh * (1.0 - z) * (1.0 - n * n)
        da_r = da_n * hh * r * (1.0 - r)
        da_z = dh * (H_prev[t] - n) * z * (1.0 - z)
        dm = tf.concat([da_z, da_r, da_n * r], axis=-1)
        dx = tf.concat([da_z, da_r, da_n], axis=-1)
        dh_prev = dh * z + tf.matmul(dm, recurrent_kernel, transpose_b=True)
        return i + 1, dh_prev, dxs.write(t, dx), dms.write(t, dm)

    _, _, dxs, dms = tf.while_loop(lambda i, *_: i < steps, body, [0, tf.zeros_like(dH[0])] + arrays)
    return dxs.stack(), dms.stack()


# Each loop is its own XLA cluster (fusing a step's gate arithmetic), while the large matmuls
# around them stay with TensorFlow's oneDNN kernels: measured faster than compiling the whole
# training step with XLA, and far faster than no XLA. (A jit-compiled function must not be called
# from another jit-compiled function: that recompiles on every call.)
_forward_loop_xla = tf.function(_forward_loop, jit_compile=True)
_backward_loop_xla = tf.function(_backward_loop, jit_compile=True)


def gru_recurrence(projected, recurrent_kernel, recurrent_bias):
    """The recurrent part of a Keras GRU layer over a whole sequence, time-major.

    Args:
        projected: `[time, batch, 3 * units]`, the inputs times the input kernel plus the input bias.
        recurrent_kernel: `[units, 3 * units]`.
        recurrent_bias: `[3 * units]`.

    Returns:
        The hidden states `[time, batch, units]`, starting from a zero state.
    """

    @tf.custom_gradient
    def run(projected, recurrent_kernel, recurrent_bias):
        # `grad` below is the whole gradient: stop_gradient keeps an eager tape from also recording
        # (and asking XLA to differentiate) the loop itself
        projected, recurrent_kernel, recurrent_bias = (
            tf.stop_gradient(t) for t in (projected, recurrent_kernel, recurrent_bias)
        )
        H, Z, R, N, HH = _forward_loop_xla(projected, recurrent_kernel, recurrent_bias)

        def grad(dH):
            H_prev = tf.concat([tf.zeros_like(H[:1]), H[:-1]], axis=0)
            dX, dM = _backward_loop_xla(dH, H_prev, Z, R, N, HH, recurrent_kernel)
            # the recurrent kernel's gradient for all steps at once: one large matmul
            return dX, tf.einsum("tbu,tbj->uj", H_prev, dM), tf.reduce_sum(dM, axis=[0, 1])

        return H, grad

    return run(projected, recurrent_kernel, recurrent_bias)


def supports(model: keras.Model) -> bool:
    """True when `fused_forward` computes `model`'s function: float32 GRU layers with Keras defaults."""
    rnns = recurrent_layers(model)
    if not rnns or not all(isinstance(layer, keras.layers.GRU) for layer in rnns):
        return False
    for layer in rnns:
        c = layer.get_config()
        if not (
            c["reset_after"] and c["use_bias"] and c["activation"] == "tanh" and c["recurrent_activation"] == "sigmoid"
            and c["dropout"] == 0 and c["recurrent_dropout"] == 0 and not c["go_backwards"]
            and layer.compute_dtype == "float32"
        ):
            return False
    return True


def fused_forward(model: keras.Model, tokens, training: bool = False):
    """`model(tokens, training=training)` computed with the fused CPU recurrence (see module doc).

    Args:
        model: a model from `melodygru.model.build_model` with GRU layers (`supports(model)`).
        tokens: int32 `[batch, time]`.
        training: apply the model's dropout layers.

    Returns:
        float32 logits `[batch, time, vocab]`.
    """
    embedding = model.get_layer("embedding").embeddings
    rnns = recurrent_layers(model)
    dropouts = {layer.name: layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)}
    head = model.get_layer("logits")
    ids = tf.transpose(tokens)  # time-major inside: each step reads one contiguous [batch, ...] slice
    h = None
    for i, layer in enumerate(rnns):
        cell = layer.cell
        kernel, bias = cell.kernel.value, cell.bias.value
        if i == 0:
            # embedding followed by a linear map: project the (small) table once, then look up
            projected = tf.gather(tf.matmul(embedding.value, kernel), ids) + bias[0]
        else:
            projected = tf.einsum("tbi,ij->tbj", h, kernel) + bias[0]
        h = gru_recurrence(projected, cell.recurrent_kernel.value, bias[1])
        drop = dropouts.get(f"dropout_{i}")
        if drop is not None:
            h = drop(h, training=training)
    logits = tf.einsum("tbu,uv->btv", h, head.kernel.value) + head.bias.value
    return logits
