"""Every committed notebook is normalised: a clean, machine-independent regression baseline.

Outputs present, execution counts 1..n in order, no errors, no machine paths or user
names, widget outputs tagged nbval-ignore-output. Regenerate with `mmteach run --inplace`.
Also checks tests/nbval_sanitize.cfg on examples and that nbval does not compare stderr.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
IGNORE_TAG = "nbval-ignore-output"

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
PARAMS = [pytest.param(p, id=p.name) for p in NOTEBOOKS] or [
    pytest.param(None, id="none", marks=pytest.mark.skip(reason="notebooks/ has no notebooks yet"))
]

#: Paths that only exist on one machine; a committed notebook must not contain them.
MACHINE_PATH = re.compile(
    r"(?<![\w.])(/home/|/root(?:/|\b)|/work/|/tmp/|/Users/|/private/var/|/var/folders/"
    r"|[A-Za-z]:\\\\?Users\\)"
)
#: User names too common to flag (they occur in ordinary text).
COMMON_NAMES = {"root", "user", "admin", "runner", "jovyan", "ubuntu", "ci"}


def load(path: Path):
    return nbformat.read(path, as_version=4)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def text_of_outputs(cell) -> str:
    """All text in a cell's outputs, images left out (base64 can look like anything)."""
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"])
        for mime, value in out.get("data", {}).items():
            if mime.startswith("image/") and mime != "image/svg+xml":
                continue
            parts.append(value if isinstance(value, str) else json.dumps(value))
        parts.extend(out.get("traceback", []))
        if out.get("metadata"):
            parts.append(json.dumps(out["metadata"]))
    return "\n".join(parts)


def personal_markers() -> list[str]:
    """Strings that would identify this machine's user: the user name and home folder."""
    markers = []
    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name available
        name = ""
    if len(name) >= 3 and name.lower() not in COMMON_NAMES:
        markers.append(name)
    home = os.path.expanduser("~")
    if home not in {"/", "/root", ""}:
        markers.append(home)
    return markers


def leaks(text: str) -> list[str]:
    found = [m.group(0) for m in MACHINE_PATH.finditer(text)]
    found += [m for m in personal_markers() if m in text]
    return found


# --------------------------------------------------------------------------- notebooks


@pytest.mark.parametrize("path", PARAMS)
def test_notebook_is_valid_nbformat(path):
    nbformat.validate(load(path))


@pytest.mark.parametrize("path", PARAMS)
def test_outputs_present_and_counts_in_order(path):
    nb = load(path)
    cells = code_cells(nb)
    assert cells, f"{path.name}: no code cells"
    counts = [c.execution_count for c in cells]
    expected = list(range(1, len(cells) + 1))
    assert counts == expected, (
        f"{path.name}: execution counts {counts}, expected {expected}; "
        "regenerate with `mmteach run --inplace`"
    )
    assert any(c.outputs for c in cells), f"{path.name}: no outputs; run `mmteach run --inplace`"
    for cell in cells:
        for out in cell.outputs:
            if out.output_type == "execute_result":
                assert out.execution_count == cell.execution_count, (
                    f"{path.name} [{cell.execution_count}]: result numbered {out.execution_count}"
                )
    for cell in nb.cells:
        if cell.cell_type == "code" and not cell.source.strip():
            assert not cell.outputs, f"{path.name}: an empty code cell has outputs"


@pytest.mark.parametrize("path", PARAMS)
def test_no_error_outputs(path):
    for cell in code_cells(load(path)):
        if "raises-exception" in cell.metadata.get("tags", []):
            continue  # an error shown on purpose
        for out in cell.outputs:
            assert out.output_type != "error", (
                f"{path.name} [{cell.execution_count}]: {out.ename}: {out.evalue}"
            )


@pytest.mark.parametrize("path", PARAMS)
def test_no_machine_paths_or_user_names(path):
    nb = load(path)
    problems = []
    meta = json.dumps(nb.metadata)
    if leaks(meta):
        problems.append(f"notebook metadata: {leaks(meta)}")
    for i, cell in enumerate(nb.cells, 1):
        for where, text in (("metadata", json.dumps(cell.metadata)), ("outputs", text_of_outputs(cell))):
            found = leaks(text)
            if found:
                problems.append(f"cell {i} {where}: {sorted(set(found))}")
    assert not problems, f"{path.name}: machine-specific text: " + "; ".join(problems)


