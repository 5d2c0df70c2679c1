"""Shapes World: generator, snapshot, cleaning rules, loaders."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import uniform_filter
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mmteach import datasets as ds

ROOT = ds.default_root()


@pytest.fixture(scope="module")
def generated():
    return ds.make_shapes_world(1500, seed=0)


@pytest.fixture()
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MMTEACH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# --------------------------------------------------------------------------- generator


def test_generator_shapes_and_types(generated):
    sw = generated
    assert sw.images.shape == (1500, 32, 32, 3) and sw.images.dtype == np.uint8
    assert sw.audio.shape == (1500, ds.AUDIO_SAMPLES) and sw.audio.dtype == np.float32
    assert np.abs(sw.audio).max() <= 1.0
    assert set(sw.meta["label_name"]) == set(ds.CLASS_NAMES)
    assert len(ds.CLASS_NAMES) >= 6
    # Classes are balanced within a few points of uniform.
    share = sw.meta["label"].value_counts(normalize=True)
    assert share.max() - share.min() < 0.05


def test_generator_is_deterministic_and_prefix_stable():
    a = ds.make_shapes_world(150, seed=3)
    b = ds.make_shapes_world(150, seed=3)
    c = ds.make_shapes_world(230, seed=3)
    d = ds.make_shapes_world(150, seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    pd.testing.assert_frame_equal(a.meta, b.meta)
    np.testing.assert_array_equal(a.images, c.images[:150])
    np.testing.assert_array_equal(a.audio, c.audio[:150])
    assert a.captions == c.captions[:150]
    assert not np.array_equal(a.images, d.images)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"n": 0}, "n: expected an int >= 1"), ({"n": 2.5}, "n: expected"), ({"n": 5, "seed": -1}, "seed"),
     ({"n": 5, "image_noise": float("nan")}, "image_noise"), ({"n": 5, "audio_noise": -1.0}, "audio_noise")],
)  # fmt: skip
def test_generator_rejects_bad_arguments(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):  # n=2.5 is a TypeError, the rest ValueErrors
        ds.make_shapes_world(**kwargs)


def test_captions_are_parallel_and_varied(generated):
    en, zh = generated.captions, generated.captions_zh
    assert all(en) and all(zh)
    assert len(set(en)) > 500  # templates, synonyms and omissions give variety
    words = {ds.SHAPES[k]: v for k, v in ds.CAPTION_WORDS["shape"].items()}
    named = generated.meta.apply(lambda r: any(w in r["caption_en"] for w in words[r["shape"]]), axis=1)
    assert 0.4 < named.mean() < 0.6  # the shape is named only half of the time
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in c) for c in zh[:100])


def _image_features(images: np.ndarray) -> np.ndarray:
    """Hand-made shape features: fill ratio and spread of the object's mask."""
    img = uniform_filter(images.astype(np.float32) / 255, size=(1, 3, 3, 1))
    bg = np.median(img.reshape(len(img), -1, 3), axis=1)[:, None, None, :]
    dist = np.sqrt(((img - bg) ** 2).sum(-1))
    mask = (dist > 0.5 * dist.reshape(len(dist), -1).max(1)[:, None, None]).astype(float)
    yy, xx = np.mgrid[0:32, 0:32] + 0.5
    area = mask.sum((1, 2)) + 1e-6
    cx, cy = (mask * xx).sum((1, 2)) / area, (mask * yy).sum((1, 2)) / area
    r = np.hypot(xx - cx[:, None, None], yy - cy[:, None, None])
    rmax = np.array(
        [np.percentile(ri[mi > 0], 98) if mi.any() else 1.0 for ri, mi in zip(r, mask, strict=True)]
    )
    spread = (mask * r**2).sum((1, 2)) / area
    return np.column_stack([area / rmax**2, spread / rmax**2, area, rmax])


def _audio_features(audio: np.ndarray) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(audio, 128, axis=1)[:, ::64]
    spec = np.log1p(np.abs(np.fft.rfft(frames * np.hanning(128), axis=-1)))
    return np.concatenate([spec.mean(1), spec.max(1)], 1)


