"""Public datasets beside Shapes World: scikit-learn's handwritten digits, Keras's MNIST and IMDb.

Everything stays offline: the digits ship with scikit-learn, and MNIST/IMDb are read from a
cache folder (downloaded only with ``download=True``, then checked against their published
SHA-256). ``mmteach.datasets`` re-exports these names.

Examples
--------
>>> (x_train, y_train), (x_test, y_test) = load_digits_images()
>>> x_train.shape[1:], len(x_train) + len(x_test)
((8, 8, 1), 1797)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmteach.constants import SEED
from mmteach.files import DataError, cache_dir, sha256_file
from mmteach.validation import check_bool, check_choice, check_int, check_path, check_real

__all__ = ["KERAS_DATASETS", "load_digits_images", "load_keras_dataset"]


def load_digits_images(test_size: float = 0.25, seed: int = SEED):
    """scikit-learn's bundled handwritten digits (8x8, 1,797 real scans) as image arrays.

    Returns ``(x_train, y_train), (x_test, y_test)`` with images shaped
    ``(n, 8, 8, 1)`` float32 in [0, 1], stratified split.

    Parameters
    ----------
    test_size : float
        Fraction of the digits in the test split, in (0, 1).
    seed : int
        Seeds the stratified split.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    test_size = check_real("test_size", test_size, min_value=0, max_value=1)
    if not 0 < test_size < 1:
        raise ValueError(f"test_size: expected a fraction in (0, 1), got {test_size!r}")
    seed = check_int("seed", seed, min_value=0)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, digits.target, test_size=test_size, random_state=seed, stratify=digits.target
    )
    return (x_tr, y_tr), (x_te, y_te)


# Published checksums of the Keras copies of MNIST and IMDb.
KERAS_DATASETS = {
    "mnist": ("mnist.npz", "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),
    "imdb": ("imdb.npz", "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"),
}


def load_keras_dataset(name: str, cache: str | Path | None = None, download: bool = False):
    """Load MNIST or IMDb (Keras's ``.npz`` copies), from a cache folder.

    Nothing is downloaded unless ``download=True``; then Keras fetches the file
    into ``cache`` and its SHA-256 is checked. Offline and not cached: a clear
    DataError saying what to do.

    Returns ``(x_train, y_train), (x_test, y_test)``.

    Parameters
    ----------
    name : ``"mnist"`` or ``"imdb"``
        Which dataset.
    cache : path, optional
        The folder holding the ``.npz`` file; default ``cache_dir() / "keras"``.
    download : bool
        Fetch the file when it is not cached (needs internet).
    """
    name = check_choice("name", name, sorted(KERAS_DATASETS))
    if cache is not None:
        cache = check_path("cache", cache)
    download = check_bool("download", download)
    filename, digest = KERAS_DATASETS[name]
    folder = Path(cache) if cache is not None else cache_dir() / "keras"
    path = folder / filename
    if not path.is_file():
        if not download:
            raise DataError(
                f"{path}: not cached; call with download=True (needs internet) or copy the file there"
            )
        from keras.utils import get_file

        folder.mkdir(parents=True, exist_ok=True)
        origin = f"https://storage.googleapis.com/tensorflow/tf-keras-datasets/{filename}"
        try:
            get_file(fname=filename, origin=origin, file_hash=digest, cache_dir=str(folder), cache_subdir=".")
        except Exception as exc:  # noqa: BLE001 - any network failure becomes one clear message
            raise DataError(f"{path}: download failed ({exc}); check your connection") from None
    if sha256_file(path) != digest:
        raise DataError(f"{path}: checksum mismatch; delete it and download again")
    # IMDb stores ragged lists of word ids as object arrays, which numpy can only
    # read with pickle: allowed for that one file and only after its checksum
    # matched the published one above.
    with np.load(path, allow_pickle=(name == "imdb")) as z:
        return (z["x_train"], z["y_train"]), (z["x_test"], z["y_test"])
