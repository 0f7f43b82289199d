"""Figures of two-neuron runs (``salpynn plot``): Fig. 2d, the weight trajectories against
time, and Fig. 2e, the SAL drift field over ``(w_12, w_21)`` with the trajectories on top.

The field is measured, not assumed: a grid of frozen two-neuron systems (static weights) is
simulated in one kernel and each system's expected SAL drift is read off its spikes
(:func:`salpynn.analysis.correlations.predicted_drift`: the pair lags folded with the window).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["DriftField", "drift_field", "plot_two_neuron_figures"]


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
    from salpynn.analysis.correlations import predicted_drift
    from salpynn.networks.sampling import SamplingNetwork, SamplingNetworkParameters
    from salpynn.pynn import load_backend

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
            convention=config.convention,
        ),
    ).build()
    network.run(duration)
    spikes = network.spike_times()
    backend.sim.end()
    rule = config.sal_rule()
    drift = np.zeros((2, pairs))
    # The lags the synapses see: t_post + (their dendritic delay) - t_pre.
    span = {"delay": rule.lag_delay(config.delay), "t_start": 0.0, "t_stop": duration}
    for p in range(pairs):
        first, second = spikes[2 * p], spikes[2 * p + 1]
        drift[0, p] = predicted_drift(second, first, rule, **span)  # 2 -> 1
        drift[1, p] = predicted_drift(first, second, rule, **span)  # 1 -> 2
    shape = grid_12.shape
    return DriftField(
        np.asarray(w_12), np.asarray(w_21), drift[0].reshape(shape), drift[1].reshape(shape)
    )


def theory_model(config: Any, w_12: float = 0.0, w_21: float = 0.0) -> Any:
    """The exact two-neuron model (:class:`salpynn.theory.TwoNeuronModel`) of ``config``'s
    neurons as NEST runs them: dead time, PSP and bias offset of its ``convention``."""
    from salpynn.networks.sampling import cell_timing
    from salpynn.theory import TwoNeuronModel

    tau_refrac, tau_syn, offset = cell_timing(config.tau_ref, config.resolution, config.convention)
    return TwoNeuronModel.from_ms(
        tau_refrac,
        tau_syn=tau_syn,
        delay=config.delay,
        resolution=config.resolution,
        b_1=config.b_1 + offset,
        b_2=config.b_2 + offset,
        escape=config.escape,
        w_12=w_12,
        w_21=w_21,
    )


def oracle_nullcline(config: Any, w_21: NDArray[np.float64]) -> NDArray[np.float64]:
    """For each ``w_21``, the ``w_12`` at which SAL's drift of ``w_12 - w_21`` vanishes, from
    the exact Markov-chain theory (:mod:`salpynn.theory`) of ``config``'s two neurons."""
    from salpynn.theory import nullcline

    model = theory_model(config)
    span = (float(w_21.min()) - 2.0, float(w_21.max()) + 2.0)
    return nullcline(w_21, config.sal_rule(), model=model, bracket=span, quantity="w_12")


def plot_two_neuron_figures(
    folders: list[tuple[Path, dict[str, Any]]],
    config: Any,
    out: Path,
    grid: int = 9,
    field_duration: float = 100_000.0,
) -> list[Path]:
    """Fig. 2d (trajectories) and Fig. 2e (drift field) for finished two-neuron runs (pairs
    of folder and summary) that share their neuron parameters; the field is measured for
    ``config`` (a ``TwoNeuronConfig``, usually the first run's)."""
    from salpynn.analysis.plots import pyplot, save_png
    from salpynn.results import atomic_write_npz

    runs = [
        (summary, np.atleast_2d(np.loadtxt(folder / "trajectory.csv", delimiter=",", skiprows=1)))
        for folder, summary in folders
    ]
    plt = pyplot()
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
    paths = [save_png(fig, out / "fig2d-trajectories.png")]

    values = np.concatenate([t[:, 1:].ravel() for _, t in runs])
    low, high = values.min() - 0.3, values.max() + 0.3
    axis = np.linspace(low, high, grid)
    field = drift_field(config, axis, axis, duration=field_duration, seed=config.seed)
    fig, ax = plt.subplots(figsize=(4.8, 4.4), constrained_layout=True)
    speed = np.hypot(field.drift_12, field.drift_21)
    ax.streamplot(
        axis, axis, field.drift_12, field.drift_21, color=speed, cmap="viridis", density=0.8
    )
    for summary, table in runs:
        ax.plot(table[:, 1], table[:, 2], lw=1.5, label=summary["config"]["plastic"] + " plastic")
        ax.plot(table[0, 1], table[0, 2], "ko", ms=4)
    ax.plot([low, high], [low, high], color="0.5", lw=0.8)
    fine = np.linspace(low, high, 2 * grid)
    ax.plot(oracle_nullcline(config, fine), fine, "r--", lw=1.2, label="fixed points (exact)")
    ax.set_xlabel("$w_{12}$ (2 $\\to$ 1)")
    ax.set_ylabel("$w_{21}$ (1 $\\to$ 2)")
    ax.set_title("Fig. 2e: SAL drift field (measured)", fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    paths.append(save_png(fig, out / "fig2e-drift-field.png"))
    atomic_write_npz(out / "fig2e-drift-field.npz", **dataclasses.asdict(field))
    return paths
