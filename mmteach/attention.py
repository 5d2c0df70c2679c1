"""Attention and transformers as Keras layers: tokens for every modality, blocks, token-level fusion.

The numpy references are in :mod:`mmteach.attention_numpy` (importable without
Keras) and the token layers in :mod:`mmteach.tokens`; both are re-exported here.
Every layer has a ``numpy_weights()`` method that returns its weights in the layout
those references take, and the tests check that both agree.

Tokens
    :class:`PatchTokens` (image -> patches -> ``Dense``, as ViT), :class:`FrameTokens`
    (spectrogram frames -> ``Dense``), word tokens are a ``keras.layers.Embedding``;
    :class:`ModalityEmbedding` adds a learned position embedding and a learned
    modality-type embedding.
The block
    :class:`TransformerBlock`: pre-norm (LayerNorm, multi-head attention, residual,
    LayerNorm, MLP, residual), with a padding mask.
Token-level fusion (the course's three methods, at the token level)
    :class:`ParallelTokenFusion` (并列融合: one encoder per modality, concatenate the
    [CLS] vectors), :class:`SingleStreamFusion` (顺序融合 as one stream, ViLT-style:
    one transformer over all tokens) and :class:`CrossAttentionFusion` (权重融合 as
    cross-attention: the query modality's tokens attend to the others'; the attention
    weights are the fusion weights).

Every fusion layer takes a list of token tensors ``(batch, tokens_i, d)``, one per
modality, and respects Keras padding masks (``Embedding(mask_zero=True)``) or an
explicit ``mask=[None, text_mask, None]``.

Example
-------
>>> import numpy as np
>>> block = TransformerBlock(heads=2, name="block")  # doctest: +SKIP
>>> block(np.zeros((1, 5, 8), "float32")).shape  # doctest: +SKIP
TensorShape([1, 5, 8])
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from mmteach.attention_numpy import *  # noqa: F403  (the numpy references)
from mmteach.attention_numpy import __all__ as _NUMPY_ALL
from mmteach.attention_numpy import positive_int
from mmteach.constants import TOKEN_FUSIONS
from mmteach.tokens import ClsToken, FrameTokens, ModalityEmbedding, PatchTokens, check_rank3, to_float64

__all__ = [
    *_NUMPY_ALL,
    "TOKEN_FUSIONS",
    "ClsToken",
    "CrossAttentionFusion",
    "FrameTokens",
    "ModalityEmbedding",
    "ParallelTokenFusion",
    "PatchTokens",
    "SingleStreamFusion",
    "TransformerBlock",
]


def _optional_positive(name: str, value) -> int | None:
    return None if value is None else positive_int(name, value)


def _plain(x):
    """The same values without a Keras mask attached (masks are handled explicitly)."""
    return ops.add(x, ops.zeros((), dtype=x.dtype))


# =========================================================================== the block


def _attention_mask(query, mask):
    """Key padding mask ``(batch, keys)`` -> MultiHeadAttention's ``(batch, queries, keys)``."""
    if mask is None:
        return None
    m = ops.cast(mask, "bool")[:, None, :]
    return ops.broadcast_to(m, (ops.shape(query)[0], ops.shape(query)[1], ops.shape(mask)[1]))


def _mha_weights(mha) -> list[np.ndarray]:
    return [to_float64(w) for w in mha.get_weights()]


def _norm_weights(norm):
    return to_float64(norm.gamma), to_float64(norm.beta)


