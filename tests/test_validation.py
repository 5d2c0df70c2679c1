"""The one validation module: wrong type -> TypeError, wrong value -> ValueError, named argument."""

import doctest
import subprocess
import sys

import numpy as np
import pytest

from mmteach import validation as v


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (None, TypeError),
        (True, TypeError),
        (2.0, TypeError),
        ("3", TypeError),
        (0, ValueError),
        (6, ValueError),
    ],
)
def test_check_int_refuses(value, error):
    with pytest.raises(error, match=r"^epochs: expected an int in \[1, 5\], got"):
        v.check_int("epochs", value, min_value=1, max_value=5)


def test_check_int_accepts_numpy_ints():
    assert v.check_int("k", np.int64(3), min_value=1) == 3
    assert type(v.check_int("k", np.int64(3))) is int


@pytest.mark.parametrize(
    ("value", "error"),
    [(None, TypeError), (False, TypeError), ("0.1", TypeError), (float("nan"), ValueError),
     (float("inf"), ValueError), (-0.1, ValueError), (0, ValueError)],
)  # fmt: skip
def test_check_real_refuses(value, error):
    with pytest.raises(error, match="^learning_rate: expected a finite real number > 0, got"):
        v.check_real("learning_rate", value, positive=True)


def test_check_real_bounds_and_infinity():
    assert v.check_real("p", 1, min_value=0, max_value=1) == 1.0
    assert v.check_real("t", float("inf"), finite=False) == float("inf")
    with pytest.raises(ValueError, match=r"p: expected a finite real number in \[0, 1\], got 1.5"):
        v.check_real("p", 1.5, min_value=0, max_value=1)


@pytest.mark.parametrize("value", ["no", "False", 0, 1, None, []])
def test_check_bool_refuses_non_bools(value):
    with pytest.raises(TypeError, match="^overwrite: expected a bool"):
        v.check_bool("overwrite", value)


def test_check_bool_accepts_numpy_bool():
    assert v.check_bool("flag", np.bool_(True)) is True


def test_check_str_sequence():
    assert v.check_str_sequence("names", ("a", "b")) == ["a", "b"]
    with pytest.raises(TypeError, match="names: expected a sequence of str, got a single str 'abc'"):
        v.check_str_sequence("names", "abc")
    with pytest.raises(TypeError, match=r"names\[1\]: expected a str, got int 2"):
        v.check_str_sequence("names", ["a", 2])
    with pytest.raises(ValueError, match="names: expected at least one str"):
        v.check_str_sequence("names", [])
    with pytest.raises(TypeError, match="names: expected a sequence of str, got None"):
        v.check_str_sequence("names", None)


def test_check_str():
    with pytest.raises(TypeError, match="name: expected a str, got int 3"):
        v.check_str("name", 3)
    with pytest.raises(ValueError, match="name: expected a non-empty str"):
        v.check_str("name", "  ")


def test_check_choice():
    assert v.check_choice("mode", "mean", ("mean", "geometric")) == "mean"
    with pytest.raises(ValueError, match=r"mode: expected one of \('mean', 'geometric'\), got 'max'"):
        v.check_choice("mode", "max", ("mean", "geometric"))
    with pytest.raises(TypeError, match="mode: expected one of"):
        v.check_choice("mode", None, ("mean", "geometric"))
    with pytest.raises(TypeError, match="mode: expected one of"):
        v.check_choice("mode", np.array(["mean"]), ("mean",))


@pytest.mark.parametrize(
    ("value", "kwargs", "error", "message"),
    [
        (None, {}, TypeError, "x: expected an array of numbers, got None"),
        ("abc", {}, TypeError, "x: expected an array of numbers, got str"),
        ([["a"]], {}, TypeError, "x: expected an array of numbers, got dtype <U1"),
        ([1.0, np.nan], {}, ValueError, "x: expected finite values, got 1 NaN or infinite of 2"),
        ([], {}, ValueError, r"x: expected a non-empty array, got shape \(0,\)"),
        ([1.0], {"ndim": 2}, ValueError, r"x: expected an array with 2 dimensions, got shape \(1,\)"),
        ([1.5], {"kind": "int"}, TypeError, "x: expected an array of integers, got dtype float64"),
        ([[1], [1, 2]], {}, ValueError, "x: expected a rectangular array"),
    ],
)
def test_check_array_refuses(value, kwargs, error, message):
    with pytest.raises(error, match=message):
        v.check_array("x", value, **kwargs)


def test_check_array_converts_and_allows_what_is_asked():
    out = v.check_array("x", [[1, 2]], ndim=(2, 3), dtype=np.float32)
    assert out.dtype == np.float32 and out.shape == (1, 2)
    assert v.check_array("x", [np.inf], finite=False)[0] == np.inf
    assert v.check_array("x", [], non_empty=False).size == 0


@pytest.mark.parametrize(
    ("y", "error", "message"),
    [
        ([0, 1.5], ValueError, "y: expected integer class ids, got 1.5"),
        ([0, np.nan], ValueError, "y: expected integer class ids, got nan"),
        ([0, 3], ValueError, r"y: expected class ids in 0\.\.2, got 3"),
        ([0, -1], ValueError, "y: expected class ids >= 0, got -1"),
        ([[0, 1]], ValueError, "y: expected a 1-D array"),
        ([], ValueError, "y: expected at least one label"),
        ("012", TypeError, "y: expected a 1-D array of integer class ids, got str"),
        ([True, False], TypeError, "y: expected integer class ids, got dtype bool"),
        (None, TypeError, "y: expected a 1-D array of integer class ids, got None"),
    ],
)
def test_check_labels_refuses(y, error, message):
    with pytest.raises(error, match=message):
        v.check_labels("y", y, n_classes=3)


def test_check_labels_accepts_whole_floats():
    np.testing.assert_array_equal(v.check_labels("y", np.array([0.0, 2.0]), 3), [0, 2])


def test_check_path(tmp_path):
    assert v.check_path("out", str(tmp_path)) == tmp_path
    with pytest.raises(TypeError, match="out: expected a path"):
        v.check_path("out", 3)
    with pytest.raises(ValueError, match="out: expected an existing path"):
        v.check_path("out", tmp_path / "missing", must_exist=True)
    with pytest.raises(ValueError, match="out: expected a file, got the folder"):
        v.check_path("out", tmp_path, kind="file")
    with pytest.raises(ValueError, match="out: expected a path, got an empty str"):
        v.check_path("out", "")


def test_doctests():
    assert doctest.testmod(v).failed == 0


def test_imports_no_tensorflow():
    code = "import sys, mmteach.validation; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
