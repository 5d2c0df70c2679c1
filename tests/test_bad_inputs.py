"""Issue 13's worst cases: bad input that was accepted silently or failed deep inside numpy/TF.

Each test names the argument it expects in the error. None of them trains a model:
the check must come before any work is done.
"""

import json

import numpy as np
import pandas as pd
import pytest

NAN, INF = float("nan"), float("inf")
BAD_RATES = [NAN, INF, -1e-3, 0.0]


# --------------------------------------------------------------------------- student, datasets


@pytest.mark.parametrize("flag", ["solutions", "overwrite"])
def test_write_copies_refuses_non_bool_flags(tmp_path, flag):
    from mmteach import student

    nb = tmp_path / "a.ipynb"
    nb.write_text("{}")
    with pytest.raises(TypeError, match=f"{flag}: expected a bool"):
        student.write_copies([nb], tmp_path / "out", **{flag: "no"})


def test_write_copies_refuses_a_single_path_str(tmp_path):
    from mmteach import student

    with pytest.raises(TypeError, match="paths: expected a sequence of paths"):
        student.write_copies("notebooks/00_setup_and_tour.ipynb", tmp_path / "out")


def test_sha256_file_refuses_an_int():
    from mmteach import datasets

    with pytest.raises(TypeError, match="path: expected a path"):
        datasets.sha256_file(3)  # open(3) would read file descriptor 3


def test_clean_metadata_refuses_non_str_ids():
    from mmteach import datasets

    sw = datasets.make_shapes_world(20)
    raw, _ = datasets.plant_problems(sw.meta)
    with pytest.raises(TypeError, match="available_ids"):
        datasets.clean_metadata(raw, available_ids={1, 2, 3})
    with pytest.raises(TypeError, match="available_ids"):
        datasets.clean_metadata(raw, available_ids="sw_00001")


def test_subset_refuses_empty_and_float_indices():
    from mmteach import datasets

    sw = datasets.make_shapes_world(10)
    with pytest.raises(ValueError, match="index: expected at least one"):
        sw.subset([])
    with pytest.raises(TypeError, match="index: expected integer positions or a boolean mask"):
        sw.subset([0.5])
    with pytest.raises(ValueError, match="index: expected positions in"):
        sw.subset([10])


def test_encode_wav_refuses_a_fractional_sample_rate():
    from mmteach import datasets

    with pytest.raises(TypeError, match="sample_rate: expected an int"):
        datasets.encode_wav(np.zeros(10), sample_rate=2.5)
    with pytest.raises(ValueError, match="sample_rate: expected an int >= 1"):
        datasets.encode_wav(np.zeros(10), sample_rate=0)


# --------------------------------------------------------------------------- preprocessing


def test_quality_report_refuses_an_unknown_id_column():
    from mmteach import preprocessing

    df = pd.DataFrame({"id": ["a", "b"], "shape": ["circle", "square"]})
    with pytest.raises(ValueError, match="id_column: expected a column of df"):
        preprocessing.quality_report(df, id_column="ID")


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ""])
def test_load_clean_refuses_a_path_as_name(tmp_path, name):
    from mmteach import preprocessing

    with pytest.raises(ValueError, match="name: expected a plain file name"):
        preprocessing.load_clean(tmp_path, name=name)


# --------------------------------------------------------------------------- learning rates


@pytest.mark.parametrize("rate", BAD_RATES)
def test_build_multimodal_model_refuses_bad_learning_rates(rate):
    from mmteach.models import build_multimodal_model

    with pytest.raises(ValueError, match="learning_rate: expected a finite real number > 0"):
        build_multimodal_model(("image",), learning_rate=rate)


@pytest.mark.parametrize("rate", BAD_RATES)
def test_build_dual_encoder_refuses_bad_learning_rates(rate):
    from mmteach.applications.retrieval import build_dual_encoder

    with pytest.raises(ValueError, match="learning_rate: expected a finite real number > 0"):
        build_dual_encoder(30, learning_rate=rate)


@pytest.mark.parametrize("rate", BAD_RATES)
def test_classifier_refuses_bad_learning_rates(rate):
    import keras

    from mmteach.features import classifier

    inp = keras.Input((3,))
    enc = keras.Model(inp, keras.layers.Dense(2)(inp), name="enc")
    with pytest.raises(ValueError, match="learning_rate: expected a finite real number > 0"):
        classifier(enc, 3, learning_rate=rate)


@pytest.mark.parametrize("rate", BAD_RATES)
def test_multimodal_classifier_refuses_bad_learning_rates(rate):
    from mmteach.applications.classify import MultimodalClassifier

    with pytest.raises(ValueError, match="learning_rate: expected a finite real number > 0"):
        MultimodalClassifier(("image",), learning_rate=rate)


