"""Small transformers on the multi-object scenes: question answering, contrastive pretraining, adaptation.

The attention notebooks use these to compare token-level with vector-level fusion on
the scenes' questions, and to walk through the foundation-model workflow: pretrain an
image encoder without labels (contrastively, on image-caption pairs, as CLIP), then
adapt it to a task with few labels (linear probe, fine-tuning) against training
from scratch.

* :func:`scene_qa_data` - per question: the scene image and the question's word ids;
* :func:`build_scene_qa_model` - ``"weighted"``: question tokens attend to the patch
  tokens (:class:`~mmteach.attention.CrossAttentionFusion`); ``"vector"``: a CNN image
  vector and a GRU question vector, concatenated (:class:`~mmteach.fusion.ParallelFusion`);
* :func:`answer` - predictions restricted to each question type's answers;
* :func:`patch_encoder`, :func:`build_clip` - a patch-transformer image encoder and a
  caption encoder trained with the symmetric InfoNCE loss;
* :func:`audio_transformer`, :func:`token_fusion_head` - the real-data notebook's transformer
  audio encoder and token-level fusion head, built from :mod:`mmteach.attention`'s layers;
* :func:`compile_classifier`, :func:`restart` - train small models without paying for
  TensorFlow's tracing more than once per architecture (see below).

Where the seconds go
--------------------
For the course's small models, a CPU spends more time *tracing* a training step (turning
the Python code into a TensorFlow graph, a few seconds for a transformer) than running it
(milliseconds a step). Keras creates the optimizer's slots and string metrics lazily,
inside the first traced step, and TensorFlow then traces that step a second time;
a last, smaller batch costs a further trace. :func:`compile_classifier` creates that state
up front (one trace per model), and :func:`restart` puts a trained model back to fresh
weights with a zeroed optimizer, so another seed or fold reuses the traced step.

Example
-------
>>> from mmteach.scenes import make_scenes
>>> x, y, vocab = scene_qa_data(make_scenes(5, seed=0))  # doctest: +SKIP
>>> x["image"].shape[1:], x["question"].shape[1]  # doctest: +SKIP
((48, 48, 3), 12)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from mmteach import scenes as _scenes
from mmteach.attention import (
    ClsToken,
    CrossAttentionFusion,
    FrameTokens,
    ModalityEmbedding,
    PatchTokens,
    SingleStreamFusion,
    TransformerBlock,
)
from mmteach.attention_numpy import positive_int
from mmteach.features import PerImageStandardization, compile_classifier
from mmteach.preprocessing import build_vocabulary, encode_texts, tokenize
from mmteach.validation import check_real, check_str, check_str_sequence

__all__ = [
    "QUESTION_LENGTH",
    "answer",
    "audio_transformer",
    "build_clip",
    "build_scene_qa_model",
    "caption_ids",
    "compile_classifier",
    "patch_encoder",
    "restart",
    "scene_qa_data",
    "token_fusion_head",
]

QUESTION_LENGTH = 12
CAPTION_LENGTH = 24
_SIZE = _scenes.SCENE_SIZE


def restart(model, weights) -> keras.Model:
    """Set ``model``'s ``weights`` and zero its optimizer's state: a fresh model that keeps its traced step.

    ``weights`` is a list as ``model.get_weights()`` returns it: the model's own initial
    weights (another fold), or those of a new model of the same architecture built
    under another seed (another seed). Adam's moments and step counter go back to zero;
    the learning rate stays. Training afterwards gives what a new model with these
    weights would give, without tracing the training step again. Returns ``model``.

    Example
    -------
    >>> model = compile_classifier(keras.Sequential([keras.Input((4,)), layers.Dense(3)]))
    >>> start = model.get_weights()
    >>> int(restart(model, start).optimizer.iterations.numpy())
    0
    """
    if not isinstance(weights, (list, tuple)):
        raise TypeError(f"weights: expected a list of arrays (get_weights()), got {type(weights).__name__}")
    if not isinstance(model, keras.Model) or getattr(model, "optimizer", None) is None:
        raise TypeError(f"model: expected a compiled keras.Model, got {type(model).__name__}")
    if len(weights) != len(model.weights):
        raise ValueError(f"weights: expected {len(model.weights)} arrays, got {len(weights)}")
    model.set_weights(weights)
    for v in model.optimizer.variables:
        if v.name != "learning_rate":
            v.assign(np.zeros(v.shape, v.dtype))
    return model


def _check_scenes(sc, name: str = "scenes"):
    if not isinstance(sc, _scenes.Scenes):
        raise TypeError(f"{name}: expected a mmteach.scenes.Scenes, got {type(sc).__name__}")
    return sc


def scene_qa_data(sc, vocabulary=None):
    """Inputs ``{"image": (n, 48, 48, 3) in [0, 1], "question": (n, 12) ids}``, answer ids, vocabulary.

    One row per question. Without ``vocabulary``, it is built from these questions
    (pass the training vocabulary for the other splits).
    """
    _check_scenes(sc)
    texts = [" ".join(tokenize(q)) for q in sc.questions["question"]]
    vocabulary = (
        build_vocabulary(texts) if vocabulary is None else check_str_sequence("vocabulary", vocabulary)
    )
    x = {
        "image": sc.question_images().astype("float32") / 255.0,
        "question": encode_texts(texts, vocabulary, QUESTION_LENGTH),
    }
    index = {a: i for i, a in enumerate(_scenes.ANSWERS)}
    y = np.array([index[a] for a in sc.questions["answer"]], dtype="int32")
    return x, y, vocabulary


def build_scene_qa_model(vocab_size: int, fusion: str = "weighted", *, width: int = 32, heads: int = 2,
                         patch_size: int = 16, learning_rate: float = 3e-3,
                         name: str | None = None):  # fmt: skip
    """A scene question-answering model ``{"image", "question"} -> 14 answer probabilities``.

    Parameters
    ----------
    vocab_size : int
    fusion : ``"weighted"`` or ``"vector"``
        ``"weighted"``: token level - the image as ``patch_size`` patches (16: one
        patch per grid cell), the question as word tokens, one self-attention block
        each, then the question tokens attend to the patches (layer ``"fusion"``,
        :class:`~mmteach.attention.CrossAttentionFusion`). ``"vector"``: the same
        tokenizers and blocks, but each modality is averaged into one vector first and
        the two vectors are concatenated (:class:`~mmteach.fusion.ParallelFusion`) -
        vector-level fusion, so the two differ only in where the modalities meet.

    Example
    -------
    >>> build_scene_qa_model(40, "vector").output_shape  # doctest: +SKIP
    (None, 14)
    """
    from mmteach.features import SequencePooling
    from mmteach.fusion import ParallelFusion

    vocab_size, width, heads = (positive_int(n, v) for n, v in (("vocab_size", vocab_size), ("width", width),
                                                             ("heads", heads)))  # fmt: skip
    if fusion not in ("weighted", "vector"):
        raise ValueError(f"fusion: expected 'weighted' or 'vector', got {fusion!r}")
    image = keras.Input(shape=(_SIZE, _SIZE, 3), name="image")
    question = keras.Input(shape=(QUESTION_LENGTH,), dtype="int32", name="question")
    words = layers.Embedding(vocab_size, width, mask_zero=True, name="question_tokens")(question)
    x = PerImageStandardization(name="image_standardize")(image)
    patches = ModalityEmbedding(name="image_embedding")(
        PatchTokens(patch_size, width, name="image_tokens")(x)
    )
    words = ModalityEmbedding(name="question_embedding")(words)
    if fusion == "weighted":
        fused = CrossAttentionFusion(1, heads, query=1, self_depth=1, name="fusion")([patches, words])
    else:  # the same encoders, pooled to one vector per modality before fusion
        image_vec = SequencePooling(name="image_pool")(TransformerBlock(heads, name="image_block")(patches))
        question_vec = SequencePooling(name="question_pool")(
            TransformerBlock(heads, name="question_block")(words)
        )
        fused = ParallelFusion(name="fusion")([image_vec, question_vec])
    hidden = layers.Dense(2 * width, activation="elu", name="hidden")(fused)
    out = layers.Dense(len(_scenes.ANSWERS), activation="softmax", name="answer")(hidden)
    model = keras.Model({"image": image, "question": question}, out, name=name or f"qa_{fusion}")
    return compile_classifier(model, learning_rate)


def answer(probabilities, question_types) -> list[str]:
    """Per question, the most likely answer among the answers its type allows.

    Example
    -------
    >>> p = np.zeros((1, len(_scenes.ANSWERS))); p[0, _scenes.ANSWERS.index("2")] = 1
    >>> answer(p, ["count"])
    ['2']
    """
    from mmteach.applications.assistant import ANSWERS_BY_TYPE

    p = np.asarray(probabilities)
    types = check_str_sequence("question_types", question_types, non_empty=False)
    unknown = sorted(set(types) - set(ANSWERS_BY_TYPE))
    if unknown:
        raise ValueError(f"question_types: expected types among {sorted(ANSWERS_BY_TYPE)}, got {unknown}")
    if p.ndim != 2 or p.shape[1] != len(_scenes.ANSWERS) or len(p) != len(types):
        raise ValueError(
            f"probabilities: expected shape ({len(types)}, {len(_scenes.ANSWERS)}), got {p.shape}"
        )
    out = []
    for row, t in zip(p, types, strict=True):
        allowed = ANSWERS_BY_TYPE[t]
        out.append(allowed[int(np.argmax([row[_scenes.ANSWERS.index(a)] for a in allowed]))])
    return out


# =========================================================================== pretrain, then adapt


def caption_ids(sc, vocabulary=None):
    """Scene captions as word ids ``(n, 24)`` and the vocabulary (built from them if not given)."""
    _check_scenes(sc)
    texts = [" ".join(tokenize(c)) for c in sc.meta["caption"]]
    vocabulary = (
        build_vocabulary(texts) if vocabulary is None else check_str_sequence("vocabulary", vocabulary)
    )
    return encode_texts(texts, vocabulary, CAPTION_LENGTH), vocabulary


def patch_encoder(
    width: int = 32, depth: int = 1, heads: int = 2, patch_size: int = 8, name: str = "patch_encoder"
):
    """A ViT-style scene encoder: patches, positions, [CLS], ``depth`` blocks -> ``(batch, width)``."""
    width, depth, heads = (
        positive_int("width", width),
        positive_int("depth", depth),
        positive_int("heads", heads),
    )
    name = check_str("name", name)
    image = keras.Input(shape=(_SIZE, _SIZE, 3), name="image")
    x = PerImageStandardization(name="image_standardize")(image)
    x = ModalityEmbedding(name="image_embedding")(PatchTokens(patch_size, width, name="image_tokens")(x))
    x = ClsToken(name="cls")(x)
    for j in range(depth):
        x = TransformerBlock(heads, name=f"block_{j}")(x)
    x = layers.LayerNormalization(epsilon=1e-6, name="norm")(x)
    out = layers.Lambda(lambda t: t[:, 0], name="cls_output")(x)
    return keras.Model(image, out, name=name)


def _caption_encoder(vocab_size: int, width: int, heads: int):
    ids = keras.Input(shape=(CAPTION_LENGTH,), dtype="int32", name="caption")
    x = layers.Embedding(vocab_size, width, mask_zero=True, name="caption_tokens")(ids)
    x = ModalityEmbedding(name="caption_embedding")(x)
    x = ClsToken(name="caption_cls")(x)
    x = TransformerBlock(heads, name="caption_block")(x)
    x = layers.LayerNormalization(epsilon=1e-6, name="caption_norm")(x)
    # the [CLS] output; the padding mask has done its job, so the Lambda drops it (mask=...)
    out = layers.Lambda(lambda t: t[:, 0], mask=lambda t, m: None, name="caption_cls_output")(x)
    return keras.Model(ids, out, name="caption_encoder")


class _Clip(keras.Model):
    """Image and caption embeddings, L2-normalised; the loss is the symmetric InfoNCE."""

    def __init__(self, image_encoder, caption_encoder, dim: int, temperature: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.image_encoder, self.caption_encoder = image_encoder, caption_encoder
        self.image_head = layers.Dense(dim, name="image_projection")
        self.caption_head = layers.Dense(dim, name="caption_projection")
        self.temperature = float(temperature)

    def call(self, inputs):
        zi = self.image_head(self.image_encoder(inputs["image"]))
        zt = self.caption_head(self.caption_encoder(inputs["caption"]))
        zi = zi / ops.sqrt(ops.sum(zi * zi, axis=-1, keepdims=True) + 1e-12)
        zt = zt / ops.sqrt(ops.sum(zt * zt, axis=-1, keepdims=True) + 1e-12)
        return ops.matmul(zi, ops.transpose(zt)) / self.temperature

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        from mmteach.applications.retrieval import info_nce_loss

        return info_nce_loss(y_pred)


def build_clip(image_encoder, vocab_size: int, width: int = 32, heads: int = 2, learning_rate: float = 3e-3):
    """A CLIP-style dual encoder around ``image_encoder`` (e.g. :func:`patch_encoder`), compiled.

    ``model.fit({"image": images, "caption": caption_ids}, epochs=..., batch_size=...)``
    pulls each scene's image and caption embeddings together and pushes the other
    pairs of the batch apart; afterwards ``image_encoder`` is pretrained.
    """
    if not isinstance(image_encoder, keras.Model):
        raise TypeError(f"image_encoder: expected a keras.Model, got {type(image_encoder).__name__}")
    width, heads = positive_int("width", width), positive_int("heads", heads)
    learning_rate = check_real("learning_rate", learning_rate, positive=True)
    captions = _caption_encoder(positive_int("vocab_size", vocab_size), width, heads)
    model = _Clip(image_encoder, captions, width, name="clip")
    # build every variable now (not inside the first traced step: that would trace it twice)
    model({"image": np.zeros((1, *image_encoder.input_shape[1:]), "float32"),
           "caption": np.zeros((1, CAPTION_LENGTH), "int32")})  # fmt: skip
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    model.optimizer.build(model.trainable_variables)
    return model


# =========================================================================== real data: spoken digits


def _token_mask(frame_mask, frames: int, k: int):
    """Frame mask ``(batch, frames)`` -> token mask ``(batch, frames / k)``: real if any of its frames is."""
    return ops.any(ops.reshape(frame_mask, (-1, frames // k, k)), axis=-1)


def audio_transformer(frames: int, bins: int, *, width: int = 32, heads: int = 2, frames_per_token: int = 3,
                      name: str = "audio_transformer"):  # fmt: skip
    """Transformer encoder of spectrograms ``(batch, frames, bins) -> (batch, width)``, notebook 06 layers.

    :class:`~mmteach.attention.FrameTokens` groups ``frames_per_token`` frames into one
    token (``audio_tokens``), :class:`~mmteach.attention.ModalityEmbedding` adds positions
    (``audio_embedding``), and :class:`~mmteach.attention.SingleStreamFusion` over this one
    modality is a [CLS] transformer encoder of one block (``audio_encoder``); a token
    whose frames are all zero (padding) is masked out of the attention. A ``Dense`` layer
    ``audio_features`` follows, as in the course's other audio encoders.

    Example
    -------
    >>> audio_transformer(45, 129).output_shape  # doctest: +SKIP
    (None, 32)
    """
    frames, bins, width, heads, k = (positive_int(n, v) for n, v in (
        ("frames", frames), ("bins", bins), ("width", width), ("heads", heads),
        ("frames_per_token", frames_per_token)))  # fmt: skip
    if frames % k:
        raise ValueError(f"frames_per_token: expected a divisor of the {frames} frames, got {k}")
    name = check_str("name", name)
    spectrogram = keras.Input((frames, bins), name="audio")
    mask = _token_mask(ops.any(ops.not_equal(spectrogram, 0.0), axis=-1), frames, k)
    tokens = FrameTokens(k, width, name="audio_tokens")(spectrogram)
    tokens = ModalityEmbedding(name="audio_embedding")(tokens)
    encoded = SingleStreamFusion(depth=1, heads=heads, name="audio_encoder")([tokens], mask=[mask])
    out = layers.Dense(width, activation="elu", name="audio_features")(encoded)
    return keras.Model(spectrogram, out, name=name)


def token_fusion_head(image_tokens: tuple[int, int], audio_frames: tuple[int, int], *, width: int = 32,
                      heads: int = 2, frames_per_token: int = 3, n_classes: int = 10,
                      name: str = "token_fusion"):  # fmt: skip
    """Token-level fusion of image and audio tokens: notebook 06's single stream (ViLT-style).

    Inputs ``image_tokens`` ``(batch, n_i, d_i)`` (e.g. the positions of a CNN's feature
    map), ``audio_frames`` ``(batch, n_f, d_a)`` (per-frame features) and ``audio_mask``
    ``(batch, n_f)`` (False = padding frame). Image tokens are projected to ``width``
    (``image_token_projection``); padding frames are zeroed and grouped
    ``frames_per_token`` at a time into audio tokens
    (:class:`~mmteach.attention.FrameTokens`, ``audio_tokens``); each modality gets its
    positions and modality type (:class:`~mmteach.attention.ModalityEmbedding`); one
    :class:`~mmteach.attention.SingleStreamFusion` block lets every token attend to every
    token of both modalities (padding masked), and its [CLS] output feeds the softmax
    ``label``.

    Example
    -------
    >>> token_fusion_head((4, 32), (45, 32)).output_shape  # doctest: +SKIP
    (None, 10)
    """
    for arg, value in (("image_tokens", image_tokens), ("audio_frames", audio_frames)):
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise TypeError(f"{arg}: expected a pair (tokens, dims), got {value!r}")
        positive_int(arg, value[0]), positive_int(arg, value[1])
    (n_i, d_i), (n_f, d_a) = image_tokens, audio_frames
    width, heads, k = (positive_int(n, v) for n, v in (("width", width), ("heads", heads),
                                                       ("frames_per_token", frames_per_token)))  # fmt: skip
    if n_f % k:
        raise ValueError(f"frames_per_token: expected a divisor of the {n_f} audio frames, got {k}")
    n_classes, name = positive_int("n_classes", n_classes), check_str("name", name)
    if n_classes < 2:
        raise ValueError(f"n_classes: expected at least 2, got {n_classes}")
    img_in = keras.Input((n_i, d_i), name="image_tokens")
    aud_in = keras.Input((n_f, d_a), name="audio_frames")
    mask_in = keras.Input((n_f,), dtype="bool", name="audio_mask")
    img = layers.Dense(width, name="image_token_projection")(img_in)
    img = ModalityEmbedding(name="image_embedding")(img)
    real_frames = aud_in * ops.expand_dims(ops.cast(mask_in, aud_in.dtype), -1)
    aud = ModalityEmbedding(name="audio_embedding")(FrameTokens(k, width, name="audio_tokens")(real_frames))
    fused = SingleStreamFusion(depth=1, heads=heads, name="fusion")(
        [img, aud], mask=[None, _token_mask(mask_in, n_f, k)]
    )
    out = layers.Dense(n_classes, activation="softmax", name="label")(fused)
    inputs = {"image_tokens": img_in, "audio_frames": aud_in, "audio_mask": mask_in}
    return keras.Model(inputs, out, name=name)
