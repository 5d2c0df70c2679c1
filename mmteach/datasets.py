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
import os
import re
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmteach.constants import (  # defined once there, part of this module's API too
    AUDIO_SAMPLES,
    COLOURS,
    IMAGE_SIZE,
    MATERIALS,
    N_SAMPLES,
    SAMPLE_RATE,
    SEED,
    SHAPES,
    SIZES,
    SPLITS,
)
from mmteach.validation import (
    check_array,
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_path,
    check_real,
    check_str,
    check_str_sequence,
    describe,
)

GENERATOR_VERSION = 1
CLASS_NAMES = tuple(f"{s}_{m}" for s in SHAPES for m in MATERIALS)
_BLOCK = 100  # samples are generated in blocks so that make_shapes_world(n) is a prefix of (m > n)

# Categorical columns and the values they may take once clean.
CATEGORIES = {"shape": SHAPES, "material": MATERIALS, "colour": COLOURS, "size": SIZES}
# Valid ranges of the numeric columns, inclusive.
RANGES = {"radius_px": (3.0, 12.0), "x": (0.0, float(IMAGE_SIZE)), "y": (0.0, float(IMAGE_SIZE))}
METADATA_COLUMNS = (
    "id", "split", "shape", "colour", "size", "radius_px", "x", "y", "rotation_deg",
    "material", "caption_en", "caption_zh", "image", "audio",
)  # fmt: skip


class DataError(RuntimeError):
    """A bundled or cached data file is missing, corrupt or does not match its checksum."""


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
        """Rows ``index`` (integer positions or a boolean mask) as a new ShapesWorld."""
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
        """The ``train``, ``val`` or ``test`` part."""
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


# --------------------------------------------------------------------------- cleaning rules

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d ()-]{6,}\d")
_CONTACT_WORDS = re.compile(r"\s*(?:-\s*)?\b(?:contact|call|email me:?|phone)\s*(?=\[)")
_SPELLING = {"wooden": "wood"}


def scrub_pii(text: str) -> str:
    """Replace e-mail addresses by ``[email]`` and phone numbers by ``[phone]``.

    Example
    -------
    >>> scrub_pii("a red box - contact anna.li@example.com")
    'a red box - contact [email]'
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected str, got {type(text).__name__}")
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


def normalise_category(value: object) -> object:
    """Lower-case and strip a category label and map known variants (``wooden`` -> ``wood``)."""
    if not isinstance(value, str):
        return value
    v = value.strip().lower()
    return _SPELLING.get(v, v)


def clean_metadata(raw: pd.DataFrame, available_ids: set[str] | None = None) -> pd.DataFrame:
    """Apply the data card's cleaning rules to the raw metadata table.

    1. Normalise category spellings; 2. drop exact duplicate rows; 3. drop rows
    whose files are not in ``available_ids``; 4. out-of-range numbers become
    missing; 5. impute missing numbers with the training split's median and a
    missing colour as ``"unknown"``; 6. drop rows without shape or material (the
    label is unknown); 7. scrub personal data from captions; 8. add ``label``.

    Example
    -------
    >>> sw = make_shapes_world(50)
    >>> raw, _ = plant_problems(sw.meta)
    >>> clean = clean_metadata(raw, set(sw.meta["id"]))
    >>> clean["id"].is_unique
    True
    """
    check_instance("raw", raw, pd.DataFrame, " (e.g. load_raw_metadata())")
    missing = [c for c in METADATA_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"raw: missing columns {missing}; expected {list(METADATA_COLUMNS)}")
    df = raw.loc[:, list(METADATA_COLUMNS)].copy()
    for column in CATEGORIES:
        df[column] = df[column].map(normalise_category)
    df = df.drop_duplicates().reset_index(drop=True)
    if available_ids is not None:
        available_ids = set(check_str_sequence("available_ids", available_ids, non_empty=False))
        df = df[df["id"].isin(available_ids)]
    if df["id"].duplicated().any():
        raise ValueError(
            f"raw: ids appear with different contents: {df.loc[df['id'].duplicated(), 'id'].tolist()[:5]}"
        )
    for column, (low, high) in RANGES.items():
        df[column] = pd.to_numeric(df[column], errors="coerce")
        df.loc[(df[column] < low) | (df[column] > high), column] = np.nan
    train = df["split"] == "train"
    for column in RANGES:
        df[column] = df[column].fillna(df.loc[train, column].median())
    df["colour"] = df["colour"].fillna("unknown")
    df = df.dropna(subset=["shape", "material"])
    for column in ("shape", "material"):
        bad = ~df[column].isin(CATEGORIES[column])
        if bad.any():
            raise ValueError(f"raw: unknown {column} values {sorted(df.loc[bad, column].unique())}")
    df["caption_en"] = df["caption_en"].fillna("").astype(str).map(scrub_pii)
    df["caption_zh"] = df["caption_zh"].fillna("").astype(str)
    df["label"] = [
        SHAPES.index(s) * len(MATERIALS) + MATERIALS.index(m)
        for s, m in zip(df["shape"], df["material"], strict=True)
    ]
    df["label_name"] = np.asarray(CLASS_NAMES)[df["label"].to_numpy(dtype=int)]
    return df.sort_values("id").reset_index(drop=True)


# --------------------------------------------------------------------------- files


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
    """PNG bytes of a ``(h, w, 3)`` uint8 image."""
    from PIL import Image

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image: expected a (h, w, 3) uint8 array, got {image.shape} {image.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buffer, format="PNG", optimize=False, compress_level=9)
    return buffer.getvalue()


def read_png(path: str | Path) -> np.ndarray:
    """Decode a PNG file into a ``(h, w, 3)`` uint8 array; a clear DataError otherwise."""
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
    """16-bit mono PCM WAV bytes of a float waveform in [-1, 1]."""
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
    """Hex SHA-256 of a file."""
    path = check_path("path", path, must_exist=True, kind="file")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so a reader never sees half a file.

    Example
    -------
    >>> write_atomic("/tmp/mmteach-example.txt", b"hello")  # doctest: +SKIP
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

    Example
    -------
    >>> restore_hint(default_root() / "metadata.csv")
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


def build_snapshot(root: str | Path | None = None, n: int = N_SAMPLES, seed: int = SEED) -> Path:
    """Write the Shapes World snapshot (files, raw metadata, planted-problem log, manifest).

    The data card ``README.md`` is written by hand and left alone.

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


def read_manifest(root: str | Path | None = None) -> dict[str, str]:
    """``{relative path: sha256}`` from ``MANIFEST.sha256``."""
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


def load_raw_metadata(root: str | Path | None = None) -> pd.DataFrame:
    """The raw ``metadata.csv`` exactly as shipped, planted problems included."""
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


def load_digits_images(test_size: float = 0.25, seed: int = SEED):
    """scikit-learn's bundled handwritten digits (8x8, 1,797 real scans) as image arrays.

    Returns ``(x_train, y_train), (x_test, y_test)`` with images shaped
    ``(n, 8, 8, 1)`` float32 in [0, 1], stratified split.
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

    Example
    -------
    >>> caption_candidates("a small box made of steel or rubber")
    ({'square'}, {'metal', 'rubber'})
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