@pytest.fixture(scope="module")
def pairs():
    from mmteach.applications.translate import make_translation_pairs
    from mmteach.datasets import make_shapes_world

    return make_translation_pairs(make_shapes_world(20))


@pytest.mark.parametrize("rate", BAD_RATES)
def test_train_translator_refuses_bad_learning_rates(pairs, rate):
    from mmteach.applications.translate import train_translator

    with pytest.raises(ValueError, match="learning_rate: expected a finite real number > 0"):
        train_translator(pairs, learning_rate=rate)


@pytest.fixture(scope="module")
def scenes():
    from mmteach.scenes import load_scenes

    return load_scenes(split="val")


@pytest.mark.parametrize("rate", BAD_RATES)
def test_train_assistant_refuses_bad_learning_rates(scenes, rate):
    from mmteach.applications.assistant import train_assistant

    with pytest.raises(ValueError, match="learning_rate: expected a finite real number > 0"):
        train_assistant(scenes, learning_rate=rate)


# --------------------------------------------------------------------------- zero training budgets


def test_train_translator_refuses_zero_budgets(pairs):
    from mmteach.applications.translate import train_translator

    for name in ("epochs", "batch_size", "units"):
        with pytest.raises(ValueError, match=f"{name}: expected an int >= 1, got 0"):
            train_translator(pairs, **{name: 0})


def test_train_assistant_refuses_zero_budgets(scenes):
    from mmteach.applications.assistant import train_assistant

    for name in ("epochs", "batch_size", "width", "heads"):
        with pytest.raises(ValueError, match=f"{name}: expected an int >= 1, got 0"):
            train_assistant(scenes, **{name: 0})


def test_fusion_picker_refuses_zero_budgets():
    from mmteach.widgets import FusionPicker

    feats = {"image": np.zeros((4, 2))}
    for name in ("epochs", "batch_size"):
        with pytest.raises(ValueError, match=f"{name}: expected an int >= 1, got 0"):
            FusionPicker(feats, [0, 1, 0, 1], feats, [0, 1, 0, 1], **{name: 0})


def test_multimodal_classifier_train_refuses_zero_epochs():
    from mmteach.applications.classify import MultimodalClassifier
    from mmteach.datasets import make_shapes_world

    with pytest.raises(ValueError, match="epochs: expected an int >= 1, got 0"):
        MultimodalClassifier(("image",)).fit(make_shapes_world(10), epochs=0)


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    ("labels", "message"),
    [([0, 1.5, 0, 1], "expected integer class ids"), ([0, -1, 0, 1], "expected class ids >= 0")],
)
def test_fusion_picker_refuses_bad_labels(labels, message):
    from mmteach.widgets import FusionPicker

    feats = {"image": np.zeros((4, 2))}
    with pytest.raises(ValueError, match=f"train_labels: {message}"):
        FusionPicker(feats, labels, feats, [0, 1, 0, 1])
    with pytest.raises(ValueError, match=f"test_labels: {message}"):
        FusionPicker(feats, [0, 1, 0, 1], feats, labels)


def test_fusion_picker_refuses_labels_beyond_the_class_names():
    from mmteach.widgets import FusionPicker

    feats = {"image": np.zeros((4, 2))}
    with pytest.raises(ValueError, match=r"train_labels: expected class ids in 0\.\.1, got 2"):
        FusionPicker(feats, [0, 1, 2, 1], feats, [0, 1, 0, 1], class_names=["a", "b"])


@pytest.mark.parametrize(
    ("y_pred", "message"),
    [([0, 1.5], "expected integer class ids"), ([0, -1], "expected class ids >= 0"),
     ([0, 2], r"expected class ids in 0\.\.1")],
)  # fmt: skip
def test_confusion_matrix_refuses_bad_labels(y_pred, message):
    from mmteach.widgets import confusion_matrix

    with pytest.raises(ValueError, match=f"y_pred: {message}"):
        confusion_matrix([0, 1], y_pred, 2)


# --------------------------------------------------------------------------- a str is not a list of str


def test_multimodal_classifier_refuses_class_names_str():
    from mmteach.applications.classify import MultimodalClassifier

    with pytest.raises(TypeError, match="class_names: expected a sequence of str"):
        MultimodalClassifier(("image",), class_names="abc")


def test_similarity_refuses_captions_str():
    from mmteach.applications import retrieval

    model = retrieval.build_dual_encoder(30)
    with pytest.raises(TypeError, match="captions: expected a sequence of str"):
        retrieval.similarity(model, np.zeros((1, 48, 48, 3)), "a red ball", ["<pad>", "<unk>", "red"])


