#!/usr/bin/env python
"""Benchmark sal_synapse against NEST's static_synapse and stdp_synapse in one process.

Network: N Poisson-driven parrot neurons project onto N iaf_psc_alpha neurons, each of which
receives K plastic inputs (fixed in-degree) plus an excitatory Poisson drive that makes it fire.
The same network is built once per synapse model; we report wall time per simulated second
(best of --repeats), memory per synapse, and the ratios sal/static and sal/stdp.

    .venv/bin/python scripts/bench_synapse.py [--neurons 1000] [--indegree 200] [--t-sim 2000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from salpynn.rule import PairRule


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def build_and_run(model: str, args: argparse.Namespace) -> dict[str, float]:
    import salpynn.nest as snest

    nest = snest.import_nest()
    nest.ResetKernel()
    nest.SetKernelStatus(
        {"resolution": 0.1, "local_num_threads": args.threads, "rng_seed": args.seed}
    )
    snest.install()
    sources = nest.Create("parrot_neuron", args.neurons)
    drive = nest.Create("poisson_generator", args.neurons, params={"rate": args.rate})
    nest.Connect(drive, sources, "one_to_one")
    targets = nest.Create("iaf_psc_alpha", args.neurons)
    # Background drive so that targets fire at a few Hz: postsynaptic spikes matter for STDP.
    background = nest.Create("poisson_generator", params={"rate": args.background})
    nest.Connect(background, targets, syn_spec={"weight": 20.0})
    weight = 0.5
    if model == "sal_synapse":
        syn = snest.sal_syn_spec(PairRule.sal(eta=1e-4, pairing=args.pairing), weight, 1.0)
    elif model == "stdp_synapse":
        syn = {
            "synapse_model": model,
            "weight": weight,
            "delay": 1.0,
            "lambda": 1e-4,
            "Wmax": 100.0,
        }
    else:
        syn = {"synapse_model": model, "weight": weight, "delay": 1.0}
    before = rss_mb()
    nest.Connect(sources, targets, {"rule": "fixed_indegree", "indegree": args.indegree}, syn)
    nest.Simulate(10.0)  # settle data structures before measuring memory and time
    memory = rss_mb() - before
    counter = nest.Create("spike_recorder")
    nest.Connect(targets, counter)
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        nest.Simulate(args.t_sim)
        best = min(best, time.perf_counter() - start)
    n_syn = args.neurons * args.indegree
    rate = counter.get("n_events") / (args.neurons * args.repeats * args.t_sim / 1000.0)
    sample = nest.GetConnections(sources[:1], synapse_model=syn["synapse_model"])[:1]
    size_of = sample.get("size_of") if "size_of" in sample.get() else float("nan")
    return {
        "seconds_per_sim_second": best / (args.t_sim / 1000.0),
        "memory_mb": memory,
        "bytes_per_synapse_rss": memory * 2**20 / n_syn,
        "size_of": size_of,
        "target_rate_hz": rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--indegree", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="input rate (Hz)")
    parser.add_argument("--t-sim", type=float, default=2000.0, help="ms per measured run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pairing", choices=["nearest", "all"], default="nearest")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--background", type=float, default=3000.0, help="target drive (Hz)")
    parser.add_argument("--single", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        print(json.dumps(build_and_run(args.single, args)))
        return

    print(
        f"{args.neurons} targets x {args.indegree} plastic inputs "
        f"({args.neurons * args.indegree:,} synapses), inputs {args.rate} Hz, "
        f"{args.threads} thread(s), best of {args.repeats} x {args.t_sim:g} ms"
    )
    results = {}
    for model in ("static_synapse", "stdp_synapse", "sal_synapse"):
        # One fresh process per model: clean memory accounting, no cache carry-over.
        out = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--single", model],
            capture_output=True,
            text=True,
            check=True,
        )
        results[model] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results[model]
        print(
            f"  {model:15s} {r['seconds_per_sim_second']:7.3f} s per simulated s   "
            f"{r['size_of']:4.0f} B/synapse object  "
            f"{r['bytes_per_synapse_rss']:6.1f} B/synapse RSS  "
            f"targets fire {r['target_rate_hz']:.1f} Hz"
        )
    sal = results["sal_synapse"]["seconds_per_sim_second"]
    print(f"ratio sal/static = {sal / results['static_synapse']['seconds_per_sim_second']:.3f}")
    print(
        f"ratio sal/stdp   = {sal / results['stdp_synapse']['seconds_per_sim_second']:.3f}"
        "   (target <= 1.2)"
    )


if __name__ == "__main__":
    main()
