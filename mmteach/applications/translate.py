"""Machine translation of Shapes World captions, English -> Chinese (notebook 10).

A sequence-to-sequence model with attention: a GRU *encoder* reads the English
tokens, a GRU *decoder* writes Chinese words one at a time, and at every step an
attention layer looks back at the encoder's outputs. Decoding is greedy (take the
most likely next word until ``<end>``).

The *multimodal* variant feeds the image into the decoder: a small CNN's feature
vector is fused with the encoder's last state to form the decoder's initial state
(sequential fusion: the image comes before the first Chinese word). It matters
when the English is ambiguous. :func:`make_translation_pairs` adds captions with
the word **light**, which the caption writer of this data set uses in two senses:
for a *large yellow* object it means pale (浅色的), for a *small* red, green or blue
object it means light in weight (很轻的). The text alone cannot tell which; the
image can.

Chinese is split into words by :func:`segment_chinese` (longest match against the
caption generator's dictionary, single characters otherwise). BLEU is computed by
sacrebleu with its Chinese tokeniser (``tokenize="zh"``, character based), so the
segmentation does not change the score.

Example
-------
>>> segment_chinese("一个小的红色方块")
['一个', '小', '的', '红色', '方块']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
import pandas as pd

from mmteach import datasets
from mmteach.applications.base import Estimator
from mmteach.preprocessing import OOV, PAD, tokenize
from mmteach.validation import (
    check_array,
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_real,
    check_str,
    check_str_sequence,
)

__all__ = [
    "AMBIGUOUS_WORD",
    "END",
    "NextWordLoss",
    "SENSES",
    "START",
    "SourceMask",
    "Translation",
    "TranslationScore",
    "Translator",
    "attention_numpy",
    "bleu",
    "evaluate",
    "exact_match",
    "gloss",
    "make_translation_pairs",
    "ngram_precision",
    "segment_chinese",
    "sense_accuracy",
    "show_attention",
    "train_image_features",
    "train_translator",
]

START, END = "<start>", "<end>"
IMAGE_TOKEN = "[image]"
AMBIGUOUS_WORD = "light"
#: sense -> its Chinese rendering. "pale" for large yellow objects, "weight" for small non-yellow ones.
SENSES = {"pale": "浅色的", "weight": "很轻的"}
_FUNCTION_WORDS = ("一个", "的", "由", "制成", "，", "或", "一张照片：", "浅色", "很轻")
_ZH_WORDS = sorted(
    {w for w in (*datasets.CHINESE_WORDS.values(), *_FUNCTION_WORDS) if w}, key=len, reverse=True
)
_AMBIGUOUS_PREFIXES = ("", "", "there is ", "i see ", "this is ")


# =========================================================================== data


def segment_chinese(text: str) -> list[str]:
    """Split a Chinese caption into words: longest dictionary match, else one character.

    Example
    -------
    >>> segment_chinese("有一个由木头制成的大的三角形")
    ['有', '一个', '由', '木头', '制成', '的', '大', '的', '三角形']
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, got {type(text).__name__}")
    out, i = [], 0
    text = "".join(text.split())
    while i < len(text):
        word = next((w for w in _ZH_WORDS if text.startswith(w, i)), text[i])
        out.append(word)
        i += len(word)
    return out


