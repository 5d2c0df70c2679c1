"""Shapes World: the course's dataset, plus loaders for small real datasets.

Shapes World is generated here (deterministically, vectorised with numpy) and
shipped as a snapshot of real files in ``data/shapes_world/``: PNG images, WAV
audio, a raw ``metadata.csv`` with planted quality problems, and a SHA-256
manifest. Each sample is one object with a shape, colour, size, position and
material; its class is ``(shape, material)``, 9 classes:

* the image shows shape, colour and size but never the material;
* the audio "tap" carries the material (and a little of the size) but not the shape;
* the caption names the shape only half of the time and the material most of the time.

So no single modality can reach high accuracy, and their fusion can.

Example
-------
>>> from mmteach.datasets import make_shapes_world
>>> sw = make_shapes_world(8, seed=0)
>>> sw.images.shape, sw.audio.shape, len(sw.meta)
((8, 32, 32, 3), (8, 2000), 8)
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmteach.cleaning import RANGES, clean_metadata, normalise_category, scrub_pii  # noqa: F401 (API)
from mmteach.constants import (  # noqa: F401 (defined once there, part of this module's API too)
    AUDIO_SAMPLES,
    CATEGORIES,
    CLASS_NAMES,
    COLOURS,
    IMAGE_SIZE,
    MATERIALS,
    METADATA_COLUMNS,
    N_SAMPLES,
    SAMPLE_RATE,
    SEED,
    SHAPES,
    SIZES,
    SPLITS,
)
from mmteach.files import (  # noqa: F401 (the bundled files: part of this module's API too)
    DataError,
    cache_dir,
    default_root,
    encode_png,
    encode_wav,
    read_checked,
    read_manifest,
    read_png,
    read_wav,
    restore_hint,
    sha256_file,
    verify_snapshot,
    write_atomic,
)
from mmteach.public_datasets import KERAS_DATASETS, load_digits_images, load_keras_dataset  # noqa: F401
from mmteach.validation import (
    check_instance,
    check_int,
    check_path,
    check_real,
    describe,
)

GENERATOR_VERSION = 1
_BLOCK = 100  # samples are generated in blocks so that make_shapes_world(n) is a prefix of (m > n)


# --------------------------------------------------------------------------- container


@dataclass
class ShapesWorld:
    """Aligned modalities of Shapes World samples.

    Attributes
    ----------
    meta : pandas.DataFrame
        One row per sample (id, split, attributes, captions, file names and, once
        clean, ``label`` and ``label_name``).
    images : numpy.ndarray
        ``(n, 32, 32, 3)`` uint8 RGB images.
    audio : numpy.ndarray
        ``(n, 2000)`` float32 waveforms in [-1, 1] at 8 kHz.
    """

    meta: pd.DataFrame
    images: np.ndarray
    audio: np.ndarray

    def __post_init__(self) -> None:
        check_instance("meta", self.meta, pd.DataFrame)
        for name in ("images", "audio"):
            check_instance(name, getattr(self, name), np.ndarray)
        n = len(self.meta)
        if self.images.shape[0] != n or self.audio.shape[0] != n:
            raise ValueError(
                f"meta, images and audio must have the same length, got "
                f"{n}, {self.images.shape[0]} and {self.audio.shape[0]}"
            )

    def __len__(self) -> int:
        return len(self.meta)

    @property
    def labels(self) -> np.ndarray:
        """Integer class labels (index into ``CLASS_NAMES``)."""
        if "label" not in self.meta:
            raise KeyError("meta has no 'label' column: load the clean dataset")
        return self.meta["label"].to_numpy(dtype=np.int64)

    @property
    def captions(self) -> list[str]:
        """English captions."""
        return self.meta["caption_en"].fillna("").astype(str).tolist()

    @property
    def captions_zh(self) -> list[str]:
        """Chinese captions (parallel to the English ones)."""
        return self.meta["caption_zh"].fillna("").astype(str).tolist()

    def subset(self, index: Sequence[int] | np.ndarray) -> ShapesWorld:
        """Rows ``index`` (integer positions or a boolean mask) as a new ShapesWorld.

        Parameters
        ----------
        index : sequence of int or bool mask
            The rows to keep.
        """
        if index is None or isinstance(index, (str, bytes)):
            raise TypeError(f"index: expected integer positions or a boolean mask, got {describe(index)}")
        index = np.asarray(index)
        if index.dtype == bool:
            if index.shape != (len(self),):
                raise ValueError(
                    f"index: expected a boolean mask of length {len(self)}, got shape {index.shape}"
                )
            index = np.flatnonzero(index)
        elif index.ndim != 1 or index.size == 0:
            raise ValueError(f"index: expected at least one position (1-D), got shape {index.shape}")
        elif not np.issubdtype(index.dtype, np.integer):
            raise TypeError(f"index: expected integer positions or a boolean mask, got dtype {index.dtype}")
        elif index.min() < -len(self) or index.max() >= len(self):
            raise ValueError(f"index: expected positions in [0, {len(self)}), got {index.tolist()[:5]}")
        return ShapesWorld(
            self.meta.iloc[index].reset_index(drop=True), self.images[index], self.audio[index]
        )

    def split(self, name: str) -> ShapesWorld:
        """The ``train``, ``val`` or ``test`` part.

        Parameters
        ----------
        name : ``"train"``, ``"val"`` or ``"test"``
            The split.
        """
        if name not in SPLITS:
            raise ValueError(f"name: expected one of {SPLITS}, got {name!r}")
        return self.subset(self.meta["split"].to_numpy() == name)


# --------------------------------------------------------------------------- generator


def make_shapes_world(
    n: int,
    seed: int = SEED,
    *,
    image_noise: float = 0.10,
    audio_noise: float = 0.20,
) -> ShapesWorld:
    """Generate ``n`` clean Shapes World samples, deterministically.

    Samples are made in blocks of 100 from ``(seed, block)``, so the first ``k``
    samples are the same whatever ``n`` is.

    Parameters
    ----------
    n : int
        Number of samples (>= 1).
    seed : int
        Seed; the same seed and generator version give identical data.
    image_noise : float
        Standard deviation of the pixel noise (pixels in [0, 1]).
    audio_noise : float
        Standard deviation of the white noise added to the tap (peak about 1).

    Returns
    -------
    ShapesWorld
        With ``label`` and ``label_name`` in ``meta``.

    Example
    -------
    >>> sw = make_shapes_world(4, seed=1)
    >>> sorted(sw.meta["split"].unique()) <= ["test", "train", "val"]
    True
    """
    n, seed = check_int("n", n, min_value=1), check_int("seed", seed, min_value=0)
    image_noise = check_real("image_noise", image_noise, min_value=0)
    audio_noise = check_real("audio_noise", audio_noise, min_value=0)
    parts = []
    for block in range(-(-int(n) // _BLOCK)):
        rng = np.random.default_rng([GENERATOR_VERSION, int(seed), block])
        parts.append(_make_block(rng, block * _BLOCK, image_noise, audio_noise))
    meta = pd.concat([p[0] for p in parts], ignore_index=True).iloc[:n]
    images = np.concatenate([p[1] for p in parts])[:n]
    audio = np.concatenate([p[2] for p in parts])[:n]
    return ShapesWorld(meta.reset_index(drop=True), images, audio)


def _make_block(rng: np.random.Generator, start: int, image_noise: float, audio_noise: float):
    m = _BLOCK
    shape = rng.integers(0, len(SHAPES), m)
    material = rng.integers(0, len(MATERIALS), m)
    colour = rng.integers(0, len(COLOURS), m)
    size = rng.integers(0, len(SIZES), m)
    radius = np.where(size == 0, rng.uniform(5.5, 7.0, m), rng.uniform(7.0, 9.0, m))
    cx = rng.uniform(radius + 1.0, IMAGE_SIZE - radius - 1.0)
    cy = rng.uniform(radius + 1.0, IMAGE_SIZE - radius - 1.0)
    rotation = rng.uniform(-15.0, 15.0, m)
    split = rng.choice(len(SPLITS), size=m, p=[0.7, 0.1, 0.2])
    images = _render_images(rng, shape, colour, radius, cx, cy, rotation, image_noise)
    audio = _render_taps(rng, material, size, audio_noise)
    en, zh = _captions(rng, shape, material, colour, size)
    ids = [f"sw_{i:05d}" for i in range(start, start + m)]
    meta = pd.DataFrame(
        {
            "id": ids,
            "split": np.asarray(SPLITS)[split],
            "shape": np.asarray(SHAPES)[shape],
            "colour": np.asarray(COLOURS)[colour],
            "size": np.asarray(SIZES)[size],
            "radius_px": np.round(radius, 1),
            "x": np.round(cx, 1),
            "y": np.round(cy, 1),
            "rotation_deg": np.round(rotation, 1),
            "material": np.asarray(MATERIALS)[material],
            "caption_en": en,
            "caption_zh": zh,
            "image": [f"images/{i}.png" for i in ids],
            "audio": [f"audio/{i}.wav" for i in ids],
        }
    )
    meta["label"] = shape * len(MATERIALS) + material
    meta["label_name"] = np.asarray(CLASS_NAMES)[meta["label"]]
    return meta, images, audio


#: RGB (0-1) of each of ``COLOURS``, shared by Shapes World and the scenes
COLOUR_RGB = np.array([[0.85, 0.15, 0.15], [0.20, 0.70, 0.20], [0.20, 0.30, 0.85], [0.90, 0.85, 0.15]])


def _render_images(rng, shape, colour, radius, cx, cy, rotation, noise) -> np.ndarray:
    """Anti-aliased shapes on a noisy grey background, via signed distances."""
    m = len(shape)
    grid = np.arange(IMAGE_SIZE) + 0.5
    dx = grid[None, None, :] - cx[:, None, None]
    dy = grid[None, :, None] - cy[:, None, None]
    theta = np.deg2rad(rotation)[:, None, None]
    u = np.cos(theta) * dx + np.sin(theta) * dy
    v = -np.sin(theta) * dx + np.cos(theta) * dy
    r = radius[:, None, None]
    d_circle = np.hypot(u, v) - r
    d_square = np.maximum(np.abs(u), np.abs(v)) - 0.82 * r
    # Equilateral triangle pointing up, circumradius 1.2 r: inradius 0.6 r.
    normals = [(0.0, 1.0), (np.sqrt(3) / 2, -0.5), (-np.sqrt(3) / 2, -0.5)]
    d_triangle = np.max([nx * u + ny * v for nx, ny in normals], axis=0) - 0.6 * r
    dist = np.choose(shape[:, None, None], [d_circle, d_square, d_triangle])
    alpha = np.clip(0.5 - dist, 0.0, 1.0)[..., None]
    fg = np.clip(COLOUR_RGB[colour] + rng.uniform(-0.08, 0.08, (m, 3)), 0, 1)[:, None, None, :]
    bg = rng.uniform(0.35, 0.65, (m, 1, 1, 1))
    img = bg * (1 - alpha) + fg * alpha + rng.normal(0.0, noise, (m, IMAGE_SIZE, IMAGE_SIZE, 3))
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


# Material timbre: (base frequency Hz, partial ratios, partial amplitudes, decay s).
_TIMBRE = {
    0: (900.0, (1.0, 2.76, 4.07), (1.0, 0.6, 0.4), 0.12),  # metal: high, long, inharmonic
    1: (480.0, (1.0, 2.0, 3.0), (1.0, 0.3, 0.1), 0.030),  # wood: mid, short
    2: (170.0, (1.0, 2.0, 3.0), (1.0, 0.2, 0.05), 0.012),  # rubber: low, very short
}


def _render_taps(rng, material, size, noise) -> np.ndarray:
    """A damped-sinusoid "tap" per sample whose timbre depends on the material."""
    m = len(material)
    t = np.arange(AUDIO_SAMPLES) / SAMPLE_RATE
    f0 = np.array([_TIMBRE[k][0] for k in material]) * np.where(size == 1, 0.8, 1.0)
    f0 *= rng.uniform(0.85, 1.15, m)
    tau = np.array([_TIMBRE[k][3] for k in material]) * rng.uniform(0.7, 1.3, m)
    onset = rng.uniform(0.0, 0.04, m)
    gain = rng.uniform(0.5, 1.0, m)
    phase = rng.uniform(0, 2 * np.pi, (m, 3))
    ratios = np.array([_TIMBRE[k][1] for k in material])
    amps = np.array([_TIMBRE[k][2] for k in material])
    freqs = f0[:, None] * ratios
    amps = np.where(freqs < 0.48 * SAMPLE_RATE, amps, 0.0)  # nothing above Nyquist
    tt = np.clip(t[None, :] - onset[:, None], 0.0, None)
    active = (t[None, :] >= onset[:, None]).astype(float)
    tone = np.einsum(
        "mk,mkt->mt", amps, np.sin(2 * np.pi * freqs[:, :, None] * tt[:, None, :] + phase[:, :, None])
    )
    wave_ = gain[:, None] * active * np.exp(-tt / tau[:, None]) * tone / amps.sum(1, keepdims=True)
    wave_ += rng.normal(0.0, noise, (m, AUDIO_SAMPLES))
    # Quantise exactly as the 16-bit WAV file will, so generated == decoded.
    pcm = np.round(np.clip(wave_, -1.0, 1.0) * 32767).astype(np.int16)
    return (pcm / 32767.0).astype(np.float32)


#: the English words of the caption templates, by role (shape, colour, ...) and category id
CAPTION_WORDS = {
    "shape": {0: ["circle", "disc", "round shape"], 1: ["square", "block", "box"],
              2: ["triangle", "wedge", "three-sided shape"]},
    "unnamed": ["thing", "object", "item", "shape"],
    "material_adj": {0: ["metal", "steel", "metallic"], 1: ["wooden", "wood", "oak"],
                     2: ["rubber", "rubbery", "elastic"]},
    "material_noun": {0: ["metal", "steel"], 1: ["wood", "oak"], 2: ["rubber", "latex"]},
    "colour": {0: ["red", "crimson"], 1: ["green", "lime"], 2: ["blue", "navy"], 3: ["yellow", "golden"]},
    "size": {0: ["small", "little", "tiny"], 1: ["large", "big", "huge"]},
    "prefix": ["", "", "there is ", "i see ", "this is ", "a photo of "],
}  # fmt: skip
#: the Chinese of every English caption word (the parallel captions and the translator use it)
CHINESE_WORDS = {
    "circle": "圆形", "disc": "圆盘", "round shape": "圆形", "square": "正方形", "block": "方块",
    "box": "方盒", "triangle": "三角形", "wedge": "楔形", "three-sided shape": "三角形",
    "thing": "东西", "object": "物体", "item": "物品", "shape": "形状",
    "metal": "金属", "steel": "钢", "metallic": "金属", "wooden": "木制", "wood": "木头",
    "oak": "橡木", "rubber": "橡胶", "rubbery": "橡胶", "elastic": "弹性", "latex": "乳胶",
    "red": "红色", "crimson": "深红色", "green": "绿色", "lime": "青绿色", "blue": "蓝色",
    "navy": "深蓝色", "yellow": "黄色", "golden": "金黄色", "small": "小", "little": "小",
    "tiny": "很小", "large": "大", "big": "大", "huge": "巨大",
    "": "", "there is ": "有", "i see ": "我看到", "this is ": "这是", "a photo of ": "一张照片：",
}  # fmt: skip


def _captions(rng, shape, material, colour, size) -> tuple[list[str], list[str]]:
    """English captions from templates (with synonyms and omissions) and their Chinese twins."""
    EN, ZH = CAPTION_WORDS, CHINESE_WORDS  # short names keep the templates readable
    m = len(shape)
    name_shape = rng.random(m) < 0.5
    name_material = rng.random(m) < 0.8
    ambiguous = rng.random(m) < 0.10
    name_colour = rng.random(m) < 0.6
    name_size = rng.random(m) < 0.4
    typo = rng.random(m) < 0.05
    other = (material + rng.integers(1, len(MATERIALS), m)) % len(MATERIALS)
    picks = rng.integers(0, 1 << 30, (m, 8))
    en_out, zh_out = [], []
    for i in range(m):

        def pick(options, j, row=picks[i]):
            return options[row[j] % len(options)]

        prefix = pick(EN["prefix"], 0)
        size_w = pick(EN["size"][size[i]], 1) if name_size[i] else ""
        colour_w = pick(EN["colour"][colour[i]], 2) if name_colour[i] else ""
        shape_w = pick(EN["shape"][shape[i]], 3) if name_shape[i] else pick(EN["unnamed"], 3)
        adjectives = [w for w in (size_w, colour_w) if w]
        zh_adj = "".join(f"{ZH[w]}的" for w in adjectives)
        if ambiguous[i]:  # "made of steel or rubber": two candidates, one of them right
            pair = [pick(EN["material_noun"][material[i]], 4), pick(EN["material_noun"][other[i]], 5)]
            if picks[i, 6] % 2:
                pair.reverse()
            words = " ".join([*adjectives, shape_w])
            en = f"{_article(words)} {words} made of {pair[0]} or {pair[1]}"
            zh = f"一个{zh_adj}{ZH[shape_w]}，由{ZH[pair[0]]}或{ZH[pair[1]]}制成"
        elif name_material[i]:
            mat_w = pick(EN["material_adj"][material[i]], 4)
            if picks[i, 7] % 2:
                words = " ".join([*adjectives, mat_w, shape_w])
                en = f"{_article(words)} {words}"
                zh = f"一个{zh_adj}{ZH[mat_w]}{ZH[shape_w]}"
            else:
                noun = pick(EN["material_noun"][material[i]], 5)
                words = " ".join([*adjectives, shape_w])
                en = f"{_article(words)} {words} made of {noun}"
                zh = f"一个由{ZH[noun]}制成的{zh_adj}{ZH[shape_w]}"
        else:
            words = " ".join([*adjectives, shape_w])
            en = f"{_article(words)} {words}"
            zh = f"一个{zh_adj}{ZH[shape_w]}"
        if prefix == "a photo of ":
            en, zh = prefix + en, ZH[prefix] + zh
        elif prefix:
            en, zh = prefix + en, ZH[prefix] + zh
        if typo[i]:
            en = _typo(en, picks[i, 0])
        en_out.append(en)
        zh_out.append(zh)
    return en_out, zh_out


def _article(words: str) -> str:
    return "an" if words[:1] in "aeiou" else "a"


def _typo(text: str, pick: int) -> str:
    """Swap two adjacent letters inside one word of four or more letters."""
    words = text.split(" ")
    long_words = [k for k, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not long_words:
        return text
    k = long_words[pick % len(long_words)]
    w = words[k]
    j = 1 + (pick // 7) % (len(w) - 2)
    words[k] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


# --------------------------------------------------------------------------- planted problems


def plant_problems(meta: pd.DataFrame, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn clean metadata into the raw table of the cleaning lesson.

    Plants missing values, duplicates, inconsistent spellings, out-of-range
    numbers, references to missing files, empty captions and fake personal data
    (e-mail addresses and phone numbers) in captions.

    Parameters
    ----------
    meta : pandas.DataFrame
        Clean metadata (``make_shapes_world(n).meta``).
    seed : int
        Seeds where the problems go.

    Returns
    -------
    raw : pandas.DataFrame
        The table written to ``metadata.csv`` (no label columns).
    log : pandas.DataFrame
        One row per planted problem: ``id``, ``column``, ``problem``, ``value``.
    """
    check_instance("meta", meta, pd.DataFrame, " (e.g. make_shapes_world(n).meta)")
    seed = check_int("seed", seed, min_value=0)
    rng = np.random.default_rng([GENERATOR_VERSION, seed, 10**6])
    raw = meta.loc[:, list(METADATA_COLUMNS)].copy()
    raw = raw.astype({"radius_px": float, "x": float, "y": float})
    log: list[tuple[str, str, str, str]] = []
    n = len(raw)
    order = rng.permutation(n)
    cursor = 0

    def take(k: int) -> np.ndarray:
        nonlocal cursor
        rows = order[cursor : cursor + k]
        cursor += k
        return rows

    def scaled(k: int) -> int:
        return max(1, round(k * n / N_SAMPLES))

    for column, k in (("colour", 30), ("x", 20), ("material", 15), ("shape", 5)):
        for r in take(scaled(k)):
            log.append((raw.at[r, "id"], column, "missing value", ""))
            raw.at[r, column] = np.nan
    variants = {
        "shape": lambda v: [v.capitalize(), v.upper(), f" {v}", f"{v} "],
        "material": lambda v: [v.capitalize(), v.upper(), f"{v} ", "wooden" if v == "wood" else v.title()],
        "colour": lambda v: [v.capitalize(), v.upper(), f"{v} "],
    }
    for column, k in (("shape", 60), ("material", 60), ("colour", 30)):
        for j, r in enumerate(take(scaled(k))):
            options = variants[column](raw.at[r, column])
            raw.at[r, column] = options[j % len(options)]
            log.append((raw.at[r, "id"], column, "inconsistent spelling", raw.at[r, column]))
    for column, bad in (("radius_px", (-1.0, 99.0)), ("x", (250.0, -40.0))):
        for j, r in enumerate(take(scaled(6))):
            raw.at[r, column] = bad[j % 2]
            log.append((raw.at[r, "id"], column, "out of range", str(bad[j % 2])))
    for r in take(scaled(5)):
        log.append((raw.at[r, "id"], "caption_en", "empty caption", ""))
        raw.at[r, "caption_en"] = ""
    contacts = [" - contact anna.li@example.com", " call 555-0142-7788", " email me: j.doe@example.org",
                " phone +1 555 0100 2345"]  # fmt: skip
    for j, r in enumerate(take(scaled(8))):
        raw.at[r, "caption_en"] = raw.at[r, "caption_en"] + contacts[j % len(contacts)]
        log.append((raw.at[r, "id"], "caption_en", "personal data", contacts[j % len(contacts)].strip()))
    # References to files that do not exist: copies of real rows under new ids.
    ghosts = raw.iloc[take(2)].copy()
    ghost_ids = [f"sw_{n + 900 + j:05d}" for j in range(len(ghosts))]
    ghosts["id"] = ghost_ids
    ghosts["image"] = [f"images/{i}.png" for i in ghost_ids]
    ghosts["audio"] = [f"audio/{i}.wav" for i in ghost_ids]
    log += [(i, "image", "missing file", f"images/{i}.png") for i in ghost_ids]
    dups = raw.iloc[take(scaled(24))]
    log += [(i, "*", "duplicate row", "") for i in dups["id"]]
    raw = pd.concat([raw, ghosts, dups], ignore_index=True)
    # Shuffle the appended rows in, keeping the original rows in order.
    position = np.concatenate([np.arange(n), rng.uniform(0, n, len(raw) - n)])
    raw = raw.iloc[np.argsort(position, kind="stable")].reset_index(drop=True)
    return raw, pd.DataFrame(log, columns=["id", "column", "problem", "value"])