@pytest.mark.parametrize("path", PARAMS)
def test_kernelspec_is_python3(path):
    spec = load(path).metadata.get("kernelspec", {})
    assert spec.get("name") == "python3", f"{path.name}: kernelspec {spec}"


@pytest.mark.parametrize("path", PARAMS)
def test_widget_cells_ignore_output(path):
    for i, cell in enumerate(load(path).cells, 1):
        if cell.cell_type != "code":
            continue
        shows_widget = any(WIDGET_MIME in out.get("data", {}) for out in cell.outputs)
        if shows_widget:
            assert IGNORE_TAG in cell.metadata.get("tags", []), (
                f"{path.name} cell {i} shows a widget: tag it {IGNORE_TAG}"
            )


#: The tags a notebook cell may carry (CONTRIBUTING.md, "what nbval compares").
KNOWN_TAGS = {IGNORE_TAG, "solution", "raises-exception", "nbval-skip"}
#: Calls that train a model: a notebook that makes them must check its claims with mmteach.claim.
TRAINS = re.compile(r"\.fit\(|\.train\(|train_[a-z_]+\(|cross_validate\(|select_model\(|training\.fit\(")


def is_claim_cell(cell) -> bool:
    return cell.cell_type == "code" and "mmteach.claim(" in cell.source


@pytest.mark.parametrize("path", PARAMS)
def test_cells_carry_only_known_tags(path):
    for i, cell in enumerate(load(path).cells, 1):
        unknown = set(cell.metadata.get("tags", [])) - KNOWN_TAGS
        assert not unknown, (
            f"{path.name} cell {i}: unknown tags {sorted(unknown)}; known: {sorted(KNOWN_TAGS)}"
        )


@pytest.mark.parametrize("path", PARAMS)
def test_claim_cells_are_compared_and_print_only_their_claims(path):
    """A claim cell is a checked output: never tagged, and it prints nothing but its claims."""
    for i, cell in enumerate(load(path).cells, 1):
        if not is_claim_cell(cell):
            continue
        assert IGNORE_TAG not in cell.metadata.get("tags", []), (
            f"{path.name} cell {i} checks claims: do not tag it {IGNORE_TAG}, its lines are the check"
        )
        lines = "".join(
            out.get("text", "") for out in cell.outputs if out.get("name") == "stdout"
        ).splitlines()
        others = [line for line in lines if not line.startswith("✓ ")]
        assert lines and not others, (
            f"{path.name} cell {i}: a claim cell prints only '✓ ...' lines, got {others}"
        )
        assert not any(
            out.get("output_type") in ("execute_result", "display_data") for out in cell.outputs
        ), f"{path.name} cell {i}: a claim cell shows no value; move the table to the tagged cell above it"


@pytest.mark.parametrize("path", PARAMS)
def test_notebooks_that_train_check_their_claims(path):
    cells = code_cells(load(path))
    if any(TRAINS.search(c.source) for c in cells if "solution" not in c.metadata.get("tags", [])):
        assert any(is_claim_cell(c) for c in cells), (
            f"{path.name} trains models but checks no claim with mmteach.claim (CONTRIBUTING.md)"
        )


# --------------------------------------------------------------------------- leak detector


@pytest.mark.parametrize(
    "text",
    ["/home/ada/x.csv", "see /root/.cache", "File /work/main/a.py", "/tmp/tmpab12/x", "C:\\Users\\ada"],
)
def test_leak_detector_finds_paths(text):
    assert leaks(text)


@pytest.mark.parametrize("text", ["data/shapes_world/x.png", "square root of 2", "a/b/c", "1/0"])
def test_leak_detector_ignores_ordinary_text(text):
    assert not MACHINE_PATH.search(text)


# --------------------------------------------------------------------------- sanitizer