def make_translation_pairs(
    sw: datasets.ShapesWorld, ambiguous_share: float = 0.25, seed: int = 0
) -> pd.DataFrame:
    """Parallel English/Chinese captions of ``sw``, plus ambiguous "light" captions.

    Every sample gives one row with its own ``caption_en`` / ``caption_zh``. Then
    extra rows are added (up to ``ambiguous_share`` of the samples, as many of each
    sense) whose English says "a light <shape>": for a large yellow object the
    Chinese says 浅色的 (pale), for a small red, green or blue one 很轻的 (light in
    weight). Other objects never get a "light" caption, so the image always decides.

    Parameters
    ----------
    sw : ShapesWorld
        Samples (e.g. :func:`mmteach.datasets.load_shapes_world`).
    ambiguous_share : float
        Extra ambiguous rows as a share of ``len(sw)``, in [0, 0.5].
    seed : int
        Seed of the choice of ambiguous rows and their wording.

    Rows whose English caption has no words (the bundled data has a few blanked
    captions) are left out.

    Returns
    -------
    pandas.DataFrame
        Columns ``en``, ``zh``, ``split``, ``image_index`` (row of ``sw.images``),
        ``ambiguous`` (bool) and ``sense`` (``""``, ``"pale"`` or ``"weight"``).

    Example
    -------
    >>> pairs = make_translation_pairs(datasets.make_shapes_world(200, seed=0))
    >>> sorted(pairs.loc[pairs["ambiguous"], "sense"].unique())
    ['pale', 'weight']
    """
    if not isinstance(sw, datasets.ShapesWorld):
        raise TypeError(f"sw: expected a ShapesWorld, got {type(sw).__name__}")
    seed = check_int("seed", seed, min_value=0)
    if (
        isinstance(ambiguous_share, bool)
        or not isinstance(ambiguous_share, (int, float))
        or not (0 <= ambiguous_share <= 0.5)
    ):
        raise ValueError(f"ambiguous_share: expected a number in [0, 0.5], got {ambiguous_share!r}")
    meta = sw.meta.reset_index(drop=True)
    base = pd.DataFrame({"en": meta["caption_en"].astype(str), "zh": meta["caption_zh"].astype(str),
                         "split": meta["split"], "image_index": np.arange(len(meta)),
                         "ambiguous": False, "sense": ""})  # fmt: skip
    base = base[[bool(tokenize(t)) and bool(z.strip()) for t, z in zip(base["en"], base["zh"], strict=False)]]
    rng = np.random.default_rng([int(seed), 8])
    yellow, large = meta["colour"].eq("yellow").to_numpy(), meta["size"].eq("large").to_numpy()
    rows = []
    eligible = {"pale": np.flatnonzero(yellow & large), "weight": np.flatnonzero(~yellow & ~large)}
    # As many rows of each sense, so that guessing from the text alone is right half of the time.
    n_take = min(*(len(v) for v in eligible.values()), int(round(ambiguous_share * len(meta) / 2)))
    for sense, idx in eligible.items():
        for i in np.sort(rng.choice(idx, size=n_take, replace=False)):
            shape = datasets.SHAPES.index(meta["shape"].iloc[i])
            words = [*datasets.CAPTION_WORDS["shape"][shape], "thing", "object"]
            shape_w = words[rng.integers(len(words))]
            prefix = _AMBIGUOUS_PREFIXES[rng.integers(len(_AMBIGUOUS_PREFIXES))]
            en = f"{prefix}a {AMBIGUOUS_WORD} {shape_w}"
            zh = f"{datasets.CHINESE_WORDS[prefix]}一个{SENSES[sense]}{datasets.CHINESE_WORDS[shape_w]}"
            rows.append({"en": en, "zh": zh, "split": meta["split"].iloc[i], "image_index": int(i),
                         "ambiguous": True, "sense": sense})  # fmt: skip
    return pd.concat([base, pd.DataFrame(rows, columns=base.columns)], ignore_index=True)


# =========================================================================== numpy references


def attention_numpy(queries, keys, values=None, mask=None):
    """Dot-product attention in numpy: ``softmax(queries @ keys.T) @ values``.

    Shapes: ``queries (t_q, d)``, ``keys (t_k, d)``, ``values (t_k, d_v)`` (default: the
    keys), ``mask (t_k,)`` bool (False = ignore that key). Returns ``(context, weights)``
    with ``weights (t_q, t_k)`` whose rows sum to 1.

    Example
    -------
    >>> ctx, w = attention_numpy(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    >>> w.round(2)
    array([[0.73, 0.27]])
    """
    q = check_array("queries", queries, ndim=2, dtype=np.float64)
    k = check_array("keys", keys, ndim=2, dtype=np.float64)
    if q.ndim != 2 or k.ndim != 2 or q.shape[1] != k.shape[1]:
        raise ValueError(f"queries, keys: expected (t_q, d) and (t_k, d), got {q.shape} and {k.shape}")
    v = k if values is None else check_array("values", values, ndim=2, dtype=np.float64)
    if v.ndim != 2 or len(v) != len(k):
        raise ValueError(f"values: expected ({len(k)}, d_v), got {v.shape}")
    scores = q @ k.T
    if mask is not None:
        mask = check_array("mask", mask, ndim=1, kind="bool")
        if mask.shape != (len(k),):
            raise ValueError(f"mask: expected one flag per key ({len(k)},), got shape {mask.shape}")
        scores = np.where(mask[None, :], scores, -1e9)
    scores = scores - scores.max(axis=1, keepdims=True)
    weights = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    return weights @ v, weights


def ngram_precision(hypothesis: str, reference: str, n: int) -> float:
    """BLEU's clipped n-gram precision over characters (spaces ignored).

    Each hypothesis n-gram counts at most as often as it occurs in the reference.

    Example
    -------
    >>> ngram_precision("红红红", "红色", 1)
    0.3333333333333333
    """
    if not isinstance(hypothesis, str) or not isinstance(reference, str):
        raise TypeError("hypothesis, reference: expected two str")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected a positive int, got {n!r}")
    h, r = "".join(hypothesis.split()), "".join(reference.split())
    grams = pd.Series([h[i : i + n] for i in range(len(h) - n + 1)], dtype=object).value_counts()
    ref = pd.Series([r[i : i + n] for i in range(len(r) - n + 1)], dtype=object).value_counts()
    if grams.sum() == 0:
        return 0.0
    clipped = sum(min(c, int(ref.get(g, 0))) for g, c in grams.items())
    return float(clipped / grams.sum())


# =========================================================================== metrics


def _check_pair(hypotheses, references, name: str = "references") -> tuple[list[str], list[str]]:
    hyp = check_str_sequence("hypotheses", hypotheses, non_empty=False)
    ref = check_str_sequence(name, references, non_empty=False)
    if len(hyp) != len(ref):
        raise ValueError(f"{name}: expected {len(hyp)} (one per hypothesis), got {len(ref)}")
    if not hyp:
        raise ValueError("hypotheses: expected at least one sentence, got an empty list")
    return hyp, ref


