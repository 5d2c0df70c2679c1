"""The ``mmteach`` command: check the environment, list and run the course, manage the data.

Subcommands
-----------
``mmteach doctor``
    Versions of the key packages against what mmteach requires, the devices
    TensorFlow sees, the bundled data against its checksums, a Jupyter kernel.
``mmteach list``
    The course outline.
``mmteach run [NOTEBOOK ...] [--inplace] [--timeout S] [--build-dir DIR] [--notebooks DIR]``
    Execute notebooks headless, in course order, and print a table of results.
``mmteach data verify`` / ``mmteach data build [--out DIR] [--n N] [--seed S]``
    Check the bundled data (Shapes World, scenes, spoken digits) or regenerate Shapes World.
``mmteach student OUT_DIR [NOTEBOOK ...] [--solutions] [--force]``
    Write student copies of the notebooks (solutions stubbed out, nbgrader metadata).

Each subcommand lives in a module of this package (:mod:`mmteach.cli.run`,
:mod:`mmteach.cli.data`, :mod:`mmteach.cli.student`; the checks of ``doctor`` are
:mod:`mmteach.doctor`); this module parses the command line and dispatches.

Every expected failure (an unknown notebook, a missing folder, a failing cell, a
kernel that dies) ends with a one-line message and a non-zero exit, never a traceback.

Example
-------
>>> from mmteach.cli import main
>>> main(["list"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from mmteach import __version__
from mmteach.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError
from mmteach.cli.data import cmd_data_build, cmd_data_verify
from mmteach.cli.run import (
    KERNEL_ENV,
    KERNELSPEC,
    TF_LOG_LINE,
    RunResult,
    Target,
    cmd_run,
    drop_tf_log_lines,
    execute_notebook,
    find_notebooks_dir,
    normalise,
    resolve_notebooks,
)
from mmteach.cli.student import cmd_student
from mmteach.course import COURSE
from mmteach.doctor import collect_checks, format_checks, format_table

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "KERNELSPEC",
    "KERNEL_ENV",
    "TF_LOG_LINE",
    "CliError",
    "RunResult",
    "Target",
    "build_parser",
    "cmd_data_build",
    "cmd_data_verify",
    "cmd_doctor",
    "cmd_list",
    "cmd_run",
    "cmd_student",
    "drop_tf_log_lines",
    "execute_notebook",
    "find_notebooks_dir",
    "main",
    "normalise",
    "resolve_notebooks",
]


def cmd_doctor(args: argparse.Namespace) -> int:
    """``mmteach doctor``: print the environment checks; non-zero exit when one fails.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`build_parser`).
    """
    for key, value in KERNEL_ENV.items():  # quiet TensorFlow's start-up logs
        os.environ.setdefault(key, value)
    checks = collect_checks()
    print(format_checks(checks))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILED


def cmd_list(args: argparse.Namespace) -> int:
    """``mmteach list``: print the course outline.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`build_parser`).
    """
    rows = [[f"{x.number:02d}", x.title, x.summary, x.minutes] for x in COURSE]
    print(format_table(["#", "title", "summary", "minutes"], rows))
    total = sum(x.minutes for x in COURSE)
    print(f"\n{len(COURSE)} notebooks, about {total // 60} h {total % 60:02d} min in all.")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmteach",
        description="A hands-on course in multimodal deep learning.",
    )
    parser.add_argument("--version", action="version", version=f"mmteach {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("doctor", help="check Python, packages, devices, data and Jupyter")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("list", help="print the course outline")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "run",
        help="execute notebooks headless, in course order",
        description="Execute notebooks in course order in fresh kernels and print a table. "
        "Without --inplace, executed copies go to the build folder and notebooks/ is untouched.",
    )
    p.add_argument(
        "notebooks_names",
        nargs="*",
        metavar="NOTEBOOK",
        help='"4", "04", "fusion", "04_fusion", "04_fusion.ipynb" or a path (default: all)',
    )
    p.add_argument("--inplace", action="store_true", help="rewrite the notebooks with their new outputs")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S", help="seconds per cell (600)")
    p.add_argument("--build-dir", metavar="DIR", help="where executed copies go (default: build/notebooks)")
    p.add_argument("--notebooks", metavar="DIR", help="the notebooks folder (default: found)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("data", help="verify or rebuild the bundled Shapes World data")
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    data_sub.required = True
    q = data_sub.add_parser("verify", help="check every file against MANIFEST.sha256")
    q.add_argument("--root", metavar="DIR", help="single-object snapshot folder (default: both bundled ones)")
    q.add_argument("--scenes-root", metavar="DIR", help="scenes snapshot folder (default: both bundled ones)")
    q.add_argument("--spoken-digits-root", metavar="DIR", help="spoken-digit recordings (default: all)")
    q.set_defaults(func=cmd_data_verify)
    q = data_sub.add_parser("build", help="regenerate the snapshot")
    q.add_argument("--out", metavar="DIR", help="single-object snapshot folder (default: both bundled ones)")
    q.add_argument("--scenes-out", metavar="DIR", help="scenes snapshot folder (default: both bundled ones)")
    q.add_argument("--n", type=int, default=3000, help="number of samples (3000)")
    q.add_argument("--scenes", type=int, default=1500, help="number of scenes (1500)")
    q.add_argument("--seed", type=int, default=0, help="random seed (0)")
    q.set_defaults(func=cmd_data_build)

    p = sub.add_parser(
        "student",
        help="write student copies of the notebooks (solutions removed, nbgrader metadata)",
        description="Write a copy of each notebook for learners: every solution replaced by "
        "raise NotImplementedError(), outputs cleared, checks kept, nbgrader cell metadata. "
        "With --solutions, write nbgrader's source version instead (solutions kept).",
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder for the copies (not notebooks/)")
    p.add_argument(
        "notebooks_names", nargs="*", metavar="NOTEBOOK", help="as for `mmteach run` (default: all)"
    )
    p.add_argument("--solutions", action="store_true", help="keep the solutions (nbgrader source copies)")
    p.add_argument("--force", action="store_true", help="replace copies already in OUT_DIR")
    p.add_argument("--notebooks", metavar="DIR", help="the notebooks folder (default: found)")
    p.set_defaults(func=cmd_student)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mmteach`` command; returns the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``mmteach`` (None: ``sys.argv[1:]``).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    prog = f"mmteach {args.command}"
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
