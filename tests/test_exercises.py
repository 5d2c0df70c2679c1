"""Every exercise check in mmteach.exercises can fail: each is called with a wrong answer somewhere.

The helpers that wrote a notebook's checks test them next to the module they teach
(tests/test_features.py, tests/test_preprocessing.py, ...). This file finds those
calls (a ``check_<name>(...)`` inside ``with pytest.raises(AssertionError ...)``)
and adds wrong answers for the checks not covered there, so that a new check
without a failing test makes this suite fail.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

from mmteach import exercises as ex

TESTS = Path(__file__).resolve().parent
CHECKS = sorted(name for name, f in inspect.getmembers(ex, inspect.isfunction) if name.startswith("check_"))


def _raises_assertion(item: ast.withitem) -> bool:
    call = item.context_expr
    return (
        isinstance(call, ast.Call)
        and getattr(call.func, "attr", getattr(call.func, "id", "")) == "raises"
        and bool(call.args)
        and getattr(call.args[0], "id", "") == "AssertionError"
    )


def checks_called_with_wrong_answers() -> set[str]:
    """Names of check_* functions called inside ``pytest.raises(AssertionError)`` in tests/."""
    found: set[str] = set()
    for path in TESTS.glob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.With) and any(_raises_assertion(i) for i in node.items):
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Call):
                        name = getattr(sub.func, "attr", getattr(sub.func, "id", ""))
                        if name.startswith("check_"):
                            found.add(name)
    return found


def test_the_scan_sees_this_file():
    assert {"check_label_of", "check_class_counts", "check_conv_macs"} <= checks_called_with_wrong_answers()


def test_every_exercise_check_is_called_with_a_wrong_answer_somewhere():
    missing = sorted(set(CHECKS) - checks_called_with_wrong_answers())
    assert not missing, f"checks without a failing test (add one to tests/test_exercises.py): {missing}"


# --------------------------------------------------------------------------- notebook 00


def test_check_label_of(capsys):
    from mmteach.datasets import CLASS_NAMES

    right = CLASS_NAMES.index("triangle_wood")
    ex.check_label_of("triangle", "wood", right)
    assert "correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_label_of("triangle", "wood", (right + 1) % len(CLASS_NAMES))


def test_check_class_counts():
    import pandas as pd

    from mmteach.datasets import load_shapes_world

    meta = load_shapes_world().meta
    ex.check_class_counts(meta.loc[meta["split"] == "train", "label_name"].value_counts())
    with pytest.raises(AssertionError, match="training split"):
        ex.check_class_counts(meta["label_name"].value_counts())  # all splits
    with pytest.raises(AssertionError, match="Series"):
        ex.check_class_counts(dict(meta["label_name"].value_counts()))
    with pytest.raises(AssertionError, match="one entry per class"):
        ex.check_class_counts(pd.Series({"circle_wood": 3}))


# --------------------------------------------------------------------------- notebook 13


def _flip_materials(labels, fraction, seed):
    rng = np.random.default_rng(seed)
    out = np.array(labels, copy=True)
    idx = rng.choice(len(out), size=round(fraction * len(out)), replace=False)
    out[idx] = out[idx] // 3 * 3 + (out[idx] % 3 + rng.integers(1, 3, size=len(idx))) % 3
    return out


def test_check_conv_macs(capsys):
    ex.check_conv_macs(32 * 32 * 3 * 3 * 3 * 16)
    assert "correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_conv_macs(30 * 30 * 3 * 3 * 3 * 16)  # 'valid' output size
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_conv_macs(3 * 3 * 3 * 16 + 16)  # the parameter count


def test_check_flip_materials(capsys):
    ex.check_flip_materials(_flip_materials)
    assert "correct" in capsys.readouterr().out

    def in_place(labels, fraction, seed):
        k = round(fraction * len(labels))
        labels[:k] = labels[:k] // 3 * 3 + (labels[:k] + 1) % 3
        return labels

    def any_class(labels, fraction, seed):  # the lesson's flip_labels: the shape may change too
        rng = np.random.default_rng(seed)
        out = np.array(labels, copy=True)
        idx = rng.choice(len(out), size=round(fraction * len(out)), replace=False)
        out[idx] = (out[idx] + rng.integers(1, 9, size=len(idx))) % 9
        return out

    def may_stay(labels, fraction, seed):  # a random material can be the same material
        rng = np.random.default_rng(seed)
        out = np.array(labels, copy=True)
        idx = rng.choice(len(out), size=round(fraction * len(out)), replace=False)
        out[idx] = out[idx] // 3 * 3 + rng.integers(0, 3, size=len(idx))
        return out

    def first_ones(labels, fraction, seed):
        out = np.array(labels, copy=True)
        k = round(fraction * len(out))
        out[:k] = out[:k] // 3 * 3 + (out[:k] + 1) % 3
        return out

    def unseeded(labels, fraction, seed):
        return _flip_materials(labels, fraction, None)

    with pytest.raises(AssertionError, match="in place"):
        ex.check_flip_materials(in_place)
    with pytest.raises(AssertionError, match="changed their shape"):
        ex.check_flip_materials(any_class)
    with pytest.raises(AssertionError, match="changed labels"):
        ex.check_flip_materials(may_stay)
    with pytest.raises(AssertionError, match="at random"):
        ex.check_flip_materials(first_ones)
    with pytest.raises(AssertionError, match="same seed"):
        ex.check_flip_materials(unseeded)
    with pytest.raises(AssertionError, match="raised"):
        ex.check_flip_materials(lambda *a: 1 / 0)


# --------------------------------------------------------------------------- a learner's common mistakes

#: checks that take the learner's function (and nothing else)
FUNCTION_CHECKS = [
    "check_conv2d_single", "check_masked_rnn", "check_parallel_fusion", "check_weighted_sum",
    "check_robustness_auc", "check_logistic_gradient", "check_momentum_step", "check_recall_at_k",
    "check_info_nce", "check_attention_weights", "check_ngram_precision", "check_flip_materials",
    "check_soft_count", "check_expected_column", "check_pad_or_trim", "check_noise_std",
    "check_speaker_folds", "check_masked_attention", "check_patchify", "check_training_compute",
]  # fmt: skip
#: checks that take a number the learner computed
NUMBER_CHECKS = ["check_conv_parameters", "check_lstm_parameters", "check_conv_macs", "check_mha_parameters"]
ABLATION = {"all": 0.9, "no image": 0.35, "no text": 0.88, "no audio": 0.4}
#: the other checks, each with a call that puts the learner's value where ``v`` is
VALUE_CHECKS = {
    "check_label_of": lambda v: ex.check_label_of("triangle", "wood", v),
    "check_class_counts": lambda v: ex.check_class_counts(v),
    "check_minmax_column": lambda v: ex.check_minmax_column(v, [1.0, 2.0, 4.0]),
    "check_duplicate_ids": lambda v: ex.check_duplicate_ids(v),
    "check_phone_regex": lambda v: ex.check_phone_regex(v),
    "check_cv_summary": lambda v: ex.check_cv_summary({"accuracy": [0.5, 0.7]}, v, 0.1),
    "check_f1_scores": lambda v: ex.check_f1_scores(v, [0, 1, 1], [0, 1, 0]),
    "check_most_needed_modality": lambda v: ex.check_most_needed_modality(v, ABLATION),
}


def test_every_check_is_in_one_table():
    tables = [*FUNCTION_CHECKS, *NUMBER_CHECKS, *VALUE_CHECKS]
    assert sorted(tables) == CHECKS, "add the new check to one of the tables above"


def _raises_nothing_but_assertion(call, match):
    with pytest.raises(AssertionError, match=match) as info:
        call()
    assert "Traceback" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("check", FUNCTION_CHECKS)
def test_a_function_check_answers_common_mistakes_with_a_hint(check):
    run = getattr(ex, check)
    # the answer passed instead of the function, e.g. check(my_fn(x)) or check(answer)
    _raises_nothing_but_assertion(lambda: run(np.zeros((3, 3))), "pass the function itself")
    _raises_nothing_but_assertion(lambda: run("my_function"), "pass the function itself")

    # a function that still raises the student copy's stub
    def stub(*args):
        raise NotImplementedError()

    _raises_nothing_but_assertion(lambda: run(stub), "NotImplementedError")
    # a function that returns text, nothing, or an array of the wrong shape
    _raises_nothing_but_assertion(lambda: run(lambda *a: "0.5"), ".")
    _raises_nothing_but_assertion(lambda: run(lambda *a: None), ".")
    _raises_nothing_but_assertion(lambda: run(lambda *a: np.zeros((2, 3, 4, 5))), ".")
    _raises_nothing_but_assertion(lambda: run(lambda *a: [[1, 2], [3]]), ".")  # ragged


def test_the_common_mistakes_get_specific_hints():
    assert "str" in _raises_nothing_but_assertion(lambda: ex.check_parallel_fusion(lambda f: "x"), "text")
    assert "return" in _raises_nothing_but_assertion(lambda: ex.check_noise_std(lambda w, s: None), "None")
    _raises_nothing_but_assertion(lambda: ex.check_patchify(lambda i, p: i), "shape")
    _raises_nothing_but_assertion(lambda: ex.check_momentum_step(lambda *a: a[0]), "pair")


@pytest.mark.parametrize("check", NUMBER_CHECKS)
def test_a_number_check_answers_common_mistakes_with_a_hint(check):
    run = getattr(ex, check)
    _raises_nothing_but_assertion(lambda: run("4640"), "without quotes")
    _raises_nothing_but_assertion(lambda: run("four thousand"), "whole number")
    _raises_nothing_but_assertion(lambda: run(lambda: 4640), "compute the")
    _raises_nothing_but_assertion(lambda: run(None), "whole number")
    _raises_nothing_but_assertion(lambda: run(np.zeros(3)), "whole number")
    _raises_nothing_but_assertion(lambda: run(12.5), "whole number")
    _raises_nothing_but_assertion(lambda: run(True), "whole number")


def test_a_number_check_takes_any_whole_number_type(capsys):
    from mmteach.features import rnn_parameter_count

    ex.check_lstm_parameters(np.int64(rnn_parameter_count("lstm", 32, 64)))
    ex.check_conv_parameters(float(3 * 3 * 16 * 32 + 32))
    assert capsys.readouterr().out.count("correct") == 2


@pytest.mark.parametrize("check", sorted(VALUE_CHECKS))
def test_a_value_check_answers_wrong_types_with_a_hint(check):
    run = VALUE_CHECKS[check]
    for wrong in (None, "oops", lambda: 0, object(), np.zeros((2, 2, 2))):
        _raises_nothing_but_assertion(lambda wrong=wrong: run(wrong), ".")


def test_label_checks_explain_a_name_or_capitalised_label():
    msg = _raises_nothing_but_assertion(
        lambda: ex.check_label_of("triangle", "wood", "triangle_wood"), "index"
    )
    assert "class name" in msg
    _raises_nothing_but_assertion(lambda: ex.check_label_of("triangle", "wood", "Triangle_Wood"), "index")
    _raises_nothing_but_assertion(lambda: ex.check_label_of("triangle", "wood", "7"), "index")
    for wrong in ("Image", "no image", "IMAGE", "images"):
        msg = _raises_nothing_but_assertion(
            lambda w=wrong: ex.check_most_needed_modality(w, ABLATION), "lowercase"
        )
        assert "'image'" in msg
    _raises_nothing_but_assertion(lambda: ex.check_most_needed_modality("audio", ABLATION), "biggest drop")
