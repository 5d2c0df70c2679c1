"""Student copies of the course notebooks, with nbgrader-compatible cell metadata.

A course notebook ends with exercises: a code cell tagged ``solution`` whose answer
sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines, followed by a
cell that calls ``mmteach.exercises.check_<name>(...)``. :func:`student_notebook`
turns such a notebook into the copy a learner gets:

- the code between the markers (and the marker lines) becomes
  ``# YOUR CODE HERE`` + ``raise NotImplementedError()``, indented like the markers;
  lines outside the markers are kept;
- every output and execution count is cleared;
- solution cells get nbgrader metadata ``{grade: false, solution: true, locked: false}``,
  check cells become nbgrader "autograder tests" ``{grade: true, solution: false,
  locked: true, points: 1}``; each with a ``grade_id`` unique within the notebook.

This is the same stub nbgrader's ``generate_assignment`` writes, so a teacher can
either hand out these copies directly or feed :func:`teacher_notebook` copies (same
metadata, solutions kept) to nbgrader. The copies hold notebooks only: learners use
the installed ``mmteach`` package and its bundled data.

Example
-------
>>> import nbformat
>>> nb = nbformat.v4.new_notebook(cells=[
...     nbformat.v4.new_code_cell("### BEGIN SOLUTION\\nx = 42\\n### END SOLUTION",
...                               metadata={"tags": ["solution"]}),
...     nbformat.v4.new_code_cell("mmteach.exercises.check_answer(x)")])
>>> print(student_notebook(nb).cells[0].source)
# YOUR CODE HERE
raise NotImplementedError()
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mmteach.validation import check_bool, check_instance, check_int, check_path, describe

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
SOLUTION_TAG = "solution"
NBGRADER_SCHEMA = 3
#: A check cell calls ``check_<name>(`` (as ``mmteach.exercises.check_x``, ``exercises.check_x`` ...).
CHECK_CALL = re.compile(r"\bcheck_(\w+)\s*\(")


class SolutionMarkerError(ValueError):
    """A solution cell whose ``### BEGIN SOLUTION`` / ``### END SOLUTION`` lines do not pair up."""


class CopiesExistError(FileExistsError):
    """The output folder already holds copies of some of the notebooks (``.names``)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"out_dir: already holds {', '.join(names)}; pass overwrite=True to replace")
        self.names = list(names)


def strip_solution(source: str) -> str:
    """Replace every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block with the stub.

    The marker lines and everything between them go; the stub takes the indentation
    of the ``BEGIN`` line; lines outside the blocks are kept as they are.

    Example
    -------
    >>> print(strip_solution("def f(x):\\n    ### BEGIN SOLUTION\\n    return 2 * x\\n    ### END SOLUTION"))
    def f(x):
        # YOUR CODE HERE
        raise NotImplementedError()
    """
    if not isinstance(source, str):
        raise TypeError(f"source: expected a str, got {type(source).__name__}")
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise SolutionMarkerError(f"source: line {number}: {BEGIN} inside another solution block")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + s for s in STUB]
        elif marker == END:
            if not inside:
                raise SolutionMarkerError(f"source: line {number}: {END} without a {BEGIN} before it")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise SolutionMarkerError(f"source: {BEGIN} without a matching {END}")
    return "\n".join(out)


def solution_lines(source: str) -> list[str]:
    """The non-blank lines between the markers (stripped): what must not reach a learner.

    Example
    -------
    >>> solution_lines("a = 1\\n### BEGIN SOLUTION\\nb = 2\\n\\n### END SOLUTION")
    ['b = 2']
    """
    source = check_instance("source", source, str)
    lines, inside = [], False
    for line in source.splitlines():
        marker = line.strip()
        if marker == BEGIN:
            inside = True
        elif marker == END:
            inside = False
        elif inside and marker:
            lines.append(marker)
    return lines


def is_solution_cell(cell) -> bool:
    """A code cell tagged ``solution`` or holding a ``### BEGIN SOLUTION`` line."""
    check_instance("cell", cell, Mapping, " (a notebook cell)")
    if cell.get("cell_type") != "code":
        return False
    tags = cell.get("metadata", {}).get("tags", [])
    return SOLUTION_TAG in tags or any(line.strip() == BEGIN for line in cell.get("source", "").splitlines())


def check_name(cell) -> str | None:
    """The ``<name>`` of the first ``check_<name>(...)`` call in a code cell, else None."""
    check_instance("cell", cell, Mapping, " (a notebook cell)")
    if cell.get("cell_type") != "code" or is_solution_cell(cell):
        return None
    match = CHECK_CALL.search(cell.get("source", ""))
    return match.group(1) if match else None


@dataclass(frozen=True)
class Exercise:
    """One exercise of a notebook: the solution cell, its check cell (or None), its name."""

    name: str
    solution_index: int
    check_index: int | None


