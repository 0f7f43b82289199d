"""Compare the results of two trees of run folders number by number (for refactorings).

    python scripts/compare_runs.py OLD_ROOT NEW_ROOT

Every ``summary.json`` under OLD_ROOT is paired with the one at the same relative path under
NEW_ROOT; runs of a sweep (``runs/<condition>-<hash>``, whose hash changes with the
configuration's layout) are paired by condition and overrides (a ``rule.`` prefix is ignored, so
``eta`` and ``rule.eta`` match).  Numbers (and lists of numbers) must be identical bit for bit;
timings, configuration, hashes and versions are skipped.  The ``.npz`` files next to each
summary are compared array by array.  Exit status 1 on any difference.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

SKIP = {"config", "config_hash", "provenance", "wall_time_s", "build_time_s"}
SKIP_SUFFIXES = ("_time_s", "_seconds", "seconds_per_iteration_per_run")


def _numbers(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in SKIP or key.endswith(SKIP_SUFFIXES):
                continue
            out.update(_numbers(item, f"{prefix}{key}."))
        return out
    if isinstance(value, (int, float, bool, list)) or value is None:
        return {prefix.rstrip("."): value}
    return {}


def _sweep_key(folder: Path) -> str | None:
    sweep = folder.parent.parent / "sweep.json"
    if folder.parent.name != "runs" or not sweep.is_file():
        return None
    for run in json.loads(sweep.read_text())["runs"]:
        if run["run_id"] == folder.name:
            overrides = {k.removeprefix("rule."): v for k, v in run["overrides"].items()}
            return f"{folder.parent.parent.name}/{run['condition']}/{sorted(overrides.items())}"
    return None


def _index(root: Path) -> dict[str, Path]:
    found = {}
    for summary in sorted(root.rglob("summary.json")):
        folder = summary.parent
        found[_sweep_key(folder) or str(folder.relative_to(root))] = folder
    return found


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b and type(a) is type(b)


def compare(old_root: Path, new_root: Path) -> int:
    old, new = _index(old_root), _index(new_root)
    problems = [f"missing in {new_root}: {key}" for key in old if key not in new]
    compared = values = arrays = 0
    for key, old_folder in old.items():
        if key not in new:
            continue
        a = _numbers(json.loads((old_folder / "summary.json").read_text()))
        b = _numbers(json.loads((new[key] / "summary.json").read_text()))
        for name in a.keys() & b.keys():
            values += 1
            if not _same(a[name], b[name]):
                problems.append(f"{key}: {name}: {a[name]!r} != {b[name]!r}")
        for npz in sorted(old_folder.glob("*.npz")):
            with np.load(npz) as x, np.load(new[key] / npz.name) as y:
                for name in x.files:
                    arrays += 1
                    if not np.array_equal(x[name], y[name], equal_nan=True):
                        problems.append(f"{key}: {npz.name}[{name}] differs")
        compared += 1
    for line in problems:
        print(line)
    print(
        f"{compared} runs, {values} summary values and {arrays} arrays compared: "
        f"{'identical' if not problems else f'{len(problems)} differences'}"
    )
    return 1 if problems or not compared else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    raise SystemExit(compare(Path(sys.argv[1]), Path(sys.argv[2])))
