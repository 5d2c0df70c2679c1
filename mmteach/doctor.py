"""``mmteach doctor``: is this environment ready for the course?

Each check is one row (:class:`Check`): Python and the key packages against what mmteach
requires, the course lock (``constraints.txt``, a note), the CPU/GPU devices TensorFlow
finds, the bundled data against its checksums, a Jupyter kernel. The ``mmteach doctor``
command (:mod:`mmteach.cli`) prints :func:`format_checks` of :func:`collect_checks`;
notebook 00 shows the same table.

Example
-------
>>> print(format_table(["check", "status"], [["Python", "ok"]]))
check   status
------  ------
Python  ok
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import os
import platform
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mmteach import __version__
from mmteach.validation import check_instance, check_path, check_str, check_str_sequence, describe


def one_line(value: object, limit: int = 300) -> str:
    r"""``value`` as one line of at most ``limit`` characters, for an error message.

    Parameters
    ----------
    value : object
        Anything (an exception, a message).
    limit : int
        Characters kept.

    Example
    -------
    >>> one_line("a\n  b")
    'a b'
    """
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- tables


def format_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Format rows as a plain-text table with a header rule.

    Parameters
    ----------
    headers : sequence of str
        The column names.
    rows : iterable of sequences
        One sequence per row, as many cells as headers.

    Example
    -------
    >>> print(format_table(["a", "b"], [[1, "x"]]))
    a  b
    -  -
    1  x
    """
    headers = check_str_sequence("headers", headers)
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
        raise TypeError(f"rows: expected an iterable of rows, got {describe(rows)}")
    rows = [[str(cell) for cell in row] for row in rows]
    headers = [str(h) for h in headers]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"rows: expected {len(headers)} cells per row, got {len(row)}: {row}")
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    return "\n".join(out)


def repo_root() -> Path:
    """The folder holding the ``mmteach`` package (the repository, for an editable install)."""
    return Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- doctor

#: What ``doctor`` checks: (label, distribution names to try, requirement name).
PACKAGES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("TensorFlow", ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"), "tensorflow"),
    ("Keras", ("keras",), "keras"),
    ("numpy", ("numpy",), "numpy"),
    ("pandas", ("pandas",), "pandas"),
    ("scikit-learn", ("scikit-learn",), "scikit-learn"),
    ("ipywidgets", ("ipywidgets",), "ipywidgets"),
    ("JupyterLab", ("jupyterlab",), "jupyterlab"),
    ("nbval", ("nbval",), "nbval"),
)

#: Requirements implied by others rather than declared: the Keras floor mmteach is tested with.
IMPLIED_REQUIREMENTS = {"keras": ">=3.12"}

INSTALL_HINT = 'pip install -e ".[dev]" (from the repository root)'


@dataclass
class Check:
    """One row of ``mmteach doctor``'s table."""

    name: str
    found: str
    required: str
    ok: bool
    fix: str = ""
    note: str = field(default="")

    @property
    def status(self) -> str:
        return "ok" if self.ok else "FAIL"


def check_version(installed: str | None, specifier: str) -> tuple[bool, str]:
    """Compare an installed version with a specifier such as ``">=2.16,<3"``.

    Returns ``(ok, reason)``; ``reason`` is empty when ``ok``.

    Parameters
    ----------
    installed : str or None
        The installed version (None: not installed).
    specifier : str
        A PEP 440 specifier.

    Example
    -------
    >>> check_version("2.17.0", ">=2.16,<3")
    (True, '')
    >>> check_version("1.5", ">=2.0")
    (False, '1.5 does not satisfy >=2.0')
    """
    if installed is not None:
        installed = check_str("installed", installed)
    specifier = check_str("specifier", specifier, non_empty=False)
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        spec = SpecifierSet(specifier)
    except InvalidSpecifier as exc:
        raise ValueError(f"specifier: expected e.g. '>=1.2,<2', got {specifier!r}") from exc
    if installed is None:
        return False, "not installed"
    try:
        version = Version(installed)
    except InvalidVersion:
        return False, f"cannot read version {installed!r}"
    if spec.contains(version, prereleases=True):
        return True, ""
    return False, f"{installed} does not satisfy {specifier}"


