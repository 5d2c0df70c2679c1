"""Uncertainty of a measured accuracy: how far another test set of the same size could move it.

An accuracy measured on ``n`` test samples is a proportion; its standard error is
``sqrt(p (1 - p) / n)``, and about 95% of test sets of that size land within 1.96 standard
errors of the true value. At n = 612 and p = 0.5 that is ±0.04: two numbers closer than
that are not told apart by this test set.

Example
-------
>>> round(accuracy_margin(0.5, 612), 3)
0.04
>>> with_margin({"text only": 0.55, "fused": 0.94}, n=612)
           accuracy  ± (95%)
text only      0.55     0.04
fused          0.94     0.02
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real

__all__ = ["accuracy_margin", "with_margin"]


def _check_accuracy(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name}: expected a number in [0, 1], got {type(value).__name__} {value!r}")
    p = float(value)
    if not 0.0 <= p <= 1.0:  # also refuses NaN
        raise ValueError(f"{name}: expected a number in [0, 1], got {value!r}")
    return p


def accuracy_margin(accuracy: float, n: int, z: float = 1.96) -> float:
    """Half-width of the normal-approximation confidence interval of an accuracy.

    Parameters
    ----------
    accuracy : float
        Measured accuracy, in [0, 1].
    n : int
        Number of test samples it was measured on (> 0).
    z : float
        Standard errors on each side: 1.96 for 95%.

    Examples
    --------
    >>> round(accuracy_margin(0.9, 100), 3)
    0.059
    """
    p = _check_accuracy("accuracy", accuracy)
    if isinstance(n, bool) or not isinstance(n, Integral):
        raise TypeError(f"n: expected a positive int, got {type(n).__name__} {n!r}")
    if n <= 0:
        raise ValueError(f"n: expected a positive int, got {n}")
    if isinstance(z, bool) or not isinstance(z, Real) or not math.isfinite(z) or z <= 0:
        raise ValueError(f"z: expected a positive finite number, got {z!r}")
    return float(z) * math.sqrt(p * (1.0 - p) / n)


def with_margin(scores: Mapping[str, float], n: int, decimals: int = 2):
    """A table of accuracies with their 95% margins, for comparing models on one test set.

    Parameters
    ----------
    scores : mapping of str to float
        Model name -> accuracy on the same ``n`` test samples.
    n : int
        Number of test samples.
    decimals : int
        Rounding of the table.

    Returns
    -------
    pandas.DataFrame
        Columns ``accuracy`` and ``± (95%)``, one row per model.

    Examples
    --------
    >>> with_margin({"a": 0.5}, n=100)
       accuracy  ± (95%)
    a       0.5      0.1
    """
    import pandas as pd

    if not isinstance(scores, Mapping) or not scores:
        raise TypeError(f"scores: expected a non-empty mapping of name -> accuracy, got {scores!r}")
    rows = {
        str(name): {"accuracy": _check_accuracy(f"scores[{name!r}]", acc), "± (95%)": accuracy_margin(acc, n)}
        for name, acc in scores.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index").round(decimals)
