"""mmteach.training: leak-free folds, serial == parallel, bad input, checkpoints, strategies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
keras = pytest.importorskip("keras")

from sklearn.preprocessing import StandardScaler  # noqa: E402

from mmteach import exercises, training  # noqa: E402
from mmteach.datasets import make_shapes_world  # noqa: E402
from mmteach.preprocessing import ShapesWorldPreprocessor  # noqa: E402

METRIC_COLUMNS = ["fold", "n_train", "n_val", "accuracy", "f1_macro", "loss"]


def toy_data(n=60, seed=0):
    """Three classes, four features with very different scales (scaling matters)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n // 3)
    x = rng.normal(size=(n, 4)) + y[:, None] * np.array([1.0, 0.5, 0.0, -1.0])
    x = x * np.array([1.0, 10.0, 100.0, 0.1]) + np.array([5.0, -50.0, 300.0, 0.0])
    return x.astype("float32"), y


def build_dense(learning_rate=0.05, width=8):
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(width, activation="tanh"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


@pytest.fixture(scope="module")
def small_world():
    return make_shapes_world(90, seed=3)


# --------------------------------------------------------------------------- folds and input checks


def test_fold_indices_are_stratified_and_disjoint():
    y = np.repeat([0, 1, 2], [12, 9, 6])
    folds = training.fold_indices(y, n_splits=3, seed=0)
    assert len(folds) == 3
    for train, val in folds:
        assert len(np.intersect1d(train, val)) == 0
        assert len(train) + len(val) == len(y)
        assert list(np.bincount(y[val])) == [4, 3, 2]  # the class proportions of the whole
    assert sorted(np.concatenate([val for _, val in folds]).tolist()) == list(range(len(y)))


@pytest.mark.parametrize(
    ("n_splits", "error"),
    [
        (1, ValueError),
        (0, ValueError),
        (-2, ValueError),
        (7, ValueError),
        (2.0, TypeError),
        (True, TypeError),
    ],
)
def test_bad_n_splits_is_a_clear_error(n_splits, error):
    x, y = toy_data(18)  # 6 per class: at most 6 folds
    with pytest.raises(error, match="n_splits"):
        training.cross_validate(build_dense, x, y, n_splits=n_splits)


def test_n_splits_larger_than_smallest_class_names_that_limit():
    x, y = toy_data(30)
    y = y.copy()
    y[:8] = 0
    y[8:] = 1
    y[-2:] = 2  # class 2 has only 2 samples
    with pytest.raises(ValueError, match=r"n_splits: expected at most 2"):
        training.cross_validate(build_dense, x, y, n_splits=3)


def test_empty_data_is_a_clear_error(small_world):
    with pytest.raises(ValueError, match="data"):
        training.cross_validate(build_dense, np.zeros((0, 4)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="data"):
        training.cross_validate(build_dense, small_world.subset(np.zeros(len(small_world), dtype=bool)))
    with pytest.raises(ValueError, match="data"):
        training.cross_validate(build_dense, {})


def test_mismatched_lengths_are_a_clear_error():
    x, y = toy_data(30)
    with pytest.raises(ValueError, match="labels: expected 30 labels"):
        training.cross_validate(build_dense, x, y[:-1])
    with pytest.raises(ValueError, match="data: all arrays must have the same length"):
        training.cross_validate(build_dense, {"a": x, "b": x[:-3]}, y)
    with pytest.raises(ValueError, match="labels: required"):
        training.cross_validate(build_dense, x)
    with pytest.raises(ValueError, match="y: expected 30 labels"):
        training.fit(build_dense, x, y[:-1])


def test_other_bad_arguments():
    x, y = toy_data(30)
    with pytest.raises(TypeError, match="build_model"):
        training.cross_validate("not a function", x, y)
    with pytest.raises(ValueError, match="epochs"):
        training.cross_validate(build_dense, x, y, epochs=0)
    with pytest.raises(ValueError, match="n_jobs"):
        training.cross_validate(build_dense, x, y, n_jobs=0)
    with pytest.raises(ValueError, match="labels: expected integer"):
        training.cross_validate(build_dense, x, y + 0.5)
    with pytest.raises(TypeError, match="build_model: expected it to return a keras.Model"):
        training.cross_validate(lambda: "model", x, y, n_splits=2)
    with pytest.raises(ValueError, match="not compiled"):
        training.cross_validate(lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]), x, y)
    with pytest.raises(ValueError, match="monitor"):
        training.fit(build_dense, x, y, patience=2)  # val_loss without validation data
    with pytest.raises(ValueError, match="scoring"):
        training.select_model(build_dense, {"width": [4]}, x, y, scoring="auc")
    with pytest.raises(ValueError, match="param_grid"):
        training.select_model(build_dense, {}, x, y)
    with pytest.raises(ValueError, match="param_grid"):
        training.select_model(build_dense, {"width": []}, x, y)


