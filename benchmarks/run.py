"""Benchmarks of the course's speed; prints a markdown table (not part of the tests).

What it measures, against the targets of the course:

* ``import mmteach`` in a fresh interpreter (best of N; TensorFlow must not be imported);
* ``mmteach doctor`` (wall clock, a fresh process);
* Shapes World generation rate (samples/s) and the cached load time of the snapshot;
* training throughput (samples/s) of each fusion model through mmteach's helper
  (``mmteach.training.fit`` + ``build_multimodal_model``) against the same layers as a
  plain ``keras.Model`` trained with a bare ``model.fit`` on the same numpy arrays, in
  the same process, interleaved, best of N: the helpers' overhead as a ratio;
* a ``tf.data`` input pipeline against in-memory arrays for the same model (ratio);
* training throughput of the token-level (transformer) fusion models the same way;
* the floor every notebook pays (a fresh kernel, ``import tensorflow``, ``setup_notebook``);
* seconds per notebook for the whole course, one ``mmteach run NN`` each, the total, and the
  total as a multiple of (number of notebooks x floor);
* with ``--lanes``: the wall clock of the fast developer lane, ``pytest -m "not slow"``.

Usage (from the repository root)::

    python benchmarks/run.py                 # everything (the course run takes minutes)
    python benchmarks/run.py --skip-course   # without the course run
    python benchmarks/run.py --quick         # fewer repeats and epochs, for a smoke run
    python benchmarks/run.py --json build/benchmarks.json
    python benchmarks/run.py --skip-course --skip-training --lanes   # the fast lane only

Timings depend on the machine and on what else runs on it: the header line gives the
date, CPU count and load average (before and after), so a table can be read honestly.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: token-level fusion models (``models.build_token_model``), benchmarked like FUSIONS
TOKEN_FUSIONS = {
    "token parallel": {"fusion": "parallel"},
    "token single stream": {"fusion": "sequential"},
    "token cross-attention": {"fusion": "weighted"},
}
FUSIONS = {
    "parallel": {"fusion": "parallel"},
    "sequential": {"fusion": "sequential"},
    "weighted (learned)": {"fusion": "weighted", "weighted_mode": "learned"},
    "weighted (gated)": {"fusion": "weighted", "weighted_mode": "gated"},
    "inject": {"fusion": "inject"},
}


#: filled by bench_training: the number of training samples (for the header)
TRAINING: dict[str, int] = {}
#: filled by bench_floor: the median floor in seconds (for the course's multiple)
FLOOR: dict[str, float] = {}


@dataclass
class Row:
    """One line of the table."""

    measure: str
    value: str
    target: str = ""
    ok: bool | None = None
    raw: float | None = None

    def cells(self) -> list[str]:
        verdict = "" if self.ok is None else ("yes" if self.ok else "**no**")
        return [self.measure, self.value, self.target, verdict]


def markdown_table(rows: list[Row]) -> str:
    lines = ["| measure | result | target | met |", "| --- | ---: | --- | --- |"]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def python(code: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter of this environment (cwd: repository root)."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


# ----------------------------------------------------------------------------- import, doctor, data

IMPORT_CODE = """
import json, sys, time
t = time.perf_counter()
import mmteach
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}))
"""


def bench_import(repeats: int) -> list[Row]:
    times = []
    for _ in range(repeats):
        proc = python(IMPORT_CODE)
        if proc.returncode:
            raise RuntimeError(f"import mmteach failed:\n{proc.stderr}")
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        if out["tensorflow"]:
            raise AssertionError("import mmteach imported TensorFlow; it must stay light")
        times.append(out["seconds"])
    best, median = min(times), statistics.median(times)
    return [
        Row(
            f"`import mmteach` (best of {repeats}, median {median:.3f} s)",
            f"{best:.3f} s",
            "< 0.3 s",
            best < 0.3,
            best,
        ),  # fmt: skip
        Row("`import mmteach` imports TensorFlow", "no", "no", True),
    ]


def bench_doctor() -> list[Row]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mmteach.cli", "doctor"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    seconds = time.perf_counter() - start
    status = "all checks pass" if proc.returncode == 0 else f"exit {proc.returncode}"
    return [Row(f"`mmteach doctor` ({status})", f"{seconds:.1f} s", "", None, seconds)]


DATA_CODE = """
import json, time
from mmteach import datasets
t = time.perf_counter()
datasets.make_shapes_world({n}, seed=123)
gen = time.perf_counter() - t
datasets.load_shapes_world()  # fills the cache if needed
print(json.dumps({{"generate": gen}}))
"""

LOAD_CODE = """
import json, time
from mmteach import datasets
t = time.perf_counter()
sw = datasets.load_shapes_world()
print(json.dumps({"load": time.perf_counter() - t, "n": len(sw)}))
"""


def bench_data(n: int, repeats: int) -> list[Row]:
    proc = python(DATA_CODE.format(n=n))
    if proc.returncode:
        raise RuntimeError(f"Shapes World generation failed:\n{proc.stderr}")
    gen = json.loads(proc.stdout.strip().splitlines()[-1])["generate"]
    loads = []
    for _ in range(repeats):
        proc = python(LOAD_CODE)
        if proc.returncode:
            raise RuntimeError(f"load_shapes_world failed:\n{proc.stderr}")
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        loads.append(out["load"])
    return [
        Row(f"Shapes World generation ({n} samples)", f"{n / gen:.0f} samples/s", "", None, n / gen),
        Row(
            f"Shapes World cached load ({out['n']} samples, best of {repeats})",
            f"{min(loads):.2f} s",
            "",
            None,
            min(loads),
        ),  # fmt: skip
    ]


# ----------------------------------------------------------------------------- training


def bench_training(epochs: int, repeats: int, batch_size: int) -> list[Row]:
    """Helper (training.fit) vs bare keras model.fit, and tf.data vs arrays; best of ``repeats``."""
    import warnings

    import keras
    import numpy as np
    import tensorflow as tf

    warnings.filterwarnings("ignore", message=r".*shuffle=True.*tf\.data\.Dataset")

    import mmteach
    from mmteach import models, training
    from mmteach.preprocessing import load_prepared

    mmteach.setup_notebook(seed=0)
    data = load_prepared()
    train = data["train"]
    vocab_size = data["preprocessor"].vocab_size
    x = {m: np.asarray(v) for m, v in train.inputs.items()}
    y = np.asarray(train.labels)
    n = len(y)
    TRAINING["samples"] = n

    def builder(kwargs):
        token = kwargs.get("token", False)
        options = {k: v for k, v in kwargs.items() if k != "token"}
        return models.build_token_model if token else models.build_multimodal_model, options

    def build(kwargs):
        fn, options = builder(kwargs)
        return lambda: fn(vocab_size=vocab_size, **options)

    def bare_model(kwargs):
        fn, options = builder(kwargs)
        keras.utils.set_random_seed(0)
        m = fn(vocab_size=vocab_size, compile=False, **options)
        plain = keras.Model(m.input, m.output, name="bare")  # the same layers, a plain keras.Model
        rate = 1e-3 if kwargs.get("token") else 3e-3  # each builder's default learning rate
        plain.compile(
            keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        return plain

    def run_helper(kwargs) -> float:
        t = time.perf_counter()
        training.fit(build(kwargs), x, y, epochs=epochs, batch_size=batch_size, seed=0)
        return time.perf_counter() - t

    def run_bare(kwargs) -> float:
        t = time.perf_counter()
        model = bare_model(kwargs)
        model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
        return time.perf_counter() - t

    def run_tfdata(kwargs) -> float:
        t = time.perf_counter()
        model = bare_model(kwargs)
        ds = (
            tf.data.Dataset.from_tensor_slices((x, y))
            .shuffle(n, seed=0)
            .batch(batch_size)
            .prefetch(tf.data.AUTOTUNE)
        )
        model.fit(ds, epochs=epochs, verbose=0, shuffle=False)
        return time.perf_counter() - t

    # Warm up TensorFlow (first graph tracing, thread pools) outside the measurements.
    run_bare(FUSIONS["parallel"])

    rows = []
    samples = n * epochs
    candidates = {**FUSIONS, **{name: {**kw, "token": True} for name, kw in TOKEN_FUSIONS.items()}}
    for name, kwargs in candidates.items():
        ratios, helper, bare = [], [], []
        for i in range(repeats):  # interleaved pairs, alternating who goes first
            pair = (run_helper, run_bare) if i % 2 == 0 else (run_bare, run_helper)
            first, second = (fn(kwargs) for fn in pair)
            h, b = (first, second) if i % 2 == 0 else (second, first)
            helper.append(h)
            bare.append(b)
            ratios.append(h / b)
        ratio = statistics.median(ratios)
        rows.append(
            Row(
                f"training `{name}`: `mmteach.training.fit` vs bare `model.fit`",
                f"{samples / statistics.median(helper):.0f} vs {samples / statistics.median(bare):.0f} "
                f"samples/s; time ratio {ratio:.3f} (median of {repeats} pairs, "
                f"{min(ratios):.2f}-{max(ratios):.2f})",
                "overhead <= 5%",
                ratio <= 1.05,
                ratio,
            )  # fmt: skip
        )
    arrays, pipeline = [], []
    for _ in range(repeats):
        arrays.append(run_bare(FUSIONS["parallel"]))
        pipeline.append(run_tfdata(FUSIONS["parallel"]))
    a, p = samples / min(arrays), samples / min(pipeline)
    rows.append(
        Row(
            "input: `tf.data` pipeline vs in-memory arrays (`parallel`)",
            f"{p:.0f} vs {a:.0f} samples/s (speed ratio {p / a:.2f})",
            "",
            None,
            p / a,
        )  # fmt: skip
    )
    return rows


# ----------------------------------------------------------------------------- the course


FLOOR_NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": ["import mmteach\n", "mmteach.setup_notebook(seed=0)\n", "import tensorflow as tf"],
        }
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def bench_floor(repeats: int) -> list[Row]:
    """What every notebook pays: ``mmteach run`` of a one-cell notebook (kernel, TensorFlow, setup)."""
    times = []
    with tempfile.TemporaryDirectory(prefix="mmteach-floor-") as tmp:
        path = Path(tmp) / "floor.ipynb"
        path.write_text(json.dumps(FLOOR_NOTEBOOK), encoding="utf-8")
        for _ in range(repeats):
            cmd = [sys.executable, "-m", "mmteach.cli", "run", str(path), "--no-progress", "--build-dir", tmp]
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            match = re.search(r"^floor\.ipynb\s+ok\s+\d+\s+([\d.]+)", proc.stdout, re.M)
            if proc.returncode or not match:
                raise RuntimeError(f"the floor notebook failed:\n{proc.stdout}\n{proc.stderr}")
            times.append(float(match.group(1)))
    FLOOR["seconds"] = statistics.median(times)
    return [Row(f"floor per notebook: kernel + `import tensorflow` + `setup_notebook` (median of {repeats})",
                f"{FLOOR['seconds']:.1f} s", "", None, FLOOR["seconds"])]  # fmt: skip


def bench_course(timeout: float) -> list[Row]:
    """``mmteach run NN`` for each notebook present, one process each; seconds from its table."""
    from mmteach.course import COURSE

    rows, total, ran, failed = [], 0.0, 0, []
    with tempfile.TemporaryDirectory(prefix="mmteach-bench-") as build_dir:
        for item in COURSE:
            if not (ROOT / "notebooks" / item.filename).is_file():
                continue
            cmd = [sys.executable, "-m", "mmteach.cli", "run", f"{item.number:02d}", "--no-progress",
                   "--build-dir", build_dir, "--timeout", str(timeout)]  # fmt: skip
            start = time.perf_counter()
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            wall = time.perf_counter() - start
            match = re.search(rf"^{re.escape(item.filename)}\s+(\S+)\s+\d+\s+([\d.]+)", proc.stdout, re.M)
            seconds = float(match.group(2)) if match else wall
            ok = proc.returncode == 0 and match is not None and match.group(1) == "ok"
            if not ok:
                failed.append(item.filename)
            ran += 1
            total += seconds
            status = "" if ok else " FAILED"
            rows.append(Row(f"notebook `{item.filename}`{status}", f"{seconds:.0f} s", "<= 60 s",
                            ok and seconds <= 60, seconds))  # fmt: skip
    missing = len(COURSE) - ran
    note = f" ({ran} of {len(COURSE)} notebooks)" if missing else ""
    rows.append(Row(f"whole course, `mmteach run`{note}", f"{total:.0f} s ({total / 60:.1f} min)",
                    "<= 6 min", total <= 360 and not failed, total))  # fmt: skip
    if "seconds" in FLOOR and ran:
        multiple = total / (ran * FLOOR["seconds"])
        rows.append(
            Row(f"whole course as a multiple of {ran} x floor", f"{multiple:.1f} x", "", None, multiple)
        )
    return rows


def bench_fast_lane() -> list[Row]:
    """Wall clock of the fast developer lane, ``pytest -m "not slow"``."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "not slow", "-q", "-p", "no:cacheprovider"],
                          cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - start
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else f"exit {proc.returncode}"
    return [Row(f"fast lane `pytest -m \"not slow\"` ({tail.strip('= ')})", f"{seconds:.0f} s", "< 3 min",
                proc.returncode == 0 and seconds < 180, seconds)]  # fmt: skip


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-course", action="store_true", help="do not run the notebooks (slow)")
    parser.add_argument("--skip-training", action="store_true", help="no training benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and epochs (smoke run)")
    parser.add_argument("--repeats", type=int, help="repeats per measurement (default 5, quick 2)")
    parser.add_argument("--epochs", type=int, help="epochs per training run (default 2, quick 1)")
    parser.add_argument("--batch-size", type=int, default=32, help="training batch size (32)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per notebook cell (600)")
    parser.add_argument("--lanes", action="store_true", help="also time the fast lane (pytest -m 'not slow')")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    epochs = args.epochs or (1 if args.quick else 2)
    if repeats < 1 or epochs < 1:
        parser.error("--repeats and --epochs must be at least 1")

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    started = _dt.datetime.now().astimezone()
    load_before = load()
    t0 = time.perf_counter()
    rows: list[Row] = []

    def add(new_rows: list[Row]) -> None:
        for row in new_rows:  # progress on stderr, so a long run shows what it has so far
            elapsed_s = time.perf_counter() - t0
            print(f"[{elapsed_s:5.0f} s] {row.measure}: {row.value}", file=sys.stderr, flush=True)
        rows.extend(new_rows)

    add(bench_import(repeats))
    add(bench_doctor())
    add(bench_data(n=300, repeats=repeats))
    if not args.skip_training:
        add(bench_training(epochs=epochs, repeats=repeats, batch_size=args.batch_size))
    if not args.skip_course:
        add(bench_floor(repeats=min(repeats, 3)))
        add(bench_course(args.timeout))
    if args.lanes:
        add(bench_fast_lane())
    elapsed = time.perf_counter() - t0

    import importlib.metadata as md

    versions = ", ".join(
        f"{name} {md.version(name)}" for name in ("tensorflow", "keras", "numpy") if _installed(name)
    )
    training = (
        ""
        if args.skip_training
        else f" Training: {epochs} epoch(s) of the {TRAINING.get('samples', '?')} training samples, "
        f"batch {args.batch_size}, {repeats} interleaved pairs."
    )
    header = (
        f"Measured {started:%Y-%m-%d %H:%M %Z} on {os.cpu_count()} CPU cores ({platform.machine()}, "
        f"{platform.system()}), Python {platform.python_version()}, {versions}; load average "
        f"(1/5/15 min) {load_before} before, {load()} after; {elapsed:.0f} s in all.{training}"
    )
    print(header + "\n")
    print(markdown_table(rows))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        payload = {"header": header, "rows": [asdict(r) for r in rows]}
        Path(args.json).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0


def _installed(name: str) -> bool:
    import importlib.metadata as md

    try:
        md.version(name)
        return True
    except md.PackageNotFoundError:
        return False


if __name__ == "__main__":
    sys.exit(main())
