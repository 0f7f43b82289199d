#!/usr/bin/env python
"""Speed of the sampling experiment: seconds per training iteration per run.

Run from a plain shell (not under mpirun): it starts mpirun itself.

One condition (synaptic noise 0.8 with SAL, the paper's network: 7 neurons, sleep phase of
1000 tau_ref = 50,000 steps), NEST without MPI, everything measured in this run:

1. packing: the cost per run-iteration against the number of networks per NEST kernel
   (``--packing 1,10,35,70,140``; one process, one kernel holding all of them);
2. both cores: ``mpirun -n 2`` with two kernels of 20 networks each (the sweep's packing:
   each condition's 20 seeds in one kernel), for this condition, for synaptic noise without
   SAL (static weights, the kind of six of the sweep's eight conditions: by default in one
   ``sampling_networks`` node per kernel, and with ``engine=pynn`` as PyNN populations and
   projections), and with two kernels of the best packing;
3. the authors' trainer (``--authors DIR``, a checkout of unibe-cns/sal-code): installed with
   numba into a throwaway venv under the system's temp folder (never into salpynn's
   environments) and run twice with the paper's network for two numbers of iterations; the
   difference gives the steady-state seconds per iteration without imports and JIT compile;
4. the NumPy step loop vectorised over all networks of the largest packing;
5. ``--barriers``: what NEST's OpenMP barriers cost one thread.  NEST runs its update loop in
   an OpenMP team even with one thread, with two barriers per ``min_delay`` slice (here every
   step), and GNU libgomp's barrier makes a ``futex`` wake system call even in a team of one.
   The script compiles a no-op ``GOMP_barrier`` (correct only for one thread, which it
   checks) into the temp folder and times sleep phases of one kernel of 20 networks with and
   without it preloaded (``LD_PRELOAD``; measurement only, never used by salpynn), and checks
   that both give the same spikes.

Printed: seconds per run-iteration of each, the ratios, and the projected wall-clock hours of
the paper's Figs. 4-5 sweep (``scripts/sweeps/fig4-5-paper.json``: 8 conditions, 2 of them
with SAL, x 20 seeds x 20,000 iterations plus validations).

    .venv/bin/python scripts/bench_sampling.py [--packing 1,10,35,70,140] [--iterations 10]
        [--authors ~/sal-code]

Machine wall time per run-iteration = compute time per run-iteration measured with both ranks
busy, over 2 (start-up excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
#: The Figs. 4-5 sweep: runs, iterations, and sleep phases per iteration including validation
#: (synaptic: every 500 iterations 100 phases, +20 %; plasticity: every 1000, +10 %).
SWEEP_RUNS, SWEEP_ITERATIONS, VALIDATION_OVERHEAD = 8 * 20, 20_000, 1.15
SWEEP_SAL_RUNS, SWEEP_BATCH = 2 * 20, 20


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


def authors_seconds_per_iteration(checkout: Path, work: Path) -> float:
    """Steady-state seconds per training iteration of the authors' ``train_bm.py`` (the
    paper's 7-neuron network, 1000 tau_ref sleep phases), in a throwaway venv."""
    package = checkout / "spiking_sampling_network"
    script = checkout / "scripts" / "ssn" / "train_bm.py"
    if not package.is_dir() or not script.is_file():
        raise SystemExit(f"--authors {checkout}: not a checkout of unibe-cns/sal-code")
    venv = work / "authors-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "numba",
            "scipy",
            "pyyaml",
            "matplotlib",
            str(package),
        ],
        check=True,
    )
    params = json.loads(
        json.dumps(
            {
                "dim": 7,
                "seed": {"distr": 1, "init": 2, "sim": 3},
                "distr": {"alpha": 1.0, "beta": 1.0},
                "sim_params": {"t_ref": 50, "tau_syn": 50, "num_last_spikes": 1},
                "val_step": 10**9,  # one validation, at step 0, as long as an iteration
                "val_factor": 1,
                "lr": {"bias": 0.01, "weight": 0.01, "symm": 0.01},
                "dur": 1000,
                "init_noise": 0.8,
                "weight_init": 0.2,
                "bias_init": 0.2,
                "max_w": 2.0,
                "max_b": 2.0,
                "stdp": {
                    "num_last_spikes": 1,
                    "ws": {
                        "a_plus": 1.0,
                        "a_minus": 1.0,
                        "tau_plus": 50,
                        "tau_minus": 50,
                        "noise": 0.0,
                    },
                    "sal": {
                        "a_plus": 1.0,
                        "a_minus": 1.0,
                        "tau_plus": 50,
                        "tau_minus": 50,
                        "noise": 0.0,
                    },
                },
            }
        )
    )
    times = {}
    for iterations in (11, 111):
        path = work / f"authors-{iterations}.yaml"
        path.write_text(json.dumps({**params, "num_epochs": iterations}))  # JSON is YAML
        start = time.perf_counter()
        done = subprocess.run(
            [python, str(script), str(path)], capture_output=True, text=True, cwd=work
        )
        if done.returncode != 0:
            raise SystemExit(f"the authors' trainer failed:\n{done.stderr[-3000:]}")
        times[iterations] = time.perf_counter() - start
    return (times[111] - times[11]) / 100