@keras.saving.register_keras_serializable(package="mmteach")
class TransformerBlock(layers.Layer):
    """Pre-norm transformer encoder block: ``x + MHA(LN(x))``, then ``+ MLP(LN(.))``.

    Parameters
    ----------
    heads : int
        Attention heads.
    key_dim : int, optional
        Width of each head's queries/keys/values; default ``d // heads``.
    mlp_dim : int, optional
        Hidden width of the MLP (GELU); default ``2 * d``.
    dropout : float
        Dropout on the attention weights (training only).

    Call with ``tokens (batch, T, d)`` and optionally ``mask (batch, T)`` (True = real
    token); ``return_attention=True`` also returns the weights ``(batch, heads, T, T)``.

    Example
    -------
    >>> TransformerBlock(heads=2, mlp_dim=64, name="block_0")  # doctest: +SKIP
    """

    def __init__(self, heads: int = 2, key_dim: int | None = None, mlp_dim: int | None = None,
                 dropout: float = 0.0, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.heads = positive_int("heads", heads)
        self.key_dim = _optional_positive("key_dim", key_dim)
        self.mlp_dim = _optional_positive("mlp_dim", mlp_dim)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout: expected a number in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        self.supports_masking = True
        self.norm1 = layers.LayerNormalization(epsilon=1e-6, name="norm1")
        self.norm2 = layers.LayerNormalization(epsilon=1e-6, name="norm2")
        self.attention = None
        self.mlp_hidden = None
        self.mlp_out = None

    def build(self, input_shape):
        shape = check_rank3(self.name, tuple(input_shape))
        d = shape[2]
        key_dim = self.key_dim or max(1, d // self.heads)
        self.attention = layers.MultiHeadAttention(
            self.heads, key_dim, dropout=self.dropout, name="attention"
        )
        self.mlp_hidden = layers.Dense(self.mlp_dim or 2 * d, activation="gelu", name="mlp_hidden")
        self.mlp_out = layers.Dense(d, name="mlp_out")
        self.norm1.build(shape)
        self.norm2.build(shape)
        self.attention.build(shape, shape)
        self.mlp_hidden.build(shape)
        self.mlp_out.build((*shape[:2], self.mlp_dim or 2 * d))

    def call(self, tokens, mask=None, training=None, return_attention=False):
        x = _plain(tokens)
        h = self.norm1(x)
        out, att = self.attention(h, h, attention_mask=_attention_mask(h, mask), training=training,
                                  return_attention_scores=True)  # fmt: skip
        x = x + out
        x = x + self.mlp_out(self.mlp_hidden(self.norm2(x)))
        return (x, att) if return_attention else x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def numpy_weights(self) -> dict:
        """Weights in the layout of :func:`~mmteach.attention_numpy.transformer_block`."""
        return {
            "norm1": _norm_weights(self.norm1),
            "norm2": _norm_weights(self.norm2),
            "attention": _mha_weights(self.attention),
            "mlp": (
                to_float64(self.mlp_hidden.kernel),
                to_float64(self.mlp_hidden.bias),
                to_float64(self.mlp_out.kernel),
                to_float64(self.mlp_out.bias),
            ),  # fmt: skip
        }

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "key_dim": self.key_dim,
                "mlp_dim": self.mlp_dim, "dropout": self.dropout}  # fmt: skip


# =========================================================================== token-level fusion


class _TokenFusion(layers.Layer):
    """Shared: a list of ``(batch, tokens_i, d)`` tensors with one batch size and width; masks."""

    def __init__(self, depth: int = 1, heads: int = 2, mlp_dim: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.depth = positive_int("depth", depth)
        self.heads = positive_int("heads", heads)
        self.mlp_dim = _optional_positive("mlp_dim", mlp_dim)
        self.supports_masking = True

    def _shapes(self, input_shape) -> list[tuple]:
        if (not isinstance(input_shape, (list, tuple)) or not input_shape
                or not all(isinstance(s, (list, tuple)) for s in input_shape)):  # fmt: skip
            raise ValueError(
                f"{self.name}: expected a list of (batch, tokens, d) tensors, one per modality, "
                f"got {input_shape}"
            )
        shapes = [tuple(s) for s in input_shape]
        for i, s in enumerate(shapes):
            if len(s) != 3 or s[1] is None or s[2] is None:
                raise ValueError(
                    f"{self.name}: input {i} must be (batch, tokens, d) with known tokens and d, "
                    f"got shape {s}"
                )
        if len({s[2] for s in shapes}) > 1:
            raise ValueError(f"{self.name}: all modalities need the same token width, got shapes {shapes}")
        batches = {s[0] for s in shapes if s[0] is not None}
        if len(batches) > 1:
            raise ValueError(f"{self.name}: all modalities need the same batch size, got shapes {shapes}")
        return shapes

    def __call__(self, inputs, *args, **kwargs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(
                f"{self.name}: expected a list of (batch, tokens, d) tensors, one per modality, "
                f"got a single {type(inputs).__name__}"
            )
        self._shapes([tuple(x.shape) for x in inputs])
        return super().__call__(list(inputs), *args, **kwargs)

    def _block(self, name):
        return TransformerBlock(self.heads, mlp_dim=self.mlp_dim, name=name)

    @staticmethod
    def _masks(inputs, mask):
        if mask is None:
            return [None] * len(inputs)
        return list(mask)

    @staticmethod
    def _joint_mask(inputs, masks):
        if all(m is None for m in masks):
            return None
        return ops.concatenate(
            [ops.ones(ops.shape(x)[:2], "bool") if m is None else ops.cast(m, "bool")
             for x, m in zip(inputs, masks, strict=True)], axis=1)  # fmt: skip

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "depth": self.depth, "heads": self.heads, "mlp_dim": self.mlp_dim}


def _encoder_weights(cls, blocks, norm) -> dict:
    cls = None if cls is None else to_float64(cls.cls)
    return {"cls": cls, "blocks": [b.numpy_weights() for b in blocks], "norm": _norm_weights(norm)}


def _encode(tokens, mask, cls, blocks, norm, training):
    x = cls(tokens)
    m = None if mask is None else ops.concatenate([ops.ones_like(ops.cast(mask[:, :1], "bool")),
                                                   ops.cast(mask, "bool")], axis=1)  # fmt: skip
    for block in blocks:
        x = block(x, mask=m, training=training)
    return norm(x)[:, 0]


@keras.saving.register_keras_serializable(package="mmteach")
class ParallelTokenFusion(_TokenFusion):
    """Parallel fusion (并列融合) at the token level: one transformer per modality, concat [CLS] vectors.

    Each modality gets its own [CLS] token, ``depth`` blocks and final LayerNorm
    (``encoder_i``); the output is ``(batch, n_modalities * d)``. No token of one
    modality ever attends to another modality: they meet only in the classifier.

    Example
    -------
    >>> ParallelTokenFusion(depth=1, heads=2, name="fusion")  # doctest: +SKIP
    """

    def build(self, input_shape):
        shapes = self._shapes(input_shape)
        # flat lists (Keras tracks layers in lists): modality i owns blocks i*depth .. (i+1)*depth-1
        self.cls_tokens = [ClsToken(name=f"cls_{i}") for i in range(len(shapes))]
        self.encoder_blocks = [self._block(f"encoder_{i}_block_{j}")
                               for i in range(len(shapes)) for j in range(self.depth)]  # fmt: skip
        self.norms = [
            layers.LayerNormalization(epsilon=1e-6, name=f"encoder_{i}_norm") for i in range(len(shapes))
        ]
        for i, s in enumerate(shapes):
            self.cls_tokens[i].build(s)
            s1 = (s[0], s[1] + 1, s[2])
            for b in self._blocks_of(i):
                b.build(s1)
            self.norms[i].build(s1)

    def _blocks_of(self, i):
        return self.encoder_blocks[i * self.depth : (i + 1) * self.depth]

    @property
    def encoders(self):
        return [(self.cls_tokens[i], self._blocks_of(i), self.norms[i]) for i in range(len(self.cls_tokens))]

    def call(self, inputs, mask=None, training=None):
        masks = self._masks(inputs, mask)
        return ops.concatenate(
            [
                _encode(_plain(x), m, *enc, training)
                for x, m, enc in zip(inputs, masks, self.encoders, strict=True)
            ],
            axis=-1,
        )

    def compute_output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        return (shapes[0][0], len(shapes) * shapes[0][2])

    def numpy_weights(self) -> list[dict]:
        """One :func:`~mmteach.attention_numpy.transformer_encoder` weight dict per modality."""
        return [_encoder_weights(*enc) for enc in self.encoders]


@keras.saving.register_keras_serializable(package="mmteach")
class SingleStreamFusion(_TokenFusion):
    """Sequential fusion (顺序融合) as one stream (ViLT-style): one transformer over all tokens.

    The modalities' token sequences are concatenated one after another (input 0
    first) behind one [CLS] token, ``depth`` blocks let every token attend to every
    other token of every modality, and the [CLS] output ``(batch, d)`` is the fused vector.

    Example
    -------
    >>> SingleStreamFusion(depth=2, heads=2, name="fusion")  # doctest: +SKIP
    """

    def build(self, input_shape):
        shapes = self._shapes(input_shape)
        total = sum(s[1] for s in shapes)
        s = (shapes[0][0], total + 1, shapes[0][2])
        self.cls = ClsToken(name="cls")
        self.cls.build((s[0], total, s[2]))
        self.blocks = [self._block(f"block_{j}") for j in range(self.depth)]
        for b in self.blocks:
            b.build(s)
        self.norm = layers.LayerNormalization(epsilon=1e-6, name="norm")
        self.norm.build(s)

    def call(self, inputs, mask=None, training=None):
        masks = self._masks(inputs, mask)
        joint = ops.concatenate([_plain(x) for x in inputs], axis=1)
        return _encode(joint, self._joint_mask(inputs, masks), self.cls, self.blocks, self.norm, training)

    def attention_maps(self, inputs, mask=None) -> list[np.ndarray]:
        """Every block's attention weights ``(batch, heads, 1 + T, 1 + T)`` (token 0 = [CLS]).

        Parameters
        ----------
        inputs : list of tensors or arrays
            One ``(batch, tokens_i, d)`` per modality.
        mask : list of bool arrays or None, optional
            One padding mask (or None) per modality.
        """
        inputs = [ops.convert_to_tensor(x, dtype=self.compute_dtype) for x in inputs]
        masks = self._masks(inputs, mask)
        joint_mask = self._joint_mask(inputs, masks)
        x = self.cls(ops.concatenate(inputs, axis=1))
        m = None if joint_mask is None else ops.concatenate([ops.ones_like(joint_mask[:, :1]), joint_mask], 1)
        maps = []
        for b in self.blocks:
            x, att = b(x, mask=m, return_attention=True)
            maps.append(to_float64(att))
        return maps

    def compute_output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        return (shapes[0][0], shapes[0][2])

    def numpy_weights(self) -> dict:
        """The :func:`~mmteach.attention_numpy.transformer_encoder` weights of the one stream."""
        return _encoder_weights(self.cls, self.blocks, self.norm)


@keras.saving.register_keras_serializable(package="mmteach")
class CrossAttentionFusion(_TokenFusion):
    """Weighted fusion (权重融合) as cross-attention (Flamingo/ViLBERT-style).

    Every modality first runs through ``self_depth`` blocks of its own (its encoder).
    Then, ``depth`` times, the tokens of modality ``query`` (e.g. the caption or the
    question) attend to the tokens of all *other* modalities (LayerNorms,
    multi-head cross-attention, residual, MLP, residual); the query tokens are finally
    averaged (padding excluded) into ``(batch, d)``. Each query token's output is a
    weighted sum of image and audio tokens with weights computed from the sample:
    :meth:`modality_shares` sums them per modality - the fusion weights. With one
    modality, it attends to itself.

    Parameters
    ----------
    depth : int
        Cross-attention layers.
    heads, mlp_dim : as :class:`TransformerBlock`
    query : int
        Index of the query modality in the input list.
    self_depth : int
        Self-attention blocks per modality before the cross-attention (0 = none).

    Example
    -------
    >>> CrossAttentionFusion(query=1, name="fusion")  # text is input 1  # doctest: +SKIP
    """

    def __init__(self, depth: int = 1, heads: int = 2, mlp_dim: int | None = None, query: int = 0,
                 self_depth: int = 1, **kwargs):  # fmt: skip
        super().__init__(depth, heads, mlp_dim, **kwargs)
        if isinstance(query, bool) or not isinstance(query, (int, np.integer)) or query < 0:
            raise ValueError(f"query: expected the index (an int >= 0) of the query modality, got {query!r}")
        self.query = int(query)
        if isinstance(self_depth, bool) or not isinstance(self_depth, (int, np.integer)) or self_depth < 0:
            raise ValueError(f"self_depth: expected an int >= 0, got {self_depth!r}")
        self.self_depth = int(self_depth)

    def _others(self, n):
        return [i for i in range(n) if i != self.query] or [self.query]

    def build(self, input_shape):
        shapes = self._shapes(input_shape)
        if self.query >= len(shapes):
            raise ValueError(f"query: expected a modality index in 0..{len(shapes) - 1}, got {self.query}")
        n, sd = len(shapes), self.self_depth
        self._n = n
        # flat lists (Keras tracks layers in lists): modality i owns encoder blocks i*sd .. (i+1)*sd-1
        self.encoder_blocks = [self._block(f"encoder_{i}_block_{j}") for i in range(n) for j in range(sd)]
        for i, s in enumerate(shapes):
            for b in self.encoder_blocks[i * sd : (i + 1) * sd]:
                b.build(s)
        q = shapes[self.query]
        ctx = (q[0], sum(shapes[i][1] for i in self._others(n)), q[2])
        d, hidden = q[2], self.mlp_dim or 2 * q[2]

        def norms(part):
            return [
                layers.LayerNormalization(epsilon=1e-6, name=f"cross_{j}_{part}") for j in range(self.depth)
            ]

        self.norm_query, self.norm_context, self.norm2 = (
            norms("norm_query"),
            norms("norm_context"),
            norms("norm2"),
        )
        key_dim = max(1, d // self.heads)
        self.cross_attention = [
            layers.MultiHeadAttention(self.heads, key_dim, name=f"cross_{j}_attention")
            for j in range(self.depth)
        ]
        self.mlp_hidden = [layers.Dense(hidden, activation="gelu", name=f"cross_{j}_mlp_hidden")
                           for j in range(self.depth)]  # fmt: skip
        self.mlp_out = [layers.Dense(d, name=f"cross_{j}_mlp_out") for j in range(self.depth)]
        for j in range(self.depth):
            self.norm_query[j].build(q)
            self.norm_context[j].build(ctx)
            self.cross_attention[j].build(q, ctx)
            self.norm2[j].build(q)
            self.mlp_hidden[j].build(q)
            self.mlp_out[j].build((*q[:2], hidden))
        self.norm = layers.LayerNormalization(epsilon=1e-6, name="norm")
        self.norm.build(q)

    def _forward(self, inputs, mask, training):
        masks = self._masks(inputs, mask)
        xs = [_plain(x) for x in inputs]
        sd = self.self_depth
        for i in range(len(xs)):
            for b in self.encoder_blocks[i * sd : (i + 1) * sd]:
                xs[i] = b(xs[i], mask=masks[i], training=training)
        others = self._others(len(xs))
        ctx = ops.concatenate([xs[i] for i in others], axis=1)
        ctx_mask = self._joint_mask([xs[i] for i in others], [masks[i] for i in others])
        q, att = xs[self.query], None
        for j in range(self.depth):
            hq, hc = _plain(self.norm_query[j](q)), _plain(self.norm_context[j](ctx))
            out, att = self.cross_attention[j](hq, hc, attention_mask=_attention_mask(hq, ctx_mask),
                                               training=training, return_attention_scores=True)  # fmt: skip
            q = q + out
            q = q + self.mlp_out[j](self.mlp_hidden[j](self.norm2[j](q)))
        q = self.norm(q)
        qm = masks[self.query]
        if qm is None:
            return ops.mean(q, axis=1), att
        w = ops.cast(qm, q.dtype)[..., None]
        return ops.sum(q * w, axis=1) / ops.maximum(ops.sum(w, axis=1), 1.0), att

    def call(self, inputs, mask=None, training=None):
        return self._forward(inputs, mask, training)[0]

    def attention(self, inputs, mask=None) -> np.ndarray:
        """The last cross-attention layer's weights ``(batch, heads, query tokens, context tokens)``.

        Parameters
        ----------
        inputs : list of tensors or arrays
            One ``(batch, tokens_i, d)`` per modality.
        mask : list of bool arrays or None, optional
            One padding mask (or None) per modality.
        """
        inputs = [ops.convert_to_tensor(x, dtype=self.compute_dtype) for x in inputs]
        return to_float64(self._forward(inputs, mask, False)[1])

    def modality_shares(self, inputs, mask=None) -> np.ndarray:
        """Per sample, the share of attention each context modality gets ``(batch, n_context)``.

        Parameters
        ----------
        inputs : list of tensors or arrays
            One ``(batch, tokens_i, d)`` per modality.
        mask : list of bool arrays or None, optional
            One padding mask (or None) per modality.
        """
        att = self.attention(inputs, mask)
        others = self._others(len(inputs))
        qmask = None if mask is None or mask[self.query] is None else np.asarray(mask[self.query], bool)
        return modality_shares(att, [int(inputs[i].shape[1]) for i in others], qmask)  # noqa: F405

    def compute_output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        return (shapes[0][0], shapes[0][2])

    def numpy_weights(self) -> dict:
        """Weights in the layout of :func:`~mmteach.attention_numpy.cross_attention_fusion`."""
        sd = self.self_depth
        return {
            "encoders": [
                [b.numpy_weights() for b in self.encoder_blocks[i * sd : (i + 1) * sd]]
                for i in range(len(self.encoder_blocks) // sd if sd else self._n)
            ],  # fmt: skip
            "layers": [
                {
                    "norm_query": _norm_weights(self.norm_query[j]),
                    "norm_context": _norm_weights(self.norm_context[j]),
                    "attention": _mha_weights(self.cross_attention[j]),
                    "norm2": _norm_weights(self.norm2[j]),
                    "mlp": (
                        to_float64(self.mlp_hidden[j].kernel),
                        to_float64(self.mlp_hidden[j].bias),
                        to_float64(self.mlp_out[j].kernel),
                        to_float64(self.mlp_out[j].bias),
                    ),
                }  # fmt: skip
                for j in range(self.depth)
            ],
            "norm": _norm_weights(self.norm),
        }

    def get_config(self):
        return {**super().get_config(), "query": self.query, "self_depth": self.self_depth}