def requirement_specifiers(requires: Iterable[str] | None) -> dict[str, str]:
    """Map normalised project names to version specifiers, from ``Requires-Dist`` lines.

    Requirements for extras (``; extra == "dev"``) are left out; requirements
    with other markers are kept only when the marker holds here.

    Parameters
    ----------
    requires : iterable of str or None
        ``Requires-Dist`` lines (e.g. ``importlib.metadata.requires("mmteach")``).

    Example
    -------
    >>> requirement_specifiers(['numpy>=1.26', 'pytest>=8; extra == "dev"'])
    {'numpy': '>=1.26'}
    """
    requires = [] if requires is None else check_str_sequence("requires", requires, non_empty=False)
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    out: dict[str, str] = {}
    for line in requires or ():
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(req.name)
        spec = pretty_specifier(str(req.specifier))
        if name in out and out[name] and spec:
            out[name] = f"{out[name]},{spec}"
        else:
            out[name] = out.get(name) or spec
    return out


_OPERATOR_ORDER = {"===": 0, "==": 0, "~=": 1, ">=": 2, ">": 3, "!=": 4, "<=": 5, "<": 6}


def pretty_specifier(specifier: str) -> str:
    """Lower bounds first: ``"<3,>=2.16"`` becomes ``">=2.16,<3"``.

    Parameters
    ----------
    specifier : str
        A PEP 440 specifier.

    Example
    -------
    >>> pretty_specifier("<3,>=2.16")
    '>=2.16,<3'
    """
    specifier = check_str("specifier", specifier, non_empty=False)
    parts = [p.strip() for p in specifier.split(",") if p.strip()]

    def key(part: str) -> int:
        for op in sorted(_OPERATOR_ORDER, key=len, reverse=True):
            if part.startswith(op):
                return _OPERATOR_ORDER[op]
        return 9

    return ",".join(sorted(parts, key=key))


def installed_version(dists: Iterable[str]) -> str | None:
    """The version of the first of ``dists`` that is installed, else None.

    Parameters
    ----------
    dists : sequence of str
        Distribution names to try in order (e.g. ``["tensorflow", "tensorflow-cpu"]``).
    """
    dists = check_str_sequence("dists", dists)
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def package_checks(
    requires: Iterable[str] | None,
    requires_python: str | None,
    *,
    version_of: Callable[[Iterable[str]], str | None] = installed_version,
    python_version: str | None = None,
) -> list[Check]:
    """Rows for Python and the key packages, given mmteach's declared requirements.

    Parameters
    ----------
    requires : iterable of str or None
        mmteach's ``Requires-Dist`` lines.
    requires_python : str or None
        Its ``Requires-Python``.
    version_of : callable
        ``version_of(dists)`` -> installed version or None (replaceable in tests).
    python_version : str, optional
        Default: this interpreter's.

    Example
    -------
    >>> rows = package_checks(["numpy>=1.26"], ">=3.10",
    ...                       version_of=lambda d: "2.0.0", python_version="3.11.7")
    >>> [(r.name, r.ok) for r in rows][:4]  # Keras 2.0.0 is older than the implied floor
    [('Python', True), ('TensorFlow', True), ('Keras', False), ('numpy', True)]
    """
    requires = None if requires is None else check_str_sequence("requires", requires, non_empty=False)
    if requires_python is not None:
        requires_python = check_str("requires_python", requires_python, non_empty=False)
    if python_version is not None:
        python_version = check_str("python_version", python_version)
    if not callable(version_of):
        raise TypeError(f"version_of: expected a function of distribution names, got {describe(version_of)}")
    specs = {**IMPLIED_REQUIREMENTS, **requirement_specifiers(requires)}
    python_version = python_version or platform.python_version()
    rows = []
    py_spec = requires_python or ""
    ok, reason = check_version(python_version, py_spec) if py_spec else (True, "")
    rows.append(
        Check(
            "Python",
            python_version,
            py_spec or "any",
            ok,
            "" if ok else f"{reason}: install Python {py_spec} and make a new virtual environment",
        )
    )
    for label, dists, req_name in PACKAGES:
        spec = specs.get(req_name, "")
        found = version_of(dists)
        if spec:
            ok, reason = check_version(found, spec)
        else:
            ok, reason = found is not None, "not installed"
        fix = ""
        if not ok:
            wanted = f"{dists[0]}{spec}"
            fix = f'{label}: {reason}; run: pip install "{wanted}"  or  {INSTALL_HINT}'
        rows.append(Check(label, found or "missing", spec or "any", ok, fix))
    return rows


