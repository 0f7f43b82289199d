"""Run under mpirun by tests/test_mpi.py: PyNN-on-NEST operations known to break under MPI.

Each rank writes what it saw to ``<out>/rank<r>.json``; the test compares ranks and runs.
Usage: ``mpirun -n R python tests/mpi_pitfalls.py OUT THREADS``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from salpynn.pynn import load_backend
from salpynn.rule import PairRule


def main(out: Path, threads: int) -> None:
    backend = load_backend("nest")
    backend.setup(timestep=0.1, seed=7, threads=threads)
    sim = backend.sim
    # Fewer neurons (2) than ranks (up to 3) in the plastic population.
    cells = sim.Population(2, backend.SamplingNeuron(bias=0.5, tau_refrac=5.0))
    sources = sim.Population(
        3, sim.SpikeSourceArray(spike_times=[[5.0, 30.0], [12.0], [40.0, 41.0, 70.0]])
    )
    cells.record("spikes")
    sources.record("spikes")
    rule = PairRule.sal(eta=0.05)
    recurrent = backend.projection(
        cells,
        cells,
        sim.AllToAllConnector(allow_self_connections=False),
        backend.SALSynapse.from_rule(rule, weight=0.3, delay=0.5),
        receptor_type="basal",
    )
    backend.projection(
        sources,
        cells,
        sim.AllToAllConnector(),
        backend.SignedStaticSynapse(weight=2.0, delay=1.0),
        receptor_type="basal",
    )
    sim.run(200.0)
    report = {
        "rank": sim.rank(),
        "ranks": sim.num_processes(),
        "weights": backend.weight_matrix(recurrent).tolist(),
        "cell_spikes": [s.tolist() for s in backend.spike_times(cells)],
        "source_spikes": [s.tolist() for s in backend.spike_times(sources)],
        "local_cells": int(np.sum(cells._mask_local)),
    }
    sim.end()
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank{report['rank']}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
