"""The estimator protocol of the four applications (:mod:`mmteach.applications.base`).

Each application offers ``fit`` (returning itself), ``predict``, ``predict_proba`` where
it applies, ``score`` returning its documented dataclass, and ``save`` / ``load``
round-tripping with identical predictions. Tiny data and one epoch: the protocol, not
accuracy.
"""

from __future__ import annotations

import inspect
import json

import keras
import numpy as np
import pandas as pd
import pytest

from mmteach import datasets, scenes
from mmteach.applications import assistant as A
from mmteach.applications import classify as C
from mmteach.applications import retrieval as R
from mmteach.applications import translate as T
from mmteach.applications.base import Estimator

ESTIMATORS = (C.MultimodalClassifier, R.Retriever, T.Translator, A.Assistant)


@pytest.fixture(scope="module")
def shapes():
    return datasets.make_shapes_world(240, seed=3)


@pytest.fixture(scope="module")
def pairs(shapes):
    return T.make_translation_pairs(shapes, ambiguous_share=0.3, seed=0)


@pytest.fixture(scope="module")
def sc():
    return scenes.make_scenes(60, seed=5)


@pytest.fixture(scope="module")
def classifier(shapes):
    clf = C.MultimodalClassifier(("image", "text"), fusion="parallel", width=8)
    return clf.fit(shapes.split("train"), epochs=1)


@pytest.fixture(scope="module")
def retriever(sc):
    return R.Retriever(embed_dim=8, width=16, filters=4).fit(sc.images, sc.meta["caption"], epochs=1)


@pytest.fixture(scope="module")
def translator(pairs):
    return T.Translator(units=16).fit(pairs, epochs=1)


@pytest.fixture(scope="module")
def multimodal(shapes, pairs):
    image_model = T.train_image_features(shapes, width=8, epochs=1)
    return T.Translator(multimodal=True, units=16).fit(
        pairs, shapes.images, image_model=image_model, epochs=1
    )


@pytest.fixture(scope="module")
def assistant(sc):
    return A.Assistant(width=8).fit(sc, epochs=1, encoder_epochs=1)


def _outputs(name, est, shapes, pairs, sc):
    """What ``est`` predicts on a few inputs (arrays, lists of str and attention maps)."""
    test = pairs[pairs["split"] == "test"].iloc[:12]
    if name == "classifier":
        data = shapes.split("test")
        return [est.predict_proba(data), est.predict(data)]
    if name == "retriever":
        return [est.predict_proba(sc.images, sc.meta["caption"]), est.predict(sc.images, sc.meta["caption"])]
    if name in ("translator", "multimodal"):
        images = shapes.images[test["image_index"].to_numpy()] if est.multimodal else None
        batch = est.translate_batch(list(test["en"]), images)
        return [est.predict(list(test["en"]), images), *[t.attention for t in batch]]
    q = sc.questions.iloc[:20]
    return [
        est.predict_proba(sc.question_images()[:20], q["question"]),
        est.predict(sc.question_images()[:20], q["question"]),
    ]


