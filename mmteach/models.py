"""Assemble encoders, a fusion layer and a classifier head into one model.

:func:`build_multimodal_model` returns a **compiled** :class:`MultimodalModel`
(a Keras functional model) that you train and use like any Keras classifier::

    model = build_multimodal_model(("image", "text", "audio"), fusion="weighted",
                                   weighted_mode="gated", vocab_size=prep.vocab_size)
    model.fit(train.select(model.modalities), train.labels, epochs=6, verbose=0)
    probs = model.predict(test.select(model.modalities), verbose=0)  # (n, 9)

* inputs: a dict keyed by modality name (``"image"``, ``"text"``, ``"audio"``)
  with the arrays of :class:`mmteach.preprocessing.ModelInputs`;
* labels: plain integer class ids;
* ``predict`` returns the class probabilities of the main head (layer ``"label"``),
  ``evaluate`` returns ``[loss, accuracy]``.

The remedies for *modality competition* (a fused model learns the easy modality
first and leaves another encoder untrained) are options:

* ``aux_weight`` > 0 adds one auxiliary classifier per modality (layers
  ``"<modality>_aux"``) reading that modality's features alone; their losses, times
  ``aux_weight``, are added to the main loss during training (and only then);
* ``modality_dropout={"text": 0.3}`` replaces the text features by zeros for about
  30% of the *training* samples (:class:`ModalityDropout`), so the model cannot
  rely on the caption alone. An all-padding caption gives all-zero text features
  too, so a missing caption at test time looks like a dropped one.

Example
-------
>>> model = build_multimodal_model(("image", "audio"), fusion="parallel")  # doctest: +SKIP
>>> [layer.name for layer in model.layers][:2]  # doctest: +SKIP
['audio', 'image']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
from keras import layers, ops

from mmteach.constants import FUSIONS, MODALITIES
from mmteach.features import SEQUENCE_KINDS, compile_classifier, encoder_for
from mmteach.fusion import (
    WEIGHTED_MODES,
    InjectFusion,
    ParallelFusion,
    SequentialFusion,
    WeightedFusion,
)
from mmteach.robustness import corrupt, missing, robustness_auc  # noqa: F401 (part of this module's API)
from mmteach.validation import (
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_real,
    check_str,
    check_str_sequence,
    describe,
)

__all__ = [
    "FUSIONS",
    "MODALITIES",
    "ModalityDropout",
    "MultimodalModel",
    "FEATURE_LAYERS",
    "build_multimodal_model",
    "build_token_model",
    "count_params",
    "extract_features",
    "modality_encoder",
    "corrupt",
    "missing",
    "robustness_auc",
]


@keras.saving.register_keras_serializable(package="mmteach")
class ModalityDropout(layers.Layer):
    """Zero a modality's whole feature vector for a fraction ``rate`` of samples, in training only.

    Unlike :class:`keras.layers.Dropout` it drops whole samples' vectors and does not
    rescale, so a dropped modality looks exactly like a missing one at test time.

    Parameters
    ----------
    rate : float
        Fraction of training samples whose features are zeroed, in [0, 1).
    seed : int, optional
        Seeds the choice of samples.
    **kwargs
        Passed to ``keras.layers.Layer`` (e.g. ``name``).

    Example
    -------
    >>> layer = ModalityDropout(0.3, seed=0)  # doctest: +SKIP
    >>> layer(np.ones((4, 2)), training=False)  # unchanged  # doctest: +SKIP
    """

    def __init__(self, rate: float = 0.3, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"rate: expected a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        keep_shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        keep = keras.random.uniform(keep_shape, seed=self.seed_generator) >= self.rate
        return inputs * ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def _main(y_pred):
    return y_pred[0] if isinstance(y_pred, (list, tuple)) else y_pred


@keras.saving.register_keras_serializable(package="mmteach")
class MultimodalModel(keras.Model):
    """A functional Keras model whose first output is the class probabilities (``"label"``).

    Further outputs, if any, are auxiliary single-modality heads; their
    sparse categorical cross-entropy, times ``aux_weight``, is added to the loss in
    training. ``fit``/``evaluate`` take plain integer labels, ``predict`` returns
    only the main head's probabilities. (Calling ``model(x)`` directly returns all
    outputs.)

    Parameters
    ----------
    aux_weight : float
        Loss weight of the auxiliary single-modality heads (outputs after the first).
    *args, **kwargs
        Passed to ``keras.Model`` (``inputs``, ``outputs``, ``name``).
    """

    def __init__(self, *args, aux_weight: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.aux_weight = float(aux_weight)

    @property
    def modalities(self) -> list[str]:
        """Names of the modality inputs (``"image"``, ``"text"``, ``"audio"``)."""
        return [t.name for t in self.inputs]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, _main(y_pred), sample_weight, training=training)
        if training and self.aux_weight > 0 and isinstance(y_pred, (list, tuple)):
            for aux in y_pred[1:]:
                ce = keras.losses.sparse_categorical_crossentropy(y, aux)
                loss = loss + self.aux_weight * ops.mean(ce)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, y, _main(y_pred), sample_weight=sample_weight)

    def predict_step(self, data):
        return _main(super().predict_step(data))

    def get_config(self):
        return {**super().get_config(), "aux_weight": self.aux_weight}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        aux_weight = config.pop("aux_weight", 0.0)
        model = super().from_config(config, custom_objects=custom_objects)
        model.aux_weight = float(aux_weight)
        return model


def _check_modalities(modalities) -> tuple[str, ...]:
    if isinstance(modalities, str):
        modalities = (modalities,)
    try:
        mods = tuple(modalities)
    except TypeError:
        raise TypeError(f"modalities: expected a sequence of names, got {modalities!r}") from None
    if not mods:
        raise ValueError(f"modalities: expected at least one of {MODALITIES}, got none")
    bad = [m for m in mods if m not in MODALITIES]
    if bad or len(set(mods)) != len(mods):
        raise ValueError(f"modalities: expected distinct names from {MODALITIES}, got {list(mods)}")
    return mods


# Size, on purpose: 17 keyword parameters are the options notebooks 04-05, 08 and 13 call by name, and
# the numpydoc text documents each; the body (66 lines) checks and builds through the helpers below.
def build_multimodal_model(
    modalities: Sequence[str] = MODALITIES,
    fusion: str = "parallel",
    *,
    weighted_mode: str = "learned",
    weights: Sequence[float] | None = None,
    order: Sequence[str] | None = None,
    width: int = 32,
    filters: int = 16,
    rnn: str = "gru",
    vocab_size: int | None = None,
    n_classes: int = 9,
    aux_weight: float = 0.0,
    modality_dropout: Mapping[str, float] | None = None,
    learning_rate: float = 3e-3,
    compile: bool = True,
    seed: int | None = 0,
    name: str | None = None,
    encoders: str | Mapping[str, keras.Model] = "new",
) -> MultimodalModel:
    """Encoders (:mod:`mmteach.features`) + fusion (:mod:`mmteach.fusion`) + classifier head.

    Parameters
    ----------
    modalities : sequence of ``"image"``, ``"text"``, ``"audio"``
        Any non-empty subset; the model's inputs are named after them.
    fusion : ``"parallel"``, ``"sequential"``, ``"weighted"`` or ``"inject"``
        How the modality feature vectors are combined (layer ``"fusion"``).
        ``"inject"`` needs ``"text"``: the other modalities' vectors become the first
        steps of the caption's own recurrent layer. With one modality, fusion is
        the identity whatever you choose.
    weighted_mode : ``"fixed"``, ``"learned"`` or ``"gated"`` (for ``fusion="weighted"``)
    weights : fixed weights, one per modality in the order of ``modalities``
        (for ``weighted_mode="fixed"``), non-negative, summing to 1.
    order : modality names in time order (for ``fusion="sequential"``);
        default: ``modalities``.
    width : int
        Features per modality, fusion width and hidden layer width.
    filters : int
        Filters of the image encoder's first convolution.
    rnn : ``"gru"`` (default), ``"lstm"``, ``"simple"`` or ``"pool"``
        Sequence layer of the new text and audio encoders (:mod:`mmteach.features`);
        ``"pool"`` averages over time instead (bag of words; several times faster).
    vocab_size : int
        Needed when ``"text"`` is used (``preprocessor.vocab_size``).
    n_classes : int
        Output classes (9 for Shapes World).
    aux_weight : float
        Loss weight of the auxiliary single-modality heads (0 = none; ~0.5 helps).
    modality_dropout : dict, optional
        ``{modality: rate}``: zero that modality's features for a fraction ``rate``
        of training samples, e.g. ``{"text": 0.3}``.
    learning_rate : float
        Adam's learning rate (when ``compile``).
    compile : bool
        Compile with Adam, sparse categorical cross-entropy and accuracy.
    seed : int, optional
        Seed for the modality dropout.
    name : str, optional
        Model name; default ``"<fusion>_<modalities>"``.
    encoders : ``"new"`` (default), ``"features"`` or a dict ``{modality: keras.Model}``
        ``"new"``: fresh encoders from :mod:`mmteach.features`, trained end to end.
        ``"features"``: no encoders - the inputs are feature vectors of ``width``
        numbers (e.g. from :func:`extract_features`); trains in a second or two.
        A dict: use these (e.g. trained, see :func:`modality_encoder`) encoders;
        set their ``trainable`` to False first to keep them frozen.

    Returns
    -------
    MultimodalModel
        ``model.fit(inputs_dict, int_labels)``, ``model.predict(inputs_dict)`` -> ``(n, n_classes)``.

    Example
    -------
    >>> m = build_multimodal_model(("image", "audio"), fusion="weighted", weighted_mode="fixed",
    ...                            weights=[0.5, 0.5])  # doctest: +SKIP
    >>> m.output_shape  # doctest: +SKIP
    (None, 9)
    """
    mods = _check_modalities(modalities)
    fusion, weighted_mode, order, vocab_size = _check_architecture(
        mods, fusion, weighted_mode, weights, order, encoders, vocab_size
    )
    n_classes = check_int("n_classes", n_classes, min_value=2)
    width, filters = check_int("width", width, min_value=1), check_int("filters", filters, min_value=1)
    if not isinstance(rnn, str) or rnn not in SEQUENCE_KINDS:
        raise ValueError(f"rnn: expected one of {SEQUENCE_KINDS}, got {rnn!r}")
    aux_weight, modality_dropout = _check_regularisers(mods, aux_weight, modality_dropout, seed)
    learning_rate = check_real("learning_rate", learning_rate, positive=True)
    compile = check_bool("compile", compile)
    if name is not None:
        name = check_str("name", name)

    inputs, features = _encoded_inputs(mods, encoders, fusion, width, filters, rnn, vocab_size)
    outputs_aux = []
    if aux_weight > 0 and len(mods) > 1:
        for m in mods:
            if m in features:  # (with inject, the caption has no features of its own)
                head = layers.Dense(n_classes, activation="softmax", name=f"{m}_aux")
                outputs_aux.append(head(features[m]))
    dropped = {
        m: ModalityDropout(modality_dropout[m], seed=seed, name=f"{m}_dropout")(f)
        if m in modality_dropout
        else f
        for m, f in features.items()
    }
    feats = [dropped[m] for m in mods if m in dropped]
    fused = _fuse(mods, fusion, feats, inputs, width, vocab_size, weighted_mode, weights, order)

    hidden = layers.Dense(width, activation="elu", name="head_hidden")(fused)
    label = layers.Dense(n_classes, activation="softmax", name="label")(hidden)
    outputs = [label, *outputs_aux] if outputs_aux else label
    model = MultimodalModel(
        inputs=inputs,
        outputs=outputs,
        aux_weight=aux_weight if outputs_aux else 0.0,
        name=name or f"{fusion}_{'_'.join(mods)}",
    )
    if compile:
        compile_classifier(model, learning_rate)  # optimizer state built now: one trace in fit, not two
    return model


def _check_architecture(mods, fusion, weighted_mode, weights, order, encoders, vocab_size):
    """The fusion options of :func:`build_multimodal_model`, checked against each other."""
    fusion = check_choice("fusion", fusion, FUSIONS)
    if vocab_size is not None:
        vocab_size = check_int("vocab_size", vocab_size, min_value=3)
    weighted_mode = check_choice("weighted_mode", weighted_mode, WEIGHTED_MODES)
    if weights is not None and not (fusion == "weighted" and weighted_mode == "fixed"):
        raise ValueError("weights: only used with fusion='weighted', weighted_mode='fixed'")
    if fusion == "inject" and "text" not in mods:
        raise ValueError(f"fusion: 'inject' needs the 'text' modality, got modalities {list(mods)}")
    if "text" in mods and vocab_size is None and encoders == "new":
        raise ValueError("vocab_size: required when 'text' is a modality, got None")
    if order is not None:
        order = check_str_sequence("order", order)
        if fusion != "sequential":
            raise ValueError("order: only used with fusion='sequential'")
        if sorted(order) != sorted(mods):
            raise ValueError(f"order: expected a permutation of {list(mods)}, got {list(order)}")
    if not (isinstance(encoders, Mapping) or encoders in ("new", "features")):
        raise ValueError(f"encoders: expected 'new', 'features' or a dict of models, got {encoders!r}")
    if isinstance(encoders, Mapping) and sorted(encoders) != sorted(mods):
        raise ValueError(f"encoders: expected one model per modality {list(mods)}, got {sorted(encoders)}")
    if encoders != "new" and fusion == "inject":
        raise ValueError("fusion: 'inject' reads the raw caption, so it needs encoders='new'")
    return fusion, weighted_mode, order, vocab_size


def _check_regularisers(mods, aux_weight, modality_dropout, seed) -> tuple[float, dict]:
    """``aux_weight``, ``modality_dropout`` (rates for some of ``mods``) and the dropout's seed."""
    aux_weight = check_real("aux_weight", aux_weight, min_value=0)
    if seed is not None:
        check_int("seed", seed, min_value=0)
    if modality_dropout is not None:
        check_instance("modality_dropout", modality_dropout, Mapping, " {modality: rate}")
    modality_dropout = dict(modality_dropout or {})
    bad = [m for m in modality_dropout if m not in mods]
    if bad:
        raise ValueError(f"modality_dropout: keys must be among modalities {list(mods)}, got {bad}")
    return aux_weight, modality_dropout