# --------------------------------------------------------------------------- the snapshot


def build_snapshot(root: str | Path | None = None, n: int = N_SAMPLES, seed: int = SEED) -> Path:
    """Write the Shapes World snapshot (files, raw metadata, planted-problem log, manifest).

    The data card ``README.md`` is written by hand and left alone.

    Parameters
    ----------
    root : str or path, optional
        The snapshot folder; default the bundled one.
    n : int
        Number of samples.
    seed : int
        Seeds the generator and the planted problems.

    Example
    -------
    >>> build_snapshot("/tmp/sw", n=20)  # doctest: +SKIP
    """
    root = check_path("root", root) if root is not None else default_root()
    sw = make_shapes_world(n, seed=seed)
    raw, log = plant_problems(sw.meta, seed=seed)
    for folder in ("images", "audio"):
        if (root / folder).is_dir():  # stale files from another n would break the manifest
            for old in (root / folder).iterdir():
                old.unlink()
    for i, row in enumerate(sw.meta.itertuples()):
        write_atomic(root / row.image, encode_png(sw.images[i]))
        write_atomic(root / row.audio, encode_wav(sw.audio[i]))
    write_atomic(root / "metadata.csv", raw.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    write_atomic(root / "planted_problems.csv", log.to_csv(index=False, lineterminator="\n").encode())
    files = sorted(
        [*(root / "images").glob("*.png"), *(root / "audio").glob("*.wav"),
         root / "metadata.csv", root / "planted_problems.csv"]
    )  # fmt: skip
    lines = [f"{sha256_file(p)}  {p.relative_to(root).as_posix()}\n" for p in files]
    write_atomic(root / "MANIFEST.sha256", "".join(lines).encode())
    return root


def load_raw_metadata(root: str | Path | None = None) -> pd.DataFrame:
    """The raw ``metadata.csv`` exactly as shipped, planted problems included.

    Parameters
    ----------
    root : str or path, optional
        The snapshot folder; default the bundled one.
    """
    root = check_path("root", root) if root is not None else default_root()
    data = read_checked(root, "metadata.csv")
    return pd.read_csv(
        io.BytesIO(data), keep_default_na=False, na_values=[""], dtype={"caption_en": str, "caption_zh": str}
    )


def _decoded_arrays(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ids, images and audio of every sample file, from the cache or decoded (and checked)."""
    manifest = root / "MANIFEST.sha256"
    key = hashlib.sha256(manifest.read_bytes()).hexdigest()[:16] if manifest.is_file() else None
    if key is None:
        raise DataError(f"{manifest}: manifest not found; run `mmteach data build` or restore data/")
    cache = cache_dir() / f"shapes_world-v{GENERATOR_VERSION}-{key}.npz"
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                return z["ids"], z["images"], z["audio"]
        except (OSError, ValueError, KeyError):
            cache.unlink(missing_ok=True)  # a damaged cache is rebuilt from the files
    verify_snapshot(root)
    names = sorted(n for n in read_manifest(root) if n.startswith("images/"))
    ids = np.array([Path(n).stem for n in names])
    images = np.stack([read_png(root / "images" / f"{i}.png") for i in ids])
    audio = np.stack([read_wav(root / "audio" / f"{i}.wav") for i in ids])
    buffer = io.BytesIO()
    np.savez(buffer, ids=ids, images=images, audio=audio)
    try:
        write_atomic(cache, buffer.getvalue())
    except OSError:  # a read-only home folder must not stop the course
        pass
    return ids, images, audio


def load_shapes_world(root: str | Path | None = None, split: str | None = None) -> ShapesWorld:
    """Load the bundled snapshot, cleaned by the data card's rules (see ``clean_metadata``).

    The first call verifies every file's checksum and caches the decoded arrays;
    later calls take well under a second.

    Parameters
    ----------
    root : path, optional
        Snapshot folder; default ``data/shapes_world`` (or ``$MMTEACH_DATA``).
    split : {"train", "val", "test"}, optional
        Return only this split.

    Example
    -------
    >>> sw = load_shapes_world(split="train")  # doctest: +SKIP
    >>> sw.images.shape[1:]  # doctest: +SKIP
    (32, 32, 3)
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS} or None, got {split!r}")
    root = check_path("root", root) if root is not None else default_root()
    ids, images, audio = _decoded_arrays(root)
    meta = clean_metadata(load_raw_metadata(root), set(ids.tolist()))
    position = pd.Series(np.arange(len(ids)), index=ids)
    index = position.loc[meta["id"]].to_numpy()
    sw = ShapesWorld(meta, images[index], audio[index])
    return sw.split(split) if split else sw


# --------------------------------------------------------------------------- real datasets


# --------------------------------------------------------------------------- what each modality can tell


def _word_pattern(words) -> re.Pattern:
    return re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")\b")


