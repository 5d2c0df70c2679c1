"""Tests of mmteach.applications.translate (small data, short training)."""

import keras
import numpy as np
import pytest

from mmteach import datasets, exercises
from mmteach.applications import translate as T


@pytest.fixture(scope="module")
def data():
    sw = datasets.make_shapes_world(400, seed=3)
    return sw, T.make_translation_pairs(sw, ambiguous_share=0.3, seed=0)


@pytest.fixture(scope="module")
def text_only(data):
    _, pairs = data
    return T.train_translator(pairs, epochs=2, batch_size=64, units=16, seed=0)


@pytest.fixture(scope="module")
def multimodal(data):
    sw, pairs = data
    enc = T.train_image_features(sw, width=8, epochs=1)
    return T.train_translator(pairs, sw.images, multimodal=True, image_model=enc, epochs=1, units=16)


def test_segment_chinese_round_trips_and_uses_dictionary_words():
    text = "我看到一个由橡胶制成的很小的深蓝色的楔形"
    words = T.segment_chinese(text)
    assert "".join(words) == text
    assert words[:4] == ["我看到", "一个", "由", "橡胶"]
    assert "深蓝色" in words and "楔形" in words
    assert T.segment_chinese("猫") == ["猫"]  # unknown text: single characters
    with pytest.raises(TypeError, match="text"):
        T.segment_chinese(3)


def test_ambiguous_pairs_follow_the_image_rule(data):
    sw, pairs = data
    amb = pairs[pairs["ambiguous"]]
    assert len(amb) > 0
    assert (amb.groupby("sense").size().nunique()) == 1  # balanced senses
    meta = sw.meta.iloc[amb["image_index"]]
    pale = (amb["sense"] == "pale").to_numpy()
    assert ((meta["colour"] == "yellow") & (meta["size"] == "large")).to_numpy()[pale].all()
    assert ((meta["colour"] != "yellow") & (meta["size"] == "small")).to_numpy()[~pale].all()
    assert amb["en"].str.contains(r"\blight\b").all()
    for zh, sense in zip(amb["zh"], amb["sense"], strict=False):
        assert T.SENSES[sense] in zh
    assert (amb["split"].to_numpy() == sw.meta["split"].iloc[amb["image_index"]].to_numpy()).all()
    plain = pairs[~pairs["ambiguous"]]
    assert not plain["en"].str.contains(r"\blight\b").any()


def test_make_translation_pairs_validates():
    sw = datasets.make_shapes_world(50)
    with pytest.raises(TypeError, match="sw"):
        T.make_translation_pairs(sw.meta)
    with pytest.raises(ValueError, match="ambiguous_share"):
        T.make_translation_pairs(sw, ambiguous_share=0.9)
    assert not T.make_translation_pairs(sw, ambiguous_share=0)["ambiguous"].any()


def test_metrics():
    assert T.bleu(["一个红色的圆形"], ["一个红色的圆形"]) == pytest.approx(100)
    assert T.bleu(["一个蓝色的方块"], ["一个红色的圆形"]) < 50
    assert T.exact_match(["一个 圆形", "x"], ["一个圆形", "y"]) == 0.5
    assert T.sense_accuracy(["一个浅色的圆形", "一个浅色的圆形"], ["pale", "weight"]) == 0.5
    with pytest.raises(ValueError, match="references"):
        T.bleu(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="hypotheses"):
        T.exact_match([], [])
    with pytest.raises(TypeError, match="hypotheses"):
        T.bleu("一个", "一个")
    with pytest.raises(ValueError, match="senses"):
        T.sense_accuracy(["x"], ["heavy"])


def test_numpy_attention_matches_keras():
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(3, 4)), rng.normal(size=(5, 4))
    mask = np.array([1, 1, 0, 1, 0], bool)
    ctx, w = T.attention_numpy(q, k, mask=mask)
    kc, kw = keras.layers.Attention()(
        [q[None].astype("float32"), k[None].astype("float32")],
        mask=[None, mask[None]],
        return_attention_scores=True,
    )
    assert np.allclose(w, np.asarray(kw)[0], atol=1e-5) and np.allclose(ctx, np.asarray(kc)[0], atol=1e-5)
    assert np.allclose(w[:, ~mask], 0)
    with pytest.raises(ValueError, match="queries"):
        T.attention_numpy(q, k[:, :2])