def test_zero_shot_prompts_refuses_a_str():
    from mmteach.applications.retrieval import zero_shot_prompts

    with pytest.raises(TypeError, match="colours: expected a sequence of str"):
        zero_shot_prompts(colours="red")
    with pytest.raises(TypeError, match="shapes: expected a sequence of str"):
        zero_shot_prompts(shapes="circle")


def test_encode_questions_refuses_a_str():
    from mmteach.applications.assistant import Assistant

    assistant = Assistant()
    with pytest.raises(TypeError, match="questions: expected a sequence of str"):
        assistant.encode_questions("what colour is the circle?")


def test_precision_recall_refuses_class_names_str():
    from mmteach.applications.classify import precision_recall

    with pytest.raises(TypeError, match="class_names: expected a sequence of str"):
        precision_recall([0, 1], [0, 1], "ab")


def test_projection_scatter_refuses_names_str():
    from mmteach.plotting import projection_scatter

    with pytest.raises(TypeError, match="names: expected a sequence of str"):
        projection_scatter(np.zeros((2, 2)), [0, 1], names="ab")


def test_describe_devices_refuses_a_str():
    from mmteach.widgets import describe_devices

    with pytest.raises(TypeError, match="cpus: expected a sequence of str"):
        describe_devices("/device:CPU:0", [])
    with pytest.raises(TypeError, match="gpus: expected a sequence of str"):
        describe_devices(["/device:CPU:0"], "/device:GPU:0")


# --------------------------------------------------------------------------- retrieval metrics


@pytest.mark.parametrize("bad", [NAN, INF])
def test_recall_refuses_non_finite_similarities(bad):
    from mmteach.applications.retrieval import recall_at_k, recall_table

    s = np.eye(3)
    s[1, 2] = bad
    with pytest.raises(ValueError, match="similarity: expected finite values"):
        recall_at_k(s, 1)
    with pytest.raises(ValueError, match="similarity: expected finite values"):
        recall_table(s, ks=(1,))


def test_recall_table_refuses_bad_ks():
    from mmteach.applications.retrieval import recall_table

    with pytest.raises(TypeError, match="ks: expected a sequence of int"):
        recall_table(np.eye(3), ks=1)
    with pytest.raises(ValueError, match=r"ks\[0\]: expected an int >= 1, got 0"):
        recall_table(np.eye(3), ks=(0,))


# --------------------------------------------------------------------------- saved classifier


def test_classifier_load_names_a_broken_config(tmp_path):
    from mmteach.applications.classify import CONFIG_FILE, MODEL_FILE, MultimodalClassifier
    from mmteach.datasets import DataError

    (tmp_path / MODEL_FILE).write_bytes(b"")
    config = {"format": 1, "modalities": ["image"], "class_names": ["a", "b"],
              "options": {"fusion": "parallel", "weighted_mode": "learned", "aux_weight": 0.0,
                          "modality_dropout": {}, "width": 8, "learning_rate": 0.01, "seed": 0}}  # fmt: skip
    (tmp_path / CONFIG_FILE).write_text(json.dumps(config))  # the format before the estimator protocol
    with pytest.raises(DataError, match=f"folder: {CONFIG_FILE} is not a MultimodalClassifier config"):
        MultimodalClassifier.load(tmp_path)
    saved = {"class": "MultimodalClassifier", "format": 1, "models": [], "state": config}
    (tmp_path / CONFIG_FILE).write_text(json.dumps(saved))  # no "preprocessor"
    with pytest.raises(DataError, match=f"folder: {CONFIG_FILE} is not a MultimodalClassifier config"):
        MultimodalClassifier.load(tmp_path)
    (tmp_path / CONFIG_FILE).write_text(json.dumps({**saved, "models": ["model"]}))
    with pytest.raises(DataError, match=f"folder: {MODEL_FILE} could not be loaded"):
        MultimodalClassifier.load(tmp_path)  # an empty model.keras


# --------------------------------------------------------------------------- numpy references


def _gru(d=3, u=2, batch=4):
    rng = np.random.default_rng(0)
    return (rng.normal(size=(batch, d)), np.zeros((batch, u)), rng.normal(size=(d, 3 * u)),
            rng.normal(size=(u, 3 * u)), np.zeros((2, 3 * u)))  # fmt: skip


@pytest.mark.parametrize(
    ("index", "shape", "name"),
    [(0, (4, 5), "kernel"), (1, (4, 3), "h"), (2, (3, 5), "kernel"), (3, (2, 5), "recurrent_kernel"),
     (4, (6,), "bias"), (0, (4,), "x")],
)  # fmt: skip
def test_gru_step_checks_shapes(index, shape, name):
    from mmteach.fusion import gru_step

    args = list(_gru())
    args[index] = np.zeros(shape)
    with pytest.raises(ValueError, match=f"{name}: expected"):
        gru_step(*args)


