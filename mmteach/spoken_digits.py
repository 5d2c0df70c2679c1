"""Spoken and written digits: real recordings (FSDD) paired with real handwriting (sklearn).

The course's real audio-visual dataset, built the way MultiBench builds AV-MNIST:

* audio: 2,500 recordings of the Free Spoken Digit Dataset (five speakers, 50 takes of
  each digit, 8 kHz mono WAV of 0.14-2.3 s), shipped in ``data/spoken_digits/`` under
  CC BY-SA 4.0 with a SHA-256 manifest (see the data card there);
* image: scikit-learn's bundled handwritten digits (``load_digits``: 1,797 scans, 8x8);
* pairs: every recording gets a handwritten image of the same digit, drawn from a seed,
  so that no image is in both the training and the test pairs of a split.

:func:`load_spoken_digits` verifies every file against the manifest, decodes the
variable-length WAVs and caches the decoded samples (an ``.npz`` written atomically,
read without pickle). :func:`make_audio_visual_digits` pairs them; :func:`degrade_images`
and :func:`add_noise` are the degradation knobs (principal components, blur, pixel
noise; white noise at a signal-to-noise ratio in dB).

Example
-------
>>> from mmteach.spoken_digits import load_spoken_digits, make_audio_visual_digits
>>> av = make_audio_visual_digits(load_spoken_digits(), seed=0)  # doctest: +SKIP
>>> len(av), av.images.shape[1:]  # doctest: +SKIP
(2500, (8, 8, 1))
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmteach.datasets import DataError, cache_dir, read_manifest, read_wav, sha256_file, write_atomic
from mmteach.validation import check_array, check_int, check_path, check_real

__all__ = [
    "SPEAKERS", "ACCENTS", "SAMPLE_RATE", "TEST_TAKES", "SPLITS", "SpokenDigits", "AudioVisualDigits",
    "default_spoken_digits_root", "verify_spoken_digits", "load_spoken_digits", "pad_or_trim",
    "make_audio_visual_digits", "degrade_images", "add_noise", "snr_db",
]  # fmt: skip

#: The five speakers shipped, with the accent the dataset's metadata gives.
SPEAKERS = ("george", "jackson", "nicolas", "theo", "yweweler")
ACCENTS = {
    "george": "Greek (GRC)",
    "jackson": "US, neutral",
    "nicolas": "French (BEL)",
    "theo": "US, neutral",
    "yweweler": "German (DEU)",
}
SAMPLE_RATE = 8000
#: The dataset's own test set: takes 0-4 of every digit and speaker.
TEST_TAKES = (0, 1, 2, 3, 4)
#: ``"speaker"``: a test speaker is never heard in training; ``"takes"``: takes 0-4 are the test set.
SPLITS = ("speaker", "takes")
CACHE_VERSION = 1
_NAME = re.compile(r"^([0-9])_([a-z]+)_([0-9]+)\.wav$")


# --------------------------------------------------------------------------- checks


def _check_int(name: str, value: object, minimum: int) -> int:
    return check_int(name, value, min_value=minimum)


def _check_number(name: str, value: object, minimum: float | None = None) -> float:
    return check_real(name, value, min_value=minimum)


def _check_images(images: object) -> np.ndarray:
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images: expected a numpy array, got {type(images).__name__}")
    if (
        images.ndim not in (3, 4)
        or images.shape[1:3] != (8, 8)
        or (images.ndim == 4 and images.shape[3] != 1)
    ):
        raise ValueError(f"images: expected shape (n, 8, 8) or (n, 8, 8, 1), got {images.shape}")
    if not np.issubdtype(images.dtype, np.floating) or not np.all(np.isfinite(images)):
        raise ValueError(f"images: expected finite floating-point pixels in [0, 1], got dtype {images.dtype}")
    return images


# --------------------------------------------------------------------------- files


def default_spoken_digits_root() -> Path:
    """The bundled recordings' folder, ``data/spoken_digits`` (``$MMTEACH_SPOKEN_DIGITS`` if set).

    Found next to the package, the same way as Shapes World
    (:func:`mmteach.datasets.default_root`).

    Example
    -------
    >>> default_spoken_digits_root().name  # doctest: +SKIP
    'spoken_digits'
    """
    env = os.environ.get("MMTEACH_SPOKEN_DIGITS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "data" / "spoken_digits"


def _parse_name(name: str, path: Path) -> tuple[int, str, int]:
    match = _NAME.match(name)
    if not match:
        raise DataError(f"{path}: expected a file name '{{digit}}_{{speaker}}_{{take}}.wav', got {name!r}")
    return int(match.group(1)), match.group(2), int(match.group(3))


def verify_spoken_digits(root: str | Path | None = None) -> int:
    """Check every recording against ``MANIFEST.sha256``; return how many were checked.

    The manifest lists ``recordings/`` files by name (``cd recordings && sha256sum -c
    ../MANIFEST.sha256`` checks the same). Raises :class:`~mmteach.datasets.DataError`
    naming the first missing or altered file, or a recording the manifest does not list.

    Example
    -------
    >>> verify_spoken_digits()  # doctest: +SKIP
    2500
    """
    root = check_path("root", root) if root is not None else default_spoken_digits_root()
    entries = read_manifest(root)
    folder = root / "recordings"
    for name, digest in entries.items():
        path = folder / name
        _parse_name(name, path)
        if not path.is_file():
            raise DataError(f"{path}: listed in MANIFEST.sha256 but missing; restore it from git")
        if sha256_file(path) != digest:
            raise DataError(f"{path}: checksum mismatch (file altered or corrupt); restore it from git")
    extra = sorted(p.name for p in folder.glob("*.wav") if p.name not in entries)
    if extra:
        raise DataError(f"{folder / extra[0]}: not listed in MANIFEST.sha256 ({len(extra)} such file(s))")
    return len(entries)


# --------------------------------------------------------------------------- the recordings


@dataclass
class SpokenDigits:
    """Variable-length recordings with their digit, speaker and take.

    Attributes
    ----------
    meta : pandas.DataFrame
        One row per recording: ``file``, ``digit``, ``speaker``, ``take``, ``n_samples``,
        ``seconds``, sorted by speaker, digit and take.
    waveforms : list of numpy.ndarray
        1-D float32 samples in [-1, 1] at 8 kHz, of different lengths.
    """

    meta: pd.DataFrame
    waveforms: list

    def __post_init__(self) -> None:
        if len(self.meta) != len(self.waveforms):
            raise ValueError(
                f"waveforms: expected one per row of meta ({len(self.meta)}), got {len(self.waveforms)}"
            )

    def __len__(self) -> int:
        return len(self.meta)

    @property
    def labels(self) -> np.ndarray:
        """The spoken digit of each recording, ``(n,)`` int64."""
        return self.meta["digit"].to_numpy(dtype=np.int64)

    def subset(self, index: Sequence[int] | np.ndarray) -> SpokenDigits:
        """Rows ``index`` (integer positions or a boolean mask) as a new SpokenDigits."""
        index = np.asarray(index)
        if index.dtype == bool:
            if index.shape != (len(self),):
                raise ValueError(f"index: expected a boolean mask of length {len(self)}, got {index.shape}")
            index = np.flatnonzero(index)
        return SpokenDigits(self.meta.iloc[index].reset_index(drop=True), [self.waveforms[i] for i in index])

    def padded(self, n_samples: int) -> np.ndarray:
        """All recordings zero-padded or trimmed to ``n_samples``: see :func:`pad_or_trim`."""
        return pad_or_trim(self.waveforms, n_samples)


def pad_or_trim(waveforms: Sequence[np.ndarray], n_samples: int) -> np.ndarray:
    """Stack waveforms into ``(n, n_samples)`` float32: zeros after short ones, longer ones cut.

    Example
    -------
    >>> pad_or_trim([np.ones(2, np.float32), np.ones(5, np.float32)], 3)
    array([[1., 1., 0.],
           [1., 1., 1.]], dtype=float32)
    """
    n_samples = _check_int("n_samples", n_samples, 1)
    if isinstance(waveforms, np.ndarray) and waveforms.ndim == 2:
        waveforms = list(waveforms)
    if not isinstance(waveforms, (list, tuple)) or not waveforms:
        raise TypeError(f"waveforms: expected a non-empty list of 1-D arrays, got {type(waveforms).__name__}")
    out = np.zeros((len(waveforms), n_samples), np.float32)
    for i, w in enumerate(waveforms):
        w = np.asarray(w)
        if w.ndim != 1:
            raise ValueError(f"waveforms: expected 1-D arrays, got shape {w.shape} at position {i}")
        k = min(len(w), n_samples)
        out[i, :k] = w[:k]
    return out


def _decode_all(root: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    parts = [read_wav(root / "recordings" / n, sample_rate=SAMPLE_RATE) for n in names]
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    return np.concatenate(parts).astype(np.float32), offsets


def load_spoken_digits(root: str | Path | None = None, *, verify: bool = True) -> SpokenDigits:
    """Load the bundled recordings, checked against their manifest and decoded.

    Every file's SHA-256 is checked (about a tenth of a second), then the decoded samples
    come from a cache keyed by the manifest (``~/.cache/mmteach`` or ``$MMTEACH_CACHE``),
    decoded and cached atomically on the first call. A missing or altered file, a file that
    is not 16-bit mono WAV, or one at another sample rate than 8 kHz raises
    :class:`~mmteach.datasets.DataError` naming the file.

    Parameters
    ----------
    root : path, optional
        Folder with ``MANIFEST.sha256`` and ``recordings/``; default ``data/spoken_digits``.
    verify : bool
        Check the checksums (default True).

    Example
    -------
    >>> sd = load_spoken_digits()  # doctest: +SKIP
    >>> len(sd), sorted(sd.meta["speaker"].unique())[:2]  # doctest: +SKIP
    (2500, ['george', 'jackson'])
    """
    if not isinstance(verify, bool):
        raise TypeError(f"verify: expected a bool, got {type(verify).__name__}")
    root = check_path("root", root) if root is not None else default_spoken_digits_root()
    if verify:
        verify_spoken_digits(root)
    rows = sorted(
        (*_parse_name(n, root / "recordings" / n), n) for n in read_manifest(root)
    )  # (digit, speaker, take, name)
    rows.sort(key=lambda r: (r[1], r[0], r[2]))
    names = [r[3] for r in rows]
    key = hashlib.sha256((root / "MANIFEST.sha256").read_bytes()).hexdigest()[:16]
    cache = cache_dir() / f"spoken_digits-v{CACHE_VERSION}-{key}.npz"
    samples = offsets = None
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                if z["names"].tolist() == names:
                    samples, offsets = z["samples"], z["offsets"]
        except (OSError, ValueError, KeyError):
            cache.unlink(missing_ok=True)  # a damaged cache is rebuilt from the files
    if samples is None:
        samples, offsets = _decode_all(root, names)
        buffer = io.BytesIO()
        np.savez(buffer, names=np.array(names), samples=samples, offsets=offsets)
        try:
            write_atomic(cache, buffer.getvalue())
        except OSError:  # a read-only home folder must not stop the course
            pass
    waveforms = [samples[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    lengths = np.diff(offsets)
    meta = pd.DataFrame(
        {
            "file": names,
            "digit": [r[0] for r in rows],
            "speaker": [r[1] for r in rows],
            "take": [r[2] for r in rows],
            "n_samples": lengths,
            "seconds": lengths / SAMPLE_RATE,
        }
    )
    return SpokenDigits(meta, waveforms)


# --------------------------------------------------------------------------- pairing


@functools.lru_cache(maxsize=1)
def _digit_pool() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32), digits.target.astype(np.int64)


@dataclass
class AudioVisualDigits:
    """Recordings paired with handwritten images of the same digit.

    Attributes
    ----------
    meta : pandas.DataFrame
        The recordings' table (``file, digit, speaker, take, n_samples, seconds``) plus
        ``image_index`` (row of ``sklearn.datasets.load_digits``) and ``group``: the
        speaker (``split="speaker"``) or ``"train"``/``"test"`` (``split="takes"``).
        The images of different groups never overlap.
    waveforms : list of numpy.ndarray
        The recordings (1-D float32, 8 kHz).
    images : numpy.ndarray
        ``(n, 8, 8, 1)`` float32 pixels in [0, 1].
    split : str
        ``"speaker"`` or ``"takes"``.
    """

    meta: pd.DataFrame
    waveforms: list
    images: np.ndarray
    split: str

    def __len__(self) -> int:
        return len(self.meta)

    @property
    def labels(self) -> np.ndarray:
        """The digit of each pair, ``(n,)`` int64 (the spoken and the written digit agree)."""
        return self.meta["digit"].to_numpy(dtype=np.int64)

    @property
    def speakers(self) -> np.ndarray:
        """The speaker of each recording."""
        return self.meta["speaker"].to_numpy()

    def folds(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """``(name, train index, test index)`` of each evaluation fold.

        ``split="speaker"``: leave one speaker out, one fold per speaker, in the order of
        :data:`SPEAKERS` (others after them, by name); ``split="takes"``: one fold, ``"takes 0-4"``.

        Example
        -------
        >>> [name for name, _, _ in av.folds()]  # doctest: +SKIP
        ['george', 'jackson', 'nicolas', 'theo', 'yweweler']
        """
        group = self.meta["group"].to_numpy()
        order = {s: k for k, s in enumerate(SPEAKERS)}
        speakers = sorted(set(group), key=lambda s: (order.get(s, len(order)), s))
        names = speakers if self.split == "speaker" else ["test"]
        for name in names:
            test = group == name
            label = name if self.split == "speaker" else "takes 0-4"
            yield label, np.flatnonzero(~test), np.flatnonzero(test)


def _check_spoken(spoken: object) -> SpokenDigits:
    if spoken is None:
        return load_spoken_digits()
    if not isinstance(spoken, SpokenDigits):
        raise TypeError(
            f"spoken: expected a SpokenDigits (load_spoken_digits()), got {type(spoken).__name__}"
        )
    if len(spoken) == 0:
        raise ValueError("spoken: expected at least one recording, got none")
    return spoken


def make_audio_visual_digits(spoken: SpokenDigits | None = None, *, split: str = "speaker",
                             seed: int = 0) -> AudioVisualDigits:  # fmt: skip
    """Pair every recording with a handwritten image of the same digit, AV-MNIST style.

    The images of each digit are shuffled with ``seed`` and cut into one part per group
    (``split="speaker"``: one group per speaker; ``split="takes"``: takes 0-4 vs the rest),
    in proportion to the group's recordings of that digit. Each recording then gets the
    images of its group's part in turn (an image serves about 1.4 recordings, always of
    its own group). So for any test speaker (or the take split) no image is in both the
    training and the test pairs, and the same seed gives the same pairs.

    Parameters
    ----------
    spoken : SpokenDigits, optional
        The recordings; default :func:`load_spoken_digits`.
    split : {"speaker", "takes"}
        How the images are kept apart (see above and :meth:`AudioVisualDigits.folds`).
    seed : int
        Seed of the pairing.

    Returns
    -------
    AudioVisualDigits

    Example
    -------
    >>> av = make_audio_visual_digits(split="speaker", seed=0)  # doctest: +SKIP
    >>> name, train, test = next(av.folds())  # doctest: +SKIP
    >>> set(av.meta.image_index[train]) & set(av.meta.image_index[test])  # doctest: +SKIP
    set()
    """
    spoken = _check_spoken(spoken)
    if not isinstance(split, str):
        raise TypeError(f"split: expected a str, one of {SPLITS}, got {type(split).__name__}")
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    seed = _check_int("seed", seed, 0)
    pool_images, pool_labels = _digit_pool()
    meta = spoken.meta.reset_index(drop=True).copy()
    if split == "speaker":
        group = meta["speaker"].to_numpy().astype(object)
    else:
        group = np.where(meta["take"].isin(TEST_TAKES), "test", "train").astype(object)
    rng = np.random.default_rng([CACHE_VERSION, seed])
    image_index = np.full(len(meta), -1, np.int64)
    digits = meta["digit"].to_numpy()
    for d in range(10):
        rows = np.flatnonzero(digits == d)
        if len(rows) == 0:
            continue
        pool = rng.permutation(np.flatnonzero(pool_labels == d))
        names, counts = np.unique(group[rows], return_counts=True)
        cuts = np.round(np.cumsum(counts) / counts.sum() * len(pool)).astype(int)
        parts = np.split(pool, cuts[:-1])
        for name, part in zip(names, parts, strict=True):
            if len(part) == 0:
                raise ValueError(f"spoken: too few images of digit {d} for group {name!r}")
            mine = rng.permutation(rows[group[rows] == name])
            image_index[mine] = part[np.arange(len(mine)) % len(part)]
    meta["image_index"] = image_index
    meta["group"] = group.astype(str)
    images = pool_images[image_index][..., None]
    return AudioVisualDigits(meta, list(spoken.waveforms), images, split)


# --------------------------------------------------------------------------- degradation knobs


@functools.lru_cache(maxsize=1)
def _principal_components() -> tuple[np.ndarray, np.ndarray]:
    x = _digit_pool()[0].reshape(-1, 64).astype(np.float64)
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, vt


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    r = np.arange(-3, 4)
    k = np.exp(-(r**2) / (2 * sigma**2))
    k /= k.sum()
    pad = np.pad(x, ((0, 0), (3, 3), (3, 3)), mode="constant")
    rows = sum(k[i] * pad[:, i : i + 8, :] for i in range(7))
    return sum(k[j] * rows[:, :, j : j + 8] for j in range(7))


def degrade_images(images: np.ndarray, *, components: int | None = None, blur: float = 0.0,
                   noise: float = 0.0, seed: int = 0) -> np.ndarray:  # fmt: skip
    """Corrupt 8x8 digit images, the MultiBench way: fewer principal components, blur, noise.

    Applied in this order, each optional:

    * ``components=k``: keep only the first ``k`` of the 64 principal components
      (fitted, without labels, on all 1,797 sklearn digits) and reconstruct;
    * ``blur=sigma``: Gaussian blur of ``sigma`` pixels (7x7 kernel, zeros outside);
    * ``noise=s``: Gaussian pixel noise of standard deviation ``s``.

    The result is clipped to [0, 1]; same shape and dtype as ``images``.

    Example
    -------
    >>> x = np.zeros((2, 8, 8, 1), np.float32)
    >>> degrade_images(x, components=64).shape
    (2, 8, 8, 1)
    """
    images = _check_images(images)
    if components is not None:
        components = _check_int("components", components, 0)
        if components > 64:
            raise ValueError(f"components: expected an int in [0, 64] (8x8 pixels), got {components}")
    blur = _check_number("blur", blur, 0.0)
    noise = _check_number("noise", noise, 0.0)
    seed = _check_int("seed", seed, 0)
    x = images.reshape(len(images), 8, 8).astype(np.float64)
    if components is not None:
        mean, vt = _principal_components()
        flat = x.reshape(len(x), 64) - mean
        x = (flat @ vt[:components].T @ vt[:components] + mean).reshape(-1, 8, 8)
    if blur > 0:
        x = _blur(x, blur)
    if noise > 0:
        x = x + np.random.default_rng(seed).normal(0.0, noise, x.shape)
    return np.clip(x, 0.0, 1.0).reshape(images.shape).astype(images.dtype)


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """Signal-to-noise ratio in dB of ``noisy`` against ``clean``: ``10 log10(P_signal / P_noise)``.

    Example
    -------
    >>> round(snr_db(np.ones(4), np.ones(4) * 1.1), 1)
    20.0
    """
    clean = check_array("clean", clean).astype(np.float64)
    noisy = check_array("noisy", noisy).astype(np.float64)
    if clean.shape != noisy.shape:
        raise ValueError(f"noisy: expected the shape of clean {clean.shape}, got {noisy.shape}")
    p_noise = np.mean((noisy - clean) ** 2)
    if p_noise == 0:
        return float("inf")
    return float(10 * np.log10(np.mean(clean**2) / p_noise))


def add_noise(waveforms, snr: float, *, seed: int = 0):
    """Add white Gaussian noise at ``snr`` dB to each recording (its own power sets the noise's).

    Parameters
    ----------
    waveforms : list of 1-D arrays or a 1-D array
        The recordings, unpadded (padding would dilute the signal's power).
    snr : float
        Signal-to-noise ratio in dB (20: faint hiss; 0: noise as loud as the voice).
    seed : int
        Seed of the noise.

    Returns
    -------
    The same kind of object (list or array), float32, not clipped.

    Example
    -------
    >>> noisy = add_noise(np.sin(np.arange(8000.0)), 10.0)
    >>> round(snr_db(np.sin(np.arange(8000.0)), noisy))
    10
    """
    snr = _check_number("snr", snr)
    seed = _check_int("seed", seed, 0)
    single = isinstance(waveforms, np.ndarray) and waveforms.ndim == 1
    items = [waveforms] if single else waveforms
    if not isinstance(items, (list, tuple)) or not items:
        raise TypeError(
            f"waveforms: expected a list of 1-D arrays or a 1-D array, got {type(waveforms).__name__}"
        )
    rng = np.random.default_rng(seed)
    out = []
    for i, w in enumerate(items):
        w = np.asarray(w, dtype=np.float64)
        if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)):
            raise ValueError(f"waveforms: expected finite non-empty 1-D arrays, got shape {w.shape} at {i}")
        power = np.mean(w**2)
        out.append((w + rng.normal(0.0, np.sqrt(power / 10 ** (snr / 10)), w.shape)).astype(np.float32))
    return out[0] if single else out