@pytest.mark.slow  # trains models: the full lane only
def test_no_single_modality_suffices_but_fusion_does(generated):
    """The label rule: best single modality <= 60%, fused >= 90%, gap >= 25 points."""
    sw = generated
    y = sw.labels
    train = (sw.meta["split"] != "test").to_numpy()
    text = CountVectorizer().fit([c for c, t in zip(sw.captions, train, strict=True) if t])
    features = {
        "image": _image_features(sw.images),
        "audio": _audio_features(sw.audio),
        "text": text.transform(sw.captions).toarray(),
    }
    features["fused"] = np.concatenate(list(features.values()), axis=1)
    scores = {}
    for name, x in features.items():
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.5))
        scores[name] = model.fit(x[train], y[train]).score(x[~train], y[~train])
    best_single = max(scores["image"], scores["audio"], scores["text"])
    assert best_single <= 0.60, scores
    assert scores["fused"] >= 0.90, scores
    assert scores["fused"] - best_single >= 0.25, scores
    # Each modality carries what the data card says: image -> shape, audio -> material.
    shape_model = LogisticRegression(max_iter=2000).fit(features["image"][train], sw.meta["shape"][train])
    assert shape_model.score(features["image"][~train], sw.meta["shape"][~train]) > 0.9


# --------------------------------------------------------------------------- planted problems and cleaning


def test_planted_problems_are_all_fixed_by_cleaning(generated):
    raw, log = ds.plant_problems(generated.meta)
    assert set(log["problem"]) == {
        "missing value", "duplicate row", "inconsistent spelling", "out of range",
        "missing file", "empty caption", "personal data",
    }  # fmt: skip
    assert raw.duplicated().sum() == (log["problem"] == "duplicate row").sum()
    clean = ds.clean_metadata(raw, set(generated.meta["id"]))
    assert clean["id"].is_unique
    for column, allowed in ds.CATEGORIES.items():
        extra = {"unknown"} if column == "colour" else set()
        assert set(clean[column]) <= set(allowed) | extra
    for column, (low, high) in ds.RANGES.items():
        assert clean[column].between(low, high).all()
    assert not clean["caption_en"].str.contains("@|555", regex=True).any()
    ghosts = log.loc[log["problem"] == "missing file", "id"]
    assert not clean["id"].isin(ghosts).any()
    unlabeled = log.loc[(log["problem"] == "missing value") & log["column"].isin(["shape", "material"]), "id"]
    assert len(clean) == len(generated) - unlabeled.nunique()
    # Rows that were not touched keep their true attributes and label.
    truth = generated.meta.set_index("id")
    untouched = clean[~clean["id"].isin(log["id"])].set_index("id")
    pd.testing.assert_series_equal(untouched["label"], truth.loc[untouched.index, "label"], check_dtype=False)
    # Misspelled categories are recovered, so labels are right for those rows too.
    respelled = clean[clean["id"].isin(log.loc[log["problem"] == "inconsistent spelling", "id"])].set_index(
        "id"
    )
    assert (respelled["label"] == truth.loc[respelled.index, "label"]).all()


def test_clean_metadata_rejects_missing_columns(generated):
    with pytest.raises(ValueError, match="raw: missing columns"):
        ds.clean_metadata(generated.meta.drop(columns=["shape"]))


def test_scrub_pii():
    assert ds.scrub_pii("box call 555-0142-7788 or j.doe@example.org") == "box call [phone] or [email]"
    with pytest.raises(TypeError, match="text: expected str"):
        ds.scrub_pii(None)


# --------------------------------------------------------------------------- snapshot and loader


def test_bundled_snapshot_verifies():
    assert ds.verify_snapshot() >= 6000
    size = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file())
    assert size <= 25 * 2**20


