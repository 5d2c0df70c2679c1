"""``mmteach data verify`` and ``mmteach data build``: check or regenerate the bundled data."""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

from mmteach.cli.common import EXIT_OK, CliError
from mmteach.doctor import one_line

__all__ = ["cmd_data_build", "cmd_data_verify"]


def cmd_data_verify(args: argparse.Namespace) -> int:
    """``mmteach data verify``: check the bundled data against their manifests.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`build_parser`).
    """
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
    """``mmteach data build``: regenerate the Shapes World and scenes snapshots.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`build_parser`).
    """
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
