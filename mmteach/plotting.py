"""Matplotlib figures used by more than one notebook.

Every function draws into a new figure (or the ``ax`` given) and returns the
figure, so a notebook cell ends with ``plt.show()``.

Example
-------
>>> from mmteach.datasets import make_shapes_world
>>> fig = show_samples(make_shapes_world(6), n=6)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mmteach.constants import SAMPLE_RATE
from mmteach.validation import (
    check_array,
    check_instance,
    check_int,
    check_real,
    check_str,
    check_str_sequence,
    describe,
)


def show_samples(sw, n: int = 12, cols: int = 6, title_column: str = "label_name"):
    """A grid of the first ``n`` images of a ShapesWorld, titled by ``title_column``.

    Parameters
    ----------
    sw : ShapesWorld
        The samples.
    n : int
        How many images.
    cols : int
        Images per row.
    title_column : str
        The metadata column that titles each image.
    """
    import matplotlib.pyplot as plt

    n, cols = check_int("n", n, min_value=1), check_int("cols", cols, min_value=1)
    if not hasattr(sw, "meta") or not hasattr(sw, "images"):
        raise TypeError(f"sw: expected a ShapesWorld (e.g. load_shapes_world()), got {describe(sw)}")
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
    waveform, spectrogram, sample_rate: int = SAMPLE_RATE, frame_step: int = 64, title=""
):
    """The waveform (amplitude over seconds) above its log spectrogram (frequency over time).

    Parameters
    ----------
    waveform : array ``(samples,)``
        One recording.
    spectrogram : array ``(frames, bins)``
        Its log spectrogram.
    sample_rate : int
        Samples per second (for the time axis).
    frame_step : int
        Samples between frames (for the time axis).
    title : str
        The figure's title.
    """
    import matplotlib.pyplot as plt

    sample_rate = check_int("sample_rate", sample_rate, min_value=1)
    frame_step = check_int("frame_step", frame_step, min_value=1)
    title = check_str("title", title, non_empty=False)
    waveform = check_array("waveform", waveform, finite=False)
    spectrogram = check_array("spectrogram", spectrogram, finite=False)
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
    """A bar chart of ``{name: value}`` with an optional dashed reference line.

    Parameters
    ----------
    values : dict
        ``{label: number}``, one bar each.
    title, ylabel : str
        The axes' texts.
    reference : float, optional
        A horizontal dashed line (e.g. chance level).
    ax : matplotlib Axes, optional
        Draw there (None: a new figure).
    """
    import matplotlib.pyplot as plt

    check_instance("values", values, Mapping, " of name -> number")
    if not values:
        raise ValueError("values: expected a non-empty dict of name -> number, got an empty one")
    title, ylabel = check_str("title", title, non_empty=False), check_str("ylabel", ylabel, non_empty=False)
    if reference is not None:
        reference = check_real("reference", reference)
    if ax is not None and not hasattr(ax, "bar"):
        raise TypeError(f"ax: expected a matplotlib Axes, got {describe(ax)}")
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


# --- notebooks 02-03: features (image grids, filters, feature maps, 2-D projection) ---------


def _check_grid_options(cell: object, suptitle: object) -> None:
    check_real("cell", cell, positive=True)
    if suptitle is not None:
        check_str("suptitle", suptitle, non_empty=False)


def _feat_grid(n: int, ncols: int, cell: float):
    import matplotlib.pyplot as plt

    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell * ncols, cell * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        fig.delaxes(ax)
    for ax in axes.flat[:n]:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, list(axes.flat[:n])


def image_grid(images, titles: Sequence[str] | None = None, ncols: int = 8, cmap: str | None = None,
               cell: float = 1.3, suptitle: str | None = None):  # fmt: skip
    """Show ``images`` ``(n, H, W)``, ``(n, H, W, 1)`` or ``(n, H, W, 3)`` in a grid.

    Grey images use ``cmap`` (default ``"gray"``); float RGB should be in [0, 1].

    Parameters
    ----------
    images : array ``(n, H, W[, C])``
        The images.
    titles : sequence of str, optional
        One per image.
    ncols : int
        Images per row.
    cmap : str, optional
        Matplotlib colour map for grey images.
    cell : float
        Inches per image.
    suptitle : str, optional
        The figure's title.

    Example
    -------
    >>> fig = image_grid(np.zeros((3, 8, 8)), ncols=2)
    >>> len(fig.axes)
    3
    """
    images = check_array("images", images, ndim=(3, 4), finite=False)
    if images.ndim == 4 and images.shape[-1] not in (1, 3):
        raise ValueError(f"images: expected 1 or 3 channels, got shape {images.shape}")
    _check_grid_options(cell, suptitle)
    if cmap is not None:
        cmap = check_str("cmap", cmap)
    if titles is not None:
        titles = check_str_sequence("titles", titles, non_empty=False)
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles: expected {len(images)} titles, got {len(titles)}")
    ncols = check_int("ncols", ncols, min_value=1)
    fig, axes = _feat_grid(len(images), ncols, cell)
    for i, ax in enumerate(axes):
        img = images[i]
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        ax.imshow(img, cmap=(cmap or "gray") if img.ndim == 2 else None)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def filter_grid(kernels, ncols: int = 8, cell: float = 1.0, suptitle: str | None = None):
    """Show the filters of a Conv2D kernel ``(kh, kw, c_in, c_out)``, one panel per filter.

    RGB kernels (``c_in == 3``) are drawn in colour, each rescaled to [0, 1];
    otherwise the mean over input channels is drawn with a diverging colour map.

    Parameters
    ----------
    kernels : array ``(kh, kw, c_in, c_out)``
        A convolution's kernel.
    ncols : int
        Filters per row.
    cell : float
        Inches per filter.
    suptitle : str, optional
        The figure's title.

    Example
    -------
    >>> fig = filter_grid(np.random.default_rng(0).normal(size=(3, 3, 3, 4)))
    >>> len(fig.axes)
    4
    """
    kernels = check_array("kernels", kernels, ndim=(4,), finite=False).astype(float)
    ncols = check_int("ncols", ncols, min_value=1)
    _check_grid_options(cell, suptitle)
    n = kernels.shape[-1]
    fig, axes = _feat_grid(n, ncols, cell)
    for i, ax in enumerate(axes):
        k = kernels[..., i]
        if k.shape[-1] == 3:
            span = k.max() - k.min()
            ax.imshow((k - k.min()) / (span if span > 0 else 1.0))
        else:
            m = k.mean(axis=-1)
            lim = np.abs(m).max() or 1.0
            ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"filter {i}", fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def feature_map_grid(maps, n: int = 8, ncols: int = 8, cell: float = 1.2, suptitle: str | None = None):
    """Show the first ``n`` channels of one sample's feature maps ``(H, W, channels)``.

    Parameters
    ----------
    maps : array ``(H, W, channels)``
        One sample's feature maps.
    n : int
        How many channels to draw.
    ncols : int
        Maps per row.
    cell : float
        Inches per map.
    suptitle : str, optional
        The figure's title.

    Example
    -------
    >>> fig = feature_map_grid(np.zeros((16, 16, 4)), n=4)
    >>> len(fig.axes)
    4
    """
    maps = check_array("maps", maps, ndim=(3,), finite=False)
    n = min(check_int("n", n, min_value=1), maps.shape[-1])
    ncols = check_int("ncols", ncols, min_value=1)
    _check_grid_options(cell, suptitle)
    fig, axes = _feat_grid(n, ncols, cell)
    for i, ax in enumerate(axes):
        ax.imshow(maps[..., i], cmap="magma")
        ax.set_title(f"channel {i}", fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def projection_scatter(points, labels, names: Sequence[str] | None = None, title: str | None = None,
                       xlabel: str = "component 1", ylabel: str = "component 2"):  # fmt: skip
    """Scatter 2-D ``points`` ``(n, 2)`` (e.g. a PCA of features) coloured by integer ``labels``.

    ``names[k]`` labels class ``k`` in the legend.

    Parameters
    ----------
    points : array ``(n, 2)``
        2-d coordinates (e.g. a PCA of embeddings).
    labels : array of int ``(n,)``
        Class id of each point (its colour).
    names : sequence of str, optional
        The legend's class names.
    title, xlabel, ylabel : str, optional
        The axes' texts.

    Example
    -------
    >>> fig = projection_scatter(np.zeros((4, 2)), [0, 1, 0, 1], names=["a", "b"])
    >>> len(fig.axes)
    1
    """
    import matplotlib.pyplot as plt

    points = check_array("points", points, ndim=(2,), finite=False)
    if title is not None:
        title = check_str("title", title, non_empty=False)
    xlabel = check_str("xlabel", xlabel, non_empty=False)
    ylabel = check_str("ylabel", ylabel, non_empty=False)
    if points.shape[1] != 2:
        raise ValueError(f"points: expected shape (n, 2), got {points.shape}")
    labels = np.asarray(labels)
    if labels.shape != (len(points),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels: expected {len(points)} integer labels, got shape {labels.shape}, dtype {labels.dtype}"
        )
    if names is not None:
        names = check_str_sequence("names", names)
    classes = np.unique(labels)
    if names is not None and (classes.min() < 0 or classes.max() >= len(names)):
        raise ValueError(
            f"names: expected a name for every label in {classes.tolist()}, got {len(names)} names"
        )
    fig, ax = plt.subplots(figsize=(5, 4))
    for k in classes:
        sel = labels == k
        ax.scatter(
            points[sel, 0], points[sel, 1], s=8, alpha=0.6, label=names[k] if names is not None else str(k)
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(markerscale=2, fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
