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
from mmteach.chat_widget import AssistantChat, assistant_chat, chat_entry_html, chat_log_html
from mmteach.stats import accuracy_margin
from mmteach.validation import (
    check_array,
    check_choice,
    check_instance,
    check_int,
    check_labels,
    check_real,
    check_str,
    check_str_sequence,
)

__all__ = [
    "AssistantChat",  # the virtual assistant's chat, from mmteach.chat_widget
    "assistant_chat",
    "chat_entry_html",
    "chat_log_html",
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
    cpus = check_str_sequence("cpus", cpus, non_empty=False)
    gpus = check_str_sequence("gpus", gpus, non_empty=False)
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
    gpus = check_str_sequence("gpus", gpus, non_empty=False)
    if gpus:
        gpu_tip = f"Run mmteach's work on the first GPU (/GPU:0 = {_short(gpus[0])})."
    else:
        gpu_tip = f"Disabled: {_NO_GPU_REASON}. To use a GPU, install mmteach[gpu] on a machine that has one."
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
    resolved, note = check_str("resolved", resolved), check_str("note", note, non_empty=False)
    gpus = check_str_sequence("gpus", gpus, non_empty=False)
    label = dict((value, text) for text, value in DEVICE_OPTIONS)[kind]
    where = f"<code>{html.escape(resolved)}</code>"
    if kind == "auto":
        found = "a GPU was found" if gpus else "no GPU was found"
        text = f"Selected <b>{label}</b>: {found}, so mmteach runs its work on {where}."
    elif kind == "gpu" and not gpus:
        text = f"Selected <b>{label}</b>, but no GPU was found, so mmteach runs its work on {where}."
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


# =========================================================================== fusion picker

__all__ += [
    "FUSION_PICKER_METHODS",
    "FUSION_PICKER_MODES",
    "FusionPicker",
    "confusion_html",
    "confusion_matrix",
    "fusion_description",
    "fusion_picker",
    "rebalance_weights",
    "weights_html",
]

#: fusion methods offered by the fusion picker (see :mod:`mmteach.fusion`)
FUSION_PICKER_METHODS: tuple[str, ...] = ("parallel", "sequential", "weighted")
#: modes of weighted fusion
FUSION_PICKER_MODES: tuple[str, ...] = ("fixed", "learned", "gated")


def rebalance_weights(weights: Sequence[float], index: int, value: float) -> list[float]:
    """Set ``weights[index] = value`` and rescale the others so that all sum to 1.

    The others keep their proportions; if they are all zero they share ``1 - value``
    equally. Used by the fusion picker's sliders.

    Example
    -------
    >>> rebalance_weights([0.5, 0.25, 0.25], 0, 0.2)
    [0.2, 0.4, 0.4]
    """
    w = check_array("weights", weights, ndim=1, dtype=float).tolist()
    index = check_int("index", index, min_value=0, max_value=len(w) - 1)
    value = check_real("value", value, min_value=0, max_value=1)
    if len(w) == 1:
        return [1.0]
    rest = sum(x for i, x in enumerate(w) if i != index)
    out = []
    for i, x in enumerate(w):
        if i == index:
            out.append(float(value))
        elif rest > 0:
            out.append((1.0 - value) * x / rest)
        else:
            out.append((1.0 - value) / (len(w) - 1))
    return [round(x, 6) for x in out]


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int):
    """``cm[i, j]`` = number of samples of class ``i`` predicted as ``j``.

    Example
    -------
    >>> confusion_matrix([0, 1, 1], [0, 1, 0], 2).tolist()
    [[1, 0], [1, 1]]
    """
    import numpy as np

    n_classes = check_int("n_classes", n_classes, min_value=1)
    y_true, y_pred = check_labels("y_true", y_true, n_classes), check_labels("y_pred", y_pred, n_classes)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_pred: expected shape {y_true.shape} like y_true, got {y_pred.shape}")
    cm = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


