"""The layering of DESIGN.md, enforced on the source: no import runs back down the pipeline.

    raw files -> preprocessing -> features -> fusion -> models -> training -> applications
    (datasets)                                                                 widgets, cli on top

Every module of mmteach has a layer below; a module may import (at the top of the file
or inside a function) only modules of lower layers. A new module must be given a layer
here, which is the moment to decide where it belongs.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mmteach"

#: layer of each module: the pipeline steps in order, helpers that need nothing below them
#: at 0, the tools built on top of everything last.
LAYERS = {
    # leaves: import nothing from mmteach
    "validation": 0, "constants": 0, "course": 0, "device": 0, "claims": 1, "seeding": 1, "stats": 1,
    # raw files: reading and checking them, the cleaning rules, other public datasets, then Shapes World
    "files": 1, "cleaning": 1, "quality": 2, "public_datasets": 2, "datasets": 3, "scenes": 4,
    # the numpy references (no Keras), then the pipeline
    "attention_numpy": 1, "fusion_numpy": 1, "robustness": 1,
    "preprocessing": 5, "spoken_digits": 6, "features": 7, "tokens": 7,
    "attention": 8, "fusion": 9, "models": 10,
    # training: what fitting and CV share, then CV and model selection, then one run (re-exports CV)
    "model_inputs": 11, "cv": 12, "training": 13,
    "applications": 14,
    # built on top of everything
    "compute": 15, "token_models": 15, "plotting": 15, "student": 15, "chat_widget": 15,
    "exercises": 16, "widgets": 16, "doctor": 16, "cli": 17,
}  # fmt: skip


def _layer(module: str) -> int:
    """Layer of ``mmteach.<module>`` (``applications.x`` -> the applications' layer)."""
    top = module.split(".")[0]
    if top not in LAYERS:
        raise AssertionError(f"mmteach.{module}: not in LAYERS of tests/test_layering.py; give it a layer")
    return LAYERS[top]


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every mmteach module imported anywhere in the file (package root excluded)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from mmteach import device` imports the module mmteach.device
            names = (
                [f"{node.module}.{a.name}" for a in node.names] if node.module == "mmteach" else [node.module]
            )
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "mmteach" or len(parts) < 2:
                continue
            if (PACKAGE / f"{parts[1]}.py").exists() or (PACKAGE / parts[1]).is_dir():
                found.append((node.lineno, ".".join(parts[1:])))
    return found  # names such as `from mmteach import __version__` are not modules: skipped


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",):
            continue
        out.append((".".join(p for p in parts if p != "__init__"), path))
    return out


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_no_import_runs_back_down_the_pipeline(module, path):
    own = _layer(module)
    upward = [
        f"{path.name}:{line} imports mmteach.{name} (layer {_layer(name)} >= {own})"
        for line, name in _imports(path)
        if name.split(".")[0] != module.split(".")[0] and _layer(name) >= own
    ]
    assert not upward, f"mmteach.{module} (layer {own}) imports upward:\n" + "\n".join(upward)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The AST walk finds lazy imports inside functions too (the checker itself can fail)."""
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from mmteach.training import fit\n    from mmteach import widgets\n")
    assert _imports(bad) == [(2, "training"), (3, "widgets")]


def test_the_package_init_stays_small():
    """``import mmteach`` imports only leaves (it runs before every submodule)."""
    upward = [name for _, name in _imports(PACKAGE / "__init__.py") if _layer(name) > 1]
    assert not upward, f"mmteach/__init__.py imports at import time: {upward}"


@pytest.mark.parametrize(
    "modules",
    [
        "mmteach",
        "mmteach.exercises, mmteach.widgets",
        "mmteach.validation",
        "mmteach.constants",
        # the numpy references: an exercise check on a numpy answer never starts TensorFlow
        "mmteach.fusion_numpy, mmteach.attention_numpy",
    ],
)
def test_no_tensorflow_at_import_time(modules):
    code = f"import sys, {modules}; print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"import {modules} loaded {out.stdout.strip()}"