# --------------------------------------------------------------------------- the verbs


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_every_application_offers_the_verbs(cls):
    assert issubclass(cls, Estimator)
    for verb in ("fit", "predict", "score", "save"):
        assert getattr(cls, verb) is not getattr(Estimator, verb) or verb == "save", (cls, verb)
    assert inspect.ismethod(cls.load)  # a class method: Cls.load(folder)
    assert cls.config_file != Estimator.config_file and cls.config_file.endswith(".json")
    has_proba = cls is not T.Translator  # greedy decoding has no single distribution
    assert hasattr(cls, "predict_proba") == has_proba
    assert "num_classes" not in inspect.getsource(inspect.getmodule(cls))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_unfitted_estimators_refuse_to_predict_or_save(cls, tmp_path):
    est = cls()
    assert not est.is_fitted
    with pytest.raises(RuntimeError, match="fit"):
        est.save(tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_predict_types_and_shapes(classifier, retriever, translator, assistant, shapes, pairs, sc):
    test = shapes.split("test")
    proba = classifier.predict_proba(test)
    assert proba.shape == (len(test), 9) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert np.array_equal(classifier.predict(test), proba.argmax(1))

    caps = list(sc.meta["caption"])
    p = retriever.predict_proba(sc.images[:7], caps)
    assert p.shape == (7, len(caps)) and np.allclose(p.sum(1), 1) and (p > 0).all()
    assert np.array_equal(retriever.predict(sc.images[:7], caps), p.argmax(1))
    sim = R.similarity(retriever.model, sc.images[:7], caps, retriever.vocabulary)
    assert np.allclose(retriever.similarity(sc.images[:7], caps), sim)

    en = list(pairs["en"][:5])
    out = translator.predict(en)
    assert isinstance(out, list) and all(isinstance(t, str) for t in out)
    assert out == [t.text for t in translator.translate_batch(en)]

    q = sc.questions.iloc[:30]
    probs = assistant.predict_proba(sc.question_images()[:30], q["question"])
    assert probs.shape == (30, len(assistant.answers)) and np.allclose(probs.sum(1), 1, atol=1e-5)
    answers = assistant.predict(sc.question_images()[:30], q["question"])
    assert all(a in A.ANSWERS_BY_TYPE[t] for a, t in zip(answers, q["type"], strict=True))
    assert str(assistant.ask(sc.images[0], q["question"].iloc[0])).endswith("sure)")


def test_score_returns_the_documented_dataclass(
    classifier, retriever, translator, assistant, shapes, pairs, sc
):
    test = shapes.split("test")
    s = classifier.score(test)
    assert isinstance(s, C.ClassificationScore) and s.n == len(test)
    assert s.accuracy == pytest.approx(np.mean(classifier.predict(test) == test.labels))

    r = retriever.score(sc.images, sc.meta["caption"], ks=(1, 5))
    assert isinstance(r, R.RetrievalScore) and r.n == len(sc)
    assert list(r.recall.index) == ["image->text", "text->image", "chance"] and list(r.recall) == [
        "R@1",
        "R@5",
    ]
    assert r.recall.loc["chance", "R@5"] == pytest.approx(5 / len(sc))

    t = translator.score(pairs, split="test")
    assert isinstance(t, T.TranslationScore) and t.n == len(t.hypotheses) and 0 <= t.bleu <= 100

    a = assistant.score(sc)
    assert isinstance(a, A.AssistantScore) and a.n == len(sc.questions)
    right = (
        np.array(assistant.predict(sc.question_images(), sc.questions["question"])) == sc.questions["answer"]
    )
    assert a.accuracy == pytest.approx(right.mean())
    assert isinstance(a.by_type, pd.Series) and set(a.by_type.index) == set(sc.questions["type"])


@pytest.mark.slow  # trains a second translator
def test_fit_is_seeded(pairs, translator):
    """Two fits with the same settings give the same model (mmteach.training.fit seeds them)."""
    again = T.Translator(units=16).fit(pairs, epochs=1)
    assert again.history == translator.history
    en = list(pairs["en"][:10])
    assert again.predict(en) == translator.predict(en)


# --------------------------------------------------------------------------- save / load


#: trains two more models (an image encoder and a multimodal translator): slow lane
MULTIMODAL = pytest.param("multimodal", marks=pytest.mark.slow)


@pytest.mark.parametrize("name", ["classifier", "retriever", "translator", MULTIMODAL, "assistant"])
def test_save_load_round_trip_gives_identical_predictions(name, request, tmp_path, shapes, pairs, sc):
    est = request.getfixturevalue(name)
    folder = est.save(tmp_path / name)
    config = json.loads((folder / est.config_file).read_text(encoding="utf-8"))
    assert config["class"] == type(est).__name__
    assert all((folder / f"{m}.keras").is_file() for m in config["models"])
    again = type(est).load(folder)
    assert type(again) is type(est) and again.is_fitted
    for before, after in zip(_outputs(name, est, shapes, pairs, sc), _outputs(name, again, shapes, pairs, sc),
                             strict=True):  # fmt: skip
        if isinstance(before, list):
            assert before == after
        else:
            np.testing.assert_array_equal(before, after)


def test_loaded_translator_shares_its_layers(translator, tmp_path, pairs):
    """After load, the training model, the encoder and the decoder step use the same weights."""
    again = T.Translator.load(translator.save(tmp_path / "tr"))
    layer = again.model.get_layer("source_embedding")
    assert again.encoder.get_layer("source_embedding") is layer
    assert again.step.get_layer("next_word") is again.model.get_layer("next_word")
    assert again.target_vocabulary == translator.target_vocabulary


def test_load_refuses_bad_folders(translator, assistant, tmp_path):
    with pytest.raises(TypeError, match="folder"):
        T.Translator.load(None)
    with pytest.raises(TypeError, match="folder"):
        translator.save(3)
    with pytest.raises(datasets.DataError, match="translator.json"):
        T.Translator.load(tmp_path / "nothing")
    folder = assistant.save(tmp_path / "as")
    (folder / "translator.json").write_text((folder / "assistant.json").read_text())
    with pytest.raises(datasets.DataError, match="written by Assistant"):
        T.Translator.load(folder)  # another class's config
    (folder / "model.keras").unlink()
    with pytest.raises(datasets.DataError, match="model.keras"):
        A.Assistant.load(folder)
    (folder / "assistant.json").write_text("{not json")
    with pytest.raises(datasets.DataError, match="assistant.json"):
        A.Assistant.load(folder)


# --------------------------------------------------------------------------- bad inputs to the verbs


def test_the_verbs_refuse_bad_inputs(retriever, translator, assistant, sc, pairs):
    with pytest.raises(TypeError, match="captions"):
        R.Retriever().fit(sc.images, "a red circle")
    with pytest.raises(ValueError, match="epochs"):
        R.Retriever().fit(sc.images, sc.meta["caption"], epochs=0)
    with pytest.raises(ValueError, match="images, captions"):
        R.Retriever().fit(sc.images[:3], sc.meta["caption"][:4])
    with pytest.raises(TypeError, match="captions"):
        retriever.predict(sc.images, None)
    with pytest.raises(TypeError, match="pairs"):
        T.Translator().fit("pairs")
    with pytest.raises(ValueError, match="batch_size"):
        T.Translator().fit(pairs, batch_size=0)
    with pytest.raises(TypeError, match="pairs"):
        translator.score(pairs.to_dict())
    with pytest.raises(TypeError, match="split"):
        translator.score(pairs, split=3)
    with pytest.raises(ValueError, match="split"):
        translator.score(pairs, split="dev")
    with pytest.raises(TypeError, match="sc"):
        assistant.score(sc.questions)
    with pytest.raises(ValueError, match="encoder_epochs"):
        A.Assistant().fit(sc, encoder_epochs=-1)
    with pytest.raises(ValueError, match="questions"):
        assistant.predict(sc.images[:2], ["how many circles are there?"])


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [(T.Translator, {"units": 0}, "units"), (T.Translator, {"attention": "cosine"}, "attention"),
     (T.Translator, {"multimodal": "yes"}, "multimodal"), (A.Assistant, {"heads": 0}, "heads"),
     (A.Assistant, {"learning_rate": -1.0}, "learning_rate"), (R.Retriever, {"embed_dim": 1}, "embed_dim"),
     (R.Retriever, {"temperature": 0}, "temperature")],
)  # fmt: skip
def test_constructors_refuse_bad_hyperparameters(cls, kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        cls(**kwargs)


# --------------------------------------------------------------------------- registered layers


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


@pytest.mark.parametrize("name", ["translator", MULTIMODAL, "assistant"])
def test_no_lambda_layers_and_the_custom_ones_round_trip_their_config(name, request):
    est = request.getfixturevalue(name)
    models = [est.model, est.encoder, est.step] if name != "assistant" else [est.model]
    layers = [layer for m in models for layer in _all_layers(m)]
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in layers)
    custom = [layer for layer in layers if type(layer).__module__.startswith("mmteach.applications")]
    assert custom, "expected the registered mmteach layers"
    for layer in custom:
        registered = keras.saving.get_registered_name(type(layer))
        assert registered.startswith("mmteach>") and keras.saving.get_registered_object(registered) is type(
            layer
        )
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()


def test_cut_cells_matches_numpy():
    x = np.random.default_rng(0).random((2, 48, 48, 3)).astype("float32")
    expected = x.reshape(2, 3, 16, 3, 16, 3).transpose(0, 1, 3, 2, 4, 5).reshape(18, 16, 16, 3)
    np.testing.assert_array_equal(np.asarray(A.CutCells(3, 16)(x)), expected)
    np.testing.assert_array_equal(
        np.asarray(A.GroupCells(9)(np.arange(36.0).reshape(18, 2))).shape, (2, 9, 2)
    )


def test_source_mask_hides_padding_and_keeps_the_image_step():
    ids = np.array([[4, 2, 0, 0]], "int32")
    assert np.asarray(T.SourceMask()(ids)).tolist() == [[True, True, False, False]]
    assert np.asarray(T.SourceMask(image_step=True)(ids)).tolist() == [[True, True, True, False, False]]
    with pytest.raises(TypeError, match="image_step"):
        T.SourceMask(image_step="yes")