_SHAPE_WORDS = {k: _word_pattern(v) for k, v in CAPTION_WORDS["shape"].items()}
_MATERIAL_WORDS = {
    k: _word_pattern(set(CAPTION_WORDS["material_adj"][k]) | set(CAPTION_WORDS["material_noun"][k]))
    for k in range(len(MATERIALS))
}


def caption_candidates(caption: str) -> tuple[set[str], set[str]]:
    """The shapes and materials a caption leaves possible.

    A caption that does not name the shape leaves all three shapes; "made of
    steel or rubber" leaves two materials; a typo can hide a word.

    Parameters
    ----------
    caption : str
        An English caption.

    Example
    -------
    >>> shapes, materials = caption_candidates("a small box made of steel or rubber")
    >>> sorted(shapes), sorted(materials)
    (['square'], ['metal', 'rubber'])
    """
    if not isinstance(caption, str):
        raise TypeError(f"caption: expected str, got {type(caption).__name__}")
    text = caption.lower()
    shapes = {SHAPES[k] for k, p in _SHAPE_WORDS.items() if p.search(text)} or set(SHAPES)
    materials = {MATERIALS[k] for k, p in _MATERIAL_WORDS.items() if p.search(text)} or set(MATERIALS)
    return shapes, materials


def modality_ceilings(sw: ShapesWorld) -> dict[str, float]:
    """The best accuracy each modality alone allows on ``sw``, from what it carries.

    * image: the shape is visible, the material must be guessed among 3 -> 1/3;
    * audio: the material is audible, the shape must be guessed -> 1/3;
    * text: 1 / (number of classes the caption leaves possible), averaged;
    * all three: 1.0 (image gives the shape, audio the material).

    Parameters
    ----------
    sw : ShapesWorld
        The samples.

    Example
    -------
    >>> round(modality_ceilings(make_shapes_world(300))["image"], 2)
    0.33
    """
    if not isinstance(sw, ShapesWorld) or len(sw) == 0:
        raise ValueError("sw: expected a non-empty ShapesWorld")
    text = []
    for caption, shape, material in zip(sw.captions, sw.meta["shape"], sw.meta["material"], strict=True):
        shapes, materials = caption_candidates(caption)
        text.append((shape in shapes and material in materials) / (len(shapes) * len(materials)))
    return {
        "image": 1 / len(MATERIALS),
        "audio": 1 / len(SHAPES),
        "text": float(np.mean(text)),
        "image+text+audio": 1.0,
    }