def test_ngram_precision_clips():
    assert T.ngram_precision("红红红", "红色", 1) == pytest.approx(1 / 3)
    assert T.ngram_precision("圆形", "一个圆形", 3) == 0.0
    with pytest.raises(ValueError, match="n"):
        T.ngram_precision("a", "a", 0)


def test_translate_returns_chinese_and_attention(text_only):
    t = text_only.translate("a small red circle")
    assert isinstance(t, T.Translation) and isinstance(t.text, str) and str(t) == t.text
    assert t.source_tokens == ["a", "small", "red", "circle"]
    assert t.attention.shape == (len(t.tokens), 4)
    assert np.allclose(t.attention.sum(axis=1), 1, atol=1e-4)
    assert t.unknown_words == [] and t.note == ""
    batch = text_only.translate_batch(["a small red circle", "a big box"])
    assert batch[0].text == t.text


def test_unknown_words_are_reported(text_only):
    t = text_only.translate("a purple zebra")
    assert t.unknown_words == ["purple", "zebra"]
    assert "purple" in t.note and "<unk>" in t.note


@pytest.mark.parametrize("caption", ["", "   ", "?!."])
def test_empty_input_is_refused(text_only, caption):
    with pytest.raises(ValueError, match="caption"):
        text_only.translate(caption)


def test_bad_inputs(text_only, multimodal, data):
    sw, _ = data
    with pytest.raises(TypeError, match="caption"):
        text_only.translate(None)
    with pytest.raises(ValueError, match="text-only"):
        text_only.translate("a box", sw.images[0])
    with pytest.raises(ValueError, match="trained with images"):
        multimodal.translate("a box")
    with pytest.raises(ValueError, match="image"):
        multimodal.translate("a box", np.zeros((16, 16, 3), np.uint8))
    t = multimodal.translate("a light box", sw.images[0])
    assert t.source_tokens[0] == T.IMAGE_TOKEN and t.attention.shape[1] == 4
    with pytest.raises(ValueError, match="images"):
        T.train_translator(data[1], multimodal=True)
    with pytest.raises(ValueError, match="attention"):
        T.train_translator(data[1], attention="cosine")


def test_evaluate_reports_ambiguous_subset(text_only, data):
    _, pairs = data
    r = T.evaluate(text_only, pairs, split="test")
    assert isinstance(r, T.TranslationScore) and r == text_only.score(pairs, split="test")
    assert r.n == (pairs["split"] == "test").sum() == len(r.hypotheses) and 0 <= r.bleu <= 100
    assert None not in (r.bleu_ambiguous, r.exact_ambiguous, r.sense_accuracy)
    plain = text_only.score(pairs[~pairs["ambiguous"]], split="test")
    assert plain.sense_accuracy is None and plain.n < r.n
    with pytest.raises(ValueError, match="split"):
        T.evaluate(text_only, pairs, split="dev")


def test_gloss():
    assert T.gloss("红色") == "red" and T.gloss("很轻").startswith("hen-qing") and T.gloss("猫") == "猫"


def _weights_right(q, k, m):
    s = np.where(m, k @ q, -1e9)
    e = np.exp(s - s.max())
    return e / e.sum()


def test_check_attention_weights():
    exercises.check_attention_weights(_weights_right)
    with pytest.raises(AssertionError):
        exercises.check_attention_weights(lambda q, k, m: _weights_right(q, k, np.ones_like(m)))
    with pytest.raises(AssertionError):
        exercises.check_attention_weights(lambda q, k, m: np.where(m, k @ q, 0))


def test_check_ngram_precision():
    exercises.check_ngram_precision(T.ngram_precision)

    def unclipped(h, r, n):
        grams = [h[i : i + n] for i in range(len(h) - n + 1)]
        return sum(g in r for g in grams) / len(grams) if grams else 0.0

    with pytest.raises(AssertionError):
        exercises.check_ngram_precision(unclipped)
