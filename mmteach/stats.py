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
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from mmteach.validation import check_bool, check_instance, check_str

__all__ = [
    "OneStandardErrorChoice",
    "accuracy_margin",
    "one_standard_error_rule",
    "paired_differences",
    "with_margin",
]


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


def _fold_matrix(folds, metric: str, candidate: str, fold: str):
    """``folds`` (one row per candidate and fold) as a fold x candidate table of ``metric``."""
    import pandas as pd

    check_instance("folds", folds, pd.DataFrame, " of per-fold scores")
    for arg, column in (("metric", metric), ("candidate", candidate), ("fold", fold)):
        check_str(arg, column)
        if column not in folds:
            raise ValueError(f"{arg}: {column!r} is not a column of folds ({list(folds.columns)})")
    if folds.empty:
        raise ValueError("folds: expected at least one row, got an empty DataFrame")
    if folds.duplicated([candidate, fold]).any():
        raise ValueError(f"folds: each ({candidate}, {fold}) pair must appear once; some appear twice")
    values = pd.to_numeric(folds[metric], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError(f"folds: column {metric!r} holds NaN, inf or non-numbers")
    table = folds.pivot(index=fold, columns=candidate, values=metric)
    if table.isna().any().any():
        missing = [str(c) for c in table.columns[table.isna().any()]]
        raise ValueError(
            f"folds: candidates {missing} lack a score on some folds; paired comparisons need all"
        )
    if len(table) < 2:
        raise ValueError(f"folds: expected scores on at least 2 folds, got {len(table)}")
    return table


def paired_differences(folds, reference, *, metric: str = "accuracy", candidate: str = "candidate",
                       fold: str = "fold"):  # fmt: skip
    """Each candidate's score minus the ``reference``'s, fold by fold: a paired comparison.

    When all candidates are cross-validated on the same folds, a fold that is hard is hard
    for all of them. The per-fold *differences* cancel that shared part, so their spread is
    smaller than the spread of either score, and ``mean ± 2 se`` of the differences says
    whether one candidate really beats another.

    Parameters
    ----------
    folds : pandas.DataFrame
        One row per candidate and fold (e.g. ``SelectionResult.folds``).
    reference
        The candidate (a value of column ``candidate``) to subtract.
    metric, candidate, fold : str
        Column names of the score, the candidate and the fold.

    Returns
    -------
    pandas.DataFrame
        One row per candidate: the difference on each fold (``fold 0``, ``fold 1``, ...),
        then ``mean``, ``std`` (over folds) and ``se`` (``std / sqrt(folds)``).

    Examples
    --------
    >>> import pandas as pd
    >>> folds = pd.DataFrame({"candidate": ["a", "a", "a", "b", "b", "b"], "fold": [0, 1, 2] * 2,
    ...                       "accuracy": [0.70, 0.60, 0.80, 0.72, 0.63, 0.81]})
    >>> diffs = paired_differences(folds, "a")
    >>> diffs.loc["b", ["fold 0", "fold 1", "fold 2"]].round(3).tolist()
    [0.02, 0.03, 0.01]
    >>> diffs.loc["b", ["mean", "std"]].round(3).tolist()
    [0.02, 0.01]
    """
    table = _fold_matrix(folds, metric, candidate, fold)
    if reference not in table.columns:
        raise ValueError(
            f"reference: expected one of the candidates {list(table.columns)}, got {reference!r}"
        )
    diffs = table.sub(table[reference], axis=0).T
    diffs.columns = [f"fold {f}" for f in diffs.columns]
    k = diffs.shape[1]
    out = diffs.assign(mean=diffs.mean(axis=1), std=diffs.std(axis=1, ddof=1))
    out["se"] = out["std"] / math.sqrt(k)
    out.index.name = candidate
    return out


@dataclass
class OneStandardErrorChoice:
    """What :func:`one_standard_error_rule` chose, and why.

    Attributes
    ----------
    best
        The candidate with the best mean score.
    chosen
        The simplest candidate whose mean is within one standard error of the best's.
    threshold : float
        The best mean minus (for ``higher_is_better``) one standard error of it.
    table : pandas.DataFrame
        One row per candidate: ``mean``, ``se``, ``complexity`` and ``within_one_se``,
        sorted from the simplest.
    """

    best: object
    chosen: object
    threshold: float
    table: object


def one_standard_error_rule(folds, complexity: Mapping, *, metric: str = "accuracy",
                            higher_is_better: bool = True, candidate: str = "candidate",
                            fold: str = "fold") -> OneStandardErrorChoice:  # fmt: skip
    """Choose the simplest candidate whose mean CV score is within one standard error of the best.

    The best mean won partly by luck, and candidates closer to it than its standard
    error (``std / sqrt(folds)``) are not told apart by the folds. The rule (Hastie,
    Tibshirani and Friedman, *The Elements of Statistical Learning*, 7.10) breaks such ties
    with the simpler model: fewer parameters, less to go wrong on new data.

    Parameters
    ----------
    folds : pandas.DataFrame
        One row per candidate and fold (e.g. ``SelectionResult.folds``).
    complexity : mapping
        Candidate -> a number that grows with its complexity (e.g. trainable parameters).
        Ties in complexity go to the candidate listed first.
    metric : str
        The score column.
    higher_is_better : bool
        False for a loss.
    candidate, fold : str
        Column names of the candidate and the fold.

    Returns
    -------
    OneStandardErrorChoice

    Examples
    --------
    >>> import pandas as pd
    >>> folds = pd.DataFrame({"candidate": ["big"] * 3 + ["small"] * 3, "fold": [0, 1, 2] * 2,
    ...                       "accuracy": [0.80, 0.90, 0.85, 0.80, 0.88, 0.83]})
    >>> choice = one_standard_error_rule(folds, {"small": 10, "big": 1000})
    >>> choice.best, choice.chosen, round(choice.threshold, 3)
    ('big', 'small', 0.821)
    """
    higher_is_better = check_bool("higher_is_better", higher_is_better)
    table = _fold_matrix(folds, metric, candidate, fold)
    check_instance("complexity", complexity, Mapping, " of candidate -> number")
    missing = [c for c in table.columns if c not in complexity]
    if missing:
        raise ValueError(f"complexity: no value for candidates {missing}")
    for c in table.columns:
        value = complexity[c]
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise TypeError(
                f"complexity[{c!r}]: expected a finite number, got {type(value).__name__} {value!r}"
            )
    import pandas as pd

    k = len(table)
    summary = pd.DataFrame({"mean": table.mean(), "se": table.std(ddof=1) / math.sqrt(k)})
    summary["complexity"] = [float(complexity[c]) for c in summary.index]
    best = summary["mean"].idxmax() if higher_is_better else summary["mean"].idxmin()
    sign = 1.0 if higher_is_better else -1.0
    threshold = float(summary.loc[best, "mean"] - sign * summary.loc[best, "se"])
    summary["within_one_se"] = sign * (summary["mean"] - threshold) >= -1e-12
    order = sorted(summary.index, key=lambda c: (summary.loc[c, "complexity"], list(complexity).index(c)))
    summary = summary.loc[order]
    chosen = summary.index[summary["within_one_se"].to_numpy()][0]
    summary.index.name = candidate
    return OneStandardErrorChoice(best=best, chosen=chosen, threshold=threshold, table=summary)
