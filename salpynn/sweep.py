"""Sweeps of independent runs (seeds x parameters x conditions), spread over MPI ranks.

``mpirun -n K salpynn sweep sweep.json`` hands runs to ranks 1..K-1 with dynamic load
balancing (``mpi4py.futures.MPICommExecutor``; rank 0 schedules and collects).  Without
``mpirun`` the same file runs serially in one process.  Each run writes its own folder
``<out>/runs/<run_id>/`` (``summary.json`` last, atomically, so its presence marks a finished
run); rerunning the sweep skips finished runs.  A failed run writes ``error.json`` with the
traceback and appears in the table with ``status = failed``; the command then exits with 1.
Rank 0 writes ``<out>/summary.csv`` (one row per run) and ``<out>/sweep.json``.

Sweep file (JSON)::

    {
      "experiment": "two-neuron",
      "out": "results/sweeps/two-neuron-demo",
      "base": {"duration": 20000, "n_reports": 4},
      "grid": {"seed": [1, 2, 3, 4], "eta": [0.001, 0.002]},
      "conditions": {"both": {"plastic": "both"}, "frozen_w12": {"plastic": "w_21"}}
    }

Runs are the product of ``conditions`` (default: one unnamed condition) and ``grid``; every
value is a parameter of the experiment's configuration (``salpynn run <experiment>``).  A list
inside a condition is a grid axis of that condition only (e.g. noise levels for the noisy
conditions but not for the noise-free baseline).

Sweeps use the NEST without MPI (``.venv``): every rank simulates its own runs.  One network
distributed over ranks is ``mpirun -n K python -m salpynn run ...`` with ``.venv-mpi``.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import itertools
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salpynn import experiments, mpi, safety
from salpynn.config import ConfigError, apply_overrides
from salpynn.results import atomic_write, atomic_write_json, config_hash, provenance
from salpynn.safety import CorruptFileError, read_json_object

__all__ = ["RunSpec", "SweepSpec", "load_sweep", "run_sweep"]


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its condition, parameter overrides and folder name."""

    experiment: str
    condition: str
    overrides: dict[str, Any]
    run_id: str


@dataclass
class SweepSpec:
    """A parsed sweep file."""

    experiment: str
    out: Path
    base: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    conditions: dict[str, dict[str, Any]] = field(default_factory=lambda: {"default": {}})

    def select(self, names: list[str]) -> SweepSpec:
        """The same sweep with only the named conditions, in the given order.

        Runs keep their ids (an id depends on the condition and its parameters only), so a
        part run now and the rest later fill one result folder; the order is the order in
        which runs are handed to workers (put the longest first).
        """
        unknown = [name for name in names if name not in self.conditions]
        if unknown or not names or len(set(names)) != len(names):
            raise ConfigError(
                f"--conditions must name distinct conditions of the sweep file, one or more of "
                f"{list(self.conditions)}; got {names}"
            )
        return dataclasses.replace(self, conditions={n: self.conditions[n] for n in names})

    def runs(self) -> list[RunSpec]:
        """All runs, validated (bad parameters raise before anything runs)."""
        config_cls = experiments.get(self.experiment).config
        runs = []
        for condition, changes in self.conditions.items():
            # A list in a condition is a grid axis of that condition only.
            grid = {**self.grid, **{k: v for k, v in changes.items() if isinstance(v, list)}}
            fixed = {k: v for k, v in changes.items() if not isinstance(v, list)}
            names = list(grid)
            for values in itertools.product(*(grid[n] for n in names)):
                overrides = {**self.base, **fixed, **dict(zip(names, values, strict=True))}
                config = apply_overrides(config_cls(), overrides)
                config.validate()
                run_id = f"{condition}-{config_hash(dataclasses.asdict(config))}"
                runs.append(RunSpec(self.experiment, condition, overrides, run_id))
        if len({r.run_id for r in runs}) != len(runs):
            raise ConfigError("the sweep contains identical runs (same condition and parameters)")
        return runs


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep file; errors name the offending key."""
    data = read_json_object(path, "sweep file", "see the README's sweep section for its form")
    unknown = set(data) - {"experiment", "out", "base", "grid", "conditions"}
    if unknown:
        raise ConfigError(f"unknown sweep keys: {sorted(unknown)}")
    experiment = data.get("experiment")
    if experiment not in experiments.REGISTRY:
        raise ConfigError(f"experiment must be one of {experiments.names()}, got {experiment!r}")
    for key in ("base", "grid", "conditions"):
        if not isinstance(data.get(key, {}), dict):
            raise ConfigError(
                f"{key} must be a JSON object ({{...}}) in the sweep file {path}, "
                f"not a {type(data[key]).__name__}"
            )
    grid = data.get("grid", {})
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid.{key} must be a non-empty list")
    conditions = data.get("conditions") or {"default": {}}
    for name, changes in conditions.items():
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"condition name {name!r} must be alphanumeric (with - or _)")
        if not isinstance(changes, dict):
            raise ConfigError(
                f"conditions.{name} must be a JSON object of parameters, "
                f"not a {type(changes).__name__}"
            )
    if not isinstance(data.get("out", ""), str):
        raise ConfigError(f"out must be a folder name (a string) in the sweep file {path}")
    out = Path(data.get("out") or Path("results") / "sweeps" / Path(path).stem)
    return SweepSpec(experiment, out, data.get("base", {}), grid, conditions)


def _done_row(spec: RunSpec, summary: dict[str, Any]) -> dict[str, Any]:
    """A table row: the run's identity and overrides plus the scalar entries of its summary."""
    row: dict[str, Any] = {"run_id": spec.run_id, "condition": spec.condition, **spec.overrides}
    row.update({k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))})
    row["status"] = "done"
    return row


