#!/usr/bin/env python
"""Speed of the sampling experiment: seconds per training iteration per run.

Run from a plain shell (not under mpirun): it starts mpirun itself.

One condition (synaptic noise 0.8 with SAL, the paper's network: 7 neurons, sleep phase of
1000 tau_ref = 50,000 steps) for S seeds and a few iterations, with NEST without MPI:

1. in one process, and under ``mpirun -n 2`` (seeds in batches; each rank simulates its
   batches in its own kernel);
2. the same-run baseline: the discrete-time network stepped in NumPy, vectorised over all S
   seeds (one Python loop iteration per time step), as a step-based reference would do it.

Printed: wall-clock seconds per iteration per run (validation reduced to one sleep phase), and
the ratios to the NumPy baseline and to the authors' 0.084 s per iteration (the issue's figure).

    .venv/bin/python scripts/bench_sampling.py [--seeds 20] [--batch 10] [--iterations 40]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
AUTHORS_SECONDS_PER_ITERATION = 0.084


def run(ranks: int, out: Path, settings: dict[str, object]) -> dict:
    cmd = [str(ROOT / ".venv" / "bin" / "python"), "-m", "salpynn", "run", "sampling"]
    for key, value in settings.items():
        cmd += ["--set", f"{key}={value}"]
    cmd += ["--no-progress", "--out", str(out)]
    if ranks > 1:
        cmd = ["mpirun", "-n", str(ranks), "--oversubscribe", *cmd]
    subprocess.run(cmd, check=True, env=ENV, cwd=ROOT, capture_output=True, text=True)
    return json.loads((out / "summary.json").read_text())


def numpy_baseline(seeds: int, n: int = 7, tau_steps: int = 50, sleep_tau: int = 1000) -> float:
    """Seconds per sleep phase (all seeds together) of a NumPy step loop: logistic escape,
    rectangular PSPs of tau_steps, refractoriness of tau_steps."""
    rng = np.random.default_rng(1)
    w = rng.uniform(-1, 1, (seeds, n, n))
    b = rng.uniform(-1, 1, (seeds, n))
    refractory = np.zeros((seeds, n), dtype=np.int64)
    history = np.zeros((tau_steps, seeds, n))  # spikes of the last tau_steps steps
    offset = np.log(tau_steps)
    steps = sleep_tau * tau_steps
    start = time.perf_counter()
    psp = np.zeros((seeds, n))
    for t in range(steps):
        u = b + psp
        fire = (refractory == 0) & (rng.random((seeds, n)) < 1 / (1 + np.exp(offset - u)))
        refractory = np.maximum(refractory - 1, 0)
        refractory[fire] = tau_steps - 1
        z = fire.astype(float)
        slot = t % tau_steps
        psp += np.einsum("skj,sj->sk", w, z - history[slot])
        history[slot] = z
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=40)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="salpynn-bench-sampling-"))
    settings = {
        "seeds": args.seeds,
        "batch": args.batch,
        "iterations": args.iterations,
        "validate_every": args.iterations,
        "validation_factor": 1,
    }
    print(
        f"sampling, synaptic noise 0.8 + SAL: {args.seeds} seeds in batches of {args.batch}, "
        f"{args.iterations} iterations of 50,000 steps, 7 neurons"
    )
    results = {}
    for ranks in (1, 2):
        summary = run(ranks, work / f"ranks-{ranks}", settings)
        # Wall time of the whole run (build, training, two validation phases of one sleep
        # each, writing) per iteration per run: what a user waits for.
        wall = summary["seconds_per_iteration_per_run"]
        results[ranks] = wall
        print(
            f"  {ranks} process(es): {wall:.4f} s per iteration per run (wall clock); "
            f"training loop alone {summary['train_seconds_per_iteration_per_run']:.4f} s "
            f"per iteration per run summed over ranks"
        )
    baseline = numpy_baseline(args.seeds) / args.seeds
    print(f"  NumPy step loop over all {args.seeds} seeds: {baseline:.4f} s per iteration per run")
    print(f"  mpirun -n 2 vs 1 process: {results[1] / results[2]:.2f}x")
    for ranks, value in results.items():
        print(
            f"  {ranks} process(es): {baseline / value:.1f}x faster than the NumPy loop, "
            f"{AUTHORS_SECONDS_PER_ITERATION / value:.1f}x faster than the authors' 0.084 s"
        )


if __name__ == "__main__":
    main()
