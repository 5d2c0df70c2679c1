"""Feature extraction: one Keras encoder per modality.

Each encoder is a ``keras.Model`` from one modality's model-ready array (see
:mod:`mmteach.preprocessing`) to a feature vector of ``width`` numbers, with
named layers so that feature maps can be inspected and weights reloaded.

* :func:`image_encoder` - a small CNN (ELU: ReLU nets sometimes never left the
  starting loss here);
* :func:`text_encoder` - embedding + masked recurrent layer (padding id 0 is ignored);
* :func:`audio_encoder` - a recurrent layer over spectrogram frames.

Both sequence encoders also take ``rnn="pool"``: no recurrent layer, just a
(masked) average over time (:class:`SequencePooling`) -- a bag of words for text,
mean and maximum over frames for audio. It ignores word order and time order, but
its graph is tiny, so it trains several times faster (used for quick
cross-validation in notebook 05).

NumPy references used by the notebooks and the exercise checks: :func:`conv2d`
(what a Conv2D layer computes), :func:`rnn_step` (one SimpleRNN step) and
:func:`rnn_parameter_count`. :func:`feature_maps` reads a named layer's output;
:func:`classifier` puts a softmax head on an encoder.

Example
-------
>>> enc = image_encoder(width=16)  # doctest: +SKIP
>>> enc.output_shape  # doctest: +SKIP
(None, 16)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from mmteach.constants import MODALITIES, RNN_KINDS, SEQUENCE_KINDS  # noqa: F401 (this module's API)
from mmteach.validation import (
    check_array,
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_real,
    check_str,
)

#: Classic 3x3 edge detectors (for :func:`conv2d` on a grey image).
EDGE_KERNELS = {
    "sobel_x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32),
    "sobel_y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float32),
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float32),
}


# --------------------------------------------------------------------------- numpy references


def conv2d(images: np.ndarray, kernels: np.ndarray, padding: str = "valid") -> np.ndarray:
    """2-D convolution (cross-correlation, as in deep learning), stride 1, in NumPy.

    Accepts one grey image ``(H, W)`` with one kernel ``(kh, kw)``, or the
    ``tf.nn.conv2d`` layout: images ``(n, H, W, c_in)`` and kernels
    ``(kh, kw, c_in, c_out)``. ``padding`` is ``"valid"`` (no padding) or
    ``"same"`` (zeros around, output as large as the input; odd kernels only).

    Parameters
    ----------
    images : numpy.ndarray
        One grey image ``(H, W)`` or a batch ``(n, H, W, c_in)``.
    kernels : numpy.ndarray
        One kernel ``(kh, kw)`` or a bank ``(kh, kw, c_in, c_out)``.
    padding : ``"valid"`` or ``"same"``
        As in Keras: no padding, or zeros so the output keeps the input's size.

    Example
    -------
    >>> conv2d(np.arange(9.0).reshape(3, 3), np.ones((2, 2)))
    array([[ 8., 12.],
           [20., 24.]])
    """
    padding = check_choice("padding", padding, ("valid", "same"))
    x = check_array("images", images, ndim=(2, 4), dtype=np.float64)
    k = check_array("kernels", kernels, ndim=(2, 4), dtype=np.float64)
    if x.ndim != k.ndim:
        raise ValueError(f"kernels: expected {x.ndim} dimensions like images, got shape {k.shape}")
    single = x.ndim == 2
    if single:
        x, k = x[None, :, :, None], k[:, :, None, None]
    kh, kw, c_in, _ = k.shape
    if x.shape[3] != c_in:
        raise ValueError(f"kernels: expected {x.shape[3]} input channels (images' last axis), got {c_in}")
    if padding == "same":
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"kernels: padding='same' needs odd kernel sizes, got {kh}x{kw}")
        x = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    if x.shape[1] < kh or x.shape[2] < kw:
        raise ValueError(f"kernels: {kh}x{kw} is larger than the images {x.shape[1]}x{x.shape[2]}")
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # n, H', W', c, kh, kw
    out = np.einsum("nijcab,abco->nijo", windows, k)
    return out[0, :, :, 0] if single else out


def rnn_step(x: np.ndarray, h: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
             bias: np.ndarray) -> np.ndarray:  # fmt: skip
    """One SimpleRNN step: ``tanh(x @ kernel + h @ recurrent_kernel + bias)``.

    Shapes: ``x (batch, input_dim)``, ``h (batch, units)``, ``kernel (input_dim, units)``,
    ``recurrent_kernel (units, units)``, ``bias (units,)`` - Keras's weight order.

    Parameters
    ----------
    x : array ``(batch, d)``
        The inputs of this step.
    h : array ``(batch, units)``
        The state after the previous step.
    kernel, recurrent_kernel, bias : arrays
        The layer's weights ``(d, units)``, ``(units, units)``, ``(units,)``.

    Example
    -------
    >>> rnn_step(np.ones((1, 2)), np.zeros((1, 1)), np.ones((2, 1)), np.ones((1, 1)), np.zeros(1))
    array([[0.96402758]])
    """
    x = check_array("x", x, ndim=(2,), dtype=np.float64)
    h = check_array("h", h, ndim=(2,), dtype=np.float64)
    kernel = check_array("kernel", kernel, ndim=(2,), dtype=np.float64)
    recurrent_kernel = check_array("recurrent_kernel", recurrent_kernel, ndim=(2,), dtype=np.float64)
    bias = check_array("bias", bias, ndim=(1,), dtype=np.float64)
    units = recurrent_kernel.shape[1]
    if kernel.shape != (x.shape[1], units):
        raise ValueError(f"kernel: expected shape {(x.shape[1], units)}, got {kernel.shape}")
    if recurrent_kernel.shape != (units, units) or h.shape != (x.shape[0], units):
        raise ValueError(f"h, recurrent_kernel: expected shapes {(x.shape[0], units)} and {(units, units)}, "
                         f"got {h.shape} and {recurrent_kernel.shape}")  # fmt: skip
    if bias.shape != (units,):
        raise ValueError(f"bias: expected shape {(units,)}, got {bias.shape}")
    return np.tanh(x @ kernel + h @ recurrent_kernel + bias)


def rnn_parameter_count(kind: str, input_dim: int, units: int) -> int:
    """Trainable parameters of a Keras recurrent layer (GRU with its default ``reset_after=True``).

    SimpleRNN: ``units * (input_dim + units) + units``; LSTM: four such blocks
    (input, forget, cell, output gates); GRU: three blocks, each with two bias vectors.

    Parameters
    ----------
    kind : ``"simple"``, ``"lstm"`` or ``"gru"``
        The recurrent layer.
    input_dim : int
        Features per time step.
    units : int
        Width of the state.

    Example
    -------
    >>> rnn_parameter_count("lstm", input_dim=8, units=4)
    208
    """
    kind = check_choice("kind", kind, RNN_KINDS)
    input_dim = check_int("input_dim", input_dim, min_value=1)
    units = check_int("units", units, min_value=1)
    block = units * (input_dim + units)
    return {"simple": block + units, "lstm": 4 * (block + units), "gru": 3 * (block + 2 * units)}[kind]


# --------------------------------------------------------------------------- Keras encoders


def _rnn_layer(kind: str, units: int, name: str):
    if kind not in RNN_KINDS:
        raise ValueError(f"rnn: expected one of {RNN_KINDS}, got {kind!r}")
    cls = {"simple": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}[kind]
    return cls(units, name=name)


@keras.saving.register_keras_serializable(package="mmteach")
class PerImageStandardization(layers.Layer):
    """Subtract each image's per-channel mean and divide by its standard deviation.

    The background's brightness varies from image to image; removing it lets a
    small CNN learn shapes several times faster. Input ``(batch, H, W, C)``,
    output the same shape.

    Parameters
    ----------
    epsilon : float
        Added to each image's standard deviation (a flat image is not divided by 0).
    **kwargs
        Passed to ``keras.layers.Layer`` (e.g. ``name``).

    Example
    -------
    >>> layer = PerImageStandardization()  # doctest: +SKIP
    >>> layer(np.random.rand(2, 8, 8, 3).astype("float32")).shape  # doctest: +SKIP
    TensorShape([2, 8, 8, 3])
    """

    def __init__(self, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = check_real("epsilon", epsilon, positive=True)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"inputs: expected images (batch, height, width, channels), got shape {input_shape}"
            )

    def call(self, images):
        centred = images - ops.mean(images, axis=(1, 2), keepdims=True)
        return centred / (ops.std(centred, axis=(1, 2, 3), keepdims=True) + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="mmteach")
class SequencePooling(layers.Layer):
    """Average (and optionally maximum) over the time axis, skipping masked steps.

    Input ``(batch, steps, features)`` with an optional mask ``(batch, steps)``;
    output ``(batch, features)``, or ``(batch, 2 * features)`` (mean then max) with
    ``with_max=True``. A sequence whose steps are all masked gives zeros (not NaN).

    Parameters
    ----------
    with_max : bool
        Concatenate the maximum over time to the mean.
    **kwargs
        Passed to ``keras.layers.Layer`` (e.g. ``name``).

    Example
    -------
    >>> SequencePooling()(np.ones((2, 5, 3), "float32")).shape  # doctest: +SKIP
    TensorShape([2, 3])
    """

    def __init__(self, with_max: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.with_max = check_bool("with_max", with_max)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"inputs: expected (batch, steps, features), got shape {input_shape}")

    def call(self, inputs, mask=None):
        if mask is None:
            keep = ops.ones_like(inputs[..., :1])
        else:
            keep = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        count = ops.sum(keep, axis=1)
        mean = ops.sum(inputs * keep, axis=1) / ops.maximum(count, 1.0)
        if not self.with_max:
            return mean
        biggest = ops.max(ops.where(keep > 0, inputs, -1e9), axis=1)
        biggest = ops.where(count > 0, biggest, 0.0)
        return ops.concatenate([mean, biggest], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2] * (2 if self.with_max else 1))

    def get_config(self):
        return {**super().get_config(), "with_max": self.with_max}


def image_encoder(width: int = 32, filters: int = 16, input_shape=(32, 32, 3), name: str = "image_encoder"):
    """CNN: per-image standardisation, three conv blocks (ELU, max-pool), global pooling, dense.

    Parameters
    ----------
    width : int
        Size of the feature vector (units of the last layer, ``image_features``).
    filters : int
        Filters of the first convolution (the next two have ``2 * filters``).
    input_shape : tuple of 3 ints
        ``(height, width, channels)`` of float32 images in [0, 1]; height and width >= 8.

    Returns a ``keras.Model`` ``(batch, *input_shape) -> (batch, width)`` with layers
    ``image_standardize, image_conv1, image_pool1, ..., image_gap, image_features``.

    Example
    -------
    >>> image_encoder(width=16).output_shape  # doctest: +SKIP
    (None, 16)
    """
    width = check_int("width", width, min_value=1)
    filters = check_int("filters", filters, min_value=1)
    name = check_str("name", name)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"input_shape: expected (height, width, channels), got {input_shape!r}")
    for dim in input_shape:
        check_int("input_shape", dim, min_value=1)
    if min(input_shape[:2]) < 8:
        raise ValueError(
            f"input_shape: expected height and width >= 8 (three 2x2 poolings), got {input_shape!r}"
        )
    inp = keras.Input(shape=tuple(int(d) for d in input_shape), name="image")
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

    Input: int token ids ``(batch, sequence_length)``, 0 = padding (ids must be
    ``< vocab_size``). Output: the last state ``(batch, width)``. Padding is
    masked: extra padding does not change the output, and a caption that is all
    padding gives an all-zero feature vector. Layers: ``text_embedding``, ``text_rnn``.
    With ``rnn="pool"`` (bag of words, much faster to train) the embeddings are
    averaged instead: ``text_embedding``, ``text_pool``, ``text_features`` (a dense
    layer without bias, so an all-padding caption still gives zeros).

    Parameters
    ----------
    vocab_size : int
        Token ids are ``< vocab_size`` (0 = padding).
    width : int
        Features out.
    embed_dim : int
        Width of the word embedding.
    rnn : ``"gru"``, ``"lstm"``, ``"simple"`` or ``"pool"``
        The sequence layer (``"pool"``: masked mean and max over time).
    sequence_length : int, optional
        Fixed caption length (None: any).
    name : str
        The model's name.

    Example
    -------
    >>> text_encoder(vocab_size=100, width=8, rnn="lstm").output_shape  # doctest: +SKIP
    (None, 8)
    """
    vocab_size = check_int("vocab_size", vocab_size, min_value=1)
    if vocab_size < 2:
        raise ValueError(f"vocab_size: expected >= 2 (padding + at least one token), got {vocab_size}")
    width = check_int("width", width, min_value=1)
    embed_dim = check_int("embed_dim", embed_dim, min_value=1)
    if sequence_length is not None:
        sequence_length = check_int("sequence_length", sequence_length, min_value=1)
    name = check_str("name", name)
    rnn = check_choice("rnn", rnn, SEQUENCE_KINDS)
    inp = keras.Input(shape=(sequence_length,), dtype="int32", name="text")
    x = layers.Embedding(vocab_size, embed_dim, mask_zero=True, name="text_embedding")(inp)
    if rnn == "pool":
        x = SequencePooling(name="text_pool")(x)
        out = layers.Dense(width, activation="elu", use_bias=False, name="text_features")(x)
    else:
        out = _rnn_layer(rnn, width, "text_rnn")(x)
    return keras.Model(inp, out, name=name)


