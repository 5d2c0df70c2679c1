"""Matplotlib figures used by more than one notebook.

Every function draws into a new figure (or the ``ax`` given) and returns the
figure, so a notebook cell ends with ``plt.show()``.

Example
-------
>>> from mmteach.datasets import make_shapes_world
>>> fig = show_samples(make_shapes_world(6), n=6)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np


def show_samples(sw, n: int = 12, cols: int = 6, title_column: str = "label_name"):
    """A grid of the first ``n`` images of a ShapesWorld, titled by ``title_column``."""
    import matplotlib.pyplot as plt

    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive int, got {n!r}")
    if title_column not in sw.meta:
        raise ValueError(f"title_column: expected one of {list(sw.meta.columns)}, got {title_column!r}")
    n = min(n, len(sw))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(sw.images[k])
            ax.set_title(str(sw.meta[title_column].iloc[k]).replace("_", "\n"), fontsize=8)
    fig.tight_layout()
    return fig


def show_waveform_and_spectrogram(
    waveform, spectrogram, sample_rate: int = 8000, frame_step: int = 64, title=""
):
    """The waveform (amplitude over seconds) above its log spectrogram (frequency over time)."""
    import matplotlib.pyplot as plt

    waveform = np.asarray(waveform)
    spectrogram = np.asarray(spectrogram)
    if waveform.ndim != 1 or spectrogram.ndim != 2:
        raise ValueError(
            f"waveform, spectrogram: expected 1-D and 2-D, got {waveform.shape} and {spectrogram.shape}"
        )
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 4), sharex=True)
    seconds = np.arange(len(waveform)) / sample_rate
    top.plot(seconds, waveform, lw=0.6)
    top.set_ylabel("amplitude")
    top.set_title(title)
    extent = (0, spectrogram.shape[0] * frame_step / sample_rate, 0, sample_rate / 2)
    bottom.imshow(spectrogram.T, origin="lower", aspect="auto", extent=extent, cmap="magma")
    bottom.set_xlabel("seconds")
    bottom.set_ylabel("Hz")
    fig.tight_layout()
    return fig


def bar_table(values: dict, title: str = "", ylabel: str = "", reference: float | None = None, ax=None):
    """A bar chart of ``{name: value}`` with an optional dashed reference line."""
    import matplotlib.pyplot as plt

    if not values:
        raise ValueError("values: expected a non-empty dict of name -> number, got an empty one")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3))
    names = [str(k) for k in values]
    ax.bar(names, list(values.values()), color="tab:blue")
    if reference is not None:
        ax.axhline(reference, ls="--", color="grey")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", rotation=30)
    ax.figure.tight_layout()
    return ax.figure
