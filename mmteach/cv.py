"""Cross-validation and model selection: stratified k-fold CV with a fresh model per fold.

The functions take a *model builder* -- a callable that returns a fresh, compiled
``keras.Model`` -- rather than a model, because cross-validation must start every fold
from new weights (:mod:`mmteach.training` re-exports every name, so
``training.cross_validate`` works as before; one training run is :func:`mmteach.training.fit`).

* :func:`cross_validate` -- stratified k-fold CV; a fresh model **and** a freshly fitted
  preprocessor per fold (nothing learnt from a fold's validation part leaks into its
  training); folds can run in parallel processes with joblib and give the same scores;
* :func:`select_model` -- cross-validate every candidate of a parameter grid on the same
  folds and pick the best by mean CV score;
* :func:`fold_indices` and :func:`summarize` -- the folds, and the mean and std of their scores.

How ``build_model`` is called
-----------------------------
``build_model()`` with no argument, or -- if it has one required positional parameter --
``build_model(preprocessor)`` with the preprocessor fitted on that fold's training part
(``None`` when there is none). A text model needs this to size its embedding with the
fold's own vocabulary (``preprocessor.vocab_size``).

What ``data`` can be
--------------------
* a :class:`~mmteach.datasets.ShapesWorld` of raw samples: labels come from it, and each
  fold fits ``preprocessor()`` (by default a
  :class:`~mmteach.preprocessing.ShapesWorldPreprocessor`) on its training part only;
* a numpy array or a dict of arrays (e.g. ``{"image": ..., "text": ...}``) with
  ``labels``; ``preprocessor`` is optional (e.g. ``sklearn.preprocessing.StandardScaler``)
  and is fitted per fold as well.

Examples
--------
>>> [len(val) for _, val in fold_indices([0, 0, 0, 1, 1, 1], n_splits=3)]
[2, 2, 2]
>>> import keras
>>> def build():
...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
...     model.compile("adam", "sparse_categorical_crossentropy")
...     return model
>>> scores = cross_validate(build, x, y, n_splits=3, epochs=2)  # doctest: +SKIP
>>> scores[["accuracy", "f1_macro"]].agg(["mean", "std"])  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import os
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mmteach.datasets import ShapesWorld
from mmteach.model_inputs import (
    arrange_inputs,
    build_compiled,
    n_samples,
    predict_proba,
    take,
    takes_preprocessor,
)
from mmteach.seeding import seed_everything
from mmteach.validation import check_bool, check_instance, check_int, check_str, check_str_sequence, describe

__all__ = [
    "METRICS",
    "SelectionResult",
    "cross_validate",
    "fold_indices",
    "select_model",
    "summarize",
]

#: The per-fold metrics :func:`cross_validate` reports (computed on the fold's validation part).
METRICS: tuple[str, ...] = ("accuracy", "f1_macro", "loss")


def _scores(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import f1_score

    pred = proba.argmax(axis=1)
    picked = proba[np.arange(len(y_true)), y_true] if proba.shape[1] > y_true.max() else np.zeros(len(y_true))
    return {
        "accuracy": float(np.mean(pred == y_true)),
        "f1_macro": float(f1_score(y_true, pred, average="macro", zero_division=0)),
        "loss": float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0)))),
    }


# --------------------------------------------------------------------------- data handling


def _check_data(data: Any, labels: Any) -> tuple[int, np.ndarray]:
    """Validate ``data``/``labels``; return (n, integer labels)."""
    if isinstance(data, ShapesWorld):
        n = len(data)
        if n == 0:
            raise ValueError("data: expected at least one sample, got an empty ShapesWorld")
        y = data.labels
        if labels is not None:
            given = np.asarray(labels)
            if given.shape != y.shape or not np.array_equal(given, y):
                raise ValueError(
                    "labels: a ShapesWorld carries its own labels; pass labels=None "
                    f"(got {given.shape[0] if given.ndim else given!r} labels that differ from data.labels)"
                )
        return n, y
    if data is None:
        raise ValueError("data: expected a ShapesWorld, an array or a dict of arrays, got None")
    n = n_samples("data", data)
    if n == 0:
        raise ValueError("data: expected at least one sample, got 0")
    if labels is None:
        raise ValueError("labels: required when data is an array or a dict of arrays, got None")
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels: expected a 1-d array of class indices, got shape {y.shape}")
    if len(y) != n:
        raise ValueError(f"labels: expected {n} labels (one per sample of data), got {len(y)}")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise ValueError(f"labels: expected integer class indices, got dtype {y.dtype}")
    if y.min() < 0:
        raise ValueError(f"labels: expected class indices >= 0, got minimum {y.min()}")
    return n, y.astype(np.int64)


def _prepare_fold(data: Any, labels: np.ndarray, train_idx, val_idx, preprocessor, modalities):
    """Fit the preprocessor on the fold's training part; return (prep, x_tr, y_tr, x_va, y_va)."""
    if isinstance(data, ShapesWorld):
        from mmteach.preprocessing import ShapesWorldPreprocessor

        factory = ShapesWorldPreprocessor if preprocessor is None else preprocessor
        train, val = data.subset(train_idx), data.subset(val_idx)
        prep = factory()
        prep.fit(train)
        x_tr, x_va = prep.transform(train), prep.transform(val)
        x_tr = getattr(x_tr, "inputs", x_tr)
        x_va = getattr(x_va, "inputs", x_va)
    else:
        x_tr, x_va = take(data, train_idx), take(data, val_idx)
        prep = None
        if preprocessor is not None:
            prep = preprocessor()
            prep.fit(x_tr)
            x_tr, x_va = prep.transform(x_tr), prep.transform(x_va)
    if modalities is not None:
        if not isinstance(x_tr, Mapping):
            raise ValueError("modalities: only meaningful when the inputs are a dict of modalities")
        missing = [m for m in modalities if m not in x_tr]
        if missing:
            raise ValueError(f"modalities: unknown {missing}; the data has {sorted(x_tr)}")
        x_tr = {m: x_tr[m] for m in modalities}
        x_va = {m: x_va[m] for m in modalities}
    return prep, x_tr, labels[train_idx], x_va, labels[val_idx]


