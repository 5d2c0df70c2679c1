"""The multimodal classifier, end to end: raw samples or files in, a class out.

:class:`MultimodalClassifier` wraps the pieces of the earlier notebooks -- the
:class:`~mmteach.preprocessing.ShapesWorldPreprocessor` (fitted on the training
split only) and a model from :func:`mmteach.models.build_multimodal_model` -- behind
the verbs of :class:`~mmteach.applications.base.Estimator`:

* ``fit(train_split)`` fits the preprocessor and the model (through
  :func:`mmteach.training.fit`, seeded with the classifier's ``seed``);
* ``score(split)`` returns a :class:`ClassificationScore` (accuracy, loss, n),
  ``predict``/``predict_proba`` the classes and their probabilities (optionally with
  modalities blanked);
* ``save(folder)`` writes ``model.keras`` and a small ``classifier.json`` (the
  preprocessor's config, the class names, the modalities); ``load(folder)``
  rebuilds an identical classifier;
* ``predict_files(image=..., caption=..., audio=...)`` classifies one sample
  straight from a PNG path, a caption string and a WAV path, validating each.

Helpers for the error analysis of notebook 08: :func:`precision_recall` (per class,
from the confusion matrix) and :func:`confident_mistakes`.

Example
-------
>>> from mmteach.datasets import load_shapes_world  # doctest: +SKIP
>>> sw = load_shapes_world()  # doctest: +SKIP
>>> clf = MultimodalClassifier().fit(sw.split("train"), epochs=8)  # doctest: +SKIP
>>> clf.score(sw.split("test")).accuracy  # doctest: +SKIP
0.96
>>> clf.predict_files(image="circle.png", caption="a wooden thing", audio="tap.wav")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmteach.applications.base import Estimator
from mmteach.datasets import (
    CLASS_NAMES,
    IMAGE_SIZE,
    SAMPLE_RATE,
    DataError,
    ShapesWorld,
    read_png,
    read_wav,
)
from mmteach.preprocessing import ShapesWorldPreprocessor, tokenize
from mmteach.validation import check_array, check_int, check_labels, check_real, check_str_sequence

__all__ = [
    "CONFIG_FILE",
    "MODEL_FILE",
    "ClassificationScore",
    "MultimodalClassifier",
    "confident_mistakes",
    "precision_recall",
]

MODALITIES = ("image", "text", "audio")
MODEL_FILE = "model.keras"
CONFIG_FILE = "classifier.json"


def _check_split(data: object, name: str = "data") -> ShapesWorld:
    if not isinstance(data, ShapesWorld):
        raise TypeError(f"{name}: expected a ShapesWorld (e.g. load_shapes_world(split='test')), "
                        f"got {type(data).__name__}")  # fmt: skip
    if len(data) == 0:
        raise ValueError(f"{name}: expected at least one sample, got an empty dataset")
    return data


@dataclass
class ClassificationScore:
    """What :meth:`MultimodalClassifier.score` returns.

    Attributes
    ----------
    accuracy : float
        Share of samples whose most probable class is the true one.
    loss : float
        Mean cross-entropy of the true class (probabilities clipped at 1e-7).
    n : int
        Number of samples scored.
    """

    accuracy: float
    loss: float
    n: int


class MultimodalClassifier(Estimator):
    """Preprocessor + fused model + class names, trained, saved and used as one object.

    Parameters
    ----------
    modalities : sequence of ``"image"``, ``"text"``, ``"audio"``
        The modalities the model reads (one alone gives a unimodal baseline).
    fusion : str
        ``"parallel"``, ``"sequential"``, ``"weighted"`` or ``"inject"``
        (see :func:`mmteach.models.build_multimodal_model`).
    weighted_mode : str
        ``"fixed"``, ``"learned"`` or ``"gated"`` when ``fusion="weighted"``.
    aux_weight : float
        Loss weight of the per-modality auxiliary heads (used with several modalities).
    modality_dropout : dict, optional
        ``{modality: rate}``; default ``{"text": 0.3}`` when text is fused with others.
    width : int
        Features per modality.
    learning_rate : float
        Adam's learning rate.
    class_names : sequence of str
        Names of the classes, in label order.
    seed : int
        Seed of the weights, the shuffling and the modality dropout (``fit`` seeds everything with it).

    Example
    -------
    >>> clf = MultimodalClassifier(("image", "audio"), fusion="parallel")
    >>> clf.modalities, clf.is_fitted
    (('image', 'audio'), False)
    """

    config_file = CONFIG_FILE

    def __init__(self, modalities: Sequence[str] = MODALITIES, fusion: str = "weighted", *,
                 weighted_mode: str = "gated", aux_weight: float = 0.5,
                 modality_dropout: Mapping[str, float] | None = None, width: int = 32,
                 learning_rate: float = 3e-3, class_names: Sequence[str] = CLASS_NAMES,
                 seed: int = 0) -> None:  # fmt: skip
        if isinstance(modalities, str):
            modalities = (modalities,)
        mods = tuple(check_str_sequence("modalities", modalities))
        if not mods or any(m not in MODALITIES for m in mods) or len(set(mods)) != len(mods):
            raise ValueError(f"modalities: expected distinct names from {MODALITIES}, got {list(mods)}")
        names = check_str_sequence("class_names", class_names)
        if len(names) < 2 or not all(names) or len(set(names)) != len(names):
            raise ValueError(f"class_names: expected >= 2 distinct non-empty names, got {names!r}")
        if modality_dropout is None:
            modality_dropout = {"text": 0.3} if "text" in mods and len(mods) > 1 else {}
        aux_weight = check_real("aux_weight", aux_weight, min_value=0)
        learning_rate = check_real("learning_rate", learning_rate, positive=True)
        if not isinstance(modality_dropout, Mapping):
            raise TypeError(f"modality_dropout: expected a dict {{modality: rate}}, got {modality_dropout!r}")
        self.modalities = mods
        self.class_names = tuple(names)
        self.options = {
            "fusion": fusion, "weighted_mode": weighted_mode, "aux_weight": float(aux_weight),
            "modality_dropout": dict(modality_dropout), "width": check_int("width", width, min_value=1),
            "learning_rate": float(learning_rate), "seed": check_int("seed", seed, min_value=0),
        }  # fmt: skip
        self.preprocessor: ShapesWorldPreprocessor | None = None
        self.model = None
        self.history: dict[str, list[float]] = {}
        self._check_options()

    # ------------------------------------------------------------------ building and training

    def _check_options(self) -> None:
        from mmteach.fusion import WEIGHTED_MODES
        from mmteach.models import FUSIONS

        o = self.options
        if o["fusion"] not in FUSIONS:
            raise ValueError(f"fusion: expected one of {FUSIONS}, got {o['fusion']!r}")
        if o["weighted_mode"] not in WEIGHTED_MODES:
            raise ValueError(f"weighted_mode: expected one of {WEIGHTED_MODES}, got {o['weighted_mode']!r}")
        if o["fusion"] == "inject" and "text" not in self.modalities:
            raise ValueError(f"fusion: 'inject' needs the 'text' modality, got {list(self.modalities)}")
        if not o["aux_weight"] >= 0:
            raise ValueError(f"aux_weight: expected a number >= 0, got {o['aux_weight']!r}")
        bad = {m: r for m, r in o["modality_dropout"].items()
               if m not in self.modalities or not (isinstance(r, (int, float)) and 0 <= r < 1)}  # fmt: skip
        if bad:
            raise ValueError(f"modality_dropout: expected {{modality: rate in [0, 1)}} for modalities "
                             f"{list(self.modalities)}, got {bad}")  # fmt: skip

    def _build_model(self):
        """A fresh compiled model for the fitted preprocessor's vocabulary."""
        from mmteach.models import build_multimodal_model

        vocab_size = self.preprocessor.vocab_size
        o = self.options
        kwargs = {"weighted_mode": o["weighted_mode"]} if o["fusion"] == "weighted" else {}
        model = build_multimodal_model(
            self.modalities, fusion=o["fusion"],
            vocab_size=vocab_size if "text" in self.modalities else None, n_classes=len(self.class_names),
            aux_weight=o["aux_weight"] if len(self.modalities) > 1 else 0.0,
            modality_dropout=o["modality_dropout"], width=o["width"], learning_rate=o["learning_rate"],
            seed=o["seed"], **kwargs,
        )  # fmt: skip
        return model

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`load`) has given the classifier a model and a preprocessor."""
        return self.model is not None and self.preprocessor is not None

    def fit(self, train: ShapesWorld, *, epochs: int = 8, batch_size: int = 32,
            validation: ShapesWorld | None = None) -> MultimodalClassifier:  # fmt: skip
        """Fit the preprocessor on ``train`` only, build a fresh model and fit it; returns ``self``.

        Training runs through :func:`mmteach.training.fit` on the chosen device, seeded
        with the classifier's ``seed`` (two fits with the same settings give the same
        model). ``validation`` (optional) is only scored after each epoch (``self.history``).
        """
        from mmteach.training import fit

        train = _check_split(train, "train")
        if validation is not None:
            validation = _check_split(validation, "validation")
        epochs = check_int("epochs", epochs, min_value=1)
        batch_size = check_int("batch_size", batch_size, min_value=1)
        self.preprocessor = ShapesWorldPreprocessor().fit(train)
        x = self.preprocessor.transform(train)
        val = None
        if validation is not None:
            v = self.preprocessor.transform(validation)
            val = (v.select(self.modalities), v.labels)
        result = fit(self._build_model, x.select(self.modalities), x.labels, validation_data=val,
                     epochs=epochs, batch_size=batch_size, seed=self.options["seed"],
                     restore_best_weights=False)  # fmt: skip
        self.model = result.model
        self.history = {k: [float(v) for v in vals] for k, vals in result.history.items()}
        return self

    # ------------------------------------------------------------------ using the model

    def _inputs(self, data: ShapesWorld, blank: Sequence[str] = ()) -> dict[str, np.ndarray]:
        if isinstance(blank, str):
            blank = (blank,)
        bad = [m for m in blank if m not in self.modalities]
        if bad:
            raise ValueError(f"blank: expected modalities among {list(self.modalities)}, got {bad}")
        if "label" not in data.meta:  # new samples have no label: the preprocessor needs none
            data = ShapesWorld(data.meta.assign(label=-1), data.images, data.audio)
        x = self.preprocessor.transform(data).select(self.modalities)
        return {m: np.zeros_like(v) if m in blank else v for m, v in x.items()}

    def predict_proba(self, data: ShapesWorld, *, blank: Sequence[str] = ()) -> np.ndarray:
        """Class probabilities ``(n, n_classes)``.

        ``blank`` lists modalities replaced by zeros (a blank caption is all padding,
        which the text encoder turns into zero features: the caption is missing).
        """
        self._check_fitted()
        data = _check_split(data)
        return np.asarray(self.model.predict(self._inputs(data, blank), verbose=0, batch_size=256))

    def predict(self, data: ShapesWorld, *, blank: Sequence[str] = ()) -> np.ndarray:
        """Predicted class ids ``(n,)``."""
        return self.predict_proba(data, blank=blank).argmax(axis=1)

    def score(self, data: ShapesWorld, *, blank: Sequence[str] = ()) -> ClassificationScore:
        """Accuracy and cross-entropy on a labelled split, as a :class:`ClassificationScore`."""
        proba = self.predict_proba(data, blank=blank)
        y = data.labels
        p_true = np.clip(proba[np.arange(len(y)), y], 1e-7, 1.0)
        return ClassificationScore(
            accuracy=float(np.mean(proba.argmax(axis=1) == y)), loss=float(-np.mean(np.log(p_true))), n=len(y)
        )

    def modality_ablation(self, data: ShapesWorld) -> pd.Series:
        """Accuracy with all modalities, then with each one blanked in turn (index ``"no <m>"``)."""
        self._check_fitted()
        rows = {"all": self.score(data).accuracy}
        for m in self.modalities:
            rows[f"no {m}"] = self.score(data, blank=(m,)).accuracy
        return pd.Series(rows, name="accuracy")

    def fusion_weights(self, data: ShapesWorld) -> pd.Series:
        """Mean weight the fusion layer gives each modality on ``data`` (weighted fusion only).

        Learned mode: the softmax weights; gated mode: the per-sample gates averaged
        over samples and feature dimensions.
        """
        self._check_fitted()
        if self.options["fusion"] != "weighted" or len(self.modalities) < 2:
            raise ValueError(
                f"fusion_weights: needs fusion='weighted' with >= 2 modalities, "
                f"got fusion={self.options['fusion']!r}, modalities {list(self.modalities)}"
            )
        layer = self.model.get_layer("fusion")
        if layer.mode != "gated":
            return pd.Series(layer.modality_weights(), index=list(self.modalities), name="weight")
        import keras

        feats = keras.Model(self.model.inputs, list(layer.input))  # the features the fusion layer reads
        x = self._inputs(_check_split(data))
        gates = layer.gates(feats.predict(x, verbose=0, batch_size=256))
        return pd.Series(gates.mean(axis=(0, 2)), index=list(self.modalities), name="weight")

    # ------------------------------------------------------------------ files

    def predict_files(self, image: str | Path | None = None, caption: str | None = None,
                      audio: str | Path | None = None) -> dict:  # fmt: skip
        """Classify one sample from a PNG path, a caption string and a WAV path.

        Every modality the classifier reads must be given; the others must not be.

        Returns
        -------
        dict
            ``{"label": int, "label_name": str, "probabilities": pandas.Series}``.

        Raises
        ------
        DataError
            A file is missing, not a PNG/WAV, has the wrong size or sample rate
            (the message starts with the argument's name).
        ValueError
            An argument is missing or not used by this classifier, or the caption is empty.
        """
        self._check_fitted()
        given = {"image": image, "text": caption, "audio": audio}
        arg = {"image": "image", "text": "caption", "audio": "audio"}
        for m, value in given.items():
            if m in self.modalities and value is None:
                raise ValueError(
                    f"{arg[m]}: this classifier reads {list(self.modalities)}; give {arg[m]}=..."
                )
            if m not in self.modalities and value is not None:
                raise ValueError(f"{arg[m]}: this classifier does not read {m} "
                                 f"(it reads {list(self.modalities)}), got {value!r}")  # fmt: skip
        img = (
            _load_image(image)
            if "image" in self.modalities
            else np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
        )
        text = _check_caption(caption, self.preprocessor.vocabulary) if "text" in self.modalities else ""
        wav = (
            _load_audio(audio)
            if "audio" in self.modalities
            else np.zeros(self.preprocessor.frame_length, np.float32)
        )
        sample = ShapesWorld(pd.DataFrame({"caption_en": [text], "caption_zh": [""]}), img[None], wav[None])
        proba = self.predict_proba(sample)[0]
        k = int(proba.argmax())
        probabilities = pd.Series(proba, index=list(self.class_names), name="probability")
        return {"label": k, "label_name": self.class_names[k], "probabilities": probabilities}

    # ------------------------------------------------------------------ saving (see Estimator.save)

    def _state(self) -> dict:
        return {"modalities": list(self.modalities), "class_names": list(self.class_names),
                "options": self.options, "preprocessor": self.preprocessor.get_config()}  # fmt: skip

    def _models(self) -> dict:
        return {Path(MODEL_FILE).stem: self.model}

    @classmethod
    def _restore(cls, state: dict, models: dict) -> MultimodalClassifier:
        options = dict(state["options"])
        clf = cls(state["modalities"], class_names=state["class_names"], **{
            k: options[k] for k in ("fusion", "weighted_mode", "aux_weight", "modality_dropout",
                                    "width", "learning_rate", "seed")})  # fmt: skip
        clf.preprocessor = ShapesWorldPreprocessor.from_config(state["preprocessor"])
        clf.model = models[Path(MODEL_FILE).stem]
        return clf

    @classmethod
    def load(cls, folder: str | Path) -> MultimodalClassifier:
        """Rebuild a classifier written by :meth:`save` (its predictions are identical)."""
        import mmteach.models  # noqa: F401 (registers the custom layers)

        return super().load(folder)

    def __repr__(self) -> str:
        state = "fitted" if self.is_fitted else "not fitted"
        return (f"MultimodalClassifier(modalities={list(self.modalities)}, "
                f"fusion={self.options['fusion']!r}, {state})")  # fmt: skip


# =========================================================================== file inputs


def _load_image(image: object) -> np.ndarray:
    if not isinstance(image, (str, Path)):
        raise TypeError(f"image: expected the path of a PNG file, got {type(image).__name__}")
    try:
        img = read_png(image)
    except DataError as exc:
        raise DataError(f"image: {exc}") from None
    if img.shape != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise DataError(f"image: expected a {IMAGE_SIZE}x{IMAGE_SIZE} RGB image, "
                        f"got {img.shape[1]}x{img.shape[0]} in {Path(image).name}")  # fmt: skip
    return img


def _load_audio(audio: object) -> np.ndarray:
    if not isinstance(audio, (str, Path)):
        raise TypeError(f"audio: expected the path of a WAV file, got {type(audio).__name__}")
    try:
        wav = read_wav(audio, sample_rate=SAMPLE_RATE)
    except DataError as exc:
        raise DataError(f"audio: {exc}") from None
    if len(wav) < 256:
        raise DataError(f"audio: expected at least 256 samples (32 ms at {SAMPLE_RATE} Hz), "
                        f"got {len(wav)} in {Path(audio).name}")  # fmt: skip
    return wav


def _check_caption(caption: object, vocabulary: Sequence[str]) -> str:
    if not isinstance(caption, str):
        raise TypeError(f"caption: expected a str, got {type(caption).__name__}")
    tokens = tokenize(caption)
    if not tokens:
        raise ValueError(f"caption: expected a caption with at least one word, got {caption!r}")
    known = set(vocabulary[2:])
    if not any(t in known for t in tokens):
        raise ValueError(f"caption: none of the words of {caption!r} is in the vocabulary "
                         "(the model would see only unknown words)")  # fmt: skip
    return caption


# =========================================================================== error analysis


def precision_recall(y_true: Sequence[int], y_pred: Sequence[int],
                     class_names: Sequence[str] = CLASS_NAMES) -> pd.DataFrame:  # fmt: skip
    """Per-class precision, recall and support from the confusion matrix.

    precision = correct predictions of the class / all predictions of the class;
    recall = correct predictions of the class / all samples of the class
    (0 when the denominator is 0).

    Example
    -------
    >>> precision_recall([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b"]).round(2)
       precision  recall  support
    a       1.00     0.5        2
    b       0.67     1.0        2
    """
    class_names = check_str_sequence("class_names", class_names)
    k = len(class_names)
    y_true, y_pred = check_labels("y_true", y_true, k), check_labels("y_pred", y_pred, k)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_pred: expected {len(y_true)} predictions like y_true, got {len(y_pred)}")
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    correct = np.diag(confusion).astype(float)
    predicted, actual = confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(correct, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(correct, actual, out=np.zeros(k), where=actual > 0)
    return pd.DataFrame(
        {"precision": precision, "recall": recall, "support": actual}, index=list(class_names)
    )


def confident_mistakes(proba: np.ndarray, y_true: Sequence[int], k: int = 8) -> np.ndarray:
    """Indices of the ``k`` wrong predictions made with the highest confidence, most confident first.

    Example
    -------
    >>> confident_mistakes(np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]), [1, 1, 1], k=5)
    array([0, 1])
    """
    proba = check_array("proba", proba, ndim=2, dtype=float)
    y_true = np.asarray(y_true)
    if proba.ndim != 2 or y_true.shape != (len(proba),):
        raise ValueError(
            f"proba, y_true: expected (n, classes) and (n,), got {proba.shape} and {y_true.shape}"
        )
    k = check_int("k", k, min_value=1)
    pred = proba.argmax(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    order = np.argsort(-proba[wrong, pred[wrong]], kind="stable")
    return wrong[order][:k]