def audio_encoder(width: int = 32, frames: int | None = None, bins: int = 65, rnn: str = "gru",
                  name: str = "audio_encoder"):  # fmt: skip
    """Per-frame dense projection + recurrent layer over spectrogram frames.

    Input: float32 spectrograms ``(batch, frames, bins)`` (see
    :class:`mmteach.preprocessing.ShapesWorldPreprocessor`). Output: ``(batch, width)``.
    Layers: ``audio_frame_projection``, ``audio_rnn``. With ``rnn="pool"`` the
    projected frames are summarised by their mean and maximum over time instead
    (``audio_pool``, then a dense ``audio_features``): no time order, much faster.

    Parameters
    ----------
    width : int
        Features out.
    frames : int, optional
        Spectrogram frames (None: any).
    bins : int
        Frequency bins per frame.
    rnn : ``"gru"``, ``"lstm"``, ``"simple"`` or ``"pool"``
        The sequence layer.
    name : str
        The model's name.

    Example
    -------
    >>> audio_encoder(width=8, frames=30).output_shape  # doctest: +SKIP
    (None, 8)
    """
    width = check_int("width", width, min_value=1)
    bins = check_int("bins", bins, min_value=1)
    frames = None if frames is None else check_int("frames", frames, min_value=1)
    name = check_str("name", name)
    rnn = check_choice("rnn", rnn, SEQUENCE_KINDS)
    inp = keras.Input(shape=(frames, bins), name="audio")
    x = layers.Dense(width, activation="elu", name="audio_frame_projection")(inp)
    if rnn == "pool":
        x = SequencePooling(with_max=True, name="audio_pool")(x)
        out = layers.Dense(width, activation="elu", name="audio_features")(x)
    else:
        out = _rnn_layer(rnn, width, "audio_rnn")(x)
    return keras.Model(inp, out, name=name)


