"""The package's one seeding function (TensorFlow is imported only when it is called).

Example
-------
>>> from mmteach.seeding import seed_everything
>>> seed_everything(0)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import random

from mmteach.validation import check_bool, check_int

__all__ = ["seed_everything"]


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy, TensorFlow and Keras (and turn on op determinism).

    :func:`mmteach.setup_notebook` calls it once per notebook;
    :func:`mmteach.training.cross_validate` at the start of every fold with ``seed + fold``,
    in whichever process runs the fold, so a fold gives the same result serially and in a
    worker process.

    Parameters
    ----------
    seed : int
        Seed (>= 0) of every random number generator.
    deterministic : bool
        Turn on ``tf.config.experimental.enable_op_determinism()``.

    Example
    -------
    >>> seed_everything(0)  # doctest: +SKIP
    """
    seed, deterministic = check_int("seed", seed, min_value=0), check_bool("deterministic", deterministic)
    # Must be set before TensorFlow is imported to take effect.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import keras
    import numpy as np
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
