"""The package's one set of input checks (numpy only: importing it never loads TensorFlow).

Every public function of mmteach checks its arguments with these, in the manner of
:func:`sklearn.utils.check_scalar`: a value of the wrong *type* raises ``TypeError``,
a value of the right type but outside what is allowed raises ``ValueError``, and the
message names the argument, says what was expected and shows what was given::

    epochs: expected an int >= 1, got 0

Each check returns the value, converted (``int``, ``float``, ``list[str]``,
``np.ndarray``, ``Path``), so a function reads ``epochs = check_int("epochs", epochs, min_value=1)``.

Example
-------
>>> check_int("epochs", 3, min_value=1)
3
>>> check_int("epochs", 0, min_value=1)
Traceback (most recent call last):
...
ValueError: epochs: expected an int >= 1, got 0
>>> check_str_sequence("class_names", "abc")
Traceback (most recent call last):
...
TypeError: class_names: expected a sequence of str, got a single str 'abc'
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from numbers import Integral, Real
from pathlib import Path

import numpy as np

__all__ = [
    "check_array",
    "check_bool",
    "check_choice",
    "check_file_name",
    "check_instance",
    "check_int",
    "check_labels",
    "check_path",
    "check_real",
    "check_str",
    "check_str_sequence",
    "describe",
]


def describe(value: object, limit: int = 60) -> str:
    """A short description of ``value`` for an error message: its type and, if short, its repr.

    Parameters
    ----------
    value : object
        Any value.
    limit : int
        At most this many characters of its repr.

    Example
    -------
    >>> describe(2.5)
    'float 2.5'
    >>> describe(None)
    'None'
    """
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(value).__name__} {text}"


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def _bounds(min_value, max_value) -> str:
    if min_value is not None and max_value is not None:
        return f" in [{min_value}, {max_value}]"
    if min_value is not None:
        return f" >= {min_value}"
    if max_value is not None:
        return f" <= {max_value}"
    return ""


def check_int(name: str, value: object, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """An int (numpy ints included; bools and floats refused) within optional bounds.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : object
        The value to check.
    min_value, max_value : int, optional
        Inclusive bounds.

    Example
    -------
    >>> check_int("k", 2, min_value=1, max_value=5)
    2
    """
    expected = f"an int{_bounds(min_value, max_value)}"
    if not _is_int(value):
        raise TypeError(f"{name}: expected {expected}, got {describe(value)}")
    value = int(value)
    if (min_value is not None and value < min_value) or (max_value is not None and value > max_value):
        raise ValueError(f"{name}: expected {expected}, got {value}")
    return value


def check_real(
    name: str,
    value: object,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    positive: bool = False,
    finite: bool = True,
) -> float:
    """A real number (ints included, bools refused); finite unless ``finite=False``.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : object
        The value to check.
    min_value, max_value : float, optional
        Inclusive bounds.
    positive : bool
        Require ``value > 0``.
    finite : bool
        Refuse NaN and infinities (NaN is always refused).

    Example
    -------
    >>> check_real("learning_rate", 1e-3, positive=True)
    0.001
    >>> check_real("learning_rate", float("nan"), positive=True)
    Traceback (most recent call last):
    ...
    ValueError: learning_rate: expected a finite real number > 0, got nan
    """
    parts = ["a finite real number" if finite else "a real number"]
    if positive:
        parts.append(" > 0")
    parts.append(_bounds(min_value, max_value))
    expected = "".join(parts)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name}: expected {expected}, got {describe(value)}")
    number = float(value)
    if (
        math.isnan(number)
        or (finite and math.isinf(number))
        or (positive and number <= 0)
        or (min_value is not None and number < min_value)
        or (max_value is not None and number > max_value)
    ):
        raise ValueError(f"{name}: expected {expected}, got {number!r}")
    return number


def check_bool(name: str, value: object) -> bool:
    """A bool (``True``/``False`` or a numpy bool); strings such as ``"no"`` and ints are refused.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : object
        The value to check: True or False (numpy bools included), nothing else.

    Example
    -------
    >>> check_bool("overwrite", False)
    False
    >>> check_bool("overwrite", "no")
    Traceback (most recent call last):
    ...
    TypeError: overwrite: expected a bool (True or False), got str 'no'
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool (True or False), got {describe(value)}")
    return bool(value)