def bleu(hypotheses, references) -> float:
    """Corpus BLEU (0-100) with sacrebleu's Chinese tokeniser (characters for CJK).

    Example
    -------
    >>> round(bleu(["一个红色的圆形"], ["一个红色的圆形"]), 1)
    100.0
    """
    import sacrebleu

    hyp, ref = _check_pair(hypotheses, references)
    return float(sacrebleu.corpus_bleu(hyp, [ref], tokenize="zh").score)


def exact_match(hypotheses, references) -> float:
    """Share of hypotheses equal to their reference (spaces ignored).

    Example
    -------
    >>> exact_match(["一个 圆形", "方块"], ["一个圆形", "圆形"])
    0.5
    """
    hyp, ref = _check_pair(hypotheses, references)
    return float(np.mean(["".join(h.split()) == "".join(r.split()) for h, r in zip(hyp, ref, strict=False)]))


def sense_accuracy(hypotheses, senses) -> float:
    """Share of translations of "light" that use the Chinese word of the right sense.

    Example
    -------
    >>> sense_accuracy(["一个浅色的圆形", "一个浅色的方块"], ["pale", "weight"])
    0.5
    """
    hyp, sense = _check_pair(hypotheses, senses, "senses")
    for s in sense:
        if s not in SENSES:
            raise ValueError(f"senses: expected values in {tuple(SENSES)}, got {s!r}")
    right = [SENSES[s] in h and SENSES[_other(s)] not in h for h, s in zip(hyp, sense, strict=False)]
    return float(np.mean(right))


def _other(sense: str) -> str:
    return next(s for s in SENSES if s != sense)


# =========================================================================== model


@dataclass
class Translation:
    """One translation.

    Attributes
    ----------
    text : str
        The Chinese sentence (no spaces).
    tokens : list of str
        The Chinese words produced, ``<end>`` excluded.
    source_tokens : list of str
        The English tokens the model read (after cleaning); a multimodal model's first
        "token" is ``[image]``, the image step it can attend to.
    unknown_words : list of str
        Source words never seen in training: the model read them as ``<unk>``, so
        their meaning is lost and the translation may be wrong there.
    attention : numpy.ndarray
        ``(len(tokens), len(source_tokens))`` attention weights of each output word.
    """

    text: str
    tokens: list[str]
    source_tokens: list[str]
    unknown_words: list[str] = field(default_factory=list)
    attention: np.ndarray | None = None

    @property
    def note(self) -> str:
        """A warning to show the user, or ``""``."""
        if not self.unknown_words:
            return ""
        return (f"unknown words {self.unknown_words}: never seen in training, read as <unk>; "
                "the translation may miss them")  # fmt: skip

    def __str__(self) -> str:
        return self.text


@dataclass
class TranslationScore:
    """What :meth:`Translator.score` (and :func:`evaluate`) returns.

    Attributes
    ----------
    n : int
        Sentences scored.
    bleu : float
        Corpus BLEU (0-100, :func:`bleu`).
    exact_match : float
        Share of translations equal to their reference (:func:`exact_match`).
    hypotheses : list of str
        The translations, in the order of the split's rows.
    bleu_ambiguous, exact_ambiguous, sense_accuracy : float or None
        BLEU, exact match and :func:`sense_accuracy` on the ambiguous "light" rows of the
        split (None when it has none).
    """

    n: int
    bleu: float
    exact_match: float
    hypotheses: list[str]
    bleu_ambiguous: float | None = None
    exact_ambiguous: float | None = None
    sense_accuracy: float | None = None


