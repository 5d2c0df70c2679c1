"""The `mmteach` command: list, run, doctor and data, without TensorFlow where possible."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from mmteach import cli, doctor
from mmteach.course import COURSE

# --------------------------------------------------------------------------- helpers


def write_notebook(path: Path, *sources: str) -> Path:
    nb = new_notebook(cells=[new_markdown_cell("# A test notebook")])
    nb.cells += [new_code_cell(src) for src in sources]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


# --------------------------------------------------------------------------- list


def test_list_prints_every_lesson(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    for item in COURSE:
        assert item.title in out
        assert item.summary in out
        assert f"{item.number:02d}" in out


def test_format_table_aligns_columns():
    text = doctor.format_table(["a", "long header"], [[1, "x"], [22, "yy"]])
    lines = text.splitlines()
    assert lines[0] == "a   long header"
    assert lines[2] == "1   x"
    with pytest.raises(ValueError, match="rows"):
        doctor.format_table(["a"], [[1, 2]])


# --------------------------------------------------------------------------- run: errors


def test_run_unknown_name_is_one_line(capsys, tmp_path):
    (tmp_path / "notebooks").mkdir()
    code, _, err = run(capsys, "run", "no_such_lesson", "--notebooks", str(tmp_path / "notebooks"))
    assert code != 0
    line = assert_one_line_error(err)
    assert "no_such_lesson" in line


def test_run_unknown_name_from_the_shell_has_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mmteach.cli", "run", "99"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode != 0
    assert_one_line_error(result.stderr)


def test_run_missing_notebooks_dir(capsys, tmp_path):
    code, _, err = run(capsys, "run", "--notebooks", str(tmp_path / "nowhere"))
    assert code != 0
    assert "nowhere" in assert_one_line_error(err)


def test_run_missing_notebook_file(capsys, tmp_path):
    code, _, err = run(capsys, "run", str(tmp_path / "ghost.ipynb"))
    assert code != 0
    assert "ghost.ipynb" in assert_one_line_error(err)


def test_run_lesson_without_notebook(capsys, tmp_path):
    code, _, err = run(capsys, "run", "fusion", "--notebooks", str(tmp_path))
    assert code != 0
    assert "04_fusion.ipynb" in assert_one_line_error(err)


def test_run_empty_notebooks_dir(capsys, tmp_path):
    code, _, err = run(capsys, "run", "--notebooks", str(tmp_path))
    assert code != 0
    assert "no course notebooks" in assert_one_line_error(err)


def test_run_rejects_bad_timeout(capsys, tmp_path):
    nb = write_notebook(tmp_path / "t.ipynb", "1")
    code, _, err = run(capsys, "run", str(nb), "--timeout", "0")
    assert code != 0
    assert "--timeout" in assert_one_line_error(err)


def test_usage_error_returns_2(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert cli.main([]) == 2


# --------------------------------------------------------------------------- run: names


@pytest.mark.parametrize("name", ["4", "04", "fusion", "04_fusion", "04_fusion.ipynb"])
def test_resolve_accepts_every_spelling(tmp_path, name):
    write_notebook(tmp_path / "04_fusion.ipynb", "1")
    [target] = cli.resolve_notebooks([name], tmp_path)
    assert target.path == tmp_path / "04_fusion.ipynb"
    assert target.number == 4


def test_resolve_orders_by_course_and_defaults_to_present(tmp_path):
    for item in (COURSE[5], COURSE[0], COURSE[2]):
        write_notebook(tmp_path / item.filename, "1")
    write_notebook(tmp_path / "scratch.ipynb", "1")
    given = cli.resolve_notebooks(["5", "0", "02"], tmp_path)
    assert [t.number for t in given] == [0, 2, 5]
    default = cli.resolve_notebooks([], tmp_path)
    assert [t.number for t in default] == [0, 2, 5]  # scratch.ipynb is not a lesson
    extra = cli.resolve_notebooks([str(tmp_path / "scratch.ipynb"), "5"], tmp_path)
    assert [t.name for t in extra] == [COURSE[5].filename, "scratch.ipynb"]


# --------------------------------------------------------------------------- run: kernels


def test_run_tiny_notebook_writes_copy_and_table(capsys, tmp_path):
    (tmp_path / "nb" / "hello.txt").parent.mkdir()
    (tmp_path / "nb" / "hello.txt").write_text("hi from a relative path")
    src = write_notebook(
        tmp_path / "nb" / "tiny.ipynb",
        "print(open('hello.txt').read())",  # runs in the notebook's folder
        "",  # empty cells are skipped
        "6 * 7",
    )
    before = src.read_bytes()
    build = tmp_path / "build"
    code, out, err = run(capsys, "run", str(src), "--build-dir", str(build), "--no-progress")
    assert code == 0, err
    assert "tiny.ipynb" in out and "ok" in out and "seconds" in out
    assert src.read_bytes() == before  # the source is never touched without --inplace
    nb = nbformat.read(build / "tiny.ipynb", as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells[0].outputs[0]["text"] == "hi from a relative path\n"
    assert [c.execution_count for c in code_cells] == [1, None, 2]
    assert code_cells[2].outputs[0]["data"]["text/plain"] == "42"
    assert code_cells[2].outputs[0]["execution_count"] == 2


def test_run_failing_cell_names_notebook_cell_and_error(capsys, tmp_path):
    src = write_notebook(tmp_path / "boom.ipynb", "x = 1", "raise ValueError('bad input')")
    before = src.read_bytes()
    code, out, err = run(
        capsys, "run", str(src), "--build-dir", str(tmp_path / "b"), "--inplace", "--no-progress"
    )
    assert code != 0
    line = assert_one_line_error(err)
    assert "boom.ipynb" in line and "cell 3" in line and "ValueError: bad input" in line
    assert "FAILED" in out
    assert src.read_bytes() == before  # a failed run never overwrites the notebook
    assert (tmp_path / "b" / "boom.ipynb").is_file()  # the executed copy is kept for reading


def test_run_stops_at_first_failure(capsys, tmp_path):
    write_notebook(tmp_path / "00_setup_and_tour.ipynb", "1/0")
    write_notebook(tmp_path / "01_preprocessing.ipynb", "1")
    code, out, err = run(capsys, "run", "--notebooks", str(tmp_path), "--build-dir", str(tmp_path / "b"))
    assert code != 0
    assert "ZeroDivisionError" in assert_one_line_error(err)
    assert "01_preprocessing" not in out


def test_run_inplace_rewrites_normalised(capsys, tmp_path):
    src = write_notebook(tmp_path / "n.ipynb", "print('a')", "'b'")
    nb = nbformat.read(src, as_version=4)
    nb.cells[1].metadata["tags"] = ["keep-me"]
    nb.metadata["kernelspec"] = {"name": "somewhere-else", "display_name": "x", "language": "py"}
    nbformat.write(nb, src)
    code, _, err = run(capsys, "run", str(src), "--inplace", "--no-progress")
    assert code == 0, err
    nb = nbformat.read(src, as_version=4)
    assert [c.execution_count for c in nb.cells if c.cell_type == "code"] == [1, 2]
    assert nb.cells[1].metadata["tags"] == ["keep-me"]
    assert nb.cells[1].outputs[0]["text"] == "a\n"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    text = src.read_text()
    assert str(tmp_path) not in text and "/tmp" not in text
    assert "execution" not in nb.cells[1].metadata  # no timestamps
    assert not (tmp_path / "build").exists()


def test_run_dead_kernel_is_one_line(capsys, tmp_path):
    src = write_notebook(tmp_path / "dies.ipynb", "import os\nos._exit(3)")
    code, _, err = run(capsys, "run", str(src), "--build-dir", str(tmp_path / "b"), "--no-progress")
    assert code != 0
    line = assert_one_line_error(err)
    assert "dies.ipynb" in line and "kernel died" in line


def test_run_timeout_is_one_line(capsys, tmp_path):
    src = write_notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(30)")
    code, _, err = run(
        capsys, "run", str(src), "--timeout", "1", "--build-dir", str(tmp_path / "b"), "--no-progress"
    )
    assert code != 0
    line = assert_one_line_error(err)
    assert "slow.ipynb" in line and "--timeout" in line


def test_kernel_gets_quiet_tensorflow_env(capsys, tmp_path):
    src = write_notebook(
        tmp_path / "env.ipynb",
        "import os, sys\nprint(os.environ['TF_CPP_MIN_LOG_LEVEL'], os.environ['TF_ENABLE_ONEDNN_OPTS'])\n"
        "print(sys.executable)",
    )
    code, _, err = run(capsys, "run", str(src), "--build-dir", str(tmp_path / "b"), "--no-progress")
    assert code == 0, err
    nb = nbformat.read(tmp_path / "b" / "env.ipynb", as_version=4)
    env_line, exe = nb.cells[1].outputs[0]["text"].splitlines()
    assert env_line == "2 0"
    assert Path(exe).resolve() == Path(sys.executable).resolve()  # this environment's Python


def test_normalise_renumbers_and_drops_machine_metadata():
    nb = new_notebook(cells=[new_code_cell("1", execution_count=7), new_code_cell("  ")])
    nb.cells[0].outputs = [
        nbformat.v4.new_output("execute_result", data={"text/plain": "1"}, execution_count=7)
    ]
    nb.cells[0].metadata["execution"] = {"iopub.status.busy": "2024-01-01"}
    nb.cells[1].execution_count = 3
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    nb.metadata["vscode"] = {"interpreter": {"hash": "abc"}}
    cli.normalise(nb)
    assert nb.cells[0].execution_count == 1
    assert nb.cells[0].outputs[0]["execution_count"] == 1
    assert "execution" not in nb.cells[0].metadata
    assert nb.cells[1].execution_count is None
    assert nb.metadata["language_info"] == {"name": "python"}
    assert "vscode" not in nb.metadata
    assert nb.metadata["kernelspec"]["name"] == "python3"


# --------------------------------------------------------------------------- doctor


@pytest.mark.parametrize(
    ("installed", "spec", "ok"),
    [
        ("2.17.0", ">=2.16,<3", True),
        ("2.16.0", ">=2.16,<3", True),
        ("2.15.1", ">=2.16,<3", False),
        ("3.0.0", ">=2.16,<3", False),
        ("8.1.5", ">=8,<9", True),
        ("2.0.0rc1", ">=1.26", True),
        (None, ">=1.0", False),
        ("not-a-version", ">=1.0", False),
    ],
)
def test_check_version(installed, spec, ok):
    result, reason = doctor.check_version(installed, spec)
    assert result is ok
    assert (reason == "") is ok


def test_check_version_rejects_bad_specifier():
    with pytest.raises(ValueError, match="specifier"):
        doctor.check_version("1.0", "about two")


def test_requirement_specifiers_skip_extras_and_order_bounds():
    specs = doctor.requirement_specifiers(
        [
            "tensorflow<3,>=2.16",
            "NumPy>=1.26",
            'pytest>=8; extra == "dev"',
            'tensorflow[and-cuda]<3,>=2.16; extra == "gpu"',
            'tomli>=2; python_version < "3.0"',
        ]
    )
    assert specs == {"tensorflow": ">=2.16,<3", "numpy": ">=1.26"}


def test_requirements_come_from_installed_metadata():
    from importlib.metadata import requires

    specs = doctor.requirement_specifiers(requires("mmteach"))
    for name in ("tensorflow", "numpy", "pandas", "scikit-learn", "ipywidgets", "jupyterlab", "nbval"):
        assert name in specs, name
        assert specs[name], name


def test_package_checks_flag_old_and_missing():
    versions = {"numpy": "1.20.0", "nbval": None}
    rows = doctor.package_checks(
        ["numpy>=1.26", "nbval>=0.11", "pandas>=2.0"],
        ">=3.10",
        version_of=lambda dists: versions.get(dists[0], "9.9.9"),
        python_version="3.9.1",
    )
    by_name = {r.name: r for r in rows}
    assert not by_name["Python"].ok and "3.10" in by_name["Python"].fix
    assert not by_name["numpy"].ok and 'pip install "numpy>=1.26"' in by_name["numpy"].fix
    assert not by_name["nbval"].ok and by_name["nbval"].found == "missing"
    assert by_name["pandas"].ok
    assert by_name["Keras"].required == ">=3.12"  # not declared in these requirements: the implied floor


def test_doctor_prints_table_and_what_to_do(capsys, monkeypatch):
    rows = [
        doctor.Check("numpy", "2.0", ">=1.26", True),
        doctor.Check("Shapes World data", "not verified", "checksums match", False, "restore data/"),
    ]
    monkeypatch.setattr(cli, "collect_checks", lambda: rows)
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    assert "numpy" in out and "FAIL" in out
    assert "What to do" in out and "restore data/" in out
    monkeypatch.setattr(cli, "collect_checks", lambda: rows[:1])
    code, out, _ = run(capsys, "doctor")
    assert code == 0 and "All checks passed" in out


def test_device_check_counts_physical_devices(monkeypatch):
    frame = pd.DataFrame(
        {
            "kind": ["physical", "logical", "logical"],
            "device_type": ["CPU", "CPU", "CPU"],
            "name": ["/physical_device:CPU:0", "/device:CPU:0", "/device:CPU:1"],
        }
    )
    fake = types.SimpleNamespace(list_devices=lambda logical=True: frame)
    monkeypatch.setitem(sys.modules, "mmteach.device", fake)
    row = doctor.device_check()
    assert row.ok and row.found == "1 CPU, 0 GPU" and "CPU only" in row.note

    def broken(logical=True):
        raise RuntimeError("no TensorFlow")

    monkeypatch.setitem(sys.modules, "mmteach.device", types.SimpleNamespace(list_devices=broken))
    row = doctor.device_check()
    assert not row.ok and "no TensorFlow" in row.fix


def test_kernel_check_finds_python3():
    assert doctor.kernel_check().ok


# --------------------------------------------------------------------------- data


class FakeDataError(Exception):
    pass


@pytest.fixture
def fake_datasets(monkeypatch, tmp_path):
    calls = {}

    def verify_snapshot(root=None):
        calls["verify"] = root
        if (Path(root) / "broken").exists():
            raise FakeDataError(f"{root}/images/x.png: checksum mismatch")
        return 12

    def build_snapshot(root, n=3000, seed=0):
        calls["build"] = (root, n, seed)
        return Path(root)

    fake = types.SimpleNamespace(
        DataError=FakeDataError,
        default_root=lambda: tmp_path,
        verify_snapshot=verify_snapshot,
        build_snapshot=build_snapshot,
    )
    monkeypatch.setitem(sys.modules, "mmteach.datasets", fake)

    def verify_scenes(root=None):
        calls["verify_scenes"] = root
        return 5

    def build_scenes_snapshot(root, n=1500, seed=0):
        calls["build_scenes"] = (root, n, seed)
        return Path(root)

    fake_scenes = types.SimpleNamespace(
        default_scenes_root=lambda: tmp_path / "scenes",
        verify_scenes=verify_scenes,
        build_scenes_snapshot=build_scenes_snapshot,
    )
    monkeypatch.setitem(sys.modules, "mmteach.scenes", fake_scenes)

    def verify_spoken_digits(root=None):
        calls["verify_spoken"] = root
        return 2500

    fake_spoken = types.SimpleNamespace(
        default_spoken_digits_root=lambda: tmp_path / "spoken_digits",
        verify_spoken_digits=verify_spoken_digits,
    )
    monkeypatch.setitem(sys.modules, "mmteach.spoken_digits", fake_spoken)
    return calls


def test_data_verify(capsys, fake_datasets, tmp_path):
    code, out, _ = run(capsys, "data", "verify")
    assert code == 0 and "12 files" in out and "Scenes: 5 files" in out
    assert fake_datasets["verify"] == tmp_path
    assert fake_datasets["verify_scenes"] == tmp_path / "scenes"
    assert "Spoken digits: 2500 files" in out and fake_datasets["verify_spoken"] == tmp_path / "spoken_digits"
    (tmp_path / "broken").touch()
    code, _, err = run(capsys, "data", "verify")
    assert code != 0
    assert "images/x.png" in assert_one_line_error(err)


def test_data_verify_one_folder(capsys, fake_datasets, tmp_path):
    code, out, _ = run(capsys, "data", "verify", "--spoken-digits-root", str(tmp_path / "sd"))
    assert code == 0 and out.startswith("Spoken digits: 2500 files")
    assert "verify" not in fake_datasets and "verify_scenes" not in fake_datasets
    assert fake_datasets["verify_spoken"] == tmp_path / "sd"


def test_spoken_digits_check_verifies_the_bundled_recordings():
    row = doctor.spoken_digits_check()
    assert row.ok and row.found == "2500 recordings verified"


def test_data_build_passes_options(capsys, fake_datasets, tmp_path):
    code, out, _ = run(capsys, "data", "build", "--out", str(tmp_path / "sw"), "--n", "50", "--seed", "3")
    assert code == 0
    assert fake_datasets["build"] == (tmp_path / "sw", 50, 3)
    assert "50 samples" in out
    assert "build_scenes" not in fake_datasets  # only the folder asked for
    code, out, _ = run(capsys, "data", "build", "--scenes-out", str(tmp_path / "sc"), "--scenes", "20")
    assert code == 0 and fake_datasets["build_scenes"] == (tmp_path / "sc", 20, 0) and "20 scenes" in out


def test_data_needs_an_action(capsys):
    assert cli.main(["data"]) == 2


def test_normalise_drops_tensorflow_log_lines_only():
    log = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1795889544.603465   11633 cudart_stub.cc:31] Could not find cuda drivers.\n"
        "E0000 00:00:1795889378.432087    9645 cuda_platform.cc:52] failed call to cuInit\n"
    )
    nb = new_notebook(cells=[new_code_cell("import tensorflow"), new_code_cell("warn()")])
    nb.cells[0].outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=log),
        nbformat.v4.new_output("stream", name="stdout", text="I0000 kept on stdout\n"),
    ]
    nb.cells[1].outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=log + "UserWarning: keep me\n")
    ]
    cli.normalise(nb)
    assert [o["name"] for o in nb.cells[0].outputs] == ["stdout"]
    assert nb.cells[1].outputs[0]["text"] == "UserWarning: keep me\n"


def test_run_all_reports_lessons_not_written(capsys, tmp_path):
    write_notebook(tmp_path / COURSE[1].filename, "print('one')")
    code, out, err = run(
        capsys, "run", "--notebooks", str(tmp_path), "--build-dir", str(tmp_path / "b"), "--no-progress"
    )
    assert code == 0, err
    assert COURSE[1].filename in out
    assert "without a notebook yet (skipped): 00, 02" in out
