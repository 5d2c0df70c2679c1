"""Training: one run of a model builder, on the chosen device or under a distribution strategy.

:func:`fit` builds a model and trains it once: on the device chosen with :mod:`mmteach.device`,
or under a ``tf.distribute`` strategy, with the best epoch checkpointed as ``.keras``.
Cross-validation and model selection live in :mod:`mmteach.cv` and are re-exported here
(``training.cross_validate``, ``training.select_model``, ``training.summarize``, ...), as is
:func:`~mmteach.model_inputs.predict_proba`.

How ``build_model`` is called
-----------------------------
``build_model()`` with no argument, or -- if it has one required positional parameter --
``build_model(preprocessor)`` (see :func:`mmteach.model_inputs.build_compiled`).

Examples
--------
>>> import keras, numpy as np
>>> def build():
...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
...     model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
...     return model
>>> x, y = np.random.default_rng(0).normal(size=(12, 4)), np.arange(12) % 3
>>> result = fit(build, x, y, epochs=2, batch_size=4)
>>> list(result.history.index), sorted(result.history.columns)
([1, 2], ['accuracy', 'loss'])
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmteach.cv import (  # noqa: F401 (re-exported: part of this module's API)
    METRICS,
    SelectionResult,
    cross_validate,
    fold_indices,
    select_model,
    summarize,
)
from mmteach.model_inputs import arrange_inputs, build_compiled, n_samples, predict_proba, takes_preprocessor
from mmteach.seeding import seed_everything  # noqa: F401 (part of this module's API)
from mmteach.validation import check_array, check_bool, check_int, check_path, describe

__all__ = [
    "FitResult",
    "SelectionResult",
    "METRICS",
    "cross_validate",
    "fit",
    "fold_indices",
    "predict_proba",
    "seed_everything",
    "select_model",
    "summarize",
]


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    model : keras.Model
        The trained model (with the best epoch's weights when they were restored).
    history : pandas.DataFrame
        One row per epoch (``loss``, ``accuracy``, ``val_loss``, ...), index ``epoch`` from 1.
    best_epoch : int or None
        The epoch (from 1) with the best monitored value, when there was one.
    checkpoint : pathlib.Path or None
        The ``.keras`` file of the best epoch, when ``checkpoint_dir`` was given.
    seconds : float
        Wall-clock training time.
    """

    model: Any
    history: pd.DataFrame
    best_epoch: int | None
    checkpoint: Path | None
    seconds: float


