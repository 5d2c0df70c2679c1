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

import numpy as np
import pandas as pd

from mmteach import datasets
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
    "SENSES",
    "START",
    "Translation",
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


class Translator:
    """A trained encoder-decoder with attention; see :func:`train_translator`.

    Attributes
    ----------
    multimodal : bool
        Whether the decoder also sees the image (then ``translate`` needs one).
    source_vocabulary, target_vocabulary : list of str
        English tokens and Chinese words; index = id.
    model : keras.Model
        The teacher-forced training model.
    encoder : keras.Model
        ``[source ids, (images)] -> [encoder outputs, decoder initial state]``.
    step : keras.Model
        ``[previous word id, state, encoder outputs, source mask] -> [logits, state, attention]``.
    image_model : keras.Model or None
        The (frozen) image feature extractor of a multimodal translator, see
        :func:`train_image_features`.
    """

    def __init__(self, model, encoder, step, source_vocabulary, target_vocabulary, multimodal: bool,
                 source_length: int, max_output: int, history: dict | None = None,
                 image_model=None):  # fmt: skip
        self.model, self.encoder, self.step = model, encoder, step
        self.source_vocabulary, self.target_vocabulary = list(source_vocabulary), list(target_vocabulary)
        self._source_index = {w: i for i, w in enumerate(self.source_vocabulary)}
        self.multimodal = bool(multimodal)
        self.source_length, self.max_output = int(source_length), int(max_output)
        self.history = history or {}
        self.image_model = image_model

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

    mask = layers.Lambda(lambda s: s != 0, name="mask")(src)
    if multimodal:
        mask = layers.Lambda(lambda m: keras.ops.pad(m, [[0, 0], [1, 0]], constant_values=True),
                             name="image_mask")(mask)  # fmt: skip
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
    """Train an English -> Chinese translator on the ``train`` rows of ``pairs``.

    Parameters
    ----------
    pairs : pandas.DataFrame
        From :func:`make_translation_pairs` (columns ``en``, ``zh``, ``split``, ``image_index``).
    images : numpy.ndarray, optional
        ``(n, 32, 32, 3)`` uint8 images indexed by ``image_index``; needed when ``multimodal``.
    multimodal : bool
        Fuse the image into the decoder: its features are step 0 of what the decoder
        attends to and part of the decoder's initial state.
    units : int
        GRU width.
    epochs, batch_size, learning_rate : training settings (Adam).
    attention : {"dot", "additive"}
        ``keras.layers.Attention`` (Luong, dot product) or ``AdditiveAttention`` (Bahdanau).
    image_model : keras.Model, optional
        Frozen image feature extractor (:func:`train_image_features`); needed when ``multimodal``.
    seed : int
        Seed of the weights and the shuffling.

    Example
    -------
    >>> tr = train_translator(pairs, epochs=2)  # doctest: +SKIP
    """
    import keras

    from mmteach import device
    from mmteach.preprocessing import build_vocabulary

    if not isinstance(pairs, pd.DataFrame):
        raise TypeError(f"pairs: expected a pandas DataFrame, got {type(pairs).__name__}")
    missing = {"en", "zh", "split", "image_index"} - set(pairs.columns)
    if missing:
        raise ValueError(f"pairs: missing columns {sorted(missing)}")
    units, epochs = check_int("units", units, min_value=1), check_int("epochs", epochs, min_value=1)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    learning_rate = check_real("learning_rate", learning_rate, positive=True)
    multimodal, seed = check_bool("multimodal", multimodal), check_int("seed", seed, min_value=0)
    attention = check_choice("attention", attention, ("dot", "additive"))
    if images is not None:
        images = check_array("images", images, ndim=4, finite=False)
    if image_model is not None:
        check_instance("image_model", image_model, keras.Model, " (see train_image_features)")
    if multimodal and images is None:
        raise ValueError("images: a multimodal translator needs the images, got None")
    if multimodal and image_model is None:
        raise ValueError("image_model: a multimodal translator needs an image encoder "
                         "(see train_image_features), got None")  # fmt: skip
    train = pairs[pairs["split"] == "train"]
    if len(train) == 0:
        raise ValueError("pairs: expected rows with split == 'train', got none")
    src_vocab = build_vocabulary(train["en"])
    zh = [segment_chinese(t) for t in train["zh"]]
    counts = pd.Series([w for s in zh for w in s]).value_counts()
    counts = counts.iloc[np.lexsort((counts.index.to_numpy(), -counts.to_numpy()))]
    tgt_vocab = [PAD, OOV, START, END, *counts.index]
    tgt_index = {w: i for i, w in enumerate(tgt_vocab)}
    src_len = max(len(tokenize(t)) for t in train["en"])
    out_len = max(len(s) for s in zh) + 1
    keras.utils.set_random_seed(seed)
    with device.scope():
        width = int(image_model.output_shape[-1]) if multimodal else 0
        model, encoder, step = build_translator_models(
            len(src_vocab), len(tgt_vocab), units, width, attention, src_len, out_len
        )
        translator = Translator(model, encoder, step, src_vocab, tgt_vocab, multimodal, src_len, out_len + 4,
                                image_model=image_model if multimodal else None)  # fmt: skip
        src = translator.encode_source(list(train["en"]))
        dec_in = np.zeros((len(train), out_len), dtype="int32")
        dec_out = np.zeros_like(dec_in)
        for r, words in enumerate(zh):
            ids = [tgt_index[w] for w in words]
            dec_in[r, : len(ids) + 1] = [tgt_index[START], *ids]
            dec_out[r, : len(ids) + 1] = [*ids, tgt_index[END]]
        x = [src]
        if multimodal:
            x.append(translator._images(np.asarray(images)[train["image_index"].to_numpy()], len(train)))
        x.append(dec_in)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
        hist = model.fit(x, dec_out, sample_weight=(dec_out != 0).astype("float32"), epochs=epochs,
                         batch_size=batch_size, shuffle=True, verbose=0)  # fmt: skip
    translator.history = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
    return translator


def evaluate(translator: Translator, pairs: pd.DataFrame, images=None, split: str = "test") -> dict:
    """BLEU, exact match (and sense accuracy on ambiguous rows) on one split.

    Returns a dict with ``bleu``, ``exact_match``, ``n`` and ``hypotheses`` (list of str);
    when ``pairs`` has ambiguous rows in that split also ``bleu_ambiguous``,
    ``exact_ambiguous`` and ``sense_accuracy``.
    """
    if not isinstance(translator, Translator):
        raise TypeError(f"translator: expected a Translator, got {type(translator).__name__}")
    part = pairs[pairs["split"] == split]
    if len(part) == 0:
        raise ValueError(f"split: no rows with split == {split!r}")
    imgs = np.asarray(images)[part["image_index"].to_numpy()] if translator.multimodal else None
    hyps = [t.text for t in translator.translate_batch(list(part["en"]), imgs)]
    refs = list(part["zh"])
    result = {"n": len(part), "bleu": bleu(hyps, refs), "exact_match": exact_match(hyps, refs),
              "hypotheses": hyps}  # fmt: skip
    amb = part["ambiguous"].to_numpy() if "ambiguous" in part else np.zeros(len(part), bool)
    if amb.any():
        h = [x for x, a in zip(hyps, amb, strict=False) if a]
        r = [x for x, a in zip(refs, amb, strict=False) if a]
        result.update(bleu_ambiguous=bleu(h, r), exact_ambiguous=exact_match(h, r),
                      sense_accuracy=sense_accuracy(h, list(part.loc[amb, "sense"])))  # fmt: skip
    return result


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
