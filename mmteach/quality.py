"""Data quality: count what is wrong with a metadata table, one row per (problem, column).

:func:`quality_report` is the first step of the cleaning lesson (notebook 01): it finds
the problems Shapes World's raw table has planted in it (missing values, duplicates,
conflicting ids, misspelt categories, numbers out of range, missing files, empty
captions, personal data) and reports a count of 0 for every check that is clean.
:mod:`mmteach.preprocessing` re-exports it.

Examples
--------
>>> PROBLEMS[:3]
('missing value', 'duplicate row', 'conflicting id')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from mmteach.cleaning import RANGES, normalise_category, scrub_pii
from mmteach.constants import CATEGORIES
from mmteach.validation import check_path, check_str, check_str_sequence

__all__ = ["PROBLEMS", "quality_report"]

PROBLEMS = (
    "missing value", "duplicate row", "conflicting id", "inconsistent spelling", "unknown category",
    "not a number", "out of range", "missing file", "empty caption", "personal data",
)  # fmt: skip


def _present(df: pd.DataFrame, columns: Iterable[str]) -> list[str]:
    return [c for c in columns if c in df.columns]


def _check_columns(df: pd.DataFrame, columns: Iterable[str], name: str) -> list[str]:
    columns = list(columns)
    unknown = [c for c in columns if c not in df.columns]
    if unknown:
        raise ValueError(f"{name}: unknown column(s) {unknown}; the table has {list(df.columns)}")
    return columns


# Size, on purpose: the docstring lists each of the ten checks; the body (60 lines) is one line per check.
def quality_report(
    df: pd.DataFrame,
    *,
    categories: Mapping[str, Iterable[str]] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    text_columns: Iterable[str] | None = None,
    file_columns: Iterable[str] | None = None,
    root: str | Path | None = None,
    id_column: str | None = "auto",
) -> pd.DataFrame:
    """Count the data-quality problems of a metadata table, one row per (problem, column).

    Checks (every check is reported, with a count of 0 when clean):

    * ``missing value``: empty cells in non-text columns;
    * ``duplicate row``: exact copies of an earlier row (column ``*``);
    * ``conflicting id``: an id repeated with different contents;
    * ``inconsistent spelling``: a category outside the allowed set that
      :func:`~mmteach.datasets.normalise_category` maps into it (``" Circle"``);
      ``unknown category`` when it does not;
    * ``not a number`` / ``out of range``: numeric columns outside ``[low, high]``;
    * ``missing file``: a file reference that does not exist under ``root``
      (only checked when ``root`` is given);
    * ``empty caption``: missing or blank text in a text column;
    * ``personal data``: a text in which :func:`~mmteach.datasets.scrub_pii`
      finds an e-mail address or a phone number.

    Parameters
    ----------
    df : pandas.DataFrame
        The table, e.g. :func:`mmteach.datasets.load_raw_metadata`.
    categories : mapping column -> allowed values, optional
        Default: Shapes World's ``CATEGORIES`` for the columns present.
    ranges : mapping column -> (low, high), optional
        Inclusive valid ranges; default Shapes World's ``RANGES`` for the columns present.
    text_columns, file_columns : iterables of column names, optional
        Default ``caption_en``/``caption_zh`` and ``image``/``audio`` when present.
    root : path, optional
        Folder the file references are relative to.
    id_column : str or None
        Column that should identify a row (for ``conflicting id``); None to skip.
        The default ``"auto"`` uses the column ``id`` when the table has one.

    Returns
    -------
    pandas.DataFrame
        Columns ``problem``, ``column``, ``count`` and ``example`` (one offending
        value, or the id of an offending row).

    Example
    -------
    >>> df = pd.DataFrame({"id": ["a", "b", "b"], "shape": ["circle", "Circle", "Circle"]})
    >>> r = quality_report(df)
    >>> r.loc[r["count"] > 0, ["problem", "column", "count"]].to_numpy().tolist()
    [['duplicate row', '*', 1], ['inconsistent spelling', 'shape', 2]]
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df: expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0 or len(df.columns) == 0:
        raise ValueError(f"df: expected a non-empty table, got shape {df.shape}")
    categories, ranges = _check_rules(df, categories, ranges)
    texts, files, id_column, root = _check_report_columns(df, text_columns, file_columns, id_column, root)

    ids = df[id_column].astype(str) if id_column else pd.Series(df.index.astype(str), index=df.index)
    rows: list[tuple[str, str, int, str]] = []

    def add(problem: str, column: str, mask: pd.Series, show: pd.Series | None = None) -> None:
        mask = mask.fillna(False).astype(bool)
        example = ""
        if mask.any():
            example = str((ids if show is None else show)[mask].iloc[0])
        rows.append((problem, column, int(mask.sum()), example))

    for column in df.columns:
        if column not in texts:
            add("missing value", column, df[column].isna())
    add("duplicate row", "*", df.duplicated(keep="first"))
    if id_column:
        unique_rows = df.drop_duplicates()
        conflicting = unique_rows[id_column].duplicated(keep="first").reindex(df.index, fill_value=False)
        add("conflicting id", id_column, conflicting)
    for column, allowed in categories.items():
        allowed = set(allowed)
        values = df[column]
        outside = values.notna() & ~values.isin(allowed)
        fixable = values.map(normalise_category).isin(allowed)
        add("inconsistent spelling", column, outside & fixable, values.map(repr))
        add("unknown category", column, outside & ~fixable, values.map(repr))
    for column, (low, high) in ranges.items():
        numbers = pd.to_numeric(df[column], errors="coerce")
        add("not a number", column, df[column].notna() & numbers.isna(), df[column].map(repr))
        add("out of range", column, (numbers < low) | (numbers > high), df[column].map(repr))
    if root is not None:
        for column in files:
            exists = df[column].map(lambda p: isinstance(p, str) and bool(p) and (root / p).is_file())
            add("missing file", column, ~exists, df[column].map(repr))
    for column in texts:
        text = df[column]
        blank = text.isna() | text.map(lambda t: isinstance(t, str) and not t.strip())
        add("empty caption", column, blank)
        pii = text.map(lambda t: isinstance(t, str) and scrub_pii(t) != t)
        add("personal data", column, pii)
    report = pd.DataFrame(rows, columns=["problem", "column", "count", "example"])
    order = {p: k for k, p in enumerate(PROBLEMS)}
    report["_order"] = report["problem"].map(order)
    return report.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


