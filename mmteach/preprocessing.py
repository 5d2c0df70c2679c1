"""Preprocessing: from raw Shapes World samples to model-ready arrays.

The central piece is :class:`ShapesWorldPreprocessor`, fitted on the training
split only (no leakage) and then applied to any split:

* image: uint8 RGB -> float32 in [0, 1];
* text: caption -> int32 token ids (0 = padding, 1 = out of vocabulary);
* audio: waveform -> log-magnitude spectrogram minus its per-frequency median
  ("noise floor"), scaled by the training split's standard deviation.

Example
-------
>>> from mmteach.datasets import make_shapes_world
>>> sw = make_shapes_world(100)
>>> prep = ShapesWorldPreprocessor().fit(sw.split("train"))
>>> data = prep.transform(sw)
>>> sorted(data.inputs), data.inputs["audio"].shape
(['audio', 'image', 'text'], (100, 30, 65))
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmteach.datasets import ShapesWorld, normalise_category, scrub_pii  # noqa: F401 (re-exported)

PAD, OOV = "<pad>", "<unk>"
_TOKEN = re.compile(r"[a-z0-9\u4e00-\u9fff]+(?:-[a-z0-9]+)*|\[(?:email|phone)\]")


# --------------------------------------------------------------------------- text


def clean_text(text: str) -> str:
    """Lower-case, scrub personal data and keep only word characters and spaces.

    Example
    -------
    >>> clean_text("  A Red BOX, call 555-0142-7788!")
    'a red box call [phone]'
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected str, got {type(text).__name__}")
    return " ".join(_TOKEN.findall(scrub_pii(text).lower()))


def tokenize(text: str) -> list[str]:
    """Split a caption into tokens after :func:`clean_text`.

    Example
    -------
    >>> tokenize("There is a small, wooden circle.")
    ['there', 'is', 'a', 'small', 'wooden', 'circle']
    """
    return clean_text(text).split()


def build_vocabulary(texts: Iterable[str], max_tokens: int | None = None, min_count: int = 1) -> list[str]:
    """Vocabulary ``[PAD, OOV, most frequent tokens...]`` (ties broken alphabetically).

    Example
    -------
    >>> build_vocabulary(["a red box", "a blue box"])
    ['<pad>', '<unk>', 'a', 'box', 'blue', 'red']
    """
    if isinstance(texts, str):
        raise TypeError("texts: expected an iterable of strings, got a single str")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 3):
        raise ValueError(f"max_tokens: expected an int >= 3 or None, got {max_tokens!r}")
    counts = Counter(tok for t in texts for tok in tokenize(t))
    if not counts:
        raise ValueError("texts: expected at least one non-empty text, got none")
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    if max_tokens is not None:
        words = words[: max_tokens - 2]
    return [PAD, OOV, *words]


def encode_texts(texts: Sequence[str], vocabulary: Sequence[str], sequence_length: int) -> np.ndarray:
    """Token ids ``(n, sequence_length)`` int32, padded with 0 at the end, truncated.

    Example
    -------
    >>> encode_texts(["a red box"], ["<pad>", "<unk>", "a", "box", "red"], 5)
    array([[2, 4, 3, 0, 0]], dtype=int32)
    """
    if not isinstance(sequence_length, int) or sequence_length < 1:
        raise ValueError(f"sequence_length: expected a positive int, got {sequence_length!r}")
    if list(vocabulary[:2]) != [PAD, OOV]:
        raise ValueError(f"vocabulary: expected to start with {[PAD, OOV]}, got {list(vocabulary[:2])}")
    index = {w: i for i, w in enumerate(vocabulary)}
    out = np.zeros((len(texts), sequence_length), dtype=np.int32)
    for row, text in enumerate(texts):
        ids = [index.get(tok, 1) for tok in tokenize(text)][:sequence_length]
        out[row, : len(ids)] = ids
    return out


def decode_ids(ids: Sequence[int], vocabulary: Sequence[str]) -> str:
    """Inverse of :func:`encode_texts` for one row (padding dropped)."""
    return " ".join(vocabulary[i] for i in ids if i != 0)


# --------------------------------------------------------------------------- audio


def log_spectrogram(audio: np.ndarray, frame_length: int = 128, frame_step: int = 64) -> np.ndarray:
    """Log-magnitude spectrogram ``log(1 + |STFT|)`` with a periodic Hann window.

    Matches ``tf.signal.stft`` framing (no padding): ``(n, frames, frame_length // 2 + 1)``.

    Example
    -------
    >>> log_spectrogram(np.zeros((2, 2000))).shape
    (2, 30, 65)
    """
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2 or audio.shape[1] < frame_length:
        raise ValueError(f"audio: expected (n, samples) with samples >= {frame_length}, got shape {audio.shape}")
    if not np.issubdtype(audio.dtype, np.floating) or not np.all(np.isfinite(audio)):
        raise ValueError("audio: expected finite floating-point samples")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame_length) / frame_length)
    frames = np.lib.stride_tricks.sliding_window_view(audio, frame_length, axis=1)[:, ::frame_step]
    return np.log1p(np.abs(np.fft.rfft(frames * window, axis=-1))).astype(np.float32)


