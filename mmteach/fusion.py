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

from mmteach.validation import check_array, check_choice, check_int, check_real, describe

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
    "gru_step",
    "inject_fusion",
    "late_fusion",
    "parallel_fusion",
    "sequential_fusion",
    "simple_rnn_step",
    "softmax",
    "weighted_fusion",
]

FUSION_METHODS = ("parallel", "sequential", "weighted")
WEIGHTED_MODES = ("fixed", "learned", "gated")
RNN_KINDS = ("gru", "simple")


# =========================================================================== input checks


def _check_features(features, name: str = "features") -> list[np.ndarray]:
    """A non-empty list of 2-D arrays with the same number of rows."""
    if isinstance(features, np.ndarray) or not isinstance(features, Sequence):
        raise TypeError(
            f"{name}: expected a list with one (batch, features) array per modality, "
            f"got {type(features).__name__}"
        )
    if len(features) == 0:
        raise ValueError(f"{name}: expected at least one modality, got an empty list")
    arrays = [check_array(f"{name}[{i}]", f, ndim=2, dtype=np.float64) for i, f in enumerate(features)]
    batches = [a.shape[0] for a in arrays]
    if len(set(batches)) > 1:
        raise ValueError(f"{name}: all modalities need the same batch size, got {batches}")
    return arrays