def test_rebuilding_reproduces_the_committed_files(tmp_path):
    """`mmteach data build` regenerates identical arrays and texts (checked on n=100)."""
    ds.build_snapshot(tmp_path, n=100)
    raw_new = ds.load_raw_metadata(tmp_path)
    raw_old = ds.load_raw_metadata(ROOT)
    for i in [f"sw_{k:05d}" for k in range(100)]:
        np.testing.assert_array_equal(
            ds.read_png(tmp_path / f"images/{i}.png"), ds.read_png(ROOT / f"images/{i}.png")
        )
        np.testing.assert_array_equal(
            ds.read_wav(tmp_path / f"audio/{i}.wav"), ds.read_wav(ROOT / f"audio/{i}.wav")
        )
    # Captions of the first 100 samples agree wherever neither snapshot planted a problem in them.
    planted = set(pd.read_csv(ROOT / "planted_problems.csv")["id"]) | set(
        pd.read_csv(tmp_path / "planted_problems.csv")["id"]
    )
    new = raw_new.drop_duplicates("id").set_index("id")
    old = raw_old.drop_duplicates("id").set_index("id")
    ids = [i for i in new.index if i not in planted and i in old.index]
    assert len(ids) > 60
    pd.testing.assert_frame_equal(
        new.loc[ids, ["caption_en", "caption_zh"]], old.loc[ids, ["caption_en", "caption_zh"]]
    )
    assert ds.verify_snapshot(tmp_path) == 2 * 100 + 2


def test_corrupt_and_missing_files_are_named(tmp_path, private_cache):
    root = tmp_path / "sw"
    ds.build_snapshot(root, n=30)
    (root / "images" / "sw_00007.png").write_bytes(b"not a png")
    with pytest.raises(ds.DataError, match="sw_00007.png: checksum mismatch"):
        ds.verify_snapshot(root)
    with pytest.raises(ds.DataError, match="sw_00007.png"):
        ds.load_shapes_world(root)
    ds.build_snapshot(root, n=30)
    (root / "audio" / "sw_00011.wav").unlink()
    with pytest.raises(ds.DataError, match="sw_00011.wav: listed in MANIFEST.sha256 but missing"):
        ds.load_shapes_world(root)
    with pytest.raises(ds.DataError, match="manifest not found"):
        ds.load_shapes_world(tmp_path / "nowhere")


def test_loader_caches_and_matches_generator(tmp_path, private_cache):
    root = tmp_path / "sw"
    ds.build_snapshot(root, n=120)
    first = ds.load_shapes_world(root)
    assert len(list(private_cache.glob("*.npz"))) == 1
    second = ds.load_shapes_world(root)
    np.testing.assert_array_equal(first.images, second.images)
    pd.testing.assert_frame_equal(first.meta, second.meta)
    truth = ds.make_shapes_world(120).meta.set_index("id")
    gen = ds.make_shapes_world(120)
    rows = truth.index.get_indexer(first.meta["id"])
    np.testing.assert_array_equal(first.images, gen.images[rows])
    np.testing.assert_array_equal(first.audio, gen.audio[rows])
    # A damaged cache is rebuilt, not trusted.
    next(private_cache.glob("*.npz")).write_bytes(b"garbage")
    third = ds.load_shapes_world(root)
    np.testing.assert_array_equal(first.images, third.images)
    test = ds.load_shapes_world(root, split="test")
    assert set(test.meta["split"]) == {"test"}
    with pytest.raises(ValueError, match="split: expected one of"):
        ds.load_shapes_world(root, split="dev")


def test_bundled_dataset_loads_clean():
    sw = ds.load_shapes_world()
    assert len(sw) == 2980
    assert sw.meta["id"].is_unique and set(sw.meta["split"]) == set(ds.SPLITS)
    assert sw.images.shape[1:] == (32, 32, 3) and sw.labels.max() == len(ds.CLASS_NAMES) - 1


def test_file_readers_reject_bad_files(tmp_path):
    (tmp_path / "a.png").write_text("hello")
    with pytest.raises(ds.DataError, match="a.png: not a readable image"):
        ds.read_png(tmp_path / "a.png")
    with pytest.raises(ds.DataError, match="b.png: image file not found"):
        ds.read_png(tmp_path / "b.png")
    (tmp_path / "c.wav").write_bytes(ds.encode_wav(np.zeros(100), sample_rate=16000))
    with pytest.raises(ds.DataError, match="expected a sample rate of 8000 Hz, got 16000 Hz"):
        ds.read_wav(tmp_path / "c.wav")
    (tmp_path / "d.wav").write_bytes(b"RIFF0000WAVE")
    with pytest.raises(ds.DataError, match="d.wav: not a readable WAV"):
        ds.read_wav(tmp_path / "d.wav")
    with pytest.raises(ValueError, match="image: expected a"):
        ds.encode_png(np.zeros((4, 4), dtype=np.uint8))