def sanitize(text: str) -> str:
    from nbval.plugin import get_sanitize_patterns

    for regex, replace in get_sanitize_patterns(SANITIZE.read_text(encoding="utf-8")):
        text = re.sub(regex, replace, text)
    return text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("fold 1 took 1.23 s", "fold 1 took <TIME>"),
        ("trained in 0.5s", "trained in <TIME>"),
        ("Wall time: 250 ms", "Wall time: <TIME>"),
        ("CPU times: user 2.1 s, sys: 30 ms", "CPU times: user <TIME>, sys: <TIME>"),
        ("3.1 seconds per epoch", "<TIME> per epoch"),
        ("32/32 - 0s - 2ms/step", "32/32 - <TIME> - <TIME>/step"),
        ("throughput: 1200.5 samples/s", "throughput: <RATE>"),
        ("<function f at 0x7f3a2c1b9e50>", "<function f at 0xADDRESS>"),
        ("<Figure size 480x320 with 1 Axes>", "<Figure size WxH with 1 Axes>"),
        ("<Figure size 640.5x480 with 4 Axes>", "<Figure size WxH with 4 Axes>"),
        ("fit:  40%|████      | 4/10 [00:01<00:02,  3.20it/s]", "fit:  <PROGRESS>"),
    ],
)
def test_sanitizer_masks_what_varies(raw, clean):
    assert sanitize(raw) == clean


@pytest.mark.parametrize(
    "text",
    [
        "accuracy 0.93 (fused) vs 0.58 (image)",
        "10 shapes, 6 classes, 3000 samples",
        "epoch 5: loss 0.41",
        "x = 0x1",
    ],
)
def test_sanitizer_keeps_what_is_checked(text):
    assert sanitize(text) == text


# --------------------------------------------------------------------------- stderr


def _notebook(cells: list[tuple[str, list]]) -> nbformat.NotebookNode:
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    nb = new_notebook()
    for count, (source, outputs) in enumerate(cells, 1):
        outs = [new_output("stream", name=name, text=text) for name, text in outputs]
        nb.cells.append(new_code_cell(source, execution_count=count, outputs=outs))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _run_nbval(folder: Path) -> subprocess.CompletedProcess:
    shutil.copy(ROOT / "conftest.py", folder / "conftest.py")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(folder)]
    cmd += ["-c", os.devnull, "--nbval", "--nbval-current-env", str(folder)]
    return subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # trains models: the full lane only
def test_nbval_ignores_stderr_but_checks_stdout(tmp_path):
    """The stderr hook in the root conftest.py: stderr may differ, stdout may not."""
    ok = tmp_path / "ok"
    ok.mkdir()
    source = "import sys\nprint('same')\nprint('varies', file=sys.stderr)"
    stale = [("stdout", "same\n"), ("stderr", "something else entirely\n")]
    nbformat.write(
        _notebook([(source, stale), ("import sys; print('x', file=sys.stderr)", [])]), ok / "a.ipynb"
    )
    result = _run_nbval(ok)
    assert result.returncode == 0, result.stdout[-3000:]

    bad = tmp_path / "bad"
    bad.mkdir()
    nbformat.write(_notebook([("print('new')", [("stdout", "old\n")])]), bad / "b.ipynb")
    result = _run_nbval(bad)
    assert result.returncode != 0, result.stdout[-3000:]


@pytest.mark.slow  # trains models: the full lane only
def test_trained_digits_may_differ_but_a_broken_claim_fails(tmp_path):
    """The claims recipe end to end: a tagged cell's digits are not compared, its claim is."""
    accuracy = "import random\naccuracy = 0.9 + random.random() / 100\nprint(f'accuracy {accuracy:.4f}')"
    committed = [("stdout", "accuracy 0.9123\n")]  # the digits another machine printed

    def notebook(bound: float) -> nbformat.NotebookNode:
        claim = (
            f"import mmteach\nmmteach.claim('fusion reaches at least {bound}', accuracy, at_least={bound})"
        )
        nb = _notebook([(accuracy, committed), (claim, [("stdout", f"✓ fusion reaches at least {bound}\n")])])
        nb.cells[0].metadata["tags"] = [IGNORE_TAG]
        return nb

    holds = tmp_path / "holds"
    holds.mkdir()
    nbformat.write(notebook(0.88), holds / "a.ipynb")
    result = _run_nbval(holds)
    assert result.returncode == 0, result.stdout[-3000:]

    broken = tmp_path / "broken"  # a regression: the claim no longer holds
    broken.mkdir()
    nbformat.write(notebook(0.95), broken / "b.ipynb")
    result = _run_nbval(broken)
    assert result.returncode != 0 and "claim does not hold" in result.stdout, result.stdout[-3000:]
