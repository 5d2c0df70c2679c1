"""mmteach.compute: multiply-adds per sample, the list of course models, the cost table."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mmteach import compute as C


def test_dense_and_conv_macs_match_the_formula():
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert C.multiply_adds(m) == 12
    conv = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(16, 3, padding="same")])
    assert C.multiply_adds(conv) == 32 * 32 * 3 * 3 * 3 * 16
    valid = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(16, 3)])
    assert C.multiply_adds(valid) == 30 * 30 * 3 * 3 * 3 * 16


def test_rnn_counts_every_step_of_the_real_input():
    inp = keras.Input((None,), dtype="int32")
    out = keras.layers.GRU(8)(keras.layers.Embedding(20, 4)(inp))
    model = keras.Model(inp, out)
    per_step = 3 * (4 * 8 + 8 * 8)  # 3 gates: input kernel + recurrent kernel
    assert C.multiply_adds(model, np.ones((2, 10), "int32")) == 10 * per_step
    assert C.multiply_adds(model, np.ones((2, 5), "int32")) == 5 * per_step


def test_multiply_adds_validates_its_input():
    with pytest.raises(TypeError, match="model"):
        C.multiply_adds("not a model")
    with pytest.raises(ValueError, match="built"):
        C.multiply_adds(keras.Sequential([keras.layers.Dense(3)]))


def test_course_models_cover_every_fusion_and_the_cost_table_counts_them():
    from mmteach.fusion import WEIGHTED_MODES
    from mmteach.models import FUSIONS

    models = C.course_models()
    names = [m.name for m in models]
    assert len(set(names)) == len(names)
    for fusion in FUSIONS:
        assert any(n.startswith(f"fused {fusion}") for n in names), fusion
    assert sum(n.startswith("fused weighted") for n in names) == len(WEIGHTED_MODES)
    with pytest.raises(ValueError, match="vocab_size"):
        C.course_models(vocab_size=1)
    table = C.cost_table([m for m in models if m.name in {"image CNN", "text GRU"}])
    rows = table.set_index("model")
    assert rows.loc["image CNN", "MACs/sample"] > 10 * rows.loc["text GRU", "MACs/sample"]
    assert rows.loc["text GRU", "parameters"] > 0


def test_multiply_adds_leaves_keras_alone():
    """Sequence lengths are read from one real call without patching keras.layers.Layer process-wide."""
    call, during = keras.layers.Layer.__call__, []

    class Probe(keras.layers.Layer):
        def call(self, x):
            during.append(keras.layers.Layer.__call__)  # what every other layer sees meanwhile
            return x

    inp = keras.Input((None, 3))
    model = keras.Model(inp, keras.layers.SimpleRNN(4, name="rnn")(Probe()(inp)))
    per_step = 3 * 4 + 4 * 4
    assert C.multiply_adds(model) == per_step  # unknown length: one step
    during.clear()
    assert C.multiply_adds(model, np.zeros((2, 5, 3), "float32")) == 5 * per_step
    assert during and all(f is call for f in during)
    assert keras.layers.Layer.__call__ is call
    assert all("call" not in vars(layer) for layer in model._flatten_layers(recursive=True))


def test_an_application_without_a_builder_raises(monkeypatch):
    builders = dict(C._APPLICATION_BUILDERS)
    del builders["assistant"]
    monkeypatch.setattr(C, "_APPLICATION_BUILDERS", builders)
    with pytest.raises(LookupError, match="no builder for the application 'assistant'"):
        C.course_models()


def test_the_assistant_is_measured():
    rows = [m for m in C.course_models() if m.name.startswith("assistant")]
    assert len(rows) == 1
    assert C.cost_table(rows).loc[0, "MACs/sample"] > 0