def fold_indices(labels: Any, n_splits: int = 5, seed: int = 0, shuffle: bool = True):
    """The stratified folds as a list of ``(train_index, val_index)`` pairs.

    Uses :class:`sklearn.model_selection.StratifiedKFold`: every fold keeps the class
    proportions of the whole data.

    Parameters
    ----------
    labels : array-like of int
        One class id per sample.
    n_splits : int
        Number of folds, at least 2.
    seed : int
        Seeds the shuffling.
    shuffle : bool
        Shuffle before splitting (False: folds in the data's order).

    Raises
    ------
    ValueError
        If ``n_splits`` is below 2 or larger than the number of samples of the
        smallest class (that class could not appear in every fold).

    Example
    -------
    >>> folds = fold_indices([0, 0, 0, 1, 1, 1], n_splits=3)
    >>> [len(val) for _, val in folds]
    [2, 2, 2]
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"labels: expected a non-empty 1-d array, got shape {y.shape}")
    n_splits = check_int("n_splits", n_splits, min_value=2)
    seed, shuffle = check_int("seed", seed, min_value=0), check_bool("shuffle", shuffle)
    _, counts = np.unique(y, return_counts=True)
    if n_splits > counts.min():
        raise ValueError(
            f"n_splits: expected at most {counts.min()} (the number of samples of the smallest class, "
            f"so that every class appears in every fold), got {n_splits}"
        )
    splitter = StratifiedKFold(int(n_splits), shuffle=shuffle, random_state=seed if shuffle else None)
    return list(splitter.split(np.zeros(len(y)), y))


# --------------------------------------------------------------------------- one fold


def _run_fold(
    build_model,
    data,
    labels,
    train_idx,
    val_idx,
    fold,
    preprocessor,
    modalities,
    epochs,
    batch_size,
    seed,
    device_choice,
    fit_kwargs,
    previous=None,
) -> dict:
    """Train and score one fold. Runs in this process or in a joblib worker."""
    start = time.perf_counter()
    seed_everything(seed + fold)
    prep, x_tr, y_tr, x_va, y_va = _prepare_fold(data, labels, train_idx, val_idx, preprocessor, modalities)
    from mmteach import device

    with device.use(device_choice):
        model = build_compiled(build_model, prep if takes_preprocessor(build_model) else None)
        if previous is not None:  # serial run: refuse a builder that hands out the same model twice
            if any(ref() is model for ref in previous):
                raise ValueError(
                    "build_model: returned the same model object for two folds; it must build a new "
                    "model on every call (weights shared between folds leak information)"
                )
            previous.append(weakref.ref(model))
        model.fit(
            arrange_inputs(model, x_tr),
            y_tr,
            epochs=epochs,
            batch_size=batch_size,
            verbose=0,
            **(fit_kwargs or {}),
        )
        proba = predict_proba(model, x_va)
    return {
        "fold": fold,
        "n_train": len(y_tr),
        "n_val": len(y_va),
        **_scores(y_va, proba),
        "seconds": time.perf_counter() - start,
    }


def _worker(kwargs: dict) -> dict:
    """Entry point in a joblib worker process: quiet TensorFlow before it is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    return _run_fold(**kwargs)