# Size, on purpose: 16 keyword parameters mirror keras.Model.fit's own (notebook 05 and the
# applications call them by name); checking and callbacks are the helpers below.
def fit(
    build_model: Callable,
    x: Any,
    y: Any,
    *,
    validation_data: tuple | None = None,
    epochs: int = 10,
    batch_size: int = 32,
    seed: int | None = 0,
    strategy: Any = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_name: str = "best",
    patience: int | None = None,
    monitor: str = "val_loss",
    restore_best_weights: bool = True,
    preprocessor: Any = None,
    callbacks: Sequence | None = None,
    verbose: int = 0,
) -> FitResult:
    """Build a model and train it once, on the chosen device or under a distribution strategy.

    * Without ``strategy`` the work runs inside :func:`mmteach.device.scope`, i.e. on
      the device chosen with ``mmteach.device.use(...)`` (or the device picker).
    * With ``strategy`` (e.g. ``tf.distribute.MirroredStrategy()``) the model is built
      and compiled inside ``strategy.scope()``; each batch is split over its replicas
      and the gradients are summed -- the same code then runs on several devices or,
      with ``MultiWorkerMirroredStrategy``, several machines (for that strategy Keras 3's
      ``model.fit`` does not work yet, keras-team/keras#20585, so ``fit`` trains with its own
      ``strategy.run`` loop and accepts no validation data, checkpoints or callbacks).
    * With ``checkpoint_dir`` the best epoch (by ``monitor``) is saved as
      ``<checkpoint_dir>/<checkpoint_name>.keras``; with ``patience`` training stops
      after that many epochs without improvement. With validation data the best
      epoch's weights are restored at the end (``restore_best_weights``).

    Parameters
    ----------
    build_model : callable
        Returns a new compiled ``keras.Model`` (called with ``preprocessor`` if it takes
        one argument).
    x, y
        Training inputs (array or dict of arrays) and integer labels.
    validation_data : tuple, optional
        ``(x_val, y_val)``.
    seed : int or None
        Seed everything first (None: leave the random state alone).
    checkpoint_dir : str or path, optional
        Folder for the ``.keras`` checkpoint; created if needed.
    monitor : str
        What "best" means: ``"val_loss"`` (lower is better), ``"val_accuracy"`` (higher), ...

    Returns
    -------
    FitResult

    Example
    -------
    >>> result = fit(build, x_train, y_train, validation_data=(x_val, y_val),
    ...              checkpoint_dir="checkpoints", patience=3)  # doctest: +SKIP
    >>> keras.models.load_model(result.checkpoint)  # doctest: +SKIP
    """
    _check_fit(build_model, x, y, validation_data, epochs, batch_size, seed, strategy, preprocessor)
    y = np.asarray(y)
    restore_best_weights = check_bool("restore_best_weights", restore_best_weights)
    verbose = check_int("verbose", verbose, min_value=0, max_value=2)
    if callbacks is not None and (isinstance(callbacks, str) or not isinstance(callbacks, Sequence)):
        raise TypeError(f"callbacks: expected a list of keras callbacks, got {describe(callbacks)}")
    _check_checkpointing(checkpoint_dir, checkpoint_name, patience, monitor, validation_data)

    from mmteach import device

    if seed is not None:
        seed_everything(int(seed))
    path, stopper, cbs = _callbacks(
        callbacks,
        checkpoint_dir,
        checkpoint_name,
        monitor,
        patience,
        restore_best_weights,
        validation_data,
        epochs,
    )
    context = strategy.scope() if strategy is not None else device.scope()
    start = time.perf_counter()
    with context:
        model = build_compiled(build_model, preprocessor)
        if _is_multi_worker(strategy):
            if validation_data is not None or cbs:
                raise ValueError(
                    "strategy: with MultiWorkerMirroredStrategy, fit() trains with its own loop (Keras 3's "
                    "model.fit does not support that strategy yet, keras-team/keras#20585) and takes no "
                    "validation_data, checkpoint_dir, patience or callbacks"
                )
            inputs = arrange_inputs(model, x)
            logs = _multi_worker_fit(model, inputs, y, strategy, int(epochs), int(batch_size))
        else:
            val = None
            if validation_data is not None:
                val = (arrange_inputs(model, validation_data[0]), np.asarray(validation_data[1]))
            logs = model.fit(
                arrange_inputs(model, x),
                y,
                validation_data=val,
                epochs=int(epochs),
                batch_size=int(batch_size),
                callbacks=cbs,
                verbose=verbose,
            ).history
    seconds = time.perf_counter() - start
    frame = pd.DataFrame(logs)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
    best_epoch = None
    if stopper is not None and monitor in frame:
        best_epoch = int(stopper.best_epoch) + 1
    return FitResult(model, frame, best_epoch, path, seconds)


def _check_fit(build_model, x, y, validation_data, epochs, batch_size, seed, strategy, preprocessor) -> None:
    """The model, data and budget arguments of :func:`fit`."""
    if preprocessor is not None and not takes_preprocessor(build_model):
        raise ValueError(
            f"preprocessor: given ({describe(preprocessor)}), but build_model takes no argument to receive "
            "it; give build_model one parameter (build_model(preprocessor)) or pass preprocessor=None"
        )
    check_int("epochs", epochs, min_value=1)
    check_int("batch_size", batch_size, min_value=1)
    if seed is not None:
        check_int("seed", seed, min_value=0)
    n = n_samples("x", x)
    if n == 0:
        raise ValueError("x: expected at least one sample, got 0")
    y = check_array("y", y, finite=False)
    if len(y) != n:
        raise ValueError(f"y: expected {n} labels (one per sample of x), got {len(y)}")
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data: expected a pair (x_val, y_val)")
        n_val = n_samples("validation_data", validation_data[0])
        if n_val != len(validation_data[1]) or n_val == 0:
            raise ValueError(
                f"validation_data: expected as many labels as samples (at least one), got {n_val} samples "
                f"and {len(validation_data[1])} labels"
            )
    if strategy is not None and not hasattr(strategy, "scope"):
        raise TypeError(f"strategy: expected a tf.distribute strategy, got {type(strategy).__name__}")


