"""benchmarks/run.py: its table and its cheapest measurements run (the slow ones are marked)."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("mmteach_benchmarks", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_markdown_table_marks_met_and_missed(bench):
    rows = [bench.Row("a", "1 s", "< 2 s", True), bench.Row("b", "3 s", "< 2 s", False), bench.Row("c", "x")]
    table = bench.markdown_table(rows).splitlines()
    assert table[0] == "| measure | result | target | met |"
    assert table[2] == "| a | 1 s | < 2 s | yes |"
    assert table[3] == "| b | 3 s | < 2 s | **no** |"
    assert table[4] == "| c | x |  |  |"


def test_import_row_measures_a_fresh_interpreter(bench):
    rows = bench.bench_import(repeats=1)
    assert rows[0].raw > 0 and rows[0].target == "< 0.3 s"
    assert rows[0].ok == (rows[0].raw < 0.3)
    assert rows[1].measure.endswith("imports TensorFlow") and rows[1].value == "no"


@pytest.mark.slow
def test_floor_runs_a_one_cell_notebook(bench):
    rows = bench.bench_floor(repeats=1)
    assert rows[0].raw == bench.FLOOR["seconds"] > 0
