"""Fig. 2c: spike-timing-difference distributions of two coupled sampling neurons.

Asymmetric weights ``(w_12, w_21) = (0.4, 0.8)`` and ``(-0.4, -0.8)``, each against the
symmetric system with the same mean weight (0.6 or -0.6); ``b_1 = b_2 = -0.5``,
``tau_ref = tau_syn = 50`` steps of 0.1 ms (5 ms), rectangular PSPs, logistic escape, 0.1 ms
delay.  Each panel shows the exact STDD of :mod:`salpynn.theory` (lines) and histograms of the
same systems simulated in NEST through salpynn's PyNN layer (frozen weights, independent
replicas in one kernel).

The STDD is the distribution of the nearest-spike pairs that SAL forms on the synapse 1 -> 2
(lags ``t_2 - t_1``, ``dendritic_delay = 0``), normalised over all pairs, as a density per ms.
With ``w_21 > w_12`` the "1 then 2" side (positive lags) is raised at short lags, and SAL's
window (depressing at positive lags) turns that into a drift that lowers ``w_21``.

Writes ``fig2c-stdd.png`` and ``fig2c-stdd.npz`` into ``--out`` (default ``reference/fig2c``).
Run: ``nice -n 10 .venv/bin/python scripts/fig2c_stdd.py``.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from salpynn.rule import PairRule
from salpynn.theory import TwoNeuronChain, TwoNeuronModel

RESOLUTION = 0.1  # ms
TAU_REF = 50  # steps
BIAS = -0.5
PANELS = {  # (asymmetric, symmetric mean-weight) weights (w_12, w_21)
    "excitatory": ((0.4, 0.8), (0.6, 0.6)),
    "inhibitory": ((-0.4, -0.8), (-0.6, -0.6)),
}


def model(w_12: float, w_21: float) -> TwoNeuronModel:
    return TwoNeuronModel(
        w_12=w_12, w_21=w_21, b_1=BIAS, b_2=BIAS, tau_ref=TAU_REF, resolution=RESOLUTION
    )


def simulate(
    systems: list[tuple[float, float]], replicas: int, duration: float, seed: int, chunks: int
) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Spike trains ``[system][replica] = (spikes_1, spikes_2)`` (ms) of frozen copies of every
    system, all in one NEST kernel (salpynn's ``SamplingNetwork``, static signed weights)."""
    from salpynn.networks.sampling import SamplingNetwork, SamplingNetworkParameters
    from tqdm import tqdm

    from salpynn.pynn import load_backend

    pairs = len(systems) * replicas
    w = np.zeros((2 * pairs, 2 * pairs))
    for p in range(pairs):
        w_12, w_21 = systems[p // replicas]
        w[2 * p, 2 * p + 1] = w_12  # W[0, 1]: neuron 2 -> neuron 1
        w[2 * p + 1, 2 * p] = w_21
    mask = np.kron(np.eye(pairs, dtype=bool), ~np.eye(2, dtype=bool))
    backend = load_backend("nest")
    backend.setup(timestep=RESOLUTION, seed=seed)
    network = SamplingNetwork(
        backend,
        SamplingNetworkParameters(
            w,
            np.full(2 * pairs, BIAS),
            tau_ref=TAU_REF * RESOLUTION,
            escape="logistic",
            delay=RESOLUTION,
            mask=mask,
        ),
    ).build()
    steps = round(duration / RESOLUTION)
    bounds = np.linspace(0, steps, chunks + 1).round().astype(int)
    for start, stop in tqdm(itertools.pairwise(bounds), total=chunks, desc="NEST"):
        network.run((stop - start) * RESOLUTION)
    spikes = network.spike_times()
    backend.sim.end()
    return [
        [(spikes[2 * p], spikes[2 * p + 1]) for p in range(s * replicas, (s + 1) * replicas)]
        for s in range(len(systems))
    ]


def simulated_density(
    trains: list[tuple[np.ndarray, np.ndarray]], edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-pair lags ``t_2 - t_1`` of all replicas as a density per ms (normalised over
    all pairs, also those outside ``edges``) and its binomial standard error."""
    from salpynn.analysis import spike_time_differences

    lags = np.concatenate(
        [spike_time_differences(a, b, pairing="nearest").magnitude for a, b in trains]
    )
    counts, _ = np.histogram(lags, bins=edges)
    width = np.diff(edges)
    fraction = counts / lags.size
    return fraction / width, np.sqrt(fraction * (1 - fraction) / lags.size) / width


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("reference/fig2c"), help="output folder")
    parser.add_argument("--duration", type=float, default=200_000.0, help="ms per replica")
    parser.add_argument("--replicas", type=int, default=10, help="copies of each system")
    parser.add_argument("--bin", type=int, default=5, help="histogram bin in steps")
    parser.add_argument("--max-lag", type=float, default=4.0, help="plotted lags in tau_ref")
    parser.add_argument("--seed", type=int, default=12345, help="NEST seed")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    systems = [w for pair in PANELS.values() for w in pair]
    reach = round(args.max_lag * TAU_REF)  # steps
    rule = PairRule.sal(tau=TAU_REF * RESOLUTION, eta=1.0, dendritic_delay=0.0)

    oracle = {}
    for w in systems:
        chain = TwoNeuronChain(model(*w))
        stdd = chain.stdd(pre=1, pairing="nearest", max_lag=reach)
        density = stdd.probabilities / RESOLUTION  # per ms
        oracle[w] = (stdd.lags, density, chain.drift(rule), chain.rates())
    theory_time = time.perf_counter() - start

    trains = simulate(systems, args.replicas, args.duration, args.seed, chunks=20)
    half = (reach // args.bin) * args.bin
    # Lags are whole steps; the edges lie half a step past multiples of the bin, so that the
    # STDD's jumps (between lags 0 and 1 step, and at tau_ref) fall on edges.
    edges = (np.arange(-half, half + 1, args.bin) + 0.5) * RESOLUTION
    measured = {w: simulated_density(t, edges) for w, t in zip(systems, trains, strict=True)}

    from salpynn.analysis.plots import pyplot, save_png

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True, constrained_layout=True)
    centres = 0.5 * (edges[:-1] + edges[1:])
    for ax, (title, pair) in zip(axes, PANELS.items(), strict=True):
        for w, color in zip(pair, ("tab:red", "0.35"), strict=True):
            lags, density, drift, rates = oracle[w]
            dens, err = measured[w]
            label = f"$(w_{{12}}, w_{{21}}) = ({w[0]:+.1f}, {w[1]:+.1f})$"
            # The exact STDD averaged over the histogram's bins, so both show the same thing.
            binned, _ = np.histogram(lags, bins=edges, weights=density * RESOLUTION)
            ax.stairs(
                binned / np.diff(edges),
                edges,
                color=color,
                lw=1.3,
                label=f"{label}: exact, SAL $\\dot w_{{21}}$ = {round(drift[1], 2) + 0.0:+.2f}/s",
            )
            ax.errorbar(
                centres, dens, err, fmt="o", ms=2.2, color=color, elinewidth=0.7, label="NEST"
            )
        ax.axvline(0.0, ymax=0.7, color="k", lw=0.5)  # below the legend
        ax.set_xlim(-half * RESOLUTION, half * RESOLUTION)
        ax.set_xlabel(r"$\Delta t = t_2 - t_1$ (ms; $\tau_\mathrm{ref}$ = 5 ms)")
        ax.set_title(f"{title} weights", fontsize=10)
        ax.legend(fontsize=7, loc="upper left", frameon=False)
    axes[0].set_ylabel("nearest-pair STDD (1/ms)")
    top = max(float(measured[w][0].max()) for w in systems)
    axes[0].set_ylim(0.0, 1.45 * top)  # room for the legends above the data
    fig.suptitle(
        "Fig. 2c: STDD, $b = -0.5$, $\\tau_\\mathrm{ref} = 50$ steps, rectangular PSP "
        f"(lines: exact chain; dots: NEST, {args.replicas} x {args.duration / 1000:g} s, "
        "+-1 s.e.)",
        fontsize=9,
    )
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    png = save_png(fig, out / "fig2c-stdd.png")

    from salpynn.results import atomic_write_npz

    arrays = {}
    for i, w in enumerate(systems):
        lags, density, drift, rates = oracle[w]
        arrays[f"system{i}_weights"] = np.array(w)
        arrays[f"system{i}_oracle_lags_ms"] = lags
        arrays[f"system{i}_oracle_density"] = density
        arrays[f"system{i}_oracle_drift_12_21"] = np.array(drift)
        arrays[f"system{i}_oracle_rates_hz"] = np.array(rates)
        arrays[f"system{i}_nest_density"] = measured[w][0]
        arrays[f"system{i}_nest_error"] = measured[w][1]
    atomic_write_npz(out / "fig2c-stdd.npz", bin_edges_ms=edges, **arrays)
    total = time.perf_counter() - start
    print(f"wrote {png} ({total:.1f} s in all, {theory_time:.2f} s for the exact STDDs)")
    for w in systems:
        lags, density, drift, rates = oracle[w]
        print(
            f"  w = {w}: rates {rates[0]:.1f} / {rates[1]:.1f} Hz, exact SAL drift "
            f"(w_12, w_21) = ({round(drift[0], 3) + 0.0:+.3f}, {round(drift[1], 3) + 0.0:+.3f}) "
            "per s and unit eta"
        )


if __name__ == "__main__":
    main()
