"""What fitting and cross-validation share: building a compiled model, and handing it its inputs.

:mod:`mmteach.training` (one training run) and :mod:`mmteach.cv` (cross-validation and model
selection) both take a *model builder* and arrays or dicts of arrays; this module holds what
they do the same way.

* :func:`build_compiled` calls ``build_model()`` or ``build_model(preprocessor)`` (when it
  has one required positional parameter) and checks it returned a compiled ``keras.Model``;
* :func:`arrange_inputs` orders a dict of modality arrays the way a model takes them;
* :func:`n_samples` and :func:`take` count and index an array or a dict of aligned arrays;
* :func:`predict_proba` gives the class probabilities of a model's main output.

Examples
--------
>>> import numpy as np
>>> n_samples("x", {"image": np.zeros((3, 2)), "text": np.zeros((3, 4))})
3
>>> take({"image": np.arange(4)}, np.array([0, 2]))
{'image': array([0, 2])}
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mmteach.validation import check_int, check_str, describe

__all__ = ["arrange_inputs", "build_compiled", "n_samples", "predict_proba", "take", "takes_preprocessor"]


def n_samples(name: str, x: Any) -> int:
    """Number of samples of an array or a dict of arrays; checks the dict is aligned.

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    x : array or dict of arrays
        The inputs; every array of a dict must have the same length.

    Returns
    -------
    int

    Examples
    --------
    >>> n_samples("x", np.zeros((5, 2)))
    5
    >>> n_samples("x", {"a": np.zeros(2), "b": np.zeros(3)})
    Traceback (most recent call last):
    ...
    ValueError: x: all arrays must have the same length, got {'a': 2, 'b': 3}
    """
    name = check_str("name", name)
    if isinstance(x, Mapping):
        if not x:
            raise ValueError(f"{name}: expected at least one array, got an empty dict")
        lengths = {k: len(v) for k, v in x.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"{name}: all arrays must have the same length, got {lengths}")
        return next(iter(lengths.values()))
    if isinstance(x, str) or not hasattr(x, "__len__"):
        raise TypeError(f"{name}: expected an array or a dict of arrays, got {describe(x)}")
    return len(x)


def take(x: Any, index: Any) -> Any:
    """The samples ``index`` of an array or of every array of a dict.

    Parameters
    ----------
    x : array or dict of arrays
        The inputs.
    index : int, slice or array of int
        Which samples (numpy indexing).

    Returns
    -------
    array or dict of arrays
        Of the same kind as ``x``.

    Examples
    --------
    >>> take(np.arange(5), [4, 0])
    array([4, 0])
    """
    n_samples("x", x)
    if not isinstance(index, slice):
        array = np.asarray(index) if index is not None and not isinstance(index, (bool, str)) else None
        if array is None or array.ndim > 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
            raise TypeError(f"index: expected an int, a slice or a 1-d array of int, got {describe(index)}")
        index = array
    if isinstance(x, Mapping):
        return {k: np.asarray(v)[index] for k, v in x.items()}
    return np.asarray(x)[index]


def takes_preprocessor(build_model: Callable) -> bool:
    """Whether ``build_model`` has a required positional parameter: it then gets the preprocessor.

    Parameters
    ----------
    build_model : callable
        A model builder.

    Returns
    -------
    bool

    Examples
    --------
    >>> takes_preprocessor(lambda prep: None), takes_preprocessor(lambda width=8: None)
    (True, False)
    """
    if not callable(build_model):
        raise TypeError(
            f"build_model: expected a callable returning a compiled keras.Model, got {describe(build_model)}"
        )
    try:
        params = inspect.signature(build_model).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.default is p.empty and p.kind in positional for p in params)


def build_compiled(build_model: Callable, preprocessor: Any = None) -> Any:
    """Call the model builder and check it returned a compiled ``keras.Model``.

    Parameters
    ----------
    build_model : callable
        ``build_model()``, or ``build_model(preprocessor)`` when it has one required
        positional parameter.
    preprocessor : object, optional
        A fitted preprocessor (e.g. to size a text model's embedding), or None. Refused
        when ``build_model`` takes no argument to receive it.

    Returns
    -------
    keras.Model

    Raises
    ------
    TypeError
        If ``build_model`` is not callable or returns something other than a keras.Model.
    ValueError
        If the model it returns is not compiled, or a preprocessor is given to a builder
        that takes no argument.

    Examples
    --------
    >>> build_compiled(None)
    Traceback (most recent call last):
    ...
    TypeError: build_model: expected a callable returning a compiled keras.Model, got None
    """
    takes = takes_preprocessor(build_model)
    if preprocessor is not None and not takes:
        raise ValueError(
            f"preprocessor: given ({describe(preprocessor)}), but build_model takes no argument to receive "
            "it; give build_model one parameter (build_model(preprocessor)) or pass preprocessor=None"
        )
    import keras

    model = build_model(preprocessor) if takes else build_model()
    if not isinstance(model, keras.Model):
        raise TypeError(f"build_model: expected it to return a keras.Model, got {type(model).__name__}")
    if not getattr(model, "compiled", True) or getattr(model, "optimizer", None) is None:
        raise ValueError(
            "build_model: the model it returned is not compiled; call model.compile(optimizer, loss, ...) "
            "inside build_model"
        )
    return model


def _input_names(model: Any) -> list[str] | None:
    try:
        return [t.name for t in model.inputs]
    except (AttributeError, TypeError, ValueError):
        return None


def arrange_inputs(model: Any, x: Any) -> Any:
    """Arrange dict inputs the way the model takes them.

    Entries the model has no input for are dropped; a model with a single (non-dict)
    input gets the bare array, a model with a list of inputs gets a list in its order.
    Anything other than a dict is returned as it is.

    Parameters
    ----------
    model : keras.Model
        The model that will be called on the inputs.
    x : array or dict of arrays
        The inputs, a dict keyed by input name (e.g. ``{"image": ..., "text": ...}``).

    Returns
    -------
    array, list of arrays or dict of arrays

    Examples
    --------
    >>> import keras
    >>> inp = keras.Input((2,), name="image")
    >>> model = keras.Model(inp, keras.layers.Dense(1)(inp))
    >>> arrange_inputs(model, {"image": np.zeros((1, 2)), "text": np.zeros((1, 3))}).shape
    (1, 2)
    """
    if not hasattr(model, "inputs") and not callable(model):
        raise TypeError(f"model: expected a Keras model, got {describe(model)}")
    n_samples("x", x)
    if not isinstance(x, Mapping):
        return x
    names = _input_names(model)
    if not names or not all(n in x for n in names):
        return dict(x)
    try:
        structure = model.input  # a functional model's inputs as declared: a dict, a list or one tensor
    except (AttributeError, ValueError):  # a subclassed model has no declared inputs
        structure = None
    if isinstance(structure, Mapping) or structure is None:
        return {n: x[n] for n in names}
    if isinstance(structure, (list, tuple)):
        return [x[n] for n in names]
    return x[names[0]]


def _output_names(model: Any) -> list[str]:
    names = getattr(model, "output_names", None)
    if names:
        return list(names)
    return [t.name for t in model.outputs]


def predict_proba(model: Any, x: Any, batch_size: int = 256) -> np.ndarray:
    """Class probabilities ``(n, n_classes)`` of the model's first (main) output.

    Calls the model directly in batches (no ``predict`` graph to trace, which for small
    validation sets is faster). Logits are turned into probabilities with a softmax.

    Parameters
    ----------
    model : keras.Model
        A classifier; its first output (or its only one) gives the class scores.
    x : array or dict of arrays
        The inputs (a dict is arranged with :func:`arrange_inputs`).
    batch_size : int
        Samples per call of the model.

    Returns
    -------
    numpy.ndarray
        ``(n, n_classes)``, each row summing to 1.

    Examples
    --------
    >>> import keras
    >>> inp = keras.Input((3,))
    >>> model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(inp))
    >>> predict_proba(model, np.zeros((4, 3))).sum(axis=1)
    array([1., 1., 1., 1.])
    """
    check_int("batch_size", batch_size, min_value=1)
    if not callable(model):
        raise TypeError(f"model: expected a Keras model, got {describe(model)}")
    x = arrange_inputs(model, x)
    n = n_samples("x", x)
    parts = []
    for start in range(0, n, batch_size):
        index = np.arange(start, min(start + batch_size, n))
        out = model(take(x, index), training=False)
        if isinstance(out, Mapping):
            first = _output_names(model)[0]
            out = out[first] if first in out else next(iter(out.values()))
        elif isinstance(out, (list, tuple)):
            out = out[0]
        parts.append(np.asarray(out, dtype=np.float64))
    if not parts:
        return np.zeros((0, 0))
    proba = np.concatenate(parts)
    if proba.min() < 0 or not np.allclose(proba.sum(axis=1), 1.0, atol=1e-3):  # logits
        proba = np.exp(proba - proba.max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)
    return proba
