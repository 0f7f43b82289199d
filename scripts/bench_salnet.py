#!/usr/bin/env python
"""Cost of SALNet's SAL phase (paper Figs. 8-9): seconds per phase, strong scaling 1 -> 2 ranks,
memory per synapse, real-time factor, and the share of training time the spiking phase takes.

Run from a plain shell (not under mpirun): it starts mpirun itself.

1. ``salpynn run salnet`` (NEST with MPI, ``.venv-mpi``, 1 thread per rank) for each layer
   configuration and number of copies, at 1 and 2 ranks: one SAL phase each (the paper's
   5 iterations x 200 tau_ref, offline update), from random Kaiming-uniform W and B.  Printed:
   build time, seconds per SAL phase, speed-up 2 ranks / 1 rank, bytes per synapse (resident
   memory growth during the build, rank 0) and the copies that would fit in this machine's
   memory at that cost.
2. ``salpynn run deepnet --set method=sal`` for a few epochs (NEST without MPI, ``.venv``):
   the share of the training time spent in the SAL phases.

    .venv/bin/python scripts/bench_salnet.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def run(ranks: int, python: Path, out: Path, *args: str) -> dict:
    cmd = [str(python), "-m", "salpynn", "run", *args, "--no-progress", "--out", str(out)]
    if ranks > 1:
        cmd = ["mpirun", "-n", str(ranks), "--oversubscribe", *cmd]
    subprocess.run(cmd, check=True, env=ENV, cwd=ROOT, capture_output=True, text=True)
    return json.loads((out / "summary.json").read_text())


def total_memory_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="only the small network, 1 copy (a smoke run)"
    )
    parser.add_argument("--deepnet-epochs", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="salpynn-bench-salnet-"))
    cases = [("64,384,192,10", 4), ("1600,384,192,10", 1)]
    if args.quick:
        cases = [("64,384,192,10", 1)]
    memory = total_memory_bytes()

    print("1. one SAL phase (5 x 200 tau_ref, 0.1 ms steps), NEST with MPI, 1 thread per rank")
    print(
        f"{'layers':>17} {'copies':>6} {'synapses':>10} {'ranks':>5} {'build s':>8} "
        f"{'phase s':>8} {'speed-up':>8} {'RTF':>7} {'B/syn':>6} {'copies fit':>10}"
    )
    for layers, copies in cases:
        phase_1 = None
        for ranks in (1, 2):
            s = run(
                ranks,
                ROOT / ".venv-mpi/bin/python",
                work / f"salnet-{layers.replace(',', '-')}-c{copies}-r{ranks}",
                "salnet",
                "--set",
                f"layers={layers}",
                "--set",
                f"copies={copies}",
                "--set",
                "epochs=1",
            )
            phase = s["wall_s"]
            phase_1 = phase if ranks == 1 else phase_1
            per_syn = s["bytes_per_synapse"] * ranks  # rank 0 holds about 1/ranks of them
            fit = int(0.8 * memory / (per_syn * s["synapses"] / copies)) if per_syn > 0 else 0
            print(
                f"{layers:>17} {copies:>6} {s['synapses']:>10,} {ranks:>5} {s['build_s']:>8.1f} "
                f"{phase:>8.1f} {phase_1 / phase:>8.2f} {s['real_time_factor']:>7.1f} "
                f"{per_syn:>6.0f} {fit:>10,}"
            )

    print(f"\n2. training with a SAL phase before every epoch ({args.deepnet_epochs} epochs)")
    for layers in ("64,384,192,10",) if not args.quick else ("64,64,10",):
        s = run(
            1,
            ROOT / ".venv/bin/python",
            work / f"deepnet-{layers.replace(',', '-')}",
            "deepnet",
            "--set",
            "method=sal",
            "--set",
            f"layers={layers}",
            "--set",
            f"epochs={args.deepnet_epochs}",
        )
        print(
            f"{layers}: {s['wall_s'] / args.deepnet_epochs:.1f} s per epoch, of which the SAL "
            f"phase {s['sal_phase_s'] / args.deepnet_epochs:.1f} s (share {s['sal_share']:.3f}; "
            f"{s['config']['sal_copies']} copies)"
        )
    print(f"\nrun folders: {work}")


if __name__ == "__main__":
    main()