def check_instance(name: str, value: object, cls: type | tuple[type, ...], hint: str = "") -> object:
    """``value`` if it is an instance of ``cls``; otherwise a TypeError (``hint`` says how to get one).

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : object
        The value to check.
    cls : type or tuple of types
        What it must be an instance of.
    hint : str
        Appended to the expected type in the message (e.g. ``" of keyword arguments"``).

    Example
    -------
    >>> check_instance("pairs", [], dict)
    Traceback (most recent call last):
    ...
    TypeError: pairs: expected a dict, got list []
    """
    if not isinstance(value, cls):
        classes = cls if isinstance(cls, tuple) else (cls,)
        expected = " or ".join(c.__name__ for c in classes)
        article = "an" if expected[0].lower() in "aeiou" else "a"
        raise TypeError(f"{name}: expected {article} {expected}{hint}, got {describe(value)}")
    return value


def check_str(name: str, value: object, *, non_empty: bool = True) -> str:
    """A str, non-empty (after stripping blanks) unless ``non_empty=False``.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : object
        The value to check.
    non_empty : bool
        Refuse the empty string.

    Example
    -------
    >>> check_str("name", "encoder")
    'encoder'
    """
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a str, got {describe(value)}")
    if non_empty and not value.strip():
        raise ValueError(f"{name}: expected a non-empty str, got {value!r}")
    return value


def check_str_sequence(name: str, value: object, *, non_empty: bool = True) -> list[str]:
    """A list of str from any iterable of str; a single str is refused (it is not a list of words).

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : object
        The value to check: a list or tuple of str (a single str is refused).
    non_empty : bool
        Refuse an empty sequence.

    Example
    -------
    >>> check_str_sequence("captions", ("a red ball", "a blue box"))
    ['a red ball', 'a blue box']
    """
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name}: expected a sequence of str, got a single {describe(value)}")
    if isinstance(value, np.ndarray) and value.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of str, got an array of shape {value.shape}")
    if not isinstance(value, Iterable):
        raise TypeError(f"{name}: expected a sequence of str, got {describe(value)}")
    items = list(value)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise TypeError(f"{name}[{i}]: expected a str, got {describe(item)}")
    if non_empty and not items:
        raise ValueError(f"{name}: expected at least one str, got an empty sequence")
    return items


def check_choice(name: str, value: object, choices: Sequence) -> object:
    """One of ``choices``; a value of another type than the choices is a TypeError.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : object
        The value to check.
    choices : sequence
        The allowed values.

    Example
    -------
    >>> check_choice("mode", "mean", ("mean", "geometric"))
    'mean'
    """
    choices = tuple(choices)
    if any(isinstance(value, type(c)) and value == c for c in choices):
        return value
    if not any(isinstance(value, type(c)) for c in choices):
        raise TypeError(f"{name}: expected one of {choices}, got {describe(value)}")
    raise ValueError(f"{name}: expected one of {choices}, got {value!r}")


_KINDS = {"numeric": "numbers", "int": "integers", "bool": "booleans"}


