"""pytest configuration shared by the tests.

nbval compares every output of a notebook cell, stderr included. Warnings and log
lines on stderr vary between machines and library versions, and the course does not
teach through them, so stderr is left out of the comparison (nbval's documented way:
add "stderr" to the collector's ``skip_compare``).

Notebook cells, the browser test, the multi-worker test and the unit tests that train several
models are marked ``slow``: the fast developer lane ``pytest -m "not slow"`` leaves them out.
"""

from __future__ import annotations


def skip_stderr(items) -> None:
    """Make nbval ignore stderr streams for every notebook cell among ``items``."""
    try:
        from nbval.plugin import IPyNbFile
    except ImportError:  # nbval not installed: nothing to configure
        return
    for item in items:
        parent = getattr(item, "parent", None)
        if isinstance(parent, IPyNbFile) and "stderr" not in parent.skip_compare:
            parent.skip_compare = (*parent.skip_compare, "stderr")


def mark_notebooks_slow(items) -> None:
    """Every nbval cell is part of the slow lane: ``pytest -m "not slow"`` runs the unit tests only."""
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:
        return
    import pytest

    for item in items:
        if isinstance(item, IPyNbCell):
            item.add_marker(pytest.mark.slow)


def pytest_collection_modifyitems(session, config, items) -> None:
    skip_stderr(items)
    mark_notebooks_slow(items)
