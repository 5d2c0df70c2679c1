"""``mmteach run``: execute notebooks headless in fresh kernels, in course order.

Also what ``mmteach student`` shares with it: finding the notebooks folder and resolving
notebook names (``4``, ``04``, ``fusion``, ``04_fusion.ipynb`` or a path).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mmteach.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError
from mmteach.course import COURSE, Lesson, lesson
from mmteach.doctor import format_table, one_line, repo_root

__all__ = [
    "KERNELSPEC",
    "KERNEL_ENV",
    "RunResult",
    "TF_LOG_LINE",
    "Target",
    "cmd_run",
    "drop_tf_log_lines",
    "execute_notebook",
    "find_notebooks_dir",
    "normalise",
    "resolve_notebooks",
]

#: Environment for every kernel ``mmteach run`` starts (set before TensorFlow is imported).
KERNEL_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}

#: The kernel spec written into notebooks by ``mmteach run --inplace``.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def find_notebooks_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The course's notebooks/ folder: ``explicit``, else the repository's, else ./notebooks.

    Parameters
    ----------
    explicit : str or path, optional
        A folder given with ``--notebooks``.
    """
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

    Parameters
    ----------
    names : sequence of str
        ``"4"``, ``"04"``, ``"fusion"``, ``"04_fusion.ipynb"`` or paths; empty: the whole course.
    notebooks_dir : path or None
        The course's notebooks folder (None: paths only).
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
    """``outputs`` without TensorFlow's C++ log lines on stderr (other stderr text is kept).

    Parameters
    ----------
    outputs : list
        A code cell's outputs.
    """
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

    Parameters
    ----------
    nb : nbformat.NotebookNode
        An executed notebook, changed in place.
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

    Parameters
    ----------
    target : Target
        The notebook.
    timeout : float
        Seconds per cell.
    progress : bool
        Show a progress bar of the cells.
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
    """``mmteach run``: execute notebooks headless in course order and print a table.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`build_parser`).
    """
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
