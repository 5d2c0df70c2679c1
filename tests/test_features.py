"""Tests for mmteach.features: numpy references, encoders, saving, masking, validation."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from mmteach import features as F


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


# --------------------------------------------------------------------------- conv2d


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_matches_tensorflow(padding):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 7, 3)).astype(np.float32)
    k = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
    expected = tf.nn.conv2d(x, k, strides=1, padding=padding.upper()).numpy()
    np.testing.assert_allclose(F.conv2d(x, k, padding=padding), expected, atol=1e-4)


def test_conv2d_single_channel_by_hand():
    image = np.arange(16.0).reshape(4, 4)
    out = F.conv2d(image, F.EDGE_KERNELS["sobel_x"])
    assert out.shape == (2, 2)
    # a horizontal ramp of slope 1: sobel_x gives 1*2 + 2*2 + 1*2 = 8 everywhere
    np.testing.assert_allclose(out, 8.0)
    assert np.allclose(F.conv2d(image, F.EDGE_KERNELS["sobel_y"]), 32.0)


@pytest.mark.parametrize(
    ("images", "kernels", "kwargs", "match"),
    [
        (np.zeros((4, 4)), np.zeros((3, 3)), {"padding": "full"}, "padding"),
        (np.zeros((4,)), np.zeros((3, 3)), {}, "images"),
        (np.zeros((4, 4)), np.zeros((1, 3, 3, 1)), {}, "kernels"),
        (np.zeros((1, 4, 4, 2)), np.zeros((3, 3, 3, 1)), {}, "channels"),
        (np.zeros((2, 2)), np.zeros((3, 3)), {}, "larger"),
        (np.zeros((4, 4)), np.zeros((2, 2)), {"padding": "same"}, "odd"),
        (np.full((4, 4), np.nan), np.zeros((3, 3)), {}, "finite"),
        (np.zeros((0, 4)), np.zeros((3, 3)), {}, "non-empty"),
    ],
)
def test_conv2d_rejects_bad_input(images, kernels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        F.conv2d(images, kernels, **kwargs)


def test_conv2d_rejects_strings():
    with pytest.raises(TypeError, match="images"):
        F.conv2d(np.array([["a", "b"], ["c", "d"]]), np.ones((1, 1)))


# --------------------------------------------------------------------------- rnn references


def test_rnn_step_matches_keras_simple_rnn():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 5, 4)).astype(np.float32)
    layer = keras.layers.SimpleRNN(6, return_sequences=True)
    expected = np.asarray(layer(x))
    kernel, recurrent, bias = (w.numpy() for w in layer.weights)
    h = np.zeros((3, 6))
    for t in range(5):
        h = F.rnn_step(x[:, t], h, kernel, recurrent, bias)
        np.testing.assert_allclose(h, expected[:, t], atol=1e-5)


def test_rnn_step_rejects_bad_shapes():
    with pytest.raises(ValueError, match="kernel"):
        F.rnn_step(np.ones((1, 2)), np.zeros((1, 3)), np.ones((3, 3)), np.ones((3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="bias"):
        F.rnn_step(np.ones((1, 2)), np.zeros((1, 3)), np.ones((2, 3)), np.ones((3, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="h"):
        F.rnn_step(np.ones((1, 2)), np.zeros((2, 3)), np.ones((2, 3)), np.ones((3, 3)), np.zeros(3))


@pytest.mark.parametrize("kind", F.RNN_KINDS)
@pytest.mark.parametrize(("input_dim", "units"), [(1, 1), (8, 4), (32, 16)])
def test_rnn_parameter_count_matches_keras(kind, input_dim, units):
    layer = F._rnn_layer(kind, units, "r")
    layer.build((None, 5, input_dim))
    assert F.rnn_parameter_count(kind, input_dim, units) == layer.count_params()


def test_rnn_parameter_count_rejects_bad_args():
    with pytest.raises(ValueError, match="kind"):
        F.rnn_parameter_count("transformer", 4, 4)
    with pytest.raises(ValueError, match="units"):
        F.rnn_parameter_count("gru", 4, 0)
    with pytest.raises(TypeError, match="input_dim"):
        F.rnn_parameter_count("gru", 2.5, 4)


# --------------------------------------------------------------------------- encoders


def test_image_encoder_shapes_and_names():
    enc = F.image_encoder(width=12, filters=4)
    assert enc.output_shape == (None, 12)
    assert enc.input_shape == (None, 32, 32, 3)
    names = [layer.name for layer in enc.layers]
    assert {"image_standardize", "image_conv1", "image_conv3", "image_features"} <= set(names)
    maps = F.feature_maps(enc, np.zeros((2, 32, 32, 3), np.float32), "image_conv1")
    assert maps.shape == (2, 32, 32, 4)
    enc_grey = F.image_encoder(width=5, input_shape=(8, 8, 1))
    assert enc_grey.predict(np.zeros((3, 8, 8, 1), np.float32), verbose=0).shape == (3, 5)


@pytest.mark.parametrize("kind", F.SEQUENCE_KINDS)
def test_text_and_audio_encoder_shapes(kind):
    text = F.text_encoder(vocab_size=20, width=7, embed_dim=5, rnn=kind)
    assert text.output_shape == (None, 7)
    assert text.predict(np.ones((2, 9), np.int32), verbose=0).shape == (2, 7)
    audio = F.audio_encoder(width=6, frames=30, rnn=kind)
    assert audio.output_shape == (None, 6)
    assert audio.input_shape == (None, 30, 65)


def test_sequence_pooling_by_hand():
    x = np.arange(12, dtype=np.float32).reshape(1, 4, 3)
    mask = np.array([[True, True, False, False]])
    mean = np.asarray(F.SequencePooling()(x, mask=mask))
    np.testing.assert_allclose(mean, x[:, :2].mean(axis=1))
    both = np.asarray(F.SequencePooling(with_max=True)(x, mask=mask))
    np.testing.assert_allclose(both, np.concatenate([x[:, :2].mean(axis=1), x[:, 1]], axis=1))
    np.testing.assert_allclose(np.asarray(F.SequencePooling()(x)), x.mean(axis=1))
    empty = np.asarray(F.SequencePooling(with_max=True)(x, mask=np.zeros((1, 4), bool)))
    np.testing.assert_array_equal(empty, 0.0)  # no NaN from 0 / 0
    with pytest.raises(TypeError, match="with_max"):
        F.SequencePooling(with_max="yes")


def test_pool_encoders_have_no_recurrent_layer(tmp_path):
    text = F.text_encoder(vocab_size=20, width=6, rnn="pool")
    audio = F.audio_encoder(width=5, rnn="pool")
    for enc in (text, audio):
        assert not any(isinstance(layer, keras.layers.RNN) for layer in enc.layers)
    assert audio.predict(np.ones((2, 30, 65), np.float32), verbose=0).shape == (2, 5)
    model = F.classifier(audio, n_classes=3)
    x = _sample_inputs("audio")
    model.fit(x, np.array([0, 1, 2, 0]), epochs=1, verbose=0)
    model.save(tmp_path / "pool.keras")
    loaded = keras.models.load_model(tmp_path / "pool.keras")
    assert isinstance(loaded.get_layer("audio_pool"), F.SequencePooling)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_encoder_for_dispatches():
    assert F.encoder_for("image", width=4).output_shape == (None, 4)
    assert F.encoder_for("text", width=5, vocab_size=10).name == "text_encoder"
    assert F.encoder_for("audio", width=6, rnn="lstm").get_layer("audio_rnn").__class__.__name__ == "LSTM"


@pytest.mark.parametrize(
    ("factory", "kwargs", "error", "match"),
    [
        (F.image_encoder, {"width": 0}, ValueError, "width"),
        (F.image_encoder, {"width": True}, TypeError, "width"),
        (F.image_encoder, {"filters": 2.0}, TypeError, "filters"),
        (F.image_encoder, {"input_shape": (32, 32)}, ValueError, "input_shape"),
        (F.image_encoder, {"input_shape": (4, 4, 3)}, ValueError, "input_shape"),
        (F.image_encoder, {"name": ""}, ValueError, "name"),
        (F.text_encoder, {"vocab_size": 1}, ValueError, "vocab_size"),
        (F.text_encoder, {"vocab_size": 10, "rnn": "transformer"}, ValueError, "rnn"),
        (F.audio_encoder, {"rnn": "mean"}, ValueError, "rnn"),
        (F.text_encoder, {"vocab_size": 10, "embed_dim": -1}, ValueError, "embed_dim"),
        (F.text_encoder, {"vocab_size": 10, "sequence_length": 0}, ValueError, "sequence_length"),
        (F.audio_encoder, {"bins": 0}, ValueError, "bins"),
        (F.audio_encoder, {"frames": "30"}, TypeError, "frames"),
        (F.encoder_for, {"modality": "smell"}, ValueError, "modality"),
        (F.encoder_for, {"modality": 3}, TypeError, "modality"),
        (F.encoder_for, {"modality": "text"}, ValueError, "vocab_size"),
    ],
)
def test_encoders_reject_bad_args(factory, kwargs, error, match):
    with pytest.raises(error, match=match):
        factory(**kwargs)


def test_per_image_standardization():
    x = np.random.default_rng(0).uniform(size=(3, 8, 8, 3)).astype(np.float32) * 0.2 + 0.5
    y = np.asarray(F.PerImageStandardization()(x))
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(1, 2, 3)), 1.0, atol=0.02)
    # brightness shifts do not change the output
    np.testing.assert_allclose(np.asarray(F.PerImageStandardization()(x + 0.3)), y, atol=1e-4)
    with pytest.raises(ValueError, match="epsilon"):
        F.PerImageStandardization(epsilon=0)
    with pytest.raises(ValueError, match="inputs"):
        F.PerImageStandardization()(np.zeros((2, 8, 8), np.float32))


def _sample_inputs(modality):
    rng = np.random.default_rng(0)
    if modality == "image":
        return rng.uniform(size=(4, 32, 32, 3)).astype(np.float32)
    if modality == "text":
        return rng.integers(0, 20, size=(4, 10)).astype(np.int32)
    return rng.normal(size=(4, 30, 65)).astype(np.float32)


@pytest.mark.parametrize("modality", F.MODALITIES)
def test_encoders_save_and_load_identically(modality, tmp_path):
    enc = F.encoder_for(modality, width=8, vocab_size=20)
    model = F.classifier(enc, n_classes=3)
    x = _sample_inputs(modality)
    y = np.array([0, 1, 2, 0])
    model.fit(x, y, epochs=1, verbose=0)  # non-initial weights
    path = tmp_path / f"{modality}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    if modality == "image":
        assert isinstance(loaded.get_layer("image_standardize"), F.PerImageStandardization)


@pytest.mark.parametrize("kind", F.SEQUENCE_KINDS)
def test_fully_padded_caption_gives_zero_features(kind):
    enc = F.text_encoder(vocab_size=20, width=6, rnn=kind)
    out = enc.predict(np.zeros((2, 8), np.int32), verbose=0)
    np.testing.assert_array_equal(out, 0.0)
    assert np.abs(enc.predict(np.full((1, 8), 3, np.int32), verbose=0)).sum() > 0


@pytest.mark.parametrize("kind", F.SEQUENCE_KINDS)
def test_masking_ignores_extra_padding(kind):
    enc = F.text_encoder(vocab_size=20, width=6, rnn=kind)
    ids = np.array([[4, 7, 2, 0, 0], [5, 0, 0, 0, 0]], np.int32)
    padded = np.pad(ids, ((0, 0), (0, 6)))
    np.testing.assert_allclose(enc.predict(padded, verbose=0), enc.predict(ids, verbose=0), atol=1e-6)
    # ...but a real token in place of padding does change it (the test can fail)
    changed = ids.copy()
    changed[1, 1] = 9
    assert not np.allclose(enc.predict(changed, verbose=0)[1], enc.predict(ids, verbose=0)[1])


def test_classifier_and_feature_maps_validate():
    enc = F.image_encoder(width=4, filters=2)
    with pytest.raises(TypeError, match="encoder"):
        F.classifier("not a model", 3)
    with pytest.raises(ValueError, match="n_classes"):
        F.classifier(enc, 1)
    with pytest.raises(ValueError, match="learning_rate"):
        F.classifier(enc, 3, learning_rate=0)
    model = F.classifier(enc, 9)
    assert model.output_shape == (None, 9)
    assert model.get_layer("image_encoder_head").units == 9
    with pytest.raises(ValueError, match="layer"):
        F.feature_maps(enc, np.zeros((1, 32, 32, 3), np.float32), "conv99")
    with pytest.raises(TypeError, match="model"):
        F.feature_maps(None, np.zeros((1, 32, 32, 3)), "image_conv1")


# --------------------------------------------------------------------------- exercise checks


def _conv_loop(image, kernel):
    kh, kw = kernel.shape
    out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i : i + kh, j : j + kw] * kernel)
    return out


def _masked_rnn(x, mask, kernel, recurrent, bias):
    h = np.zeros((x.shape[0], recurrent.shape[0]))
    for t in range(x.shape[1]):
        new = np.tanh(x[:, t] @ kernel + h @ recurrent + bias)
        h = np.where(mask[:, t : t + 1] == 1, new, h)
    return h


def test_exercise_checks_pass_right_and_fail_wrong(capsys):
    from mmteach import exercises as ex

    ex.check_conv2d_single(_conv_loop)
    ex.check_conv_parameters(3 * 3 * 16 * 32 + 32)
    ex.check_masked_rnn(_masked_rnn)
    ex.check_lstm_parameters(4 * (64 * (32 + 64) + 64))
    assert capsys.readouterr().out.count("correct") == 4

    with pytest.raises(AssertionError, match="conv2d"):
        ex.check_conv2d_single(lambda im, k: _conv_loop(im, k[::-1, ::-1]))  # flipped kernel
    with pytest.raises(AssertionError, match="raised"):
        ex.check_conv2d_single(lambda im, k: 1 / 0)
    with pytest.raises(AssertionError, match="Conv2D"):
        ex.check_conv_parameters(3 * 3 * 16 * 32)  # forgot the biases
    with pytest.raises(AssertionError, match="masked RNN"):
        ex.check_masked_rnn(lambda x, m, k, r, b: _masked_rnn(x, np.ones_like(m), k, r, b))  # ignores mask
    with pytest.raises(AssertionError, match="LSTM"):
        ex.check_lstm_parameters(64 * (32 + 64) + 64)  # one gate only


# --------------------------------------------------------------------------- properties


@settings(max_examples=30, deadline=None)
@given(
    h=st.integers(3, 9),
    w=st.integers(3, 9),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_conv2d_equals_the_loop_and_is_linear(h, w, kh, kw, seed):
    rng = np.random.default_rng(seed)
    image, k1, k2 = rng.normal(size=(h, w)), rng.normal(size=(kh, kw)), rng.normal(size=(kh, kw))
    np.testing.assert_allclose(F.conv2d(image, k1), _conv_loop(image, k1), atol=1e-9)
    np.testing.assert_allclose(
        F.conv2d(image, 2 * k1 + k2), 2 * F.conv2d(image, k1) + F.conv2d(image, k2), atol=1e-9
    )


@settings(max_examples=50, deadline=None)
@given(kind=st.sampled_from(F.RNN_KINDS), input_dim=st.integers(1, 64), units=st.integers(1, 64))
def test_rnn_parameter_count_grows_with_units(kind, input_dim, units):
    count = F.rnn_parameter_count(kind, input_dim, units)
    assert count < F.rnn_parameter_count(kind, input_dim, units + 1)
    assert count < F.rnn_parameter_count(kind, input_dim + 1, units)
    assert count % units == 0  # every block has one column per unit
