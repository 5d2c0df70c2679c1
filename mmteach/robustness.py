"""Robustness: corrupt or remove one modality of a model's inputs, and summarise the curve.

A fused model should degrade gracefully when one modality is noisy or missing. These
functions work on the dict of inputs a :mod:`mmteach.models` model takes (numpy only);
:mod:`mmteach.models` re-exports them, and notebook 04 draws accuracy against noise level.

Examples
--------
>>> import numpy as np
>>> inputs = {"image": np.zeros((2, 4, 4, 3), "float32"), "text": np.array([[5, 6, 0], [7, 0, 0]])}
>>> missing(inputs, "text")["text"].tolist()
[[0, 0, 0], [0, 0, 0]]
>>> robustness_auc([0.0, 0.5, 1.0], [0.9, 0.7, 0.5])
0.7
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mmteach.validation import check_array, check_choice, check_instance, check_int, check_real

__all__ = ["corrupt", "missing", "robustness_auc"]


def corrupt(inputs: Mapping[str, np.ndarray], modality: str, level: float, seed: int = 0) -> dict:
    """A copy of ``inputs`` with ``modality`` corrupted at noise ``level`` in [0, 1].

    * image: Gaussian noise of standard deviation ``0.5 * level`` (pixels in [0, 1]);
    * text: a fraction ``level`` of the words replaced by the unknown-word id 1;
    * audio: Gaussian noise of standard deviation ``2 * level`` on the scaled spectrogram.

    ``level=1`` with ``"text"`` removes all information from the caption but its length.
    To drop a modality entirely use :func:`missing`.

    Parameters
    ----------
    inputs : dict of arrays
        ``{modality: inputs}``; only ``modality`` is changed (a copy).
    modality : ``"image"``, ``"text"`` or ``"audio"``
        Which one to corrupt.
    level : float
        How much, in [0, 1] (0: unchanged).
    seed : int
        Seeds the noise.

    Example
    -------
    >>> noisy = corrupt(test.inputs, "image", 0.5)  # doctest: +SKIP
    """
    check_instance("inputs", inputs, Mapping, " of modality -> array")
    modality = check_choice("modality", modality, sorted(inputs))
    level = check_real("level", level, min_value=0, max_value=1)
    rng = np.random.default_rng(check_int("seed", seed, min_value=0))
    out = dict(inputs)
    x = inputs[modality]
    if modality == "text":
        hit = (rng.random(x.shape) < level) & (x != 0)
        out[modality] = np.where(hit, 1, x).astype(x.dtype)
    else:
        scale = 0.5 if modality == "image" else 2.0
        out[modality] = (x + rng.normal(scale=scale * level, size=x.shape)).astype(x.dtype)
    return out


def missing(inputs: Mapping[str, np.ndarray], modality: str) -> dict:
    """A copy of ``inputs`` with ``modality`` blanked: zeros (a caption of padding only).

    Parameters
    ----------
    inputs : dict of arrays
        ``{modality: inputs}``.
    modality : str
        The one to blank out (its array becomes zeros).

    Example
    -------
    >>> no_text = missing(test.inputs, "text")  # doctest: +SKIP
    """
    check_instance("inputs", inputs, Mapping, " of modality -> array")
    modality = check_choice("modality", modality, sorted(inputs))
    out = dict(inputs)
    out[modality] = np.zeros_like(inputs[modality])
    return out


def robustness_auc(levels: Sequence[float], accuracies: Sequence[float]) -> float:
    """Area under the accuracy-vs-noise curve, divided by the range of levels (MultiBench-style).

    1.0 = perfect at every noise level; equals the mean accuracy for evenly spaced levels
    counted with trapezoids.

    Parameters
    ----------
    levels : sequence of float
        Noise levels in [0, 1], increasing.
    accuracies : sequence of float
        The accuracy at each level.

    Example
    -------
    >>> robustness_auc([0, 0.5, 1], [1.0, 0.5, 0.0])
    0.5
    """
    x = check_array("levels", levels, ndim=1, dtype=float)
    y = check_array("accuracies", accuracies, ndim=1, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 2:
        raise ValueError(f"accuracies: expected one per level (>= 2 levels), got {y.shape} for {x.shape}")
    if np.any(np.diff(x) <= 0):
        raise ValueError(f"levels: expected increasing noise levels, got {x.tolist()}")
    area = float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)))
    return area / float(x[-1] - x[0])
