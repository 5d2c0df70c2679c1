"""mmteach: a hands-on course in multimodal deep learning.

``import mmteach`` is fast: TensorFlow is imported only when a function needs it.

Example
-------
>>> import mmteach
>>> mmteach.setup_notebook(seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import random

__version__ = "0.1.0"
from mmteach.claims import claim

__all__ = ["__version__", "claim", "setup_notebook"]

_SUBMODULES = {
    "applications", "attention", "attention_numpy", "claims", "cli", "course", "datasets", "device",
    "exercises", "features", "fusion", "models", "plotting", "preprocessing", "token_models", "training", "widgets",
}  # fmt: skip


def __getattr__(name: str):
    """Import submodules on first use, so ``mmteach.exercises`` works without an import line."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"mmteach.{name}")
    raise AttributeError(f"module 'mmteach' has no attribute {name!r}")


def setup_notebook(seed: int = 0, *, deterministic: bool = True) -> None:
    """Make a notebook reproducible and quiet; safe to call more than once.

    Seeds Python, NumPy and TensorFlow, turns on TensorFlow's op determinism,
    silences TensorFlow's C++ and Python logs and sets matplotlib defaults.

    Parameters
    ----------
    seed : int
        Seed for every random number generator.
    deterministic : bool
        Turn on ``tf.config.experimental.enable_op_determinism()``.

    Example
    -------
    >>> setup_notebook(seed=42)  # doctest: +SKIP
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
    # Must be set before TensorFlow is imported to take effect.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    random.seed(seed)

    import numpy as np

    np.random.seed(seed)
    np.set_printoptions(precision=3, suppress=True)

    import matplotlib

    matplotlib.rcParams.update(
        {"figure.dpi": 80, "figure.figsize": (6.0, 4.0), "axes.grid": False, "image.cmap": "viridis"}
    )

    import logging

    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    tf.keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # absl ships with TensorFlow; be safe anyway
        pass