def _check_rules(df: pd.DataFrame, categories, ranges) -> tuple[Mapping, Mapping]:
    """The allowed categories and valid ranges of :func:`quality_report` (defaults: Shapes World's)."""
    if categories is None:
        categories = {c: v for c, v in CATEGORIES.items() if c in df.columns}
    if not isinstance(categories, Mapping):
        raise TypeError(
            f"categories: expected a mapping column -> allowed values, got {type(categories).__name__}"
        )
    _check_columns(df, categories, "categories")
    if ranges is None:
        ranges = {c: v for c, v in RANGES.items() if c in df.columns}
    if not isinstance(ranges, Mapping):
        raise TypeError(f"ranges: expected a mapping column -> (low, high), got {type(ranges).__name__}")
    _check_columns(df, ranges, "ranges")
    for column, bounds in ranges.items():
        if (
            not isinstance(bounds, (tuple, list))
            or len(bounds) != 2
            or not all(isinstance(b, (int, float)) and math.isfinite(b) for b in bounds)
            or bounds[0] > bounds[1]
        ):
            raise ValueError(
                f"ranges[{column!r}]: expected finite (low, high) with low <= high, got {bounds!r}"
            )
    return categories, ranges


def _check_report_columns(df: pd.DataFrame, text_columns, file_columns, id_column, root):
    """``(text columns, file columns, id column or None, root or None)`` of :func:`quality_report`."""
    if text_columns is None:
        texts = _present(df, ("caption_en", "caption_zh"))
    else:
        texts = check_str_sequence("text_columns", text_columns, non_empty=False)
    _check_columns(df, texts, "text_columns")
    if file_columns is None:
        files = _present(df, ("image", "audio"))
    else:
        files = check_str_sequence("file_columns", file_columns, non_empty=False)
    _check_columns(df, files, "file_columns")
    if id_column == "auto":
        id_column = "id" if "id" in df.columns else None
    if id_column is not None and check_str("id_column", id_column) not in df.columns:
        raise ValueError(f"id_column: expected a column of df {list(df.columns)} or None, got {id_column!r}")
    if root is not None:
        root = check_path("root", root)
        if not root.is_dir():
            raise ValueError("root: expected an existing folder, got a path that is not a folder")
    return texts, files, id_column, root