@keras.saving.register_keras_serializable(package="mmteach")
class SourceMask(keras.layers.Layer):
    """Which steps the decoder may attend to: ``ids != 0`` (padding is hidden).

    With ``image_step=True`` a True column is put first: the image step of a
    multimodal translator, which is never padding.

    Example
    -------
    >>> SourceMask(image_step=True)(np.array([[5, 0]])).numpy().tolist()  # doctest: +SKIP
    [[True, True, False]]
    """

    def __init__(self, image_step: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.image_step = check_bool("image_step", image_step)

    def call(self, ids):
        mask = ids != 0
        if self.image_step:
            mask = keras.ops.pad(mask, [[0, 0], [1, 0]], constant_values=True)
        return mask

    def get_config(self):
        return {**super().get_config(), "image_step": self.image_step}


@keras.saving.register_keras_serializable(package="mmteach")
class NextWordLoss(keras.losses.Loss):
    """Cross-entropy of the next word (from logits), padding targets (id 0) counting zero.

    Averaged over all ``batch x length`` positions (Keras's ``sum_over_batch_size``), so
    it equals ``SparseCategoricalCrossentropy(from_logits=True)`` with
    ``sample_weight = targets != 0``, without needing a sample weight.

    Example
    -------
    >>> float(NextWordLoss()(np.array([[1, 0]]), np.zeros((1, 2, 4))))  # doctest: +SKIP
    0.6931...
    """

    def __init__(self, **kwargs):
        super().__init__(**{"name": "next_word_loss", **kwargs})

    def call(self, y_true, y_pred):
        loss = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        return loss * keras.ops.cast(keras.ops.not_equal(y_true, 0), loss.dtype)


def _check_pairs(pairs: object) -> pd.DataFrame:
    if not isinstance(pairs, pd.DataFrame):
        raise TypeError(f"pairs: expected a pandas DataFrame, got {type(pairs).__name__}")
    missing = {"en", "zh", "split", "image_index"} - set(pairs.columns)
    if missing:
        raise ValueError(f"pairs: missing columns {sorted(missing)}")
    return pairs


def _target_vocabulary(sentences: list[list[str]]) -> list[str]:
    """Special tokens, then the Chinese words by falling frequency (ties alphabetical)."""
    counts = pd.Series([w for s in sentences for w in s]).value_counts()
    counts = counts.iloc[np.lexsort((counts.index.to_numpy(), -counts.to_numpy()))]
    return [PAD, OOV, START, END, *counts.index]


def _teacher_forcing(sentences: list[list[str]], vocabulary: list[str], length: int):
    """Decoder inputs (``<start>`` + words) and targets (words + ``<end>``), ``(n, length)`` ids each."""
    index = {w: i for i, w in enumerate(vocabulary)}
    dec_in = np.zeros((len(sentences), length), dtype="int32")
    dec_out = np.zeros_like(dec_in)
    for r, words in enumerate(sentences):
        ids = [index[w] for w in words]
        dec_in[r, : len(ids) + 1] = [index[START], *ids]
        dec_out[r, : len(ids) + 1] = [*ids, index[END]]
    return dec_in, dec_out


class Translator(Estimator):
    """English -> Chinese encoder-decoder with attention (an :class:`~mmteach.applications.base.Estimator`).

    ``Translator(...).fit(pairs)`` trains it (:func:`train_translator` does the same in
    one call); ``predict(captions)`` gives the Chinese sentences, ``translate`` /
    ``translate_batch`` the full :class:`Translation` records, ``score(pairs)`` a
    :class:`TranslationScore`; ``save`` / ``load`` round-trip it. There is no
    ``predict_proba``: greedy decoding picks one word per step, not one distribution.

    Parameters
    ----------
    multimodal : bool
        Fuse the image into the decoder: its features are step 0 of what the decoder
        attends to and part of the decoder's initial state (``fit`` then needs the
        images and a frozen ``image_model``, see :func:`train_image_features`).
    units : int
        GRU width.
    attention : {"dot", "additive"}
        ``keras.layers.Attention`` (Luong, dot product) or ``AdditiveAttention`` (Bahdanau).
    learning_rate : float
        Adam's learning rate.
    seed : int
        Seed of the weights and the shuffling.

    Attributes
    ----------
    source_vocabulary, target_vocabulary : list of str
        English tokens and Chinese words; index = id (set by ``fit``).
    model : keras.Model
        The teacher-forced training model.
    encoder : keras.Model
        ``[source ids, (images)] -> [encoder outputs, decoder initial state]``.
    step : keras.Model
        ``[previous word id, state, encoder outputs, source mask] -> [logits, state, attention]``.
    image_model : keras.Model or None
        The (frozen) image feature extractor of a multimodal translator.

    Example
    -------
    >>> Translator(units=32).is_fitted
    False
    """

    config_file = "translator.json"

    def __init__(self, multimodal: bool = False, units: int = 64, attention: str = "dot",
                 learning_rate: float = 5e-3, seed: int = 0) -> None:  # fmt: skip
        self.multimodal = check_bool("multimodal", multimodal)
        self.units = check_int("units", units, min_value=1)
        self.attention = check_choice("attention", attention, ("dot", "additive"))
        self.learning_rate = float(check_real("learning_rate", learning_rate, positive=True))
        self.seed = check_int("seed", seed, min_value=0)
        self.model = self.encoder = self.step = self.image_model = None
        self._set_vocabularies([], [], 0, 0)
        self.history: dict[str, list[float]] = {}

    def _set_vocabularies(self, source: list[str], target: list[str], source_length: int, max_output: int):
        self.source_vocabulary, self.target_vocabulary = list(source), list(target)
        self._source_index = {w: i for i, w in enumerate(self.source_vocabulary)}
        self.source_length, self.max_output = int(source_length), int(max_output)

    def _build(self, image_width: int, target_length: int):
        """Build the three models (sharing their layers) and compile the training one."""
        self.model, self.encoder, self.step = build_translator_models(
            len(self.source_vocabulary), len(self.target_vocabulary), self.units, image_width,
            self.attention, self.source_length, target_length,
        )  # fmt: skip
        self.model.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss=NextWordLoss())
        return self.model

    # -- training --------------------------------------------------------------------------

    def fit(self, pairs: pd.DataFrame, images=None, *, image_model=None, epochs: int = 12,
            batch_size: int = 64) -> Translator:  # fmt: skip
        """Train on the ``train`` rows of ``pairs`` (from :func:`make_translation_pairs`); returns ``self``.

        Training runs through :func:`mmteach.training.fit` (seeded with ``seed``, on the
        chosen device). The loss is the cross-entropy of the next word, padding
        excluded (:class:`NextWordLoss`).

        Parameters
        ----------
        pairs : pandas.DataFrame
            Columns ``en``, ``zh``, ``split``, ``image_index``.
        images : numpy.ndarray, optional
            ``(n, 32, 32, 3)`` uint8 images indexed by ``image_index``; needed when ``multimodal``.
        image_model : keras.Model, optional
            Frozen image feature extractor (:func:`train_image_features`); needed when ``multimodal``.
        epochs, batch_size : int
            Training budget.
        """
        from mmteach.preprocessing import build_vocabulary
        from mmteach.training import fit

        train = self._check_fit_inputs(pairs, images, image_model)
        epochs = check_int("epochs", epochs, min_value=1)
        batch_size = check_int("batch_size", batch_size, min_value=1)
        zh = [segment_chinese(t) for t in train["zh"]]
        out_len = max(len(s) for s in zh) + 1
        self._set_vocabularies(build_vocabulary(train["en"]), _target_vocabulary(zh),
                               max(len(tokenize(t)) for t in train["en"]), out_len + 4)  # fmt: skip
        self.image_model = image_model if self.multimodal else None
        dec_in, dec_out = _teacher_forcing(zh, self.target_vocabulary, out_len)
        x = {"source": self.encode_source(list(train["en"])), "target_in": dec_in}
        if self.multimodal:
            rows = train["image_index"].to_numpy()
            x["image_features"] = self._images(np.asarray(images)[rows], len(train))
        width = int(image_model.output_shape[-1]) if self.multimodal else 0
        result = fit(lambda: self._build(width, out_len), x, dec_out, epochs=epochs, batch_size=batch_size,
                     seed=self.seed)  # fmt: skip
        self.history = {k: [float(v) for v in vs] for k, vs in result.history.items()}
        return self

    def _check_fit_inputs(self, pairs, images, image_model) -> pd.DataFrame:
        """The ``train`` rows of ``pairs``, after checking the inputs ``fit`` was given."""
        pairs = _check_pairs(pairs)
        if images is not None:
            images = check_array("images", images, ndim=4, finite=False)
        if image_model is not None:
            check_instance("image_model", image_model, keras.Model, " (see train_image_features)")
        if self.multimodal and images is None:
            raise ValueError("images: a multimodal translator needs the images, got None")
        if self.multimodal and image_model is None:
            raise ValueError("image_model: a multimodal translator needs an image encoder "
                             "(see train_image_features), got None")  # fmt: skip
        train = pairs[pairs["split"] == "train"]
        if len(train) == 0:
            raise ValueError("pairs: expected rows with split == 'train', got none")
        return train

    # -- the protocol's other verbs -----------------------------------------------------------

    def predict(self, captions, images=None) -> list[str]:
        """The Chinese translations of many English captions (see :meth:`translate_batch`)."""
        return [t.text for t in self.translate_batch(captions, images)]

    def score(self, pairs: pd.DataFrame, images=None, split: str = "test") -> TranslationScore:
        """BLEU, exact match (and sense accuracy on ambiguous rows) on one split of ``pairs``."""
        self._check_fitted()
        pairs = _check_pairs(pairs)
        split = check_str("split", split)
        part = pairs[pairs["split"] == split]
        if len(part) == 0:
            raise ValueError(f"split: no rows with split == {split!r}")
        imgs = None
        if self.multimodal:
            if images is None:
                raise ValueError("images: a multimodal translator needs the images, got None")
            imgs = check_array("images", images, ndim=4, finite=False)[part["image_index"].to_numpy()]
        hyps = self.predict(list(part["en"]), imgs)
        refs = list(part["zh"])
        result = TranslationScore(len(part), bleu(hyps, refs), exact_match(hyps, refs), hyps)
        amb = part["ambiguous"].to_numpy(bool) if "ambiguous" in part else np.zeros(len(part), bool)
        if amb.any():
            h = [x for x, a in zip(hyps, amb, strict=True) if a]
            r = [x for x, a in zip(refs, amb, strict=True) if a]
            result.bleu_ambiguous, result.exact_ambiguous = bleu(h, r), exact_match(h, r)
            result.sense_accuracy = sense_accuracy(h, list(part.loc[amb, "sense"]))
        return result

    # -- saving (see Estimator.save) ----------------------------------------------------------

    def _state(self) -> dict:
        return {"multimodal": self.multimodal, "units": self.units, "attention": self.attention,
                "learning_rate": self.learning_rate, "seed": self.seed,
                "source_vocabulary": self.source_vocabulary, "target_vocabulary": self.target_vocabulary,
                "source_length": self.source_length, "max_output": self.max_output,
                "target_length": int(self.model.inputs[-1].shape[1]), "history": self.history}  # fmt: skip

    def _models(self) -> dict:
        return {"model": self.model, "image_model": self.image_model}

    @classmethod
    def _restore(cls, state: dict, models: dict) -> Translator:
        tr = cls(*(state[k] for k in ("multimodal", "units", "attention", "learning_rate", "seed")))
        tr._set_vocabularies(state["source_vocabulary"], state["target_vocabulary"], state["source_length"],
                             state["max_output"])  # fmt: skip
        tr.image_model = models.get("image_model")
        width = int(tr.image_model.output_shape[-1]) if tr.multimodal else 0
        # The encoder and the decoder step share the training model's layers: rebuild all three, then
        # copy the saved weights in (same architecture, same weight order).
        tr._build(width, state["target_length"]).set_weights(models["model"].get_weights())
        tr.history = dict(state.get("history", {}))
        return tr

    # -- inputs ----------------------------------------------------------------------------

    def encode_source(self, captions) -> np.ndarray:
        """English captions -> ids ``(n, source_length)`` (0 = padding, 1 = unknown)."""
        captions = check_str_sequence("captions", captions, non_empty=False)
        ids = np.zeros((len(captions), self.source_length), dtype="int32")
        for row, caption in enumerate(captions):
            toks = tokenize(caption)[: self.source_length]
            ids[row, : len(toks)] = [self._source_index.get(t, 1) for t in toks]
        return ids

    def _images(self, images, n: int):
        if not self.multimodal:
            if images is not None:
                raise ValueError("image: this translator is text-only (multimodal=False); "
                                 "translate without an image or train one with multimodal=True")  # fmt: skip
            return None
        if images is None:
            raise ValueError("image: this translator was trained with images (multimodal=True); "
                             "pass the caption's 32x32x3 image")  # fmt: skip
        arr = np.asarray(images)
        if arr.shape != (n, *datasets_image_shape()):
            raise ValueError(f"image: expected shape {datasets_image_shape()} per caption "
                             f"({n} captions), got {arr.shape}")  # fmt: skip
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"image: expected numbers, got dtype {arr.dtype}")
        arr = arr.astype("float32") / (255.0 if np.issubdtype(arr.dtype, np.integer) else 1.0)
        return np.asarray(self.image_model(arr, training=False))

    # -- decoding --------------------------------------------------------------------------

    def encode(self, captions, images=None):
        """Run the encoder: ``(encoder outputs, initial decoder state, source ids)``."""
        self._check_fitted()
        ids = self.encode_source(captions)
        inputs = [ids] if not self.multimodal else [ids, self._images(images, len(ids))]
        if not self.multimodal:
            self._images(images, len(ids))
        seq, state = self.encoder(inputs, training=False)
        return np.asarray(seq), np.asarray(state), ids

    def decode_step(self, previous, state, encoder_outputs, source_ids):
        """One decoder step for a batch: ``(logits, new state, attention weights)``."""
        prev = np.asarray(previous, dtype="int32").reshape(-1, 1)
        mask = np.asarray(source_ids) != 0
        if self.multimodal:  # the image is step 0 of the encoder outputs
            mask = np.concatenate([np.ones((len(mask), 1), bool), mask], axis=1)
        logits, new_state, attention = self.step([prev, state, encoder_outputs, mask], training=False)
        return np.asarray(logits)[:, 0], np.asarray(new_state), np.asarray(attention)[:, 0]

    def translate_batch(self, captions, images=None) -> list[Translation]:
        """Greedy-decode many captions at once (see :meth:`translate`)."""
        captions = check_str_sequence("captions", captions, non_empty=False)
        if not captions:
            return []
        for k, c in enumerate(captions):
            if not tokenize(c):
                raise ValueError(f"captions[{k}]: expected an English sentence with words, got {c!r}")
        seq, state, ids = self.encode(captions, images)
        n = len(captions)
        end = self.target_vocabulary.index(END)
        previous = np.full(n, self.target_vocabulary.index(START))
        outputs = np.zeros((n, self.max_output), dtype=int)
        attention = np.zeros((n, self.max_output, seq.shape[1]))
        done = np.zeros(n, dtype=bool)
        for t in range(self.max_output):
            logits, state, att = self.decode_step(previous, state, seq, ids)
            previous = logits.argmax(axis=-1)
            outputs[:, t], attention[:, t] = previous, att
            done |= previous == end
            if done.all():
                break
        result = []
        for k in range(n):
            words = []
            for i in outputs[k]:
                if i == end:
                    break
                words.append(self.target_vocabulary[i])
            source = tokenize(captions[k])[: self.source_length]
            unknown = [w for w in source if w not in self._source_index]
            source = ([IMAGE_TOKEN] if self.multimodal else []) + source
            att = attention[k, : len(words), : len(source)]
            result.append(Translation("".join(w for w in words if w not in (PAD, OOV)), words, source,
                                      unknown, att))  # fmt: skip
        return result

    def translate(self, caption: str, image=None) -> Translation:
        """Translate one English caption into Chinese.

        Parameters
        ----------
        caption : str
            English text; it must contain at least one word.
        image : array, optional
            The ``(32, 32, 3)`` image (uint8 or float in [0, 1]); required by a
            multimodal translator, refused by a text-only one.

        Returns
        -------
        Translation
            ``.text`` is the Chinese; ``.unknown_words`` lists words the model never saw
            (``.note`` says so in a sentence).

        Raises
        ------
        TypeError
            If ``caption`` is not a str.
        ValueError
            If ``caption`` is empty or has no words, or the image is missing, unwanted or
            of the wrong shape.

        Example
        -------
        >>> translator.translate("a small red circle").text  # doctest: +SKIP
        '一个小的红色的圆形'
        """
        if not isinstance(caption, str):
            raise TypeError(f"caption: expected a str, got {type(caption).__name__}")
        if not tokenize(caption):
            raise ValueError(f"caption: expected an English sentence with at least one word, got {caption!r}")
        images = None if image is None else np.asarray(image)[None]
        if image is not None and np.asarray(image).shape != datasets_image_shape():
            raise ValueError(f"image: expected shape {datasets_image_shape()}, got {np.asarray(image).shape}")
        return self.translate_batch([caption], images)[0]


