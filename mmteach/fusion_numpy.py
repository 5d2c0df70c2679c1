"""Fusion from scratch: the numpy references of :mod:`mmteach.fusion`, with no Keras.

Each function is a few lines of numpy that show one fusion idea; :mod:`mmteach.fusion` has
the Keras layer that trains, and the tests load the same weights into both and check that
they agree. This module needs no TensorFlow, so an exercise that checks a numpy answer
against it starts at once; ``mmteach.fusion`` re-exports every name, so
``fusion.parallel_fusion`` works as before.

* :func:`parallel_fusion`: concatenate the modality vectors side by side (并列融合);
* :func:`sequential_fusion`: project to a common width, feed the modalities one after
  another to an RNN (:func:`gru_step`, :func:`simple_rnn_step`) (顺序融合); :func:`inject_fusion`
  makes a vector step 0 of a sequence's own RNN;
* :func:`weighted_fusion`: a fixed, learned or gated weighted sum of projected vectors (权重融合);
* :func:`late_fusion`: average the class probabilities of single-modality models.

Examples
--------
>>> import numpy as np
>>> parallel_fusion([np.ones((2, 3)), np.zeros((2, 1))]).shape
(2, 4)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmteach.constants import FUSION_METHODS, FUSION_RNN_KINDS, WEIGHTED_MODES
from mmteach.validation import check_array, check_choice, check_int, check_real, describe

__all__ = [
    "FUSION_METHODS",
    "RNN_KINDS",
    "WEIGHTED_MODES",
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

#: the recurrent layers of sequential and inject fusion (``constants.FUSION_RNN_KINDS``)
RNN_KINDS = FUSION_RNN_KINDS


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

    Parameters
    ----------
    weights : sequence of float
        One weight per modality.
    n_modalities : int
        How many there must be.
    atol : float
        Tolerance of the sum's distance from 1.

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


def check_order(order: Sequence[int] | None, n: int) -> list[int]:
    """The modalities' positions in time: a permutation of ``0..n-1`` (None: as given).

    Parameters
    ----------
    order : sequence of int or None
        ``order[t]`` is the modality fed at time step ``t``.
    n : int
        The number of modalities.

    Returns
    -------
    list of int

    Examples
    --------
    >>> check_order((2, 0, 1), 3)
    [2, 0, 1]
    >>> check_order(None, 2)
    [0, 1]
    >>> check_order((0, 0), 2)
    Traceback (most recent call last):
    ...
    ValueError: order: expected a permutation of 0..1 (one position per modality), got [0, 0]
    """
    n = check_int("n", n, min_value=1)
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

    Parameters
    ----------
    x : array-like
        The scores.
    axis : int
        The axis the probabilities sum to 1 along.

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


def _check_projection(x: np.ndarray, kernel, bias, units: int | None = None, optional_bias: bool = True,
                      kernel_name: str = "kernel", bias_name: str = "bias"):  # fmt: skip
    """``kernel`` ``(x's features, units)`` and ``bias`` ``(units,)`` (or None) as float arrays."""
    if bias is None and not optional_bias:
        raise TypeError(f"{bias_name}: expected an array of shape (units,), got None")
    kernel = check_array(kernel_name, kernel, ndim=2, dtype=np.float64)
    expected = "units" if units is None else units
    if kernel.shape[0] != x.shape[1] or (units is not None and kernel.shape[1] != units):
        raise ValueError(f"{kernel_name}: expected shape ({x.shape[1]}, {expected}), got {kernel.shape}")
    if bias is not None:
        bias = check_array(bias_name, bias, ndim=1, dtype=np.float64)
        if bias.shape != (kernel.shape[1],):
            raise ValueError(f"{bias_name}: expected shape ({kernel.shape[1]},), got {bias.shape}")
    return kernel, bias


def _check_projections(xs: list[np.ndarray], kernels, biases, same_units: bool = True,
                       optional_biases: bool = False):  # fmt: skip
    """One (kernel, bias) per modality, checked against the modality's width (see _check_projection)."""
    for arg, value in (("kernels", kernels), ("biases", biases)):
        if value is None and arg == "biases" and optional_biases:
            continue
        if isinstance(value, np.ndarray) or not isinstance(value, Sequence):
            raise TypeError(f"{arg}: expected a list with one array per modality, got {describe(value)}")
        if len(value) != len(xs):
            raise ValueError(f"{arg}: expected one per modality ({len(xs)}), got {len(value)}")
    biases = [None] * len(xs) if biases is None else biases
    out = []
    for i, (x, k, b) in enumerate(zip(xs, kernels, biases, strict=True)):
        units = out[0][0].shape[1] if same_units and out else None
        k, b = _check_projection(x, k, b, units, optional_biases, f"kernels[{i}]", f"biases[{i}]")
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
        projections = _check_projections(xs, kernels, biases, same_units=False, optional_biases=True)
        xs = [_project(x, k, b) for x, (k, b) in zip(xs, projections, strict=True)]
    elif biases is not None:
        raise ValueError("biases: only used with kernels, got biases without kernels")
    return np.concatenate(xs, axis=-1)


def simple_rnn_step(x, h, kernel, recurrent_kernel, bias) -> np.ndarray:
    """One step of an Elman RNN: ``h' = tanh(x W + h U + b)`` (as keras.layers.SimpleRNN).

    Shapes: ``x (batch, d)``, ``h (batch, units)``, ``kernel (d, units)``,
    ``recurrent_kernel (units, units)``, ``bias (units,)``.

    Parameters
    ----------
    x : array ``(batch, d)``
        The inputs of this step.
    h : array ``(batch, units)``
        The state after the previous step.
    kernel, recurrent_kernel, bias : arrays
        The layer's weights, shapes as above.

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

    Parameters
    ----------
    x : array ``(batch, d)``
        The inputs of this step.
    h : array ``(batch, u)``
        The state after the previous step.
    kernel, recurrent_kernel, bias : arrays
        The layer's weights, shapes as above.

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
    order = check_order(order, len(xs))
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
    kernel, bias = _check_projection(v, kernel, bias, units=seq.shape[2], optional_bias=False)
    steps = [_project(v, kernel, bias)] + [seq[:, t] for t in range(seq.shape[1])]
    if mask is not None:
        mask = check_array("mask", mask, kind="bool")
        if mask.shape != seq.shape[:2]:
            raise ValueError(f"mask: expected shape {seq.shape[:2]} (batch, steps), got {mask.shape}")
        mask = np.concatenate([np.ones((len(v), 1), bool), mask], axis=1)
    return _run_rnn(steps, rnn, rnn_kernel, rnn_recurrent_kernel, rnn_bias, mask)


#: the arguments of weighted_fusion that each mode reads
_MODE_ARGS = {"fixed": ("weights",), "learned": ("logits",), "gated": ("gate_kernel", "gate_bias")}


def weighted_fusion(features, kernels, biases, mode: str = "learned", weights=None,
                    logits=None, gate_kernel=None, gate_bias=None) -> np.ndarray:  # fmt: skip
    """Weighted fusion: ``sum_i w_i * tanh(x_i W_i + b_i)``.

    * ``mode="fixed"``: ``w`` = ``weights`` (non-negative, summing to 1);
    * ``mode="learned"``: ``w = softmax(logits)``, one logit per modality;
    * ``mode="gated"``: a gate per sample and per output dimension,
      ``g = softmax over modalities of reshape(concat(x) @ gate_kernel + gate_bias)``
      (``gate_kernel`` is ``(sum d_i, n_modalities * units)``) - the Gated Multimodal
      Unit generalised from 2 to any number of modalities.

    Parameters
    ----------
    features : list of arrays ``(batch, d_i)``
        One per modality.
    kernels, biases : lists of arrays ``(d_i, units)`` / ``(units,)``
        The per-modality projections.
    mode : ``"fixed"``, ``"learned"`` or ``"gated"``
        How the weights are made.
    weights : sequence of float
        For ``mode="fixed"``: one per modality, non-negative, summing to 1.
    logits : array ``(n_modalities,)``
        For ``mode="learned"``.
    gate_kernel, gate_bias : arrays
        For ``mode="gated"``: ``(sum d_i, n_modalities * units)`` and ``(n_modalities * units,)``.

    Example
    -------
    >>> x = [np.ones((1, 2)), np.zeros((1, 2))]
    >>> k, b = [np.eye(2)] * 2, [np.zeros(2)] * 2
    >>> weighted_fusion(x, k, b, mode="fixed", weights=[0.25, 0.75]).round(3)
    array([[0.19, 0.19]])
    """
    xs = _check_features(features)
    check_choice("mode", mode, WEIGHTED_MODES)
    used = _MODE_ARGS[mode]
    given = {"weights": weights, "logits": logits, "gate_kernel": gate_kernel, "gate_bias": gate_bias}
    for arg, value in given.items():
        if value is not None and arg not in used:
            owner = next(m for m, args in _MODE_ARGS.items() if arg in args)
            raise ValueError(f"{arg}: only used with mode={owner!r}, not {mode!r}; got {describe(value)}")
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
        gate_kernel, gate_bias = _check_projection(
            joint, gate_kernel, gate_bias, h.size // len(h), False, "gate_kernel", "gate_bias"
        )
        g = _project(joint, gate_kernel, gate_bias)
        w = softmax(g.reshape(len(g), len(xs), -1), axis=1)
    return (w * h).sum(axis=1)


def late_fusion(probabilities, weights=None, mode: str = "mean") -> np.ndarray:
    """Late fusion: combine the class probabilities of single-modality models.

    ``mode="mean"`` averages the probabilities (weighted if ``weights`` is given);
    ``mode="geometric"`` averages log-probabilities and renormalises (a product of experts).

    Parameters
    ----------
    probabilities : list of arrays ``(batch, n_classes)``
        One per single-modality model.
    weights : sequence of float, optional
        One per model, non-negative, summing to 1 (None: equal weights).
    mode : ``"mean"`` or ``"geometric"``
        Average the probabilities, or the log-probabilities.

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
