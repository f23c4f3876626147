"""The Keras model: config round trip, presets, cuDNN-compatible layers, safe loading, the fused CPU GRU
and the loaders that never run code stored in a model file (the decoder's step: test_sampling)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from melodygru.model.network import (
    PRESETS,
    ModelConfig,
    build_model,
    model_config_from_preset,
    recurrent_layers,
)


def test_config_round_trips_and_validates():
    config = ModelConfig(vocab_size=100, layers=3, units=32, embedding_dim=8, dropout=0.1, cell="lstm")
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="dropout"):
        ModelConfig(vocab_size=100, dropout=1.0)
    with pytest.raises(ValueError, match="cell"):
        ModelConfig(vocab_size=100, cell="rnn")
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({"vocab_size": 10, "heads": 4})


def test_presets_and_overrides():
    assert set(PRESETS) == {"tiny", "small", "medium", "large"}
    medium = model_config_from_preset("medium", 300)
    assert (medium.layers, medium.units, medium.embedding_dim) == (3, 512, 256)  # the benchmark shape
    sizes = [model_config_from_preset(name, 300).units for name in ("tiny", "small", "medium", "large")]
    assert sizes == sorted(sizes)
    tweaked = model_config_from_preset("small", 300, units=64, dropout=None)
    assert tweaked.units == 64 and tweaked.dropout == PRESETS["small"].dropout
    with pytest.raises(ValueError, match="preset"):
        model_config_from_preset("huge", 300)


def test_gru_layers_keep_cudnn_settings():
    model = build_model(ModelConfig(vocab_size=50, layers=3, units=16, embedding_dim=8, dropout=0.2))
    grus = recurrent_layers(model)
    assert len(grus) == 3
    for layer in grus:
        c = layer.get_config()
        assert c["activation"] == "tanh" and c["recurrent_activation"] == "sigmoid"
        assert c["reset_after"] and c["use_bias"] and not c["unroll"]
        assert c["recurrent_dropout"] == 0 and c["dropout"] == 0  # dropout lives in layers between
    assert [l.name for l in model.layers if isinstance(l, keras.layers.Dropout)] == ["dropout_0", "dropout_1", "dropout_2"]


def test_forward_shapes_and_safe_loading(tmp_path):
    config = ModelConfig(vocab_size=40, layers=2, units=12, embedding_dim=6, dropout=0.3)
    model = build_model(config)
    x = np.random.default_rng(0).integers(0, 40, size=(2, 9)).astype("int32")
    logits = model(x, training=False)
    assert tuple(logits.shape) == (2, 9, 40) and logits.dtype == "float32"
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_allclose(loaded(x, training=False), logits, atol=1e-6)


def test_mixed_precision_keeps_logits_float32():
    model = build_model(ModelConfig(vocab_size=30, layers=1, units=8, embedding_dim=4), mixed_precision=True)
    assert recurrent_layers(model)[0].compute_dtype == "float16"
    assert model.get_layer("logits").compute_dtype == "float32"
    assert all(v.dtype == "float32" for v in model.trainable_weights)


# ---------------------------------------------------------------- the fused CPU training path
def _loss_and_grads(model, forward, x, y):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        logits = forward(x)
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    return np.asarray(logits), [np.asarray(tf.convert_to_tensor(g)) for g in tape.gradient(loss, model.trainable_variables)]


def test_fused_cpu_gru_computes_the_keras_model_and_its_gradients():
    from melodygru.model.gru_cpu import fused_forward, supports

    model = build_model(ModelConfig(vocab_size=40, layers=3, units=12, embedding_dim=6, dropout=0.0))
    assert supports(model)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 40, size=(3, 11)).astype("int32")
    y = rng.integers(0, 40, size=(3, 11)).astype("int32")
    want_logits, want_grads = _loss_and_grads(model, lambda t: model(t, training=True), x, y)
    got_logits, got_grads = _loss_and_grads(model, lambda t: fused_forward(model, t, training=True), x, y)
    np.testing.assert_allclose(got_logits, want_logits, atol=1e-5)
    assert len(got_grads) == len(want_grads) == len(model.trainable_variables)
    for got, want, var in zip(got_grads, want_grads, model.trainable_variables):
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=var.path)


def test_fused_cpu_gru_applies_dropout_only_in_training():
    from melodygru.model.gru_cpu import fused_forward

    model = build_model(ModelConfig(vocab_size=30, layers=2, units=8, embedding_dim=4, dropout=0.5))
    x = np.random.default_rng(1).integers(0, 30, size=(2, 7)).astype("int32")
    np.testing.assert_allclose(np.asarray(fused_forward(model, x)), np.asarray(model(x, training=False)), atol=1e-5)
    assert not np.allclose(np.asarray(fused_forward(model, x, training=True)), np.asarray(model(x, training=False)))


def test_fused_cpu_gru_declines_what_it_does_not_implement():
    from melodygru.model.gru_cpu import supports

    assert not supports(build_model(ModelConfig(vocab_size=30, layers=1, units=8, embedding_dim=4, cell="lstm")))
    assert not supports(build_model(ModelConfig(vocab_size=30, layers=1, units=8, embedding_dim=4), mixed_precision=True))


def test_a_model_file_carrying_code_is_never_run_by_any_loader(tmp_path):
    """A .keras file can carry Python code (a Lambda layer). Sampling rebuilds the model from
    config.json and reads only weights from model.keras, and evaluate uses the same weights-only
    loader. Neither runs the code, which keras without safe mode would (the control at the end)."""
    import json

    from melodygru.core.errors import CheckpointError
    from melodygru.evaluation.likelihood import _load_model
    from melodygru.model import rundir as rd
    from melodygru.tokens.tokenizer import Tokenizer

    marker = tmp_path / "the-code-ran"
    touch = eval(f"lambda t: (__import__('pathlib').Path({str(marker)!r}).touch(), t)[1]")  # a self-contained payload
    tok = Tokenizer()
    config = ModelConfig(vocab_size=len(tok), layers=1, units=8, embedding_dim=4, dropout=0.0)
    honest = build_model(config)
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = honest.get_layer("embedding")(tokens)
    x = keras.layers.Lambda(touch, name="payload")(x)
    x = honest.get_layer("gru_0")(x)
    evil = keras.Model(tokens, honest.get_layer("logits")(x), name="melodygru")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    evil.save(run_dir / rd.MODEL)
    tok.save(run_dir / rd.TOKENIZER)
    (run_dir / rd.CONFIG).write_text(json.dumps({"format": rd.RUN_FORMAT, "model": config.to_dict()}))
    marker.unlink()  # building the model above ran it once

    try:
        _load_model(run_dir, len(tok))  # evaluate's loader: the sampler's, weights only
    except CheckpointError:
        pass
    try:
        model, _, _ = rd.load_trained(run_dir)  # the sampler's loader: weights only, into melodygru's own layers
    except CheckpointError:
        pass
    else:
        assert [layer.name for layer in model.layers] == ["tokens", "embedding", "gru_0", "logits"]
        model(np.zeros((1, 3), dtype="int32"))
    assert not marker.exists()

    unsafe = keras.saving.load_model(run_dir / rd.MODEL, safe_mode=False, compile=False)  # the control
    unsafe(np.zeros((1, 3), dtype="int32"))
    assert marker.exists()
