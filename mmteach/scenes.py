"""Shapes World scenes: several objects per image, a caption and questions with answers.

The applications (retrieval in notebook 09, question answering in notebook 11)
need images that hold more than one object. Each scene is a 48x48 RGB image
with 2-4 objects in distinct cells of a 3x3 grid; each object has a shape, a
colour and a size. A scene comes with an English caption listing its objects
and with questions of five types:

========  ==========================================  =================
type      example                                     answers
========  ==========================================  =================
colour    what colour is the circle?                  red/green/blue/yellow
shape     what shape is the red object?               circle/square/triangle
count     how many squares are there?                 0/1/2/3/4
exist     is there a blue triangle?                   yes/no
position  is the red circle left of the blue square?  yes/no
========  ==========================================  =================

Questions are only asked when their answer is well defined (e.g. "the circle"
only when there is exactly one circle). The snapshot lives in ``data/scenes/``.

Example
-------
>>> sc = make_scenes(10, seed=0)
>>> sc.images.shape, sorted(sc.questions["type"].unique())[:2]
((10, 48, 48, 3), ['colour', 'count'])
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmteach.datasets import (
    COLOUR_RGB,
    COLOURS,
    SHAPES,
    SIZES,
    DataError,
    cache_dir,
    encode_png,
    read_checked,
    read_png,
    sha256_file,
    write_atomic,
)
from mmteach.validation import check_instance, check_int, check_path, check_real

SCENES_VERSION = 1
SCENE_SIZE = 48
GRID = 3
N_SCENES = 1500
QUESTION_TYPES = ("colour", "shape", "count", "exist", "position")
COUNT_WORDS = ("0", "1", "2", "3", "4")
ANSWERS = (*COLOURS, *SHAPES, *COUNT_WORDS, "yes", "no")
_BLOCK = 100
_PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles"}


@dataclass
class Scenes:
    """Scenes and their questions.

    Attributes
    ----------
    meta : pandas.DataFrame
        One row per scene: ``id``, ``split``, ``n_objects``, ``objects`` (JSON list of
        ``{shape, colour, size, row, col}``), ``caption``, ``image``.
    images : numpy.ndarray
        ``(n, 48, 48, 3)`` uint8.
    questions : pandas.DataFrame
        One row per question: ``scene_id``, ``type``, ``question``, ``answer``.
    """

    meta: pd.DataFrame
    images: np.ndarray
    questions: pd.DataFrame

    def __post_init__(self) -> None:
        check_instance("meta", self.meta, pd.DataFrame)
        check_instance("images", self.images, np.ndarray)
        check_instance("questions", self.questions, pd.DataFrame)
        if len(self.meta) != len(self.images):
            raise ValueError(
                f"meta and images must have the same length, got {len(self.meta)} and {len(self.images)}"
            )

    def __len__(self) -> int:
        return len(self.meta)

    def objects(self, i: int) -> list[dict]:
        """The objects of scene ``i`` as dicts.

        Parameters
        ----------
        i : int
            The scene's position.
        """
        return json.loads(self.meta["objects"].iloc[i])

    def split(self, name: str) -> Scenes:
        """The ``train``, ``val`` or ``test`` scenes with their questions.

        Parameters
        ----------
        name : ``"train"``, ``"val"`` or ``"test"``
            The split.
        """
        if name not in ("train", "val", "test"):
            raise ValueError(f"name: expected 'train', 'val' or 'test', got {name!r}")
        keep = (self.meta["split"] == name).to_numpy()
        meta = self.meta[keep].reset_index(drop=True)
        questions = self.questions[self.questions["scene_id"].isin(meta["id"])].reset_index(drop=True)
        return Scenes(meta, self.images[keep], questions)

    def question_images(self) -> np.ndarray:
        """The scene image of every question, aligned with ``questions``."""
        position = pd.Series(np.arange(len(self.meta)), index=self.meta["id"])
        return self.images[position.loc[self.questions["scene_id"]].to_numpy()]


def make_scenes(n: int, seed: int = 0, *, noise: float = 0.06) -> Scenes:
    """Generate ``n`` scenes (deterministic; the first k are the same for any n).

    Parameters
    ----------
    n : int
        Number of scenes (>= 1).
    seed : int
        Random seed.
    noise : float
        Standard deviation of the pixel noise.
    """
    n, seed = check_int("n", n, min_value=1), check_int("seed", seed, min_value=0)
    noise = check_real("noise", noise, min_value=0)
    metas, images, questions = [], [], []
    for block in range(-(-int(n) // _BLOCK)):
        rng = np.random.default_rng([SCENES_VERSION, int(seed), 7, block])
        m, img, q = _make_block(rng, block * _BLOCK, noise)
        metas.append(m)
        images.append(img)
        questions.append(q)
    meta = pd.concat(metas, ignore_index=True).iloc[:n].reset_index(drop=True)
    qs = pd.concat(questions, ignore_index=True)
    qs = qs[qs["scene_id"].isin(meta["id"])].reset_index(drop=True)
    return Scenes(meta, np.concatenate(images)[:n], qs)


def _make_block(rng, start: int, noise: float):
    m, slots = _BLOCK, 4
    n_objects = rng.integers(2, 5, m)
    cells = np.argsort(rng.random((m, GRID * GRID)), axis=1)[:, :slots]
    active = np.arange(slots)[None, :] < n_objects[:, None]
    shape = rng.integers(0, len(SHAPES), (m, slots))
    colour = rng.integers(0, len(COLOURS), (m, slots))
    size = rng.integers(0, len(SIZES), (m, slots))
    cell = SCENE_SIZE / GRID
    radius = np.where(size == 0, rng.uniform(3.5, 4.5, (m, slots)), rng.uniform(5.0, 6.0, (m, slots)))
    cx = (cells % GRID + 0.5) * cell + rng.uniform(-1.0, 1.0, (m, slots))
    cy = (cells // GRID + 0.5) * cell + rng.uniform(-1.0, 1.0, (m, slots))
    rotation = np.deg2rad(rng.uniform(-15, 15, (m, slots)))
    grid = np.arange(SCENE_SIZE) + 0.5
    dx = grid[None, None, None, :] - cx[..., None, None]
    dy = grid[None, None, :, None] - cy[..., None, None]
    cos, sin = np.cos(rotation)[..., None, None], np.sin(rotation)[..., None, None]
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy
    r = radius[..., None, None]
    normals = [(0.0, 1.0), (np.sqrt(3) / 2, -0.5), (-np.sqrt(3) / 2, -0.5)]
    dist = np.choose(
        shape[..., None, None],
        [np.hypot(u, v) - r, np.maximum(np.abs(u), np.abs(v)) - 0.82 * r,
         np.max([a * u + b * v for a, b in normals], axis=0) - 0.6 * r],
    )  # fmt: skip
    alpha = np.clip(0.5 - dist, 0, 1) * active[..., None, None]
    fg = np.clip(COLOUR_RGB[colour] + rng.uniform(-0.06, 0.06, (m, slots, 3)), 0, 1)
    image = np.broadcast_to(rng.uniform(0.35, 0.65, (m, 1, 1, 1)), (m, SCENE_SIZE, SCENE_SIZE, 3)).copy()
    for k in range(slots):
        a = alpha[:, k, :, :, None]
        image = image * (1 - a) + fg[:, k, None, None, :] * a
    image += rng.normal(0, noise, image.shape)
    images = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)

    ids = [f"sc_{i:05d}" for i in range(start, start + m)]
    split = np.asarray(["train", "val", "test"])[rng.choice(3, size=m, p=[0.7, 0.1, 0.2])]
    rows, questions = [], []
    picks = rng.integers(0, 1 << 30, (m, 16))
    for i in range(m):
        objs = [
            {"shape": SHAPES[shape[i, k]], "colour": COLOURS[colour[i, k]], "size": SIZES[size[i, k]],
             "row": int(cells[i, k] // GRID), "col": int(cells[i, k] % GRID)}
            for k in range(n_objects[i])
        ]  # fmt: skip
        rows.append({"id": ids[i], "split": split[i], "n_objects": int(n_objects[i]),
                     "objects": json.dumps(objs), "caption": _scene_caption(objs, picks[i]),
                     "image": f"images/{ids[i]}.png"})  # fmt: skip
        questions += [{"scene_id": ids[i], **q} for q in _questions(objs, picks[i])]
    return (
        pd.DataFrame(rows),
        images,
        pd.DataFrame(questions, columns=["scene_id", "type", "question", "answer"]),
    )


def _describe(obj: dict, with_size: bool) -> str:
    return " ".join([obj["size"]] * with_size + [obj["colour"], obj["shape"]])


def _scene_caption(objs: list[dict], picks: np.ndarray) -> str:
    """E.g. "a small red circle, a blue square and a yellow triangle"; objects in reading order."""
    ordered = sorted(objs, key=lambda o: (o["row"], o["col"]))
    parts = [f"a {_describe(o, bool(picks[k] % 3 == 0))}" for k, o in enumerate(ordered)]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _questions(objs: list[dict], picks: np.ndarray) -> list[dict]:
    """One question of each type whose answer is well defined."""
    out = []
    by_shape = {s: [o for o in objs if o["shape"] == s] for s in SHAPES}
    by_colour = {c: [o for o in objs if o["colour"] == c] for c in COLOURS}
    unique_shapes = [s for s in SHAPES if len(by_shape[s]) == 1]
    if unique_shapes:
        s = unique_shapes[picks[0] % len(unique_shapes)]
        template = ("what colour is the {}?", "what is the colour of the {}?")[picks[1] % 2]
        out.append({"type": "colour", "question": template.format(s), "answer": by_shape[s][0]["colour"]})
    unique_colours = [c for c in COLOURS if len(by_colour[c]) == 1]
    if unique_colours:
        c = unique_colours[picks[2] % len(unique_colours)]
        template = ("what shape is the {} object?", "what is the shape of the {} thing?")[picks[3] % 2]
        out.append({"type": "shape", "question": template.format(c), "answer": by_colour[c][0]["shape"]})
    s = SHAPES[picks[4] % len(SHAPES)]
    out.append(
        {"type": "count", "question": f"how many {_PLURAL[s]} are there?", "answer": str(len(by_shape[s]))}
    )
    present = sorted({(o["colour"], o["shape"]) for o in objs})
    if picks[5] % 2:  # ask about an object that is there
        colour, shape = present[picks[6] % len(present)]
    else:  # or about one that is not
        absent = [(c, s) for c in COLOURS for s in SHAPES if (c, s) not in present]
        colour, shape = absent[picks[6] % len(absent)]
    out.append({"type": "exist", "question": f"is there a {colour} {shape}?",
                "answer": "yes" if (colour, shape) in present else "no"})  # fmt: skip
    counts = pd.Series([(o["colour"], o["shape"]) for o in objs]).value_counts()
    unique = [o for o in objs if counts[(o["colour"], o["shape"])] == 1]
    pairs = [(a, b) for a in unique for b in unique if a["col"] != b["col"]]
    if pairs:
        a, b = pairs[picks[7] % len(pairs)]
        question = f"is the {_describe(a, False)} left of the {_describe(b, False)}?"
        out.append(
            {"type": "position", "question": question, "answer": "yes" if a["col"] < b["col"] else "no"}
        )
    return out


# --------------------------------------------------------------------------- snapshot


def default_scenes_root() -> Path:
    """The bundled scenes folder (``$MMTEACH_SCENES`` if set)."""
    env = os.environ.get("MMTEACH_SCENES")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data" / "scenes"


def build_scenes_snapshot(root: str | Path | None = None, n: int = N_SCENES, seed: int = 0) -> Path:
    """Write the scenes snapshot: PNG images, ``scenes.csv``, ``questions.csv``, manifest.

    Parameters
    ----------
    root : str or path, optional
        The snapshot folder; default the bundled one.
    n : int
        Number of scenes.
    seed : int
        Seeds the generator.
    """
    root = check_path("root", root) if root is not None else default_scenes_root()
    sc = make_scenes(n, seed=seed)
    if (root / "images").is_dir():
        for old in (root / "images").iterdir():
            old.unlink()
    for i, name in enumerate(sc.meta["image"]):
        write_atomic(root / name, encode_png(sc.images[i]))
    write_atomic(root / "scenes.csv", sc.meta.to_csv(index=False, lineterminator="\n").encode())
    write_atomic(root / "questions.csv", sc.questions.to_csv(index=False, lineterminator="\n").encode())
    files = sorted([*(root / "images").glob("*.png"), root / "scenes.csv", root / "questions.csv"])
    lines = [f"{sha256_file(p)}  {p.relative_to(root).as_posix()}\n" for p in files]
    write_atomic(root / "MANIFEST.sha256", "".join(lines).encode())
    return root


def verify_scenes(root: str | Path | None = None) -> int:
    """Check every scenes file against its checksum; DataError names the first bad one.

    Parameters
    ----------
    root : str or path, optional
        The snapshot folder; default the bundled one.
    """
    from mmteach.datasets import verify_snapshot

    return verify_snapshot(check_path("root", root) if root is not None else default_scenes_root())


def load_scenes(root: str | Path | None = None, split: str | None = None) -> Scenes:
    """Load the bundled scenes: every load checks the tables' checksums; decoded images are cached.

    Parameters
    ----------
    root : str or path, optional
        The snapshot folder; default the bundled one.
    split : ``"train"``, ``"val"`` or ``"test"``, optional
        One split (None: all scenes).
    """
    import hashlib

    if split is not None and split not in ("train", "val", "test"):
        raise ValueError(f"split: expected 'train', 'val', 'test' or None, got {split!r}")
    root = check_path("root", root) if root is not None else default_scenes_root()
    manifest = root / "MANIFEST.sha256"
    if not manifest.is_file():
        raise DataError(f"{manifest}: manifest not found; run `mmteach data build` or restore data/")
    key = hashlib.sha256(manifest.read_bytes()).hexdigest()[:16]
    cache = cache_dir() / f"scenes-v{SCENES_VERSION}-{key}.npz"
    images = None
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                images = z["images"]
        except (OSError, ValueError, KeyError):
            cache.unlink(missing_ok=True)
    # the two tables are checked on every load (milliseconds); the images when they are decoded
    meta = pd.read_csv(io.BytesIO(read_checked(root, "scenes.csv")), dtype={"caption": str, "objects": str})
    questions = pd.read_csv(io.BytesIO(read_checked(root, "questions.csv")), dtype=str, keep_default_na=False)
    if images is None:
        verify_scenes(root)
        images = np.stack([read_png(root / name) for name in meta["image"]])
        buffer = io.BytesIO()
        np.savez(buffer, images=images)
        try:
            write_atomic(cache, buffer.getvalue())
        except OSError:
            pass
    sc = Scenes(meta, images, questions)
    return sc.split(split) if split else sc
