"""Attention, transformer blocks, tokens, token-level fusion: numpy == Keras, masks, save/load, bad input."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mmteach import attention as A  # noqa: E402
from mmteach import attention_numpy as N  # noqa: E402
from mmteach import compute, models  # noqa: E402

RNG = np.random.default_rng(0)
D = 8


def _tokens():
    rng = np.random.default_rng(1)
    image = rng.normal(size=(2, 4, D)).astype("float32")
    text = rng.normal(size=(2, 5, D)).astype("float32")
    audio = rng.normal(size=(2, 3, D)).astype("float32")
    text_mask = np.array([[True, True, True, False, False], [True] * 5])
    return [image, text, audio], [None, text_mask, None]


# --------------------------------------------------------------------------- numpy attention


def test_scaled_dot_product_attention_masks_and_scales():
    q = RNG.normal(size=(2, 3, 4))
    k = RNG.normal(size=(2, 5, 4))
    v = RNG.normal(size=(2, 5, 6))
    mask = np.array([[True, True, False, False, True], [True] * 5])
    out, w = N.scaled_dot_product_attention(q, k, v, mask=mask)
    assert out.shape == (2, 3, 6) and w.shape == (2, 3, 5)
    assert np.allclose(w.sum(-1), 1.0)
    assert np.all(w[0, :, 2:4] == 0.0)
    scores = q @ np.swapaxes(k, 1, 2) / 2.0  # sqrt(4)
    assert np.allclose(w[1], N.softmax(scores[1]))
    _, unscaled = N.scaled_dot_product_attention(q, k, v, scale=False)
    assert np.allclose(unscaled, N.softmax(q @ np.swapaxes(k, 1, 2)))


def test_attention_bad_inputs():
    q = np.zeros((1, 2, 4))
    with pytest.raises(ValueError, match="k: expected the queries' width 4"):
        N.scaled_dot_product_attention(q, np.zeros((1, 3, 5)), np.zeros((1, 3, 5)))
    with pytest.raises(TypeError, match="mask: expected a bool array"):
        N.scaled_dot_product_attention(q, q, q, mask=np.ones((1, 2)))
    with pytest.raises(ValueError, match="at least one real"):
        N.scaled_dot_product_attention(q, q, q, mask=np.zeros((1, 2), bool))
    with pytest.raises(TypeError, match="q: expected a numeric array"):
        N.scaled_dot_product_attention("abc", q, q)
    with pytest.raises(ValueError, match="weights: expected the 8 arrays"):
        N.multi_head_attention(q, q, [np.zeros(1)], heads=2)
    with pytest.raises(ValueError, match="patch_size: expected a divisor"):
        N.patchify(np.zeros((1, 6, 6, 1)), 4)
    with pytest.raises(TypeError, match="heads: expected an int"):
        N.mha_parameter_count(8, 2.0, 4)


def test_multi_head_attention_equals_keras_with_mask():
    x = RNG.normal(size=(2, 5, D)).astype("float32")
    y = RNG.normal(size=(2, 6, D)).astype("float32")
    mask = np.array([[True, True, True, True, False, False], [True] * 6])
    mha = keras.layers.MultiHeadAttention(2, 4, name="mha")
    out, att = mha(
        x, y, attention_mask=np.broadcast_to(mask[:, None, :], (2, 5, 6)), return_attention_scores=True
    )
    ref, ref_att = N.multi_head_attention(x, y, mha.get_weights(), heads=2, mask=mask)
    assert np.allclose(np.asarray(out), ref, atol=1e-5)
    assert np.allclose(np.asarray(att), ref_att, atol=1e-6)
    assert mha.count_params() == N.mha_parameter_count(D, 2, 4)


def test_patchify_and_frames_match_layers():
    images = RNG.random((2, 32, 32, 3)).astype("float32")
    layer = A.PatchTokens(8, D, name="patches")
    out = np.asarray(layer(images))
    patches = N.patchify(images, 8)
    assert patches.shape == (2, 16, 192)
    assert np.allclose(np.asarray(layer.patches(images)), patches)
    kernel, bias = layer.numpy_weights()
    assert np.allclose(out, patches @ kernel + bias, atol=1e-5)
    assert np.allclose(patches[0, 1], images[0, :8, 8:16].reshape(-1))  # patch 1 = top row, second column
    spec = RNG.normal(size=(2, 30, 65)).astype("float32")
    frames = A.FrameTokens(3, D, name="frames")
    kernel, bias = (frames(spec), frames.numpy_weights())[1]
    assert np.allclose(np.asarray(frames(spec)), N.frames_to_tokens(spec, 3) @ kernel + bias, atol=1e-5)


# --------------------------------------------------------------------------- the block


def test_transformer_block_equals_numpy_and_mask_masks():
    x = RNG.normal(size=(2, 5, D)).astype("float32")
    mask = np.array([[True, True, True, False, False], [True] * 5])
    block = A.TransformerBlock(heads=2, mlp_dim=16, name="block")
    out = np.asarray(block(x, mask=mask))
    ref = N.transformer_block(x, block.numpy_weights(), heads=2, mask=mask)
    assert np.allclose(out, ref, atol=1e-5)
    changed = x.copy()
    changed[0, 3:] = 50.0  # padding
    again = np.asarray(block(changed, mask=mask))
    assert np.allclose(again[0, :3], out[0, :3], atol=1e-6) and np.allclose(again[1], out[1])


def test_block_bad_inputs():
    with pytest.raises(ValueError, match="dropout"):
        A.TransformerBlock(2, dropout=1.5)
    with pytest.raises(TypeError, match="heads: expected an int"):
        A.TransformerBlock("2")
    with pytest.raises(ValueError, match="expected one rank-3 input"):
        A.TransformerBlock(2, name="b")(np.zeros((2, 8), "float32"))
    with pytest.raises(ValueError, match="patch_size: expected a divisor"):
        A.PatchTokens(5, 8, name="p")(np.zeros((1, 32, 32, 3), "float32"))
    with pytest.raises(ValueError, match="frames_per_token"):
        A.FrameTokens(4, 8, name="f")(np.zeros((1, 30, 65), "float32"))


# --------------------------------------------------------------------------- token-level fusion


@pytest.mark.parametrize("kind", ["parallel", "sequential", "weighted"])
def test_token_fusion_equals_numpy_and_masks(kind):
    tokens, masks = _tokens()
    if kind == "parallel":
        layer = A.ParallelTokenFusion(1, 2, name="fusion")
        out = np.asarray(layer(tokens, mask=masks))
        ref = N.parallel_token_fusion(tokens, layer.numpy_weights(), 2, masks)
        assert out.shape == (2, 3 * D)
    elif kind == "sequential":
        layer = A.SingleStreamFusion(2, 2, name="fusion")
        out = np.asarray(layer(tokens, mask=masks))
        ref = N.single_stream_fusion(tokens, layer.numpy_weights(), 2, masks)
        maps = layer.attention_maps(tokens, mask=masks)
        assert maps[0].shape == (2, 2, 13, 13) and np.all(maps[0][0, :, :, 1 + 4 + 3 : 1 + 4 + 5] < 1e-6)
    else:
        layer = A.CrossAttentionFusion(1, 2, query=1, name="fusion")
        out = np.asarray(layer(tokens, mask=masks))
        ref, att = N.cross_attention_fusion(tokens, layer.numpy_weights(), 2, masks, query=1)
        assert np.allclose(layer.attention(tokens, mask=masks), att, atol=1e-5)
        shares = layer.modality_shares(tokens, mask=masks)
        assert shares.shape == (2, 2) and np.allclose(shares.sum(1), 1.0)
    assert np.allclose(out, ref, atol=1e-5)
    changed = [t.copy() for t in tokens]
    changed[1][0, 3:] = 99.0  # padded caption tokens
    assert np.allclose(np.asarray(layer(changed, mask=masks)), out, atol=1e-6)
    changed[1][0, 0] = 99.0  # a real token does change the result
    assert not np.allclose(np.asarray(layer(changed, mask=masks))[0], out[0], atol=1e-3)
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config


def test_token_fusion_bad_inputs():
    tokens, _ = _tokens()
    with pytest.raises(ValueError, match="expected a list of"):
        A.SingleStreamFusion(name="f")(tokens[0])
    with pytest.raises(ValueError, match="same token width"):
        A.ParallelTokenFusion(name="f")([tokens[0], np.zeros((2, 3, D + 1), "float32")])
    with pytest.raises(ValueError, match="query: expected a modality index"):
        A.CrossAttentionFusion(query=5, name="f")(tokens)
    with pytest.raises(ValueError, match="depth: expected an int >= 1"):
        A.SingleStreamFusion(depth=0)
    with pytest.raises(ValueError, match=r"masks: expected one mask"):
        N.single_stream_fusion(tokens, {}, 2, masks=[None])


def test_cross_attention_single_modality_attends_to_itself():
    tokens, masks = _tokens()
    layer = A.CrossAttentionFusion(1, 2, query=0, self_depth=0, name="fusion")
    out = np.asarray(layer(tokens[:1]))
    ref, att = N.cross_attention_fusion(tokens[:1], layer.numpy_weights(), 2, query=0)
    assert np.allclose(out, ref, atol=1e-5) and att.shape == (2, 2, 4, 4)


def test_modality_shares():
    att = N.softmax(RNG.normal(size=(2, 2, 3, 7)))
    shares = N.modality_shares(att, [4, 3], query_mask=np.array([[True, True, False], [True] * 3]))
    assert np.allclose(shares.sum(1), 1.0)
    with pytest.raises(ValueError, match="token_counts"):
        N.modality_shares(att, [4, 4])


# --------------------------------------------------------------------------- the builder


def _small_inputs(n=3):
    rng = np.random.default_rng(2)
    text = rng.integers(1, 20, size=(n, 16)).astype("int32")
    text[0, 5:] = 0
    return {
        "image": rng.random((n, 32, 32, 3)).astype("float32"),
        "text": text,
        "audio": rng.normal(size=(n, 30, 65)).astype("float32"),
    }


@pytest.mark.parametrize("fusion", ["parallel", "sequential", "weighted"])
def test_build_token_model_save_load(tmp_path, fusion):
    x = _small_inputs()
    model = models.build_token_model(fusion=fusion, width=8, vocab_size=20, name=f"m_{fusion}")
    before = model.predict(x, verbose=0)
    assert before.shape == (3, 9)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert np.allclose(loaded.predict(x, verbose=0), before, atol=1e-6)
    padded = {**x, "text": x["text"].copy()}
    padded["text"][0, 5:] = 0  # already padding: unchanged
    assert np.allclose(model.predict(padded, verbose=0), before, atol=1e-6)
    assert compute.multiply_adds(model, x) > 0


@pytest.mark.parametrize("mods", [("image",), ("audio", "text"), ("image", "audio")])
def test_build_token_model_subsets(mods):
    model = models.build_token_model(mods, fusion="weighted", width=8, vocab_size=20, compile=False)
    assert sorted(model.modalities) == sorted(mods)
    x = {m: v for m, v in _small_inputs().items() if m in mods}
    assert model.predict(x, verbose=0).shape == (3, 9)


def test_build_token_model_bad_inputs():
    with pytest.raises(ValueError, match="fusion: expected one of"):
        models.build_token_model(fusion="inject", vocab_size=20)
    with pytest.raises(TypeError, match="width: expected an int"):
        models.build_token_model(width="8", vocab_size=20)
    with pytest.raises(ValueError, match="vocab_size: required"):
        models.build_token_model(("text",))
    with pytest.raises(ValueError, match="modalities"):
        models.build_token_model((), vocab_size=20)


def test_multiply_adds_count_attention_products():
    inp = keras.Input((5, D))
    mha = keras.layers.MultiHeadAttention(2, 4, name="mha")
    model = keras.Model(inp, mha(inp, inp))
    macs = compute.multiply_adds(model, np.zeros((1, 5, D), "float32"))
    projections = 4 * 5 * D * 2 * 4
    assert macs == projections + 2 * 5 * 5 * 2 * 4


def test_scene_qa_and_clip_build():
    from mmteach import token_models as tm
    from mmteach.scenes import make_scenes

    sc = make_scenes(4, seed=0)
    x, y, vocab = tm.scene_qa_data(sc)
    assert x["image"].shape[1:] == (48, 48, 3) and x["question"].shape[1] == tm.QUESTION_LENGTH
    for fusion in ("weighted", "vector"):
        p = np.asarray(tm.build_scene_qa_model(len(vocab), fusion, width=8)(x))
        answers = tm.answer(p, sc.questions["type"])
        assert len(answers) == len(y)
    ids, cvocab = tm.caption_ids(sc)
    clip = tm.build_clip(tm.patch_encoder(8), len(cvocab), width=8)
    loss = clip.compute_loss(y_pred=clip({"image": sc.images.astype("float32") / 255, "caption": ids}))
    assert np.isfinite(float(loss))
    with pytest.raises(ValueError, match="fusion: expected 'weighted' or 'vector'"):
        tm.build_scene_qa_model(10, "late")
    with pytest.raises(TypeError, match="scenes: expected"):
        tm.scene_qa_data([1, 2])


# --------------------------------------------------------------------------- exercises


def test_exercise_checks_accept_right_and_refuse_wrong_answers():
    from mmteach import exercises as ex

    def unmasked(q, k, v, mask):
        return N.scaled_dot_product_attention(q, k, v)[0]

    ex.check_masked_attention(lambda q, k, v, mask: N.scaled_dot_product_attention(q, k, v, mask)[0])
    with pytest.raises(AssertionError, match="masked attention"):
        ex.check_masked_attention(unmasked)
    ex.check_mha_parameters(N.mha_parameter_count(32, 4, 8))
    with pytest.raises(AssertionError, match="parameters"):
        ex.check_mha_parameters(3 * 32 * 32 + 32 * 32)
    ex.check_patchify(N.patchify)
    with pytest.raises(AssertionError, match="patchify"):
        ex.check_patchify(lambda images, p: images.reshape(len(images), -1, p * p * images.shape[-1]))
    ex.check_training_compute(lambda m, s, e: 3 * m * s * e)
    with pytest.raises(AssertionError, match="training compute"):
        ex.check_training_compute(lambda m, s, e: m * s * e)


def test_compile_classifier_traces_once_and_restart_repeats_a_fresh_run():
    import keras

    from mmteach import token_models as tm

    def build():
        keras.utils.set_random_seed(0)
        inp = keras.Input((4,))
        return keras.Model(inp, keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(8)(inp)))

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 3, 32)
    model = tm.compile_classifier(build(), 1e-2)
    assert model.optimizer.built and model.optimizer.iterations.numpy() == 0
    start = model.get_weights()
    model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    first, step = model.get_weights(), model.train_function
    tm.restart(model, start)
    assert int(model.optimizer.iterations.numpy()) == 0
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), start, strict=True))
    model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    assert model.train_function is step  # the traced step was reused
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(model.get_weights(), first, strict=True))
    with pytest.raises(ValueError, match="weights"):
        tm.restart(model, start[:1])
    with pytest.raises(ValueError, match="learning_rate"):
        tm.compile_classifier(build(), 0.0)


def test_token_answer_refuses_unknown_question_types_and_a_single_str():
    from mmteach import scenes, token_models

    p = np.zeros((1, len(scenes.ANSWERS)))
    with pytest.raises(ValueError, match="question_types"):
        token_models.answer(p, ["colour?"])
    with pytest.raises(TypeError, match="question_types"):
        token_models.answer(p, "count")