def _run_tasks(tasks: list[dict], n_jobs: int) -> list[dict]:
    if n_jobs == 1:
        previous: list = []  # weak references to the models built so far
        return [_run_fold(**task, previous=previous) for task in tasks]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs, backend="loky")(delayed(_worker)(t) for t in tasks)


# --------------------------------------------------------------------------- cross-validation


def _check_common(build_model, epochs, batch_size, seed, n_jobs, preprocessor, modalities, fit_kwargs):
    if fit_kwargs is not None:
        check_instance("fit_kwargs", fit_kwargs, Mapping, " of keyword arguments for model.fit")
    if not callable(build_model):
        raise TypeError(
            f"build_model: expected a callable returning a compiled keras.Model, got {build_model!r}"
        )
    check_int("epochs", epochs, min_value=1)
    check_int("batch_size", batch_size, min_value=1)
    check_int("seed", seed, min_value=0)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs: expected a positive int or -1 (all cores), got {n_jobs!r}")
    if preprocessor is not None and not callable(preprocessor):
        raise TypeError(
            "preprocessor: expected a factory (a class or function) returning an object with fit() and "
            f"transform(), got {preprocessor!r}"
        )
    if modalities is not None and (isinstance(modalities, str) or not isinstance(modalities, Sequence)):
        raise ValueError(f"modalities: expected a list such as ['image', 'text'], got {modalities!r}")


def cross_validate(
    build_model: Callable,
    data: Any,
    labels: Any = None,
    *,
    n_splits: int = 5,
    preprocessor: Callable | None = None,
    modalities: Sequence[str] | None = None,
    epochs: int = 5,
    batch_size: int = 32,
    seed: int = 0,
    n_jobs: int = 1,
    fit_kwargs: dict | None = None,
) -> pd.DataFrame:
    """Stratified k-fold cross-validation with a fresh model and preprocessor per fold.

    For each of the ``n_splits`` folds: seed everything with ``seed + fold``, fit the
    preprocessor on the fold's training part, build a new model, train it for
    ``epochs`` and score it on the fold's validation part.

    Parameters
    ----------
    build_model : callable
        Returns a new compiled ``keras.Model`` on every call; see the module docstring
        (it may take the fold's fitted preprocessor as its one argument).
    data : ShapesWorld, array or dict of arrays
        The samples. A ShapesWorld carries its labels; arrays need ``labels``.
    labels : array of int, optional
        Class indices, one per sample (only for array data).
    n_splits : int
        Number of folds, at least 2 and at most the size of the smallest class.
    preprocessor : callable, optional
        Factory of an object with ``fit(train)`` and ``transform(x)``, fitted anew in each
        fold. Default for a ShapesWorld: :class:`~mmteach.preprocessing.ShapesWorldPreprocessor`.
    modalities : list of str, optional
        Keep only these entries of dict inputs (e.g. ``["text"]``). Entries the model has
        no input for are dropped anyway.
    epochs, batch_size : int
        Passed to ``model.fit``.
    seed : int
        Seeds the fold assignment and each fold's training.
    n_jobs : int
        Folds run in that many worker processes (joblib, ``-1`` = all cores); each worker
        imports TensorFlow once. The scores equal those of ``n_jobs=1``.
    fit_kwargs : dict, optional
        More keyword arguments for ``model.fit`` (e.g. ``{"class_weight": ...}``).

    Returns
    -------
    pandas.DataFrame
        One row per fold: ``fold``, ``n_train``, ``n_val``, ``accuracy``, ``f1_macro``,
        ``loss`` (validation cross-entropy) and ``seconds`` (wall clock, varies).

    Raises
    ------
    ValueError
        For a bad ``n_splits``, empty ``data``, ``labels`` of the wrong length, or a
        ``build_model`` that returns the same model object twice.

    Example
    -------
    >>> from mmteach.datasets import load_shapes_world
    >>> sw = load_shapes_world(split="train")  # doctest: +SKIP
    >>> table = cross_validate(lambda prep: build_text(prep.vocab_size), sw, n_splits=3)  # doctest: +SKIP
    >>> summarize(table)  # doctest: +SKIP
    """
    _check_common(build_model, epochs, batch_size, seed, n_jobs, preprocessor, modalities, fit_kwargs)
    _, y = _check_data(data, labels)
    folds = fold_indices(y, n_splits, seed)
    tasks = _fold_tasks(
        build_model, data, y, folds, preprocessor, modalities, epochs, batch_size, seed, fit_kwargs
    )
    rows = _run_tasks(tasks, int(n_jobs))
    return pd.DataFrame(rows).sort_values("fold").reset_index(drop=True)


