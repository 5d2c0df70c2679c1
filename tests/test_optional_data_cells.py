"""The optional real-data cells of notebooks 02 (MNIST) and 03 (IMDb), run on both paths.

Each cell calls ``datasets.load_keras_dataset``. Offline (nothing cached) it must say it
skipped and do nothing else; with the data there it must train and print an accuracy. The
committed notebooks only ever show the offline path, so these tests run the cells' own
source with a stand-in ``datasets`` module: one whose loader raises ``DataError`` as an
empty cache does, and one that returns a few samples shaped like the real files.
"""

from __future__ import annotations

import types
from pathlib import Path

import nbformat
import numpy as np
import pytest

from mmteach.datasets import KERAS_DATASETS, DataError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def cell_source(notebook: str, needle: str) -> str:
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    hits = [c.source for c in nb.cells if c.cell_type == "code" and needle in c.source]
    assert len(hits) == 1, f"{notebook}: expected one cell containing {needle!r}, found {len(hits)}"
    return hits[0]


def stand_in(load):
    """A ``datasets`` module whose ``load_keras_dataset`` is ``load``."""
    return types.SimpleNamespace(DataError=DataError, load_keras_dataset=load)


def offline(name, cache=None, download=False):
    assert not download, "an optional cell must never download on the default path"
    assert name in KERAS_DATASETS
    raise DataError(f"{name}.npz: not cached; call with download=True (needs internet)")


def fake_mnist(name, cache=None, download=False):
    assert (name, download) == ("mnist", False)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, 40).astype(np.uint8)
    return (x, y), (x[:10], y[:10])


def fake_imdb(name, cache=None, download=False):
    assert (name, download) == ("imdb", False)
    rng = np.random.default_rng(0)
    reviews = np.empty(40, dtype=object)  # ragged word-rank lists, as in Keras' imdb.npz
    for i in range(40):
        reviews[i] = list(rng.integers(1, 30_000, rng.integers(5, 400)))
    y = rng.integers(0, 2, 40)
    return (reviews, y), (reviews[:10], y[:10])


@pytest.fixture(scope="module")
def namespace():
    keras = pytest.importorskip("keras")
    import pandas as pd

    from mmteach import features

    ns = {"np": np, "pd": pd, "keras": keras, "features": features}
    exec(cell_source("02_image_features_cnn.ipynb", "digits_cnn = keras.Sequential("), ns)  # noqa: S102
    return ns


CELLS = [
    ("02_image_features_cnn.ipynb", "mnist", fake_mnist),
    ("03_text_audio_features_rnn.ipynb", "imdb", fake_imdb),
]


@pytest.mark.parametrize(("notebook", "name"), [c[:2] for c in CELLS])
def test_offline_the_cell_says_it_skipped(notebook, name, namespace, capsys):
    source = cell_source(notebook, f'load_keras_dataset("{name}")')
    exec(source, {**namespace, "datasets": stand_in(offline)})  # noqa: S102
    out = capsys.readouterr().out
    assert out.strip() == f"{'MNIST' if name == 'mnist' else 'IMDb'} not cached here: skipped (offline run)"


@pytest.mark.parametrize(("notebook", "name", "load"), CELLS)
def test_with_the_data_the_cell_trains_and_reports_an_accuracy(notebook, name, load, namespace, capsys):
    source = cell_source(notebook, f'load_keras_dataset("{name}")')
    exec(source, {**namespace, "datasets": stand_in(load)})  # noqa: S102
    out = capsys.readouterr().out
    assert "skipped" not in out
    accuracy = float(out.split("accuracy")[1].split()[0])
    assert 0.0 <= accuracy <= 1.0, out