def encoder_for(modality: str, width: int = 32, vocab_size: int | None = None, **kwargs):
    """The encoder of one modality by name: ``"image"``, ``"text"`` or ``"audio"``.

    ``vocab_size`` is required for text; ``kwargs`` go to that modality's encoder.

    Parameters
    ----------
    modality : ``"image"``, ``"text"`` or ``"audio"``
        Which encoder.
    width : int
        Features out.
    vocab_size : int, optional
        Required for text; checked whenever given.
    **kwargs
        Passed to the modality's encoder (e.g. ``rnn="lstm"``, ``name=...``).

    Example
    -------
    >>> encoder_for("text", width=8, vocab_size=50).name  # doctest: +SKIP
    'text_encoder'
    """
    if not isinstance(modality, str):
        raise TypeError(f"modality: expected a str, got {type(modality).__name__}")
    if vocab_size is not None:  # checked for every modality (a model builder passes it to all of them)
        vocab_size = check_int("vocab_size", vocab_size, min_value=1)
    if modality == "image":
        return image_encoder(width=width, **kwargs)
    if modality == "text":
        if vocab_size is None:
            raise ValueError("vocab_size: required for the text encoder, got None")
        return text_encoder(vocab_size, width=width, **kwargs)
    if modality == "audio":
        return audio_encoder(width=width, **kwargs)
    raise ValueError(f"modality: expected one of {MODALITIES}, got {modality!r}")