def datasets_image_shape() -> tuple[int, int, int]:
    """Shape of one Shapes World image, ``(32, 32, 3)``."""
    return (datasets.IMAGE_SIZE, datasets.IMAGE_SIZE, 3)


def build_translator_models(n_source: int, n_target: int, units: int, multimodal: int, attention: str,
                            source_length: int, target_length: int):  # fmt: skip
    """The translator's three Keras models: ``(training model, encoder, one decoder step)``.

    Parameters
    ----------
    n_source, n_target : int
        Sizes of the English and Chinese vocabularies.
    units : int
        GRU width.
    multimodal : int
        Width of the image features fused into the decoder (0 = text only).
    attention : {"dot", "additive"}
        Luong (dot-product) or Bahdanau (additive) attention.
    source_length, target_length : int
        Fixed sentence lengths (the GRUs unroll).

    Example
    -------
    >>> model, encoder, step = build_translator_models(30, 40, 8, 0, "dot", 6, 7)  # doctest: +SKIP
    """
    for name, value in (("n_source", n_source), ("n_target", n_target), ("units", units),
                        ("source_length", source_length), ("target_length", target_length)):  # fmt: skip
        check_int(name, value, min_value=1)
    check_int("multimodal", multimodal, min_value=0)
    check_choice("attention", attention, ("dot", "additive"))
    import keras
    from keras import layers

    # Fixed lengths let the GRUs unroll: several times faster than a loop for short sentences on a CPU.
    src = keras.Input(shape=(source_length,), dtype="int32", name="source")
    tgt = keras.Input(shape=(target_length,), dtype="int32", name="target_in")
    n_memory = source_length + (1 if multimodal else 0)
    src_mask = keras.Input(shape=(n_memory,), dtype="bool", name="source_mask")
    enc_emb = layers.Embedding(n_source, 32, mask_zero=True, name="source_embedding")
    enc_gru = layers.GRU(units, return_sequences=True, return_state=True, name="encoder_gru")
    dec_emb = layers.Embedding(n_target, 32, mask_zero=True, name="target_embedding")
    dec_gru = layers.GRU(units, return_sequences=True, return_state=True, name="decoder_gru")
    att_cls = {"dot": layers.Attention, "additive": layers.AdditiveAttention}[attention]
    att = att_cls(name="attention")
    combine = layers.Dense(units, activation="tanh", name="combine")
    out = layers.Dense(n_target, name="next_word")

    enc_seq, enc_state = enc_gru(enc_emb(src))
    inputs = [src]
    init = enc_state
    if multimodal:
        # Sequential fusion: the image vector is "word 0" of what the decoder attends to,
        # and it also enters the decoder's initial state.
        img = keras.Input(shape=(multimodal,), name="image_features")
        img_step = layers.Dense(units, activation="tanh", name="image_step")(img)
        enc_seq = layers.Concatenate(axis=1, name="image_then_words")(
            [layers.Reshape((1, units), name="image_as_step")(img_step), enc_seq]
        )
        init = layers.Dense(units, activation="tanh", name="image_into_state")(
            layers.Concatenate(name="text_and_image")([enc_state, img_step])
        )
        inputs.append(img)
    encoder = keras.Model(inputs, [enc_seq, init], name="encoder")

    def decode(tokens, state, memory, mask):
        seq, new_state = dec_gru(dec_emb(tokens), initial_state=state)
        context, scores = att([seq, memory], mask=[None, mask], return_attention_scores=True)
        return out(combine(layers.Concatenate()([seq, context]))), new_state, scores

    mask = SourceMask(image_step=bool(multimodal), name="mask")(src)
    logits, _, _ = decode(tgt, init, enc_seq, mask)
    model = keras.Model([*inputs, tgt], logits, name="translator")

    prev = keras.Input(shape=(1,), dtype="int32", name="previous_word")
    state_in = keras.Input(shape=(units,), name="state")
    memory = keras.Input(shape=(n_memory, units), name="encoder_outputs")
    step_logits, step_state, step_att = decode(prev, state_in, memory, src_mask)
    step = keras.Model([prev, state_in, memory, src_mask], [step_logits, step_state, step_att], name="step")
    return model, encoder, step


