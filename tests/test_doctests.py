"""The doctest lane: every ``Examples`` section of mmteach's docstrings runs, and shows what it says.

Each module's examples run in a fresh namespace of that module (``doctest`` as
``pytest --doctest-modules`` runs them); an example that needs trained weights, a
download or a file elsewhere carries ``# doctest: +SKIP`` and says why beside it. The
modules whose examples build Keras models or generate data are marked ``slow``; the rest
are in the fast lane (``pytest -m "not slow"``).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import mmteach

#: modules whose examples take more than a few seconds (measured 24 s for all, 10 s of it classify's)
SLOW = {"mmteach.applications.classify", "mmteach.student"}
#: examples known to be wrong, in modules another change owns: strict expected failures (fix, then delete)
KNOWN_FAILING: dict[str, str] = {}
#: modules that run something when imported (not a library module)
NOT_RUN = {"mmteach.cli.__main__"}


def _module_names() -> list[str]:
    names = ["mmteach"]
    for info in pkgutil.walk_packages(mmteach.__path__, "mmteach."):
        if info.name not in NOT_RUN:
            names.append(info.name)
    return sorted(names)


def _params():
    out = []
    for n in _module_names():
        marks = [pytest.mark.slow] if n in SLOW else []
        if n in KNOWN_FAILING:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_FAILING[n]))
        out.append(pytest.param(n, marks=marks, id=n))
    return out


def test_the_lane_finds_the_modules():
    names = _module_names()
    assert {"mmteach.fusion_numpy", "mmteach.cv", "mmteach.cli"} <= set(names)
    assert SLOW | set(KNOWN_FAILING) <= set(names), (SLOW | set(KNOWN_FAILING)) - set(names)


#: numpy's default print options: examples show arrays as a fresh interpreter prints them, whatever an
#: earlier test (``mmteach.setup_notebook`` sets precision 3) left behind
NUMPY_PRINT_DEFAULTS = {"precision": 8, "suppress": False, "threshold": 1000, "linewidth": 75, "edgeitems": 3,
                        "floatmode": "maxprec", "sign": "-", "formatter": None, "legacy": False}  # fmt: skip


@pytest.mark.parametrize("name", _params())
def test_examples_run(name, monkeypatch, tmp_path):
    import numpy as np

    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    with np.printoptions(**NUMPY_PRINT_DEFAULTS):  # restored afterwards
        _run_examples(name)


def _run_examples(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in finder.find(module, name):
        runner.run(test, out=report.append)
    assert runner.failures == 0, f"{runner.failures} failing example(s) in {name}:\n" + "".join(report)


# --------------------------------------------------------------------------- Parameters sections

#: methods whose parameters Keras defines and documents (a layer's or model's protocol)
KERAS_METHODS = {"build", "call", "compute_output_shape", "compute_mask", "get_config", "from_config",
                 "compute_loss", "compute_metrics", "predict_step", "train_step", "test_step"}  # fmt: skip
#: modules not yet held to it, each owned by another change in progress (issue 13): remove when done
PARAMETERS_PENDING = {"exercises", "widgets", "chat_widget", "student", "spoken_digits", "token_models",
                      "applications"}  # fmt: skip


def _undocumented_parameters(path) -> list[str]:
    """Public functions and methods of one file that take parameters but have no numpydoc Parameters."""
    import ast

    def has_section(node) -> bool:
        return "Parameters\n" in (ast.get_docstring(node) or "")

    out = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            if args and not has_section(node):
                out.append(node.name)
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if not isinstance(item, ast.FunctionDef) or item.name in KERAS_METHODS:
                    continue
                if item.name.startswith("_") and item.name != "__init__":
                    continue
                args = item.args.args[1:] + item.args.kwonlyargs
                documented = has_section(item) or (item.name == "__init__" and has_section(node))
                if args and not documented:
                    out.append(f"{node.name}.{item.name}")
    return out


def test_every_public_function_documents_its_parameters():
    from pathlib import Path

    package = Path(mmteach.__file__).parent
    missing = []
    for path in sorted(package.rglob("*.py")):
        if PARAMETERS_PENDING & set(path.relative_to(package).with_suffix("").parts):
            continue
        missing += [f"{path.relative_to(package)}: {name}" for name in _undocumented_parameters(path)]
    assert not missing, "no numpydoc Parameters section:\n" + "\n".join(missing)


def test_the_parameters_check_can_fail(tmp_path):
    bad = tmp_path / "x.py"
    source = 'def f(a):\n    """No sections."""\n\n\nclass C:\n    def g(self, b):\n        """Nor here."""\n'
    bad.write_text(source)
    assert _undocumented_parameters(bad) == ["f", "C.g"]
