"""The bundled files: where they live, how they are encoded, and their checksums.

Shapes World, the scenes and the spoken digits are shipped as ordinary files (PNG images,
16-bit WAV recordings, CSV tables) with a ``MANIFEST.sha256`` per folder. This module
reads and writes those files and checks them: every loader of :mod:`mmteach.datasets`,
:mod:`mmteach.scenes` and :mod:`mmteach.spoken_digits` goes through it, and
``mmteach.datasets`` re-exports every name (``datasets.read_png`` works as before).

Examples
--------
>>> import numpy as np
>>> data = encode_wav(np.zeros(4))
>>> data[:4], len(data)  # a RIFF header and 4 samples of 2 bytes
(b'RIFF', 52)
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import wave
from pathlib import Path

import numpy as np

from mmteach.constants import SAMPLE_RATE
from mmteach.validation import check_array, check_int, check_path, check_str, describe

__all__ = [
    "DataError",
    "cache_dir",
    "default_root",
    "encode_png",
    "encode_wav",
    "read_checked",
    "read_manifest",
    "read_png",
    "read_wav",
    "restore_hint",
    "sha256_file",
    "verify_snapshot",
    "write_atomic",
]


class DataError(RuntimeError):
    """A bundled or cached data file is missing, corrupt or does not match its checksum."""


def default_root() -> Path:
    """The bundled snapshot folder (``$MMTEACH_DATA`` if set)."""
    env = os.environ.get("MMTEACH_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "data" / "shapes_world"


def cache_dir() -> Path:
    """Where decoded arrays are cached (``$MMTEACH_CACHE`` or ``~/.cache/mmteach``)."""
    env = os.environ.get("MMTEACH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "mmteach"


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a ``(h, w, 3)`` uint8 image.

    Parameters
    ----------
    image : numpy.ndarray
        ``(h, w, 3)`` uint8.
    """
    from PIL import Image

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image: expected a (h, w, 3) uint8 array, got {image.shape} {image.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buffer, format="PNG", optimize=False, compress_level=9)
    return buffer.getvalue()


