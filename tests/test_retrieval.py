"""Retrieval: InfoNCE (numpy vs Keras), recall@k, the dual encoder, zero-shot helpers, input checks."""

from __future__ import annotations

import numpy as np
import pytest

retrieval = pytest.importorskip("mmteach.applications.retrieval")


# --------------------------------------------------------------------------- InfoNCE


def test_info_nce_numpy_matches_keras():
    import keras

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 5)), rng.normal(size=(7, 5))
    na = a / np.linalg.norm(a, axis=1, keepdims=True)
    nb = b / np.linalg.norm(b, axis=1, keepdims=True)
    for t in (0.05, 0.5, 2.0):
        logits = keras.ops.convert_to_tensor(na @ nb.T / t)
        k = float(keras.ops.convert_to_numpy(retrieval.info_nce_loss(logits)))
        assert retrieval.info_nce_numpy(a, b, t) == pytest.approx(k, rel=1e-5)


def test_info_nce_is_symmetric_and_ordered():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(8, 6))
    b = rng.normal(size=(8, 6))
    # symmetric in the two modalities
    assert retrieval.info_nce_numpy(a, b) == pytest.approx(retrieval.info_nce_numpy(b, a))
    # matching pairs have a lower loss than random pairs; a uniform similarity gives ln B
    assert retrieval.info_nce_numpy(a, a + 0.1 * b) < retrieval.info_nce_numpy(a, b)
    same = np.ones((8, 3))
    assert retrieval.info_nce_numpy(same, same) == pytest.approx(np.log(8))


def test_info_nce_not_just_one_direction():
    import keras

    # caption 0 resembles every image: the two halves of the loss differ, and the
    # symmetric loss is not the row-only (image->text) cross-entropy
    s = np.eye(4) * 5.0
    s[:, 0] += 4.0
    rows = -np.mean(np.diag(s - np.log(np.exp(s).sum(axis=1, keepdims=True))))
    sym = float(keras.ops.convert_to_numpy(retrieval.info_nce_loss(keras.ops.convert_to_tensor(s))))
    assert sym != pytest.approx(rows)


@pytest.mark.parametrize(
    ("a", "b", "t", "match"),
    [
        (np.ones((3, 2)), np.ones((4, 2)), 0.1, "same shape"),
        (np.ones(3), np.ones(3), 0.1, "image_emb: expected an array with 2 dimensions"),
        (np.ones((3, 2)), np.ones((3, 2)), 0.0, "temperature"),
        (np.ones((3, 2)), np.ones((3, 2)), True, "temperature"),
    ],
)
def test_info_nce_bad_inputs(a, b, t, match):
    with pytest.raises(ValueError, match=match):
        retrieval.info_nce_numpy(a, b, t)


# --------------------------------------------------------------------------- recall@k


def test_recall_at_k_small_example():
    s = np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.5], [0.1, 0.2, 0.3]])
    # ranks of the diagonal: 0, 2, 0
    assert retrieval.recall_at_k(s, 1) == pytest.approx(2 / 3)
    assert retrieval.recall_at_k(s, 2) == pytest.approx(2 / 3)
    assert retrieval.recall_at_k(s, 3) == 1.0
    assert retrieval.recall_at_k(s.T, 1) == pytest.approx(2 / 3)


def test_recall_at_k_random_is_near_chance():
    rng = np.random.default_rng(3)
    s = rng.normal(size=(400, 400))
    assert retrieval.recall_at_k(s, 10) == pytest.approx(10 / 400, abs=0.02)
    assert retrieval.recall_at_k(s + 100 * np.eye(400), 1) == 1.0


def test_recall_table():
    t = retrieval.recall_table(np.eye(20), ks=(1, 5))
    assert list(t.index) == ["image->text", "text->image", "chance"]
    assert list(t.columns) == ["R@1", "R@5"]
    assert t.loc["image->text", "R@1"] == 1.0 and t.loc["chance", "R@5"] == pytest.approx(0.25)


@pytest.mark.parametrize(("s", "k", "error", "match"), [(np.ones((2, 3)), 1, ValueError, "square"),
                          (np.eye(3), 0, ValueError, "k"), (np.eye(3), 1.5, TypeError, "k")])  # fmt: skip
def test_recall_bad_inputs(s, k, error, match):
    with pytest.raises(error, match=match):
        retrieval.recall_at_k(s, k)


# --------------------------------------------------------------------------- the model


@pytest.fixture(scope="module")
def tiny_scenes():
    from mmteach.scenes import make_scenes

    return make_scenes(96, seed=3)


