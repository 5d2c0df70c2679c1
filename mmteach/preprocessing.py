"""Preprocessing: from raw Shapes World samples to model-ready arrays.

The central piece is :class:`ShapesWorldPreprocessor`, fitted on the training
split only (no leakage) and then applied to any split:

* image: uint8 RGB -> float32 in [0, 1];
* text: caption -> int32 token ids (0 = padding, 1 = out of vocabulary);
* audio: waveform -> log-magnitude spectrogram minus its per-frequency median
  ("noise floor"), scaled by the training split's standard deviation.

Table tools for the cleaning lesson: :func:`quality_report` (what is wrong with
a metadata table, from :mod:`mmteach.quality`), :func:`pseudonymise_ids` (salted HMAC-SHA256 of sample ids)
and :func:`save_clean` / :func:`load_clean` (a checksummed CSV, written
atomically). The bundled dataset is cleaned by the same documented rules
(:func:`mmteach.datasets.clean_metadata`) every time it is loaded, so later
notebooks simply call :func:`mmteach.datasets.load_shapes_world` or
:func:`load_prepared`.

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

import hashlib
import hmac
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmteach.datasets import (  # noqa: F401 (scrub_pii, normalise_category re-exported)
    CATEGORIES,
    RANGES,
    SPLITS,
    DataError,
    ShapesWorld,
    normalise_category,
    scrub_pii,
    sha256_file,
    write_atomic,
)
from mmteach.quality import PROBLEMS, quality_report  # noqa: F401 (part of this module's API)
from mmteach.validation import check_file_name, check_int, check_path, check_str_sequence

PAD, OOV = "<pad>", "<unk>"
_TOKEN = re.compile(r"[a-z0-9\u4e00-\u9fff]+(?:-[a-z0-9]+)*|\[(?:email|phone)\]")


# --------------------------------------------------------------------------- text


def clean_text(text: str) -> str:
    """Lower-case, scrub personal data and keep only word characters and spaces.

    Words are runs of ``a-z``, digits and CJK characters (hyphenated words stay
    whole); e-mail addresses and phone numbers become ``[email]`` and
    ``[phone]``. Cleaning is idempotent: ``clean_text(clean_text(t)) == clean_text(t)``.

    Parameters
    ----------
    text : str
        A caption.

    Example
    -------
    >>> clean_text("  A Red BOX, call 555-0142-7788!")
    'a red box call [phone]'
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected str, got {type(text).__name__}")
    out = " ".join(_TOKEN.findall(scrub_pii(text).lower()))
    # Dropping punctuation can join digits into a phone-like run ("1,2,3,..." ->
    # "1 2 3 ..."): scrub again until nothing changes (each pass removes digits).
    while True:
        again = " ".join(_TOKEN.findall(scrub_pii(out)))
        if again == out:
            return out
        out = again


def tokenize(text: str) -> list[str]:
    """Split a caption into tokens after :func:`clean_text`.

    Parameters
    ----------
    text : str
        A caption.

    Example
    -------
    >>> tokenize("There is a small, wooden circle.")
    ['there', 'is', 'a', 'small', 'wooden', 'circle']
    """
    return clean_text(text).split()


def build_vocabulary(texts: Iterable[str], max_tokens: int | None = None, min_count: int = 1) -> list[str]:
    """Vocabulary ``[PAD, OOV, most frequent tokens...]`` (ties broken alphabetically).

    Parameters
    ----------
    texts : iterable of str
        The (training) texts.
    max_tokens : int, optional
        Cap on the vocabulary size, padding and OOV included (>= 3).
    min_count : int
        Keep only tokens seen at least this often.

    Example
    -------
    >>> build_vocabulary(["a red box", "a blue box"])
    ['<pad>', '<unk>', 'a', 'box', 'blue', 'red']
    """
    texts = check_str_sequence("texts", texts, non_empty=False)
    if max_tokens is not None:
        check_int("max_tokens", max_tokens, min_value=3)
    check_int("min_count", min_count, min_value=1)
    counts = Counter(tok for t in texts for tok in tokenize(t))
    if not counts:
        raise ValueError("texts: expected at least one non-empty text, got none")
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    if max_tokens is not None:
        words = words[: max_tokens - 2]
    return [PAD, OOV, *words]


def _check_vocabulary(vocabulary: object) -> list[str]:
    vocabulary = check_str_sequence("vocabulary", vocabulary, non_empty=False)
    if vocabulary[:2] != [PAD, OOV]:
        raise ValueError(f"vocabulary: expected to start with {[PAD, OOV]}, got {vocabulary[:2]}")
    if len(set(vocabulary)) != len(vocabulary):
        dup = sorted(w for w, c in Counter(vocabulary).items() if c > 1)
        raise ValueError(f"vocabulary: expected unique tokens, got duplicates {dup[:5]}")
    return vocabulary