def train_image_features(sw: datasets.ShapesWorld, width: int = 16, epochs: int = 4, seed: int = 0):
    """A small CNN image encoder trained to recognise colour, size and shape; returns the encoder.

    Multimodal translation systems start from a pretrained vision model; this is the
    Shapes World version (a few seconds on a CPU). The translator keeps it frozen and
    learns only what to do with its ``width`` features.

    Parameters
    ----------
    sw : ShapesWorld
        Its ``train`` split is used (``colour``, ``size`` and ``shape`` columns as labels).
    width, epochs, seed : feature size, training epochs, seed.

    Returns
    -------
    keras.Model
        ``(batch, 32, 32, 3)`` float images in [0, 1] -> ``(batch, width)`` features.
    """
    import keras
    from keras import layers

    from mmteach import device
    from mmteach.features import image_encoder

    if not isinstance(sw, datasets.ShapesWorld):
        raise TypeError(f"sw: expected a ShapesWorld, got {type(sw).__name__}")
    width, epochs = check_int("width", width, min_value=1), check_int("epochs", epochs, min_value=1)
    seed = check_int("seed", seed, min_value=0)
    train = sw.split("train")
    labels = (("colour", datasets.COLOURS), ("size", datasets.SIZES), ("shape", datasets.SHAPES))
    known = np.all([train.meta[k].isin(v).to_numpy() for k, v in labels], axis=0)  # cleaned data: "unknown"
    train = train.subset(known)
    keras.utils.set_random_seed(seed)
    with device.scope():
        enc = image_encoder(width=width, filters=8, name="image_encoder")
        img = keras.Input(shape=datasets_image_shape(), name="image")
        feat = enc(img)
        heads = {k: layers.Dense(len(v), activation="softmax", name=k)(feat) for k, v in labels}
        model = keras.Model(img, heads)
        model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
        y = {k: train.meta[k].map({v: i for i, v in enumerate(vals)}).to_numpy("int32") for k, vals in labels}
        model.fit(train.images.astype("float32") / 255.0, y, epochs=epochs, batch_size=64, verbose=0)
    enc.trainable = False
    return enc


