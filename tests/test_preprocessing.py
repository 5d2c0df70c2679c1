"""Tests for mmteach.preprocessing (and the notebook-01 exercise checks)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmteach import datasets, exercises
from mmteach import preprocessing as P

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def small():
    return datasets.make_shapes_world(200, seed=3)


@pytest.fixture(scope="module")
def raw_small(small):
    raw, log = datasets.plant_problems(small.meta, seed=3)
    return raw, log


# --------------------------------------------------------------------------- text


def test_clean_text_examples():
    assert P.clean_text("  A Red BOX, call 555-0142-7788!") == "a red box call [phone]"
    assert P.clean_text("Mail ANNA.li@example.com now") == "mail [email] now"
    assert P.clean_text("a three-sided shape.") == "a three-sided shape"
    assert P.clean_text("一个红色的方块") == "一个红色的方块"
    assert P.clean_text("") == ""
    # Punctuation between digits must not leave a phone number behind.
    assert P.clean_text("1,2,3,4,5,6,7,8") == "[phone]"


@SETTINGS
@given(st.text(max_size=60))
def test_clean_text_is_idempotent(text):
    once = P.clean_text(text)
    assert P.clean_text(once) == once


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list("abcXYZ019 ,.!-@+")), max_size=60))
def test_clean_text_is_idempotent_on_digit_and_punctuation_soup(text):
    once = P.clean_text(text)
    assert P.clean_text(once) == once
    assert once == once.lower() and "  " not in once and once == once.strip()


def test_clean_text_rejects_non_str():
    with pytest.raises(TypeError, match="text"):
        P.clean_text(None)


def test_tokenize():
    assert P.tokenize("There is a small, wooden circle.") == ["there", "is", "a", "small", "wooden", "circle"]


def test_build_vocabulary_order_and_caps():
    vocab = P.build_vocabulary(["a red box", "a blue box", "a box"])
    assert vocab == ["<pad>", "<unk>", "a", "box", "blue", "red"]
    assert P.build_vocabulary(["a red box", "a blue box"], max_tokens=4) == ["<pad>", "<unk>", "a", "box"]
    assert P.build_vocabulary(["a red box", "a blue box"], min_count=2) == ["<pad>", "<unk>", "a", "box"]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"texts": "a red box"}, TypeError, "texts"),
        ({"texts": ["ok", 3]}, TypeError, r"texts\[1\]"),
        ({"texts": ["", "  "]}, ValueError, "non-empty"),
        ({"texts": ["a"], "max_tokens": 2}, ValueError, "max_tokens"),
        ({"texts": ["a"], "max_tokens": 3.5}, TypeError, "max_tokens"),
        ({"texts": ["a"], "min_count": 0}, ValueError, "min_count"),
        ({"texts": 5}, TypeError, "texts"),
    ],
)
def test_build_vocabulary_validates(kwargs, error, match):
    with pytest.raises(error, match=match):
        P.build_vocabulary(**kwargs)


def test_encode_and_decode():
    vocab = ["<pad>", "<unk>", "a", "box", "red"]
    ids = P.encode_texts(["a red box", "a green box a a a"], vocab, 5)
    assert ids.dtype == np.int32
    np.testing.assert_array_equal(ids, [[2, 4, 3, 0, 0], [2, 1, 3, 2, 2]])
    assert P.decode_ids(ids[0], vocab) == "a red box"
    assert P.decode_ids(ids[1], vocab) == "a <unk> box a a"
    assert P.decode_ids([], vocab) == ""


@pytest.mark.parametrize(
    "args, error, match",
    [
        (("a red box", ["<pad>", "<unk>", "a"], 4), TypeError, "texts"),
        ((["a"], ["a", "<pad>", "<unk>"], 4), ValueError, "vocabulary"),
        ((["a"], ["<pad>", "<unk>", "a", "a"], 4), ValueError, "unique"),
        ((["a"], ["<pad>", "<unk>", "a"], 0), ValueError, "sequence_length"),
        ((["a"], ["<pad>", "<unk>", "a"], 2.0), TypeError, "sequence_length"),
        (([None], ["<pad>", "<unk>", "a"], 2), TypeError, r"texts\[0\]"),
    ],
)
def test_encode_texts_validates(args, error, match):
    with pytest.raises(error, match=match):
        P.encode_texts(*args)


@pytest.mark.parametrize("ids", [[[1, 2]], [0.5, 1.0], [7], [-1]])
def test_decode_ids_validates(ids):
    with pytest.raises(ValueError, match="ids"):
        P.decode_ids(ids, ["<pad>", "<unk>", "a"])


words = st.sampled_from(
    ["a", "Red", "box,", "three-sided", "OAK.", "call 555-0142-7788", "圆形", "!", "x@y.org"]
)


@SETTINGS
@given(st.lists(st.lists(words, max_size=12).map(" ".join), min_size=1, max_size=5), st.integers(1, 30))
def test_encode_decode_loses_only_what_cleaning_removes(texts, length):
    if not any(P.tokenize(t) for t in texts):
        return
    vocab = P.build_vocabulary(texts)
    ids = P.encode_texts(texts, vocab, length)
    for text, row in zip(texts, ids, strict=True):
        expected = " ".join(P.tokenize(text)[:length])
        assert P.decode_ids(row, vocab) == expected


# --------------------------------------------------------------------------- audio


def test_log_spectrogram_matches_tf_signal_stft():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.3, (3, 2000)).astype(np.float32)
    ours = P.log_spectrogram(audio)
    stft = tf.signal.stft(audio, frame_length=128, frame_step=64, window_fn=tf.signal.hann_window)
    theirs = np.log1p(np.abs(stft.numpy()))
    assert ours.shape == theirs.shape == (3, 30, 65)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_log_spectrogram_of_a_tone_peaks_at_its_frequency():
    t = np.arange(2000) / 8000
    spec = P.log_spectrogram(np.sin(2 * np.pi * 1000 * t))  # 1 kHz: bin 1000 / (8000 / 128) = 16
    assert spec.shape == (1, 30, 65)
    assert (spec[0].argmax(axis=1) == 16).all()


@pytest.mark.parametrize(
    "audio, kwargs, error, match",
    [
        (np.zeros((2, 100)), {}, ValueError, "audio"),
        (np.zeros((2, 3, 400)), {}, ValueError, "audio"),
        (np.zeros((0, 400)), {}, ValueError, "audio"),
        (np.zeros((2, 400), dtype=np.int16), {}, TypeError, "dtype"),
        (np.full((1, 400), np.nan), {}, ValueError, "NaN"),
        (np.zeros((1, 400)), {"frame_length": 1}, ValueError, "frame_length"),
        (np.zeros((1, 400)), {"frame_step": 0}, ValueError, "frame_step"),
    ],
)
def test_log_spectrogram_validates(audio, kwargs, error, match):
    with pytest.raises(error, match=match):
        P.log_spectrogram(audio, **kwargs)


def test_remove_noise_floor():
    spec = np.random.default_rng(0).normal(size=(2, 9, 4)) + np.arange(4)
    out = P.remove_noise_floor(spec)
    np.testing.assert_allclose(np.median(out, axis=1), 0, atol=1e-12)
    bad_inputs = [
        (np.zeros((3, 4)), ValueError),
        (np.zeros((1, 3, 4), dtype=int), TypeError),
        (np.full((1, 3, 4), np.inf), ValueError),
        (np.zeros((0, 3, 4)), ValueError),
    ]
    for bad, error in bad_inputs:
        with pytest.raises(error, match="spectrogram"):
            P.remove_noise_floor(bad)


# --------------------------------------------------------------------------- tables


def test_quality_report_finds_every_planted_problem(raw_small, tmp_path):
    raw, log = raw_small
    # Give every real sample its files, so only the planted ghosts are missing.
    for column in ("image", "audio"):
        for p in raw[column]:
            if not p.startswith(("images/sw_002", "audio/sw_002")) and int(p[-9:-4]) < 200:
                (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / p).touch()
    report = P.quality_report(raw, root=tmp_path).set_index(["problem", "column"])["count"]
    expected = log.groupby(["problem", "column"]).size()
    for key, count in expected.items():
        assert report[key] == count, key
    assert report[("missing file", "audio")] == expected[("missing file", "image")]
    assert report[("conflicting id", "id")] == 0


def test_quality_report_after_cleaning_is_clean(raw_small, small):
    raw, _ = raw_small
    clean = datasets.clean_metadata(raw, set(small.meta["id"]))
    cats = {**datasets.CATEGORIES, "colour": (*datasets.COLOURS, "unknown")}
    report = P.quality_report(clean, categories=cats)
    problems = report[report["count"] > 0]
    # Only the empty captions are kept on purpose (image and audio still inform).
    assert problems[["problem", "column"]].values.tolist() == [["empty caption", "caption_en"]]


def test_quality_report_small_table():
    df = pd.DataFrame(
        {
            "id": ["a", "b", "b", "c", "c"],
            "shape": ["circle", "Circle", "Circle", "blob", None],
            "x": [1.0, 99.0, 99.0, "abc", 3.0],
            "caption_en": ["ok", " ", " ", "mail me at a@b.org", None],
        }
    )
    r = P.quality_report(df, ranges={"x": (0, 10)}).set_index(["problem", "column"])
    assert r.loc[("duplicate row", "*"), "count"] == 1
    assert r.loc[("conflicting id", "id"), "count"] == 1
    assert r.loc[("inconsistent spelling", "shape"), "count"] == 2
    assert r.loc[("unknown category", "shape"), "count"] == 1
    assert r.loc[("unknown category", "shape"), "example"] == "'blob'"
    assert r.loc[("missing value", "shape"), "count"] == 1
    assert r.loc[("not a number", "x"), "count"] == 1
    assert r.loc[("out of range", "x"), "count"] == 2
    assert r.loc[("empty caption", "caption_en"), "count"] == 3
    assert r.loc[("personal data", "caption_en"), "count"] == 1
    assert ("missing value", "caption_en") not in r.index  # text gaps count as empty captions
    assert list(r.reset_index().columns) == ["problem", "column", "count", "example"]


@pytest.mark.parametrize(
    "df, kwargs, error, match",
    [
        ([1, 2], {}, TypeError, "df"),
        (pd.DataFrame(), {}, ValueError, "df"),
        (pd.DataFrame({"a": [1]}), {"categories": {"nope": ["x"]}}, ValueError, "nope"),
        (pd.DataFrame({"a": [1]}), {"ranges": {"a": (2, 1)}}, ValueError, "ranges"),
        (pd.DataFrame({"a": [1]}), {"ranges": {"a": (0, np.inf)}}, ValueError, "ranges"),
        (pd.DataFrame({"a": [1]}), {"text_columns": ["b"]}, ValueError, "text_columns"),
        (pd.DataFrame({"a": [1]}), {"file_columns": ["b"]}, ValueError, "file_columns"),
        (pd.DataFrame({"a": [1]}), {"categories": ["a"]}, TypeError, "categories"),
        (pd.DataFrame({"a": [1]}), {"root": "/nonexistent-folder-xyz"}, ValueError, "root"),
    ],
)
def test_quality_report_validates(df, kwargs, error, match):
    with pytest.raises(error, match=match):
        P.quality_report(df, **kwargs)


def test_pseudonymise_ids_is_hmac_sha256():
    import hashlib
    import hmac

    out = P.pseudonymise_ids(["sw_00001"], "salt")
    assert out == ["p_" + hmac.new(b"salt", b"sw_00001", hashlib.sha256).hexdigest()[:16]]
    assert P.pseudonymise_ids(["sw_00001"], b"salt") == out
    assert P.pseudonymise_ids(["sw_00001"], "other salt") != out
    assert P.pseudonymise_ids(["sw_00001"], "salt", length=64, prefix="")[0].startswith(out[0][2:])


@SETTINGS
@given(
    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=40, unique=True),
    st.binary(min_size=1),
)
def test_pseudonymise_ids_deterministic_and_injective(ids, salt):
    first = P.pseudonymise_ids(ids, salt)
    assert first == P.pseudonymise_ids(list(ids), salt)
    assert len(set(first)) == len(ids)
    assert not set(first) & set(ids)


@pytest.mark.parametrize(
    "ids, salt, kwargs, error, match",
    [
        (["a"], "", {}, ValueError, "salt"),
        (["a"], b"", {}, ValueError, "salt"),
        (["a"], 123, {}, TypeError, "salt"),
        (["a"], None, {}, TypeError, "salt"),
        ([], "s", {}, ValueError, "ids"),
        ("abc", "s", {}, TypeError, "ids"),
        ([1, 2], "s", {}, TypeError, "ids"),
        (["a"], "s", {"length": 4}, ValueError, "length"),
        (["a"], "s", {"length": 65}, ValueError, "length"),
    ],
)
def test_pseudonymise_ids_validates(ids, salt, kwargs, error, match):
    with pytest.raises(error, match=match):
        P.pseudonymise_ids(ids, salt, **kwargs)


def test_save_and_load_clean_round_trip(raw_small, small, tmp_path):
    clean = datasets.clean_metadata(raw_small[0], set(small.meta["id"]))
    path = P.save_clean(clean, tmp_path / "out")
    assert path.name == "metadata_clean.csv"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp files left
    info = json.loads((tmp_path / "out" / "metadata_clean.json").read_text())
    assert info["rows"] == len(clean) and len(info["sha256"]) == 64
    back = P.load_clean(tmp_path / "out")
    pd.testing.assert_frame_equal(back, clean)
    assert (back["caption_en"] == "").sum() == (clean["caption_en"] == "").sum()


def test_load_clean_detects_tampering(tmp_path):
    P.save_clean(pd.DataFrame({"id": ["a", "b"], "x": [1.5, 2.0]}), tmp_path)
    csv = tmp_path / "metadata_clean.csv"
    csv.write_text(csv.read_text().replace("1.5", "9.5"))
    with pytest.raises(datasets.DataError, match="checksum"):
        P.load_clean(tmp_path)
    with pytest.raises(datasets.DataError, match="save_clean"):
        P.load_clean(tmp_path / "empty")


@pytest.mark.parametrize(
    "df, folder, name, error",
    [
        ("not a frame", "x", "m", TypeError),
        (pd.DataFrame(), "x", "m", ValueError),
        (pd.DataFrame({"a": [1]}), 3, "m", TypeError),
        (pd.DataFrame({"a": [1]}), "x", "../evil", ValueError),
    ],
)
def test_save_clean_validates(df, folder, name, error, tmp_path):
    folder = tmp_path / folder if isinstance(folder, str) else folder
    with pytest.raises(error):
        P.save_clean(df, folder, name)


# --------------------------------------------------------------------------- preprocessor


def test_preprocessor_transform_shapes(small):
    prep = P.ShapesWorldPreprocessor(sequence_length=12).fit(small.split("train"))
    data = prep.transform(small)
    assert data.inputs["image"].dtype == np.float32 and data.inputs["image"].max() <= 1.0
    assert data.inputs["text"].shape == (len(small), 12)
    assert data.inputs["audio"].shape == (len(small), 30, 65)
    assert data.inputs["text"].max() < prep.vocab_size
    np.testing.assert_array_equal(data.labels, small.labels)
    assert set(data.select(["image", "text"])) == {"image", "text"}
    with pytest.raises(ValueError, match="modalities"):
        data.select(["video"])
    with pytest.raises(TypeError, match="modalities"):
        data.select("image")
    part = data.subset(np.arange(len(data)) < 5)
    assert len(part) == 5 and len(part.meta) == 5


def test_preprocessor_fit_uses_only_what_it_is_given(small):
    train, test = small.split("train"), small.split("test")
    prep = P.ShapesWorldPreprocessor().fit(train)
    changed = test.meta.copy()
    changed["caption_en"] = "zebra unicorn " + changed["caption_en"]
    test2 = datasets.ShapesWorld(changed, test.images, test.audio * 3)
    prep2 = P.ShapesWorldPreprocessor().fit(train)
    assert prep.get_config() == prep2.get_config()
    assert "zebra" not in prep.vocabulary
    encoded = prep.transform(test2).inputs["text"]
    assert (encoded[:, :2] == 1).all()  # unknown words are OOV, not new entries


@SETTINGS
@given(st.lists(st.sampled_from(["zebra", "unicorn", "a red box", "", "call 555 0100 2345"]), min_size=1))
def test_vocabulary_does_not_depend_on_test_captions(small, new_captions):
    train = small.split("train")
    test = small.split("test")
    meta = test.meta.copy()
    meta["caption_en"] = [new_captions[i % len(new_captions)] for i in range(len(meta))]
    whole = datasets.ShapesWorld(
        pd.concat([train.meta, meta], ignore_index=True),
        np.concatenate([train.images, test.images]),
        np.concatenate([train.audio, test.audio]),
    )
    prep = P.ShapesWorldPreprocessor().fit(whole.split("train"))
    assert prep.vocabulary == P.ShapesWorldPreprocessor().fit(train).vocabulary


def test_get_config_round_trip_gives_identical_transform(small):
    prep = P.ShapesWorldPreprocessor(sequence_length=10, max_tokens=30).fit(small.split("train"))
    config = json.loads(json.dumps(prep.get_config()))
    again = P.ShapesWorldPreprocessor.from_config(config)
    a, b = prep.transform(small), again.transform(small)
    for m in a.inputs:
        np.testing.assert_array_equal(a.inputs[m], b.inputs[m])
    assert again.get_config() == prep.get_config()


@pytest.mark.parametrize(
    "kwargs, match",
    [({"sequence_length": 0}, "sequence_length"), ({"max_tokens": 2}, "max_tokens"),
     ({"frame_length": 1}, "frame_length"), ({"frame_step": 0}, "frame_step")],
)  # fmt: skip
def test_preprocessor_validates_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        P.ShapesWorldPreprocessor(**kwargs)


def test_preprocessor_validates_use(small):
    prep = P.ShapesWorldPreprocessor()
    with pytest.raises(RuntimeError, match="fit"):
        prep.transform(small)
    with pytest.raises(TypeError, match="train"):
        prep.fit(small.meta)
    with pytest.raises(ValueError, match="empty"):
        prep.fit(small.subset(np.zeros(len(small), dtype=bool)))  # an empty dataset
    prep.fit(small)
    with pytest.raises(TypeError, match="data"):
        prep.transform(small.images)
    config = prep.get_config()
    with pytest.raises(ValueError, match="missing keys"):
        P.ShapesWorldPreprocessor.from_config({k: v for k, v in config.items() if k != "vocabulary"})
    with pytest.raises(ValueError, match="audio_scale"):
        P.ShapesWorldPreprocessor.from_config({**config, "audio_scale": -1.0})
    with pytest.raises(ValueError, match="vocabulary"):
        P.ShapesWorldPreprocessor.from_config({**config, "vocabulary": ["x", "y"]})
    with pytest.raises(TypeError, match="config"):
        P.ShapesWorldPreprocessor.from_config([1, 2])


def test_load_prepared_validates():
    with pytest.raises(TypeError, match="split_names"):
        P.load_prepared("train")
    with pytest.raises(ValueError, match="split_names"):
        P.load_prepared(["train", "dev"])


def test_load_prepared_on_the_bundled_data():
    data = P.load_prepared(["train", "test"])
    assert set(data) == {"train", "test", "preprocessor"}
    assert len(data["train"]) == 2057 and len(data["test"]) == 612
    assert data["preprocessor"].vocabulary == P.build_vocabulary(
        datasets.load_shapes_world(split="train").captions
    )


# --------------------------------------------------------------------------- exercise checks


def test_check_minmax_column():
    col = np.array([2.0, 4.0, 6.0, 10.0])
    exercises.check_minmax_column((col - 2) / 8, col)
    with pytest.raises(AssertionError, match="Hint"):
        exercises.check_minmax_column((col - col.mean()) / col.std(), col)
    with pytest.raises(AssertionError, match="shape"):
        exercises.check_minmax_column([0.0, 1.0], col)
    with pytest.raises(AssertionError, match="missing"):
        exercises.check_minmax_column(col, [1.0, np.nan])


def test_check_duplicate_ids():
    raw = datasets.load_raw_metadata()
    right = raw.loc[raw.duplicated(), "id"].tolist()
    exercises.check_duplicate_ids(right)
    with pytest.raises(AssertionError, match="extra copies"):
        exercises.check_duplicate_ids(raw.loc[raw["id"].duplicated(keep=False), "id"].tolist())
    with pytest.raises(AssertionError, match="wrong ids"):
        exercises.check_duplicate_ids(raw["id"].iloc[: len(right)].tolist())
    with pytest.raises(AssertionError, match="single string"):
        exercises.check_duplicate_ids("sw_00001")


def test_check_phone_regex():
    exercises.check_phone_regex(r"\+?\(?\d[\d ()-]{6,}\d")
    with pytest.raises(AssertionError, match="every digit"):
        exercises.check_phone_regex(r"\d{3}-\d{4}-\d{4}")
    with pytest.raises(AssertionError, match="no phone number"):
        exercises.check_phone_regex(r"\d+(?:[ .()+-]+\d+)*")
    with pytest.raises(AssertionError, match="valid"):
        exercises.check_phone_regex(r"(\d")
