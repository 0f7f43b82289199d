"""``salpynn plot``: the paper's figures from finished runs and sweeps.

- Two-neuron runs (``salpynn run two-neuron``): Fig. 2d, the weight trajectories against time,
  and Fig. 2e, the SAL drift field over ``(w_12, w_21)`` with the trajectories on top.  The
  field is measured, not assumed: a grid of frozen two-neuron systems (static weights) is
  simulated in one kernel and each system's expected SAL drift is read off its spikes
  (:func:`salpynn.analysis.correlations.predicted_drift`: the pair lags folded with the window).
- Sampling runs (``salpynn run sampling`` or a sweep of them): Figs. 4 (synaptic noise) and 5
  (plasticity noise): D_KL and Var(W_ij - W_ji) against iterations per condition (median and
  IQR over seeds), and their final values against the noise level.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["DriftField", "drift_field", "main", "plot_two_neuron_figures"]


@dataclasses.dataclass(frozen=True)
class DriftField:
    """Expected SAL drift (weight units per second, for ``eta``) on a grid of weights."""

    w_12: NDArray[np.float64]  # (grid,) values of the connection 2 -> 1
    w_21: NDArray[np.float64]  # (grid,) values of the connection 1 -> 2
    drift_12: NDArray[np.float64]  # (grid, grid): [i, j] at (w_12[j], w_21[i])
    drift_21: NDArray[np.float64]


def drift_field(
    config: Any,
    w_12: NDArray[np.float64],
    w_21: NDArray[np.float64],
    duration: float = 100_000.0,
    seed: int = 1,
) -> DriftField:
    """SAL drift of the two-neuron system ``config`` (a ``TwoNeuronConfig``) at every grid
    point, from ``duration`` ms of spikes of frozen copies, all simulated in one kernel."""
    from networks.sampling import SamplingNetwork, SamplingNetworkParameters
    from salpynn.analysis.correlations import predicted_drift
    from salpynn.pynn import load_backend
    from salpynn.rule import PairRule

    grid_12, grid_21 = np.meshgrid(w_12, w_21)
    pairs = grid_12.size
    w = np.zeros((2 * pairs, 2 * pairs))
    for p, (a, b) in enumerate(zip(grid_12.ravel(), grid_21.ravel(), strict=True)):
        w[2 * p, 2 * p + 1] = a  # W[0, 1] = w_12: neuron 2 -> neuron 1
        w[2 * p + 1, 2 * p] = b
    mask = np.kron(np.eye(pairs, dtype=bool), ~np.eye(2, dtype=bool))
    backend = load_backend(config.backend)
    backend.setup(timestep=config.resolution, seed=seed)
    network = SamplingNetwork(
        backend,
        SamplingNetworkParameters(
            w,
            np.tile([config.b_1, config.b_2], pairs),
            tau_ref=config.tau_ref,
            escape=config.escape,
            delay=config.delay,
            mask=mask,
        ),
    ).build()
    network.run(duration)
    spikes = network.spike_times()
    backend.sim.end()
    rule = PairRule.sal(
        tau=config.tau_ref, eta=config.eta, window=config.window, pairing=config.pairing
    )
    drift = np.zeros((2, pairs))
    for p in range(pairs):
        first, second = spikes[2 * p], spikes[2 * p + 1]
        span = {"delay": config.delay, "t_start": 0.0, "t_stop": duration}
        drift[0, p] = predicted_drift(second, first, rule, **span)  # 2 -> 1
        drift[1, p] = predicted_drift(first, second, rule, **span)  # 1 -> 2
    shape = grid_12.shape
    return DriftField(
        np.asarray(w_12), np.asarray(w_21), drift[0].reshape(shape), drift[1].reshape(shape)
    )


def _two_neuron_runs(folders: list[Path]) -> list[tuple[dict[str, Any], NDArray[np.float64]]]:
    from salpynn.experiments.sampling_plots import run_folders

    return [
        (summary, np.atleast_2d(np.loadtxt(folder / "trajectory.csv", delimiter=",", skiprows=1)))
        for folder, summary in run_folders(folders, "two-neuron")
    ]


def plot_two_neuron_figures(
    runs: list[tuple[dict[str, Any], NDArray[np.float64]]],
    out: Path,
    grid: int = 9,
    duration: float = 100_000.0,
) -> list[Path]:
    """Fig. 2d (trajectories) and Fig. 2e (drift field) for two-neuron runs that share their
    neuron parameters (the first run's are used for the field)."""
    from salpynn.experiments.sampling_plots import _pyplot, _save
    from salpynn.experiments.two_neuron import TwoNeuronConfig

    plt = _pyplot()
    config = TwoNeuronConfig(**runs[0][0]["config"])
    fig, ax = plt.subplots(figsize=(6, 3.6), constrained_layout=True)
    for summary, table in runs:
        label = summary["config"]["plastic"]
        (line,) = ax.plot(table[:, 0] / 1000, table[:, 1], label=f"$w_{{12}}$ ({label} plastic)")
        ax.plot(
            table[:, 0] / 1000,
            table[:, 2],
            color=line.get_color(),
            ls="--",
            label=f"$w_{{21}}$ ({label} plastic)",
        )
    ax.set_xlabel("model time (s)")
    ax.set_ylabel("weight")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("Fig. 2d: two neurons under SAL", fontsize=10)
    paths = [_save(fig, out / "fig2d-trajectories.png")]

    values = np.concatenate([t[:, 1:].ravel() for _, t in runs])
    low, high = values.min() - 0.3, values.max() + 0.3
    axis = np.linspace(low, high, grid)
    field = drift_field(config, axis, axis, duration=duration, seed=config.seed)
    fig, ax = plt.subplots(figsize=(4.8, 4.4), constrained_layout=True)
    speed = np.hypot(field.drift_12, field.drift_21)
    ax.streamplot(
        axis, axis, field.drift_12, field.drift_21, color=speed, cmap="viridis", density=0.8
    )
    for summary, table in runs:
        ax.plot(table[:, 1], table[:, 2], lw=1.5, label=summary["config"]["plastic"] + " plastic")
        ax.plot(table[0, 1], table[0, 2], "ko", ms=4)
    ax.plot([low, high], [low, high], color="0.5", lw=0.8)
    ax.set_xlabel("$w_{12}$ (2 $\\to$ 1)")
    ax.set_ylabel("$w_{21}$ (1 $\\to$ 2)")
    ax.set_title("Fig. 2e: SAL drift field (measured)", fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    paths.append(_save(fig, out / "fig2e-drift-field.png"))
    np.savez(out / "fig2e-drift-field.npz", **dataclasses.asdict(field))
    return paths


def plot_sampling_figures(folders: list[Path], out: Path) -> list[Path]:
    """Figs. 4 (synaptic noise) and 5 (plasticity noise) from sampling runs."""
    from salpynn.experiments.sampling_plots import load_runs, plot_conditions, plot_noise_levels

    runs = load_runs(folders)
    paths = []
    for figure, noise in (("fig4", "synaptic"), ("fig5", "plasticity")):
        noisy = [r for r in runs if r.noise == noise]
        if not noisy:
            continue
        sigmas = sorted({r.sigma for r in noisy})
        sigma = 0.8 if any(np.isclose(s, 0.8) for s in sigmas) else sigmas[-1]
        paths.append(plot_conditions(out / f"{figure}-{noise}-curves.png", runs, noise, sigma))
        if len(sigmas) > 1:
            paths.append(plot_noise_levels(out / f"{figure}-{noise}-levels.png", runs, noise))
    return paths


def main(argv: list[str] | None = None) -> int:
    """``salpynn plot FOLDER... [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="salpynn plot", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="run folders or sweep folders")
    parser.add_argument("--out", type=Path, help="figure folder (default: the first folder)")
    parser.add_argument("--grid", type=int, default=9, help="drift-field grid points per axis")
    parser.add_argument(
        "--field-duration", type=float, default=100_000.0, help="drift-field model time (ms)"
    )
    args = parser.parse_args(argv)
    missing = [str(f) for f in args.folders if not f.is_dir()]
    if missing:
        print(f"salpynn plot: error: not a folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    if not 2 <= args.grid <= 50:
        print(f"salpynn plot: error: --grid must be in [2, 50], got {args.grid}", file=sys.stderr)
        return 2
    out = args.out or args.folders[0]
    out.mkdir(parents=True, exist_ok=True)
    paths = plot_sampling_figures(args.folders, out)
    two_neuron = _two_neuron_runs(args.folders)
    if two_neuron:
        paths += plot_two_neuron_figures(two_neuron, out, args.grid, args.field_duration)
    if not paths:
        print("salpynn plot: error: no finished sampling or two-neuron runs found", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    return 0
