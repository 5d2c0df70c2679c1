"""Student copies (mmteach.student, ``mmteach student``) and the exercises in every notebook."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from mmteach import student as S
from mmteach.cli import main
from mmteach.course import COURSE

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
PRESENT = [x for x in COURSE if (NOTEBOOKS / x.filename).is_file()]
IDS = [x.filename[:-6] for x in PRESENT]
GRADE_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def _nb(*cells):
    return nbformat.v4.new_notebook(cells=list(cells))


def _solution(source, tags=("solution",)):
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="secret output 42\n")]
    cell.execution_count = 7
    return cell


def _code(source):
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="✓ x: correct, well done!\n")]
    cell.execution_count = 8
    return cell


@pytest.fixture(scope="module")
def course_notebooks():
    return {x.filename: nbformat.read(NOTEBOOKS / x.filename, as_version=4) for x in PRESENT}


# --------------------------------------------------------------------------- strip_solution


def test_strip_solution_keeps_lines_outside_and_indents_stub():
    src = (
        "import numpy as np\ndef f(x):\n    ### BEGIN SOLUTION\n    y = 2 * x\n    return y\n"
        "    ### END SOLUTION\nz = f(1)"
    )
    out = S.strip_solution(src)
    assert out == (
        "import numpy as np\ndef f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\nz = f(1)"
    )
    assert "2 * x" not in out


def test_strip_solution_handles_several_blocks_and_no_block():
    src = "### BEGIN SOLUTION\na = 1\n### END SOLUTION\nb = 2\n### BEGIN SOLUTION\nc = 3\n### END SOLUTION"
    out = S.strip_solution(src)
    assert out.count("raise NotImplementedError()") == 2
    assert "b = 2" in out and "a = 1" not in out and "c = 3" not in out
    assert S.strip_solution("x = 1\n") == "x = 1"


@pytest.mark.parametrize(
    "src",
    [
        "### BEGIN SOLUTION\nx = 1",
        "x = 1\n### END SOLUTION",
        "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
    ],
)
def test_strip_solution_rejects_unpaired_markers(src):
    with pytest.raises(S.SolutionMarkerError, match="SOLUTION"):
        S.strip_solution(src)


def test_strip_solution_rejects_non_text():
    with pytest.raises(TypeError, match="source"):
        S.strip_solution(["x = 1"])


def test_solution_lines():
    assert S.solution_lines("a\n### BEGIN SOLUTION\n  b = 1\n\n### END SOLUTION\nc") == ["b = 1"]


# --------------------------------------------------------------------------- notebooks


def test_find_exercises_pairs_solutions_with_checks_and_names_them_uniquely():
    nb = _nb(
        nbformat.v4.new_markdown_cell("**Exercise 1**"),
        _solution("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"),
        _code("mmteach.exercises.check_thing(x)"),
        _solution("### BEGIN SOLUTION\ny = 1\n### END SOLUTION"),
        nbformat.v4.new_markdown_cell("no check follows"),
        _code("print(y)"),
        _solution("### BEGIN SOLUTION\nz = 1\n### END SOLUTION"),
        _code("exercises.check_thing(z)"),
    )
    found = S.find_exercises(nb)
    assert [(e.name, e.solution_index, e.check_index) for e in found] == [
        ("thing", 1, 2),
        ("exercise2", 3, None),
        ("thing_2", 6, 7),
    ]


def test_student_notebook_stubs_clears_and_adds_nbgrader_metadata():
    nb = _nb(
        nbformat.v4.new_markdown_cell("# Title"),
        _code("x = 0"),
        _solution("### BEGIN SOLUTION\nanswer = 41 + 1\n### END SOLUTION"),
        _code("mmteach.exercises.check_answer(answer)"),
    )
    out = S.student_notebook(nb)
    nbformat.validate(out)
    assert nb.cells[2].source.startswith("### BEGIN"), "the original must not change"
    assert out.cells[2].source == "# YOUR CODE HERE\nraise NotImplementedError()"
    assert out.cells[3].source == nb.cells[3].source
    for cell in out.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert out.cells[2].metadata["nbgrader"] == {
        "grade": False,
        "grade_id": "answer_solution",
        "locked": False,
        "schema_version": 3,
        "solution": True,
    }
    assert out.cells[3].metadata["nbgrader"] == {
        "grade": True,
        "grade_id": "answer_check",
        "locked": True,
        "points": 1,
        "schema_version": 3,
        "solution": False,
    }
    assert "nbgrader" not in out.cells[1].metadata
    assert out.cells[2].metadata["tags"] == ["solution"]


def test_solution_cell_found_by_marker_without_tag():
    nb = _nb(_solution("### BEGIN SOLUTION\nq = 1\n### END SOLUTION", tags=()), _code("check_q(q)"))
    assert "q = 1" not in S.student_notebook(nb).cells[0].source


def test_teacher_notebook_keeps_solutions_with_same_metadata():
    nb = _nb(_solution("### BEGIN SOLUTION\nq = 1\n### END SOLUTION"), _code("check_q(q)"))
    teacher, student = S.teacher_notebook(nb), S.student_notebook(nb)
    assert "q = 1" in teacher.cells[0].source
    assert teacher.cells[0].outputs == []
    assert [c.metadata.get("nbgrader") for c in teacher.cells] == [
        c.metadata.get("nbgrader") for c in student.cells
    ]


def test_student_notebook_validates_arguments():
    with pytest.raises(TypeError, match="nb"):
        S.student_notebook({"cells": []})
    with pytest.raises(ValueError, match="points"):
        S.student_notebook(_nb(), points=0)
    broken = _nb(_solution("### BEGIN SOLUTION\nq = 1"), _code("check_q(q)"))
    with pytest.raises(S.SolutionMarkerError, match="cell 1"):
        S.student_notebook(broken)


# --------------------------------------------------------------------------- the course's notebooks


@pytest.mark.parametrize("item", PRESENT, ids=IDS)
def test_student_copy_is_valid_and_leaks_no_solution(item, course_notebooks):
    nb = course_notebooks[item.filename]
    out = S.student_notebook(nb)
    nbformat.validate(out)
    text = nbformat.writes(out)
    exercises = S.find_exercises(nb)
    assert exercises, f"{item.filename} has no exercises"
    solution_cells = {ex.solution_index for ex in exercises}
    # lines the lesson itself shows (outside the solution cells) are not leaks, e.g. `return h`
    lesson_text = "\n".join(c.source for i, c in enumerate(nb.cells) if i not in solution_cells)
    for ex in exercises:
        for line in S.solution_lines(nb.cells[ex.solution_index].source):
            assert line not in out.cells[ex.solution_index].source
            if line not in lesson_text:
                assert line not in text, (
                    f"{item.filename}: solution line leaks into the student copy: {line!r}"
                )
        assert "raise NotImplementedError()" in out.cells[ex.solution_index].source
        # the check cell is kept word for word
        assert out.cells[ex.check_index].source == nb.cells[ex.check_index].source
    assert all(c.get("outputs", []) == [] for c in out.cells)
    assert all(c.get("execution_count") is None for c in out.cells if c.cell_type == "code")
    ids = [c.metadata["nbgrader"]["grade_id"] for c in out.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)) == 2 * len(exercises)
    assert all(GRADE_ID.match(i) for i in ids)
    # everything that is not an exercise cell is unchanged
    changed = {ex.solution_index for ex in exercises}
    for i, (a, b) in enumerate(zip(nb.cells, out.cells, strict=True)):
        if i not in changed:
            assert a.source == b.source


@pytest.mark.parametrize("item", PRESENT, ids=IDS)
def test_notebook_has_two_to_four_checked_exercises_after_a_summary(item, course_notebooks):
    nb = course_notebooks[item.filename]
    exercises = S.find_exercises(nb)
    assert 2 <= len(exercises) <= 4, f"{item.filename}: {len(exercises)} exercises, expected 2-4"
    for ex in exercises:
        cell = nb.cells[ex.solution_index]
        assert "solution" in cell.metadata.get("tags", []), f"{item.filename}: untagged solution cell"
        assert S.solution_lines(cell.source), (
            f"{item.filename}: empty solution in cell {ex.solution_index + 1}"
        )
        assert ex.check_index == ex.solution_index + 1, f"{item.filename}: no check right after {ex.name}"
    headings = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown" and c.source]
    assert any(re.match(r"^#+ Summary", h) for h in headings), f"{item.filename}: no Summary heading"
    first = min(ex.solution_index for ex in exercises)
    summary = max(
        i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and re.match(r"^#+ Summary", c.source)
    )
    assert summary < first, f"{item.filename}: the Summary should come before the exercises"


@pytest.mark.parametrize("item", PRESENT, ids=IDS)
def test_every_check_passes_on_the_committed_solution(item, course_notebooks):
    """The committed outputs are the record of a run: each check cell printed its pass message."""
    nb = course_notebooks[item.filename]
    for ex in S.find_exercises(nb):
        cell = nb.cells[ex.check_index]
        assert not any(o.get("output_type") == "error" for o in cell.outputs), f"{item.filename}: {ex.name}"
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        assert "correct" in text, f"{item.filename}: check {ex.name} did not print its pass message"
        sol = nb.cells[ex.solution_index]
        assert not any(o.get("output_type") == "error" for o in sol.outputs)


@pytest.mark.parametrize("item", PRESENT, ids=IDS)
def test_student_solution_cells_raise_and_never_reach_the_check(item, course_notebooks):
    """On the student copy every exercise fails: its solution cell (or the check calling it) raises."""
    out = S.student_notebook(course_notebooks[item.filename])
    import mmteach
    from mmteach import exercises

    for ex in S.find_exercises(out):
        namespace: dict = {"mmteach": mmteach, "exercises": exercises, "np": np}
        try:
            exec(compile(out.cells[ex.solution_index].source, f"<{ex.name}>", "exec"), namespace)
        except NotImplementedError:
            continue
        # the stub sits inside a function (the `def` line is outside the markers): the check
        # calls it and fails, either with the NotImplementedError or as an AssertionError
        with pytest.raises((NotImplementedError, AssertionError)):
            exec(compile(out.cells[ex.check_index].source, f"<check {ex.name}>", "exec"), namespace)


def test_every_course_lesson_has_a_notebook_with_exercises():
    missing = [x.filename for x in COURSE if x not in PRESENT]
    if missing:
        pytest.skip(f"lessons without a notebook yet: {', '.join(missing)}")


# --------------------------------------------------------------------------- the command


def test_cli_writes_student_copies_of_all_notebooks(tmp_path, capsys):
    out = tmp_path / "release"
    assert main(["student", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == [x.filename for x in PRESENT], "notebooks only, one per course notebook"
    report = capsys.readouterr().out
    assert "student copies written" in report and PRESENT[0].filename in report
    for name in written:
        nb = nbformat.read(out / name, as_version=4)
        nbformat.validate(nb)
        assert any("nbgrader" in c.metadata for c in nb.cells)


def test_cli_solutions_flag_force_and_refusals(tmp_path, capsys):
    out = tmp_path / "source"
    first = PRESENT[0]
    assert main(["student", str(out), str(first.number), "--solutions"]) == 0
    nb = nbformat.read(out / first.filename, as_version=4)
    ex = S.find_exercises(nb)[0]
    assert "### BEGIN SOLUTION" in nb.cells[ex.solution_index].source
    assert "teacher" in capsys.readouterr().out
    # an existing copy is not replaced without --force
    assert main(["student", str(out), str(first.number)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["student", str(out), str(first.number), "--force"]) == 0
    nb = nbformat.read(out / first.filename, as_version=4)
    assert "### BEGIN SOLUTION" not in nb.cells[ex.solution_index].source
    # never into the course's own folder, never an unknown lesson
    assert main(["student", str(NOTEBOOKS)]) == 2
    assert "solutions are not overwritten" in capsys.readouterr().err
    assert main(["student", str(out), "no_such_lesson"]) == 2
    assert "no lesson named" in capsys.readouterr().err