def encode_texts(texts: Sequence[str], vocabulary: Sequence[str], sequence_length: int) -> np.ndarray:
    """Token ids ``(n, sequence_length)`` int32, padded with 0 at the end, truncated.

    Tokens missing from ``vocabulary`` become 1 (OOV).

    Parameters
    ----------
    texts : sequence of str
        Captions.
    vocabulary : sequence of str
        ``vocabulary[i]`` is the token of id ``i`` (0 padding, 1 OOV).
    sequence_length : int
        Ids per caption (longer ones are cut, shorter ones padded with 0).

    Example
    -------
    >>> encode_texts(["a red box"], ["<pad>", "<unk>", "a", "box", "red"], 5)
    array([[2, 4, 3, 0, 0]], dtype=int32)
    """
    check_int("sequence_length", sequence_length, min_value=1)
    texts = check_str_sequence("texts", texts, non_empty=False)
    vocabulary = _check_vocabulary(vocabulary)
    index = {w: i for i, w in enumerate(vocabulary)}
    out = np.zeros((len(texts), sequence_length), dtype=np.int32)
    for row, text in enumerate(texts):
        ids = [index.get(tok, 1) for tok in tokenize(text)][:sequence_length]
        out[row, : len(ids)] = ids
    return out


def decode_ids(ids: Sequence[int], vocabulary: Sequence[str]) -> str:
    """Inverse of :func:`encode_texts` for one row: tokens joined by spaces, padding dropped.

    Parameters
    ----------
    ids : sequence of int
        Token ids (0 = padding, skipped).
    vocabulary : sequence of str
        ``vocabulary[i]`` is the token of id ``i``.

    Example
    -------
    >>> decode_ids([2, 4, 1, 0], ["<pad>", "<unk>", "a", "box", "red"])
    'a red <unk>'
    """
    vocabulary = _check_vocabulary(vocabulary)
    ids = np.asarray(ids)
    if ids.ndim != 1 or not (ids.size == 0 or np.issubdtype(ids.dtype, np.integer)):
        raise ValueError(f"ids: expected a 1-D sequence of ints, got shape {ids.shape} dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= len(vocabulary)):
        raise ValueError(
            f"ids: expected values in [0, {len(vocabulary)}), got range [{ids.min()}, {ids.max()}]"
        )
    return " ".join(vocabulary[i] for i in ids.tolist() if i != 0)


# --------------------------------------------------------------------------- audio


def log_spectrogram(audio: np.ndarray, frame_length: int = 128, frame_step: int = 64) -> np.ndarray:
    """Log-magnitude spectrogram ``log(1 + |STFT|)`` with a periodic Hann window.

    Matches ``tf.signal.stft(audio, frame_length, frame_step,
    window_fn=tf.signal.hann_window)`` followed by ``log1p(abs(.))`` when
    ``frame_length`` is a power of two (no padding at the end):
    ``(n, frames, frame_length // 2 + 1)`` float32.

    Parameters
    ----------
    audio : numpy.ndarray
        Waveforms ``(n, samples)`` or one ``(samples,)``.
    frame_length : int
        Samples per frame (Hann window).
    frame_step : int
        Samples between frame starts.

    Example
    -------
    >>> log_spectrogram(np.zeros((2, 2000))).shape
    (2, 30, 65)
    """
    frame_length = check_int("frame_length", frame_length, min_value=2)
    frame_step = check_int("frame_step", frame_step, min_value=1)
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2 or audio.shape[0] == 0 or audio.shape[1] < frame_length:
        raise ValueError(
            f"audio: expected (n, samples) with n >= 1 and samples >= {frame_length}, got shape {audio.shape}"
        )
    if not np.issubdtype(audio.dtype, np.floating):
        raise TypeError(f"audio: expected floating-point samples, got dtype {audio.dtype}")
    if not np.all(np.isfinite(audio)):
        raise ValueError("audio: expected finite samples, got NaN or inf")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame_length) / frame_length)
    frames = np.lib.stride_tricks.sliding_window_view(audio, frame_length, axis=1)[:, ::frame_step]
    return np.log1p(np.abs(np.fft.rfft(frames * window, axis=-1))).astype(np.float32)


def remove_noise_floor(spectrogram: np.ndarray) -> np.ndarray:
    """Subtract each sample's per-frequency median over time (its stationary noise floor).

    Parameters
    ----------
    spectrogram : numpy.ndarray
        Log magnitudes ``(..., frames, bins)``.

    Example
    -------
    >>> float(remove_noise_floor(np.ones((1, 4, 3))).max())
    0.0
    """
    spectrogram = np.asarray(spectrogram)
    if spectrogram.ndim != 3 or 0 in spectrogram.shape:
        raise ValueError(
            f"spectrogram: expected a non-empty (n, frames, bins) array, got shape {spectrogram.shape}"
        )
    if not np.issubdtype(spectrogram.dtype, np.floating):
        raise TypeError(f"spectrogram: expected a floating-point array, got dtype {spectrogram.dtype}")
    if not np.all(np.isfinite(spectrogram)):
        raise ValueError("spectrogram: expected finite values, got NaN or inf")
    return spectrogram - np.median(spectrogram, axis=1, keepdims=True)