# --------------------------------------------------------------------------- using encoders


def classifier(encoder, n_classes: int, learning_rate: float = 3e-3, name: str | None = None):
    """``encoder`` + a softmax layer of ``n_classes``, compiled (Adam, sparse cross-entropy, accuracy).

    The head is named ``<encoder name>_head``; the model ``<encoder name>_classifier``.

    Parameters
    ----------
    encoder : keras.Model
        Raw input -> features.
    n_classes : int
        Output classes.
    learning_rate : float
        Adam's learning rate.
    name : str, optional
        Default ``<encoder name>_classifier``.

    Example
    -------
    >>> model = classifier(image_encoder(), n_classes=9)  # doctest: +SKIP
    >>> model.output_shape  # doctest: +SKIP
    (None, 9)
    """
    encoder = check_instance("encoder", encoder, keras.Model)
    n_classes = check_int("n_classes", n_classes, min_value=2)
    learning_rate = check_real("learning_rate", learning_rate, positive=True)
    name = check_str("name", name if name is not None else f"{encoder.name}_classifier")
    out = layers.Dense(n_classes, activation="softmax", name=f"{encoder.name}_head")(encoder.output)
    return compile_classifier(keras.Model(encoder.input, out, name=name), learning_rate)


def compile_classifier(model, learning_rate: float = 1e-3):
    """Compile ``model`` for integer labels (Adam, sparse cross-entropy, accuracy) with its state built.

    The same as ``model.compile(Adam(learning_rate), "sparse_categorical_crossentropy",
    metrics=["accuracy"])``, except that the optimizer's variables and the accuracy
    metric are created now rather than inside the first traced training step, so
    ``fit`` traces that step once instead of twice (the same weights, a few seconds less
    per model). Returns ``model``.

    Parameters
    ----------
    model : keras.Model
        The model to compile.
    learning_rate : float
        Adam's learning rate (positive).

    Examples
    --------
    >>> model = compile_classifier(keras.Sequential([keras.Input((4,)), layers.Dense(3)]))
    >>> model.optimizer.built
    True
    """
    check_instance("model", model, keras.Model)
    learning_rate = check_real("learning_rate", learning_rate, positive=True)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    model.optimizer.build(model.trainable_variables)
    return model


