"""Packaging stays consistent: pyproject.toml vs environment.yml, README vs the course
outline vs notebooks/, README's Quick start vs .ci/run, imports vs declared dependencies."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from mmteach.course import COURSE

try:
    import tomllib
except ImportError:  # Python 3.10: the dev extra installs tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def normalised(requirement: str) -> str:
    """One spelling per requirement: canonical name, sorted extras and specifiers, marker."""
    req = Requirement(requirement)
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    spec = ",".join(sorted(str(s) for s in req.specifier))
    marker = f"; {req.marker}" if req.marker else ""
    return f"{canonicalize_name(req.name)}{extras}{spec}{marker}"


# --------------------------------------------------------------------------- environment.yml


def unquote(item: str) -> str:
    if len(item) >= 2 and item[0] == item[-1] and item[0] in "'\"":
        return item[1:-1]
    return item


def parse_environment_yml(text: str) -> tuple[list[str], list[str]]:
    """(conda dependencies, pip dependencies) of a simple environment.yml, without a YAML library."""
    conda, pip = [], []
    in_deps = in_pip = False
    pip_indent = 0
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        if indent == 0:
            in_deps = stripped == "dependencies:"
            in_pip = False
            continue
        if not in_deps or not stripped.startswith("- "):
            continue
        item = stripped[2:].strip()
        if in_pip and indent > pip_indent:
            pip.append(unquote(item))
            continue
        in_pip = False
        if item == "pip:":
            in_pip, pip_indent = True, indent
        else:
            conda.append(unquote(item))
    return conda, pip


def test_yml_parser_reads_nested_pip_list():
    text = (
        "name: x\ndependencies:\n  - python>=3.10\n  - pip\n  - pip:\n      - a>=1  # why\n"
        "      # dev\n      - 'b<2'\n      - c; python_version < '3.11'\nother: 1\n"
    )
    conda, pip = parse_environment_yml(text)
    assert conda == ["python>=3.10", "pip"]
    assert pip == ["a>=1", "b<2", "c; python_version < '3.11'"]


def test_environment_yml_matches_pyproject():
    conda, pip = parse_environment_yml((ROOT / "environment.yml").read_text(encoding="utf-8"))
    project = PYPROJECT["project"]
    wanted = {normalised(r) for r in project["dependencies"]}
    wanted |= {normalised(r) for r in project["optional-dependencies"]["dev"]}
    have = {normalised(r) for r in pip}
    assert len(have) == len(pip), "environment.yml lists a pip requirement twice"
    assert not wanted - have, f"in pyproject.toml, missing from environment.yml: {sorted(wanted - have)}"
    assert not have - wanted, f"in environment.yml, missing from pyproject.toml: {sorted(have - wanted)}"
    python = [c for c in conda if c.startswith("python")]
    assert python == [f"python{project['requires-python']}"], python
    assert "pip" in conda


# --------------------------------------------------------------------------- floors and lock


def pins(path: Path) -> dict[str, str]:
    """name -> version of every ``name==version`` line of a pip constraints file."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            out[canonicalize_name(name)] = version
    return out


def direct_requirements(*, here_only: bool = False) -> list[Requirement]:
    """The dependencies and the dev extra; ``here_only``: those whose marker holds here."""
    project = PYPROJECT["project"]
    reqs = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]
    return [r for r in reqs if not here_only or r.marker is None or r.marker.evaluate()]


def test_min_versions_pin_every_direct_dependency_at_its_floor():
    floors = pins(ROOT / ".ci" / "min-versions.txt")
    for req in direct_requirements():
        lower = [s.version for s in req.specifier if s.operator == ">="]
        assert len(lower) == 1, f"{req}: declare exactly one lower bound (>=) so its floor can be tested"
        name = canonicalize_name(req.name)
        assert name in floors, f"{name}: missing from .ci/min-versions.txt"
        assert Version(floors[name]) == Version(lower[0]), (
            f"{name}: .ci/min-versions.txt pins {floors[name]}, pyproject.toml's floor is {lower[0]}"
        )
    assert set(floors) == {canonicalize_name(r.name) for r in direct_requirements()}


def test_lock_pins_versions_that_pyproject_allows():
    locked = pins(ROOT / "constraints.txt")
    for req in direct_requirements(here_only=True):
        name = canonicalize_name(req.name)
        assert name in locked, f"{name}: missing from constraints.txt"
        assert req.specifier.contains(locked[name], prereleases=True), (
            f"{name}: constraints.txt pins {locked[name]}, outside {req.specifier}"
        )