# --------------------------------------------------------------------------- tables


#: Problems that :func:`quality_report` looks for, in report order.
def pseudonymise_ids(
    ids: Iterable[str], salt: str | bytes, *, length: int = 16, prefix: str = "p_"
) -> list[str]:
    """Replace sample ids by salted hashes: ``prefix + HMAC-SHA256(salt, id)[:length]`` (hex).

    The same id and salt always give the same pseudonym, so tables can still be
    joined; without the salt (keep it secret, out of the data) nobody can
    recompute the mapping by hashing guessed ids. Distinct ids get distinct
    pseudonyms: a collision (astronomically unlikely at the default length)
    raises ValueError.

    Parameters
    ----------
    ids : iterable of str
        The ids (at least one).
    salt : str or bytes
        Secret key, non-empty.
    length : int
        Hex characters kept, 8 to 64.
    prefix : str
        Put in front of every pseudonym.

    Example
    -------
    >>> pseudonymise_ids(["sw_00000", "sw_00001"], salt="course-secret", length=8)
    ['p_64eacea9', 'p_626118c0']
    """
    ids = check_str_sequence("ids", ids, non_empty=False)
    if not ids:
        raise ValueError("ids: expected at least one id, got none")
    if isinstance(salt, str):
        salt = salt.encode("utf-8")
    if not isinstance(salt, bytes):
        raise TypeError(f"salt: expected non-empty str or bytes, got {type(salt).__name__}")
    if not salt:
        raise ValueError("salt: expected a non-empty secret, got an empty one")
    length = check_int("length", length, min_value=8)
    if length > 64:
        raise ValueError(f"length: expected an int from 8 to 64, got {length}")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix: expected str, got {type(prefix).__name__}")
    out = [prefix + hmac.new(salt, i.encode("utf-8"), hashlib.sha256).hexdigest()[:length] for i in ids]
    if len(set(out)) != len(set(ids)):
        raise ValueError(f"length: {length} hex characters gave a collision; use a longer length")
    return out