#: a confusion-matrix cell: right-aligned, a little air on both sides
_CELL_STYLE = "text-align:right;padding:1px 6px"


def confusion_html(cm, class_names: Sequence[str]) -> str:
    """An HTML table of a confusion matrix (rows: true class, columns: predicted).

    Narrow enough for a notebook beside JupyterLab's file browser: the columns are headed
    by the class numbers only, and each row names its class after its number, so the rows
    are the legend of the columns (hovering a number shows its name, too).

    Example
    -------
    >>> "<table" in confusion_html([[1, 0], [0, 1]], ["a", "b"])
    True
    """
    class_names = check_str_sequence("class_names", class_names)
    cm = check_array("cm", cm, ndim=2)
    if cm.shape != (len(class_names), len(class_names)):
        raise ValueError(f"cm: expected shape {(len(class_names),) * 2} (one row per class), got {cm.shape}")
    names = [html.escape(str(c)) for c in class_names]
    head = "".join(f'<th title="predicted {n}" style="{_CELL_STYLE}">{k}</th>' for k, n in enumerate(names))
    rows = []
    for k, (name, row) in enumerate(zip(names, cm, strict=True)):
        total = max(int(sum(row)), 1)
        cells = "".join(
            f'<td style="{_CELL_STYLE};background:rgba(31,119,180,{int(v) / total:.2f})">{int(v)}</td>'
            for v in row
        )
        rows.append(f'<tr><th style="text-align:left">{k} {name}</th>{cells}</tr>')
    return (
        '<table style="border-collapse:collapse;font-size:small">'
        '<caption style="caption-side:bottom;text-align:left">rows: true class; columns: predicted '
        "class, by the rows' numbers</caption>"
        f"<tr><th>true \\ predicted</th>{head}</tr>{''.join(rows)}</table>"
    )


def weights_html(modalities: Sequence[str], weights: Sequence[float], title: str) -> str:
    """One line listing each modality's weight, e.g. ``learned weights: image 0.40, ...``.

    Example
    -------
    >>> weights_html(["image", "text"], [0.25, 0.75], "learned weights")
    '<b>learned weights</b>: image 0.25, text 0.75'
    """
    modalities, title = check_str_sequence("modalities", modalities), check_str("title", title)
    weights = check_array("weights", weights, ndim=1, dtype=float)
    if len(weights) != len(modalities):
        raise ValueError(f"weights: expected one per modality ({len(modalities)}), got {len(weights)}")
    parts = ", ".join(f"{html.escape(m)} {w:.2f}" for m, w in zip(modalities, weights, strict=True))
    return f"<b>{html.escape(title)}</b>: {parts}"


def fusion_description(method: str, mode: str, weights: Sequence[float] | None = None) -> str:
    """The fusion picker's one-line explanation of the chosen method.

    Example
    -------
    >>> fusion_description("parallel", "fixed").startswith("Parallel")
    True
    """
    method = check_choice("method", method, FUSION_PICKER_METHODS)
    mode = check_choice("mode", mode, FUSION_PICKER_MODES)
    if weights is not None:
        weights = check_array("weights", weights, ndim=1, dtype=float).tolist()
    if method == "parallel":
        return "Parallel fusion: concatenate the modality feature vectors side by side."
    if method == "sequential":
        return "Sequential fusion: the modalities are the time steps of a GRU (image, text, audio)."
    if method != "weighted":
        raise ValueError(f"method: expected one of {FUSION_PICKER_METHODS}, got {method!r}")
    if mode == "fixed":
        return f"Weighted fusion with your fixed weights {[round(w, 2) for w in weights or []]}."
    if mode == "learned":
        return "Weighted fusion with one learned weight per modality (softmax of trainable logits)."
    if mode == "gated":
        return "Weighted fusion with a gate per sample and dimension (Gated Multimodal Unit)."
    raise ValueError(f"mode: expected one of {FUSION_PICKER_MODES}, got {mode!r}")


