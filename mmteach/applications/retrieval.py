"""Image-text retrieval with a dual encoder trained by a symmetric contrastive loss.

Two towers map each modality into one shared space (the idea behind CLIP):

* the **image tower** is the course's CNN (:func:`mmteach.features.image_encoder`)
  on 48x48 scene images, followed by a linear projection;
* the **text tower** is the course's GRU (:func:`mmteach.features.text_encoder`) on
  the token ids of the caption, followed by a linear projection;
* both projections are L2-normalised, so the dot product of an image vector and a
  caption vector is their cosine similarity.

Training sees a batch of ``B`` matching (image, caption) pairs. The similarity
matrix ``S = image_emb @ text_emb.T / temperature`` is ``(B, B)``; its diagonal
holds the true pairs. The **symmetric InfoNCE loss** is the average of two
cross-entropies that ask every row (image -> which caption?) and every column
(caption -> which image?) to pick the diagonal::

    loss = (CE(S, arange(B)) + CE(S.T, arange(B))) / 2

The temperature is learnt (as ``log(1 / temperature)``, capped so that
``1 / temperature <= 100``).

Example
-------
>>> from mmteach.scenes import make_scenes  # doctest: +SKIP
>>> sc = make_scenes(200)  # doctest: +SKIP
>>> vocab = build_vocabulary(sc.meta["caption"])  # doctest: +SKIP
>>> model = build_dual_encoder(len(vocab))  # doctest: +SKIP
>>> model.fit(model_inputs(sc.images, sc.meta["caption"], vocab), epochs=2, verbose=0)  # doctest: +SKIP
>>> sim = similarity(model, sc.images, sc.meta["caption"], vocab)  # doctest: +SKIP
>>> recall_at_k(sim, 5)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from keras import layers, ops

from mmteach.applications.base import Estimator
from mmteach.datasets import COLOURS, SHAPES
from mmteach.features import image_encoder, text_encoder
from mmteach.preprocessing import build_vocabulary, encode_texts
from mmteach.validation import check_array, check_int, check_real, check_str_sequence, describe

__all__ = [
    "CAPTION_LENGTH",
    "DualEncoder",
    "RetrievalScore",
    "Retriever",
    "build_dual_encoder",
    "build_vocabulary",
    "embed_in_canvas",
    "info_nce_loss",
    "info_nce_numpy",
    "l2_normalize",
    "model_inputs",
    "recall_at_k",
    "recall_table",
    "similarity",
    "zero_shot_prompts",
]

#: scene captions have at most 4 objects x 4 words + "and" = 17 tokens
CAPTION_LENGTH = 20
MAX_LOGIT_SCALE = 100.0


# =========================================================================== numpy references


def l2_normalize(x: np.ndarray, axis: int = -1, epsilon: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero).

    Example
    -------
    >>> l2_normalize(np.array([[3.0, 4.0]]))
    array([[0.6, 0.8]])
    """
    x = check_array("x", x, dtype=np.float64)
    axis = check_int("axis", axis, min_value=-x.ndim, max_value=x.ndim - 1)
    epsilon = check_real("epsilon", epsilon, positive=True)
    return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), epsilon)


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    x = x - x.max(axis=axis, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=axis, keepdims=True))