def remove_noise_floor(spectrogram: np.ndarray) -> np.ndarray:
    """Subtract each sample's per-frequency median over time (its stationary noise floor)."""
    spectrogram = np.asarray(spectrogram)
    if spectrogram.ndim != 3:
        raise ValueError(f"spectrogram: expected (n, frames, bins), got shape {spectrogram.shape}")
    return spectrogram - np.median(spectrogram, axis=1, keepdims=True)


# --------------------------------------------------------------------------- all modalities


@dataclass
class ModelInputs:
    """Model-ready arrays of one split.

    ``inputs`` maps ``"image"``, ``"text"`` and ``"audio"`` to arrays with the
    same first dimension as ``labels``.
    """

    inputs: dict[str, np.ndarray]
    labels: np.ndarray
    meta: pd.DataFrame

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, modalities: Sequence[str]) -> dict[str, np.ndarray]:
        """The input dict restricted to ``modalities``."""
        unknown = [m for m in modalities if m not in self.inputs]
        if unknown:
            raise ValueError(f"modalities: unknown {unknown}; expected some of {sorted(self.inputs)}")
        return {m: self.inputs[m] for m in modalities}

    def subset(self, index: np.ndarray) -> ModelInputs:
        """Rows ``index`` (positions or boolean mask)."""
        index = np.asarray(index)
        return ModelInputs(
            {k: v[index] for k, v in self.inputs.items()},
            self.labels[index],
            self.meta.iloc[np.flatnonzero(index) if index.dtype == bool else index].reset_index(drop=True),
        )


class ShapesWorldPreprocessor:
    """Fit on the training split, then turn any split into :class:`ModelInputs`.

    Parameters
    ----------
    sequence_length : int
        Captions are padded/truncated to this many tokens.
    max_tokens : int, optional
        Vocabulary size cap (including padding and OOV).
    frame_length, frame_step : int
        STFT framing of the audio.
    """

    def __init__(self, sequence_length: int = 16, max_tokens: int | None = None,
                 frame_length: int = 128, frame_step: int = 64) -> None:  # fmt: skip
        if not isinstance(sequence_length, int) or sequence_length < 1:
            raise ValueError(f"sequence_length: expected a positive int, got {sequence_length!r}")
        self.sequence_length = sequence_length
        self.max_tokens = max_tokens
        self.frame_length = frame_length
        self.frame_step = frame_step
        self.vocabulary: list[str] | None = None
        self.audio_scale: float | None = None

    @property
    def vocab_size(self) -> int:
        self._check_fitted()
        return len(self.vocabulary)

    def _check_fitted(self) -> None:
        if self.vocabulary is None:
            raise RuntimeError("ShapesWorldPreprocessor: call fit(train) before transform()")

    def _audio(self, audio: np.ndarray) -> np.ndarray:
        return remove_noise_floor(log_spectrogram(audio, self.frame_length, self.frame_step))

    def fit(self, train: ShapesWorld) -> ShapesWorldPreprocessor:
        """Learn the vocabulary and the audio scale from ``train`` only."""
        if not isinstance(train, ShapesWorld):
            raise TypeError(f"train: expected a ShapesWorld, got {type(train).__name__}")
        if len(train) == 0:
            raise ValueError("train: expected at least one sample, got an empty dataset")
        self.vocabulary = build_vocabulary(train.captions, self.max_tokens)
        self.audio_scale = float(self._audio(train.audio).std()) or 1.0
        return self

    def transform(self, data: ShapesWorld) -> ModelInputs:
        """Model-ready arrays for ``data``."""
        self._check_fitted()
        if not isinstance(data, ShapesWorld):
            raise TypeError(f"data: expected a ShapesWorld, got {type(data).__name__}")
        inputs = {
            "image": data.images.astype(np.float32) / 255.0,
            "text": encode_texts(data.captions, self.vocabulary, self.sequence_length),
            "audio": (self._audio(data.audio) / self.audio_scale).astype(np.float32),
        }
        return ModelInputs(inputs, data.labels, data.meta)

    def get_config(self) -> dict:
        """JSON-serialisable state (for saving alongside a model)."""
        self._check_fitted()
        return {"sequence_length": self.sequence_length, "max_tokens": self.max_tokens,
                "frame_length": self.frame_length, "frame_step": self.frame_step,
                "vocabulary": list(self.vocabulary), "audio_scale": self.audio_scale}  # fmt: skip

    @classmethod
    def from_config(cls, config: dict) -> ShapesWorldPreprocessor:
        """Rebuild a fitted preprocessor from :meth:`get_config`."""
        prep = cls(config["sequence_length"], config["max_tokens"], config["frame_length"], config["frame_step"])
        prep.vocabulary = list(config["vocabulary"])
        prep.audio_scale = float(config["audio_scale"])
        return prep


def load_prepared(split_names: Sequence[str] = ("train", "val", "test"), **kwargs) -> dict[str, ModelInputs]:
    """Load the clean bundled dataset, fit a preprocessor on train, transform each split.

    Returns ``{"train": ModelInputs, ..., "preprocessor": ShapesWorldPreprocessor}``.
    """
    from mmteach.datasets import load_shapes_world

    sw = load_shapes_world()
    prep = ShapesWorldPreprocessor(**kwargs).fit(sw.split("train"))
    out: dict = {name: prep.transform(sw.split(name)) for name in split_names}
    out["preprocessor"] = prep
    return out
