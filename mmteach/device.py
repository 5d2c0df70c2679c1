"""Find the CPUs and GPUs TensorFlow can use, and choose where mmteach runs work.

TensorFlow distinguishes two kinds of device:

* a **physical device** is hardware it found (``/physical_device:CPU:0``, a GPU card);
* a **logical device** is what your code places work on (``/device:CPU:0``). One
  physical CPU can be split into several logical CPUs, which is how the course
  rehearses multi-device training (``tf.distribute.MirroredStrategy``) on a laptop.

TensorFlow fixes its devices the first time it needs them (the first op, or listing
logical devices). Anything that changes the device set -- :func:`hide_gpus`,
:func:`configure_logical_cpus` -- must therefore run *before* that moment, typically
in the first cell of a notebook.

Choosing a device
-----------------
:func:`use` accepts ``"auto"`` (a GPU if there is one, else the CPU), ``"cpu"``,
``"gpu"`` or an indexed form such as ``"cpu:1"`` / ``"/GPU:0"``. The pure function
:func:`resolve` turns a choice plus a list of available GPUs into a device string; it
never looks at the machine, so you can reason about (and test) it with any GPU list.

Importing this module does not import TensorFlow; functions import it when needed.

Example
-------
>>> from mmteach import device
>>> device.resolve("auto", available_gpus=[])
'/CPU:0'
>>> device.resolve("auto", available_gpus=["/physical_device:GPU:0"])
'/GPU:0'
>>> device.use("cpu")            # doctest: +SKIP
>>> with device.use("cpu:1"):    # doctest: +SKIP
...     y = tf.ones(3) + 1       # runs on the second logical CPU
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    import pandas as pd

__all__ = [
    "CHOICES",
    "NoGPUWarning",
    "configure_logical_cpus",
    "cpu_names",
    "current",
    "device_name",
    "gpu_names",
    "gpus_available",
    "hide_gpus",
    "list_devices",
    "parse_choice",
    "resolve",
    "scope",
    "tf_initialized",
    "use",
]

#: The plain choices; indexed forms such as ``"cpu:1"`` are accepted as well.
CHOICES: tuple[str, ...] = ("auto", "cpu", "gpu")

_CHOICE_RE = re.compile(r"^/?(?:device:)?(cpu|gpu)(?::(\d+))?$", re.IGNORECASE)

# Module state: the current choice, whether the "no GPU" warning was shown, and
# whether hide_gpus() already ran in this process.
_current: str = "auto"
_warned_no_gpu: bool = False
_gpus_hidden: bool = False


class NoGPUWarning(UserWarning):
    """A GPU was requested but none is available; work runs on the CPU instead."""


# --------------------------------------------------------------------------- choices


def parse_choice(choice: Any) -> tuple[str, int | None]:
    """Normalise a device choice into ``(kind, index)``.

    Parameters
    ----------
    choice : str
        ``"auto"``, ``"cpu"``, ``"gpu"`` or an indexed device such as ``"cpu:1"``,
        ``"GPU:0"``, ``"/CPU:1"`` or ``"/device:GPU:0"`` (case does not matter).

    Returns
    -------
    tuple
        ``kind`` is ``"auto"``, ``"cpu"`` or ``"gpu"``; ``index`` is an int or None
        when no index was given.

    Raises
    ------
    ValueError
        If ``choice`` is not a string or not one of the accepted forms.

    Example
    -------
    >>> parse_choice("GPU")
    ('gpu', None)
    >>> parse_choice("/CPU:1")
    ('cpu', 1)
    """
    if not isinstance(choice, str):
        raise ValueError(
            "choice: expected one of 'auto', 'cpu', 'gpu' (or an indexed device such as "
            f"'cpu:1'), got {choice!r} of type {type(choice).__name__}"
        )
    text = choice.strip()
    if text.lower() == "auto":
        return "auto", None
    match = _CHOICE_RE.match(text)
    if match is None:
        raise ValueError(
            "choice: expected one of 'auto', 'cpu', 'gpu' (or an indexed device such as "
            f"'cpu:1' or '/GPU:0'), got {choice!r}"
        )
    kind = match.group(1).lower()
    index = None if match.group(2) is None else int(match.group(2))
    return kind, index


def _canonical(kind: str, index: int | None) -> str:
    return kind if index is None else f"{kind}:{index}"


def resolve(
    choice: str,
    available_gpus: Sequence[str],
    available_cpus: Sequence[str] | None = None,
) -> str:
    """Turn a device choice into the device string to pass to ``tf.device``.

    A pure function: it decides from its arguments only and has no side effects.

    * ``"cpu"`` -> ``"/CPU:0"``; ``"cpu:N"`` -> ``"/CPU:N"``.
    * ``"gpu"`` -> ``"/GPU:0"`` if a GPU is available, else ``"/CPU:0"`` (fallback).
    * ``"auto"`` -> ``"/GPU:0"`` if a GPU is available, else ``"/CPU:0"``.
    * ``"gpu:N"`` -> ``"/GPU:N"``; ``"/CPU:0"`` when there is no GPU at all.

    Parameters
    ----------
    choice : str
        See :func:`parse_choice`.
    available_gpus : sequence of str
        Names of the GPUs that exist (only their number matters), e.g. the result of
        :func:`gpu_names`. Pass a made-up list to see what would happen on another
        machine.
    available_cpus : sequence of str, optional
        Names of the logical CPUs. When given, an explicit CPU index is checked
        against it.

    Returns
    -------
    str
        ``"/CPU:<i>"`` or ``"/GPU:<i>"``.

    Raises
    ------
    ValueError
        For an unknown choice, or an index beyond the devices that exist (a missing
        GPU *index* is an error only when some GPU exists; with no GPU at all the
        answer is the CPU fallback).

    Example
    -------
    >>> resolve("gpu", available_gpus=["/physical_device:GPU:0"])
    '/GPU:0'
    >>> resolve("gpu", available_gpus=[])
    '/CPU:0'
    >>> resolve("cpu:1", available_gpus=[], available_cpus=["/device:CPU:0", "/device:CPU:1"])
    '/CPU:1'
    """
    kind, index = parse_choice(choice)
    if isinstance(available_gpus, str) or not isinstance(available_gpus, Sequence):
        raise ValueError(
            f"available_gpus: expected a list of device names (possibly empty), got {available_gpus!r}"
        )
    if available_cpus is not None and (
        isinstance(available_cpus, str) or not isinstance(available_cpus, Sequence)
    ):
        raise ValueError(f"available_cpus: expected a list of device names or None, got {available_cpus!r}")
    n_gpus = len(available_gpus)
    if kind == "cpu":
        index = 0 if index is None else index
        if available_cpus is not None and index >= len(available_cpus):
            raise ValueError(
                f"choice: {choice!r} asks for logical CPU {index}, but only "
                f"{len(available_cpus)} exist ({', '.join(available_cpus) or 'none'}). "
                "Split the CPU with mmteach.device.configure_logical_cpus(n) before TensorFlow "
                "starts (first cell of the notebook)."
            )
        return f"/CPU:{index}"
    if n_gpus == 0:  # "gpu", "gpu:N" or "auto" on a machine without GPU
        return "/CPU:0"
    if kind == "auto":
        return "/GPU:0"
    index = 0 if index is None else index
    if index >= n_gpus:
        raise ValueError(
            f"choice: {choice!r} asks for GPU {index}, but only {n_gpus} GPU(s) exist "
            f"({', '.join(available_gpus)})"
        )
    return f"/GPU:{index}"


# --------------------------------------------------------------------------- discovery


def tf_initialized() -> bool:
    """Tell whether TensorFlow has already fixed its set of logical devices.

    Returns False when TensorFlow has not even been imported; importing it or listing
    *physical* devices does not initialise it either. After the first op (or
    :func:`list_devices` with ``logical=True``) it returns True, and from then on
    :func:`hide_gpus` and :func:`configure_logical_cpus` can no longer change anything.

    Example
    -------
    >>> tf_initialized()  # doctest: +SKIP
    False
    """
    if "tensorflow" not in sys.modules:
        return False
    from tensorflow.python.eager import context  # private module, but stable since TF 2.0

    ctx = context.context_safe()
    if ctx is None:
        return False
    initialized = getattr(ctx, "_initialized", None)
    if initialized is None:  # a future TensorFlow renamed it: fall back to the handle
        initialized = getattr(ctx, "_context_handle", None) is not None
    return bool(initialized)


def _logical_names(device_type: str) -> list[str]:
    """Logical device names of one type, without initialising TensorFlow.

    Once TensorFlow is initialised, ask it. Before that, work out what it *will*
    create: each visible physical device becomes one logical device, or several if it
    was split with ``tf.config.set_logical_device_configuration``; TensorFlow numbers
    them consecutively.
    """
    import tensorflow as tf

    if tf_initialized():
        return [d.name for d in tf.config.list_logical_devices(device_type)]
    count = 0
    for physical in tf.config.get_visible_devices(device_type):
        split = tf.config.get_logical_device_configuration(physical)
        count += len(split) if split else 1
    return [f"/device:{device_type}:{i}" for i in range(count)]


def gpu_names() -> list[str]:
    """Logical names of the GPUs TensorFlow can use (``/device:GPU:0``, ...); [] if none.

    GPUs hidden with :func:`hide_gpus` are not listed. Does not initialise TensorFlow
    (so :func:`hide_gpus` still works afterwards), but imports it.

    Example
    -------
    >>> gpu_names()  # doctest: +SKIP
    []
    """
    return _logical_names("GPU")


def cpu_names() -> list[str]:
    """Logical names of the CPUs (``/device:CPU:0``, ...), counting any split.

    Like :func:`gpu_names`, this imports TensorFlow but does not initialise it.

    Example
    -------
    >>> configure_logical_cpus(2)  # doctest: +SKIP
    >>> cpu_names()  # doctest: +SKIP
    ['/device:CPU:0', '/device:CPU:1']
    """
    return _logical_names("CPU")


def gpus_available() -> bool:
    """True if TensorFlow can use at least one GPU.

    Example
    -------
    >>> gpus_available()  # doctest: +SKIP
    False
    """
    return len(gpu_names()) > 0


def list_devices(logical: bool = True) -> pd.DataFrame:
    """A table of the devices TensorFlow sees, physical and logical.

    Parameters
    ----------
    logical : bool
        Also list logical devices. Listing them initialises TensorFlow, after which
        :func:`hide_gpus` and :func:`configure_logical_cpus` no longer work; pass
        False to look without committing.

    Returns
    -------
    pandas.DataFrame
        One row per device with columns ``kind`` (``"physical"`` or ``"logical"``),
        ``device_type`` (``"CPU"``, ``"GPU"``, ...), ``name`` (TensorFlow's full name)
        and ``logical_name`` (the short string to pass to ``tf.device`` or
        :func:`use`, e.g. ``"/CPU:1"``; empty for physical devices, which cannot
        hold work directly).

    Example
    -------
    >>> list_devices()  # doctest: +SKIP
           kind device_type                    name logical_name
    0  physical         CPU  /physical_device:CPU:0
    1   logical         CPU           /device:CPU:0       /CPU:0
    """
    if not isinstance(logical, bool):
        raise ValueError(f"logical: expected True or False, got {logical!r}")
    import pandas as pd
    import tensorflow as tf

    rows = [
        {"kind": "physical", "device_type": d.device_type, "name": d.name, "logical_name": ""}
        for d in tf.config.list_physical_devices()
    ]
    if logical:
        for d in tf.config.list_logical_devices():
            short = "/" + d.name.rsplit("device:", 1)[-1]  # "/device:CPU:1" -> "/CPU:1"
            row = {"kind": "logical", "device_type": d.device_type, "name": d.name}
            rows.append({**row, "logical_name": short})
    return pd.DataFrame(rows, columns=["kind", "device_type", "name", "logical_name"])


# --------------------------------------------------------------------------- setup


def hide_gpus() -> None:
    """Hide every GPU from TensorFlow so that everything runs on the CPU.

    Call it before TensorFlow runs anything (first cell of a notebook). It sets
    ``CUDA_VISIBLE_DEVICES=-1`` (which also applies to processes started later) and,
    if TensorFlow is already imported, ``tf.config.set_visible_devices([], "GPU")``.
    Calling it again after it succeeded is harmless.

    Raises
    ------
    RuntimeError
        If TensorFlow has already initialised its devices: restart the kernel (or
        Python) and call ``hide_gpus()`` first.

    Example
    -------
    >>> from mmteach import device
    >>> device.hide_gpus()  # doctest: +SKIP
    >>> device.gpus_available()  # doctest: +SKIP
    False
    """
    global _gpus_hidden
    if _gpus_hidden:
        return
    if tf_initialized():
        raise RuntimeError(
            "hide_gpus() must run before TensorFlow initialises its devices, but TensorFlow "
            "has already started (an op ran or logical devices were listed). Restart the "
            "kernel and call mmteach.device.hide_gpus() in the first cell, before anything "
            "else uses TensorFlow."
        )
    os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        tf.config.set_visible_devices([], "GPU")
    _gpus_hidden = True


def configure_logical_cpus(n: int) -> list[str]:
    """Split the (first) physical CPU into ``n`` logical CPUs ``/CPU:0`` ... ``/CPU:n-1``.

    Logical devices let you try multi-device code (``tf.device("/CPU:1")``,
    ``tf.distribute.MirroredStrategy``) without several GPUs. They share the same
    cores, so expect no speed-up: this is for learning and testing.

    Call it before TensorFlow runs anything. Calling it again with the same ``n``
    after TensorFlow started is harmless (so a notebook can be re-run).

    Parameters
    ----------
    n : int
        Number of logical CPUs, at least 1.

    Returns
    -------
    list of str
        The device strings, e.g. ``["/CPU:0", "/CPU:1"]``.

    Raises
    ------
    ValueError
        If ``n`` is not a positive int.
    RuntimeError
        If TensorFlow has already initialised its devices with a different number of
        CPUs: restart the kernel and call this first.

    Example
    -------
    >>> configure_logical_cpus(2)  # doctest: +SKIP
    ['/CPU:0', '/CPU:1']
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive int (number of logical CPUs), got {n!r}")
    import tensorflow as tf

    wanted = [f"/CPU:{i}" for i in range(n)]
    if tf_initialized():
        have = len(tf.config.list_logical_devices("CPU"))
        if have == n:
            return wanted
        raise RuntimeError(
            f"configure_logical_cpus({n}) must run before TensorFlow initialises its devices, "
            f"but TensorFlow has already started with {have} logical CPU(s). Restart the "
            "kernel and call mmteach.device.configure_logical_cpus() in the first cell, "
            "before anything else uses TensorFlow."
        )
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
    )
    return wanted


