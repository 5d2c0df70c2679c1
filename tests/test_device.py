"""Tests for mmteach.device.

The pure selection logic is tested in-process with made-up GPU lists. Anything that
needs TensorFlow's real devices runs in a fresh Python process: the device set can
only be configured before TensorFlow initialises, once per process, and other tests
in this session must not inherit that configuration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

from mmteach import device

FAKE_GPU = ["/device:GPU:0"]


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    """Each test starts from the default choice, with the warn-once memory cleared,
    and with a CPU-only machine faked so that no test here imports TensorFlow."""
    device._reset()
    monkeypatch.setattr(device, "gpu_names", lambda: [])
    monkeypatch.setattr(device, "cpu_names", lambda: ["/device:CPU:0"])
    yield
    device._reset()


def run_python(code: str, timeout: float = 240) -> dict:
    """Run ``code`` in a fresh interpreter; it must print one JSON object last."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert proc.returncode == 0, f"subprocess failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- parse_choice


@pytest.mark.parametrize(
    "choice, expected",
    [
        ("auto", ("auto", None)),
        ("AUTO", ("auto", None)),
        ("cpu", ("cpu", None)),
        ("GPU", ("gpu", None)),
        ("cpu:1", ("cpu", 1)),
        ("/CPU:1", ("cpu", 1)),
        ("/device:GPU:0", ("gpu", 0)),
        (" gpu:2 ", ("gpu", 2)),
    ],
)
def test_parse_choice_accepts_plain_and_indexed_forms(choice, expected):
    assert device.parse_choice(choice) == expected


@pytest.mark.parametrize("bad", ["tpu", "", "cpu:", "cpu:-1", "gpu0", "cuda", "auto:0"])
def test_parse_choice_rejects_unknown_strings(bad):
    with pytest.raises(ValueError, match="choice: expected one of 'auto', 'cpu', 'gpu'") as err:
        device.parse_choice(bad)
    assert repr(bad) in str(err.value)


@pytest.mark.parametrize("bad", [None, 0, 1.5, ["cpu"], b"cpu"])
def test_parse_choice_rejects_wrong_types(bad):
    with pytest.raises(ValueError, match="choice: expected") as err:
        device.parse_choice(bad)
    assert type(bad).__name__ in str(err.value)


# --------------------------------------------------------------------------- resolve (pure)


@pytest.mark.parametrize(
    "choice, gpus, expected",
    [
        ("cpu", [], "/CPU:0"),
        ("cpu", FAKE_GPU, "/CPU:0"),
        ("auto", [], "/CPU:0"),
        ("auto", FAKE_GPU, "/GPU:0"),
        ("gpu", FAKE_GPU, "/GPU:0"),
        ("gpu", [], "/CPU:0"),
        ("gpu:1", ["/device:GPU:0", "/device:GPU:1"], "/GPU:1"),
        ("gpu:1", [], "/CPU:0"),
        ("cpu:1", [], "/CPU:1"),
    ],
)
def test_resolve_table(choice, gpus, expected):
    assert device.resolve(choice, gpus) == expected


def test_resolve_picks_the_gpu_from_a_faked_list():
    assert device.resolve("gpu", ["/physical_device:GPU:0"]) == "/GPU:0"
    assert device.resolve("auto", ["/physical_device:GPU:0"]) == "/GPU:0"


def test_resolve_checks_indices_against_existing_devices():
    with pytest.raises(ValueError, match=r"logical CPU 2.*only 2 exist.*configure_logical_cpus"):
        device.resolve("cpu:2", [], ["/device:CPU:0", "/device:CPU:1"])
    with pytest.raises(ValueError, match=r"GPU 3.*only 1 GPU"):
        device.resolve("gpu:3", FAKE_GPU)


def test_resolve_rejects_a_string_as_gpu_list():
    with pytest.raises(ValueError, match="available_gpus: expected a list"):
        device.resolve("gpu", "/GPU:0")
    with pytest.raises(ValueError, match="available_cpus: expected a list"):
        device.resolve("cpu", [], available_cpus=2)


# --------------------------------------------------------------------------- use / current


def test_default_choice_is_auto():
    assert device.current() == "auto"
    assert device.device_name() == "/CPU:0"


def test_use_as_plain_call_sets_the_current_choice():
    device.use("CPU")
    assert device.current() == "cpu"
    assert device.device_name() == "/CPU:0"


def test_use_with_a_faked_gpu_selects_it(monkeypatch):
    monkeypatch.setattr(device, "gpu_names", lambda: list(FAKE_GPU))
    chosen = device.use("gpu")
    assert (device.current(), device.device_name(), chosen.device) == ("gpu", "/GPU:0", "/GPU:0")
    device.use("auto")
    assert device.device_name() == "/GPU:0"
    device.use("cpu")
    assert device.device_name() == "/CPU:0"


def test_gpu_without_gpu_warns_once_and_falls_back_to_cpu():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = device.use("gpu")
        second = device.use("gpu")
        name = device.device_name()
    no_gpu = [w for w in caught if issubclass(w.category, device.NoGPUWarning)]
    assert len(no_gpu) == 1, [str(w.message) for w in caught]
    message = str(no_gpu[0].message)
    assert "no GPU is available" in message and "/CPU:0" in message
    assert no_gpu[0].filename == __file__  # points at the user's line, not at mmteach
    assert first.device == second.device == name == "/CPU:0"
    assert device.current() == "gpu"  # the wish is remembered; the placement falls back


def test_auto_without_gpu_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        device.use("auto")
        assert device.device_name() == "/CPU:0"


