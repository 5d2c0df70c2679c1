"""mmteach.models: build_multimodal_model for every fusion and subset, remedies, save/load."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from mmteach import models as M  # noqa: E402

VOCAB = 20
N = 16


def data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {
        "image": rng.random((n, 32, 32, 3)).astype("float32"),
        "text": rng.integers(0, VOCAB, size=(n, 6)).astype("int32"),
        "audio": rng.normal(size=(n, 5, 65)).astype("float32"),
    }
    return inputs, rng.integers(0, 9, size=n)


CONFIGS = [
    {"fusion": "parallel"},
    {"fusion": "sequential", "order": ("audio", "image", "text")},
    {"fusion": "weighted", "weighted_mode": "fixed", "weights": [0.2, 0.3, 0.5]},
    {"fusion": "weighted", "weighted_mode": "learned"},
    {"fusion": "weighted", "weighted_mode": "gated"},
    {"fusion": "inject"},
]


@pytest.mark.slow  # trains models: the full lane only
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c["fusion"] + c.get("weighted_mode", ""))
def test_every_fusion_fits_predicts_and_survives_save_load(config, tmp_path):
    inputs, labels = data()
    model = M.build_multimodal_model(vocab_size=VOCAB, width=8, filters=4, aux_weight=0.5,
                                     modality_dropout={"text": 0.3}, **config)  # fmt: skip
    assert model.get_layer("label").output.shape == (None, 9)
    assert model.get_layer("fusion") is not None
    history = model.fit(inputs, labels, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    probs = model.predict(inputs, verbose=0)
    assert probs.shape == (N, 9)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    loss, acc = model.evaluate(inputs, labels, verbose=0)
    assert 0 <= acc <= 1
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), probs, rtol=1e-5, atol=1e-6)
    assert loaded.aux_weight == model.aux_weight


@pytest.mark.slow  # trains models: the full lane only
@pytest.mark.parametrize("mods", [("image",), ("text",), ("audio",), ("image", "audio"), ("text", "audio")])
def test_any_subset_of_modalities(mods):
    inputs, labels = data()
    model = M.build_multimodal_model(mods, fusion="weighted", vocab_size=VOCAB, width=8, filters=4)
    assert sorted(model.modalities) == sorted(mods)
    model.fit({m: inputs[m] for m in mods}, labels, epochs=1, verbose=0)
    assert model.predict({m: inputs[m] for m in mods}, verbose=0).shape == (N, 9)


def test_layer_names_are_explicit():
    model = M.build_multimodal_model(vocab_size=VOCAB, width=8, filters=4, aux_weight=0.5,
                                     modality_dropout={"text": 0.3}, name="demo")  # fmt: skip
    names = {layer.name for layer in model.layers}
    assert model.name == "demo"
    for name in ("image", "text", "audio", "image_conv1", "text_rnn", "audio_rnn", "fusion",
                 "head_hidden", "label", "image_aux", "text_aux", "audio_aux", "text_dropout"):  # fmt: skip
        assert name in names, name


def test_aux_heads_add_to_the_training_loss_only():
    inputs, labels = data()
    plain = M.build_multimodal_model(vocab_size=VOCAB, width=8, filters=4)
    aux = M.build_multimodal_model(vocab_size=VOCAB, width=8, filters=4, aux_weight=1.0)
    y_pred = aux(inputs, training=False)
    assert isinstance(y_pred, (list, tuple)) and len(y_pred) == 4
    train_loss = float(aux.compute_loss(inputs, labels, y_pred, training=True))
    eval_loss = float(aux.compute_loss(inputs, labels, y_pred, training=False))
    extra = sum(float(np.mean(keras.losses.sparse_categorical_crossentropy(labels, p))) for p in y_pred[1:])
    assert train_loss == pytest.approx(eval_loss + extra, rel=1e-4)
    assert plain.aux_weight == 0.0


def test_modality_dropout_only_in_training():
    layer = M.ModalityDropout(0.5, seed=0)
    x = np.ones((400, 3), "float32")
    np.testing.assert_array_equal(layer(x, training=False), x)
    out = np.asarray(layer(x, training=True))
    rows_zero = (out == 0).all(axis=1)
    assert 0.35 < rows_zero.mean() < 0.65
    assert ((out == 1).all(axis=1) | rows_zero).all()  # whole rows, no rescaling
    with pytest.raises(ValueError, match="rate"):
        M.ModalityDropout(1.0)


@pytest.mark.slow  # trains models: the full lane only
def test_pool_encoders_option():
    inputs, labels = data()
    model = M.build_multimodal_model(vocab_size=VOCAB, width=8, filters=4, rnn="pool", aux_weight=0.5,
                                     modality_dropout={"text": 0.3})  # fmt: skip
    assert not any(isinstance(layer, keras.layers.RNN) for layer in model.layers)
    assert model.get_layer("text_pool") is not None and model.get_layer("audio_pool") is not None
    history = model.fit(inputs, labels, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    text = M.build_multimodal_model(("text",), vocab_size=VOCAB, width=8, rnn="pool")
    feats = M.modality_encoder(text, "text").predict(np.zeros((3, 6), "int32"), verbose=0)
    np.testing.assert_allclose(feats, 0.0)  # an empty caption still gives zero features
    with pytest.raises(ValueError, match="rnn"):
        M.build_multimodal_model(vocab_size=VOCAB, rnn="transformer")


def test_empty_caption_gives_zero_text_features():
    inputs, _ = data()
    model = M.build_multimodal_model(("text",), vocab_size=VOCAB, width=8)
    enc = M.modality_encoder(model, "text")
    feats = enc.predict(np.zeros((3, 6), "int32"), verbose=0)
    np.testing.assert_allclose(feats, 0.0)


@pytest.mark.slow  # trains models: the full lane only
def test_feature_inputs_and_encoder_reuse():
    inputs, labels = data()
    uni = {m: M.build_multimodal_model((m,), vocab_size=VOCAB, width=8, filters=4) for m in M.MODALITIES}
    encoders = {m: M.modality_encoder(uni[m], m) for m in M.MODALITIES}
    feats = M.extract_features(encoders, inputs)
    assert {k: v.shape for k, v in feats.items()} == {m: (N, 8) for m in M.MODALITIES}
    head = M.build_multimodal_model(encoders="features", width=8, fusion="sequential")
    head.fit(feats, labels, epochs=1, verbose=0)
    for enc in encoders.values():
        enc.trainable = False
    full = M.build_multimodal_model(encoders=encoders, width=8, fusion="parallel")
    before = [w.copy() for w in encoders["image"].get_weights()]
    full.fit(inputs, labels, epochs=1, verbose=0)
    for a, b in zip(before, encoders["image"].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert M.count_params(full) < M.count_params(uni["image"]) + 2000


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"modalities": ()}, "at least one"),
        ({"modalities": ("image", "smell")}, "modalities"),
        ({"modalities": ("image", "image")}, "distinct"),
        ({"fusion": "early"}, "fusion"),
        ({"fusion": "weighted", "weighted_mode": "average"}, "weighted_mode"),
        ({"fusion": "weighted", "weighted_mode": "fixed", "weights": [0.5, 0.6, 0.1]}, "sum"),
        ({"fusion": "weighted", "weighted_mode": "fixed", "weights": [0.5, 0.5]}, "one per modality"),
        ({"fusion": "parallel", "weights": [0.5, 0.5, 0.0]}, "weights"),
        ({"modalities": ("image", "audio"), "fusion": "inject"}, "text"),
        ({"vocab_size": None}, "vocab_size"),
        ({"aux_weight": -1}, "aux_weight"),
        ({"modality_dropout": {"smell": 0.3}}, "modality_dropout"),
        ({"fusion": "sequential", "order": ("image", "text")}, "order"),
        ({"encoders": "pretrained"}, "encoders"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        M.build_multimodal_model(**{"vocab_size": VOCAB, "width": 8, "filters": 4, **kwargs})


def test_modality_encoder_rejects_unknown_modality():
    model = M.build_multimodal_model(("audio",), width=8)
    with pytest.raises(ValueError, match="'image' input"):
        M.modality_encoder(model, "image")
    with pytest.raises(ValueError, match="modality"):
        M.modality_encoder(model, "smell")


def test_corrupt_missing_and_robustness_auc():
    inputs, _ = data()
    same = M.corrupt(inputs, "image", 0.0)
    np.testing.assert_array_equal(same["image"], inputs["image"])
    noisy = M.corrupt(inputs, "audio", 0.5, seed=1)
    assert 0.8 < np.std(noisy["audio"] - inputs["audio"]) < 1.2
    np.testing.assert_array_equal(noisy["image"], inputs["image"])  # other modalities untouched
    words = M.corrupt(inputs, "text", 1.0)["text"]
    assert set(np.unique(words)) <= {0, 1} and ((words == 0) == (inputs["text"] == 0)).all()
    blank = M.missing(inputs, "text")
    assert not blank["text"].any() and blank["image"] is inputs["image"]
    assert M.robustness_auc([0, 0.5, 1], [1.0, 0.5, 0.0]) == pytest.approx(0.5)
    assert M.robustness_auc([0, 0.25, 1], [1, 1, 1]) == pytest.approx(1.0)
    for call, match in [
        (lambda: M.corrupt(inputs, "smell", 0.5), "modality"),
        (lambda: M.corrupt(inputs, "image", 1.5), "level"),
        (lambda: M.missing(inputs, "smell"), "modality"),
        (lambda: M.robustness_auc([0, 1], [1.0]), "accuracies"),
        (lambda: M.robustness_auc([1, 0], [1.0, 0.5]), "increasing"),
    ]:
        with pytest.raises(ValueError, match=match):
            call()


def test_compile_classifier_trains_to_the_same_weights_as_a_plain_compile():
    """The optimizer state built at compile time changes the tracing, not the numbers."""
    import keras

    from mmteach.features import compile_classifier

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 5)).astype("float32"), rng.integers(0, 3, 64)

    def trained(prebuilt):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((5,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)]
        )
        if prebuilt:
            compile_classifier(model, 1e-2)
            assert model.optimizer.built
        else:
            model.compile(
                keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"]
            )
        history = model.fit(x, y, epochs=2, batch_size=16, verbose=0).history
        return model.get_weights(), history

    (w_a, h_a), (w_b, h_b) = trained(False), trained(True)
    assert all(np.array_equal(a, b) for a, b in zip(w_a, w_b, strict=True))
    assert h_a["loss"] == h_b["loss"] and h_a["accuracy"] == h_b["accuracy"]
