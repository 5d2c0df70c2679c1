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


def _flip(labels, fraction, n_classes, seed):
    rng = np.random.default_rng(seed)
    out = np.array(labels, copy=True)
    idx = rng.choice(len(out), size=round(fraction * len(out)), replace=False)
    out[idx] = (out[idx] + rng.integers(1, n_classes, size=len(idx))) % n_classes
    return out


def test_check_conv_macs(capsys):
    ex.check_conv_macs(32 * 32 * 3 * 3 * 3 * 16)
    assert "correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_conv_macs(30 * 30 * 3 * 3 * 3 * 16)  # 'valid' output size
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_conv_macs(3 * 3 * 3 * 16 + 16)  # the parameter count


def test_check_flip_labels(capsys):
    ex.check_flip_labels(_flip)
    assert "correct" in capsys.readouterr().out

    def in_place(labels, fraction, n_classes, seed):
        labels[: round(fraction * len(labels))] += 1
        labels %= n_classes
        return labels

    def may_stay(labels, fraction, n_classes, seed):  # a random class can be the same class
        rng = np.random.default_rng(seed)
        out = labels.copy()
        idx = rng.choice(len(out), size=round(fraction * len(out)), replace=False)
        out[idx] = rng.integers(0, n_classes, size=len(idx))
        return out

    with pytest.raises(AssertionError, match="in place"):
        ex.check_flip_labels(in_place)
    with pytest.raises(AssertionError, match="changed labels"):
        ex.check_flip_labels(may_stay)
    with pytest.raises(AssertionError, match="raised"):
        ex.check_flip_labels(lambda *a: 1 / 0)
