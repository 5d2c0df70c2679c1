"""Fusion: combine the feature vectors of several modalities into one.

Three families, each written twice - a few lines of numpy that show the idea
(the *reference*), and a Keras layer that trains (the *layer*). Tests load the
same weights into both and check that they agree.

* **parallel fusion** (并列融合): concatenate the modality vectors side by side
  (:func:`parallel_fusion`, :class:`ParallelFusion`);
* **sequential fusion** (顺序融合): project every modality to a common width and
  feed them one after another as the time steps of a recurrent layer
  (:func:`sequential_fusion`, :class:`SequentialFusion`); in the *inject* variant
  a vector (e.g. the image) is step 0 of the caption's own RNN
  (:func:`inject_fusion`, :class:`InjectFusion`);
* **weighted fusion** (权重融合): a weighted sum of projected modality vectors, with
  ``fixed`` weights, ``learned`` weights (a softmax over one trainable logit per
  modality) or a ``gated`` per-sample, per-dimension weighting in the manner of
  the Gated Multimodal Unit (:func:`weighted_fusion`, :class:`WeightedFusion`);
* **late fusion**, the baseline: average the class probabilities of separately
  trained single-modality models (:func:`late_fusion`, :class:`LateFusion`).

Every layer takes a *list* of tensors, one per modality, each ``(batch, features)``.
The numpy references live in :mod:`mmteach.fusion_numpy` (no Keras needed) and are
re-exported here.

Example
-------
>>> import numpy as np
>>> parallel_fusion([np.ones((2, 3)), np.zeros((2, 1))]).shape
(2, 4)
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers, ops

from mmteach.fusion_numpy import (
    FUSION_METHODS,
    RNN_KINDS,
    WEIGHTED_MODES,
    check_fixed_weights,
    check_order,
    gru_step,
    inject_fusion,
    late_fusion,
    parallel_fusion,
    sequential_fusion,
    simple_rnn_step,
    softmax,
    weighted_fusion,
)
from mmteach.validation import check_array, check_choice, check_int, describe

__all__ = [
    "FUSION_METHODS",
    "RNN_KINDS",
    "WEIGHTED_MODES",
    "InjectFusion",
    "LateFusion",
    "ParallelFusion",
    "SequentialFusion",
    "WeightedFusion",
    "check_fixed_weights",
    "check_order",
    "gru_step",
    "inject_fusion",
    "late_fusion",
    "parallel_fusion",
    "sequential_fusion",
    "simple_rnn_step",
    "softmax",
    "weighted_fusion",
]


class _FusionLayer(layers.Layer):
    """Shared input checks: a non-empty list of rank-2 tensors with one batch size."""

    #: how many input tensors the layer needs at least
    min_inputs = 1

    def _check_shapes(self, input_shape) -> list[tuple]:
        if (
            not isinstance(input_shape, (list, tuple))
            or not input_shape
            or not isinstance(input_shape[0], (list, tuple))
        ):
            if isinstance(input_shape, (list, tuple)) and len(input_shape) == 0:
                raise ValueError(f"{self.name}: expected at least one modality, got an empty list")
            raise ValueError(
                f"{self.name}: expected a list of (batch, features) tensors, one per modality, "
                f"got a single input of shape {input_shape}"
            )
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) < self.min_inputs:
            raise ValueError(
                f"{self.name}: expected at least {self.min_inputs} modalities, got {len(shapes)}"
            )
        for i, s in enumerate(shapes):
            if len(s) != 2:
                raise ValueError(f"{self.name}: input {i} must be rank 2 (batch, features), got shape {s}")
            if s[1] is None:
                raise ValueError(f"{self.name}: input {i} needs a known feature size, got {s}")
        batches = {s[0] for s in shapes if s[0] is not None}
        if len(batches) > 1:
            raise ValueError(
                f"{self.name}: all modalities need the same batch size, got {[s[0] for s in shapes]}"
            )
        return shapes

    def _check_call(self, inputs) -> list:
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(
                f"{self.name}: expected a list of (batch, features) tensors, one per modality, "
                f"got {type(inputs).__name__}"
            )
        self._check_shapes([tuple(x.shape) for x in inputs])
        if getattr(self, "_n_inputs", None) is not None and len(inputs) != self._n_inputs:
            raise ValueError(f"{self.name}: was built for {self._n_inputs} modalities, got {len(inputs)}")
        return list(inputs)

    def __call__(self, inputs, *args, **kwargs):
        # Check before Keras builds the layer, so the error names what is wrong.
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(
                f"{self.name}: expected a list of (batch, features) tensors, one per modality, "
                f"got a single {type(inputs).__name__}"
            )
        if len(inputs) == 0:
            raise ValueError(f"{self.name}: expected at least one modality, got an empty list")
        self._check_shapes([tuple(x.shape) for x in inputs])
        return super().__call__(inputs, *args, **kwargs)


@keras.saving.register_keras_serializable(package="mmteach")
class ParallelFusion(_FusionLayer):
    """Parallel fusion (并列融合): concatenate modality vectors, optionally projected first.

    Parameters
    ----------
    units : int, optional
        If given, each modality first goes through its own ``Dense(units)``
        (weights ``projection_0``, ``projection_1``, ...), so every modality gets
        the same number of dimensions in the fused vector.

    Example
    -------
    >>> ParallelFusion()([np.ones((2, 3)), np.ones((2, 1))]).shape  # doctest: +SKIP
    (2, 4)
    """

    def __init__(self, units: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units = None if units is None else check_int("units", units, min_value=1)
        self._n_inputs = None
        self.projections = []

    def build(self, input_shape):
        shapes = self._check_shapes(input_shape)
        self._n_inputs = len(shapes)
        if self.units is not None:
            self.projections = [layers.Dense(self.units, name=f"projection_{i}") for i in range(len(shapes))]
            for proj, s in zip(self.projections, shapes, strict=True):
                proj.build(s)

    def call(self, inputs):
        xs = self._check_call(inputs)
        if self.units is not None:
            xs = [p(x) for p, x in zip(self.projections, xs, strict=True)]
        return ops.concatenate(xs, axis=-1)

    def compute_output_shape(self, input_shape):
        shapes = self._check_shapes(input_shape)
        width = self.units * len(shapes) if self.units else sum(s[1] for s in shapes)
        return (shapes[0][0], width)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def _rnn(kind: str, units: int, name: str, **kwargs):
    cls = {"gru": layers.GRU, "simple": layers.SimpleRNN}[kind]
    return cls(units, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="mmteach")
class SequentialFusion(_FusionLayer):
    """Sequential fusion (顺序融合): modalities as the time steps of a recurrent layer.

    Each modality is projected to ``units`` numbers (``projection_i``), the projected
    vectors are stacked in ``order`` (position 0 = first time step) and a GRU or
    SimpleRNN (``rnn``) reads them; its last state is the fused vector. Because the
    RNN forgets, the order matters: the last modality leaves the freshest trace.

    Parameters
    ----------
    units : int
        Width of the projections and of the recurrent state.
    order : sequence of int, optional
        Which input is step 0, 1, ...; default: the order of the inputs.
    rnn : ``"gru"`` (default) or ``"simple"``

    Example
    -------
    >>> SequentialFusion(8, order=(2, 0, 1))  # doctest: +SKIP
    """

    def __init__(self, units: int = 32, order: Sequence[int] | None = None, rnn: str = "gru",
                 **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.units = check_int("units", units, min_value=1)
        if order is not None and (isinstance(order, str) or not isinstance(order, Sequence)):
            raise TypeError(f"order: expected a sequence of modality positions, got {describe(order)}")
        self.order = None if order is None else check_order(order, len(order))
        self.rnn_kind = check_choice("rnn", rnn, RNN_KINDS)
        self._n_inputs = None
        self.projections = []
        self.rnn = _rnn(self.rnn_kind, self.units, "rnn")

    def build(self, input_shape):
        shapes = self._check_shapes(input_shape)
        self._n_inputs = len(shapes)
        self._order = check_order(self.order, len(shapes))
        self.projections = [layers.Dense(self.units, name=f"projection_{i}") for i in range(len(shapes))]
        for proj, s in zip(self.projections, shapes, strict=True):
            proj.build(s)
        self.rnn.build((shapes[0][0], len(shapes), self.units))

    def call(self, inputs):
        xs = self._check_call(inputs)
        projected = [p(x) for p, x in zip(self.projections, xs, strict=True)]
        steps = ops.stack([projected[i] for i in self._order], axis=1)
        return self.rnn(steps)

    def compute_output_shape(self, input_shape):
        return (self._check_shapes(input_shape)[0][0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "order": self.order, "rnn": self.rnn_kind}


@keras.saving.register_keras_serializable(package="mmteach")
class InjectFusion(layers.Layer):
    """Inject fusion: vectors become the first steps of a sequence's recurrent layer.

    Inputs ``[vector_1 (batch, d_1), ..., vector_k (batch, d_k), sequence (batch, steps, e)]``:
    each vector (e.g. the image features) is projected to ``e`` numbers
    (``projection_i``) and put in front of the sequence (e.g. the caption's word
    embeddings), vector 1 first; a GRU/SimpleRNN of ``units`` reads the lot. The
    sequence's padding mask (``Embedding(mask_zero=True)``) is respected; the
    injected steps are never masked.

    Parameters
    ----------
    units : int
        Width of the recurrent state (the fused vector).
    rnn : ``"gru"`` or ``"simple"``
        The recurrent layer.
    **kwargs
        Passed to ``keras.layers.Layer`` (e.g. ``name``).

    Example
    -------
    >>> InjectFusion(16)  # doctest: +SKIP
    """

    def __init__(self, units: int = 32, rnn: str = "gru", **kwargs):
        super().__init__(**kwargs)
        self.units = check_int("units", units, min_value=1)
        self.rnn_kind = check_choice("rnn", rnn, RNN_KINDS)
        self.supports_masking = True
        self.rnn = _rnn(self.rnn_kind, self.units, "rnn")
        self.projections = []

    def _shapes(self, input_shape):
        if (not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2
                or not all(isinstance(s, (list, tuple)) for s in input_shape)):  # fmt: skip
            raise ValueError(
                f"{self.name}: expected a list [vector (batch, d), ..., sequence (batch, steps, e)] "
                f"with at least one vector, got {input_shape}"
            )
        *vecs, seq = (tuple(s) for s in input_shape)
        if any(len(v) != 2 for v in vecs) or len(seq) != 3:
            raise ValueError(
                f"{self.name}: expected rank-2 vectors and a rank-3 sequence last, got shapes {[*vecs, seq]}"
            )
        batches = {s[0] for s in [*vecs, seq] if s[0] is not None}
        if len(batches) > 1:
            raise ValueError(f"{self.name}: batch sizes differ: {[s[0] for s in [*vecs, seq]]}")
        return vecs, seq

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, (list, tuple)):
            self._shapes([tuple(x.shape) for x in inputs])
        else:
            self._shapes(None)
        return super().__call__(inputs, *args, **kwargs)

    def build(self, input_shape):
        vecs, seq = self._shapes(input_shape)
        self.projections = [layers.Dense(seq[2], name=f"projection_{i}") for i in range(len(vecs))]
        for proj, v in zip(self.projections, vecs, strict=True):
            proj.build(v)
        steps = None if seq[1] is None else seq[1] + len(vecs)
        self.rnn.build((seq[0], steps, seq[2]))

    def call(self, inputs, mask=None):
        *vecs, sequence = inputs
        self._shapes([tuple(x.shape) for x in inputs])
        first = [ops.expand_dims(p(v), 1) for p, v in zip(self.projections, vecs, strict=True)]
        steps = ops.concatenate([*first, sequence], axis=1)
        seq_mask = None if mask is None else mask[-1]
        if seq_mask is not None:
            # one True per injected vector (a slice of the caption's mask would be too short for a
            # caption with fewer words than injected vectors)
            ones = ops.repeat(ops.ones_like(ops.cast(seq_mask[:, :1], "int32")), len(vecs), axis=1)
            seq_mask = ops.concatenate([ops.cast(ones, "bool"), ops.cast(seq_mask, "bool")], axis=1)
        return self.rnn(steps, mask=seq_mask)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (self._shapes(input_shape)[1][0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "rnn": self.rnn_kind}


@keras.saving.register_keras_serializable(package="mmteach")
class WeightedFusion(_FusionLayer):
    """Weighted fusion (权重融合): ``sum_i w_i * tanh(Dense_i(x_i))``.

    Parameters
    ----------
    units : int
        Width of each modality's projection and of the fused vector.
    mode : ``"fixed"``, ``"learned"`` or ``"gated"``
        * ``fixed``: ``weights`` given by you (one per modality, non-negative, sum 1);
        * ``learned``: ``w = softmax(logits)`` with one trainable logit per modality;
          read the weights back with :meth:`modality_weights`;
        * ``gated``: a gate per sample and per dimension, softmax over modalities of
          ``Dense(n_modalities * units)`` applied to all raw features concatenated
          (the Gated Multimodal Unit, generalised to more than two modalities);
          read the gates with :meth:`gates`.
    weights : sequence of float, only for ``mode="fixed"``

    Example
    -------
    >>> layer = WeightedFusion(8, mode="learned")  # doctest: +SKIP
    >>> layer.modality_weights()  # after build: 1/n each  # doctest: +SKIP
    """

    def __init__(self, units: int = 32, mode: str = "learned", weights: Sequence[float] | None = None,
                 **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.units = check_int("units", units, min_value=1)
        self.mode = check_choice("mode", mode, WEIGHTED_MODES)
        if mode == "fixed":
            w = np.asarray(weights if weights is not None else [], dtype=np.float64)
            if weights is None or w.ndim != 1 or len(w) == 0:
                raise ValueError(
                    f"weights: mode='fixed' needs a list of one weight per modality, got {weights!r}"
                )
            self.fixed_weights = check_fixed_weights(w, len(w)).tolist()
        elif weights is not None:
            raise ValueError(f"weights: only used with mode='fixed', got weights with mode={mode!r}")
        else:
            self.fixed_weights = None
        self._n_inputs = None
        self.projections = []
        self.gate = None
        self.logits = None

    def build(self, input_shape):
        shapes = self._check_shapes(input_shape)
        n = len(shapes)
        if self.mode == "fixed" and len(self.fixed_weights) != n:
            raise ValueError(f"weights: expected {n} weights (one per modality), got {self.fixed_weights}")
        self._n_inputs = n
        self.projections = [
            layers.Dense(self.units, activation="tanh", name=f"projection_{i}") for i in range(n)
        ]
        for proj, s in zip(self.projections, shapes, strict=True):
            proj.build(s)
        if self.mode == "learned":
            self.logits = self.add_weight(shape=(n,), initializer="zeros", name="modality_logits")
        elif self.mode == "gated":
            self.gate = layers.Dense(n * self.units, name="gate")
            self.gate.build((shapes[0][0], sum(s[1] for s in shapes)))

    def _weights(self, xs):
        """Weights broadcastable to ``(batch, n_modalities, units)``."""
        n = len(xs)
        if self.mode == "fixed":
            return ops.reshape(ops.convert_to_tensor(self.fixed_weights, dtype=self.compute_dtype), (1, n, 1))
        if self.mode == "learned":
            return ops.reshape(ops.softmax(self.logits), (1, n, 1))
        g = self.gate(ops.concatenate(xs, axis=-1))
        return ops.softmax(ops.reshape(g, (-1, n, self.units)), axis=1)

    def call(self, inputs):
        xs = self._check_call(inputs)
        h = ops.stack([p(x) for p, x in zip(self.projections, xs, strict=True)], axis=1)
        return ops.sum(self._weights(xs) * h, axis=1)

    def modality_weights(self) -> np.ndarray:
        """The weight of each modality (fixed or learned mode), summing to 1.

        For ``mode="gated"`` the weights depend on the sample: use :meth:`gates`.
        """
        if self.mode == "fixed":
            return np.asarray(self.fixed_weights)
        if self.mode == "learned":
            if self.logits is None:
                raise RuntimeError(f"{self.name}: build the layer (call it once) before reading weights")
            return softmax(np.asarray(keras.ops.convert_to_numpy(self.logits), dtype=np.float64))
        raise ValueError(
            f"{self.name}: mode='gated' has a weight per sample and dimension; use gates(inputs)"
        )

    def gates(self, inputs) -> np.ndarray:
        """The weights ``(batch, n_modalities, units)`` this layer applies to ``inputs``.

        Parameters
        ----------
        inputs : list of arrays
            One ``(batch, features)`` per modality.
        """
        xs = self._check_call([ops.convert_to_tensor(x, dtype=self.compute_dtype) for x in inputs])
        w = self._weights(xs)
        w = ops.broadcast_to(w, (ops.shape(xs[0])[0], len(xs), self.units))
        return np.asarray(keras.ops.convert_to_numpy(w))

    def compute_output_shape(self, input_shape):
        return (self._check_shapes(input_shape)[0][0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "mode": self.mode,
                "weights": self.fixed_weights}  # fmt: skip


@keras.saving.register_keras_serializable(package="mmteach")
class LateFusion(_FusionLayer):
    """Late fusion: average class probabilities of single-modality models (see :func:`late_fusion`).

    Parameters
    ----------
    mode : ``"mean"`` (default) or ``"geometric"``
    weights : optional fixed weights, one per model (non-negative, sum 1)
    """

    def __init__(self, mode: str = "mean", weights: Sequence[float] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, ("mean", "geometric"))
        self.fixed_weights = None
        if weights is not None:
            weights = check_array("weights", weights, ndim=1, finite=False)
            self.fixed_weights = check_fixed_weights(weights, len(weights)).tolist()

    def build(self, input_shape):
        shapes = self._check_shapes(input_shape)
        if len({s[1] for s in shapes}) > 1:
            raise ValueError(f"{self.name}: all inputs need the same number of classes, got {shapes}")
        if self.fixed_weights is not None and len(self.fixed_weights) != len(shapes):
            raise ValueError(
                f"weights: expected {len(shapes)} weights (one per model), got {self.fixed_weights}"
            )

    def call(self, inputs):
        xs = self._check_call(inputs)
        n = len(xs)
        w = self.fixed_weights if self.fixed_weights is not None else [1.0 / n] * n
        w = ops.reshape(ops.convert_to_tensor(w, dtype=self.compute_dtype), (n, 1, 1))
        stacked = ops.stack(xs, axis=0)
        if self.mode == "mean":
            return ops.sum(w * stacked, axis=0)
        return ops.softmax(ops.sum(w * ops.log(ops.clip(stacked, 1e-7, 1.0)), axis=0), axis=-1)

    def compute_output_shape(self, input_shape):
        return self._check_shapes(input_shape)[0]

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "weights": self.fixed_weights}


# Token-level fusion (transformers) lives in mmteach.attention; re-exported beside the vector-level layers.
from mmteach.attention import CrossAttentionFusion, ParallelTokenFusion, SingleStreamFusion  # noqa: E402

__all__ += ["CrossAttentionFusion", "ParallelTokenFusion", "SingleStreamFusion"]