def _encoded_inputs(mods, encoders, fusion, width, filters, rnn, vocab_size) -> tuple[dict, dict]:
    """The model's named inputs and each modality's feature vector (none for an injected caption)."""
    inputs, features = {}, {}
    for m in mods:
        if encoders == "features":
            inputs[m] = keras.Input(shape=(width,), name=m)
            features[m] = inputs[m]
            continue
        if isinstance(encoders, Mapping):
            enc = encoders[m]
            inputs[m] = keras.Input(shape=enc.input_shape[1:], dtype=enc.inputs[0].dtype, name=m)
            features[m] = enc(inputs[m])
            continue
        kwargs = {"filters": filters} if m == "image" else {"rnn": rnn}
        enc = encoder_for(m, width=width, vocab_size=vocab_size, name=f"{m}_encoder", **kwargs)
        if fusion == "inject" and m == "text":
            inputs[m] = keras.Input(shape=(None,), dtype="int32", name="text")
            continue  # the caption is read by the fusion layer itself
        inputs[m] = enc.input
        features[m] = enc.output
    return inputs, features


def _fuse(mods, fusion, feats, inputs, width, vocab_size, weighted_mode, weights, order):
    """The fusion layer (named ``"fusion"``) applied to the modalities' feature vectors."""
    if fusion == "inject" and len(mods) > 1:
        embedded = layers.Embedding(vocab_size, width, mask_zero=True, name="text_embedding")(inputs["text"])
        return InjectFusion(width, name="fusion")([*feats, embedded])
    if fusion == "inject":
        return encoder_for("text", width=width, vocab_size=vocab_size, name="text_encoder")(inputs["text"])
    if len(mods) == 1:
        return feats[0]
    if fusion == "parallel":
        return ParallelFusion(name="fusion")(feats)
    if fusion == "sequential":
        idx = [mods.index(m) for m in order] if order is not None else None
        return SequentialFusion(width, order=idx, name="fusion")(feats)
    return WeightedFusion(width, mode=weighted_mode, weights=weights, name="fusion")(feats)