def test_use_rejects_bad_input_and_keeps_the_previous_choice():
    device.use("cpu")
    with pytest.raises(ValueError, match="choice"):
        device.use("tpu")
    with pytest.raises(ValueError, match="choice"):
        device.use(1)
    assert device.current() == "cpu"


def test_use_cpu_index_beyond_logical_cpus_is_an_error():
    with pytest.raises(ValueError, match="logical CPU 1"):
        device.use("cpu:1")


def test_bad_arguments_of_setup_functions():
    with pytest.raises(ValueError, match="n: expected a positive int"):
        device.configure_logical_cpus(0)
    with pytest.raises(ValueError, match="n: expected a positive int"):
        device.configure_logical_cpus(True)
    with pytest.raises(ValueError, match="logical: expected True or False"):
        device.list_devices(logical="yes")


# --------------------------------------------------------------------------- fresh processes


def test_importing_mmteach_device_and_widgets_does_not_import_tensorflow():
    result = run_python(
        """
        import json, sys
        import mmteach, mmteach.device, mmteach.widgets
        mmteach.device.use("cpu")
        print(json.dumps({"tf": "tensorflow" in sys.modules}))
        """
    )
    assert result == {"tf": False}


@pytest.mark.slow  # trains models: the full lane only
def test_two_logical_cpus_selecting_each_changes_where_ops_run():
    result = run_python(
        """
        import json
        from mmteach import device
        out = {"configured": device.configure_logical_cpus(2),
               "initialised_before": device.tf_initialized(),
               "cpus": device.cpu_names()}
        import tensorflow as tf

        for choice in ("cpu:0", "cpu:1"):
            with device.use(choice) as name:
                out[choice] = [name, (tf.ones(3) + 1).device, device.current()]
        out["after_with"] = device.current()

        device.use("cpu:1")                       # plain call + the helpers' scope()
        with device.scope() as name:
            out["scope"] = [name, tf.matmul(tf.ones((2, 2)), tf.ones((2, 2))).device]

        with device.use("cpu:0"):                 # nesting restores step by step
            with device.use("cpu:1"):
                inner = (tf.ones(1) * 2).device
            outer = (tf.ones(1) * 2).device
        out["nested"] = [inner, outer, device.current()]

        try:                                      # an exception still restores
            with device.use("cpu:0"):
                raise KeyError("boom")
        except KeyError:
            pass
        out["after_error"] = device.current()

        table = device.list_devices()
        out["columns"] = list(table.columns)
        out["logical"] = table.loc[table.kind == "logical", "logical_name"].tolist()
        out["initialised_after"] = device.tf_initialized()
        out["same_n_again"] = device.configure_logical_cpus(2)
        for name, call in [("other_n", lambda: device.configure_logical_cpus(3)),
                           ("hide", device.hide_gpus),
                           ("cpu2", lambda: device.use("cpu:2"))]:
            try:
                call()
                out[name] = None
            except (RuntimeError, ValueError) as err:
                out[name] = [type(err).__name__, str(err)]
        print(json.dumps(out))
        """
    )
    assert result["configured"] == ["/CPU:0", "/CPU:1"]
    assert result["initialised_before"] is False
    assert result["cpus"] == ["/device:CPU:0", "/device:CPU:1"]
    assert result["cpu:0"][0] == "/CPU:0" and result["cpu:0"][1].endswith("device:CPU:0")
    assert result["cpu:1"][0] == "/CPU:1" and result["cpu:1"][1].endswith("device:CPU:1")
    assert result["cpu:0"][2] == "cpu:0" and result["cpu:1"][2] == "cpu:1"
    assert result["after_with"] == "auto"
    assert result["scope"][0] == "/CPU:1" and result["scope"][1].endswith("device:CPU:1")
    assert result["nested"][0].endswith("CPU:1") and result["nested"][1].endswith("CPU:0")
    assert result["nested"][2] == "cpu:1" and result["after_error"] == "cpu:1"
    assert result["columns"] == ["kind", "device_type", "name", "logical_name"]
    assert result["logical"] == ["/CPU:0", "/CPU:1"]
    assert result["initialised_after"] is True
    assert result["same_n_again"] == ["/CPU:0", "/CPU:1"]
    kind, message = result["other_n"]
    assert kind == "RuntimeError" and "already started with 2 logical CPU" in message
    assert "Restart the kernel" in message
    kind, message = result["hide"]
    assert kind == "RuntimeError" and "hide_gpus() must run before TensorFlow" in message
    assert "Restart the kernel" in message
    kind, message = result["cpu2"]
    assert kind == "ValueError" and "only 2 exist" in message


@pytest.mark.slow  # trains models: the full lane only
def test_hide_gpus_before_tensorflow_starts():
    result = run_python(
        """
        import json, os, sys
        from mmteach import device
        device.hide_gpus()                       # TensorFlow not even imported yet
        out = {"env": os.environ.get("CUDA_VISIBLE_DEVICES"),
               "tf_imported": "tensorflow" in sys.modules}
        import tensorflow as tf
        out["gpus"] = device.gpu_names()
        out["available"] = device.gpus_available()
        out["initialised"] = device.tf_initialized()
        _ = tf.ones(1) + 1                        # now TensorFlow has started
        out["initialised_after_op"] = device.tf_initialized()
        device.hide_gpus()                        # already hidden: harmless no-op
        with device.use("auto") as name:
            out["auto"] = [name, (tf.ones(1) + 1).device]
        print(json.dumps(out))
        """
    )
    assert result["env"] == "-1"
    assert result["tf_imported"] is False
    assert result["gpus"] == [] and result["available"] is False
    assert result["initialised"] is False and result["initialised_after_op"] is True
    assert result["auto"][0] == "/CPU:0" and result["auto"][1].endswith("CPU:0")
