"""The fusion picker's logic, driven like a browser would (no browser, tiny data)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mmteach import widgets


def test_rebalance_weights_keeps_the_sum_at_one():
    assert widgets.rebalance_weights([0.5, 0.25, 0.25], 0, 0.2) == [0.2, 0.4, 0.4]
    assert widgets.rebalance_weights([1.0, 0.0, 0.0], 0, 0.4) == [0.4, 0.3, 0.3]
    w = widgets.rebalance_weights([0.2, 0.3, 0.5], 2, 0.9)
    assert sum(w) == pytest.approx(1.0) and w[2] == 0.9 and w[0] < w[1]
    with pytest.raises(ValueError, match="value"):
        widgets.rebalance_weights([0.5, 0.5], 0, 1.5)
    with pytest.raises(ValueError, match="index"):
        widgets.rebalance_weights([0.5, 0.5], 2, 0.5)


def test_confusion_matrix_and_html():
    cm = widgets.confusion_matrix([0, 0, 1, 2], [0, 1, 1, 2], 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    text = widgets.confusion_html(cm, ["a", "b", "<c>"])
    assert text.count("<tr>") == 4 and "&lt;c&gt;" in text
    # narrow: the columns are headed by class numbers, the rows name the classes (the legend)
    head = text.split("</caption>")[1].split("</tr>")[0]
    assert [int(h) for h in re.findall(r'<th title="predicted [^"]*"[^>]*>(\d+)</th>', head)] == [0, 1, 2]
    assert (
        ">0 a</th>" in text
        and ">2 &lt;c&gt;</th>" in text
        and re.sub("<[^>]*>", "", head) == "true \\ predicted012"
    )
    assert widgets.weights_html(["image", "text"], [0.25, 0.75], "w") == "<b>w</b>: image 0.25, text 0.75"
    with pytest.raises(ValueError):
        widgets.confusion_matrix([0, 1], [0], 2)


def test_fusion_description():
    assert "concatenate" in widgets.fusion_description("parallel", "learned")
    assert "GRU" in widgets.fusion_description("sequential", "learned")
    assert "[0.2, 0.8]" in widgets.fusion_description("weighted", "fixed", [0.2, 0.8])
    assert "Gated" in widgets.fusion_description("weighted", "gated")
    with pytest.raises(ValueError, match="method"):
        widgets.fusion_description("early", "fixed")


PROTOTYPES = np.random.default_rng(99).normal(size=(4, 6))


def tiny_features(n=60, seed=0):
    """Features from which the label (4 classes) is easy to learn."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=n)
    feats = {
        "image": 2 * np.eye(4)[labels] @ PROTOTYPES + 0.1 * rng.normal(size=(n, 6)),
        "text": rng.normal(size=(n, 6)),
        "audio": rng.normal(size=(n, 6)),
    }
    return {k: v.astype("float32") for k, v in feats.items()}, labels


@pytest.fixture(scope="module")
def picker():
    pytest.importorskip("keras")
    train, ytrain = tiny_features()
    test, ytest = tiny_features(seed=1)
    return widgets.FusionPicker(train, ytrain, test, ytest, class_names=list("abcd"), epochs=25,
                                batch_size=16)  # fmt: skip


def test_controls_follow_the_chosen_method(picker):
    picker.method.value = "parallel"
    assert picker.mode.layout.display == "none" and picker.weight_box.layout.display == "none"
    picker.method.value = "weighted"
    picker.mode.value = "fixed"
    assert picker.mode.layout.display is None and picker.weight_box.layout.display is None
    assert "fixed weights" in picker.info.value
    picker.mode.value = "learned"
    assert picker.weight_box.layout.display == "none"


def test_sliders_keep_the_sum_at_one(picker):
    picker.sliders[0].value = 0.7  # what dragging the slider does
    assert picker.weights[0] == 0.7
    assert sum(picker.weights) == pytest.approx(1.0)
    assert [s.value for s in picker.sliders] == pytest.approx(picker.weights, abs=1e-6)
    picker.set_weight(1, 0.5)
    assert sum(picker.weights) == pytest.approx(1.0) and picker.weights[1] == 0.5


@pytest.mark.parametrize("method, mode", [("parallel", "learned"), ("sequential", "learned"),
                                          ("weighted", "fixed"), ("weighted", "learned"),
                                          ("weighted", "gated")])  # fmt: skip
@pytest.mark.slow  # trains models: the full lane only
def test_train_shows_accuracy_confusion_and_weights(picker, method, mode):
    picker.method.value = method
    picker.mode.value = mode
    if mode == "fixed":
        picker.set_weight(0, 0.8)
    result = picker.train()
    assert 0 <= result["accuracy"] <= 1
    assert result["confusion"].shape == (4, 4) and result["confusion"].sum() == 60
    assert "Test accuracy" in picker.output.value and "<table" in picker.output.value
    if method == "weighted":
        assert len(result["weights"]) == 3 and sum(result["weights"]) == pytest.approx(1.0, abs=1e-4)
        assert "image" in picker.output.value
        if mode == "fixed":
            assert result["weights"][0] == pytest.approx(0.8)
    else:
        assert result["weights"] is None


@pytest.mark.slow  # trains models: the full lane only
def test_learned_weights_favour_the_informative_modality(picker):
    picker.method.value = "parallel"
    assert picker.train()["accuracy"] >= 0.7
    picker.method.value = "weighted"
    picker.mode.value = "learned"
    picker.train_button.click()  # what a click does
    assert picker.result["weights"][0] == max(picker.result["weights"])


def test_picker_rejects_mismatched_features():
    train, y = tiny_features()
    test = {k: v for k, v in train.items() if k != "audio"}
    with pytest.raises(ValueError, match="test_features"):
        widgets.FusionPicker(train, y, test, y)