def train_translator(pairs: pd.DataFrame, images=None, multimodal: bool = False, units: int = 64,
                     epochs: int = 12, batch_size: int = 64, learning_rate: float = 5e-3,
                     attention: str = "dot", image_model=None, seed: int = 0) -> Translator:  # fmt: skip
    """Train an English -> Chinese translator on the ``train`` rows of ``pairs``, in one call.

    The same as ``Translator(multimodal, units, attention, learning_rate, seed).fit(pairs,
    images, image_model=image_model, epochs=epochs, batch_size=batch_size)``: see
    :class:`Translator` and :meth:`Translator.fit` for the parameters. It takes ten
    parameters because it is the one-call form of both.

    Example
    -------
    >>> tr = train_translator(pairs, epochs=2)  # doctest: +SKIP
    """
    translator = Translator(multimodal, units, attention, learning_rate, seed)
    return translator.fit(pairs, images, image_model=image_model, epochs=epochs, batch_size=batch_size)


def evaluate(translator: Translator, pairs: pd.DataFrame, images=None,
             split: str = "test") -> TranslationScore:  # fmt: skip
    """BLEU, exact match (and sense accuracy on ambiguous rows) on one split: ``translator.score(...)``.

    Returns a :class:`TranslationScore`.
    """
    if not isinstance(translator, Translator):
        raise TypeError(f"translator: expected a Translator, got {type(translator).__name__}")
    return translator.score(pairs, images, split)