class FusionPicker(widgets.VBox):
    """Choose a fusion method, press Train, see accuracy, confusion matrix and weights.

    To train within seconds, the picker trains only the fusion layer and the
    classifier head, on feature vectors computed once by trained encoders
    (``build_multimodal_model(encoders="features")``).

    Parameters
    ----------
    train_features, test_features : dict of modality -> ``(n, width)`` arrays
    train_labels, test_labels : int arrays
    class_names : names of the classes, for the confusion matrix
    epochs, batch_size : training budget of each Train click

    Attributes
    ----------
    method, mode : ipywidgets.ToggleButtons
    sliders : list of ipywidgets.FloatSlider, one weight per modality (fixed mode)
    train_button : ipywidgets.Button
    output : ipywidgets.HTML
        Results: test accuracy, weights, confusion matrix.
    result : dict or None
        The last training's results (``accuracy``, ``confusion``, ``weights``, ``seconds``).
    """

    def __init__(self, train_features, train_labels, test_features, test_labels,
                 class_names: Sequence[str] | None = None, epochs: int = 12,
                 batch_size: int = 64, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)

        if not isinstance(train_features, dict) or not train_features:
            raise ValueError("train_features: expected a non-empty dict of modality -> array")
        check_instance("test_features", test_features, dict, " of modality -> array")
        if sorted(test_features) != sorted(train_features):
            raise ValueError(
                f"test_features: expected modalities {sorted(train_features)}, got {sorted(test_features)}"
            )
        self.modalities = list(train_features)
        self.train_features, self.test_features = train_features, test_features
        if class_names is None:
            n_classes = None
        else:
            class_names = check_str_sequence("class_names", class_names)
            n_classes = len(class_names)
        self.train_labels = check_labels("train_labels", train_labels, n_classes)
        self.test_labels = check_labels("test_labels", test_labels, n_classes)
        if class_names is None:
            n_classes = int(max(self.train_labels.max(), self.test_labels.max())) + 1
            class_names = [str(i) for i in range(n_classes)]
        self.class_names = list(class_names)
        self.epochs = check_int("epochs", epochs, min_value=1)
        self.batch_size = check_int("batch_size", batch_size, min_value=1)
        self.width = int(next(iter(train_features.values())).shape[1])
        self.result: dict | None = None

        self.method = widgets.ToggleButtons(options=list(FUSION_PICKER_METHODS), value="parallel",
                                            description="Fusion")  # fmt: skip
        self.mode = widgets.ToggleButtons(options=list(FUSION_PICKER_MODES), value="learned",
                                          description="Mode")  # fmt: skip
        n = len(self.modalities)
        self.sliders = [
            widgets.FloatSlider(
                value=round(1 / n, 2), min=0.0, max=1.0, step=0.05, description=m, continuous_update=False
            )  # fmt: skip
            for m in self.modalities
        ]
        self._weights = [1.0 / n] * n
        self.train_button = widgets.Button(description="Train", button_style="primary")
        self.info = widgets.HTML()
        self.output = widgets.HTML()
        self._updating = False
        self.method.observe(lambda change: self._refresh(), names="value")
        self.mode.observe(lambda change: self._refresh(), names="value")
        for i, slider in enumerate(self.sliders):
            slider.observe(self._make_slider_handler(i), names="value")
        self.train_button.on_click(lambda button: self.train())
        self.weight_box = widgets.VBox(self.sliders)
        self.children = (self.method, self.mode, self.weight_box, self.info, self.train_button, self.output)
        self._refresh()

    # -- logic ---------------------------------------------------------------------------

    @property
    def weights(self) -> list[float]:
        """The fixed weights set with the sliders (summing to 1)."""
        return list(self._weights)

    def set_weight(self, index: int, value: float) -> list[float]:
        """Move slider ``index`` to ``value``; the others follow so the sum stays 1."""
        self._weights = rebalance_weights(self._weights, index, value)
        self._updating = True
        try:
            for slider, w in zip(self.sliders, self._weights, strict=True):
                slider.value = w
        finally:
            self._updating = False
        self._refresh()
        return self.weights

    def train(self) -> dict:
        """Train the chosen fusion on the training features; show and return the results."""
        import time

        import numpy as np

        from mmteach.models import build_multimodal_model

        method, mode = self.method.value, self.mode.value
        kwargs: dict[str, Any] = {"fusion": method}
        if method == "weighted":
            kwargs["weighted_mode"] = mode
            if mode == "fixed":
                w = np.asarray(self._weights)
                kwargs["weights"] = (w / w.sum()).tolist()
        self.output.value = "<i>Training...</i>"
        start = time.perf_counter()
        model = build_multimodal_model(self.modalities, encoders="features", width=self.width,
                                       n_classes=len(self.class_names), name=f"picker_{method}",
                                       **kwargs)  # fmt: skip
        model.fit(self.train_features, self.train_labels, epochs=self.epochs,
                  batch_size=self.batch_size, verbose=0)  # fmt: skip
        seconds = time.perf_counter() - start
        pred = model.predict(self.test_features, verbose=0).argmax(axis=1)
        accuracy = float((pred == self.test_labels).mean())
        cm = confusion_matrix(self.test_labels, pred, len(self.class_names))
        weights = None
        if method == "weighted":
            fusion = model.get_layer("fusion")
            if mode == "gated":
                gates = fusion.gates([self.test_features[m] for m in self.modalities])
                weights = gates.mean(axis=(0, 2)).tolist()
            else:
                weights = fusion.modality_weights().tolist()
        self.result = {"accuracy": accuracy, "confusion": cm, "weights": weights, "seconds": seconds,
                       "model": model}  # fmt: skip
        margin = accuracy_margin(accuracy, len(self.test_labels))
        parts = [f"Test accuracy: <b>{accuracy:.2f}</b> ± {margin:.2f} (95%, {len(self.test_labels)} test "
                 f"samples; trained in {seconds:.1f} s)."]  # fmt: skip
        if weights is not None:
            title = {"fixed": "your weights", "learned": "learned weights",
                     "gated": "mean gate per modality"}[mode]  # fmt: skip
            parts.append(weights_html(self.modalities, weights, title))
        parts.append(confusion_html(cm, self.class_names))
        self.output.value = "<br>".join(parts)
        return self.result

    # -- display -------------------------------------------------------------------------

    def _refresh(self) -> None:
        weighted = self.method.value == "weighted"
        self.mode.layout.display = None if weighted else "none"
        fixed = weighted and self.mode.value == "fixed"
        self.weight_box.layout.display = None if fixed else "none"
        self.info.value = html.escape(fusion_description(self.method.value, self.mode.value, self._weights))

    def _make_slider_handler(self, index: int):
        def on_change(change: dict[str, Any]) -> None:
            if not self._updating:
                self.set_weight(index, change["new"])

        return on_change


def fusion_picker(encoders, train, test, class_names: Sequence[str] | None = None,
                  epochs: int = 12, batch_size: int = 64) -> FusionPicker:  # fmt: skip
    """Build the fusion picker on top of trained encoders.

    Parameters
    ----------
    encoders : dict of modality -> keras.Model
        Trained encoders (e.g. :func:`mmteach.models.modality_encoder`); their
        features are computed once here.
    train, test : :class:`mmteach.preprocessing.ModelInputs`
    class_names : optional class names (default: Shapes World's classes)

    Example
    -------
    >>> fusion_picker(encoders, data["train"], data["test"])  # doctest: +SKIP
    """
    from mmteach.models import extract_features

    if class_names is None:
        from mmteach.datasets import CLASS_NAMES

        class_names = CLASS_NAMES
    return FusionPicker(extract_features(encoders, train.inputs), train.labels,
                        extract_features(encoders, test.inputs), test.labels,
                        class_names=class_names, epochs=epochs, batch_size=batch_size)  # fmt: skip