# --------------------------------------------------------------------------- no leaks between folds


@pytest.mark.slow  # trains models: the full lane only
def test_each_fold_equals_a_fresh_model_and_scaler_fitted_on_that_fold_alone():
    """Fails if weights were carried from fold to fold, or if the scaler saw all the data."""
    x, y = toy_data(60)
    table = training.cross_validate(
        build_dense, x, y, n_splits=3, epochs=3, preprocessor=StandardScaler, seed=4
    )
    for fold, (train, val) in enumerate(training.fold_indices(y, 3, seed=4)):
        training.seed_everything(4 + fold)
        scaler = StandardScaler().fit(x[train])
        model = build_dense()
        model.fit(scaler.transform(x[train]), y[train], epochs=3, batch_size=32, verbose=0)
        proba = training.predict_proba(model, scaler.transform(x[val]))
        assert table.loc[fold, "accuracy"] == pytest.approx(np.mean(proba.argmax(1) == y[val]))
        assert table.loc[fold, "loss"] == pytest.approx(
            -np.mean(np.log(np.clip(proba[np.arange(len(val)), y[val]], 1e-7, 1))), rel=1e-6
        )
    # the same folds with the scaler fitted on *all* data give other losses: the check above can fail
    leaky = StandardScaler().fit(x)
    leaky_table = training.cross_validate(build_dense, leaky.transform(x), y, n_splits=3, epochs=3, seed=4)
    assert not np.allclose(leaky_table["loss"], table["loss"])


def test_a_builder_that_reuses_its_model_is_refused():
    x, y = toy_data(30)
    shared = build_dense()
    with pytest.raises(ValueError, match="build_model: returned the same model object"):
        training.cross_validate(lambda: shared, x, y, n_splits=3, epochs=1)


def test_every_fold_builds_a_new_model_with_its_own_preprocessor(small_world):
    """The preprocessor is fitted on the fold's training part only and handed to build_model."""
    fitted_on, built_with = [], []

    class RecordingPreprocessor(ShapesWorldPreprocessor):
        def fit(self, train):
            fitted_on.append(set(train.meta["id"]))
            return super().fit(train)

    def build(prep):
        built_with.append(prep)
        inp = keras.Input((None,), dtype="int32", name="text")
        x = keras.layers.Embedding(prep.vocab_size, 4)(inp)
        out = keras.layers.Dense(9, activation="softmax")(keras.layers.GlobalAveragePooling1D()(x))
        model = keras.Model({"text": inp}, out)
        model.compile("adam", "sparse_categorical_crossentropy")
        return model

    table = training.cross_validate(
        build, small_world, n_splits=3, epochs=1, preprocessor=RecordingPreprocessor
    )
    ids = small_world.meta["id"].to_numpy()
    folds = training.fold_indices(small_world.labels, 3, seed=0)
    assert len(fitted_on) == len(built_with) == 3
    assert len({id(p) for p in built_with}) == 3  # a new preprocessor per fold
    for seen, prep, (train, val) in zip(fitted_on, built_with, folds, strict=True):
        assert seen == set(ids[train])
        assert seen.isdisjoint(ids[val])
        assert prep.vocabulary is not None
    whole = ShapesWorldPreprocessor().fit(small_world)
    assert any(p.vocabulary != whole.vocabulary for p in built_with)
    assert list(table["n_val"]) == [len(v) for _, v in folds]