def test_readme_names_the_lock_and_the_fast_lane():
    assert 'pip install -e ".[dev]" -c constraints.txt' in README
    assert 'pytest -m "not slow"' in README
    assert "bash .ci/min-versions" in README


# --------------------------------------------------------------------------- pyproject


def test_console_script_and_extras_declared():
    project = PYPROJECT["project"]
    assert project["scripts"]["mmteach"] == "mmteach.cli:main"
    assert {"dev", "gpu"} <= set(project["optional-dependencies"])
    assert any(Requirement(r).name == "pytest" for r in project["optional-dependencies"]["dev"])


def test_pytest_runs_nbval_with_sanitizer():
    addopts = PYPROJECT["tool"]["pytest"]["ini_options"]["addopts"]
    assert "--nbval" in addopts.split()
    match = re.search(r"--nbval-sanitize-with[= ](\S+)", addopts)
    assert match and (ROOT / match.group(1)).is_file()


#: Imported by mmteach but installed by another declared dependency, on purpose.
PROVIDED_BY = {"absl": "tensorflow"}


def imported_distributions() -> dict[str, set[str]]:
    """{distribution: {module files}} for every third-party import in mmteach/, lazy ones too."""
    top_to_dist = importlib.metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "mmteach").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "mmteach" or top in PROVIDED_BY:
                    continue
                for dist in top_to_dist.get(top, [top]):
                    found.setdefault(canonicalize_name(dist), set()).add(path.name)
    return found


def test_every_import_is_a_declared_dependency():
    declared = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    missing = {d: sorted(f) for d, f in imported_distributions().items() if d not in declared}
    assert not missing, f"imported by mmteach but not in pyproject's dependencies: {missing}"


# --------------------------------------------------------------------------- README and course


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def expected_course_table() -> list[str]:
    lines = ["| # | Notebook | What you will do | Minutes |", "| --- | --- | --- | --- |"]
    for item in COURSE:
        link = f"[{item.title}](notebooks/{item.filename})"
        lines.append(f"| {item.number:02d} | {link} | {item.summary} | {item.minutes} |")
    return lines


def test_readme_course_table_matches_course():
    table = [line for line in section("Course outline").splitlines() if line.startswith("|")]
    expected = expected_course_table()
    assert table == expected, "README's course table is out of date; it should read:\n" + "\n".join(expected)


def test_notebooks_folder_matches_course():
    files = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    known = {item.filename for item in COURSE}
    strays = [f for f in files if f not in known]
    assert not strays, f"notebooks/ holds notebooks that are not in mmteach.course.COURSE: {strays}"
    missing = [item.filename for item in COURSE if item.filename not in files]
    if missing:
        pytest.skip(f"lessons without a notebook yet: {', '.join(missing)}")


def test_course_numbers_are_consecutive_and_names_unique():
    assert [item.number for item in COURSE] == list(range(len(COURSE)))
    assert len({item.slug for item in COURSE}) == len(COURSE)
    assert all(re.fullmatch(r"[a-z0-9_]+", item.slug) for item in COURSE)


# --------------------------------------------------------------------------- Quick start and CI


def quick_start_commands() -> list[str]:
    body = section("Quick start")
    match = re.search(r"^```[a-z]*\n(.*?)^```", body, re.S | re.M)
    assert match, "README's Quick start has no code block"
    return [line for line in match.group(1).splitlines() if line.strip()]


def test_quick_start_is_exactly_two_commands():
    install, test = quick_start_commands()
    assert install.startswith("pip install -e") and '".[dev]"' in install
    assert install.endswith("&& mmteach run")
    assert test == "pytest"


def test_ci_runs_the_readme_commands():
    script = ROOT / ".ci" / "run"
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert os.access(script, os.X_OK), ".ci/run is not executable"
    printed = subprocess.run(
        ["bash", str(script), "--print-commands"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert printed == quick_start_commands()


def test_readme_has_the_promised_sections():
    for title in (
        "Quick start",
        "Open the course in JupyterLab",
        "Course outline",
        "GPU notes",
        "Troubleshooting",
    ):
        section(title)
    assert "jupyter lab notebooks/" in README
    assert 'pip install -e ".[gpu]"' in README
    assert "data/shapes_world/README.md" in README
    assert not re.search(r"\b(TODO|TBD|XXX|FIXME)\b", README)
