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

Every expected failure (an unknown notebook, a missing folder, a failing cell, a
kernel that dies) ends with a one-line message and a non-zero exit, never a traceback.

Example
-------
>>> from mmteach.cli import main
>>> main(["list"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mmteach import __version__
from mmteach.course import COURSE, Lesson, lesson
from mmteach.doctor import collect_checks, format_checks, format_table, one_line, repo_root

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

#: Environment for every kernel ``mmteach run`` starts (set before TensorFlow is imported).
KERNEL_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}

#: The kernel spec written into notebooks by ``mmteach run --inplace``.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


class CliError(Exception):
    """An expected failure: printed as one line, exit status ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def cmd_doctor(args: argparse.Namespace) -> int:
    for key, value in KERNEL_ENV.items():  # quiet TensorFlow's start-up logs
        os.environ.setdefault(key, value)
    checks = collect_checks()
    print(format_checks(checks))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILED


# --------------------------------------------------------------------------- list


def cmd_list(args: argparse.Namespace) -> int:
    rows = [[f"{x.number:02d}", x.title, x.summary, x.minutes] for x in COURSE]
    print(format_table(["#", "title", "summary", "minutes"], rows))
    total = sum(x.minutes for x in COURSE)
    print(f"\n{len(COURSE)} notebooks, about {total // 60} h {total % 60:02d} min in all.")
    return EXIT_OK


# --------------------------------------------------------------------------- run


def find_notebooks_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The course's notebooks/ folder: ``explicit``, else the repository's, else ./notebooks."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_dir():
            raise CliError(f"notebooks folder not found: {path}", EXIT_USAGE)
        return path.resolve()
    for candidate in (repo_root() / "notebooks", Path.cwd() / "notebooks"):
        if candidate.is_dir():
            return candidate.resolve()
    raise CliError(
        f"no notebooks folder at {repo_root() / 'notebooks'}; run from a checkout of the "
        "repository installed with pip install -e, or pass --notebooks DIR",
        EXIT_USAGE,
    )


@dataclass(frozen=True)
class Target:
    """A notebook to run: its path and its place in the course (None: not a course lesson)."""

    path: Path
    number: int | None

    @property
    def name(self) -> str:
        return self.path.name


def resolve_notebooks(names: Sequence[str], notebooks_dir: Path | None) -> list[Target]:
    """Turn command-line names into existing notebook files, in course order.

    Accepts "4", "04", "fusion", "04_fusion", "04_fusion.ipynb" or a path to a
    notebook. With no names: every course notebook present in ``notebooks_dir``.
    """
    by_file = {x.filename: x for x in COURSE}
    targets: list[Target] = []
    if not names:
        if notebooks_dir is None:
            raise CliError("no notebooks folder", EXIT_USAGE)
        targets = [
            Target(notebooks_dir / x.filename, x.number)
            for x in COURSE
            if (notebooks_dir / x.filename).is_file()
        ]
        if not targets:
            raise CliError(f"no course notebooks in {notebooks_dir}", EXIT_USAGE)
        return targets
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and (path.is_file() or path.parent != Path(".")):
            if not path.is_file():
                raise CliError(f"notebook not found: {path}", EXIT_USAGE)
            item = by_file.get(path.name)
            targets.append(Target(path.resolve(), item.number if item else None))
            continue
        try:
            item: Lesson = lesson(name)
        except ValueError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        if notebooks_dir is None:
            raise CliError("no notebooks folder", EXIT_USAGE)
        path = notebooks_dir / item.filename
        if not path.is_file():
            raise CliError(f"lesson {item.number:02d} has no notebook yet: {path}", EXIT_USAGE)
        targets.append(Target(path, item.number))
    seen: set[Path] = set()
    unique = [t for t in targets if not (t.path in seen or seen.add(t.path))]
    # Course notebooks in course order; other notebooks after them, in the order given.
    return sorted(unique, key=lambda t: (t.number is None, t.number if t.number is not None else 0))


def _kernel_manager_class():
    """A KernelManager whose ``python3`` kernel is this Python, with KERNEL_ENV set."""
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class CurrentEnvSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):  # noqa: D401 - jupyter API
            if kernel_name == "python3":
                spec = ipykernel.kernelspec.get_kernel_dict()
                spec["env"] = {**spec.get("env", {}), **KERNEL_ENV}
                return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES, **spec)
            return super().get_kernel_spec(kernel_name)

    class CurrentEnvKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("kernel_spec_manager", CurrentEnvSpecs())
            super().__init__(**kwargs)

    return CurrentEnvKernelManager


#: TensorFlow's C++ (absl) log lines: they carry timestamps and process ids, differ on
#: every run, and appear even with TF_CPP_MIN_LOG_LEVEL set.
TF_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\] .*"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.)$"
)


def drop_tf_log_lines(outputs: list) -> list:
    """``outputs`` without TensorFlow's C++ log lines on stderr (other stderr text is kept)."""
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            lines = out["text"].splitlines(keepends=True)
            text = "".join(line for line in lines if not TF_LOG_LINE.match(line.rstrip("\n")))
            if not text.strip():
                continue
            out["text"] = text
        kept.append(out)
    return kept


def normalise(nb) -> None:
    """Make an executed notebook fit to commit.

    Execution counts 1..n, no timestamps or machine-specific metadata, no TensorFlow
    C++ log lines; cell tags and other cell metadata are kept.
    """
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # nbclient's timestamps
        if cell.cell_type != "code":
            continue
        if not cell.source.strip():
            cell.execution_count = None
            cell.outputs = []
            continue
        count += 1
        cell.execution_count = count
        cell.outputs = drop_tf_log_lines(cell.outputs)
        for out in cell.outputs:
            if out.get("output_type") == "execute_result":
                out["execution_count"] = count
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    info = nb.metadata.get("language_info")
    if isinstance(info, dict):
        nb.metadata["language_info"] = {
            k: v for k, v in info.items() if k not in {"version"}
        }  # the patch version varies from machine to machine
    for key in ("papermill", "vscode", "interpreter", "toc-autonumbering"):
        nb.metadata.pop(key, None)


@dataclass
class RunResult:
    target: Target
    status: str
    seconds: float
    cells: int
    error: str = ""


def execute_notebook(target: Target, timeout: float, *, progress: bool = True):
    """Execute one notebook in a fresh kernel whose working folder is the notebook's.

    Returns ``(notebook, error)``; ``error`` is a one-line description or "".
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from tqdm.auto import tqdm

    try:
        nb = nbformat.read(target.path, as_version=4)
    except Exception as exc:  # noqa: BLE001
        return None, f"{target.name}: cannot read notebook: {one_line(exc)}"
    n_code = sum(1 for c in nb.cells if c.cell_type == "code" and c.source.strip())
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        kernel_manager_class=_kernel_manager_class(),
        resources={"metadata": {"path": str(target.path.parent)}},
        record_timing=False,
        startup_timeout=120,
    )
    current = {"index": None}
    bar = tqdm(
        total=n_code,
        desc=target.name,
        unit="cell",
        leave=False,
        disable=None if progress else True,
        file=sys.stderr,
    )

    def on_start(cell, cell_index, **_):
        current["index"] = cell_index

    def on_done(cell, cell_index, **_):
        bar.update(1)

    client.on_cell_start = on_start
    client.on_cell_executed = on_done

    def where() -> str:
        i = current["index"]
        if i is None:
            return f"{target.name}"
        return f"{target.name} cell {i + 1}"

    try:
        client.execute(stderr=subprocess.DEVNULL)  # the kernel's own log lines
        error = ""
    except CellExecutionError as exc:
        error = f"{where()}: {exc.ename}: {one_line(exc.evalue) or '(no message)'}"
    except CellTimeoutError:
        error = f"{where()}: did not finish within {timeout:g} s (raise it with --timeout)"
    except DeadKernelError:
        error = (
            f"{where()}: the kernel died (a crash, out of memory or os._exit); "
            "open the notebook in JupyterLab to see more"
        )
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - kernel start-up and transport errors
        error = f"{where()}: could not run the kernel: {type(exc).__name__}: {one_line(exc)}"
    finally:
        bar.close()
    return nb, error


def cmd_run(args: argparse.Namespace) -> int:
    import nbformat

    if args.timeout is not None and args.timeout <= 0:
        raise CliError(f"--timeout: expected a positive number of seconds, got {args.timeout}", 2)
    named_paths_only = bool(args.notebooks_names) and all(
        n.endswith(".ipynb") and (Path(n).is_file() or Path(n).parent != Path("."))
        for n in args.notebooks_names
    )
    notebooks_dir = (
        None if named_paths_only and args.notebooks is None else find_notebooks_dir(args.notebooks)
    )
    targets = resolve_notebooks(args.notebooks_names, notebooks_dir)
    if args.build_dir is not None:
        build_dir = Path(args.build_dir)
    elif notebooks_dir is not None:
        build_dir = notebooks_dir.parent / "build" / "notebooks"
    else:
        build_dir = Path.cwd() / "build" / "notebooks"

    results: list[RunResult] = []
    failure = ""
    for target in targets:
        start = time.perf_counter()
        nb, error = execute_notebook(target, args.timeout, progress=not args.no_progress)
        seconds = time.perf_counter() - start
        cells = sum(1 for c in nb.cells if c.cell_type == "code") if nb is not None else 0
        if nb is not None:
            normalise(nb)
            if args.inplace and not error:
                out = target.path
            else:
                build_dir.mkdir(parents=True, exist_ok=True)
                out = build_dir / target.name
            nbformat.write(nb, out)
            if error:
                error += f" (executed copy: {out})"
        results.append(RunResult(target, "FAILED" if error else "ok", seconds, cells, error))
        if error:
            failure = error
            break

    rows = [[r.target.name, r.status, r.cells, f"{r.seconds:.1f}"] for r in results]
    print(format_table(["notebook", "status", "code cells", "seconds"], rows))
    total = sum(r.seconds for r in results)
    if failure:
        print(f"mmteach run: error: {failure}", file=sys.stderr)
        return EXIT_FAILED
    where = "in place" if args.inplace else f"copies in {build_dir}"
    print(f"\n{len(results)} notebook(s) ran in {total:.1f} s ({where}).")
    if not args.notebooks_names and notebooks_dir is not None:
        missing = [f"{x.number:02d}" for x in COURSE if not (notebooks_dir / x.filename).is_file()]
        if missing:
            print(f"Lessons without a notebook yet (skipped): {', '.join(missing)}.")
    return EXIT_OK


# --------------------------------------------------------------------------- data


def cmd_data_verify(args: argparse.Namespace) -> int:
    datasets = importlib.import_module("mmteach.datasets")
    targets = []
    if args.root or not (args.scenes_root or args.spoken_digits_root):
        targets.append(("Shapes World", datasets.verify_snapshot, args.root or datasets.default_root()))
    if args.scenes_root or not (args.root or args.spoken_digits_root):
        scenes = importlib.import_module("mmteach.scenes")
        targets.append(("Scenes", scenes.verify_scenes, args.scenes_root or scenes.default_scenes_root()))
    if args.spoken_digits_root or not (args.root or args.scenes_root):
        spoken = importlib.import_module("mmteach.spoken_digits")
        root = args.spoken_digits_root or spoken.default_spoken_digits_root()
        targets.append(("Spoken digits", spoken.verify_spoken_digits, root))
    for label, verify, root in targets:
        try:
            count = verify(Path(root))
        except datasets.DataError as exc:
            raise CliError(
                f"{one_line(exc)} (restore with `git checkout -- data/`"
                " or regenerate with `mmteach data build`)"
            ) from None
        print(f"{label}: {count} files match MANIFEST.sha256 in {root}")
    return EXIT_OK


def cmd_data_build(args: argparse.Namespace) -> int:
    datasets = importlib.import_module("mmteach.datasets")
    jobs = []
    if args.out or not args.scenes_out:
        root = Path(args.out) if args.out else datasets.default_root()
        jobs.append((f"Shapes World: built {args.n} samples", datasets.build_snapshot, root, args.n))
    if args.scenes_out or not args.out:
        scenes = importlib.import_module("mmteach.scenes")
        root = Path(args.scenes_out) if args.scenes_out else scenes.default_scenes_root()
        jobs.append((f"Scenes: built {args.scenes} scenes", scenes.build_scenes_snapshot, root, args.scenes))
    for label, build, root, n in jobs:
        start = time.perf_counter()
        try:
            path = build(root, n=n, seed=args.seed)
        except (ValueError, TypeError, OSError, datasets.DataError) as exc:
            raise CliError(f"data build: {one_line(exc)}") from None
        print(f"{label} (seed {args.seed}) in {path} in {time.perf_counter() - start:.1f} s")
    return EXIT_OK


# --------------------------------------------------------------------------- student


def cmd_student(args: argparse.Namespace) -> int:
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


# --------------------------------------------------------------------------- main


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
    """Run the ``mmteach`` command; returns the exit status."""
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
