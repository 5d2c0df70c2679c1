"""The data card's cleaning rules for Shapes World's metadata table, with no data loading.

:func:`clean_metadata` is what :func:`mmteach.datasets.load_shapes_world` applies on every
load, and what notebook 01 rebuilds step by step with pandas; :func:`scrub_pii` and
:func:`normalise_category` are its pieces. ``mmteach.datasets`` and ``mmteach.preprocessing``
re-export every name.

Examples
--------
>>> normalise_category(" Wooden ")
'wood'
>>> RANGES["radius_px"]
(3.0, 12.0)
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from mmteach.constants import CATEGORIES, CLASS_NAMES, IMAGE_SIZE, MATERIALS, METADATA_COLUMNS, SHAPES
from mmteach.validation import check_instance, check_str_sequence

__all__ = ["RANGES", "clean_metadata", "normalise_category", "scrub_pii"]

#: Valid ranges of the numeric columns, inclusive.
RANGES = {"radius_px": (3.0, 12.0), "x": (0.0, float(IMAGE_SIZE)), "y": (0.0, float(IMAGE_SIZE))}

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d ()-]{6,}\d")
_SPELLING = {"wooden": "wood"}


def scrub_pii(text: str) -> str:
    """Replace e-mail addresses by ``[email]`` and phone numbers by ``[phone]``.

    Parameters
    ----------
    text : str
        A caption or any free text.

    Example
    -------
    >>> scrub_pii("a red box - contact anna.li@example.com")
    'a red box - contact [email]'
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected str, got {type(text).__name__}")
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


def normalise_category(value: object) -> object:
    """Lower-case and strip a category label and map known variants (``wooden`` -> ``wood``).

    Parameters
    ----------
    value : object
        A cell of a categorical column; anything that is not a str is returned as it is.
    """
    if not isinstance(value, str):
        return value
    v = value.strip().lower()
    return _SPELLING.get(v, v)


def clean_metadata(raw: pd.DataFrame, available_ids: set[str] | None = None) -> pd.DataFrame:
    """Apply the data card's cleaning rules to the raw metadata table.

    1. Normalise category spellings; 2. drop exact duplicate rows; 3. drop rows
    whose files are not in ``available_ids``; 4. out-of-range numbers become
    missing; 5. impute missing numbers with the training split's median and a
    missing colour as ``"unknown"``; 6. drop rows without shape or material (the
    label is unknown); 7. scrub personal data from captions; 8. add ``label``.

    Parameters
    ----------
    raw : pandas.DataFrame
        The raw table, e.g. :func:`mmteach.datasets.load_raw_metadata`, with the columns
        ``METADATA_COLUMNS``.
    available_ids : set of str, optional
        The ids whose files exist; rows of other ids are dropped (None: keep all).

    Example
    -------
    >>> from mmteach.datasets import make_shapes_world, plant_problems
    >>> sw = make_shapes_world(50)
    >>> raw, _ = plant_problems(sw.meta)
    >>> clean = clean_metadata(raw, set(sw.meta["id"]))
    >>> clean["id"].is_unique
    True
    """
    check_instance("raw", raw, pd.DataFrame, " (e.g. load_raw_metadata())")
    missing = [c for c in METADATA_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"raw: missing columns {missing}; expected {list(METADATA_COLUMNS)}")
    df = raw.loc[:, list(METADATA_COLUMNS)].copy()
    for column in CATEGORIES:
        df[column] = df[column].map(normalise_category)
    df = df.drop_duplicates().reset_index(drop=True)
    if available_ids is not None:
        available_ids = set(check_str_sequence("available_ids", available_ids, non_empty=False))
        df = df[df["id"].isin(available_ids)]
    if df["id"].duplicated().any():
        raise ValueError(
            f"raw: ids appear with different contents: {df.loc[df['id'].duplicated(), 'id'].tolist()[:5]}"
        )
    for column, (low, high) in RANGES.items():
        df[column] = pd.to_numeric(df[column], errors="coerce")
        df.loc[(df[column] < low) | (df[column] > high), column] = np.nan
    train = df["split"] == "train"
    for column in RANGES:
        df[column] = df[column].fillna(df.loc[train, column].median())
    df["colour"] = df["colour"].fillna("unknown")
    df = df.dropna(subset=["shape", "material"])
    for column in ("shape", "material"):
        bad = ~df[column].isin(CATEGORIES[column])
        if bad.any():
            raise ValueError(f"raw: unknown {column} values {sorted(df.loc[bad, column].unique())}")
    df["caption_en"] = df["caption_en"].fillna("").astype(str).map(scrub_pii)
    df["caption_zh"] = df["caption_zh"].fillna("").astype(str)
    df["label"] = [
        SHAPES.index(s) * len(MATERIALS) + MATERIALS.index(m)
        for s, m in zip(df["shape"], df["material"], strict=True)
    ]
    df["label_name"] = np.asarray(CLASS_NAMES)[df["label"].to_numpy(dtype=int)]
    return df.sort_values("id").reset_index(drop=True)