def check_fixed_weights(weights, n_modalities: int, atol: float = 1e-6) -> np.ndarray:
    """Validate fixed fusion weights: one per modality, non-negative, summing to 1.

    Example
    -------
    >>> check_fixed_weights([0.5, 0.25, 0.25], 3)
    array([0.5 , 0.25, 0.25])
    >>> check_fixed_weights([0.5, 0.6], 2)
    Traceback (most recent call last):
    ...
    ValueError: weights: expected weights summing to 1, got [0.5, 0.6] (sum 1.1)
    """
    if weights is None:
        raise ValueError("weights: fixed fusion needs one weight per modality, got None")
    n_modalities = check_int("n_modalities", n_modalities, min_value=1)
    atol = check_real("atol", atol, min_value=0)
    w = check_array("weights", weights, finite=False, dtype=np.float64)
    if w.ndim != 1 or len(w) != n_modalities:
        raise ValueError(
            f"weights: expected {n_modalities} weights (one per modality), got {list(np.ravel(w))}"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights: expected non-negative finite weights, got {w.tolist()}")
    if abs(w.sum() - 1.0) > atol:
        raise ValueError(f"weights: expected weights summing to 1, got {w.tolist()} (sum {w.sum():.3g})")
    return w


# Thin delegations to mmteach.validation, kept so that layers written alongside
# (token-level fusion) merge cleanly; new code calls mmteach.validation directly.
_check_choice = check_choice


def _check_positive(name: str, value) -> int:
    return check_int(name, value, min_value=1)


def _check_order(order, n: int) -> list[int]:
    if order is None:
        return list(range(n))
    if isinstance(order, str) or not isinstance(order, Sequence):
        raise TypeError(f"order: expected a sequence of modality positions, got {describe(order)}")
    order = [check_int(f"order[{k}]", i, min_value=0) for k, i in enumerate(order)]
    if sorted(order) != list(range(n)):
        raise ValueError(
            f"order: expected a permutation of 0..{n - 1} (one position per modality), got {order}"
        )
    return order


# =========================================================================== numpy references


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax.

    Example
    -------
    >>> softmax(np.array([0.0, 0.0]))
    array([0.5, 0.5])
    """
    x = check_array("x", x, dtype=np.float64)
    axis = check_int("axis", axis, min_value=-x.ndim, max_value=x.ndim - 1)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _project(x, kernel, bias, activation=None):
    y = x @ kernel
    if bias is not None:
        y = y + bias
    return np.tanh(y) if activation == "tanh" else y


def _check_projection(name: str, x: np.ndarray, kernel, bias, units: int | None = None):
    """``kernel`` ``(x's features, units)`` and ``bias`` ``(units,)`` (or None) as float arrays."""
    kernel = check_array(f"kernel{name}", kernel, ndim=2, dtype=np.float64)
    expected = "units" if units is None else units
    if kernel.shape[0] != x.shape[1] or (units is not None and kernel.shape[1] != units):
        raise ValueError(f"kernel{name}: expected shape ({x.shape[1]}, {expected}), got {kernel.shape}")
    if bias is not None:
        bias = check_array(f"bias{name}", bias, ndim=1, dtype=np.float64)
        if bias.shape != (kernel.shape[1],):
            raise ValueError(f"bias{name}: expected shape ({kernel.shape[1]},), got {bias.shape}")
    return kernel, bias


def _check_projections(xs: list[np.ndarray], kernels, biases, same_units: bool = True):
    """One (kernel, bias) per modality, checked against the modality's width (see _check_projection)."""
    for arg, value in (("kernels", kernels), ("biases", biases)):
        if value is None and arg == "biases":
            continue
        if isinstance(value, np.ndarray) or not isinstance(value, Sequence):
            raise TypeError(f"{arg}: expected a list with one array per modality, got {describe(value)}")
        if len(value) != len(xs):
            raise ValueError(f"{arg}: expected one per modality ({len(xs)}), got {len(value)}")
    biases = [None] * len(xs) if biases is None else biases
    out = []
    for i, (x, k, b) in enumerate(zip(xs, kernels, biases, strict=True)):
        units = out[0][0].shape[1] if same_units and out else None
        k, b = _check_projection(f"s[{i}]", x, k, b, units)
        out.append((k, b))
    return out


def parallel_fusion(features, kernels=None, biases=None) -> np.ndarray:
    """Parallel fusion: concatenate the modality vectors (optionally projected first).

    Parameters
    ----------
    features : list of arrays ``(batch, d_i)``
    kernels, biases : optional lists ``(d_i, units)`` / ``(units,)``, one per modality
        If given, each modality is first projected: ``x_i @ W_i + b_i``.

    Example
    -------
    >>> parallel_fusion([np.array([[1.0, 2.0]]), np.array([[3.0]])])
    array([[1., 2., 3.]])
    """
    xs = _check_features(features)
    if kernels is not None:
        projections = _check_projections(xs, kernels, biases, same_units=False)
        xs = [_project(x, k, b) for x, (k, b) in zip(xs, projections, strict=True)]
    elif biases is not None:
        raise ValueError("biases: only used with kernels, got biases without kernels")
    return np.concatenate(xs, axis=-1)


def simple_rnn_step(x, h, kernel, recurrent_kernel, bias) -> np.ndarray:
    """One step of an Elman RNN: ``h' = tanh(x W + h U + b)`` (as keras.layers.SimpleRNN).

    Shapes: ``x (batch, d)``, ``h (batch, units)``, ``kernel (d, units)``,
    ``recurrent_kernel (units, units)``, ``bias (units,)``.

    Example
    -------
    >>> simple_rnn_step(np.ones((1, 2)), np.zeros((1, 1)), np.ones((2, 1)), np.ones((1, 1)), np.zeros(1))
    array([[0.96402758]])
    """
    x, h, kernel, recurrent_kernel, bias = _check_step(x, h, kernel, recurrent_kernel, bias, gates=1)
    return np.tanh(x @ kernel + h @ recurrent_kernel + bias)


def _check_step(x, h, kernel, recurrent_kernel, bias, gates: int):
    """The arguments of one recurrent step as float arrays; ``units`` is read from ``recurrent_kernel``."""
    x = check_array("x", x, ndim=2, dtype=np.float64)
    h = check_array("h", h, ndim=2, dtype=np.float64)
    recurrent_kernel = check_array("recurrent_kernel", recurrent_kernel, ndim=2, dtype=np.float64)
    units = recurrent_kernel.shape[0]
    if recurrent_kernel.shape != (units, gates * units):
        raise ValueError(
            f"recurrent_kernel: expected shape (units, {gates} * units), got {recurrent_kernel.shape}"
        )
    if h.shape != (x.shape[0], units):
        raise ValueError(f"h: expected shape ({x.shape[0]}, {units}) (batch of x, units), got {h.shape}")
    kernel = check_array("kernel", kernel, ndim=2, dtype=np.float64)
    if kernel.shape != (x.shape[1], gates * units):
        raise ValueError(f"kernel: expected shape ({x.shape[1]}, {gates * units}), got {kernel.shape}")
    bias = check_array("bias", bias, dtype=np.float64)
    expected = (gates * units,) if gates == 1 else (2, gates * units)
    if bias.shape != expected:
        raise ValueError(f"bias: expected shape {expected}, got {bias.shape}")
    return x, h, kernel, recurrent_kernel, bias


def gru_step(x, h, kernel, recurrent_kernel, bias) -> np.ndarray:
    """One step of a GRU exactly as keras.layers.GRU computes it (``reset_after=True``).

    ``kernel`` is ``(d, 3u)``, ``recurrent_kernel`` ``(u, 3u)`` and ``bias`` ``(2, 3u)``,
    gates in the order update z, reset r, candidate:

    * ``z = sigmoid(x Wz + bz + h Uz + cz)``
    * ``r = sigmoid(x Wr + br + h Ur + cr)``
    * ``n = tanh(x Wn + bn + r * (h Un + cn))``
    * ``h' = z * h + (1 - z) * n``

    Example
    -------
    >>> gru_step(np.ones((1, 2)), np.zeros((1, 1)), np.zeros((2, 3)), np.zeros((1, 3)), np.zeros((2, 3)))
    array([[0.]])
    """
    x, h, kernel, recurrent_kernel, bias = _check_step(x, h, kernel, recurrent_kernel, bias, gates=3)
    u = h.shape[-1]
    xw = x @ kernel + bias[0]
    hu = h @ recurrent_kernel + bias[1]
    z = _sigmoid(xw[:, :u] + hu[:, :u])
    r = _sigmoid(xw[:, u : 2 * u] + hu[:, u : 2 * u])
    n = np.tanh(xw[:, 2 * u :] + r * hu[:, 2 * u :])
    return z * h + (1.0 - z) * n


def _run_rnn(steps, rnn, kernel, recurrent_kernel, bias, mask=None):
    """Run ``steps`` (list of ``(batch, d)``) through an RNN; masked steps keep the state."""
    step = gru_step if rnn == "gru" else simple_rnn_step
    recurrent_kernel = check_array("rnn_recurrent_kernel", recurrent_kernel, ndim=2, dtype=np.float64)
    kernel = check_array("rnn_kernel", kernel, ndim=2, dtype=np.float64)
    bias = check_array("rnn_bias", bias, dtype=np.float64)
    h = np.zeros((steps[0].shape[0], recurrent_kernel.shape[0]))
    for t, x in enumerate(steps):
        new = step(x, h, kernel, recurrent_kernel, bias)
        h = new if mask is None else np.where(mask[:, t : t + 1], new, h)
    return h


def sequential_fusion(features, kernels, biases, rnn_kernel, rnn_recurrent_kernel, rnn_bias,
                      order=None, rnn: str = "gru") -> np.ndarray:  # fmt: skip
    """Sequential fusion: project each modality to a common width, then run an RNN over them.

    Modality ``order[0]`` is time step 0, ``order[1]`` step 1, ... The RNN's last
    state is the fused vector.

    Parameters
    ----------
    features : list of arrays ``(batch, d_i)``
    kernels, biases : per-modality projections ``(d_i, units)`` / ``(units,)``
    rnn_kernel, rnn_recurrent_kernel, rnn_bias : the recurrent layer's weights
        (Keras layout; see :func:`gru_step` and :func:`simple_rnn_step`)
    order : sequence of int, optional
        The modalities' positions in time; default: as given.
    rnn : ``"gru"`` or ``"simple"``

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> feats = [rng.normal(size=(2, 3)), rng.normal(size=(2, 5))]
    >>> kernels, biases = [rng.normal(size=(3, 4)), rng.normal(size=(5, 4))], [np.zeros(4)] * 2
    >>> W, U, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4)), np.zeros(4)
    >>> sequential_fusion(feats, kernels, biases, W, U, b, rnn="simple").shape
    (2, 4)
    """
    xs = _check_features(features)
    check_choice("rnn", rnn, RNN_KINDS)
    order = _check_order(order, len(xs))
    projections = _check_projections(xs, kernels, biases)
    projected = [_project(x, k, b) for x, (k, b) in zip(xs, projections, strict=True)]
    return _run_rnn([projected[i] for i in order], rnn, rnn_kernel, rnn_recurrent_kernel, rnn_bias)


def inject_fusion(vector, sequence, kernel, bias, rnn_kernel, rnn_recurrent_kernel, rnn_bias,
                  mask=None, rnn: str = "gru") -> np.ndarray:  # fmt: skip
    """The *inject* variant of sequential fusion: ``vector`` is step 0 of the sequence's RNN.

    Parameters
    ----------
    vector : ``(batch, d)``, e.g. image features
    sequence : ``(batch, steps, e)``, e.g. the caption's word embeddings
    kernel, bias : projection of ``vector`` to ``e`` numbers (so it looks like a word)
    rnn_kernel, rnn_recurrent_kernel, rnn_bias : the recurrent layer's weights
    mask : optional bool ``(batch, steps)``; False = padding, skipped by the RNN
    """
    v = check_array("vector", vector, ndim=2, dtype=np.float64)
    seq = check_array("sequence", sequence, ndim=3, dtype=np.float64)
    if seq.shape[0] != v.shape[0]:
        raise ValueError(f"sequence: expected (batch={v.shape[0]}, steps, features), got shape {seq.shape}")
    check_choice("rnn", rnn, RNN_KINDS)
    kernel, bias = _check_projection("", v, kernel, bias, units=seq.shape[2])
    steps = [_project(v, kernel, bias)] + [seq[:, t] for t in range(seq.shape[1])]
    if mask is not None:
        mask = check_array("mask", mask, kind="bool")
        if mask.shape != seq.shape[:2]:
            raise ValueError(f"mask: expected shape {seq.shape[:2]} (batch, steps), got {mask.shape}")
        mask = np.concatenate([np.ones((len(v), 1), bool), mask], axis=1)
    return _run_rnn(steps, rnn, rnn_kernel, rnn_recurrent_kernel, rnn_bias, mask)


def weighted_fusion(features, kernels, biases, mode: str = "learned", weights=None,
                    logits=None, gate_kernel=None, gate_bias=None) -> np.ndarray:  # fmt: skip
    """Weighted fusion: ``sum_i w_i * tanh(x_i W_i + b_i)``.

    * ``mode="fixed"``: ``w`` = ``weights`` (non-negative, summing to 1);
    * ``mode="learned"``: ``w = softmax(logits)``, one logit per modality;
    * ``mode="gated"``: a gate per sample and per output dimension,
      ``g = softmax over modalities of reshape(concat(x) @ gate_kernel + gate_bias)``
      (``gate_kernel`` is ``(sum d_i, n_modalities * units)``) - the Gated Multimodal
      Unit generalised from 2 to any number of modalities.

    Example
    -------
    >>> x = [np.ones((1, 2)), np.zeros((1, 2))]
    >>> k, b = [np.eye(2)] * 2, [np.zeros(2)] * 2
    >>> weighted_fusion(x, k, b, mode="fixed", weights=[0.25, 0.75]).round(3)
    array([[0.19, 0.19]])
    """
    xs = _check_features(features)
    check_choice("mode", mode, WEIGHTED_MODES)
    projections = _check_projections(xs, kernels, biases)
    h = np.stack([_project(x, k, b, "tanh") for x, (k, b) in zip(xs, projections, strict=True)], axis=1)
    if mode == "fixed":
        w = check_fixed_weights(weights, len(xs))[None, :, None]
    elif mode == "learned":
        logits = check_array("logits", logits, ndim=1, dtype=np.float64)
        if logits.shape != (len(xs),):
            raise ValueError(f"logits: expected one per modality ({len(xs)},), got shape {logits.shape}")
        w = softmax(logits)[None, :, None]
    else:
        joint = np.concatenate(xs, axis=-1)
        gate_kernel, gate_bias = _check_projection("", joint, gate_kernel, gate_bias, units=h.size // len(h))
        g = _project(joint, gate_kernel, gate_bias)
        w = softmax(g.reshape(len(g), len(xs), -1), axis=1)
    return (w * h).sum(axis=1)


def late_fusion(probabilities, weights=None, mode: str = "mean") -> np.ndarray:
    """Late fusion: combine the class probabilities of single-modality models.

    ``mode="mean"`` averages the probabilities (weighted if ``weights`` is given);
    ``mode="geometric"`` averages log-probabilities and renormalises (a product of experts).

    Example
    -------
    >>> late_fusion([np.array([[0.5, 0.5]]), np.array([[0.9, 0.1]])])
    array([[0.7, 0.3]])
    """
    ps = _check_features(probabilities, "probabilities")
    check_choice("mode", mode, ("mean", "geometric"))
    shapes = {p.shape for p in ps}
    if len(shapes) > 1:
        raise ValueError(f"probabilities: expected arrays of the same shape, got {sorted(shapes)}")
    w = np.full(len(ps), 1.0 / len(ps)) if weights is None else check_fixed_weights(weights, len(ps))
    stacked = np.stack(ps)
    if mode == "mean":
        return np.tensordot(w, stacked, axes=1)
    logp = np.tensordot(w, np.log(np.clip(stacked, 1e-7, 1.0)), axes=1)
    return softmax(logp, axis=-1)


# =========================================================================== Keras layers


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
        self.units = None if units is None else _check_positive("units", units)
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
        self.units = _check_positive("units", units)
        if order is not None and (isinstance(order, str) or not isinstance(order, Sequence)):
            raise TypeError(f"order: expected a sequence of modality positions, got {describe(order)}")
        self.order = None if order is None else _check_order(order, len(order))
        self.rnn_kind = _check_choice("rnn", rnn, RNN_KINDS)
        self._n_inputs = None
        self.projections = []
        self.rnn = _rnn(self.rnn_kind, self.units, "rnn")

    def build(self, input_shape):
        shapes = self._check_shapes(input_shape)
        self._n_inputs = len(shapes)
        self._order = _check_order(self.order, len(shapes))
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

    Example
    -------
    >>> InjectFusion(16)  # doctest: +SKIP
    """

    def __init__(self, units: int = 32, rnn: str = "gru", **kwargs):
        super().__init__(**kwargs)
        self.units = _check_positive("units", units)
        self.rnn_kind = _check_choice("rnn", rnn, RNN_KINDS)
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
            ones = ops.ones_like(ops.cast(seq_mask[:, : len(vecs)], "int32"))
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
        self.units = _check_positive("units", units)
        self.mode = _check_choice("mode", mode, WEIGHTED_MODES)
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
        """The weights ``(batch, n_modalities, units)`` this layer applies to ``inputs``."""
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
        self.mode = _check_choice("mode", mode, ("mean", "geometric"))
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