# --------------------------------------------------------------------------- selection


def _resolve_here(choice: str) -> str:
    """Resolve ``choice`` on this machine, warning once if a GPU is asked for but missing."""
    global _warned_no_gpu
    kind, index = parse_choice(choice)
    if kind == "cpu":
        if not index:  # /CPU:0 always exists; no need to import TensorFlow
            return "/CPU:0"
        return resolve(choice, [], cpu_names())
    gpus = gpu_names()
    resolved = resolve(choice, gpus)
    if kind == "gpu" and not gpus and not _warned_no_gpu:
        _warned_no_gpu = True
        warnings.warn(
            f"use({choice!r}): no GPU is available to TensorFlow, so mmteach runs on the "
            "CPU (/CPU:0) instead. Everything in the course works on a CPU, only slower. "
            "To use a GPU, install mmteach[gpu] on a machine with a CUDA-capable GPU "
            "(see the README's GPU notes). This warning is shown once.",
            NoGPUWarning,
            stacklevel=3,
        )
    return resolved


class use:  # noqa: N801 - lower case on purpose: it reads like a function call
    """Choose where mmteach places work: ``"auto"``, ``"cpu"``, ``"gpu"`` or e.g. ``"cpu:1"``.

    Works two ways:

    * as a plain call, ``use("cpu")`` changes the current choice for the rest of the
      session (see :func:`current`, :func:`device_name`); mmteach's training helpers
      run their work inside :func:`scope`, which places it there;
    * as a context manager, ``with use("cpu"):`` places everything inside the block
      on that device (``tf.device``) and restores the previous choice afterwards.

    Asking for a GPU on a machine without one never fails: it warns once
    (:class:`NoGPUWarning`) and uses the CPU.

    Parameters
    ----------
    choice : str
        ``"auto"`` (GPU if available, else CPU), ``"cpu"``, ``"gpu"``, or an indexed
        device such as ``"cpu:1"`` or ``"/GPU:0"``.

    Raises
    ------
    ValueError
        For an unknown choice, or a device index that does not exist.

    Example
    -------
    >>> from mmteach import device
    >>> device.use("cpu")  # doctest: +SKIP
    >>> device.current()  # doctest: +SKIP
    'cpu'
    >>> with device.use("cpu:1") as name:  # doctest: +SKIP
    ...     print(name, (tf.ones(2) + 1).device)
    /CPU:1 /job:localhost/replica:0/task:0/device:CPU:1
    """

    def __init__(self, choice: str = "auto") -> None:
        global _current
        kind, index = parse_choice(choice)
        canonical = _canonical(kind, index)
        self.device = _resolve_here(canonical)  # validates; warns if the GPU is missing
        self.choice = canonical
        self._previous = _current
        self._tf_device: Any = None
        _current = canonical

    def __enter__(self) -> str:
        import tensorflow as tf

        self._tf_device = tf.device(self.device)
        self._tf_device.__enter__()
        return self.device

    def __exit__(self, *exc_info: object) -> None:
        global _current
        try:
            if self._tf_device is not None:
                self._tf_device.__exit__(*exc_info)
                self._tf_device = None
        finally:
            _current = self._previous

    def __repr__(self) -> str:
        return f"use({self.choice!r}) -> {self.device}"


def current() -> str:
    """The current choice as given to :func:`use`, normalised (``"auto"`` by default).

    Example
    -------
    >>> current()  # doctest: +SKIP
    'auto'
    """
    return _current


def device_name() -> str:
    """The device the current choice resolves to on this machine, e.g. ``"/CPU:0"``.

    Example
    -------
    >>> device_name()  # doctest: +SKIP
    '/CPU:0'
    """
    return _resolve_here(_current)


@contextlib.contextmanager
def scope() -> Iterator[str]:
    """Place the work inside the block on the currently chosen device.

    This is what mmteach's training helpers use, so that ``use("cpu")`` (or the device
    picker widget) decides where they run.

    Example
    -------
    >>> with scope() as name:  # doctest: +SKIP
    ...     model.fit(x, y, verbose=0)
    """
    import tensorflow as tf

    name = device_name()
    with tf.device(name):
        yield name


def _reset() -> None:
    """Forget the current choice and the warn-once memory (for tests)."""
    global _current, _warned_no_gpu
    _current = "auto"
    _warned_no_gpu = False