# --------------------------------------------------------------------------- serial == parallel


@pytest.mark.slow  # trains models: the full lane only
def test_parallel_folds_give_the_same_scores_as_serial():
    x, y = toy_data(60)
    serial = training.cross_validate(build_dense, x, y, n_splits=3, epochs=2, preprocessor=StandardScaler)
    parallel = training.cross_validate(
        build_dense, x, y, n_splits=3, epochs=2, preprocessor=StandardScaler, n_jobs=2
    )
    pd.testing.assert_frame_equal(serial[METRIC_COLUMNS], parallel[METRIC_COLUMNS])


# --------------------------------------------------------------------------- model selection


@pytest.mark.slow  # trains models: the full lane only
def test_select_model_uses_the_same_folds_and_picks_the_best_mean():
    x, y = toy_data(60)
    result = training.select_model(
        build_dense, {"learning_rate": [1e-4, 0.05]}, x, y, n_splits=3, epochs=3, preprocessor=StandardScaler
    )
    assert list(result.table["learning_rate"]) == [1e-4, 0.05]
    assert set(result.folds["candidate"]) == {0, 1}
    best = int(result.table["accuracy_mean"].idxmax())
    assert result.best_params == {"learning_rate": [1e-4, 0.05][best]}
    assert result.best_score == pytest.approx(result.table.loc[best, "accuracy_mean"])
    assert result.table.loc[best, "rank"] == 1
    # each candidate's folds equal a plain cross_validate with the same parameters
    alone = training.cross_validate(
        lambda: build_dense(0.05), x, y, n_splits=3, epochs=3, preprocessor=StandardScaler
    )
    mine = result.folds[result.folds.candidate == 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone[METRIC_COLUMNS], mine[METRIC_COLUMNS])


def test_select_model_by_loss_prefers_the_lowest():
    x, y = toy_data(60)
    result = training.select_model(
        build_dense, [{"width": 2}, {"width": 8}], x, y, scoring="loss", n_splits=2, epochs=2
    )
    best = int(result.table["loss_mean"].idxmin())
    assert result.best_params == [{"width": 2}, {"width": 8}][best]