def feature_maps(model, inputs, layer: str, batch_size: int = 256) -> np.ndarray:
    """The output of the layer named ``layer`` of ``model`` for ``inputs`` (NumPy).

    Parameters
    ----------
    model : keras.Model
        A functional model.
    inputs : array or dict of arrays
        Inputs the model accepts.
    layer : str
        The name of one of its layers.
    batch_size : int
        Samples per forward pass.

    Example
    -------
    >>> enc = image_encoder()  # doctest: +SKIP
    >>> feature_maps(enc, np.zeros((1, 32, 32, 3), "float32"), "image_conv1").shape  # doctest: +SKIP
    (1, 32, 32, 16)
    """
    model = check_instance("model", model, keras.Model)
    names = [lay.name for lay in model.layers]
    if layer not in names:
        raise ValueError(f"layer: expected one of {names}, got {layer!r}")
    batch_size = check_int("batch_size", batch_size, min_value=1)
    if isinstance(inputs, dict):
        inputs = {k: check_array(f"inputs[{k!r}]", v, kind="numeric") for k, v in inputs.items()}
    else:
        inputs = check_array("inputs", inputs, kind="numeric")
    probe = keras.Model(model.inputs, model.get_layer(layer).output)
    return np.asarray(probe.predict(inputs, batch_size=batch_size, verbose=0))
