"""Walk every public callable of mmteach and feed each parameter a bad value, one at a time.

For each parameter the call gets ``None`` (unless None is its documented default) and
then an ``object()`` (a value of no expected type); the other required parameters get a
good example value from ``GOOD``. Each call must raise TypeError or ValueError naming
the parameter: no AttributeError, IndexError, KeyError or TensorFlow error, and no
silent acceptance. Calls must fail before any work, so each gets a few seconds.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import signal
from functools import cache
from pathlib import Path

import numpy as np
import pytest

import mmteach

#: what is not walked, and why (categories first, then single callables)
NOT_WALKED = {
    # categories
    "exceptions": "exception and warning classes take a message",
    "records": "dataclass records the package returns (results, outline entries), not inputs",
    "keras protocol": "build/call/compute_output_shape/get_config/from_config are called by Keras",
    # single callables
    "validation.describe": "describes any value for an error message: nothing is a bad value",
    "cleaning.normalise_category": "maps any cell of a pandas column; non-str cells pass through by design",
    "models.MultimodalModel": "a keras.Model subclass: its constructor is Keras's functional API",
    "device.use": "a context manager over device.use's choice: walked through device.parse_choice",
    "validation": "the checks themselves: they name the argument they are given (tests/test_validation.py)",
    "exercises": "a check answers a learner's wrong answer with an AssertionError and a hint, by design",
    "applications.translate.evaluate": "needs a trained Translator (tests/test_translate.py)",
    "applications.translate.show_attention": "needs a Translation from a trained Translator",
    "chat_widget.AssistantChat": "needs a trained Assistant (tests/test_assistant.py)",
    "chat_widget.assistant_chat": "needs a trained Assistant (tests/test_assistant.py)",
    "widgets.fusion_picker": "needs trained encoders (tests/test_fusion_picker.py)",
    "spoken_digits.SpokenDigits": "the record load_spoken_digits returns, not an input",
    "doctor.one_line": "turns any value into one line of text for an error message: nothing is a bad value",
    "attention_numpy.positive_int": "a validation check: it names the argument it is given",
}

#: cases that still fail, one id a line: bad input not yet refused by name (issue 13, to be
#: fixed; each is an expected failure, and a fixed one must leave this file)
KNOWN_GAPS = frozenset(
    line.strip()
    for line in (Path(__file__).with_name("public_api_known_gaps.txt"))
    .read_text(encoding="utf-8")
    .splitlines()
    if line.strip() and not line.startswith("#")
)

KERAS_PROTOCOL = {"build", "call", "compute_output_shape", "compute_mask", "get_config", "from_config"}
BAD = object()
TIMEOUT_S = 10


@cache
def _sw():
    from mmteach.datasets import make_shapes_world

    return make_shapes_world(12)


@cache
def _good() -> dict:
    """A valid example value for each required parameter name (cheap: nothing is trained)."""
    import keras

    from mmteach.datasets import plant_problems
    from mmteach.scenes import make_scenes

    sw = _sw()
    inp = keras.Input((3,))
    tiny = keras.Model(inp, keras.layers.Dense(2, name="dense")(inp), name="tiny")
    return {
        "name": "x", "value": 1, "statement": "a claim", "model": tiny, "encoder": tiny,
        "n": 4, "meta": sw.meta, "raw": plant_problems(sw.meta)[0], "sw": sw, "train": sw, "test": sw,
        "text": "a red circle", "texts": ["a red circle"], "caption": "a red circle",
        "image": sw.images[0], "images": sw.images[:2], "audio": sw.audio[:2], "waveform": sw.audio[0],
        "spectrogram": np.ones((4, 5)), "data": b"x", "choice": "cpu", "available_gpus": [],
        "kind": "gru", "input_dim": 3, "units": 2, "vocab_size": 30, "modality": "image",
        "n_classes": 3, "inputs": {"image": np.zeros((2, 3))}, "layer": "dense",
        "weights": [0.5, 0.5], "n_modalities": 2, "x": np.zeros((2, 3)), "h": np.zeros((2, 2)),
        "kernel": np.zeros((3, 2)), "recurrent_kernel": np.zeros((2, 2)), "bias": np.zeros(2),
        "features": [np.zeros((2, 3))], "probabilities": [np.full((2, 2), 0.5)],
        "levels": [0.0, 1.0], "accuracies": [0.9, 0.5], "values": {"a": 1.0},
        "maps": np.zeros((4, 4, 2)), "points": np.zeros((2, 2)), "labels": np.array([0, 1]),
        "kernels": np.zeros((3, 3, 1, 2)), "vocabulary": ["<pad>", "<unk>", "red"],
        "sequence_length": 4, "ids": ["a", "b"], "salt": "s", "df": sw.meta, "folder": "/tmp",
        "source": "x = 1", "paths": [], "out_dir": "/tmp", "seed": 0,
        "table": _fold_table(), "build_model": lambda: tiny, "y": np.array([0, 1]),
        "gpus": [], "cpus": ["/device:CPU:0"], "resolved": "/CPU:0", "index": 0,
        "cm": [[1, 0], [0, 1]], "class_names": ["a", "b"], "modalities": ["image"],
        "title": "t", "method": "parallel", "mode": "fixed", "y_true": [0, 1], "y_pred": [0, 1],
        "question": "what colour is the circle?", "questions": ["what colour is the circle?"],
        "sc": make_scenes(4), "scenes": make_scenes(4), "width": 4, "proba": np.full((2, 2), 0.5),
        "image_emb": np.eye(2), "text_emb": np.eye(2), "similarity": np.eye(2), "k": 1,
        "logits": np.eye(2), "queries": np.ones((1, 2, 3)), "keys": np.ones((1, 2, 3)),
        "hypothesis": "一个", "reference": "一个", "hypotheses": ["一个"], "references": ["一个"],
        "senses": ["pale"], "word": "red", "path": "/tmp/x", "root": "/tmp", "shape": "circle",
        "material": "wood", "cls": int, "choices": ("a",), "encoders": {"image": tiny},
        "biases": [np.zeros(2)], "param_grid": {"units": [1]}, "pairs": _pairs(), "vector": np.zeros((2, 3)),
        "sequence": np.zeros((2, 4, 2)), "captions": ["a red circle"], "n_source": 10, "n_target": 10,
        "multimodal": 0, "attention": "dot", "source_length": 4, "target_length": 4,
        "train_features": {"image": np.zeros((4, 2))}, "test_features": {"image": np.zeros((4, 2))},
        "train_labels": [0, 1, 0, 1], "test_labels": [0, 1, 0, 1], "level": 0.5,
        "objects": [[{"shape": "circle", "colour": "red"}]] * 2, "scene": "sc_00000", "reply": "red",
        "answered": True, "entries": [], "rnn_kernel": np.zeros((3, 6)),
        "rnn_recurrent_kernel": np.zeros((2, 6)), "rnn_bias": np.zeros((2, 6)),
        "train_questions": make_scenes(4).questions, "predictions": {},
        "nb": _notebook(), "cell": _notebook().cells[0], "accuracy": 0.5, "scores": {"a": 0.5},
        "requires": ["numpy>=1.26"], "specifier": ">=1.0", "installed": "1.0",
        "headers": ["a"], "rows": [[1]],
        "dists": ["numpy"], "checks": [], "requires_python": ">=3.10", "lock_path": "/tmp/none.txt",
    }  # fmt: skip


def _fold_table():
    import pandas as pd

    return pd.DataFrame({"fold": [0, 1], "accuracy": [0.5, 0.6], "f1_macro": [0.4, 0.5]})


@cache
def _good_for() -> dict:
    """Example values for callables whose required parameters must agree with each other."""
    from mmteach.applications.retrieval import build_dual_encoder
    from mmteach.scenes import ANSWERS, make_scenes

    scenes = make_scenes(4)
    gru = {"x": np.zeros((2, 3)), "h": np.zeros((2, 2)), "kernel": np.zeros((3, 6)),
           "recurrent_kernel": np.zeros((2, 6)), "bias": np.zeros((2, 6))}  # fmt: skip
    return {
        "applications.assistant.train_assistant": {"train": scenes},
        "applications.assistant.train_question_only": {"train": scenes},
        "applications.assistant.HeadActivation": {"heads": 2, "kind": "gates"},
        "applications.assistant.accuracy_by_type": {
            "questions": scenes.questions, "predictions": {"m": list(scenes.questions["answer"])}},
        "applications.retrieval.similarity": {"model": build_dual_encoder(30), "images": scenes.images[:1]},
        "applications.retrieval.single_object_pairs": {"images": scenes.images[:2]},
        "applications.retrieval.model_inputs": {"images": scenes.images[:1]},
        "applications.translate.attention_numpy": {"queries": np.ones((2, 3)), "keys": np.ones((2, 3))},
        "applications.translate.sense_accuracy": {"hypotheses": ["一个浅色的圆形"]},
        "public_datasets.load_keras_dataset": {"name": "mnist"},
        "fusion_numpy.gru_step": gru,
        "fusion_numpy.inject_fusion": {"vector": np.zeros((2, 3)), "sequence": np.zeros((2, 4, 2)),
                                 "kernel": np.zeros((3, 2)), "bias": np.zeros(2),
                                 "rnn_kernel": np.zeros((2, 6)), "rnn_recurrent_kernel": np.zeros((2, 6)),
                                 "rnn_bias": np.zeros((2, 6))},
        "fusion_numpy.sequential_fusion": {"features": [np.zeros((2, 3))], "kernels": [np.zeros((3, 2))],
                                     "biases": [np.zeros(2)], "rnn_kernel": np.zeros((2, 6)),
                                     "rnn_recurrent_kernel": np.zeros((2, 6)), "rnn_bias": np.zeros((2, 6))},
        "fusion_numpy.weighted_fusion": {"features": [np.zeros((2, 3))], "kernels": [np.zeros((3, 2))],
                                   "biases": [np.zeros(2)], "logits": [0.0]},
        "fusion_numpy.parallel_fusion": {"kernels": None},
        "models.build_multimodal_model": {"vocab_size": 30},
        "datasets.ShapesWorld": {"meta": _sw().meta, "images": _sw().images, "audio": _sw().audio},
        "scenes.Scenes": {"meta": scenes.meta, "images": scenes.images, "questions": scenes.questions},
        "training.fit": {"build_model": _compiled, "x": np.zeros((4, 3)), "y": np.array([0, 1, 0, 1]),
                         "monitor": "loss"},
        "cv.cross_validate": {"build_model": _compiled, "data": np.zeros((20, 3)),
                                    "labels": np.arange(20) % 2},
        "cv.select_model": {"build_model": _compiled, "data": np.zeros((20, 3)),
                                  "labels": np.arange(20) % 2},
        "cv.fold_indices": {"labels": np.arange(20) % 2},
        "widgets.weights_html": {"modalities": ["image", "text"]},
        "spoken_digits.degrade_images": {"images": np.zeros((2, 8, 8))},
        "spoken_digits.add_noise": {"waveforms": [np.full(100, 0.1, np.float32)], "snr": 10.0},
        "spoken_digits.snr_db": {"clean": np.ones(10), "noisy": np.full(10, 1.1)},
        "spoken_digits.pad_or_trim": {"waveforms": [np.zeros(5, np.float32)], "n_samples": 8},
        "token_models.audio_transformer": {"frames": 6, "bins": 5},
        "token_models.token_fusion_head": {"image_tokens": (4, 4), "audio_frames": (6, 5)},
        "stats.paired_differences": {"folds": _folds(), "reference": "a"},
        "stats.one_standard_error_rule": {"folds": _folds(), "complexity": {"a": 1, "b": 2}},
        "fusion_numpy.check_order": {"order": [1, 0], "n": 2},
        "tokens.check_rank3": {"layer_name": "fusion", "shape": (None, 2, 3)},
        "models.build_token_model": {"vocab_size": 30},
        "token_models.answer": {"probabilities": np.full((1, len(ANSWERS)), 0.5),
                                "question_types": ["count"]},
        "token_models.build_clip": {"image_encoder": _good()["model"], "vocab_size": 30},
        "model_inputs.take": {"x": np.zeros((2, 3)), "index": [0]},
        "model_inputs.build_compiled": {"build_model": _compiled},
        **_attention_examples(),
    }  # fmt: skip


def _attention_examples() -> dict:
    """Consistent weights for the numpy attention references (d = 4, 2 heads of width 2)."""
    rng = np.random.default_rng(0)
    d, heads, kd = 4, 2, 2
    tokens = [rng.normal(size=(1, 3, d)), rng.normal(size=(1, 2, d))]
    mha = [rng.normal(size=s) for s in [(d, heads, kd), (heads, kd)] * 3 + [(heads, kd, d), (d,)]]
    norm = (np.ones(d), np.zeros(d))
    mlp = (rng.normal(size=(d, 8)), np.zeros(8), rng.normal(size=(8, d)), np.zeros(d))
    block = {"norm1": norm, "norm2": norm, "attention": mha, "mlp": mlp}
    encoder = {"cls": np.zeros(d), "blocks": [block], "norm": norm}
    layer = {"norm_query": norm, "norm_context": norm, "attention": mha, "norm2": norm, "mlp": mlp}
    cross = {"encoders": [[block], []], "layers": [layer], "norm": norm}
    x, t = {"x": tokens[0]}, {"tokens": tokens, "heads": heads}
    return {
        "attention_numpy.softmax": {"x": np.zeros(3)},
        "attention_numpy.gelu": {"x": np.zeros(3)},
        "attention_numpy.layer_norm": {**x, "gamma": norm[0], "beta": norm[1]},
        "attention_numpy.scaled_dot_product_attention": {"q": tokens[0], "k": tokens[1], "v": tokens[1]},
        "attention_numpy.multi_head_attention": {"query": tokens[0], "value": tokens[1], "weights": mha,
                                                 "heads": heads},
        "attention_numpy.mha_parameter_count": {"d_model": d, "heads": heads, "key_dim": kd},
        "attention_numpy.transformer_block": {**x, "weights": block, "heads": heads},
        "attention_numpy.transformer_encoder": {"tokens": tokens[0], "weights": encoder, "heads": heads},
        "attention_numpy.patchify": {"images": np.zeros((1, 4, 4, 1)), "patch_size": 2},
        "attention_numpy.frames_to_tokens": {"spectrograms": np.zeros((1, 4, 2)), "frames_per_token": 2},
        "attention_numpy.parallel_token_fusion": {**t, "weights": [encoder, encoder]},
        "attention_numpy.single_stream_fusion": {**t, "weights": encoder},
        "attention_numpy.cross_attention_fusion": {**t, "weights": cross},
        "attention_numpy.modality_shares": {"attention": np.full((1, 2, 1, 3), 1 / 3),
                                            "token_counts": [2, 1]},
    }  # fmt: skip


def _folds():
    import pandas as pd

    return pd.DataFrame(
        {"candidate": ["a", "a", "b", "b"], "fold": [0, 1, 0, 1], "accuracy": [0.5, 0.6, 0.7, 0.6]}
    )


def _compiled():
    import keras

    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(inp))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _pairs():
    from mmteach.applications.translate import make_translation_pairs

    return make_translation_pairs(_sw())


def _notebook():
    import nbformat

    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])


def _modules() -> list:
    names = [f"mmteach.{m.name}" for m in pkgutil.iter_modules(mmteach.__path__) if m.name != "cli"]
    apps = importlib.import_module("mmteach.applications")
    names += [f"mmteach.applications.{m.name}" for m in pkgutil.iter_modules(apps.__path__)]
    return [importlib.import_module(n) for n in names]


def _skip_reason(qualname: str, obj) -> str | None:
    import dataclasses

    for name in (qualname, qualname.split(".")[0], ".".join(qualname.split(".")[:2])):
        if name in NOT_WALKED:
            return NOT_WALKED[name]
    if inspect.isclass(obj) and issubclass(obj, BaseException | Warning):
        return NOT_WALKED["exceptions"]
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and obj.__dataclass_params__.frozen:
        return NOT_WALKED["records"]
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and not hasattr(obj, "__post_init__"):
        return NOT_WALKED["records"]
    if qualname.rsplit(".", 1)[-1] in KERAS_PROTOCOL:
        return NOT_WALKED["keras protocol"]
    return None


def _callables() -> list[tuple[str, object]]:
    out = []
    for module in _modules():
        short = module.__name__.removeprefix("mmteach.")
        for attr, obj in sorted(vars(module).items()):
            if attr.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                out.append((f"{short}.{attr}", obj))
    return out


def _cases() -> list:
    cases = []
    for qualname, obj in _callables():
        if _skip_reason(qualname, obj) is not None:
            continue
        try:
            params = inspect.signature(obj).parameters.values()
        except (TypeError, ValueError):
            continue
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in ("self", "cls"):
                continue
            for label, bad in (("None", None), ("object", BAD)):
                if bad is None and (p.default is None or "None" in str(p.annotation)):
                    continue  # None is documented as valid
                case_id = f"{qualname}({p.name}={label})"
                marks = [pytest.mark.xfail(strict=True, reason="known gap")] if case_id in KNOWN_GAPS else []
                cases.append(pytest.param(qualname, obj, p.name, bad, id=case_id, marks=marks))
    return cases


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def test_the_known_gaps_are_cases():
    ids = {c.id for c in _cases()}
    assert KNOWN_GAPS <= ids, sorted(KNOWN_GAPS - ids)


def test_the_skip_list_names_existing_callables():
    names = {q for q, _ in _callables()}
    prefixes = {p for q in names for p in (q.split(".")[0], ".".join(q.split(".")[:2]))}
    singles = [k for k in NOT_WALKED if "." in k or k in prefixes]
    assert set(singles) <= names | prefixes, set(singles) - names - prefixes


@pytest.mark.parametrize(("qualname", "func", "param", "bad"), _cases())
def test_bad_value_is_refused_with_its_name(qualname, func, param, bad):
    overrides = _good_for().get(qualname, {})
    good = {**_good(), **overrides}
    sig = inspect.signature(func)
    kwargs = {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in ("self", "cls"):
            continue
        if p.name == param:
            kwargs[p.name] = bad
        elif p.name in overrides:
            kwargs[p.name] = overrides[p.name]
        elif p.default is p.empty:
            if p.name not in good or good[p.name] is None:
                pytest.fail(f"{qualname}: no example value for its required parameter {p.name!r} in GOOD")
            kwargs[p.name] = good[p.name]
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT_S)
    try:
        func(**kwargs)
    except _Timeout:
        pytest.fail(f"{qualname}({param}={bad!r}) was accepted: still running after {TIMEOUT_S} s")
    except (TypeError, ValueError) as err:
        assert param in str(err), f"{qualname}({param}={bad!r}): the message does not name {param!r}: {err}"
    except Exception as err:  # noqa: BLE001 - the point is to see which error reaches the user
        pytest.fail(f"{qualname}({param}={bad!r}) raised {type(err).__name__}: {err}")
    else:
        pytest.fail(f"{qualname}({param}={bad!r}) was accepted silently")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
