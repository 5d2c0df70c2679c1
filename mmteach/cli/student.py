"""``mmteach student``: write student (or nbgrader source) copies of the notebooks."""

from __future__ import annotations

import argparse
from pathlib import Path

from mmteach.cli.common import EXIT_OK, EXIT_USAGE, CliError
from mmteach.cli.run import find_notebooks_dir, resolve_notebooks
from mmteach.doctor import format_table, one_line

__all__ = ["cmd_student"]


def cmd_student(args: argparse.Namespace) -> int:
    """``mmteach student``: write student (or nbgrader source) copies of the notebooks.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`build_parser`).
    """
    import nbformat

    from mmteach.student import CopiesExistError, SolutionMarkerError, find_exercises, write_copies

    notebooks_dir = find_notebooks_dir(args.notebooks)
    targets = resolve_notebooks(args.notebooks_names, notebooks_dir)
    if not targets:
        raise CliError(f"no notebooks in {notebooks_dir}", EXIT_USAGE)
    try:
        written = write_copies(
            [t.path for t in targets], args.out_dir, solutions=args.solutions, overwrite=args.force
        )
    except CopiesExistError as exc:
        existing = ", ".join(exc.names)
        raise CliError(
            f"{args.out_dir} already holds {existing}; add --force to replace", EXIT_USAGE
        ) from None
    except (SolutionMarkerError, ValueError) as exc:
        raise CliError(one_line(exc), EXIT_USAGE) from None
    rows = []
    for path in written:
        exercises = find_exercises(nbformat.read(path, as_version=4))
        checked = sum(ex.check_index is not None for ex in exercises)
        rows.append([path.name, len(exercises), checked])
    print(format_table(["notebook", "exercises", "with a check"], rows))
    kind = "teacher (nbgrader source) copies" if args.solutions else "student copies"
    print(f"\n{len(written)} {kind} written to {Path(args.out_dir)}")
    return EXIT_OK