def _check_checkpointing(checkpoint_dir, checkpoint_name, patience, monitor, validation_data) -> None:
    """The checkpoint and early-stopping arguments of :func:`fit`."""
    if checkpoint_dir is not None:
        check_path("checkpoint_dir", checkpoint_dir)
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(f"monitor: expected a metric name such as 'val_loss', got {monitor!r}")
    if monitor.startswith("val_") and validation_data is None and (checkpoint_dir is not None or patience):
        raise ValueError(f"monitor: {monitor!r} needs validation_data; pass it or monitor a training metric")
    if patience is not None:
        check_int("patience", patience, min_value=1)
    if not isinstance(checkpoint_name, str) or not checkpoint_name or "/" in checkpoint_name:
        raise ValueError(f"checkpoint_name: expected a plain file name, got {checkpoint_name!r}")


def _callbacks(callbacks, checkpoint_dir, checkpoint_name, monitor, patience, restore_best_weights,
               validation_data, epochs):  # fmt: skip
    """``(checkpoint path or None, the EarlyStopping callback or None, all callbacks)`` for ``model.fit``."""
    import keras

    path = None
    cbs = list(callbacks or [])
    if checkpoint_dir is not None:
        folder = Path(checkpoint_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{checkpoint_name}.keras"
        cbs.append(
            keras.callbacks.ModelCheckpoint(str(path), monitor=monitor, save_best_only=True, verbose=0)
        )
    stopper = None
    if patience is not None or (restore_best_weights and validation_data is not None):
        stopper = keras.callbacks.EarlyStopping(
            monitor=monitor, patience=patience or epochs, restore_best_weights=restore_best_weights, verbose=0
        )
        cbs.append(stopper)
    return path, stopper, cbs


def _is_multi_worker(strategy: Any) -> bool:
    if strategy is None:
        return False
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def _multi_worker_fit(model, x, y, strategy, epochs: int, batch_size: int) -> dict:
    """Mini-batch training under ``MultiWorkerMirroredStrategy`` with ``strategy.run``.

    Each worker takes its share of every global batch of ``batch_size`` samples
    (``distribute_datasets_from_function`` shards by worker); the optimizer all-reduces
    the gradients, so every replica applies the same update. Returns ``{"loss": [...]}``.
    """
    import tensorflow as tf

    y = np.asarray(y)

    def dataset_fn(context):
        per_replica = context.get_per_replica_batch_size(batch_size)
        data = tf.data.Dataset.from_tensor_slices((x, y))
        data = data.shard(context.num_input_pipelines, context.input_pipeline_id)
        return data.batch(per_replica, drop_remainder=True)

    dist = strategy.distribute_datasets_from_function(dataset_fn)
    loss_fn = model.loss if callable(model.loss) else __import__("keras").losses.get(model.loss)

    def replica_step(xb, yb):
        with tf.GradientTape() as tape:
            pred = model(xb, training=True)
            if isinstance(pred, (list, tuple)):
                pred = pred[0]
            per_example = loss_fn(yb, pred) if not hasattr(loss_fn, "call") else loss_fn.call(yb, pred)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=batch_size)
        grads = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply(grads, model.trainable_variables)
        return loss

    @tf.function
    def step(xb, yb):
        losses = strategy.run(replica_step, args=(xb, yb))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    history = []
    for _ in range(epochs):
        total, batches = 0.0, 0
        for xb, yb in dist:
            total += float(step(xb, yb))
            batches += 1
        history.append(total / max(batches, 1))
    return {"loss": history}