def execute_run(spec: RunSpec, out: str) -> dict[str, Any]:
    """Run one sweep entry in this process (a worker rank); never raises."""
    folder = Path(out) / "runs" / spec.run_id
    start = time.perf_counter()
    try:
        experiment = experiments.get(spec.experiment)
        config = apply_overrides(experiment.config(), spec.overrides)
        with mpi.local_only(), safety.run_folder(folder, f"sweep run {spec.run_id}"):
            summary = experiment.run(config, folder, False)  # this rank runs it all
        assert summary is not None  # a run on one process always reports
        return _done_row(spec, summary)
    except Exception as err:  # a failed run is reported, never dropped
        row: dict[str, Any] = {
            "run_id": spec.run_id,
            "condition": spec.condition,
            **spec.overrides,
            "status": "failed",
            "error": f"{type(err).__name__}: {err}",
        }
        atomic_write_json(
            folder / "error.json",
            {
                "run": dataclasses.asdict(spec),
                "error": row["error"],
                "traceback": traceback.format_exc(),
            },
        )
        row["wall_time_s"] = round(time.perf_counter() - start, 3)
        return row


def _finished_row(spec: RunSpec, out: Path) -> dict[str, Any] | None:
    """The table row of a finished run; ``None`` when it has to run (again): no summary, or
    one that cannot be read (that run is then rerun, which is said)."""
    summary_path = out / "runs" / spec.run_id / "summary.json"
    if not summary_path.exists():
        return None
    try:
        return _done_row(spec, read_json_object(summary_path, "summary"))
    except CorruptFileError as err:
        print(f"sweep: {err}; running {spec.run_id} again", flush=True)
        return None


def _write_table(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: r["run_id"]))
    text = buffer.getvalue()
    atomic_write(path, lambda tmp: tmp.write_text(text))


def run_sweep(spec: SweepSpec, progress: bool = True) -> tuple[list[dict[str, Any]], int]:
    """Run all unfinished runs over the available MPI ranks.

    Returns the table rows and the number of failed runs (on rank 0; other ranks serve
    tasks and return ``([], 0)``).
    """
    from mpi4py import MPI
    from mpi4py.futures import MPICommExecutor, as_completed

    mpi.independent_nest_per_rank()
    comm = MPI.COMM_WORLD
    rows: list[dict[str, Any]] = []
    failed = 0
    with MPICommExecutor(comm, root=0) as executor, contextlib.ExitStack() as stack:
        if executor is None:  # worker ranks serve tasks inside the context manager
            return [], 0
        from tqdm import tqdm

        lock = safety.RunLock(safety.check_writable(spec.out, "sweep folder"), "salpynn sweep")
        stack.enter_context(lock)
        runs = spec.runs()
        todo = []
        for run in runs:
            finished = _finished_row(run, spec.out)
            if finished is None:
                todo.append(run)
            else:
                rows.append(finished)
        workers = max(1, comm.Get_size() - 1)
        print(
            f"sweep: {len(runs)} runs of {spec.experiment}, {len(rows)} already finished, "
            f"{len(todo)} to run on {workers} worker rank(s) -> {spec.out}",
            flush=True,
        )
        atomic_write_json(
            spec.out / "sweep.json",
            {
                "spec": dataclasses.asdict(spec),
                "runs": [dataclasses.asdict(r) for r in runs],
                "ranks": comm.Get_size(),
                "provenance": provenance(),
            },
        )
        futures = [executor.submit(execute_run, run, str(spec.out)) for run in todo]
        with tqdm(total=len(futures), desc="sweep", unit="run", disable=not progress) as bar:
            for future in as_completed(futures):
                row = future.result()
                rows.append(row)
                if row["status"] == "failed":
                    failed += 1
                    bar.write(f"FAILED {row['run_id']}: {row['error']}")
                bar.update()
                _write_table(spec.out / "summary.csv", rows)  # partial table survives a crash
        _write_table(spec.out / "summary.csv", rows)
    return rows, failed
