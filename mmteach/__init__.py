"""mmteach: a hands-on course in multimodal deep learning.

``import mmteach`` is fast: TensorFlow is imported only when a function needs it.

Example
-------
>>> import mmteach
>>> mmteach.setup_notebook(seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import sys

__version__ = "0.1.0"
from mmteach.claims import claim

__all__ = ["__version__", "claim", "setup_notebook"]

_SUBMODULES = {
    "applications", "attention", "attention_numpy", "claims", "cli", "course", "datasets", "device",
    "doctor", "exercises", "features", "fusion", "models", "plotting", "preprocessing", "seeding",
    "spoken_digits", "stats", "token_models", "training", "validation", "widgets",
}  # fmt: skip


def __getattr__(name: str):
    """Import submodules on first use, so ``mmteach.exercises`` works without an import line."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"mmteach.{name}")
    raise AttributeError(f"module 'mmteach' has no attribute {name!r}")


def nvidia_driver_present() -> bool:
    """Whether this machine has an NVIDIA driver (without importing TensorFlow).

    Example
    -------
    >>> isinstance(nvidia_driver_present(), bool)
    True
    """
    import shutil
    from pathlib import Path

    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


@contextlib.contextmanager
def native_stderr_silenced():
    """Send what C++ code writes to file descriptor 2 to the null device, for the ``with`` block.

    Python exceptions are unaffected: they are raised, and shown, as usual.

    Example
    -------
    >>> with native_stderr_silenced():
    ...     _ = os.write(2, b"not shown")
    """
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (some embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


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
    from mmteach.seeding import seed_everything
    from mmteach.validation import check_int

    seed = check_int("seed", seed, min_value=0)
    # Must be set before TensorFlow is imported to take effect. Without an NVIDIA driver,
    # TensorFlow's CUDA build logs "failed call to cuInit" as an *error* on every start:
    # noise on a CPU-only laptop, so level 3 there; level 2 (errors shown) elsewhere.
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    if level is None or (level == "2" and not nvidia_driver_present()):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2" if nvidia_driver_present() else "3"
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    if not nvidia_driver_present() and "tensorflow" not in sys.modules:
        # TensorFlow's CUDA build announces at import that there is no GPU: keep that out of the notebook
        with native_stderr_silenced():
            import tensorflow  # noqa: F401
    seed_everything(seed, deterministic)

    import numpy as np

    np.set_printoptions(precision=3, suppress=True)

    import matplotlib

    matplotlib.rcParams.update(
        {"figure.dpi": 80, "figure.figsize": (6.0, 4.0), "axes.grid": False, "image.cmap": "viridis"}
    )

    import logging

    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # absl ships with TensorFlow; be safe anyway
        pass