def test_summarize_mean_and_sample_std():
    folds = pd.DataFrame({"model": ["a", "a", "b", "b"], "accuracy": [0.5, 0.7, 0.8, 0.8]})
    out = training.summarize(folds, ["accuracy"], by="model")
    assert out.loc["a", "accuracy_mean"] == pytest.approx(0.6)
    assert out.loc["a", "accuracy_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    with pytest.raises(ValueError, match="metrics"):
        training.summarize(folds, ["f1_macro"])


def test_predict_proba_turns_logits_into_probabilities():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    x = np.array([[1.0, 2.0], [-3.0, 0.5]], dtype="float32")
    proba = training.predict_proba(model, x, batch_size=1)
    assert np.allclose(proba.sum(axis=1), 1)
    assert np.array_equal(proba.argmax(1), np.asarray(model(x)).argmax(1))


# --------------------------------------------------------------------------- fit and checkpoints


def test_checkpoint_reloads_with_identical_predictions(tmp_path):
    x, y = toy_data(90)
    scaler = StandardScaler().fit(x[:60])
    xs = scaler.transform(x).astype("float32")
    order = np.random.default_rng(0).permutation(90)
    tr, va = order[:60], order[60:]
    result = training.fit(
        build_dense,
        xs[tr],
        y[tr],
        validation_data=(xs[va], y[va]),
        epochs=6,
        patience=2,
        checkpoint_dir=tmp_path / "ckpt",
        checkpoint_name="toy",
    )
    assert result.checkpoint == tmp_path / "ckpt" / "toy.keras"
    assert result.checkpoint.exists()
    assert result.best_epoch == int(result.history["val_loss"].idxmin())
    reloaded = keras.models.load_model(result.checkpoint)
    assert np.array_equal(reloaded.predict(xs[va], verbose=0), result.model.predict(xs[va], verbose=0))
    assert list(result.history.index) == list(range(1, len(result.history) + 1))


def test_fit_restores_the_best_epoch_not_the_last():
    x, y = toy_data(90)
    xs = StandardScaler().fit_transform(x).astype("float32")
    y_val = y[60:].copy()
    np.random.default_rng(1).shuffle(y_val)  # unlearnable validation: val_loss worsens as training fits

    result = training.fit(
        lambda: build_dense(0.1, 16), xs[:60], y[:60], validation_data=(xs[60:], y_val), epochs=8
    )
    best = result.best_epoch
    val = result.history["val_loss"]
    assert best == int(val.idxmin())
    restored = result.model.evaluate(xs[60:], y_val, verbose=0)[0]
    assert restored == pytest.approx(val[best], rel=1e-4)


def test_fit_is_reproducible_with_a_seed():
    x, y = toy_data(60)
    xs = StandardScaler().fit_transform(x).astype("float32")
    a = training.fit(build_dense, xs, y, epochs=2, seed=7)
    b = training.fit(build_dense, xs, y, epochs=2, seed=7)
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


# --------------------------------------------------------------------------- devices and strategies


DEVICE_SCRIPT = textwrap.dedent(
    """
    import json, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    import numpy as np
    from mmteach import device, training
    device.configure_logical_cpus(2)
    import keras, tensorflow as tf

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 32)
    x = (rng.normal(size=(96, 4)) + y[:, None]).astype("float32")

    def build():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
        return model

    device.use("cpu:1")
    on_cpu1 = training.fit(build, x, y, epochs=1, batch_size=32)
    placed = sorted({v.value.device for v in on_cpu1.model.weights})
    device.use("cpu")
    one = training.fit(build, x, y, epochs=3, batch_size=32)
    strategy = tf.distribute.MirroredStrategy(["/CPU:0", "/CPU:1"])
    two = training.fit(build, x, y, epochs=3, batch_size=32, strategy=strategy)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(one.model.get_weights(), two.model.get_weights()))
    print(json.dumps({"placed": placed, "replicas": strategy.num_replicas_in_sync, "max_weight_diff": diff,
                      "loss_one": one.history["loss"].tolist(), "loss_two": two.history["loss"].tolist()}))
    """
)


@pytest.mark.slow  # trains models: the full lane only
def test_fit_honours_the_device_and_mirrored_strategy_matches_one_device():
    proc = subprocess.run([sys.executable, "-c", DEVICE_SCRIPT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["placed"] and all(d.endswith("CPU:1") for d in report["placed"])
    assert report["replicas"] == 2
    assert report["max_weight_diff"] < 1e-5
    assert np.allclose(report["loss_one"], report["loss_two"], atol=1e-5)


# --------------------------------------------------------------------------- exercises


def test_exercise_checks_pass_right_answers_and_fail_wrong_ones():
    def grad(w, x, y):
        return x.T @ (1 / (1 + np.exp(-x @ w)) - y) / len(y)

    exercises.check_logistic_gradient(grad)
    with pytest.raises(AssertionError, match="logistic_gradient"):
        exercises.check_logistic_gradient(lambda w, x, y: x.T @ (1 / (1 + np.exp(-x @ w)) - y))  # no mean

    def step(w, v, g, lr, beta):
        v = beta * v - lr * g
        return w + v, v

    exercises.check_momentum_step(step)
    with pytest.raises(AssertionError, match="momentum_step"):
        exercises.check_momentum_step(lambda w, v, g, lr, beta: (w - lr * g, v))
    with pytest.raises(AssertionError, match="momentum_step"):
        exercises.check_momentum_step(lambda w, v, g, lr, beta: w - lr * g)

    table = pd.DataFrame({"accuracy": [0.5, 0.6, 0.8]})
    exercises.check_cv_summary(table, table["accuracy"].mean(), table["accuracy"].std())
    with pytest.raises(AssertionError, match="ddof"):
        exercises.check_cv_summary(table, table["accuracy"].mean(), np.std(table["accuracy"]))
    with pytest.raises(AssertionError, match="mean"):
        exercises.check_cv_summary(table, 0.6, table["accuracy"].std())