def find_exercises(nb) -> list[Exercise]:
    """The exercises of a notebook, in order.

    Each solution cell is paired with the next code cell if that cell calls a
    ``check_<name>`` function; the exercise is named after the check (else
    ``exercise<k>``). Names are unique within the notebook (``_2``, ``_3`` ... added).

    Example
    -------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[
    ...     nbformat.v4.new_code_cell("### BEGIN SOLUTION\\nx = 1\\n### END SOLUTION"),
    ...     nbformat.v4.new_code_cell("check_x(x)")])
    >>> find_exercises(nb)
    [Exercise(name='x', solution_index=0, check_index=1)]
    """
    if not hasattr(nb, "cells") and not (isinstance(nb, Mapping) and "cells" in nb):
        raise TypeError(f"nb: expected an nbformat notebook, got {describe(nb)}")
    cells = nb.cells if hasattr(nb, "cells") else nb["cells"]
    found: list[Exercise] = []
    seen: dict[str, int] = {}
    for i, cell in enumerate(cells):
        if not is_solution_cell(cell):
            continue
        nxt = next((j for j in range(i + 1, len(cells)) if cells[j].get("cell_type") == "code"), None)
        name = check_name(cells[nxt]) if nxt is not None else None
        check_index = nxt if name else None
        name = name or f"exercise{len(found) + 1}"
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}_{seen[name]}"
        found.append(Exercise(name, i, check_index))
    return found


def _grader(*, solution: bool, grade: bool, locked: bool, grade_id: str, points: int | None = None) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": NBGRADER_SCHEMA,
        "solution": solution,
    }
    if points is not None:
        meta["points"] = points
    return meta


def _with_metadata(nb, points: int = 1):
    nb = copy.deepcopy(nb)
    for ex in find_exercises(nb):
        nb.cells[ex.solution_index].metadata["nbgrader"] = _grader(
            solution=True, grade=False, locked=False, grade_id=f"{ex.name}_solution"
        )
        if ex.check_index is not None:
            nb.cells[ex.check_index].metadata["nbgrader"] = _grader(
                solution=False, grade=True, locked=True, grade_id=f"{ex.name}_check", points=points
            )
    return nb


def _clear_outputs(nb) -> None:
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None


def student_notebook(nb, points: int = 1):
    """A learner's copy of ``nb`` (a new notebook; ``nb`` is not changed).

    Solutions replaced by ``raise NotImplementedError()``, outputs and execution
    counts cleared, check cells kept, nbgrader metadata on solution and check cells.
    """
    if not hasattr(nb, "cells"):
        raise TypeError(f"nb: expected an nbformat notebook, got {type(nb).__name__}")
    points = check_int("points", points, min_value=1)
    out = _with_metadata(nb, points)
    for ex in find_exercises(out):
        cell = out.cells[ex.solution_index]
        try:
            cell.source = strip_solution(cell.source)
        except SolutionMarkerError as exc:
            raise SolutionMarkerError(f"cell {ex.solution_index + 1}: {exc}") from None
    _clear_outputs(out)
    return out


def teacher_notebook(nb, points: int = 1):
    """``nb`` with the same nbgrader metadata as the student copy but solutions kept.

    This is nbgrader's *source* version: put it in ``source/<assignment>/`` and
    ``nbgrader generate_assignment`` makes the student version from it.
    """
    if not hasattr(nb, "cells"):
        raise TypeError(f"nb: expected an nbformat notebook, got {type(nb).__name__}")
    points = check_int("points", points, min_value=1)
    for ex in find_exercises(nb):  # fail early on broken markers, like the student copy
        strip_solution(nb.cells[ex.solution_index].source)
    out = _with_metadata(nb, points)
    _clear_outputs(out)
    return out


def write_copies(
    paths: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    solutions: bool = False,
    overwrite: bool = False,
    points: int = 1,
) -> list[Path]:
    """Write a student (or, with ``solutions=True``, teacher) copy of each notebook.

    Returns the written paths, ``out_dir / <file name>``. Refuses to write into the
    folder a notebook comes from, and to replace existing files unless ``overwrite``.
    """
    import nbformat

    if isinstance(paths, (str, bytes, os.PathLike)) or not isinstance(paths, Iterable):
        raise TypeError(f"paths: expected a sequence of paths, got {describe(paths)}")
    paths = [check_path(f"paths[{i}]", p) for i, p in enumerate(paths)]
    out = check_path("out_dir", out_dir)
    solutions, overwrite = check_bool("solutions", solutions), check_bool("overwrite", overwrite)
    points = check_int("points", points, min_value=1)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir: expected a folder, got a file: {out}")
    for path in paths:
        if not path.is_file():
            raise ValueError(f"paths: notebook not found: {path}")
        if out.exists() and path.parent.resolve() == out.resolve():
            raise ValueError(
                f"out_dir: {out} holds the course notebooks themselves; "
                "choose another folder so the solutions are not overwritten"
            )
    targets = [out / path.name for path in paths]
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:
        raise CopiesExistError([t.name for t in existing])
    make = teacher_notebook if solutions else student_notebook
    copies = [make(nbformat.read(path, as_version=4), points=points) for path in paths]
    out.mkdir(parents=True, exist_ok=True)
    for nb, target in zip(copies, targets, strict=True):
        nbformat.validate(nb)
        nbformat.write(nb, target)
    return targets
