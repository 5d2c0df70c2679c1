"""Tokens for every modality, as Keras layers: the first step of a transformer.

:class:`PatchTokens` (image -> patches -> ``Dense``, as ViT), :class:`FrameTokens`
(spectrogram frames -> ``Dense``); word tokens are a ``keras.layers.Embedding``.
:class:`ModalityEmbedding` adds a learned position and modality-type embedding, and
:class:`ClsToken` prepends a learned [CLS] token. Each layer has a ``numpy_weights()``
method for the numpy references of :mod:`mmteach.attention_numpy`. :mod:`mmteach.attention`
(the blocks and token-level fusion) re-exports every name.

Examples
--------
>>> check_rank3("fusion", (None, 5, 8))
(None, 5, 8)
>>> to_float64([1, 2]).dtype
dtype('float64')
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from mmteach.attention_numpy import positive_int
from mmteach.validation import check_str, describe

__all__ = ["ClsToken", "FrameTokens", "ModalityEmbedding", "PatchTokens", "check_rank3", "to_float64"]


def to_float64(x) -> np.ndarray:
    """A tensor, variable or array as a float64 numpy array (for the numpy references).

    Parameters
    ----------
    x : tensor, variable or array-like
        A layer's weight or output.

    Returns
    -------
    numpy.ndarray
    """
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"x: expected a tensor or an array, got {describe(x)}")
    try:
        return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"x: expected a tensor or an array, got {describe(x)}") from err


def check_rank3(layer_name: str, shape, what: str = "(batch, tokens, d)") -> tuple:
    """``shape`` as a tuple if it is one rank-3 input shape with a known last axis.

    Parameters
    ----------
    layer_name : str
        The layer, for the error message.
    shape : tuple
        An input shape, e.g. from ``build(input_shape)``.
    what : str
        What the three axes are, for the error message.

    Returns
    -------
    tuple

    Raises
    ------
    ValueError
        If ``shape`` is not one rank-3 shape, or its last axis is unknown.
    """
    layer_name, what = check_str("layer_name", layer_name), check_str("what", what)
    if (
        not isinstance(shape, (list, tuple))
        or len(shape) != 3
        or (len(shape) and isinstance(shape[0], (list, tuple)))
    ):
        raise ValueError(f"{layer_name}: expected one rank-3 input {what}, got shape {shape}")
    if shape[-1] is None:
        raise ValueError(f"{layer_name}: expected a known last dimension, got shape {shape}")
    return tuple(shape)


@keras.saving.register_keras_serializable(package="mmteach")
class PatchTokens(layers.Layer):
    """Image ``(batch, H, W, C)`` -> patch tokens ``(batch, H/p * W/p, dim)`` (ViT's tokenizer).

    The image is cut into ``patch_size`` x ``patch_size`` patches in reading order
    (:func:`~mmteach.attention_numpy.patchify`), each patch is flattened and projected
    by one ``Dense(dim)`` (``projection``).

    Parameters
    ----------
    patch_size : int
        Side of a square patch (a divisor of the image's height and width).
    dim : int
        Width of a token.
    **kwargs
        Passed to ``keras.layers.Layer`` (e.g. ``name``).

    Example
    -------
    >>> PatchTokens(8, 32)(np.zeros((1, 32, 32, 3), "float32")).shape  # doctest: +SKIP
    TensorShape([1, 16, 32])
    """

    def __init__(self, patch_size: int = 8, dim: int = 32, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = positive_int("patch_size", patch_size)
        self.dim = positive_int("dim", dim)
        self.projection = layers.Dense(self.dim, name="projection")

    def _grid(self, shape):
        if not isinstance(shape, (list, tuple)) or len(shape) != 4 or any(s is None for s in shape[1:]):
            raise ValueError(
                f"{self.name}: expected images (batch, height, width, channels), got shape {shape}"
            )
        _, h, w, c = shape
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(
                f"patch_size: expected a divisor of the image size {h}x{w}, got {self.patch_size}"
            )
        return h // self.patch_size, w // self.patch_size, c

    def build(self, input_shape):
        gh, gw, c = self._grid(tuple(input_shape))
        self.projection.build((None, gh * gw, self.patch_size**2 * c))

    def patches(self, images):
        """The flattened patches ``(batch, patches, p*p*C)``, before the projection.

        Parameters
        ----------
        images : tensor or array ``(batch, H, W, C)``
            The images.
        """
        gh, gw, c = self._grid(tuple(images.shape))
        p = self.patch_size
        x = ops.reshape(images, (-1, gh, p, gw, p, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, gh * gw, p * p * c))

    def call(self, images):
        return self.projection(self.patches(images))

    def compute_output_shape(self, input_shape):
        gh, gw, _ = self._grid(tuple(input_shape))
        return (input_shape[0], gh * gw, self.dim)

    def numpy_weights(self):
        return to_float64(self.projection.kernel), to_float64(self.projection.bias)

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size, "dim": self.dim}


@keras.saving.register_keras_serializable(package="mmteach")
class FrameTokens(layers.Layer):
    """Spectrogram ``(batch, frames, bins)`` -> tokens ``(batch, frames/k, dim)``: k frames per token.

    Parameters
    ----------
    frames_per_token : int
        Consecutive frames per token (a divisor of the number of frames).
    dim : int
        Width of a token.
    **kwargs
        Passed to ``keras.layers.Layer`` (e.g. ``name``).

    Example
    -------
    >>> FrameTokens(3, 32)(np.zeros((1, 30, 65), "float32")).shape  # doctest: +SKIP
    TensorShape([1, 10, 32])
    """

    def __init__(self, frames_per_token: int = 3, dim: int = 32, **kwargs):
        super().__init__(**kwargs)
        self.frames_per_token = positive_int("frames_per_token", frames_per_token)
        self.dim = positive_int("dim", dim)
        self.projection = layers.Dense(self.dim, name="projection")

    def _steps(self, shape):
        if not isinstance(shape, (list, tuple)) or len(shape) != 3 or shape[1] is None or shape[2] is None:
            raise ValueError(f"{self.name}: expected spectrograms (batch, frames, bins), got shape {shape}")
        if shape[1] % self.frames_per_token:
            raise ValueError(
                f"frames_per_token: expected a divisor of the {shape[1]} frames, got {self.frames_per_token}"
            )
        return shape[1] // self.frames_per_token, shape[2]

    def build(self, input_shape):
        steps, bins = self._steps(tuple(input_shape))
        self.projection.build((None, steps, self.frames_per_token * bins))

    def call(self, spectrograms):
        steps, bins = self._steps(tuple(spectrograms.shape))
        return self.projection(ops.reshape(spectrograms, (-1, steps, self.frames_per_token * bins)))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self._steps(tuple(input_shape))[0], self.dim)

    def numpy_weights(self):
        return to_float64(self.projection.kernel), to_float64(self.projection.bias)

    def get_config(self):
        return {**super().get_config(), "frames_per_token": self.frames_per_token, "dim": self.dim}


@keras.saving.register_keras_serializable(package="mmteach")
class ModalityEmbedding(layers.Layer):
    """Add a learned position embedding (one vector per token index) and a modality-type vector.

    Attention itself does not know the order of its tokens, nor which modality a
    token came from; these two learned additions tell it. Padding masks pass through.

    Example
    -------
    >>> ModalityEmbedding()(np.zeros((2, 16, 32), "float32")).shape  # doctest: +SKIP
    TensorShape([2, 16, 32])
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.position = None
        self.modality = None

    def build(self, input_shape):
        shape = check_rank3(self.name, tuple(input_shape))
        if shape[1] is None:
            raise ValueError(f"{self.name}: expected a known number of tokens, got shape {shape}")
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.position = self.add_weight(shape=(shape[1], shape[2]), initializer=init, name="position")
        self.modality = self.add_weight(shape=(shape[2],), initializer=init, name="modality_type")

    def call(self, tokens):
        return tokens + self.position[None] + self.modality[None, None]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def numpy_weights(self):
        return to_float64(self.position), to_float64(self.modality)


@keras.saving.register_keras_serializable(package="mmteach")
class ClsToken(layers.Layer):
    """Prepend one learned [CLS] token: ``(batch, T, d) -> (batch, 1 + T, d)``; extends the mask.

    After the transformer, the [CLS] output summarises the whole sequence (BERT, ViT).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.cls = None

    def build(self, input_shape):
        shape = check_rank3(self.name, tuple(input_shape))
        self.cls = self.add_weight(
            shape=(shape[2],), initializer=keras.initializers.RandomNormal(stddev=0.02), name="cls"
        )

    def call(self, tokens):
        cls = ops.broadcast_to(self.cls[None, None], (ops.shape(tokens)[0], 1, ops.shape(tokens)[2]))
        return ops.concatenate([ops.cast(cls, tokens.dtype), tokens], axis=1)

    def compute_mask(self, tokens, mask=None):
        if mask is None:
            return None
        return ops.concatenate([ops.ones_like(mask[:, :1]), mask], axis=1)

    def compute_output_shape(self, input_shape):
        t = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], t, input_shape[2])