def save_clean(df: pd.DataFrame, folder: str | Path, name: str = "metadata_clean") -> Path:
    """Write a cleaned table as ``<name>.csv`` plus ``<name>.json`` (SHA-256 and dtypes), atomically.

    Both files are written to a temporary name first and then renamed, so a crash
    never leaves half a file. :func:`load_clean` checks the checksum and restores
    the dtypes. (The bundled dataset needs no saved copy: ``load_shapes_world()``
    applies the same documented rules, :func:`mmteach.datasets.clean_metadata`,
    on every load.)

    Parameters
    ----------
    df : pandas.DataFrame
        The cleaned table.
    folder : str or path
        Where the CSV and its checksum go.
    name : str
        The file name without extension.

    Returns
    -------
    pathlib.Path
        The CSV file written.

    Example
    -------
    >>> path = save_clean(pd.DataFrame({"id": ["a"], "x": [1.5]}), "/tmp/clean")  # doctest: +SKIP
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df: expected a pandas DataFrame, got {type(df).__name__}")
    if len(df.columns) == 0 or len(df) == 0:
        raise ValueError(f"df: expected a non-empty table, got shape {df.shape}")
    if not isinstance(folder, (str, Path)):
        raise TypeError(f"folder: expected a path, got {type(folder).__name__}")
    name = check_file_name("name", name)
    if not all(isinstance(c, str) for c in df.columns) or df.columns.duplicated().any():
        raise ValueError("df: expected unique string column names")
    folder = Path(folder)
    data = df.to_csv(index=False, lineterminator="\n").encode("utf-8")
    csv_path = folder / f"{name}.csv"
    write_atomic(csv_path, data)
    info = {
        "file": csv_path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "rows": len(df),
        "dtypes": {c: str(t) for c, t in df.dtypes.items()},
    }
    write_atomic(folder / f"{name}.json", (json.dumps(info, indent=1) + "\n").encode("utf-8"))
    return csv_path


def load_clean(folder: str | Path, name: str = "metadata_clean") -> pd.DataFrame:
    """Read a table written by :func:`save_clean`, after checking its SHA-256.

    Raises :class:`~mmteach.datasets.DataError` if a file is missing or altered.

    Parameters
    ----------
    folder : str or path
        The folder :func:`save_clean` wrote to.
    name : str
        The file name without extension (a plain name: no folder part).

    Example
    -------
    >>> df = load_clean("/tmp/clean")  # doctest: +SKIP
    """
    folder = check_path("folder", folder)
    name = check_file_name("name", name)
    info_path, csv_path = folder / f"{name}.json", folder / f"{name}.csv"
    if not info_path.is_file() or not csv_path.is_file():
        raise DataError(f"{name}: {name}.csv or {name}.json not found in the folder; call save_clean first")
    info = json.loads(info_path.read_text())
    if sha256_file(csv_path) != info.get("sha256"):
        raise DataError(f"{name}.csv: checksum mismatch (file altered or corrupt); save it again")
    dtypes = info["dtypes"]
    numeric = [c for c, t in dtypes.items() if t.startswith(("int", "float", "uint", "bool"))]
    df = pd.read_csv(
        csv_path, keep_default_na=False, na_values={c: [""] for c in numeric},
        float_precision="round_trip", dtype={c: str for c, t in dtypes.items() if c not in numeric},
    )  # fmt: skip
    return df.astype(dtypes)


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
        """The input dict restricted to ``modalities``.

        Parameters
        ----------
        modalities : sequence of str
            The inputs to keep.
        """
        if isinstance(modalities, str):
            raise TypeError(f"modalities: expected a sequence of names, got the single str {modalities!r}")
        unknown = [m for m in modalities if m not in self.inputs]
        if unknown:
            raise ValueError(f"modalities: unknown {unknown}; expected some of {sorted(self.inputs)}")
        return {m: self.inputs[m] for m in modalities}

    def subset(self, index: np.ndarray) -> ModelInputs:
        """Rows ``index`` (positions or boolean mask).

        Parameters
        ----------
        index : array of int or bool
            The samples to keep.
        """
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
        self.sequence_length = check_int("sequence_length", sequence_length, min_value=1)
        self.max_tokens = None if max_tokens is None else check_int("max_tokens", max_tokens, min_value=3)
        self.frame_length = check_int("frame_length", frame_length, min_value=2)
        self.frame_step = check_int("frame_step", frame_step, min_value=1)
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
        """Learn the vocabulary and the audio scale from ``train`` only.

        Parameters
        ----------
        train : ShapesWorld
            The training split (the only data the preprocessor learns from).
        """
        if not isinstance(train, ShapesWorld):
            raise TypeError(f"train: expected a ShapesWorld, got {type(train).__name__}")
        if len(train) == 0:
            raise ValueError("train: expected at least one sample, got an empty dataset")
        self.vocabulary = build_vocabulary(train.captions, self.max_tokens)
        self.audio_scale = float(self._audio(train.audio).std()) or 1.0
        return self

    def transform(self, data: ShapesWorld) -> ModelInputs:
        """Model-ready arrays for ``data``.

        Parameters
        ----------
        data : ShapesWorld
            Any split, transformed with what :meth:`fit` learned.
        """
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
        if not isinstance(config, Mapping):
            raise TypeError(f"config: expected a dict from get_config(), got {type(config).__name__}")
        keys = ("sequence_length", "max_tokens", "frame_length", "frame_step", "vocabulary", "audio_scale")
        missing = [k for k in keys if k not in config]
        if missing:
            raise ValueError(f"config: missing keys {missing}; expected the dict from get_config()")
        prep = cls(
            config["sequence_length"], config["max_tokens"], config["frame_length"], config["frame_step"]
        )
        prep.vocabulary = _check_vocabulary(config["vocabulary"])
        scale = config["audio_scale"]
        if (
            isinstance(scale, bool)
            or not isinstance(scale, (int, float))
            or not (math.isfinite(scale) and scale > 0)
        ):
            raise ValueError(f"config['audio_scale']: expected a finite number > 0, got {scale!r}")
        prep.audio_scale = float(scale)
        return prep


def load_prepared(split_names: Sequence[str] = ("train", "val", "test"), **kwargs) -> dict[str, ModelInputs]:
    """Load the clean bundled dataset, fit a preprocessor on train, transform each split.

    Returns ``{"train": ModelInputs, ..., "preprocessor": ShapesWorldPreprocessor}``.

    Parameters
    ----------
    split_names : sequence of str
        The splits to return.
    **kwargs
        Passed to :class:`ShapesWorldPreprocessor`.
    """
    from mmteach.datasets import load_shapes_world

    split_names = check_str_sequence("split_names", split_names)
    unknown = [s for s in split_names if s not in SPLITS]
    if unknown or not split_names:
        raise ValueError(f"split_names: expected names from {SPLITS}, got {list(split_names)!r}")
    sw = load_shapes_world()
    prep = ShapesWorldPreprocessor(**kwargs).fit(sw.split("train"))
    out: dict = {name: prep.transform(sw.split(name)) for name in split_names}
    out["preprocessor"] = prep
    return out
