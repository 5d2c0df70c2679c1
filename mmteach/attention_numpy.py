"""Attention and transformers in numpy: the references the Keras layers are checked against.

Everything here is a few lines of numpy and imports no deep-learning framework, so
the exercises and the tests can use it without TensorFlow. The Keras layers live in
:mod:`mmteach.attention`; each has a ``numpy_weights()`` method that returns its
weights in the layout these functions take.

* :func:`scaled_dot_product_attention` - ``softmax(q k^T / sqrt(d)) v`` with a padding mask;
* :func:`multi_head_attention` - several heads, with the weights of a
  ``keras.layers.MultiHeadAttention`` (:func:`mha_parameter_count` counts them);
* :func:`layer_norm`, :func:`gelu`, :func:`transformer_block` - a pre-norm encoder block;
* :func:`patchify` (image -> patch tokens, as ViT), :func:`frames_to_tokens`
  (spectrogram -> frame tokens);
* the three token-level fusions: :func:`parallel_token_fusion` (one encoder per
  modality, concatenated [CLS] vectors), :func:`single_stream_fusion` (one
  transformer over all tokens, ViLT-style) and :func:`cross_attention_fusion`
  (the query modality's tokens attend to the others'; :func:`modality_shares`
  turns the attention weights into per-sample fusion weights).

Masks are boolean ``(batch, tokens)`` arrays, True for a real token, False for padding.

Example
-------
>>> q = np.array([[[1.0, 0.0]]])                       # one query
>>> k = v = np.array([[[1.0, 0.0], [0.0, 1.0]]])       # two keys/values
>>> out, w = scaled_dot_product_attention(q, k, v, mask=np.array([[True, False]]))
>>> w.round(2).tolist(), out.round(2).tolist()
([[[1.0, 0.0]]], [[[1.0, 0.0]]])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from mmteach.validation import check_bool, check_instance, check_int, check_real, describe

__all__ = [
    "NEG_INF",
    "cross_attention_fusion",
    "frames_to_tokens",
    "gelu",
    "layer_norm",
    "mha_parameter_count",
    "modality_shares",
    "multi_head_attention",
    "parallel_token_fusion",
    "patchify",
    "scaled_dot_product_attention",
    "single_stream_fusion",
    "softmax",
    "transformer_block",
    "transformer_encoder",
]

#: what masked scores become before the softmax (exp of it is 0 in float64)
NEG_INF = -1e9


# =========================================================================== checks


def positive_int(name: str, value: object) -> int:
    """``value`` as an int >= 1 (sizes, heads, depths), checked by :func:`mmteach.validation.check_int`.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : object
        The value to check.
    """
    return check_int(name, value, min_value=1)


def _array(name: str, value, ndim: int | tuple[int, ...]) -> np.ndarray:
    if isinstance(value, (str, bytes, dict)) or value is None:
        raise TypeError(f"{name}: expected a numeric array, got {type(value).__name__}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a numeric array, got {type(value).__name__}") from None
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in dims:
        want = " or ".join(f"{d}-D" for d in dims)
        raise ValueError(f"{name}: expected a {want} array, got shape {arr.shape}")
    return arr


def _epsilon(epsilon) -> float:
    return check_real("epsilon", epsilon, positive=True)


def _weights(name: str, weights, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> Mapping:
    """A dict of weights with (at least) ``keys``, as the layers' ``numpy_weights()`` return."""
    check_instance(name, weights, Mapping, f" with the keys {list(keys)} (a layer's numpy_weights())")
    missing = [k for k in keys if k not in weights]
    if missing:
        raise ValueError(
            f"{name}: missing the keys {missing}; expected {list(keys + optional)}, got {list(weights)}"
        )
    return weights


