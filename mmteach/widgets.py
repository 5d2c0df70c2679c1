"""Interactive widgets (ipywidgets) used by the course notebooks.

Every UI in this module is built the same way, so that its behaviour can be tested
in plain pytest, without a browser:

1. **pure functions** turn state into the text/HTML the user sees
   (e.g. :func:`device_status`); they know nothing about widgets;
2. **a widget class** (e.g. :class:`DevicePicker`) owns the ipywidgets, wires their
   callbacks and has a ``select(...)``-style method holding the logic; tests drive it
   by setting a button's ``.value`` exactly as a click in the browser would;
3. **a factory function** (e.g. :func:`device_picker`) that notebooks call.

Importing this module does not import TensorFlow.

Example
-------
>>> from mmteach.widgets import device_picker
>>> device_picker()  # doctest: +SKIP
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from mmteach import device

__all__ = [
    "DEVICE_OPTIONS",
    "DevicePicker",
    "describe_devices",
    "device_picker",
    "device_status",
    "device_tooltips",
]


def _short(name: str) -> str:
    """``/device:CPU:1`` or ``/physical_device:GPU:0`` -> ``CPU:1`` / ``GPU:0``."""
    return name.rsplit("device:", 1)[-1].lstrip("/")


# =========================================================================== device picker

#: (button label, choice passed to :func:`mmteach.device.use`)
DEVICE_OPTIONS: tuple[tuple[str, str], ...] = (("CPU", "cpu"), ("GPU", "gpu"), ("Auto", "auto"))

_NO_GPU_REASON = (
    "TensorFlow found no GPU on this machine (no NVIDIA GPU with CUDA drivers, or GPUs "
    "were hidden with mmteach.device.hide_gpus())"
)


def describe_devices(cpus: Sequence[str], gpus: Sequence[str]) -> str:
    """HTML line telling what devices were found, e.g. for the device picker.

    Parameters
    ----------
    cpus, gpus : sequence of str
        Device names as returned by :func:`mmteach.device.cpu_names` /
        :func:`mmteach.device.gpu_names`.

    Example
    -------
    >>> describe_devices(["/device:CPU:0"], ["/device:GPU:0"])
    'Found: <b>1 CPU</b> (CPU:0) and <b>1 GPU</b> (GPU:0).'
    """
    cpu_part = f"<b>{len(cpus)} CPU</b> ({', '.join(html.escape(_short(c)) for c in cpus)})"
    if gpus:
        gpu_list = ", ".join(html.escape(_short(g)) for g in gpus)
        return f"Found: {cpu_part} and <b>{len(gpus)} GPU</b> ({gpu_list})."
    return (
        f"Found: {cpu_part} and <b>no GPU</b>. The GPU button is disabled: "
        f"{html.escape(_NO_GPU_REASON)}. Everything in the course runs on a CPU."
    )


def device_tooltips(gpus: Sequence[str]) -> dict[str, str]:
    """Tooltip of each device button, keyed by choice (``"cpu"``, ``"gpu"``, ``"auto"``).

    Example
    -------
    >>> device_tooltips([])["gpu"].startswith("Disabled")
    True
    """
    if gpus:
        gpu_tip = f"Run mmteach's work on the first GPU (/GPU:0 = {_short(gpus[0])})."
    else:
        gpu_tip = (
            f"Disabled: {_NO_GPU_REASON}. To use a GPU, install mmteach[gpu] on a "
            "machine that has one."
        )
    return {
        "cpu": "Run mmteach's work on the CPU (/CPU:0). Always available.",
        "gpu": gpu_tip,
        "auto": "Use the GPU if there is one, otherwise the CPU.",
    }


def device_status(choice: str, resolved: str, gpus: Sequence[str], note: str = "") -> str:
    """HTML sentence describing the current device choice.

    Parameters
    ----------
    choice : str
        The choice as given to :func:`mmteach.device.use` (``"cpu"``, ``"auto"``, ...).
    resolved : str
        Where that choice places work, e.g. ``"/CPU:0"``.
    gpus : sequence of str
        The GPUs found (only whether there are any matters here).
    note : str
        Optional extra sentence (plain text) shown in front, e.g. why a click was refused.

    Example
    -------
    >>> "no GPU was found" in device_status("auto", "/CPU:0", gpus=[])
    True
    """
    kind, _ = device.parse_choice(choice)
    label = dict((value, text) for text, value in DEVICE_OPTIONS)[kind]
    where = f"<code>{html.escape(resolved)}</code>"
    if kind == "auto":
        found = "a GPU was found" if gpus else "no GPU was found"
        text = f"Selected <b>{label}</b>: {found}, so mmteach runs its work on {where}."
    elif kind == "gpu" and not gpus:
        text = (
            f"Selected <b>{label}</b>, but no GPU was found, so mmteach runs its work on {where}."
        )
    else:
        text = f"Selected <b>{label}</b>: mmteach runs its work on {where}."
    text += f" (Same as <code>mmteach.device.use({html.escape(repr(choice))})</code>.)"
    if note:
        text = f"<i>{html.escape(note)}</i> " + text
    return text


class DevicePicker(widgets.VBox):
    """CPU / GPU / Auto buttons that call :func:`mmteach.device.use` when clicked.

    Shows, from top to bottom: what devices were found, the three buttons, and a
    status line saying where work runs now. Without a GPU the GPU button is disabled
    and its tooltip says why; should a GPU selection arrive anyway (e.g. set from
    code), it is refused, the previous choice stays and the status line explains.

    The buttons are independent :class:`ipywidgets.ToggleButton` widgets kept mutually
    exclusive here, because :class:`ipywidgets.ToggleButtons` cannot disable a single
    option.

    Attributes
    ----------
    buttons : dict of str to ipywidgets.ToggleButton
        Keyed by choice: ``"cpu"``, ``"gpu"``, ``"auto"``.
    found : ipywidgets.HTML
        What devices were found.
    status : ipywidgets.HTML
        The current choice and where work runs.
    cpus, gpus : list of str
        The devices found when the picker was built.

    Example
    -------
    >>> picker = DevicePicker()  # doctest: +SKIP
    >>> picker.buttons["cpu"].value = True  # what a click does  # doctest: +SKIP
    >>> picker.value  # doctest: +SKIP
    'cpu'
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cpus: list[str] = device.cpu_names()
        self.gpus: list[str] = device.gpu_names()
        tooltips = device_tooltips(self.gpus)
        self.buttons: dict[str, widgets.ToggleButton] = {
            value: widgets.ToggleButton(
                value=False,
                description=label,
                tooltip=tooltips[value],
                disabled=(value == "gpu" and not self.gpus),
                layout=widgets.Layout(width="7em"),
            )
            for label, value in DEVICE_OPTIONS
        }
        self.found = widgets.HTML(describe_devices(self.cpus, self.gpus))
        self.status = widgets.HTML()
        self._updating = False  # True while we change buttons ourselves
        for value, button in self.buttons.items():
            button.observe(self._make_handler(value), names="value")
        self.children = (self.found, widgets.HBox(list(self.buttons.values())), self.status)

        # Start from the session's current choice, so re-displaying the picker shows
        # what is really in effect.
        self._choice = device.current()
        self._show(self._choice)

    # -- logic ---------------------------------------------------------------------------

    @property
    def value(self) -> str:
        """The choice in effect (``"cpu"``, ``"gpu"``, ``"auto"``, or e.g. ``"cpu:1"``)."""
        return self._choice

    def select(self, choice: str) -> str:
        """Select ``choice`` as a click would, call :func:`mmteach.device.use`; return the status.

        A GPU choice on a machine without GPU is refused: the previous choice stays and
        the status line says why (no warning, no exception).

        Raises
        ------
        ValueError
            If ``choice`` is not a valid device choice.
        """
        kind, _ = device.parse_choice(choice)
        if kind == "gpu" and not self.gpus:
            note = f"GPU is not available: {_NO_GPU_REASON}. Keeping the previous choice."
            self._show(self._choice, note=note)
            return self.status.value
        with warnings.catch_warnings():
            # The picker shows its own explanation; don't also print a warning.
            warnings.simplefilter("ignore", device.NoGPUWarning)
            chosen = device.use(choice)
        self._choice = chosen.choice
        self._show(self._choice)
        return self.status.value

    # -- display -------------------------------------------------------------------------

    def _show(self, choice: str, note: str = "") -> None:
        """Press exactly the button of ``choice`` and rewrite the status line."""
        kind, _ = device.parse_choice(choice)
        self._updating = True
        try:
            for value, button in self.buttons.items():
                button.value = value == kind
                button.button_style = "info" if value == kind else ""
        finally:
            self._updating = False
        resolved = device.resolve(choice, self.gpus, self.cpus)
        self.status.value = device_status(choice, resolved, self.gpus, note=note)

    def _make_handler(self, value: str):
        def on_toggle(change: dict[str, Any]) -> None:
            if self._updating:
                return
            if change["new"]:
                self.select(value)
            else:
                # Clicking the pressed button again would leave none pressed: a choice
                # must always be in effect, so press it again.
                self._show(self._choice)

        return on_toggle


def device_picker() -> DevicePicker:
    """Build the CPU / GPU / Auto device picker for a notebook.

    Clicking a button calls :func:`mmteach.device.use` with ``"cpu"``, ``"gpu"`` or
    ``"auto"``; the line under the buttons says where mmteach's work runs now. The
    GPU button is disabled, with a tooltip explaining why, when there is no GPU.

    Returns
    -------
    DevicePicker
        An :class:`ipywidgets.VBox`; display it by making it a cell's last value.

    Example
    -------
    >>> from mmteach.widgets import device_picker
    >>> device_picker()  # doctest: +SKIP
    """
    return DevicePicker()
