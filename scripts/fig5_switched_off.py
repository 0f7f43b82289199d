"""Per seed of a plasticity-noise sweep: SAL's final D_KL against the baseline's, and how many
synapses the amplitude clip switched off (``switched_off_synapses``), with the ratio of median
final D_KL for the seeds with and without such a synapse.

    .venv/bin/python scripts/fig5_switched_off.py results/sweeps/fig5-plasticity-20seeds \\
        [--threshold 0.05] [--out reference/fig5-plasticity-20seeds/switched-off.csv]

The sweep must hold the plasticity baseline (sigma 0) and a SAL run at one sigma with the same
seeds (``scripts/sweeps/fig5-plasticity-20seeds.json``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from salpynn.experiments.sampling_plots import SamplingRun, switched_off_synapses
from salpynn.results import atomic_write_csv


def _run(sweep: Path, condition: str) -> SamplingRun:
    found = sorted((sweep / "runs").glob(f"{condition}-*/summary.json"))
    if len(found) != 1:
        raise SystemExit(f"{sweep}: expected one finished run of {condition}, found {len(found)}")
    return SamplingRun(found[0].parent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--threshold", type=float, default=0.05)
    parser.add_argument("--out", type=Path, help="per-seed CSV")
    args = parser.parse_args()
    if not 0 <= args.threshold < 1:
        raise SystemExit(f"--threshold must be in [0, 1), got {args.threshold}")
    sal, base = _run(args.sweep, "plasticity-sal"), _run(args.sweep, "plasticity-baseline")
    seeds = sal.summary["seeds"]
    if seeds != base.summary["seeds"]:
        raise SystemExit("the SAL and baseline runs have different seeds")
    with np.load(sal.folder / "weights.npz") as weights:
        off = switched_off_synapses(
            weights["gain_causal"], weights["sal_amplitude"], args.threshold
        ).sum(axis=(1, 2))
    dkl_sal, dkl_base = sal.dkl_validation[:, -1], base.dkl_validation[:, -1]
    rows = [
        {"seed": s, "dkl_sal": a, "dkl_baseline": b, "ratio": a / b, "switched_off": int(k)}
        for s, a, b, k in zip(seeds, dkl_sal.tolist(), dkl_base.tolist(), off, strict=True)
    ]
    for row in rows:
        print(
            f"seed {row['seed']:3d}: D_KL SAL / baseline {row['ratio']:6.2f}, "
            f"{row['switched_off']} switched-off synapse(s)"
        )
    print(f"all {len(rows)} seeds: ratio of medians {np.median(dkl_sal) / np.median(dkl_base):.2f}")
    for label, chosen in (("without", off == 0), ("with", off > 0)):
        if chosen.any():
            ratio = np.median(dkl_sal[chosen]) / np.median(dkl_base[chosen])
            print(
                f"{chosen.sum()} seeds {label} a switched-off synapse: ratio of medians {ratio:.2f}"
            )
    if args.out:
        atomic_write_csv(args.out, rows)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