def read_png(path: str | Path) -> np.ndarray:
    """Decode a PNG file into a ``(h, w, 3)`` uint8 array; a clear DataError otherwise.

    Parameters
    ----------
    path : str or path
        The file.
    """
    from PIL import Image, UnidentifiedImageError

    path = check_path("path", path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    try:
        with Image.open(path) as img:
            if img.format != "PNG":
                raise DataError(f"{path}: expected a PNG image, got {img.format}")
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from None


def encode_wav(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """16-bit mono PCM WAV bytes of a float waveform in [-1, 1].

    Parameters
    ----------
    waveform : numpy.ndarray
        1-d float samples in [-1, 1] (clipped).
    sample_rate : int
        Samples per second written in the header.
    """
    waveform = check_array("waveform", waveform, ndim=1, non_empty=False, dtype=np.float64)
    sample_rate = check_int("sample_rate", sample_rate, min_value=1)
    pcm = np.round(np.clip(waveform, -1, 1) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return buffer.getvalue()


def read_wav(path: str | Path, sample_rate: int | None = SAMPLE_RATE) -> np.ndarray:
    """Decode a 16-bit mono WAV file into float32 in [-1, 1].

    Raises DataError naming the file if it is missing, not a WAV file, not
    16-bit mono, or (when ``sample_rate`` is given) recorded at another rate.

    Parameters
    ----------
    path : str or path
        The file.
    sample_rate : int, optional
        The rate the file must have (None: any).
    """
    path = check_path("path", path)
    if sample_rate is not None:
        sample_rate = check_int("sample_rate", sample_rate, min_value=1)
    if not path.is_file():
        raise DataError(f"{path}: audio file not found")
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise DataError(f"{path}: not a readable WAV file ({exc})") from None
    if channels != 1 or width != 2:
        raise DataError(f"{path}: expected 16-bit mono, got {channels} channel(s) of {8 * width} bit")
    if sample_rate is not None and rate != sample_rate:
        raise DataError(f"{path}: expected a sample rate of {sample_rate} Hz, got {rate} Hz")
    return (np.frombuffer(frames, dtype="<i2") / 32767.0).astype(np.float32)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file.

    Parameters
    ----------
    path : str or path
        The file.
    """
    path = check_path("path", path, must_exist=True, kind="file")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so a reader never sees half a file.

    Parameters
    ----------
    path : str or path
        The file.
    data : bytes
        The whole content.

    Example
    -------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "example.txt"
    >>> write_atomic(path, b"hello")
    >>> path.read_bytes()
    b'hello'
    """
    path = check_path("path", path)
    if not isinstance(data, bytes):
        raise TypeError(f"data: expected bytes, got {describe(data)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def restore_hint(path: str | Path) -> str:
    """The command that restores a bundled file: ``git checkout`` in a clone, else a rebuild.

    Parameters
    ----------
    path : str or path
        A bundled file.

    Example
    -------
    >>> restore_hint(default_root() / "metadata.csv")  # in a clone of the repository
    'restore it with `git checkout -- data/shapes_world/metadata.csv` or rebuild with `mmteach data build`'
    """
    path = check_path("path", path).resolve()
    repo = Path(__file__).resolve().parent.parent
    rebuild = "rebuild with `mmteach data build`"
    if path.is_relative_to(repo / "data"):
        return f"restore it with `git checkout -- {path.relative_to(repo).as_posix()}` or {rebuild}"
    return rebuild


def read_checked(root: str | Path, name: str) -> bytes:
    """The bytes of the snapshot file ``root / name``, checked against its ``MANIFEST.sha256`` entry.

    Called on every load of the small bundled tables (hashing them takes milliseconds),
    so an edited or damaged file never slips past a cache. A DataError names the file
    and the command that restores it.

    Parameters
    ----------
    root : str or path
        The snapshot folder (with its ``MANIFEST.sha256``).
    name : str
        The file's path relative to ``root``, as listed in the manifest.

    Example
    -------
    >>> len(read_checked(default_root(), "metadata.csv")) > 0  # doctest: +SKIP
    True
    """
    root = check_path("root", root)
    path = root / check_str("name", name)
    entries = read_manifest(root)
    if name not in entries:
        raise DataError(f"{path}: not listed in MANIFEST.sha256; {restore_hint(path)}")
    if not path.is_file():
        raise DataError(f"{path}: file not found; {restore_hint(path)}")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != entries[name]:
        raise DataError(f"{path}: checksum mismatch (file altered or corrupt); {restore_hint(path)}")
    return data


def read_manifest(root: str | Path | None = None) -> dict[str, str]:
    """``{relative path: sha256}`` from ``MANIFEST.sha256``.

    Parameters
    ----------
    root : str or path, optional
        The snapshot folder; default :func:`default_root`.
    """
    root = check_path("root", root) if root is not None else default_root()
    path = root / "MANIFEST.sha256"
    if not path.is_file():
        raise DataError(f"{path}: manifest not found; run `mmteach data build` or restore data/")
    entries = {}
    for k, line in enumerate(path.read_text().splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise DataError(f"{path}: line {k} is not '<sha256>  <file>'")
        entries[name] = digest
    return entries


def verify_snapshot(root: str | Path | None = None) -> int:
    """Check every file of the snapshot against its checksum; return how many were checked.

    Raises DataError naming the first missing or altered file.

    Parameters
    ----------
    root : str or path, optional
        The snapshot folder; default :func:`default_root`.
    """
    root = check_path("root", root) if root is not None else default_root()
    entries = read_manifest(root)
    for name, digest in entries.items():
        path = root / name
        if not path.is_file():
            raise DataError(f"{path}: listed in MANIFEST.sha256 but missing; {restore_hint(path)}")
        if sha256_file(path) != digest:
            raise DataError(f"{path}: checksum mismatch (file altered or corrupt); {restore_hint(path)}")
    return len(entries)
