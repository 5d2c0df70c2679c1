"""Feature extraction: one Keras encoder per modality.

Each encoder is a ``keras.Model`` from one modality's model-ready array (see
:mod:`mmteach.preprocessing`) to a feature vector of ``width`` numbers, with
named layers so that feature maps can be inspected and weights reloaded.

* :func:`image_encoder` - a small CNN (ELU: ReLU nets sometimes never left the
  starting loss here);
* :func:`text_encoder` - embedding + masked recurrent layer (padding id 0 is ignored);
* :func:`audio_encoder` - a recurrent layer over spectrogram frames.

Example
-------
>>> enc = image_encoder(width=16)  # doctest: +SKIP
>>> enc.output_shape  # doctest: +SKIP
(None, 16)
"""

from __future__ import annotations

import keras
from keras import layers, ops

RNN_KINDS = ("simple", "lstm", "gru")


def _check_positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return value


def _rnn_layer(kind: str, units: int, name: str):
    if kind not in RNN_KINDS:
        raise ValueError(f"rnn: expected one of {RNN_KINDS}, got {kind!r}")
    cls = {"simple": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}[kind]
    return cls(units, name=name)


@keras.saving.register_keras_serializable(package="mmteach")
class PerImageStandardization(layers.Layer):
    """Subtract each image's per-channel mean and divide by its standard deviation.

    The background's brightness varies from image to image; removing it lets a
    small CNN learn shapes several times faster.
    """

    def __init__(self, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, images):
        centred = images - ops.mean(images, axis=(1, 2), keepdims=True)
        return centred / (ops.std(centred, axis=(1, 2, 3), keepdims=True) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def image_encoder(width: int = 32, filters: int = 16, input_shape=(32, 32, 3), name: str = "image_encoder"):
    """CNN: per-image standardisation, three conv blocks (ELU, max-pool), global pooling, dense.

    Input: float32 images in [0, 1], shape ``input_shape``. Output: ``(batch, width)``.
    """
    _check_positive("width", width)
    _check_positive("filters", filters)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape: expected (height, width, channels), got {input_shape!r}")
    inp = keras.Input(shape=tuple(input_shape), name="image")
    x = PerImageStandardization(name="image_standardize")(inp)
    x = layers.Conv2D(filters, 3, padding="same", activation="elu", name="image_conv1")(x)
    x = layers.MaxPooling2D(name="image_pool1")(x)
    x = layers.Conv2D(2 * filters, 3, padding="same", activation="elu", name="image_conv2")(x)
    x = layers.MaxPooling2D(name="image_pool2")(x)
    x = layers.Conv2D(2 * filters, 3, padding="same", activation="elu", name="image_conv3")(x)
    x = layers.MaxPooling2D(name="image_pool3")(x)
    x = layers.GlobalAveragePooling2D(name="image_gap")(x)
    out = layers.Dense(width, activation="elu", name="image_features")(x)
    return keras.Model(inp, out, name=name)


def text_encoder(vocab_size: int, width: int = 32, embed_dim: int = 32, rnn: str = "gru",
                 sequence_length: int | None = None, name: str = "text_encoder"):  # fmt: skip
    """Embedding (``mask_zero=True``) + recurrent layer of ``width`` units.

    Input: int token ids ``(batch, sequence_length)``, 0 = padding. A caption
    that is all padding gives an all-zero feature vector.
    """
    _check_positive("vocab_size", vocab_size)
    _check_positive("width", width)
    _check_positive("embed_dim", embed_dim)
    inp = keras.Input(shape=(sequence_length,), dtype="int32", name="text")
    x = layers.Embedding(vocab_size, embed_dim, mask_zero=True, name="text_embedding")(inp)
    out = _rnn_layer(rnn, width, "text_rnn")(x)
    return keras.Model(inp, out, name=name)


def audio_encoder(width: int = 32, frames: int | None = None, bins: int = 65, rnn: str = "gru",
                  name: str = "audio_encoder"):  # fmt: skip
    """Per-frame dense projection + recurrent layer over spectrogram frames.

    Input: float32 spectrograms ``(batch, frames, bins)``. Output: ``(batch, width)``.
    """
    _check_positive("width", width)
    _check_positive("bins", bins)
    inp = keras.Input(shape=(frames, bins), name="audio")
    x = layers.Dense(width, activation="elu", name="audio_frame_projection")(inp)
    out = _rnn_layer(rnn, width, "audio_rnn")(x)
    return keras.Model(inp, out, name=name)


def encoder_for(modality: str, width: int = 32, vocab_size: int | None = None, **kwargs):
    """The encoder of one modality by name: ``"image"``, ``"text"`` or ``"audio"``."""
    if modality == "image":
        return image_encoder(width=width, **kwargs)
    if modality == "text":
        if vocab_size is None:
            raise ValueError("vocab_size: required for the text encoder, got None")
        return text_encoder(vocab_size, width=width, **kwargs)
    if modality == "audio":
        return audio_encoder(width=width, **kwargs)
    raise ValueError(f"modality: expected 'image', 'text' or 'audio', got {modality!r}")
