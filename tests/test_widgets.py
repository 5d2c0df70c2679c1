"""Tests for mmteach.widgets, driven like a browser would: by setting button values.

Device discovery is faked (no TensorFlow in this process), so the same tests cover a
machine with and one without a GPU.
"""

from __future__ import annotations

import warnings

import ipywidgets
import pytest

from mmteach import device, widgets

CPUS = ["/device:CPU:0"]
GPUS = ["/device:GPU:0"]


@pytest.fixture(autouse=True)
def fresh_state():
    device._reset()
    yield
    device._reset()


@pytest.fixture
def machine(monkeypatch):
    """Fake the devices found: ``machine(gpus=[...])``."""

    def fake(gpus=(), cpus=tuple(CPUS)):
        monkeypatch.setattr(device, "gpu_names", lambda: list(gpus))
        monkeypatch.setattr(device, "cpu_names", lambda: list(cpus))

    return fake


def click(picker: widgets.DevicePicker, choice: str) -> str:
    """What a click in the browser does: toggle the button's value."""
    button = picker.buttons[choice]
    button.value = not button.value
    return picker.status.value


def pressed(picker: widgets.DevicePicker) -> list[str]:
    return [choice for choice, button in picker.buttons.items() if button.value]


# --------------------------------------------------------------------------- pure functions


def test_describe_devices_without_and_with_gpu():
    text = widgets.describe_devices(["/device:CPU:0", "/device:CPU:1"], [])
    assert "<b>2 CPU</b> (CPU:0, CPU:1)" in text
    assert "<b>no GPU</b>" in text and "GPU button is disabled" in text
    text = widgets.describe_devices(CPUS, ["/physical_device:GPU:0"])
    assert "<b>1 GPU</b> (GPU:0)" in text and "disabled" not in text


def test_device_tooltips_explain_a_missing_gpu():
    tips = widgets.device_tooltips([])
    assert set(tips) == {"cpu", "gpu", "auto"}
    assert tips["gpu"].startswith("Disabled: TensorFlow found no GPU")
    assert "GPU:0" in widgets.device_tooltips(GPUS)["gpu"]


def test_device_status_sentences():
    assert "no GPU was found" in widgets.device_status("auto", "/CPU:0", [])
    assert "a GPU was found" in widgets.device_status("auto", "/GPU:0", GPUS)
    text = widgets.device_status("cpu", "/CPU:0", [])
    assert "Selected <b>CPU</b>" in text and "<code>/CPU:0</code>" in text
    assert "mmteach.device.use(&#x27;cpu&#x27;)" in text
    assert "but no GPU was found" in widgets.device_status("gpu", "/CPU:0", [])
    assert widgets.device_status("cpu", "/CPU:0", [], note="Hi <you>").startswith("<i>Hi &lt;you&gt;</i>")
    with pytest.raises(ValueError, match="choice"):
        widgets.device_status("tpu", "/CPU:0", [])


# --------------------------------------------------------------------------- picker, no GPU


def test_picker_layout_without_gpu(machine):
    machine(gpus=[])
    picker = widgets.device_picker()
    assert isinstance(picker, ipywidgets.VBox)
    found, row, status = picker.children
    assert found is picker.found and status is picker.status
    assert [b.description for b in row.children] == ["CPU", "GPU", "Auto"]
    assert picker.buttons["gpu"].disabled
    assert picker.buttons["gpu"].tooltip.startswith("Disabled")
    assert not picker.buttons["cpu"].disabled and not picker.buttons["auto"].disabled
    assert "no GPU" in picker.found.value
    # starts from the session's current choice
    assert picker.value == "auto" and pressed(picker) == ["auto"]
    assert "Selected <b>Auto</b>" in picker.status.value


def test_clicking_cpu_then_auto_changes_choice_and_output(machine):
    machine(gpus=[])
    picker = widgets.device_picker()
    outputs = [picker.status.value]

    outputs.append(click(picker, "cpu"))
    assert device.current() == "cpu" and picker.value == "cpu"
    assert pressed(picker) == ["cpu"]
    assert "Selected <b>CPU</b>" in outputs[-1] and "/CPU:0" in outputs[-1]

    outputs.append(click(picker, "auto"))
    assert device.current() == "auto" and pressed(picker) == ["auto"]
    assert "no GPU was found" in outputs[-1]

    outputs.append(click(picker, "cpu"))
    assert device.current() == "cpu"
    # every click changed what the user sees
    assert all(a != b for a, b in zip(outputs, outputs[1:], strict=False))


def test_gpu_selection_without_gpu_is_refused_and_explained(machine):
    machine(gpus=[])
    picker = widgets.device_picker()
    click(picker, "cpu")
    before = picker.status.value
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the picker explains; it must not warn
        after = click(picker, "gpu")  # a disabled button set from code
    assert after != before and "GPU is not available" in after
    assert "Selected <b>CPU</b>" in after
    assert device.current() == "cpu" and picker.value == "cpu"
    assert pressed(picker) == ["cpu"]


def test_clicking_the_pressed_button_keeps_it_pressed(machine):
    machine(gpus=[])
    picker = widgets.device_picker()
    click(picker, "cpu")
    click(picker, "cpu")  # un-toggles it in the browser
    assert pressed(picker) == ["cpu"] and device.current() == "cpu"


def test_picker_shows_a_choice_made_in_code(machine):
    machine(gpus=[], cpus=["/device:CPU:0", "/device:CPU:1"])
    device.use("cpu:1")
    picker = widgets.device_picker()
    assert picker.value == "cpu:1" and pressed(picker) == ["cpu"]
    assert "/CPU:1" in picker.status.value
    assert "(CPU:0, CPU:1)" in picker.found.value


def test_select_returns_the_status_and_validates(machine):
    machine(gpus=[])
    picker = widgets.device_picker()
    assert picker.select("cpu") == picker.status.value
    with pytest.raises(ValueError, match="choice"):
        picker.select("tpu")
    assert device.current() == "cpu"


# --------------------------------------------------------------------------- picker, fake GPU


def test_picker_with_a_gpu_selects_it(machine):
    machine(gpus=GPUS)
    picker = widgets.device_picker()
    assert not picker.buttons["gpu"].disabled
    assert "<b>1 GPU</b>" in picker.found.value

    text = click(picker, "gpu")
    assert device.current() == "gpu" and device.device_name() == "/GPU:0"
    assert pressed(picker) == ["gpu"] and "Selected <b>GPU</b>" in text and "/GPU:0" in text

    text = click(picker, "cpu")
    assert device.device_name() == "/CPU:0" and "/CPU:0" in text

    text = click(picker, "auto")
    assert device.device_name() == "/GPU:0" and "a GPU was found" in text
    assert pressed(picker) == ["auto"]