def _pair(name: str, value, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(gamma, beta) of a LayerNorm over ``width`` numbers."""
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence) or len(value) != 2:
        raise TypeError(f"{name}: expected a pair (gamma, beta) of a LayerNorm, got {describe(value)}")
    return _vector(f"{name}[0]", value[0], width), _vector(f"{name}[1]", value[1], width)


def _vector(name: str, value, width: int) -> np.ndarray:
    v = _array(name, value, 1)
    if v.shape != (width,):
        raise ValueError(f"{name}: expected shape ({width},) (the tokens' width), got {v.shape}")
    return v


def _per_modality(name: str, value, n: int, what: str = "entry") -> list:
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
        raise TypeError(f"{name}: expected a list with one {what} per modality, got {describe(value)}")
    if len(value) != n:
        raise ValueError(f"{name}: expected one {what} per modality ({n}), got {len(value)}")
    return list(value)


def _mask(mask, batch: int, tokens: int, name: str = "mask") -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype != bool:
        raise TypeError(f"{name}: expected a bool array (True = real token), got dtype {m.dtype}")
    if m.shape != (batch, tokens):
        raise ValueError(f"{name}: expected shape (batch={batch}, tokens={tokens}), got {m.shape}")
    if not m.any(axis=1).all():
        raise ValueError(f"{name}: every sample needs at least one real (True) token")
    return m


# =========================================================================== attention


def softmax(x, axis: int = -1) -> np.ndarray:
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
    x = _array("x", x, tuple(range(1, 33)))
    axis = check_int("axis", axis, min_value=-x.ndim, max_value=x.ndim - 1)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def scaled_dot_product_attention(q, k, v, mask=None, scale: bool = True):
    """``softmax(q k^T / sqrt(d) + mask) v``: each query's output is a weighted sum of the values.

    Parameters
    ----------
    q : ``(batch, queries, d)``; k : ``(batch, keys, d)``; v : ``(batch, keys, d_v)``
        Extra leading axes (e.g. heads) are allowed, the same in all three.
    mask : bool ``(batch, keys)``, optional
        False marks padding keys: they get weight 0.
    scale : bool
        Divide the scores by ``sqrt(d)`` (True, as in transformers).

    Returns
    -------
    output ``(batch, queries, d_v)``, weights ``(batch, queries, keys)`` (rows sum to 1)

    Example
    -------
    >>> q = k = v = np.eye(2)[None]
    >>> scaled_dot_product_attention(q, k, v)[1].round(3).tolist()
    [[[0.67, 0.33], [0.33, 0.67]]]
    """
    q, k, v = (_array(n, a, (3, 4)) for n, a in (("q", q), ("k", k), ("v", v)))
    scale = check_bool("scale", scale)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"k: expected the queries' width {q.shape[-1]} in the last axis, got shape {k.shape}"
        )
    if k.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"v: expected one value per key, shape {k.shape[:-1]} + (d_v,), got {v.shape}")
    scores = q @ np.swapaxes(k, -1, -2)
    if scale:
        scores = scores / math.sqrt(q.shape[-1])
    m = _mask(mask, k.shape[0], k.shape[-2])
    if m is not None:
        m = m[:, None, :] if q.ndim == 3 else m[:, None, None, :]
        scores = np.where(m, scores, NEG_INF)
    weights = softmax(scores, axis=-1)
    return weights @ v, weights


def multi_head_attention(query, value, weights, heads: int, mask=None, key=None):
    """Multi-head attention with the weights of a ``keras.layers.MultiHeadAttention``.

    Each head projects queries, keys and values to ``key_dim`` numbers, attends
    (:func:`scaled_dot_product_attention`), and an output projection mixes the heads.

    Parameters
    ----------
    query : ``(batch, queries, d)``; value : ``(batch, keys, d_v)``; key : as value (default value)
    weights : list of 8 arrays, ``layer.get_weights()`` of the Keras layer:
        query kernel ``(d, heads, key_dim)`` and bias ``(heads, key_dim)``, then the
        same for key and value, then the output kernel ``(heads, key_dim, d_out)`` and bias.
    heads : int
    mask : bool ``(batch, keys)``, optional, padding keys False

    Returns
    -------
    output ``(batch, queries, d_out)``, weights ``(batch, heads, queries, keys)``

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> d, h, kd = 4, 2, 3
    >>> w = [rng.normal(size=s) for s in [(d, h, kd), (h, kd)] * 3 + [(h, kd, d), (d,)]]
    >>> out, att = multi_head_attention(rng.normal(size=(1, 5, d)), rng.normal(size=(1, 6, d)), w, h)
    >>> out.shape, att.shape
    ((1, 5, 4), (1, 2, 5, 6))
    """
    query, value = _array("query", query, 3), _array("value", value, 3)
    key = value if key is None else _array("key", key, 3)
    heads = positive_int("heads", heads)
    if not isinstance(weights, (list, tuple)) or len(weights) != 8:
        raise ValueError(
            "weights: expected the 8 arrays of MultiHeadAttention.get_weights() "
            f"(kernel and bias of query, key, value, output), got {type(weights).__name__} "
            f"of length {len(weights) if hasattr(weights, '__len__') else '?'}"
        )
    wq, bq, wk, bk, wv, bv, wo, bo = (np.asarray(w, dtype=np.float64) for w in weights)
    if wq.shape[1] != heads:
        raise ValueError(f"heads: the weights have {wq.shape[1]} heads, got heads={heads}")
    q = np.einsum("btd,dhk->bhtk", query, wq) + bq[None, :, None, :]
    k = np.einsum("bsd,dhk->bhsk", key, wk) + bk[None, :, None, :]
    v = np.einsum("bsd,dhk->bhsk", value, wv) + bv[None, :, None, :]
    out, att = scaled_dot_product_attention(q, k, v, mask=mask)
    return np.einsum("bhtk,hkd->btd", out, wo) + bo, att


def mha_parameter_count(d_model: int, heads: int, key_dim: int, value_dim: int | None = None) -> int:
    """Parameters of ``keras.layers.MultiHeadAttention(heads, key_dim)`` on ``d_model`` inputs.

    Query, key and value projections ``d_model -> heads * key_dim`` (with biases),
    and an output projection ``heads * value_dim -> d_model`` (with bias).

    Parameters
    ----------
    d_model : int
        Width of the inputs (and outputs).
    heads : int
        Attention heads.
    key_dim : int
        Width of each head's queries and keys.
    value_dim : int, optional
        Width of each head's values (default ``key_dim``).

    Example
    -------
    >>> mha_parameter_count(32, 2, 16)
    4224
    """
    d, h, k = (positive_int(n, x) for n, x in (("d_model", d_model), ("heads", heads), ("key_dim", key_dim)))
    v = k if value_dim is None else positive_int("value_dim", value_dim)
    return 2 * (d * h * k + h * k) + (d * h * v + h * v) + (h * v * d + d)


# =========================================================================== the block


def layer_norm(x, gamma, beta, epsilon: float = 1e-6) -> np.ndarray:
    """Normalise each token's vector to mean 0 and variance 1, then scale and shift.

    Parameters
    ----------
    x : array ``(..., d)``
        Token vectors.
    gamma, beta : arrays ``(d,)``
        The learned scale and shift.
    epsilon : float
        Added to the variance in every LayerNorm.

    Example
    -------
    >>> layer_norm(np.array([[1.0, 3.0]]), np.ones(2), np.zeros(2)).round(3)
    array([[-1.,  1.]])
    """
    x = _array("x", x, (1, 2, 3, 4))
    gamma, beta = _vector("gamma", gamma, x.shape[-1]), _vector("beta", beta, x.shape[-1])
    epsilon = _epsilon(epsilon)
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * gamma + beta


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x) -> np.ndarray:
    """The Gaussian error linear unit ``x * Phi(x)`` (exact form, as ``keras.activations.gelu``).

    Parameters
    ----------
    x : array-like
        Any shape.

    Example
    -------
    >>> gelu(np.array([-1.0, 0.0, 1.0])).round(3)
    array([-0.159,  0.   ,  0.841])
    """
    x = _array("x", x, tuple(range(0, 33)))
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def transformer_block(x, weights: dict, heads: int, mask=None, epsilon: float = 1e-6) -> np.ndarray:
    """A pre-norm transformer encoder block.

    ``h = x + MHA(LN1(x)); y = h + W2 gelu(W1 LN2(h) + b1) + b2``.

    Parameters
    ----------
    x : ``(batch, tokens, d)``
    weights : dict with ``norm1`` and ``norm2`` (gamma, beta), ``attention`` (the 8 arrays
        of :func:`multi_head_attention`) and ``mlp`` (W1, b1, W2, b2), as returned by
        ``mmteach.attention.TransformerBlock.numpy_weights()``.
    heads : int
    mask : bool ``(batch, tokens)``, optional: padding tokens are never attended to

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> d = 4
    >>> w = {"norm1": (np.ones(d), np.zeros(d)), "norm2": (np.ones(d), np.zeros(d)),
    ...      "attention": [rng.normal(size=s) for s in [(d, 2, 2), (2, 2)] * 3 + [(2, 2, d), (d,)]],
    ...      "mlp": (rng.normal(size=(d, 8)), np.zeros(8), rng.normal(size=(8, d)), np.zeros(d))}
    >>> transformer_block(rng.normal(size=(1, 3, d)), w, heads=2).shape
    (1, 3, 4)
    """
    x = _array("x", x, 3)
    weights = _weights("weights", weights, ("norm1", "attention", "norm2", "mlp"))
    heads, epsilon = positive_int("heads", heads), _epsilon(epsilon)
    _mask(mask, x.shape[0], x.shape[1])
    h = layer_norm(x, *_pair("weights['norm1']", weights["norm1"], x.shape[-1]), epsilon=epsilon)
    x = x + multi_head_attention(h, h, weights["attention"], heads, mask=mask)[0]
    h = layer_norm(x, *_pair("weights['norm2']", weights["norm2"], x.shape[-1]), epsilon=epsilon)
    return x + _mlp("weights['mlp']", weights["mlp"], h)


def _mlp(name: str, weights, h: np.ndarray) -> np.ndarray:
    """``W2 gelu(W1 h + b1) + b2`` with ``weights = (W1, b1, W2, b2)``."""
    if isinstance(weights, (str, Mapping)) or not isinstance(weights, Sequence) or len(weights) != 4:
        raise TypeError(f"{name}: expected the four arrays (W1, b1, W2, b2), got {describe(weights)}")
    w1, b1, w2, b2 = (_array(f"{name}[{i}]", a, (1, 2)) for i, a in enumerate(weights))
    return gelu(h @ w1 + b1) @ w2 + b2


def transformer_encoder(tokens, weights: dict, heads: int, mask=None, epsilon: float = 1e-6) -> np.ndarray:
    """[CLS] + tokens -> blocks -> final LayerNorm; returns all outputs ``(batch, 1 + tokens, d)``.

    ``weights``: ``cls`` ``(d,)`` (omit or None for no [CLS] token), ``blocks`` (list of
    :func:`transformer_block` weights) and ``norm`` (gamma, beta). Output 0 is the [CLS] vector.

    Parameters
    ----------
    tokens : array ``(batch, tokens, d)``
        The input tokens.
    weights : dict
        As described above (``mmteach.attention`` layers' ``numpy_weights()``).
    heads : int
        Attention heads.
    mask : bool array ``(batch, tokens)``, optional
        False marks padding.
    epsilon : float
        Added to the variance in every LayerNorm.
    """
    x = _array("tokens", tokens, 3)
    weights = _weights("weights", weights, ("blocks", "norm"), optional=("cls",))
    heads, epsilon = positive_int("heads", heads), _epsilon(epsilon)
    m = _mask(mask, x.shape[0], x.shape[1])
    if isinstance(weights["blocks"], (str, Mapping)) or not isinstance(weights["blocks"], Sequence):
        raise TypeError(
            f"weights: expected weights['blocks'] to be a list of blocks, got {describe(weights['blocks'])}"
        )
    if weights.get("cls") is not None:
        cls = np.broadcast_to(_vector("weights['cls']", weights["cls"], x.shape[2]), (len(x), 1, x.shape[2]))
        x = np.concatenate([cls, x], axis=1)
        m = None if m is None else np.concatenate([np.ones((len(x), 1), bool), m], axis=1)
    for block in weights["blocks"]:
        x = transformer_block(x, block, heads, mask=m, epsilon=epsilon)
    return layer_norm(x, *_pair("weights['norm']", weights["norm"], x.shape[-1]), epsilon=epsilon)


# =========================================================================== tokens


def patchify(images, patch_size: int) -> np.ndarray:
    """Cut images into square patches and flatten each: ``(n, H, W, C) -> (n, patches, p*p*C)``.

    Patches are numbered in reading order (left to right, top to bottom); inside a
    patch the numbers are row by row, pixel by pixel, channel by channel.

    Parameters
    ----------
    images : array ``(n, H, W, C)``
        The images.
    patch_size : int
        The side of a patch, a divisor of ``H`` and ``W``.

    Example
    -------
    >>> patchify(np.arange(16.0).reshape(1, 4, 4, 1), 2)[0, 1]
    array([2., 3., 6., 7.])
    """
    x = _array("images", images, 4)
    p = positive_int("patch_size", patch_size)
    n, height, width, c = x.shape
    if height % p or width % p:
        raise ValueError(f"patch_size: expected a divisor of the image size {height}x{width}, got {p}")
    x = x.reshape(n, height // p, p, width // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, (height // p) * (width // p), p * p * c)


def frames_to_tokens(spectrograms, frames_per_token: int) -> np.ndarray:
    """Group consecutive spectrogram frames into tokens: ``(n, T, F) -> (n, T / k, k * F)``.

    Parameters
    ----------
    spectrograms : array ``(n, T, F)``
        Frames over time.
    frames_per_token : int
        Consecutive frames per token, a divisor of ``T``.

    Example
    -------
    >>> frames_to_tokens(np.arange(6.0).reshape(1, 3, 2), 3)
    array([[[0., 1., 2., 3., 4., 5.]]])
    """
    x = _array("spectrograms", spectrograms, 3)
    k = positive_int("frames_per_token", frames_per_token)
    if x.shape[1] % k:
        raise ValueError(f"frames_per_token: expected a divisor of the {x.shape[1]} frames, got {k}")
    return x.reshape(len(x), x.shape[1] // k, k * x.shape[2])


# =========================================================================== token-level fusion


def _token_lists(tokens, masks, name: str = "tokens"):
    if isinstance(tokens, np.ndarray) or not isinstance(tokens, Sequence) or isinstance(tokens, str):
        raise TypeError(
            f"{name}: expected a list with one (batch, tokens, d) array per modality, "
            f"got {type(tokens).__name__}"
        )
    if len(tokens) == 0:
        raise ValueError(f"{name}: expected at least one modality, got an empty list")
    xs = [_array(f"{name}[{i}]", t, 3) for i, t in enumerate(tokens)]
    if len({(x.shape[0], x.shape[2]) for x in xs}) > 1:
        raise ValueError(
            f"{name}: expected the same batch size and width, got shapes {[x.shape for x in xs]}"
        )
    masks = [None] * len(xs) if masks is None else _per_modality("masks", masks, len(xs), "mask (or None)")
    masks = [
        _mask(m, x.shape[0], x.shape[1], f"masks[{i}]")
        for i, (x, m) in enumerate(zip(xs, masks, strict=True))
    ]
    return xs, masks


def _full(masks, xs):
    return np.concatenate(
        [np.ones(x.shape[:2], bool) if m is None else m for x, m in zip(xs, masks, strict=True)], axis=1
    )


def parallel_token_fusion(tokens, weights, heads: int, masks=None) -> np.ndarray:
    """Parallel fusion at the token level: one encoder per modality, concatenate the [CLS] vectors.

    ``weights[i]`` is modality i's encoder (see :func:`transformer_encoder`).
    Returns ``(batch, n_modalities * d)``.

    Parameters
    ----------
    tokens : list of arrays ``(batch, tokens_i, d)``
        One per modality.
    weights : list of dicts
        One encoder per modality (:func:`transformer_encoder`).
    heads : int
        Attention heads.
    masks : list of bool arrays or None, optional
        One mask (or None) per modality.
    """
    xs, masks = _token_lists(tokens, masks)
    weights = _per_modality("weights", weights, len(xs), "encoder")
    heads = positive_int("heads", heads)
    return np.concatenate(
        [transformer_encoder(x, w, heads, m)[:, 0] for x, w, m in zip(xs, weights, masks, strict=True)],
        axis=-1,
    )


def single_stream_fusion(tokens, weights, heads: int, masks=None) -> np.ndarray:
    """Sequential fusion as one stream (ViLT-style): one transformer over all modalities' tokens.

    The token sequences are concatenated (modality 0 first) behind one [CLS]
    token; the [CLS] output ``(batch, d)`` is the fused vector.

    Parameters
    ----------
    tokens : list of arrays ``(batch, tokens_i, d)``
        One per modality.
    weights : dict
        The one encoder's weights (:func:`transformer_encoder`).
    heads : int
        Attention heads.
    masks : list of bool arrays or None, optional
        One mask (or None) per modality.
    """
    xs, masks = _token_lists(tokens, masks)
    heads = positive_int("heads", heads)
    joint = np.concatenate(xs, axis=1)
    mask = None if all(m is None for m in masks) else _full(masks, xs)
    return transformer_encoder(joint, weights, heads, mask)[:, 0]


def _cross_layer(q, ctx, w, heads, ctx_mask, epsilon, name):
    w = _weights(name, w, ("norm_query", "norm_context", "attention", "norm2", "mlp"))
    hq = layer_norm(q, *_pair(f"{name}['norm_query']", w["norm_query"], q.shape[-1]), epsilon=epsilon)
    hc = layer_norm(ctx, *_pair(f"{name}['norm_context']", w["norm_context"], ctx.shape[-1]), epsilon=epsilon)
    out, att = multi_head_attention(hq, hc, w["attention"], heads, mask=ctx_mask)
    q = q + out
    h = layer_norm(q, *_pair(f"{name}['norm2']", w["norm2"], q.shape[-1]), epsilon=epsilon)
    return q + _mlp(f"{name}['mlp']", w["mlp"], h), att


def cross_attention_fusion(tokens, weights, heads: int, masks=None, query: int = 0, epsilon: float = 1e-6):
    """Weighted fusion as cross-attention (Flamingo/ViLBERT-style).

    Each modality first goes through its own self-attention blocks
    (``weights["encoders"][i]``, a list of :func:`transformer_block` weights, may be
    empty). Then the tokens of modality ``query`` (e.g. the caption) attend to the
    tokens of all other modalities (``weights["layers"]``: LayerNorms, attention, MLP),
    and the query tokens are averaged (padding excluded) after a final LayerNorm.
    With one modality it attends to itself.

    Parameters
    ----------
    tokens : list of arrays ``(batch, tokens_i, d)``
        One per modality.
    weights : dict
        ``encoders`` (one list of blocks per modality), ``layers`` (the cross-attention
        layers) and ``norm``, as ``CrossAttentionFusion.numpy_weights()`` returns them.
    heads : int
        Attention heads.
    masks : list of bool arrays or None, optional
        One mask (or None) per modality.
    query : int
        The modality whose tokens ask (e.g. the caption).
    epsilon : float
        Added to the variance in every LayerNorm.

    Returns
    -------
    fused ``(batch, d)`` and the last layer's attention ``(batch, heads, query tokens, context tokens)``
    """
    xs, masks = _token_lists(tokens, masks)
    query = check_int("query", query, min_value=0, max_value=len(xs) - 1)
    weights = _weights("weights", weights, ("encoders", "layers", "norm"))
    heads, epsilon = positive_int("heads", heads), _epsilon(epsilon)
    encoders = _per_modality("weights['encoders']", weights["encoders"], len(xs))
    for i, blocks in enumerate(encoders):
        for block in blocks:
            xs[i] = transformer_block(xs[i], block, heads, mask=masks[i], epsilon=epsilon)
    others = [i for i in range(len(xs)) if i != query] or [query]
    ctx = np.concatenate([xs[i] for i in others], axis=1)
    ctx_mask = _full([masks[i] for i in others], [xs[i] for i in others])
    q, att = xs[query], None
    for j, w in enumerate(weights["layers"]):
        q, att = _cross_layer(q, ctx, w, heads, ctx_mask, epsilon, f"weights['layers'][{j}]")
    q = layer_norm(q, *_pair("weights['norm']", weights["norm"], q.shape[-1]), epsilon=epsilon)
    qm = np.ones(q.shape[:2]) if masks[query] is None else masks[query].astype(np.float64)
    return (q * qm[..., None]).sum(axis=1) / qm.sum(axis=1, keepdims=True), att


def modality_shares(attention, token_counts: Sequence[int], query_mask=None) -> np.ndarray:
    """Per sample, the share of attention each context modality receives: the fusion weights.

    Parameters
    ----------
    attention : ``(batch, heads, queries, keys)`` from :func:`cross_attention_fusion`
    token_counts : the number of tokens of each context modality, in order (sums to ``keys``)
    query_mask : bool ``(batch, queries)``, optional: padding queries are left out

    Returns
    -------
    ``(batch, n_context_modalities)``, each row summing to 1.

    Example
    -------
    >>> att = np.array([[[[0.1, 0.3, 0.6]]]])     # 1 sample, 1 head, 1 query, 3 keys
    >>> modality_shares(att, [2, 1]).round(2).tolist()
    [[0.4, 0.6]]
    """
    a = _array("attention", attention, 4)
    if isinstance(token_counts, (str, Mapping)) or not isinstance(token_counts, Sequence | np.ndarray):
        raise TypeError(
            f"token_counts: expected a list of ints, one per context modality, got {describe(token_counts)}"
        )
    counts = [positive_int(f"token_counts[{i}]", c) for i, c in enumerate(token_counts)]
    if sum(counts) != a.shape[-1]:
        raise ValueError(f"token_counts: expected counts summing to {a.shape[-1]} keys, got {counts}")
    per_query = a.mean(axis=1)  # (batch, queries, keys), averaged over heads
    if query_mask is None:
        per_sample = per_query.mean(axis=1)
    else:
        qm = _mask(query_mask, a.shape[0], a.shape[2], "query_mask").astype(np.float64)
        per_sample = (per_query * qm[..., None]).sum(axis=1) / qm.sum(axis=1, keepdims=True)
    edges = np.cumsum([0, *counts])
    return np.stack(
        [per_sample[:, s:e].sum(axis=1) for s, e in zip(edges[:-1], edges[1:], strict=True)], axis=1
    )
