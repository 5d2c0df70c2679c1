"""mmteach.fusion: numpy references agree with the Keras layers; layers save/load; bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from mmteach import fusion as F  # noqa: E402

RNG = np.random.default_rng(0)
DIMS = (5, 3, 4)
BATCH = 6


def feats(dims=DIMS, batch=BATCH, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, d)).astype("float32") for d in dims]


def randomize(layer, seed=1):
    """Give every weight random values (zeros/ones initialisers would hide bugs)."""
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        w.assign(rng.normal(scale=0.7, size=w.shape).astype("float32"))


def proj_weights(layer, n):
    return (
        [layer.projections[i].kernel.numpy() for i in range(n)],
        [layer.projections[i].bias.numpy() for i in range(n)],
    )


def roundtrip(layer_factory, inputs, tmp_path):
    """Put the layer in a model, save as .keras, reload: same predictions."""
    ins = [keras.Input(shape=x.shape[1:]) for x in inputs]
    model = keras.Model(ins, layer_factory()(ins))
    for layer in model.layers:
        randomize(layer, seed=3)
    before = model.predict(inputs, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), before, rtol=1e-5, atol=1e-6)
    return loaded


# --------------------------------------------------------------------------- numpy references


def test_parallel_fusion_concatenates():
    x = feats()
    out = F.parallel_fusion(x)
    assert out.shape == (BATCH, sum(DIMS))
    np.testing.assert_allclose(out[:, 5:8], x[1])


def test_softmax_and_late_fusion():
    np.testing.assert_allclose(F.softmax(np.array([1.0, 1.0, 1.0])), [1 / 3] * 3)
    p1 = np.array([[0.8, 0.2], [0.5, 0.5]])
    p2 = np.array([[0.2, 0.8], [0.9, 0.1]])
    np.testing.assert_allclose(F.late_fusion([p1, p2]), [[0.5, 0.5], [0.7, 0.3]])
    np.testing.assert_allclose(F.late_fusion([p1, p2], weights=[1.0, 0.0]), p1)
    geo = F.late_fusion([p1, p2], mode="geometric")
    np.testing.assert_allclose(geo.sum(axis=1), 1.0)
    assert geo[1, 0] > 0.7


def test_check_fixed_weights():
    np.testing.assert_allclose(F.check_fixed_weights([0.2, 0.8], 2), [0.2, 0.8])
    for bad in ([0.5, 0.6], [-0.2, 1.2], [1.0], [np.nan, 1.0]):
        with pytest.raises(ValueError, match="weights"):
            F.check_fixed_weights(bad, 2)
    with pytest.raises(ValueError, match="weights"):
        F.check_fixed_weights(None, 2)


@pytest.mark.parametrize(
    "call",
    [
        lambda: F.parallel_fusion([]),
        lambda: F.parallel_fusion([np.ones((2, 3)), np.ones((3, 3))]),
        lambda: F.parallel_fusion([np.ones((2, 3, 1))]),
        lambda: F.weighted_fusion(feats(), [None] * 3, [None] * 3, mode="mean"),
        lambda: F.late_fusion([np.ones((2, 3)), np.ones((2, 4))]),
    ],
)
def test_references_reject_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_reference_rejects_a_single_array():
    with pytest.raises(TypeError, match="list"):
        F.parallel_fusion(np.ones((2, 3)))


# --------------------------------------------------------------------------- layer == reference


def test_parallel_layer_matches_reference():
    x = feats()
    np.testing.assert_allclose(F.ParallelFusion()(x).numpy(), F.parallel_fusion(x), rtol=1e-6)
    layer = F.ParallelFusion(units=4)
    layer(x)
    randomize(layer)
    kernels, biases = proj_weights(layer, 3)
    np.testing.assert_allclose(layer(x).numpy(), F.parallel_fusion(x, kernels, biases), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rnn", ["gru", "simple"])
@pytest.mark.parametrize("order", [None, (2, 0, 1)])
def test_sequential_layer_matches_reference(rnn, order):
    x = feats()
    layer = F.SequentialFusion(4, order=order, rnn=rnn)
    layer(x)
    randomize(layer)
    kernels, biases = proj_weights(layer, 3)
    cell = layer.rnn.cell
    ref = F.sequential_fusion(
        x, kernels, biases, cell.kernel.numpy(), cell.recurrent_kernel.numpy(), cell.bias.numpy(),
        order=order, rnn=rnn,
    )  # fmt: skip
    np.testing.assert_allclose(layer(x).numpy(), ref, rtol=1e-4, atol=1e-5)


def test_sequential_order_matters():
    x = feats()
    layer = F.SequentialFusion(4)
    layer(x)
    randomize(layer)
    cell = layer.rnn.cell
    kernels, biases = proj_weights(layer, 3)
    args = (kernels, biases, cell.kernel.numpy(), cell.recurrent_kernel.numpy(), cell.bias.numpy())
    a = F.sequential_fusion(x, *args, order=(0, 1, 2))
    b = F.sequential_fusion(x, *args, order=(2, 1, 0))
    assert np.abs(a - b).max() > 1e-2


def test_inject_layer_matches_reference_with_mask():
    rng = np.random.default_rng(4)
    vec = rng.normal(size=(BATCH, 5)).astype("float32")
    ids = rng.integers(1, 10, size=(BATCH, 7))
    ids[:, 5:] = 0  # padding
    ids[0, :] = 0  # an empty caption
    emb = keras.layers.Embedding(10, 3, mask_zero=True)
    seq = emb(ids)
    layer = F.InjectFusion(4)
    out0 = layer([vec, seq])
    randomize(layer)
    out = layer([keras.ops.convert_to_tensor(vec), seq]).numpy()
    assert out0.shape == (BATCH, 4)
    cell = layer.rnn.cell
    ref = F.inject_fusion(
        vec, emb(ids).numpy(), layer.projections[0].kernel.numpy(), layer.projections[0].bias.numpy(),
        cell.kernel.numpy(), cell.recurrent_kernel.numpy(), cell.bias.numpy(), mask=ids != 0,
    )  # fmt: skip
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["fixed", "learned", "gated"])
def test_weighted_layer_matches_reference(mode):
    x = feats()
    weights = [0.5, 0.2, 0.3] if mode == "fixed" else None
    layer = F.WeightedFusion(4, mode=mode, weights=weights)
    layer(x)
    randomize(layer)
    kernels, biases = proj_weights(layer, 3)
    kw = {"weights": weights}
    if mode == "learned":
        kw["logits"] = layer.logits.numpy()
    if mode == "gated":
        kw["gate_kernel"], kw["gate_bias"] = layer.gate.kernel.numpy(), layer.gate.bias.numpy()
    ref = F.weighted_fusion(x, kernels, biases, mode=mode, **kw)
    np.testing.assert_allclose(layer(x).numpy(), ref, rtol=1e-4, atol=1e-5)


def test_weighted_learned_weights_are_readable_and_sum_to_one():
    x = feats()
    layer = F.WeightedFusion(4, mode="learned")
    layer(x)
    np.testing.assert_allclose(layer.modality_weights(), [1 / 3] * 3)
    layer.logits.assign([2.0, 0.0, 0.0])
    w = layer.modality_weights()
    assert w.sum() == pytest.approx(1.0) and w[0] > 0.7
    fixed = F.WeightedFusion(4, mode="fixed", weights=[0.5, 0.25, 0.25])
    np.testing.assert_allclose(fixed.modality_weights(), [0.5, 0.25, 0.25])


def test_gated_weights_vary_per_sample_and_sum_to_one():
    x = feats()
    layer = F.WeightedFusion(4, mode="gated")
    layer(x)
    randomize(layer)
    g = layer.gates(x)
    assert g.shape == (BATCH, 3, 4)
    np.testing.assert_allclose(g.sum(axis=1), 1.0, rtol=1e-5)
    assert g[:, 0, 0].std() > 1e-3  # per sample
    with pytest.raises(ValueError, match="gates"):
        layer.modality_weights()


def test_late_fusion_layer_matches_reference():
    rng = np.random.default_rng(2)
    ps = [F.softmax(rng.normal(size=(BATCH, 9))).astype("float32") for _ in range(3)]
    for mode in ("mean", "geometric"):
        np.testing.assert_allclose(F.LateFusion(mode=mode)(ps).numpy(), F.late_fusion(ps, mode=mode),
                                   rtol=1e-4, atol=1e-6)  # fmt: skip
    w = [0.6, 0.2, 0.2]
    np.testing.assert_allclose(F.LateFusion(weights=w)(ps).numpy(), F.late_fusion(ps, weights=w), rtol=1e-5)


# --------------------------------------------------------------------------- save / load


@pytest.mark.parametrize(
    "factory",
    [
        lambda: F.ParallelFusion(name="fusion"),
        lambda: F.ParallelFusion(units=3, name="fusion"),
        lambda: F.SequentialFusion(4, order=(1, 2, 0), name="fusion"),
        lambda: F.SequentialFusion(4, rnn="simple", name="fusion"),
        lambda: F.WeightedFusion(4, mode="fixed", weights=[0.2, 0.3, 0.5], name="fusion"),
        lambda: F.WeightedFusion(4, mode="learned", name="fusion"),
        lambda: F.WeightedFusion(4, mode="gated", name="fusion"),
        lambda: F.LateFusion(mode="geometric", name="fusion"),
    ],
)
def test_layers_survive_save_and_load(factory, tmp_path):
    x = feats(dims=(3, 3, 3)) if "Late" in type(factory()).__name__ else feats()
    if "Late" in type(factory()).__name__:
        x = [F.softmax(v).astype("float32") for v in x]
    loaded = roundtrip(factory, x, tmp_path)
    config = loaded.get_layer("fusion").get_config()
    assert config == factory().get_config() | {"name": "fusion"} or config["name"] == "fusion"
    original = factory().get_config()
    for key in ("units", "mode", "order", "rnn", "weights"):
        if key in original:
            assert config[key] == original[key]


def test_inject_layer_survives_save_and_load(tmp_path):
    vec_in = keras.Input(shape=(5,))
    ids_in = keras.Input(shape=(6,), dtype="int32")
    seq = keras.layers.Embedding(10, 3, mask_zero=True)(ids_in)
    model = keras.Model([vec_in, ids_in], F.InjectFusion(4, name="fusion")([vec_in, seq]))
    for layer in model.layers:
        randomize(layer, 5)
    ids = np.random.default_rng(0).integers(0, 10, size=(4, 6))
    vec = np.random.default_rng(1).normal(size=(4, 5)).astype("float32")
    before = model.predict([vec, ids], verbose=0)
    model.save(tmp_path / "inject.keras")
    loaded = keras.models.load_model(tmp_path / "inject.keras")
    np.testing.assert_allclose(loaded.predict([vec, ids], verbose=0), before, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- bad input


LAYERS = [
    lambda: F.ParallelFusion(),
    lambda: F.SequentialFusion(4),
    lambda: F.WeightedFusion(4, mode="learned"),
    lambda: F.WeightedFusion(4, mode="gated"),
    lambda: F.WeightedFusion(4, mode="fixed", weights=[0.5, 0.5]),
    lambda: F.LateFusion(),
]


@pytest.mark.parametrize("factory", LAYERS)
def test_layers_reject_different_batch_sizes(factory):
    with pytest.raises(ValueError, match="batch size"):
        factory()([np.ones((2, 3), "float32"), np.ones((3, 3), "float32")])


@pytest.mark.parametrize("factory", LAYERS)
def test_layers_reject_wrong_rank(factory):
    with pytest.raises(ValueError, match="rank 2"):
        factory()([np.ones((2, 3), "float32"), np.ones((2, 3, 1), "float32")])


@pytest.mark.parametrize("factory", LAYERS)
def test_layers_reject_zero_modalities(factory):
    with pytest.raises(ValueError, match="at least one modality"):
        factory()([])


@pytest.mark.parametrize("factory", LAYERS)
def test_layers_reject_a_single_tensor(factory):
    with pytest.raises(ValueError, match="list"):
        factory()(np.ones((2, 3), "float32"))


def test_layer_rejects_other_modality_count_after_build():
    layer = F.SequentialFusion(4)
    layer(feats())
    with pytest.raises(ValueError, match="3 modalities"):
        layer(feats(dims=(5, 3)))


def test_inject_rejects_bad_input():
    layer = F.InjectFusion(4)
    with pytest.raises(ValueError, match="sequence"):
        layer([np.ones((2, 3), "float32")])
    with pytest.raises(ValueError, match="rank"):
        layer([np.ones((2, 3), "float32"), np.ones((2, 3), "float32")])
    with pytest.raises(ValueError, match="batch"):
        layer([np.ones((2, 3), "float32"), np.ones((3, 4, 3), "float32")])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "average"}, "mode"),
        ({"mode": "fixed"}, "weights"),
        ({"mode": "fixed", "weights": [0.5, 0.6]}, "sum"),
        ({"mode": "fixed", "weights": [1.5, -0.5]}, "non-negative"),
        ({"mode": "learned", "weights": [0.5, 0.5]}, "only used"),
        ({"units": 0}, "units"),
    ],
)
def test_weighted_rejects_bad_configuration(kwargs, match):
    with pytest.raises(ValueError, match=match):
        F.WeightedFusion(**{"units": 4, **kwargs})


def test_fixed_weights_must_match_modality_count():
    layer = F.WeightedFusion(4, mode="fixed", weights=[0.5, 0.5])
    with pytest.raises(ValueError, match="one per modality"):
        layer(feats())


def test_other_bad_configuration():
    with pytest.raises(ValueError, match="rnn"):
        F.SequentialFusion(4, rnn="lstm2")
    with pytest.raises(ValueError, match="order"):
        F.SequentialFusion(4, order=(0, 0, 1))(feats())
    with pytest.raises(ValueError, match="mode"):
        F.LateFusion(mode="median")


# --------------------------------------------------------------------------- exercise checks (notebook 04)


def test_exercise_checks_pass_right_and_fail_wrong_answers(capsys):
    from mmteach import exercises

    exercises.check_parallel_fusion(lambda fs: np.concatenate(fs, axis=1))
    with pytest.raises(AssertionError, match="Hint"):
        exercises.check_parallel_fusion(lambda fs: np.concatenate(fs[::-1], axis=1))
    exercises.check_weighted_sum(lambda hs, w: sum(wi * h for wi, h in zip(w, hs, strict=True)))
    with pytest.raises(AssertionError, match="Hint"):
        exercises.check_weighted_sum(lambda hs, w: sum(hs) / len(hs))

    # trapezoids written out: np.trapezoid needs numpy 2, the project allows numpy 1.26
    def trapezoid_auc(levels, accuracies):
        x, y = np.asarray(levels, float), np.asarray(accuracies, float)
        return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))

    exercises.check_robustness_auc(trapezoid_auc)
    with pytest.raises(AssertionError, match="Hint"):
        exercises.check_robustness_auc(lambda x, y: float(np.mean(y)))
    assert capsys.readouterr().out.count("correct") == 3
