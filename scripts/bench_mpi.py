#!/usr/bin/env python
"""Strong scaling of one distributed SAL network, and a sweep spread over ranks.

Run from a plain shell (not under mpirun): it starts mpirun itself.

1. ``salpynn run recurrent`` with N sampling neurons, connection probability p and SAL on
   every connection, T of model time, with NEST built with MPI (.venv-mpi) at 1 and 2 ranks
   (1 thread each): simulation wall time and speed-up.
2. A sweep of 8 short two-neuron runs (NEST without MPI, .venv) at 1, 2 and 3 ranks: wall time
   and speed-up.  Rank 0 only schedules, so K ranks give K - 1 workers.

    .venv/bin/python scripts/bench_mpi.py [--neurons 2000] [--p 0.1] [--t-sim 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def mpirun(ranks: int, python: Path, *args: str) -> float:
    cmd = ["mpirun", "-n", str(ranks), "--oversubscribe", str(python), "-m", "salpynn", *args]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=ENV, cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=2000)
    parser.add_argument("--p", type=float, default=0.1)
    parser.add_argument("--t-sim", type=float, default=10_000.0)
    parser.add_argument("--sweep-duration", type=float, default=20_000.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="salpynn-bench-"))

    print(
        f"1. recurrent SAL network: {args.neurons} neurons, p = {args.p}, "
        f"{args.t_sim / 1000:g} s model time, NEST with MPI, 1 thread per rank"
    )
    timings = {}
    for ranks in (1, 2):
        out = work / f"recurrent{ranks}"
        wall = mpirun(
            ranks,
            ROOT / ".venv-mpi/bin/python",
            "run",
            "recurrent",
            "--no-progress",
            "--out",
            str(out),
            "--set",
            f"n={args.neurons}",
            "--set",
            f"connectivity={args.p}",
            "--set",
            f"duration={args.t_sim}",
            "--set",
            "n_reports=1",
        )
        summary = json.loads((out / "summary.json").read_text())
        timings[ranks] = summary["simulation_time_s"]
        print(
            f"   {ranks} rank(s): simulate {summary['simulation_time_s']:7.1f} s, "
            f"build {summary['build_time_s']:6.1f} s, total {wall:6.1f} s, "
            f"{summary['n_connections']:,} connections, {summary['n_spikes']:,} spikes"
        )
    print(f"   speed-up of the simulation at 2 ranks: {timings[1] / timings[2]:.2f}x")

    print(f"2. sweep of 8 two-neuron runs of {args.sweep_duration / 1000:g} s (NEST without MPI)")
    spec = {
        "experiment": "two-neuron",
        "base": {"duration": args.sweep_duration, "n_reports": 2},
        "grid": {"seed": list(range(1, 9))},
    }
    sweep_times = {}
    for ranks in (1, 2, 3):
        path = work / f"sweep{ranks}.json"
        path.write_text(json.dumps({**spec, "out": str(work / f"sweep{ranks}")}))
        sweep_times[ranks] = mpirun(
            ranks, ROOT / ".venv/bin/python", "sweep", str(path), "--no-progress"
        )
        workers = max(1, ranks - 1)
        print(
            f"   {ranks} rank(s) ({workers} worker(s)): {sweep_times[ranks]:6.1f} s, "
            f"speed-up {sweep_times[1] / sweep_times[ranks]:.2f}x"
        )


if __name__ == "__main__":
    main()