#: Times sleep phases of one kernel (argv: networks, phases); prints JSON with the seconds per
#: phase and the spike counts, after checking that NEST runs one thread.
PHASE_DRIVER = """
import json, sys, time
import numpy as np
from salpynn.experiments import sampling
networks, phases = int(sys.argv[1]), int(sys.argv[2])
config = sampling.SamplingConfig(sal=False, seeds=networks, batch=networks)
setups = [sampling.seed_setup(config, seed) for seed in range(1, networks + 1)]
batch = sampling._open_batch(
    config, np.stack([s.w_initial for s in setups]), np.stack([s.b_initial for s in setups]), 5
)
import nest
assert nest.local_num_threads == 1, "the no-op barrier is only correct for one thread"
batch.run_statistics(config.sleep_tau * config.tau_ref)  # warm-up
seconds, counts = [], []
for _ in range(phases):
    start = time.perf_counter()
    stats = batch.run_statistics(config.sleep_tau * config.tau_ref)
    seconds.append(time.perf_counter() - start)
    counts.append(stats.counts.tolist())
print(json.dumps({"seconds": seconds, "counts": counts}))
"""


def barrier_cost(work: Path, networks: int = SWEEP_BATCH, phases: int = 10) -> None:
    """Seconds per sleep phase with NEST's OpenMP barriers and with a no-op barrier."""
    shim = work / "noop_barrier.so"
    (work / "noop_barrier.c").write_text("void GOMP_barrier(void) {}\n")
    subprocess.run(
        ["cc", "-O2", "-shared", "-fPIC", "-o", str(shim), str(work / "noop_barrier.c")],
        check=True,
    )
    python = str(ROOT / ".venv" / "bin" / "python")
    measured = {}
    for label, extra in (("libgomp", {}), ("no-op", {"LD_PRELOAD": str(shim)})):
        done = subprocess.run(
            [python, "-c", PHASE_DRIVER, str(networks), str(phases)],
            env={**ENV, **extra},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        measured[label] = json.loads(done.stdout.strip().splitlines()[-1])
    if measured["libgomp"]["counts"] != measured["no-op"]["counts"]:
        raise SystemExit("the no-op barrier changed the spikes: the measurement is invalid")
    plain, noop = (float(np.median(measured[k]["seconds"])) for k in ("libgomp", "no-op"))
    steps = 50_000
    print(
        f"  NEST's OpenMP barriers, one kernel of {networks} networks, one thread: "
        f"{plain * 1e3:.1f} ms per sleep phase with libgomp's, {noop * 1e3:.1f} ms with a "
        f"no-op barrier (same spikes): {(plain - noop) / steps * 1e9:.0f} ns per step, "
        f"{1 - noop / plain:.0%} of the phase"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packing", default="1,10,35,70,140", help="networks per kernel")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--authors", type=Path, help="checkout of unibe-cns/sal-code")
    parser.add_argument("--authors-only", action="store_true", help="measure only the authors'")
    parser.add_argument(
        "--barriers", action="store_true", help="measure only NEST's OpenMP barrier cost"
    )
    args = parser.parse_args()
    packings = [int(p) for p in args.packing.split(",")]
    work = Path(tempfile.mkdtemp(prefix="salpynn-bench-sampling-"))
    if args.barriers:
        barrier_cost(work)
        return
    if args.authors_only:
        if args.authors is None:
            parser.error("--authors-only needs --authors <checkout of unibe-cns/sal-code>")
        authors = authors_seconds_per_iteration(args.authors.expanduser(), work)
        print(f"  authors' trainer: {authors * 1e3:.1f} ms per iteration (one core, steady state)")
        return
    print(
        "sampling, synaptic noise 0.8 + SAL, 7 neurons, sleep phases of 50,000 steps; "
        f"{args.iterations} iterations (validation reduced to one sleep phase)"
    )
    base = {
        "iterations": args.iterations,
        "validate_every": args.iterations,
        "validation_factor": 1,
    }
    cost = {}
    for packing in packings:
        settings = {**base, "seeds": packing, "batch": packing}
        summary = run(1, work / f"pack-{packing}", settings)
        cost[packing] = summary["train_seconds_per_iteration_per_run"]
        print(
            f"  {packing:4d} networks per kernel: training {cost[packing] * 1e3:7.2f} ms per "
            f"run-iteration, wall {summary['seconds_per_iteration_per_run'] * 1e3:7.2f} ms "
            f"({cost[packing] * 1e9 / (7 * 50_000):.0f} ns per neuron-step)"
        )
    best = min(cost, key=cost.get)
    machine = {}
    kinds = (
        ("sal", {}, "SAL"),
        ("static", {"sal": "false"}, "static weights (no SAL), sampling_networks node"),
        ("pynn", {"sal": "false", "engine": "pynn"}, "static weights, engine=pynn"),
    )
    for label, extra, title in kinds:
        summary = run(
            2,
            work / f"ranks-2-{label}",
            {**base, **extra, "seeds": 2 * SWEEP_BATCH, "batch": SWEEP_BATCH},
        )
        # Both ranks train at once: the machine's wall time per run-iteration is half the
        # compute time per run-iteration measured under that load (start-up excluded: it
        # does not grow with the 20,000 iterations).
        machine[label] = summary["train_seconds_per_iteration_per_run"] / 2
        print(
            f"  mpirun -n 2, {SWEEP_BATCH} networks per kernel, {title}: "
            f"{machine[label] * 2e3:.2f} ms per run-iteration per core with both busy, "
            f"{machine[label] * 1e3:.2f} ms wall on the machine"
        )
    print(
        f"  static weights: the node is {machine['pynn'] / machine['static']:.2f}x faster than "
        "PyNN populations and projections (engine=pynn), with the same numbers"
    )
    summary = run(2, work / "ranks-2-best", {**base, "seeds": 2 * best, "batch": best})
    machine_best = summary["train_seconds_per_iteration_per_run"] / 2
    print(
        f"  mpirun -n 2, {best} networks per kernel, SAL: {machine_best * 1e3:.2f} ms wall per "
        f"run-iteration on the machine"
    )
    static_runs = SWEEP_RUNS - SWEEP_SAL_RUNS
    per_sweep = SWEEP_SAL_RUNS * machine["sal"] + static_runs * machine["static"]
    hours = SWEEP_ITERATIONS * VALIDATION_OVERHEAD * per_sweep / 3600
    pynn_hours = (
        SWEEP_ITERATIONS
        * VALIDATION_OVERHEAD
        * (SWEEP_SAL_RUNS * machine["sal"] + static_runs * machine["pynn"])
        / 3600
    )
    print(
        f"  projected Figs. 4-5 sweep (160 runs x 20,000 iterations, {SWEEP_BATCH} seeds per "
        f"kernel): {hours:.1f} h here (target 3 h; {pynn_hours:.1f} h with engine=pynn); "
        f"SAL runs {SWEEP_SAL_RUNS * machine['sal'] / per_sweep:.0%} of it"
    )
    machine = machine["sal"]
    baseline = numpy_baseline(best) / best
    print(
        f"  NumPy step loop over {best} networks: {baseline * 1e3:.2f} ms per run-iteration "
        f"({baseline / cost[best]:.1f}x salpynn's per core)"
    )
    if args.authors is None:
        print("  authors' code: not measured (pass --authors <checkout of unibe-cns/sal-code>)")
        return
    authors = authors_seconds_per_iteration(args.authors.expanduser(), work)
    print(
        f"  authors' trainer: {authors * 1e3:.1f} ms per iteration (one core, steady state); "
        f"salpynn per core {authors / cost[best]:.2f}x, per machine (2 cores each) "
        f"{authors / 2 / machine:.2f}x; authors' sweep on 2 processes "
        f"{SWEEP_RUNS * SWEEP_ITERATIONS * VALIDATION_OVERHEAD * authors / 2 / 3600:.1f} h"
    )


if __name__ == "__main__":
    main()