def count_params(model: keras.Model) -> int:
    """Number of trainable parameters of ``model``.

    Parameters
    ----------
    model : keras.Model
        A built model.
    """
    check_instance("model", model, keras.Model)
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


#: the layer whose output is each modality's feature vector in :func:`build_multimodal_model`
FEATURE_LAYERS = {"image": "image_features", "text": "text_rnn", "audio": "audio_rnn"}


def modality_encoder(model: keras.Model, modality: str) -> keras.Model:
    """The encoder of ``modality`` inside a model from :func:`build_multimodal_model`.

    The returned model shares its weights with ``model`` (raw input -> features).

    Parameters
    ----------
    model : keras.Model
        A model from :func:`build_multimodal_model` with new encoders.
    modality : ``"image"``, ``"text"`` or ``"audio"``
        Which encoder.

    Example
    -------
    >>> image_only = build_multimodal_model(("image",))  # doctest: +SKIP
    >>> modality_encoder(image_only, "image").output_shape  # doctest: +SKIP
    (None, 32)
    """
    check_instance("model", model, keras.Model)
    modality = check_choice("modality", modality, MODALITIES)
    names = {layer.name for layer in model.layers}
    feature_layer = FEATURE_LAYERS[modality]
    if feature_layer not in names and f"{modality}_features" in names:  # encoders built with rnn="pool"
        feature_layer = f"{modality}_features"
    try:
        inp = model.get_layer(modality).output
        out = model.get_layer(feature_layer).output
    except ValueError:
        raise ValueError(
            f"model: expected a model with a {modality!r} input and layer "
            f"{FEATURE_LAYERS[modality]!r} (built by build_multimodal_model), got {model.name!r}"
        ) from None
    return keras.Model(inp, out, name=f"{modality}_encoder")