def check_array(
    name: str,
    value: object,
    *,
    ndim: int | Sequence[int] | None = None,
    kind: str = "numeric",
    finite: bool = True,
    non_empty: bool = True,
    dtype: object = None,
) -> np.ndarray:
    """An array (anything ``np.asarray`` reads) of the expected rank and kind of numbers.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : array-like
        The value to check (None and str are refused).
    ndim : int or sequence of int, optional
        The allowed numbers of dimensions.
    kind : ``"numeric"``, ``"int"`` or ``"bool"``
        What the elements must be (``"numeric"``: ints or floats, not bools).
    finite : bool
        Refuse NaN and infinities.
    non_empty : bool
        Refuse arrays with no elements.
    dtype : numpy dtype, optional
        Convert the result to this dtype.

    Example
    -------
    >>> check_array("x", [[1, 2]], ndim=2, dtype=float)
    array([[1., 2.]])
    >>> check_array("x", [1.0, float("inf")])
    Traceback (most recent call last):
    ...
    ValueError: x: expected finite values, got 1 NaN or infinite of 2
    """
    kind = check_choice("kind", kind, tuple(_KINDS))
    if value is None or isinstance(value, (str, bytes, dict, set)):
        raise TypeError(f"{name}: expected an array of {_KINDS[kind]}, got {describe(value)}")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:  # ragged nested lists
        raise ValueError(
            f"{name}: expected a rectangular array of {_KINDS[kind]}, got {describe(value)}"
        ) from err
    real = np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ok = {"numeric": real, "int": np.issubdtype(array.dtype, np.integer), "bool": array.dtype == np.bool_}
    if not ok[kind] and array.size:
        raise TypeError(f"{name}: expected an array of {_KINDS[kind]}, got dtype {array.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if array.ndim not in allowed:
            raise ValueError(
                f"{name}: expected an array with {' or '.join(map(str, allowed))} dimensions, "
                f"got shape {array.shape}"
            )
    if non_empty and array.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got shape {array.shape}")
    if finite and kind == "numeric" and array.size:
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise ValueError(f"{name}: expected finite values, got {bad} NaN or infinite of {array.size}")
    return array.astype(dtype) if dtype is not None else array


def check_labels(name: str, y: object, n_classes: int | None = None) -> np.ndarray:
    """Integer class ids ``0 .. n_classes - 1`` as a 1-D int64 array.

    Floats are accepted only when they are whole numbers (``1.0``, not ``1.5``); negative
    ids (such as ``-1``) and ids ``>= n_classes`` are refused.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    y : array-like
        Integer class ids, one per sample.
    n_classes : int, optional
        When given, every id must be below it.

    Example
    -------
    >>> check_labels("y", [0, 2, 1.0], n_classes=3)
    array([0, 2, 1])
    >>> check_labels("y", [0, 3], n_classes=3)
    Traceback (most recent call last):
    ...
    ValueError: y: expected class ids in 0..2, got 3
    """
    if n_classes is not None:
        n_classes = check_int("n_classes", n_classes, min_value=1)
    if y is None or isinstance(y, (str, bytes, dict, set)):
        raise TypeError(f"{name}: expected a 1-D array of integer class ids, got {describe(y)}")
    array = np.asarray(y)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name}: expected integer class ids, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of class ids, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name}: expected at least one label, got an empty array")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            bad = array[~np.isfinite(array) | (array != np.round(array))][0]
            raise ValueError(f"{name}: expected integer class ids, got {float(bad)!r}")
    ids = array.astype(np.int64)
    if ids.min() < 0:
        raise ValueError(f"{name}: expected class ids >= 0, got {ids.min()}")
    if n_classes is not None and ids.max() >= n_classes:
        raise ValueError(f"{name}: expected class ids in 0..{n_classes - 1}, got {ids.max()}")
    return ids


def check_path(name: str, value: object, *, must_exist: bool = False, kind: str | None = None) -> Path:
    """A filesystem path (str or ``os.PathLike``) as a :class:`~pathlib.Path`.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : str or os.PathLike
        The path.
    must_exist : bool
        Refuse a path that does not exist.
    kind : ``"file"`` or ``"dir"``, optional
        If the path exists, it must be of this kind.

    Example
    -------
    >>> check_path("out", "notes.txt").name
    'notes.txt'
    """
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name}: expected a path (str or pathlib.Path), got {describe(value)}")
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"{name}: expected a path, got an empty str")
    path = Path(value)
    if must_exist and not path.exists():
        raise ValueError(f"{name}: expected an existing path, got {str(path)!r} (not found)")
    if kind is not None and path.exists():
        if kind == "file" and not path.is_file():
            raise ValueError(f"{name}: expected a file, got the folder {str(path)!r}")
        if kind == "dir" and not path.is_dir():
            raise ValueError(f"{name}: expected a folder, got the file {str(path)!r}")
    return path


_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def check_file_name(name: str, value: object) -> str:
    """A plain file name (letters, digits, ``_ . -``): no folder, no ``..``, nothing hidden.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : object
        A plain file name: a non-empty str with no folder part.

    Example
    -------
    >>> check_file_name("name", "metadata_clean")
    'metadata_clean'
    >>> check_file_name("name", "../x")
    Traceback (most recent call last):
    ...
    ValueError: name: expected a plain file name (letters, digits, _ . -), got '../x'
    """
    value = check_str(name, value, non_empty=False)
    if not _FILE_NAME.fullmatch(value) or ".." in value:
        raise ValueError(f"{name}: expected a plain file name (letters, digits, _ . -), got {value!r}")
    return value