def _check_pairs(image_emb, text_emb) -> tuple[np.ndarray, np.ndarray]:
    a = check_array("image_emb", image_emb, ndim=2, dtype=np.float64)
    b = check_array("text_emb", text_emb, ndim=2, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape != b.shape or len(a) == 0:
        raise ValueError(
            f"image_emb, text_emb: expected two (batch, dim) arrays of the same shape, "
            f"got {a.shape} and {b.shape}"
        )
    return a, b


def info_nce_numpy(image_emb: np.ndarray, text_emb: np.ndarray, temperature: float = 0.1) -> float:
    """Symmetric InfoNCE loss of a batch of matching pairs (row ``i`` of each array is pair ``i``).

    Both embeddings are L2-normalised first.

    Example
    -------
    >>> e = np.eye(3)
    >>> round(info_nce_numpy(e, e, temperature=0.1), 4)  # matching pairs, far apart: small loss
    0.0001
    """
    a, b = _check_pairs(image_emb, text_emb)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature: expected a number > 0, got {temperature!r}")
    logits = l2_normalize(a) @ l2_normalize(b).T / temperature
    image_to_text = -np.mean(np.diag(_log_softmax(logits, axis=1)))  # each row picks its caption
    text_to_image = -np.mean(np.diag(_log_softmax(logits, axis=0)))  # each column picks its image
    return float((image_to_text + text_to_image) / 2)


def _check_similarity(similarity) -> np.ndarray:
    s = check_array("similarity", similarity, ndim=2, dtype=np.float64)
    if s.shape[0] != s.shape[1]:
        raise ValueError(f"similarity: expected a square (n, n) matrix, got shape {s.shape}")
    return s


def recall_at_k(similarity: np.ndarray, k: int) -> float:
    """Fraction of queries (rows) whose match (the same index) is among the ``k`` most similar.

    ``similarity[i, j]`` scores query ``i`` against gallery item ``j``; the right
    answer of query ``i`` is item ``i``. The rank of the match is the number of
    items scoring strictly higher. Use ``similarity.T`` for the other direction.

    Example
    -------
    >>> s = np.array([[0.9, 0.1], [0.8, 0.2]])  # query 1 prefers item 0
    >>> recall_at_k(s, 1), recall_at_k(s, 2)
    (0.5, 1.0)
    """
    s = _check_similarity(similarity)
    k = check_int("k", k, min_value=1)
    rank = (s > np.diag(s)[:, None]).sum(axis=1)
    return float(np.mean(rank < k))


def recall_table(similarity: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> pd.DataFrame:
    """Recall@k in both directions next to chance (``k / n``), one row per direction.

    ``similarity`` is ``(n_images, n_captions)``, pair ``i`` matching on the diagonal.

    Example
    -------
    >>> float(recall_table(np.eye(4), ks=(1,)).loc["chance", "R@1"])
    0.25
    """
    s = _check_similarity(similarity)
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Sequence):
        raise TypeError(f"ks: expected a sequence of int such as (1, 5, 10), got {describe(ks)}")
    ks = [check_int(f"ks[{i}]", k, min_value=1) for i, k in enumerate(ks)]
    n = len(s)
    rows = {
        "image->text": [recall_at_k(s, k) for k in ks],
        "text->image": [recall_at_k(s.T, k) for k in ks],
        "chance": [min(k / n, 1.0) for k in ks],
    }
    return pd.DataFrame(rows, index=[f"R@{k}" for k in ks]).T


# =========================================================================== the model


def info_nce_loss(logits):
    """Symmetric InfoNCE of a ``(B, B)`` logit matrix whose diagonal holds the true pairs (Keras ops)."""
    if not hasattr(logits, "shape") or len(logits.shape) != 2:
        raise TypeError(f"logits: expected a (B, B) tensor or array, got {describe(logits)}")
    labels = ops.arange(ops.shape(logits)[0])
    image_to_text = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    text_to_image = keras.losses.sparse_categorical_crossentropy(
        labels, ops.transpose(logits), from_logits=True
    )
    return (ops.mean(image_to_text) + ops.mean(text_to_image)) / 2


@keras.saving.register_keras_serializable(package="mmteach")
class DualEncoder(keras.Model):
    """Image tower + text tower projected into one L2-normalised space, with a learnt temperature.

    ``model({"image": images, "text": ids})`` returns the ``(B, B)`` logits
    ``image_emb @ text_emb.T / temperature``; ``fit`` needs no labels (the
    diagonal is the answer) and minimises :func:`info_nce_loss`.
    :meth:`embed_images` and :meth:`embed_texts` give the unit vectors.

    Parameters
    ----------
    vocab_size : int
        Size of the caption vocabulary (padding and OOV included).
    embed_dim : int
        Dimension of the shared space.
    width : int
        Feature width of each tower before the projection.
    filters : int
        Filters of the CNN's first convolution.
    image_shape : tuple
        ``(height, width, 3)`` of the images.
    temperature : float
        Initial temperature.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 32, width: int = 64, filters: int = 16,
                 image_shape: Sequence[int] = (48, 48, 3), temperature: float = 0.1, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"temperature: expected a number > 0, got {temperature!r}")
        if isinstance(embed_dim, bool) or not isinstance(embed_dim, int) or embed_dim < 2:
            raise ValueError(f"embed_dim: expected an int >= 2, got {embed_dim!r}")
        self.vocab_size, self.embed_dim, self.width, self.filters = vocab_size, embed_dim, width, filters
        if isinstance(image_shape, str) or not isinstance(image_shape, Sequence) or len(image_shape) != 3:
            raise TypeError(f"image_shape: expected (height, width, channels), got {describe(image_shape)}")
        self.image_shape = tuple(check_int("image_shape", d, min_value=1) for d in image_shape)
        self.temperature = float(temperature)
        self.image_tower = image_encoder(width, filters, input_shape=self.image_shape, name="image_tower")
        self.text_tower = text_encoder(vocab_size, width, name="text_tower")
        self.image_projection = layers.Dense(embed_dim, name="image_projection")
        self.text_projection = layers.Dense(embed_dim, name="text_projection")
        self.log_scale = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(math.log(1.0 / temperature)), name="log_scale"
        )

    def _embed_images(self, images):
        return ops.normalize(self.image_projection(self.image_tower(images)), axis=-1)

    def _embed_texts(self, ids):
        return ops.normalize(self.text_projection(self.text_tower(ids)), axis=-1)

    def logit_scale(self):
        """``1 / temperature`` (a tensor), capped at 100."""
        return ops.minimum(ops.exp(self.log_scale), MAX_LOGIT_SCALE)

    def call(self, inputs):
        image_emb = self._embed_images(inputs["image"])
        text_emb = self._embed_texts(inputs["text"])
        return ops.matmul(image_emb, ops.transpose(text_emb)) * self.logit_scale()

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return info_nce_loss(y_pred)

    def embed_images(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Unit vectors ``(n, embed_dim)`` of images (uint8 or float in [0, 1])."""
        x = _images(images, self.image_shape)
        out = [self._embed_images(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return (
            np.concatenate([keras.ops.convert_to_numpy(o) for o in out])
            if out
            else np.zeros((0, self.embed_dim))
        )

    def embed_texts(self, ids: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Unit vectors ``(n, embed_dim)`` of token-id rows (see :func:`model_inputs`)."""
        ids = np.asarray(ids)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                f"ids: expected (n, length) int token ids, got shape {ids.shape} dtype {ids.dtype}"
            )
        out = [self._embed_texts(ids[i : i + batch_size]) for i in range(0, len(ids), batch_size)]
        return (
            np.concatenate([keras.ops.convert_to_numpy(o) for o in out])
            if out
            else np.zeros((0, self.embed_dim))
        )

    @property
    def learned_temperature(self) -> float:
        """The current temperature (``1 / logit_scale``)."""
        return float(1.0 / keras.ops.convert_to_numpy(self.logit_scale()))

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "embed_dim": self.embed_dim,
                "width": self.width, "filters": self.filters, "image_shape": list(self.image_shape),
                "temperature": self.temperature}  # fmt: skip


def _images(images, image_shape) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(image_shape):
        raise ValueError(f"images: expected shape (n, {', '.join(map(str, image_shape))}), got {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    return x.astype(np.float32)


def build_dual_encoder(vocab_size: int, embed_dim: int = 32, width: int = 64, filters: int = 16,
                       image_shape: Sequence[int] = (48, 48, 3), temperature: float = 0.1,
                       learning_rate: float = 3e-3) -> DualEncoder:  # fmt: skip
    """A compiled :class:`DualEncoder` (Adam), ready for ``fit(model_inputs(...))``.

    Example
    -------
    >>> model = build_dual_encoder(vocab_size=30)  # doctest: +SKIP
    >>> model({"image": np.zeros((4, 48, 48, 3)), "text": np.ones((4, 20), "int32")}).shape  # doctest: +SKIP
    TensorShape([4, 4])
    """
    vocab_size = check_int("vocab_size", vocab_size, min_value=3)
    learning_rate = check_real("learning_rate", learning_rate, positive=True)
    model = DualEncoder(vocab_size, embed_dim, width, filters, image_shape, temperature, name="dual_encoder")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return model


def model_inputs(images: np.ndarray, captions: Sequence[str], vocabulary: Sequence[str],
                 sequence_length: int = CAPTION_LENGTH) -> dict[str, np.ndarray]:  # fmt: skip
    """``{"image": float32 in [0, 1], "text": token ids}`` for :meth:`DualEncoder.fit`."""
    images = check_array("images", images, ndim=4, finite=False)
    captions = check_str_sequence("captions", captions)
    if len(images) != len(captions):
        raise ValueError(f"images, captions: expected the same number, got {len(images)} and {len(captions)}")
    x = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
    return {"image": x, "text": encode_texts(captions, vocabulary, sequence_length)}


def similarity(model: DualEncoder, images: np.ndarray, captions: Sequence[str], vocabulary: Sequence[str],
               sequence_length: int = CAPTION_LENGTH) -> np.ndarray:  # fmt: skip
    """Cosine similarity ``(n_images, n_captions)`` in the shared space."""
    if not isinstance(model, DualEncoder):
        raise TypeError(f"model: expected a DualEncoder, got {type(model).__name__}")
    ids = encode_texts(check_str_sequence("captions", captions), vocabulary, sequence_length)
    return model.embed_images(images) @ model.embed_texts(ids).T


# =========================================================================== zero-shot


def zero_shot_prompts(colours: Sequence[str] = COLOURS, shapes: Sequence[str] = SHAPES) -> pd.DataFrame:
    """One prompt per (colour, shape): ``"a red circle"``, ...; columns ``prompt, colour, shape``.

    Example
    -------
    >>> zero_shot_prompts()["prompt"].tolist()[:2]
    ['a red circle', 'a red square']
    """
    colours, shapes = check_str_sequence("colours", colours), check_str_sequence("shapes", shapes)
    rows = [{"prompt": f"a {c} {s}", "colour": c, "shape": s} for c in colours for s in shapes]
    return pd.DataFrame(rows, columns=["prompt", "colour", "shape"])


def embed_in_canvas(images: np.ndarray, size: int = 48, object_size: int = 22, seed: int = 0,
                    noise: float = 0.06) -> np.ndarray:  # fmt: skip
    """Put single-object images into the middle of a larger noisy canvas, like one object of a scene.

    Each image is resized (bilinear) to ``object_size x object_size`` -- 22 pixels make a
    32x32 Shapes World object about as large as a scene object -- and pasted in the
    centre of a ``size x size`` canvas whose background is the image's own border
    colour plus Gaussian noise.

    Example
    -------
    >>> embed_in_canvas(np.zeros((2, 32, 32, 3), np.uint8)).shape
    (2, 48, 48, 3)
    """
    from PIL import Image

    x = np.asarray(images)
    if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != np.uint8:
        raise ValueError(f"images: expected (n, h, w, 3) uint8 images, got {x.shape} {x.dtype}")
    size = check_int("size", size, min_value=1)
    object_size = check_int("object_size", object_size, min_value=1)
    seed, noise = check_int("seed", seed, min_value=0), check_real("noise", noise, min_value=0)
    if object_size > size:
        raise ValueError(f"object_size: expected at most size={size}, got {object_size}")
    n = len(x)
    small = np.stack(
        [np.asarray(Image.fromarray(im).resize((object_size, object_size), Image.BILINEAR)) for im in x]
    ) if n else np.zeros((0, object_size, object_size, 3), np.uint8)  # fmt: skip
    border = np.concatenate([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], axis=1)
    background = np.median(border.astype(np.float64) / 255, axis=1)  # (n, 3)
    rng = np.random.default_rng(seed)
    canvas = background[:, None, None, :] + rng.normal(0, noise, (n, size, size, 3))
    canvas = np.round(np.clip(canvas, 0, 1) * 255).astype(np.uint8)
    top = (size - object_size) // 2
    canvas[:, top : top + object_size, top : top + object_size] = small
    return canvas


def single_object_pairs(images: np.ndarray, objects: Sequence[Sequence[Mapping]], seed: int = 0,
                        noise: float = 0.06) -> tuple[np.ndarray, list[str]]:  # fmt: skip
    """One single-object (image, caption) pair per scene, cut from the scene's grid cell.

    A random object of each scene is cut out of its 16x16 cell and pasted in the centre
    of a fresh noisy canvas (the scene's own background colour); its caption is
    ``"a <colour> <shape>"``. Mixed into training, these pairs teach the shared space
    what *one* object looks like and reads like.

    Example
    -------
    >>> from mmteach.scenes import make_scenes
    >>> sc = make_scenes(3)
    >>> imgs, caps = single_object_pairs(sc.images, [sc.objects(i) for i in range(3)])
    >>> imgs.shape, caps[0].startswith("a ")
    ((3, 48, 48, 3), True)
    """
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[1:] != (48, 48, 3) or x.dtype != np.uint8:
        raise ValueError(f"images: expected (n, 48, 48, 3) uint8 scene images, got {x.shape} {x.dtype}")
    if isinstance(objects, str) or not isinstance(objects, Sequence):
        raise TypeError(f"objects: expected one list of objects per image, got {describe(objects)}")
    if len(objects) != len(x):
        raise ValueError(f"objects: expected one object list per image ({len(x)}), got {len(objects)}")
    seed, noise = check_int("seed", seed, min_value=0), check_real("noise", noise, min_value=0)
    rng = np.random.default_rng([seed, 17])
    cell = 16
    out = np.empty_like(x)
    captions = []
    for i, objs in enumerate(objects):
        obj = objs[int(rng.integers(len(objs)))]
        r, c = int(obj["row"]) * cell, int(obj["col"]) * cell
        border = np.concatenate([x[i, 0], x[i, -1], x[i, :, 0], x[i, :, -1]]).astype(np.float64) / 255
        canvas = np.median(border, axis=0) + rng.normal(0, noise, (48, 48, 3))
        canvas = np.round(np.clip(canvas, 0, 1) * 255).astype(np.uint8)
        canvas[16:32, 16:32] = x[i, r : r + cell, c : c + cell]
        out[i] = canvas
        captions.append(f"a {obj['colour']} {obj['shape']}")
    return out, captions


# =========================================================================== the estimator


@dataclass
class RetrievalScore:
    """What :meth:`Retriever.score` returns.

    Attributes
    ----------
    recall : pandas.DataFrame
        :func:`recall_table`: recall@k image->text, text->image and chance, one column per k.
    n : int
        Number of (image, caption) pairs scored.
    """

    recall: pd.DataFrame
    n: int


class Retriever(Estimator):
    """A :class:`DualEncoder` and its caption vocabulary as one estimator.

    ``Retriever(...).fit(images, captions)`` builds the vocabulary from the captions and
    trains the dual encoder through :func:`mmteach.training.fit` (seeded with ``seed``);
    ``predict_proba(images, captions)`` gives, per image, the softmax over the captions
    of the similarities scaled by the learnt ``1 / temperature``; ``predict`` the index of
    the best caption; ``score(images, captions)`` the recall table of matching pairs (a
    :class:`RetrievalScore`); ``save`` / ``load`` round-trip it.

    Parameters
    ----------
    embed_dim, width, filters, temperature, learning_rate
        As for :func:`build_dual_encoder`.
    seed : int
        Seed of the weights and the shuffling.

    Example
    -------
    >>> Retriever(embed_dim=16).is_fitted
    False
    """

    config_file = "retriever.json"

    def __init__(self, embed_dim: int = 32, width: int = 64, filters: int = 16, temperature: float = 0.1,
                 learning_rate: float = 3e-3, seed: int = 0) -> None:  # fmt: skip
        self.embed_dim = check_int("embed_dim", embed_dim, min_value=2)
        self.width = check_int("width", width, min_value=1)
        self.filters = check_int("filters", filters, min_value=1)
        self.temperature = float(check_real("temperature", temperature, positive=True))
        self.learning_rate = float(check_real("learning_rate", learning_rate, positive=True))
        self.seed = check_int("seed", seed, min_value=0)
        self.model: DualEncoder | None = None
        self.vocabulary: list[str] = []
        self.history: dict[str, list[float]] = {}

    def fit(self, images: np.ndarray, captions: Sequence[str], *, epochs: int = 12,
            batch_size: int = 64) -> Retriever:  # fmt: skip
        """Build the vocabulary of ``captions`` and train on the matching pairs; returns ``self``."""
        from mmteach.training import fit

        captions = check_str_sequence("captions", captions)
        epochs = check_int("epochs", epochs, min_value=1)
        batch_size = check_int("batch_size", batch_size, min_value=1)
        self.vocabulary = build_vocabulary(captions)
        x = model_inputs(images, captions, self.vocabulary)

        def build():
            return build_dual_encoder(len(self.vocabulary), self.embed_dim, self.width, self.filters,
                                      x["image"].shape[1:], self.temperature, self.learning_rate)  # fmt: skip

        # The diagonal of the logits is the answer: the labels are placeholders that fit() requires.
        result = fit(build, x, np.zeros(len(captions), "int32"), epochs=epochs, batch_size=batch_size,
                     seed=self.seed)  # fmt: skip
        self.model = result.model
        self.history = {k: [float(v) for v in vs] for k, vs in result.history.items()}
        return self

    def similarity(self, images: np.ndarray, captions: Sequence[str]) -> np.ndarray:
        """Cosine similarity ``(n_images, n_captions)`` (see :func:`similarity`)."""
        self._check_fitted()
        return similarity(self.model, images, captions, self.vocabulary)

    def predict_proba(self, images: np.ndarray, captions: Sequence[str]) -> np.ndarray:
        """Per image, the probability of each caption ``(n_images, n_captions)`` (rows sum to 1)."""
        logits = self.similarity(images, captions) / self.model.learned_temperature
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, images: np.ndarray, captions: Sequence[str]) -> np.ndarray:
        """Per image, the index of the most similar caption ``(n_images,)``."""
        return self.similarity(images, captions).argmax(axis=1)

    def score(self, images: np.ndarray, captions: Sequence[str],
              ks: Sequence[int] = (1, 5, 10)) -> RetrievalScore:  # fmt: skip
        """Recall@k of matching pairs (image ``i`` goes with caption ``i``), both directions."""
        sim = self.similarity(images, captions)
        return RetrievalScore(recall_table(sim, ks), len(sim))

    def _state(self) -> dict:
        return {"embed_dim": self.embed_dim, "width": self.width, "filters": self.filters,
                "temperature": self.temperature, "learning_rate": self.learning_rate, "seed": self.seed,
                "vocabulary": self.vocabulary, "history": self.history}  # fmt: skip

    def _models(self) -> dict:
        return {"model": self.model}

    @classmethod
    def _restore(cls, state: dict, models: dict) -> Retriever:
        keys = ("embed_dim", "width", "filters", "temperature", "learning_rate", "seed")
        retriever = cls(**{k: state[k] for k in keys})
        retriever.vocabulary = check_str_sequence("vocabulary", state["vocabulary"])
        retriever.model, retriever.history = models["model"], dict(state.get("history", {}))
        return retriever