def test_gru_step_refuses_nan_and_str():
    from mmteach.fusion import gru_step

    args = list(_gru())
    args[0] = args[0].copy()
    args[0][0, 0] = NAN
    with pytest.raises(ValueError, match="x: expected finite values"):
        gru_step(*args)
    args = list(_gru())
    args[1] = "h"
    with pytest.raises(TypeError, match="h: expected an array"):
        gru_step(*args)


@pytest.mark.parametrize(
    ("index", "shape", "name"),
    [(2, (5, 5), "kernel"), (3, (4, 5), "recurrent_kernel"), (3, (5, 5), "h"), (4, (5, 5), "bias")],
)
def test_simple_rnn_step_checks_shapes(index, shape, name):
    """``units`` is read from ``recurrent_kernel``; the other arguments must agree with it."""
    from mmteach.fusion import simple_rnn_step

    args = [np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((3, 4)), np.zeros((4, 4)), np.zeros(4)]
    args[index] = np.zeros(shape)
    with pytest.raises(ValueError, match=f"{name}: expected"):
        simple_rnn_step(*args)


def test_softmax_refuses_non_numbers_and_bad_axis():
    from mmteach.fusion import softmax

    with pytest.raises(TypeError, match="x: expected an array of numbers"):
        softmax("abc")
    with pytest.raises(ValueError, match="axis: expected an int in"):
        softmax(np.zeros((2, 3)), axis=2)


def test_inject_fusion_checks_weight_shapes():
    from mmteach.fusion import inject_fusion

    v, seq = np.zeros((2, 3)), np.zeros((2, 4, 5))
    k, b = np.zeros((3, 5)), np.zeros(5)
    W, U, c = np.zeros((5, 6)), np.zeros((2, 6)), np.zeros((2, 6))
    with pytest.raises(ValueError, match="kernel: expected shape"):
        inject_fusion(v, seq, np.zeros((4, 5)), b, W, U, c)
    with pytest.raises(ValueError, match="mask: expected shape"):
        inject_fusion(v, seq, k, b, W, U, c, mask=np.ones((2, 3), bool))
    assert inject_fusion(v, seq, k, b, W, U, c).shape == (2, 2)


def test_parallel_and_weighted_fusion_check_projection_lists():
    from mmteach.fusion import parallel_fusion, weighted_fusion

    xs = [np.zeros((2, 3)), np.zeros((2, 4))]
    with pytest.raises(ValueError, match="kernels: expected one per modality"):
        parallel_fusion(xs, kernels=[np.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"kernels\[1\]: expected shape \(4, units\)"):
        parallel_fusion(xs, kernels=[np.zeros((3, 2)), np.zeros((3, 2))])
    with pytest.raises(ValueError, match="logits: expected"):
        weighted_fusion(xs, [np.zeros((3, 2)), np.zeros((4, 2))], [np.zeros(2)] * 2, logits=[0.0])


# --------------------------------------------------------------------------- bundled files, every load


def _tamper(path):
    data = path.read_bytes()
    path.write_bytes(data.replace(b"red", b"rod", 1))


def test_metadata_csv_is_checked_on_every_load(tmp_path, monkeypatch):
    from mmteach import datasets

    monkeypatch.setenv("MMTEACH_CACHE", str(tmp_path / "cache"))
    root = datasets.build_snapshot(tmp_path / "sw", n=20)
    assert len(datasets.load_shapes_world(root)) > 0  # fills the cache of decoded arrays
    _tamper(root / "metadata.csv")
    with pytest.raises(datasets.DataError, match=r"metadata.csv: checksum mismatch.*mmteach data build"):
        datasets.load_shapes_world(root)
    with pytest.raises(datasets.DataError, match=r"metadata.csv: checksum mismatch"):
        datasets.load_raw_metadata(root)


@pytest.mark.parametrize("name", ["scenes.csv", "questions.csv"])
def test_scenes_csvs_are_checked_on_every_load(tmp_path, monkeypatch, name):
    from mmteach import scenes
    from mmteach.datasets import DataError

    monkeypatch.setenv("MMTEACH_CACHE", str(tmp_path / "cache"))
    root = scenes.build_scenes_snapshot(tmp_path / "sc", n=12)
    assert len(scenes.load_scenes(root)) == 12  # fills the cache of decoded images
    _tamper(root / name)
    with pytest.raises(DataError, match=rf"{name}: checksum mismatch.*mmteach data build"):
        scenes.load_scenes(root)