def extract_features(encoders: Mapping[str, keras.Model], inputs: Mapping[str, np.ndarray],
                     batch_size: int = 512) -> dict[str, np.ndarray]:  # fmt: skip
    """Run each encoder on its modality: ``{modality: (n, width) float32 array}``.

    Parameters
    ----------
    encoders : dict of keras.Model
        ``{modality: encoder}``, e.g. from :func:`modality_encoder`.
    inputs : dict of arrays
        ``{modality: raw inputs}``; modalities without an encoder are skipped.
    batch_size : int
        Samples per forward pass.

    Example
    -------
    >>> feats = extract_features({"image": enc}, {"image": images})  # doctest: +SKIP
    """
    check_instance("encoders", encoders, Mapping, " of modality -> keras.Model")
    check_instance("inputs", inputs, Mapping, " of modality -> array")
    batch_size = check_int("batch_size", batch_size, min_value=1)
    missing = [m for m in encoders if m not in inputs]
    if missing:
        raise ValueError(f"inputs: no arrays for modalities {missing}; got {sorted(inputs)}")
    return {
        m: np.asarray(enc.predict(inputs[m], batch_size=batch_size, verbose=0), dtype=np.float32)
        for m, enc in encoders.items()
    }


# =========================================================================== token-level (transformer) models