def test_dual_encoder_shapes_norms_and_training(tiny_scenes):
    import mmteach

    mmteach.setup_notebook(seed=0)
    sc = tiny_scenes
    vocab = retrieval.build_vocabulary(sc.meta["caption"])
    model = retrieval.build_dual_encoder(len(vocab), embed_dim=8, width=16, filters=4)
    x = retrieval.model_inputs(sc.images, sc.meta["caption"], vocab)
    assert x["image"].dtype == np.float32 and x["image"].max() <= 1.0
    assert x["text"].shape == (len(sc), retrieval.CAPTION_LENGTH)
    logits = np.asarray(model({k: v[:5] for k, v in x.items()}))
    assert logits.shape == (5, 5)
    # logits = cosine similarity times 1 / temperature (0.1 at the start)
    img, txt = model.embed_images(sc.images[:5]), model.embed_texts(x["text"][:5])
    np.testing.assert_allclose(np.linalg.norm(img, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(logits, img @ txt.T * 10.0, atol=1e-4)
    before = retrieval.info_nce_numpy(img, txt, 0.1)
    hist = model.fit(x, epochs=3, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    img, txt = model.embed_images(sc.images[:5]), model.embed_texts(x["text"][:5])
    assert retrieval.info_nce_numpy(img, txt, model.learned_temperature) < before
    sim = retrieval.similarity(model, sc.images, sc.meta["caption"], vocab)
    assert sim.shape == (len(sc), len(sc)) and np.all(np.abs(sim) <= 1 + 1e-5)


def test_dual_encoder_bad_inputs():
    with pytest.raises(ValueError, match="vocab_size"):
        retrieval.build_dual_encoder(2)
    with pytest.raises(ValueError, match="temperature"):
        retrieval.DualEncoder(10, temperature=0)
    model = retrieval.build_dual_encoder(10, embed_dim=4, width=8, filters=4)
    with pytest.raises(ValueError, match="images"):
        model.embed_images(np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="ids"):
        model.embed_texts(np.zeros((2, 5), np.float32))
    with pytest.raises(TypeError, match="model"):
        retrieval.similarity("model", np.zeros((1, 48, 48, 3)), ["a"], ["<pad>", "<unk>", "a"])
    with pytest.raises(ValueError, match="same number"):
        retrieval.model_inputs(np.zeros((2, 48, 48, 3), np.uint8), ["a red circle"], ["<pad>", "<unk>", "a"])


# --------------------------------------------------------------------------- zero-shot helpers


def test_zero_shot_prompts():
    p = retrieval.zero_shot_prompts()
    assert len(p) == 12 and p["prompt"].is_unique
    assert set(p["colour"]) == {"red", "green", "blue", "yellow"}
    assert retrieval.zero_shot_prompts(colours=["red"])["prompt"].tolist() == [
        "a red circle", "a red square", "a red triangle"]  # fmt: skip


def test_embed_in_canvas_places_the_object_in_the_middle():
    from mmteach.datasets import make_shapes_world

    sw = make_shapes_world(4, seed=1)
    canvas = retrieval.embed_in_canvas(sw.images)
    assert canvas.shape == (4, 48, 48, 3) and canvas.dtype == np.uint8
    # the centre holds the resized image; the border is background noise around the image's own grey
    from PIL import Image

    resized = np.asarray(Image.fromarray(sw.images[2]).resize((22, 22), Image.BILINEAR))
    np.testing.assert_array_equal(canvas[2, 13:35, 13:35], resized)
    border_mean = canvas[:, :8].reshape(4, -1).mean(axis=1)
    image_border = np.median(sw.images[:, 0].reshape(4, -1), axis=1)
    np.testing.assert_allclose(border_mean, image_border, atol=12)
    with pytest.raises(ValueError, match="images"):
        retrieval.embed_in_canvas(sw.images.astype(float))
    with pytest.raises(ValueError, match="object_size"):
        retrieval.embed_in_canvas(sw.images, object_size=50)


def test_single_object_pairs(tiny_scenes):
    sc = tiny_scenes
    objs = [sc.objects(i) for i in range(len(sc))]
    images, captions = retrieval.single_object_pairs(sc.images, objs, seed=0)
    assert images.shape == sc.images.shape and len(captions) == len(sc)
    for i in range(5):
        colour, shape = captions[i].split()[1:]
        assert any(o["colour"] == colour and o["shape"] == shape for o in objs[i])
    # the centre cell is a cell of the scene
    cells = [sc.images[0, r * 16 : r * 16 + 16, c * 16 : c * 16 + 16] for r in range(3) for c in range(3)]
    assert any(np.array_equal(images[0, 16:32, 16:32], cell) for cell in cells)
    with pytest.raises(ValueError, match="objects"):
        retrieval.single_object_pairs(sc.images, objs[:-1])


# --------------------------------------------------------------------------- exercise checks (notebook 09)


def test_check_recall_at_k():
    from mmteach import exercises

    def right(s, k):
        return float(np.mean((s > np.diag(s)[:, None]).sum(axis=1) < k))

    def off_by_one(s, k):
        return float(np.mean((s > np.diag(s)[:, None]).sum(axis=1) <= k))

    def columns(s, k):
        return float(np.mean((s > np.diag(s)[None, :]).sum(axis=0) < k))

    exercises.check_recall_at_k(right)
    for wrong in (off_by_one, columns):
        with pytest.raises(AssertionError, match="recall_at_k"):
            exercises.check_recall_at_k(wrong)


def test_check_info_nce():
    from mmteach import exercises

    def row_only(a, b, t):
        s = a @ b.T / t
        return -np.mean(np.diag(s - np.log(np.exp(s).sum(axis=1, keepdims=True))))

    exercises.check_info_nce(retrieval.info_nce_numpy)
    with pytest.raises(AssertionError, match="info_nce"):
        exercises.check_info_nce(row_only)
    with pytest.raises(AssertionError, match="info_nce"):
        exercises.check_info_nce(lambda a, b, t: retrieval.info_nce_numpy(a, b, 1.0))  # ignores temperature