def test_shapesworld_container_checks_lengths(generated):
    with pytest.raises(ValueError, match="same length"):
        ds.ShapesWorld(generated.meta.iloc[:3], generated.images[:4], generated.audio[:3])
    with pytest.raises(ValueError, match="name: expected one of"):
        generated.split("dev")


# --------------------------------------------------------------------------- real datasets


def test_digits_are_real_images():
    (x_tr, y_tr), (x_te, y_te) = ds.load_digits_images()
    assert x_tr.shape[1:] == (8, 8, 1) and len(x_tr) + len(x_te) == 1797
    assert 0.0 <= x_tr.min() and x_tr.max() <= 1.0 and set(y_te) == set(range(10))


def test_keras_dataset_loader_uses_cache_and_checksum(tmp_path, monkeypatch):
    arrays = {"x_train": np.zeros((3, 28, 28), np.uint8), "y_train": np.arange(3),
              "x_test": np.ones((2, 28, 28), np.uint8), "y_test": np.arange(2)}  # fmt: skip
    np.savez(tmp_path / "mnist.npz", **arrays)
    monkeypatch.setitem(ds.KERAS_DATASETS, "mnist", ("mnist.npz", ds.sha256_file(tmp_path / "mnist.npz")))
    (x_tr, y_tr), (x_te, _) = ds.load_keras_dataset("mnist", cache=tmp_path)
    assert x_tr.shape == (3, 28, 28) and x_te.shape == (2, 28, 28)
    monkeypatch.setitem(ds.KERAS_DATASETS, "mnist", ("mnist.npz", "0" * 64))
    with pytest.raises(ds.DataError, match="mnist.npz: checksum mismatch"):
        ds.load_keras_dataset("mnist", cache=tmp_path)
    with pytest.raises(ds.DataError, match="imdb.npz: not cached; call with download=True"):
        ds.load_keras_dataset("imdb", cache=tmp_path / "empty")
    with pytest.raises(ValueError, match="name: expected one of"):
        ds.load_keras_dataset("cifar", cache=tmp_path)


def test_snapshot_copy_can_be_verified_after_move(tmp_path):
    """The manifest holds relative paths: a copied snapshot still verifies."""
    target = tmp_path / "copy"
    shutil.copytree(ROOT, target)
    assert ds.verify_snapshot(target) == ds.verify_snapshot(ROOT)


def test_caption_candidates_and_ceilings(generated):
    assert ds.caption_candidates("there is a big wooden wedge") == ({"triangle"}, {"wood"})
    assert ds.caption_candidates("a red thing") == (set(ds.SHAPES), set(ds.MATERIALS))
    assert ds.caption_candidates("a disc made of oak or latex") == ({"circle"}, {"wood", "rubber"})
    with pytest.raises(TypeError, match="caption: expected str"):
        ds.caption_candidates(3)
    ceilings = ds.modality_ceilings(generated)
    assert ceilings["image"] == pytest.approx(1 / 3) and ceilings["audio"] == pytest.approx(1 / 3)
    assert 0.45 < ceilings["text"] < 0.60
    # The true class is among the candidates unless a typo hid a word.
    hits = [
        s in ds.caption_candidates(c)[0] and m in ds.caption_candidates(c)[1]
        for c, s, m in zip(
            generated.captions, generated.meta["shape"], generated.meta["material"], strict=True
        )
    ]
    assert np.mean(hits) > 0.97
    with pytest.raises(ValueError, match="sw: expected a non-empty ShapesWorld"):
        ds.modality_ceilings(generated.subset(np.zeros(len(generated), dtype=bool)))
