"""Checks for the exercises at the end of each notebook.

Every exercise has a solution cell (between ``### BEGIN SOLUTION`` and
``### END SOLUTION``, tagged ``solution``) followed by a cell that calls
``check_<name>(...)``. A check prints a short pass message or raises
AssertionError with a hint; it never reveals the solution.

Example
-------
>>> check_label_of("circle", "wood", 1)
Traceback (most recent call last):
...
AssertionError: label_of('circle', 'wood'): expected a different class index, got 1. Hint: ...
"""

from __future__ import annotations

import numpy as np


def _passed(name: str) -> None:
    print(f"\N{CHECK MARK} {name}: correct, well done!")


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _close(actual, expected, name: str, hint: str, atol: float = 1e-5) -> None:
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    _expect(
        actual.shape == expected.shape,
        f"{name}: expected shape {expected.shape}, got {actual.shape}. Hint: {hint}",
    )
    _expect(
        bool(np.allclose(actual, expected, atol=atol)),
        f"{name}: values differ from the expected ones. Hint: {hint}",
    )


# --- notebook 00: setup and tour -------------------------------------------------------


def check_label_of(shape: str, material: str, answer: int) -> None:
    """Exercise 00.1: the class index of (shape, material)."""
    from mmteach.datasets import CLASS_NAMES

    name = f"label_of({shape!r}, {material!r})"
    _expect(
        answer == CLASS_NAMES.index(f"{shape}_{material}"),
        f"{name}: expected a different class index, got {answer}. "
        "Hint: classes are ordered shape-major: shape index * 3 + material index.",
    )
    _passed(name)