def _fold_tasks(build_model, data, y, folds, preprocessor, modalities, epochs, batch_size, seed, fit_kwargs):
    from mmteach import device

    return [
        dict(
            build_model=build_model,
            data=data,
            labels=y,
            train_idx=train_idx,
            val_idx=val_idx,
            fold=fold,
            preprocessor=preprocessor,
            modalities=modalities,
            epochs=int(epochs),
            batch_size=int(batch_size),
            seed=int(seed),
            device_choice=device.current(),
            fit_kwargs=fit_kwargs,
        )
        for fold, (train_idx, val_idx) in enumerate(folds)
    ]


def summarize(
    table: pd.DataFrame, metrics: Sequence[str] = ("accuracy", "f1_macro"), by: str | None = None
) -> pd.DataFrame:
    """Mean and standard deviation of per-fold metrics (optionally per group ``by``).

    Parameters
    ----------
    table : pandas.DataFrame
        Per-fold metrics, e.g. from :func:`cross_validate`.
    metrics : sequence of str
        The columns to summarise.
    by : str, optional
        A column to group by (e.g. the model's name); None: one row for the whole table.

    Example
    -------
    >>> folds = pd.DataFrame({"model": ["a", "a", "b", "b"], "accuracy": [0.5, 0.7, 0.8, 0.8]})
    >>> summarize(folds, ["accuracy"], by="model")
           accuracy_mean  accuracy_std
    model
    a                0.6      0.141421
    b                0.8      0.000000
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table: expected a pandas DataFrame of per-fold metrics, got {type(table).__name__}")
    metrics = check_str_sequence("metrics", metrics)
    if by is not None:
        by = check_str("by", by)
    missing = [m for m in metrics if m not in table]
    if missing:
        raise ValueError(f"metrics: {missing} are not columns of table ({list(table.columns)})")
    grouped = table.groupby(by, sort=False) if by is not None else table.assign(_all="all").groupby("_all")
    out = grouped[list(metrics)].agg(["mean", "std"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    if by is None:
        out = out.reset_index(drop=True)
    return out


# --------------------------------------------------------------------------- model selection


@dataclass
class SelectionResult:
    """What :func:`select_model` found.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate: its parameters, mean and std of each metric, and ``rank``
        (1 = best by ``scoring``).
    folds : pandas.DataFrame
        The per-fold metrics of every candidate (column ``candidate``).
    best_params : dict
        The parameters of the best candidate.
    best_score : float
        Its mean CV score.
    scoring : str
        The metric used to choose.
    """

    table: pd.DataFrame
    folds: pd.DataFrame
    best_params: dict
    best_score: float
    scoring: str = "accuracy"
    extra: dict = field(default_factory=dict)


def _grid(param_grid: Mapping[str, Sequence] | Sequence[Mapping[str, Any]]) -> list[dict]:
    """The candidates: a dict of lists expanded by ParameterGrid, or a list of dicts as given."""
    if isinstance(param_grid, Mapping):
        from sklearn.model_selection import ParameterGrid

        if not param_grid:
            raise ValueError("param_grid: expected at least one parameter, got an empty dict")
        for key, values in param_grid.items():
            if isinstance(values, str) or not isinstance(values, Sequence) or len(values) == 0:
                raise ValueError(
                    f"param_grid: expected a non-empty list of values for {key!r}, got {values!r}"
                )
        # ParameterGrid's order: keys sorted, the last key varying fastest
        return [dict(c) for c in ParameterGrid({k: list(v) for k, v in param_grid.items()})]
    # a list of dicts is a list of candidates, each tried exactly as written (unlike ParameterGrid, which
    # would take a tuple value such as {"modalities": ("image",)} as a list of values to try)
    if isinstance(param_grid, str) or not isinstance(param_grid, Sequence) or not param_grid:
        candidates = []
    else:
        candidates = [dict(c) for c in param_grid if isinstance(c, Mapping)]
    if not candidates or len(candidates) != len(param_grid):
        raise ValueError(
            "param_grid: expected a dict of lists (e.g. {'fusion': ['parallel', 'weighted']}) or a list "
            f"of dicts, got {describe(param_grid)}"
        )
    return candidates


class _WithParams:
    """``build_model`` with keyword parameters bound (picklable, keeps the preprocessor argument)."""

    def __init__(self, build_model: Callable, params: dict) -> None:
        self.build_model = build_model
        self.params = params
        self.takes_preprocessor = _takes_positional(build_model, params)

    def __call__(self, preprocessor):  # required: build_compiled always hands it the fold's preprocessor
        if self.takes_preprocessor:
            return self.build_model(preprocessor, **self.params)
        return self.build_model(**self.params)


def _takes_positional(build_model: Callable, params: dict) -> bool:
    try:
        sig = inspect.signature(build_model)
    except (TypeError, ValueError):
        return False
    required = [
        p
        for name, p in sig.parameters.items()
        if p.default is p.empty
        and name not in params
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return bool(required)


# Size, on purpose: 13 parameters, cross_validate's 10 plus the grid and the scoring it shares.
def select_model(
    build_model: Callable,
    param_grid: Mapping[str, Sequence] | Sequence[Mapping[str, Any]],
    data: Any,
    labels: Any = None,
    *,
    scoring: str = "accuracy",
    n_splits: int = 5,
    preprocessor: Callable | None = None,
    modalities: Sequence[str] | None = None,
    epochs: int = 5,
    batch_size: int = 32,
    seed: int = 0,
    n_jobs: int = 1,
    fit_kwargs: dict | None = None,
) -> SelectionResult:
    """Cross-validate every candidate of ``param_grid`` on the same folds; pick the best.

    ``build_model(**params)`` (or ``build_model(preprocessor, **params)``) builds a
    candidate. A dict of lists is expanded with :class:`sklearn.model_selection.ParameterGrid`
    (candidates in its order: keys sorted, the last varying fastest); a list of dicts is
    tried exactly as written, in its order. All candidates see exactly the same folds and
    seeds, so their scores differ only because of the parameters. Keep a test split out of ``data``: evaluate
    the chosen model on it once, after the selection.

    Parameters
    ----------
    build_model : callable
        Takes the grid's parameters as keyword arguments.
    param_grid : dict of lists or list of dicts
        ``{"fusion": ["parallel", "weighted"], "learning_rate": [1e-3, 3e-3]}`` tries all
        four combinations; a list of dicts tries exactly those.
    scoring : str
        ``"accuracy"`` or ``"f1_macro"`` (higher is better) or ``"loss"`` (lower is better).
    Other parameters
        As for :func:`cross_validate`; ``n_jobs`` spreads all candidates' folds over workers.

    Returns
    -------
    SelectionResult

    Example
    -------
    >>> result = select_model(build, {"width": [8, 16]}, x, y, n_splits=3)  # doctest: +SKIP
    >>> result.best_params  # doctest: +SKIP
    {'width': 16}
    """
    if scoring not in METRICS:
        raise ValueError(f"scoring: expected one of {METRICS}, got {scoring!r}")
    _check_common(build_model, epochs, batch_size, seed, n_jobs, preprocessor, modalities, fit_kwargs)
    candidates = _grid(param_grid)
    _, y = _check_data(data, labels)
    folds = fold_indices(y, n_splits, seed)
    tasks = []
    for i, params in enumerate(candidates):
        for task in _fold_tasks(
            _WithParams(build_model, params),
            data,
            y,
            folds,
            preprocessor,
            modalities,
            epochs,
            batch_size,
            seed,
            fit_kwargs,
        ):
            tasks.append((i, task))
    rows = _run_tasks([t for _, t in tasks], int(n_jobs))
    per_fold = pd.DataFrame([{"candidate": i, **row} for (i, _), row in zip(tasks, rows, strict=True)])
    summary = per_fold.groupby("candidate")[list(METRICS)].agg(["mean", "std"])
    summary.columns = [f"{m}_{s}" for m, s in summary.columns]
    params_table = pd.DataFrame(candidates)
    params_table.index.name = "candidate"
    table = params_table.join(summary)
    ascending = scoring == "loss"
    table["rank"] = table[f"{scoring}_mean"].rank(ascending=ascending, method="first").astype(int)
    best = int(table["rank"].idxmin())
    return SelectionResult(
        table, per_fold, dict(candidates[best]), float(table.loc[best, f"{scoring}_mean"]), scoring
    )