_GLOSS_EXTRA = {"一个": "yi-ge (a)", "的": "de ('s)", "由": "you (by)", "制成": "zhi-cheng (made)",
                "，": ",", "或": "huo (or)", "浅色": "qian-se (pale)", "很轻": "hen-qing (very light)",
                "一张照片：": "a photo of:"}  # fmt: skip


def gloss(word: str) -> str:
    """An English gloss of a Chinese word, for plot labels (fonts often lack Chinese glyphs).

    Example
    -------
    >>> gloss("红色"), gloss("的")
    ('red', "de ('s)")
    """
    word = check_str("word", word)
    if word in _GLOSS_EXTRA:
        return _GLOSS_EXTRA[word]
    english = next((en for en, zh in datasets.CHINESE_WORDS.items() if zh == word and en), None)
    return english.strip() if english else word


def show_attention(translation: Translation, ax=None, title: str | None = None):
    """Heat map of ``translation.attention``: output words (rows, glossed) x English words (columns)."""
    import matplotlib.pyplot as plt

    if not isinstance(translation, Translation):
        raise TypeError(f"translation: expected a Translation, got {type(translation).__name__}")
    if ax is None:
        size = (0.5 * len(translation.source_tokens) + 2.5, 0.3 * len(translation.tokens) + 1.5)
        _, ax = plt.subplots(figsize=size)
    ax.imshow(translation.attention, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(translation.source_tokens)), translation.source_tokens, rotation=60, ha="right")
    ax.set_yticks(range(len(translation.tokens)), [gloss(w) for w in translation.tokens], fontsize=8)
    ax.set_title(title or " ".join(translation.source_tokens), fontsize=9)
    return ax