def device_check() -> Check:
    """Row for the CPU/GPU devices TensorFlow finds (imports TensorFlow)."""
    try:
        device = importlib.import_module("mmteach.device")
        try:  # physical devices only: leaves TensorFlow's device setup uncommitted
            frame = device.list_devices(logical=False)
        except TypeError:
            frame = device.list_devices()
    except Exception as exc:  # noqa: BLE001 - any failure here is a row, not a crash
        return Check(
            "Devices",
            "none listed",
            "a CPU",
            False,
            f"Devices: TensorFlow could not list devices ({one_line(exc)}); reinstall with {INSTALL_HINT}",
        )
    if "kind" in frame.columns and (frame["kind"].astype(str).str.lower() == "physical").any():
        frame = frame[frame["kind"].astype(str).str.lower() == "physical"]
    type_column = "device_type" if "device_type" in frame.columns else "type"
    kinds = list(frame[type_column].astype(str).str.upper()) if len(frame) else []
    n_cpu = int(sum(k == "CPU" for k in kinds))
    n_gpu = int(sum(k == "GPU" for k in kinds))
    found = f"{n_cpu} CPU, {n_gpu} GPU"
    if n_cpu == 0 and n_gpu == 0:
        return Check(
            "Devices",
            found,
            "a CPU",
            False,
            f"Devices: TensorFlow found no device; reinstall with {INSTALL_HINT}",
        )
    note = "" if n_gpu else "CPU only: fine for this course"
    return Check("Devices", found, "a CPU (GPU optional)", True, note=note)


def data_check() -> Check:
    """Row for the bundled Shapes World snapshot and scenes checked against their manifests."""
    try:
        datasets = importlib.import_module("mmteach.datasets")
        scenes = importlib.import_module("mmteach.scenes")
        count = datasets.verify_snapshot() + scenes.verify_scenes()
    except Exception as exc:  # noqa: BLE001
        return Check(
            "Shapes World data",
            "not verified",
            "checksums match",
            False,
            f"Shapes World data: {one_line(exc)}; restore it with "
            "`git checkout -- data/` or rebuild it with `mmteach data build`",
        )
    return Check("Shapes World data", f"{count} files verified", "checksums match", True)


#: The exact versions the committed notebook outputs were generated with (README, "Quick start").
LOCK_FILE = "constraints.txt"


def read_lock(path: str | os.PathLike) -> dict[str, str]:
    r"""Map normalised project names to the ``==`` versions pinned in a pip constraints file.

    Parameters
    ----------
    path : str or path
        A pip constraints file (``constraints.txt``).

    Example
    -------
    >>> import tempfile, pathlib
    >>> lock = pathlib.Path(tempfile.mkdtemp()) / "constraints.txt"
    >>> _ = lock.write_text("# comment\nNumPy==2.4.6\nkeras==3.15.1  # the course's Keras\n")
    >>> read_lock(lock)
    {'numpy': '2.4.6', 'keras': '3.15.1'}
    """
    path = check_path("path", path)
    from packaging.utils import canonicalize_name

    pins = {}
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not name.strip() or not version.strip():
            raise ValueError(f"{path}: line {number}: expected 'name==version', got {raw!r}")
        pins[canonicalize_name(name.strip())] = version.strip()
    return pins


