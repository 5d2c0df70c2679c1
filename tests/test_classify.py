"""MultimodalClassifier: train/evaluate/predict on a small subset, save/load, file inputs, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mmteach.datasets import CLASS_NAMES, DataError, encode_png, encode_wav, load_shapes_world

classify = pytest.importorskip("mmteach.applications.classify")
MultimodalClassifier = classify.MultimodalClassifier


@pytest.fixture(scope="module")
def sw():
    return load_shapes_world()


@pytest.fixture(scope="module")
def small(sw):
    train = sw.split("train").subset(np.arange(240))
    test = sw.split("test").subset(np.arange(60))
    return train, test


@pytest.fixture(scope="module")
def trained(small):
    import mmteach

    mmteach.setup_notebook(seed=0)
    clf = MultimodalClassifier(fusion="weighted", weighted_mode="gated")
    return clf.fit(small[0], epochs=1, batch_size=32)


@pytest.fixture(scope="module")
def files(tmp_path_factory, sw):
    """A valid PNG, WAV and caption of one test sample, and bad files."""
    folder = tmp_path_factory.mktemp("files")
    test = sw.split("test")
    (folder / "ok.png").write_bytes(encode_png(test.images[0]))
    (folder / "ok.wav").write_bytes(encode_wav(test.audio[0]))
    (folder / "big.png").write_bytes(encode_png(np.zeros((48, 48, 3), np.uint8)))
    (folder / "text.png").write_text("this is not an image")
    (folder / "fast.wav").write_bytes(encode_wav(test.audio[0], sample_rate=16000))
    (folder / "text.wav").write_text("not audio either")
    return folder, test.captions[0]


# --------------------------------------------------------------------------- train / evaluate / predict


def test_train_evaluate_predict_shapes(trained, small):
    _, test = small
    proba = trained.predict_proba(test)
    assert proba.shape == (len(test), len(CLASS_NAMES))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    pred = trained.predict(test)
    assert pred.shape == (len(test),) and pred.min() >= 0 and pred.max() < len(CLASS_NAMES)
    np.testing.assert_array_equal(pred, proba.argmax(axis=1))
    scores = trained.score(test)
    assert isinstance(scores, classify.ClassificationScore) and scores.n == len(test)
    assert scores.accuracy == pytest.approx(np.mean(pred == test.labels))
    assert 0 < scores.loss < 10
    assert trained.is_fitted and "loss" in trained.history and len(trained.history["loss"]) == 1


def test_preprocessor_fitted_on_train_only(trained, small):
    train, _ = small
    from mmteach.preprocessing import build_vocabulary

    assert trained.preprocessor.vocabulary == build_vocabulary(train.captions)


def test_blanking_changes_predictions_and_validates(trained, small):
    _, test = small
    full = trained.predict_proba(test)
    no_text = trained.predict_proba(test, blank=("text",))
    assert not np.allclose(full, no_text)
    ablation = trained.modality_ablation(test)
    assert list(ablation.index) == ["all", "no image", "no text", "no audio"]
    with pytest.raises(ValueError, match="blank"):
        trained.predict(test, blank=("smell",))


def test_fusion_weights_gated(trained, small):
    w = trained.fusion_weights(small[1])
    assert list(w.index) == ["image", "text", "audio"]
    assert w.sum() == pytest.approx(1.0, abs=1e-5)
    assert (w > 0).all()


def test_unimodal_classifier_trains(small):
    clf = MultimodalClassifier(("audio",), fusion="parallel").fit(small[0], epochs=1)
    assert clf.predict_proba(small[1]).shape == (len(small[1]), 9)
    with pytest.raises(ValueError, match="fusion_weights"):
        clf.fusion_weights(small[1])


# --------------------------------------------------------------------------- save / load


def test_save_load_round_trip_identical_predictions(trained, small, tmp_path):
    folder = trained.save(tmp_path / "clf")
    assert (folder / classify.MODEL_FILE).is_file()
    config = json.loads((folder / classify.CONFIG_FILE).read_text())
    assert config["class"] == "MultimodalClassifier" and config["models"] == ["model"]
    state = config["state"]
    assert state["modalities"] == ["image", "text", "audio"]
    assert state["class_names"] == list(CLASS_NAMES)
    assert state["preprocessor"]["vocabulary"] == trained.preprocessor.vocabulary
    again = MultimodalClassifier.load(folder)
    np.testing.assert_array_equal(again.predict_proba(small[1]), trained.predict_proba(small[1]))
    assert again.class_names == trained.class_names and again.modalities == trained.modalities


def test_load_errors(tmp_path, trained):
    with pytest.raises(DataError, match="folder"):
        MultimodalClassifier.load(tmp_path / "nothing")
    folder = trained.save(tmp_path / "clf")
    (folder / classify.CONFIG_FILE).write_text("{not json")
    with pytest.raises(DataError, match="classifier.json"):
        MultimodalClassifier.load(folder)


# --------------------------------------------------------------------------- files


def test_predict_files_matches_predict(trained, files, sw):
    folder, caption = files
    out = trained.predict_files(image=folder / "ok.png", caption=caption, audio=folder / "ok.wav")
    assert set(out) == {"label", "label_name", "probabilities"}
    assert out["label_name"] == CLASS_NAMES[out["label"]]
    assert isinstance(out["probabilities"], pd.Series) and list(out["probabilities"].index) == list(
        CLASS_NAMES
    )
    # the same sample through predict_proba (WAV is 16-bit, so allow a small difference)
    expected = trained.predict_proba(sw.split("test").subset([0]))[0]
    np.testing.assert_allclose(out["probabilities"].to_numpy(), expected, atol=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"image": "missing.png"}, DataError, r"^image: .*not found"),
        ({"image": "text.png"}, DataError, r"^image: .*not a readable image"),
        ({"image": "big.png"}, DataError, r"^image: expected a 32x32"),
        ({"audio": "missing.wav"}, DataError, r"^audio: .*not found"),
        ({"audio": "fast.wav"}, DataError, r"^audio: .*sample rate of 8000 Hz, got 16000"),
        ({"audio": "text.wav"}, DataError, r"^audio: .*not a readable WAV"),
        ({"caption": ""}, ValueError, r"^caption: expected a caption with at least one word"),
        ({"caption": "  ?! "}, ValueError, r"^caption: expected a caption with at least one word"),
        ({"caption": "zzz qqq"}, ValueError, r"^caption: none of the words"),
        ({"caption": None}, ValueError, r"^caption: this classifier reads"),
        ({"caption": 42}, TypeError, r"^caption: expected a str"),
        ({"image": 42}, TypeError, r"^image: expected the path"),
    ],
)
def test_predict_files_bad_inputs(trained, files, kwargs, error, match):
    folder, caption = files
    args = {"image": folder / "ok.png", "caption": caption, "audio": folder / "ok.wav"}
    for key, value in kwargs.items():
        args[key] = folder / value if key in ("image", "audio") and isinstance(value, str) else value
    with pytest.raises(error, match=match):
        trained.predict_files(**args)


def test_predict_files_rejects_unused_modality(files, small):
    folder, caption = files
    clf = MultimodalClassifier(("text",), fusion="parallel").fit(small[0], epochs=1)
    assert clf.predict_files(caption=caption)["label_name"] in CLASS_NAMES
    with pytest.raises(ValueError, match=r"^audio: this classifier does not read audio"):
        clf.predict_files(caption=caption, audio=folder / "ok.wav")


# --------------------------------------------------------------------------- argument checks


def test_constructor_and_train_validation(small):
    with pytest.raises(ValueError, match="modalities"):
        MultimodalClassifier(("image", "smell"))
    with pytest.raises(ValueError, match="fusion"):
        MultimodalClassifier(fusion="magic")
    with pytest.raises(ValueError, match="weighted_mode"):
        MultimodalClassifier(weighted_mode="magic")
    with pytest.raises(ValueError, match="modality_dropout"):
        MultimodalClassifier(("image", "audio"), modality_dropout={"text": 0.3})
    with pytest.raises(ValueError, match="class_names"):
        MultimodalClassifier(class_names=["a", "a"])
    with pytest.raises(TypeError, match="aux_weight"):
        MultimodalClassifier(aux_weight="much")
    with pytest.raises(ValueError, match="learning_rate"):
        MultimodalClassifier(learning_rate=0)
    clf = MultimodalClassifier()
    with pytest.raises(RuntimeError, match="fit"):
        clf.predict(small[1])
    with pytest.raises(TypeError, match="train: expected a ShapesWorld"):
        clf.fit(np.zeros((3, 32, 32, 3)))
    with pytest.raises(ValueError, match="epochs"):
        clf.fit(small[0], epochs=0)


def test_precision_recall_against_sklearn():
    from sklearn.metrics import precision_recall_fscore_support

    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 9, 200), rng.integers(0, 9, 200)
    table = classify.precision_recall(y, p)
    prec, rec, _, support = precision_recall_fscore_support(y, p, labels=range(9), zero_division=0)
    np.testing.assert_allclose(table["precision"], prec)
    np.testing.assert_allclose(table["recall"], rec)
    np.testing.assert_array_equal(table["support"], support)
    with pytest.raises(ValueError, match="y_pred"):
        classify.precision_recall([0, 1], [0, 9])


def test_confident_mistakes_order():
    proba = np.array([[0.5, 0.5], [0.1, 0.9], [0.3, 0.7], [0.8, 0.2]])
    assert classify.confident_mistakes(proba, [1, 0, 0, 0], k=5).tolist() == [1, 2, 0]
    assert classify.confident_mistakes(proba, [0, 1, 1, 0], k=5).tolist() == []
    with pytest.raises(ValueError, match="k"):
        classify.confident_mistakes(proba, [0, 1, 1, 0], k=0)


# --------------------------------------------------------------------------- exercise checks (notebook 08)


def test_check_f1_scores_passes_right_and_fails_wrong(capsys):
    from mmteach import exercises

    rng = np.random.default_rng(2)
    y, p = rng.integers(0, 9, 300), rng.integers(0, 9, 300)
    table = classify.precision_recall(y, p)
    pr, rc = table["precision"].to_numpy(), table["recall"].to_numpy()
    f1 = np.where(pr + rc > 0, 2 * pr * rc / np.maximum(pr + rc, 1e-12), 0)
    exercises.check_f1_scores(f1, y, p)
    assert "correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="values differ"):
        exercises.check_f1_scores((pr + rc) / 2, y, p)  # arithmetic, not harmonic mean
    with pytest.raises(AssertionError, match="shape"):
        exercises.check_f1_scores(f1[:3], y, p)


def test_check_most_needed_modality():
    from mmteach import exercises

    ablation = pd.Series({"all": 0.95, "no image": 0.55, "no text": 0.93, "no audio": 0.45})
    exercises.check_most_needed_modality("audio", ablation)
    for wrong in ("image", "text", "no audio", 3):
        with pytest.raises(AssertionError):
            exercises.check_most_needed_modality(wrong, ablation)
