"""Wall time of the same SAL sampling network on NEST and on Brian2 (PyNN layer).

The network: ``N`` sampling neurons (logistic escape, tau_ref = tau_syn = 10 ms, biases
U(-1, 0)), random connectivity ``p`` with SAL synapses (nearest pairing, exponential window,
weights N(0, 0.2), eta = 0.001, delay = h), spikes recorded.  Each backend runs in a fresh
subprocess so that imports, kernel state and code generation do not leak between them; build
time (populations, projections) and run time are reported separately.  Brian2's first run of a
new model also compiles its code objects (cython target) or not at all (numpy target); the
``--warm`` run excludes that by simulating 10 ms first.

Usage::

    python scripts/bench_backends.py [--n 100] [--p 0.1] [--t 10000] [--brian2-target cython]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def run_one(backend_name: str, n: int, p: float, t_ms: float, target: str, warm: bool) -> dict:
    """Build and run the network on one backend; return timings (s) and the spike count."""
    import numpy as np

    if backend_name == "brian2":
        import brian2

        brian2.prefs.codegen.target = target
    from salpynn.pynn import load_backend

    backend = load_backend(backend_name)
    sim = backend.sim
    t0 = time.perf_counter()
    backend.setup(timestep=0.1, seed=42)
    rng = np.random.default_rng(42)
    cells = sim.Population(
        n,
        backend.SamplingNeuron(escape="logistic", bias=rng.uniform(-1.0, 0.0, n), tau_refrac=10.0),
    )
    cells.record("spikes")
    mask = (rng.random((n, n)) < p) & ~np.eye(n, dtype=bool)
    pre, post = np.nonzero(mask)
    weights = rng.normal(0.0, 0.2, pre.size)
    connections = [
        (int(i), int(j), float(w), 0.1) for i, j, w in zip(pre, post, weights, strict=True)
    ]
    projection = sim.Projection(
        cells,
        cells,
        sim.FromListConnector(connections, column_names=["weight", "delay"]),
        backend.SALSynapse(eta=0.001, tau_causal=10.0, tau_anticausal=10.0),
        receptor_type="basal",
    )
    t1 = time.perf_counter()
    if warm:
        sim.run(10.0)
    t2 = time.perf_counter()
    sim.run(t_ms)
    t3 = time.perf_counter()
    spikes = sum(len(st) for st in cells.get_data("spikes").segments[0].spiketrains)
    w = projection.get("weight", format="list")
    return {
        "backend": backend_name,
        "build_s": t1 - t0,
        "warmup_s": t2 - t1,
        "run_s": t3 - t2,
        "connections": int(pre.size),
        "spikes": int(spikes),
        "rate_hz": spikes / n / ((t_ms + (10.0 if warm else 0.0)) / 1000.0),
        "mean_abs_weight": float(np.mean(np.abs([c[2] for c in w]))),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="neurons")
    parser.add_argument("--p", type=float, default=0.1, help="connection probability")
    parser.add_argument("--t", type=float, default=10_000.0, help="model time, ms")
    parser.add_argument("--brian2-target", default="cython", choices=["cython", "numpy"])
    parser.add_argument("--cold", action="store_true", help="include Brian2's first-run compile")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one backend
    args = parser.parse_args(argv)

    if args.one:
        result = run_one(args.one, args.n, args.p, args.t, args.brian2_target, not args.cold)
        print(json.dumps(result))
        return 0

    results = {}
    for name in ("nest", "brian2"):
        command = [sys.executable, __file__, "--one", name, "--n", str(args.n), "--p", str(args.p)]
        command += ["--t", str(args.t), "--brian2-target", args.brian2_target]
        if args.cold:
            command.append("--cold")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return done.returncode
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        r = results[name]
        print(
            f"{name:7s} build {r['build_s']:7.2f} s  warm-up {r['warmup_s']:6.2f} s  "
            f"run {r['run_s']:8.2f} s  ({r['connections']} SAL synapses, "
            f"{r['rate_hz']:.1f} Hz, mean |w| {r['mean_abs_weight']:.3f})"
        )
    ratio = results["brian2"]["run_s"] / results["nest"]["run_s"]
    print(
        f"{args.n} neurons, {args.t / 1000:g} s model time, brian2 target "
        f"{args.brian2_target}: Brian2 / NEST run time = {ratio:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