def lock_check(
    requires: Iterable[str] | None,
    lock_path: str | os.PathLike | None = None,
    *,
    version_of: Callable[[Iterable[str]], str | None] = installed_version,
) -> Check:
    r"""Row comparing mmteach's direct dependencies with the course lock: a note, never a failure.

    The committed notebook outputs were generated with the versions in ``constraints.txt``;
    other versions are fine (nbval compares only what is the same everywhere), but a teacher
    who wants every learner to see exactly the committed numbers installs the locked ones.

    Parameters
    ----------
    requires : iterable of str or None
        mmteach's ``Requires-Dist`` lines.
    lock_path : str or path, optional
        Default: the repository's ``constraints.txt``.
    version_of : callable
        ``version_of(dists)`` -> installed version or None.

    Example
    -------
    >>> import tempfile, pathlib
    >>> lock = pathlib.Path(tempfile.mkdtemp()) / "constraints.txt"
    >>> _ = lock.write_text("numpy==2.4.6\n")
    >>> lock_check(["numpy>=1.26"], lock, version_of=lambda d: "2.4.6").found
    'same as constraints.txt'
    >>> row = lock_check(["numpy>=1.26"], lock, version_of=lambda d: "1.26.4")
    >>> row.ok, row.found, row.note
    (True, '1 differ', 'numpy 1.26.4 (lock 2.4.6)')
    """
    requires = None if requires is None else check_str_sequence("requires", requires, non_empty=False)
    if lock_path is not None:
        lock_path = check_path("lock_path", lock_path)
    if not callable(version_of):
        raise TypeError(f"version_of: expected a function of distribution names, got {describe(version_of)}")
    path = Path(lock_path) if lock_path is not None else repo_root() / LOCK_FILE
    name = "Course lock"
    if not path.is_file():
        return Check(name, "no lock file", LOCK_FILE, True, note="not a checkout of the repository")
    pins = read_lock(path)
    differ = []
    for project in requirement_specifiers(requires):
        if project in pins:
            found = version_of([project])
            if found != pins[project]:
                differ.append(f"{project} {found or 'missing'} (lock {pins[project]})")
    if not differ:
        return Check(name, f"same as {LOCK_FILE}", LOCK_FILE, True)
    return Check(name, f"{len(differ)} differ", LOCK_FILE, True, note=", ".join(differ))


def spoken_digits_check() -> Check:
    """Row for the bundled spoken-digit recordings (FSDD) checked against their manifest."""
    try:
        spoken = importlib.import_module("mmteach.spoken_digits")
        count = spoken.verify_spoken_digits()
    except Exception as exc:  # noqa: BLE001
        return Check(
            "Spoken digits data",
            "not verified",
            "checksums match",
            False,
            f"Spoken digits data: {one_line(exc)}; restore it with `git checkout -- data/spoken_digits`",
        )
    return Check("Spoken digits data", f"{count} recordings verified", "checksums match", True)


def kernel_check() -> Check:
    """Row for a Jupyter kernel (``python3``) that notebooks can run on."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        specs = KernelSpecManager().find_kernel_specs()
        importlib.import_module("ipykernel")
    except Exception as exc:  # noqa: BLE001
        return Check(
            "Jupyter kernel",
            "none",
            "python3",
            False,
            f"Jupyter kernel: {one_line(exc)}; run: pip install ipykernel",
        )
    if "python3" not in specs:
        return Check(
            "Jupyter kernel",
            ", ".join(sorted(specs)) or "none",
            "python3",
            False,
            "Jupyter kernel: no python3 kernel; run: python -m ipykernel install --user",
        )
    return Check("Jupyter kernel", "python3", "python3", True)


def collect_checks() -> list[Check]:
    """Every row of ``mmteach doctor``; a notebook can print them with :func:`format_checks`.

    Example
    -------
    >>> print(format_checks(collect_checks()))  # doctest: +SKIP
    """
    requires = None
    try:
        requires = metadata.requires("mmteach")
        requires_python = metadata.metadata("mmteach").get("Requires-Python")
        rows = package_checks(requires, requires_python)
    except metadata.PackageNotFoundError:
        rows = [
            Check(
                "mmteach",
                "not installed",
                __version__,
                False,
                f"mmteach: the package is not installed; run {INSTALL_HINT}",
            )
        ]
    return [*rows, lock_check(requires), device_check(), data_check(), spoken_digits_check(), kernel_check()]


def format_checks(checks: Sequence[Check]) -> str:
    """The doctor table, then one "what to do" line per failing row.

    Parameters
    ----------
    checks : sequence of Check
        The rows, e.g. :func:`collect_checks`.
    """
    if isinstance(checks, (str, bytes)) or not isinstance(checks, Iterable):
        raise TypeError(f"checks: expected a list of Check rows, got {describe(checks)}")
    checks = [check_instance("checks", c, Check) for c in checks]
    table = format_table(
        ["check", "found", "required", "status"],
        [[c.name, c.found, c.required, c.status + (f" ({c.note})" if c.note else "")] for c in checks],
    )
    failing = [c for c in checks if not c.ok]
    if not failing:
        return table + "\n\nAll checks passed."
    lines = [table, "", f"{len(failing)} check(s) failed. What to do:"]
    lines += [f"  - {c.fix or c.name + ': see the table above'}" for c in failing]
    return "\n".join(lines)