# Size, on purpose: 16 keyword parameters are the options notebooks 06 and 12 call by name (each
# documented); the body is the token and fusion layers in the order they run.
def build_token_model(
    modalities: Sequence[str] = MODALITIES,
    fusion: str = "sequential",
    *,
    width: int = 32,
    depth: int = 1,
    heads: int = 2,
    mlp_dim: int | None = None,
    patch_size: int = 8,
    frames_per_token: int = 3,
    vocab_size: int | None = None,
    n_classes: int = 9,
    image_shape: Sequence[int] = (32, 32, 3),
    text_length: int = 16,
    audio_shape: Sequence[int] = (30, 65),
    learning_rate: float = 1e-3,
    compile: bool = True,
    name: str | None = None,
) -> MultimodalModel:
    """A small multimodal transformer: every modality as tokens, fused by attention.

    The sibling of :func:`build_multimodal_model` at the token level. Tokens
    (:mod:`mmteach.attention`): the image is cut into ``patch_size`` patches
    (``image_tokens``), the caption's words are embedded (``text_tokens``, padding
    masked), the spectrogram is grouped ``frames_per_token`` frames per token
    (``audio_tokens``); each gets learned position and modality-type embeddings
    (``<modality>_embedding``). Then the fusion layer ``"fusion"``:

    * ``"parallel"``: :class:`~mmteach.attention.ParallelTokenFusion`, one transformer of
      ``depth`` blocks per modality, [CLS] vectors concatenated;
    * ``"sequential"``: :class:`~mmteach.attention.SingleStreamFusion`, one transformer of
      ``depth`` blocks over all tokens (ViLT-style);
    * ``"weighted"``: :class:`~mmteach.attention.CrossAttentionFusion`, ``depth`` blocks per
      modality, then the caption's tokens (the first modality's without a caption)
      attend to the other modalities' tokens.

    A hidden layer (``head_hidden``) and the classifier ``label`` follow. Inputs, labels
    and outputs are those of :func:`build_multimodal_model`.

    Parameters
    ----------
    modalities : any non-empty subset of ``("image", "text", "audio")``
    fusion : ``"parallel"``, ``"sequential"`` or ``"weighted"``
    width : int
        Token width ``d`` (also the hidden layer's width).
    depth, heads, mlp_dim : int
        Blocks, attention heads, MLP width (default ``2 * width``).
    patch_size, frames_per_token : int
        Image patch side (a divisor of the image size), spectrogram frames per token.
    vocab_size : int
        Needed with ``"text"``.
    n_classes : int
        Output classes (9 for Shapes World).
    image_shape, text_length, audio_shape :
        Input shapes (default: Shapes World's prepared inputs).
    learning_rate : float
        Adam's learning rate (when ``compile``).
    compile : bool
        Compile with Adam, sparse categorical cross-entropy and accuracy.
    name : str, optional
        Model name.

    Example
    -------
    >>> m = build_token_model(("image", "audio"), fusion="parallel")  # doctest: +SKIP
    >>> m.output_shape  # doctest: +SKIP
    (None, 9)
    """
    from mmteach.attention import (
        TOKEN_FUSIONS,
        CrossAttentionFusion,
        FrameTokens,
        ModalityEmbedding,
        ParallelTokenFusion,
        PatchTokens,
        SingleStreamFusion,
    )
    from mmteach.features import PerImageStandardization

    mods = _check_modalities(modalities)
    fusion = check_choice("fusion", fusion, TOKEN_FUSIONS)
    for arg, value in {"width": width, "depth": depth, "heads": heads, "patch_size": patch_size,
                       "frames_per_token": frames_per_token, "n_classes": n_classes,
                       "text_length": text_length}.items():  # fmt: skip
        check_int(arg, value, min_value=1)
    if mlp_dim is not None:
        mlp_dim = check_int("mlp_dim", mlp_dim, min_value=1)
    if vocab_size is not None:
        vocab_size = check_int("vocab_size", vocab_size, min_value=2)
    elif "text" in mods:
        raise ValueError("vocab_size: required when 'text' is a modality, got None")
    image_shape = _check_shape("image_shape", image_shape, 3)
    audio_shape = _check_shape("audio_shape", audio_shape, 2)
    learning_rate = check_real("learning_rate", learning_rate, positive=True)
    compile = check_bool("compile", compile)
    if name is not None:
        name = check_str("name", name)

    inputs, tokens = {}, []
    for m in mods:
        if m == "image":
            inputs[m] = keras.Input(shape=image_shape, name="image")
            x = PerImageStandardization(name="image_standardize")(inputs[m])
            x = PatchTokens(patch_size, width, name="image_tokens")(x)
        elif m == "text":
            inputs[m] = keras.Input(shape=(text_length,), dtype="int32", name="text")
            x = layers.Embedding(vocab_size, width, mask_zero=True, name="text_tokens")(inputs[m])
        else:
            inputs[m] = keras.Input(shape=audio_shape, name="audio")
            x = FrameTokens(frames_per_token, width, name="audio_tokens")(inputs[m])
        tokens.append(ModalityEmbedding(name=f"{m}_embedding")(x))

    if fusion == "parallel":
        fused = ParallelTokenFusion(depth, heads, mlp_dim, name="fusion")(tokens)
    elif fusion == "sequential":
        fused = SingleStreamFusion(depth, heads, mlp_dim, name="fusion")(tokens)
    else:
        query = mods.index("text") if "text" in mods else 0
        fused = CrossAttentionFusion(1, heads, mlp_dim, query=query, self_depth=depth, name="fusion")(tokens)
    hidden = layers.Dense(width, activation="elu", name="head_hidden")(fused)
    label = layers.Dense(n_classes, activation="softmax", name="label")(hidden)
    model = MultimodalModel(inputs=inputs, outputs=label, name=name or f"tokens_{fusion}_{'_'.join(mods)}")
    if compile:
        compile_classifier(model, learning_rate)  # optimizer state built now: one trace in fit, not two
    return model


def _check_shape(name: str, shape, ndim: int) -> tuple[int, ...]:
    """An input shape without the batch axis: ``ndim`` positive ints."""
    if isinstance(shape, str) or not isinstance(shape, Sequence):
        raise TypeError(f"{name}: expected a tuple of {ndim} positive ints, got {describe(shape)}")
    if len(shape) != ndim:
        raise ValueError(f"{name}: expected {ndim} sizes (no batch axis), got {tuple(shape)}")
    return tuple(check_int(f"{name}[{i}]", n, min_value=1) for i, n in enumerate(shape))
