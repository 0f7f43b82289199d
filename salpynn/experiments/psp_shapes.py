"""PSP shapes: where SAL's attractor lies for rectangular and alpha PSPs (paper Fig. 11).

Two sampling neurons with biases ``(b_1, b_2)``; ``w_21`` (the connection ``1 -> 2``) is
frozen at each value of a grid and ``w_12`` (``2 -> 1``) learns under SAL.  Where ``w_12``
settles is the SAL nullcline ``w_12*(w_21)``; on the diagonal SAL has aligned the weights.  The
paper's metric is the **average relative deviation of the attractor from the diagonal**,

    D = 1 / (w_21[-1] - w_21[0]) * integral |w_21 - w_12*| / |w_21 + w_12*| d w_21,

the normalised area between nullcline and diagonal (trapezoid rule over the ``w_21`` grid,
points without a fixed point left out).  It is computed for every bias pair, for rectangular
PSPs (``tau_syn = tau_ref``) and alpha PSPs of ``tau_syn = tau_ref / 3`` and ``tau_ref / 2``,
twice:

- **oracle**: :func:`salpynn.theory.attractor` (the stable root of ``w_12``'s drift reached
  from the diagonal) on the exact two-neuron chain.  For alpha PSPs the chain keeps only the
  latest partner spike's PSP (cut at ``oracle_t_max`` steps), as the authors' STDD calculator
  does; the neurons sum every PSP's tail, so the oracle is an approximation there.
- **simulation**: every (shape, bias pair, ``w_21``) is an independent pair of NEST (or
  Brian2) ``sampling_neuron`` s in one kernel (:class:`~salpynn.networks.sampling.SamplingBatch`
  with ``n = 2``; the frozen synapse has its amplitudes set to 0), ``w_12`` starts on the
  diagonal and its mean over the second half of the run is the simulated ``w_12*``.

Defaults: the authors' notebook (``scripts/psp_shapes.ipynb``): ``tau_ref`` = 10 steps,
``w_21`` in ``linspace(-1.5, 1.5, 10)``, biases ``-1 ... 1`` in steps of 0.25, exponential
window +-1 with ``tau = tau_ref``.  ``convention = "reversible"`` and ``rule.pairing = "all"``
because that is where the notebook's premise holds: rectangular PSPs put the attractor exactly
on the diagonal for any biases (:mod:`salpynn.theory`); with ``nearest`` pairing or the other
conventions the rectangular panel is off the diagonal too (options, for comparison).  The alpha
kernel's area is the neuron's ``tau_refrac`` (``tau_ref`` + 1 step in this convention), in the
oracle and the simulation alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from salpynn.config import ConfigError, check_choices, check_range, check_timing, param
from salpynn.experiments import Experiment, convention_param, report_steps
from salpynn.results import atomic_write_json, atomic_write_npz, run_record
from salpynn.rule import PairRule, RuleConfig

__all__ = [
    "EXPERIMENT",
    "PSPShapesConfig",
    "deviation",
    "oracle_nullclines",
    "run",
    "simulate_nullclines",
]

_AUTHORS_BIASES = [-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0]
_AUTHORS_W_21 = [round(float(w), 12) for w in np.linspace(-1.5, 1.5, 10)]


@dataclass(frozen=True)
class PSPShapesConfig:
    """The bias grid, the PSP shapes and how to find each shape's SAL nullcline."""

    biases: list = param(
        default_factory=lambda: list(_AUTHORS_BIASES), unit="", help="values of b_1 and b_2"
    )
    w_21: list = param(
        default_factory=lambda: list(_AUTHORS_W_21), unit="", help="frozen w_21 values (1 -> 2)"
    )
    alpha_fractions: list = param(
        default_factory=lambda: [1.0 / 3.0, 0.5],
        unit="",
        help="alpha PSP time constants as fractions of tau_ref (rect is always included)",
    )
    tau_ref: float = param(1.0, "ms", "refractory time (the authors' 10 steps)")
    escape: Literal["exp", "logistic"] = param("logistic", "", "escape noise of the neurons")
    convention: Literal["authors", "reversible", "marginals"] = convention_param("reversible")
    rule: RuleConfig = param(default_factory=lambda: RuleConfig(eta=0.002, pairing="all"))
    oracle: bool = param(True, "", "compute the oracle's nullclines")
    oracle_t_max: int = param(40, "", "age cap of the oracle's alpha PSPs (steps)")
    simulation: bool = param(True, "", "simulate the pairs")
    duration: float = param(100_000.0, "ms", "model time of the simulation")
    n_reports: int = param(50, "", "weight read-outs; the second half is averaged")
    copies: int = param(4, "", "independent copies of every simulated pair (error bars)")
    delay: float = param(0.1, "ms", "synaptic delay (one time step)")
    backend: Literal["nest", "brian2"] = param("nest", "", "PyNN simulator")
    resolution: float = param(0.1, "ms", "time step")
    threads: int = param(1, "", "NEST threads")
    seed: int = param(11, "", "simulator seed")

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid parameter."""
        for name, low, high in (("biases", -10.0, 10.0), ("w_21", -10.0, 10.0)):
            values = getattr(self, name)
            if not isinstance(values, list | tuple) or len(values) < 1:
                raise ConfigError(f"{name} must be a non-empty list of numbers, got {values!r}")
            for v in values:
                check_range(name, v, low, high)
        if len(self.w_21) < 2:
            raise ConfigError(f"w_21 needs at least 2 values for the area, got {self.w_21!r}")
        if np.any(np.diff(np.asarray(self.w_21, dtype=float)) <= 0):
            raise ConfigError(f"w_21 must be increasing, got {self.w_21!r}")
        if not isinstance(self.alpha_fractions, list | tuple):
            raise ConfigError(f"alpha_fractions must be a list, got {self.alpha_fractions!r}")
        for f in self.alpha_fractions:
            check_range("alpha_fractions", f, 0.05, 2.0)
        check_timing(self.resolution, self.tau_ref, self.delay)
        check_range("oracle_t_max", self.oracle_t_max, round(self.tau_ref / self.resolution), 1000)
        check_range("rule.eta", self.rule.eta, 0.0, 1.0, low_open=True)
        check_range("duration", self.duration, 10 * self.resolution, 1e9)
        check_range("n_reports", self.n_reports, 2, 100_000)
        check_range("copies", self.copies, 1, 1000)
        check_range("threads", self.threads, 1, 256)
        check_range("seed", self.seed, 1, 2**31 - 1)
        check_choices(self)
        if not (self.oracle or self.simulation):
            raise ConfigError("at least one of oracle and simulation must be true")

    def sal_rule(self) -> PairRule:
        return self.rule.resolve(self.tau_ref, self.delay, self.resolution, self.backend)

    def shapes(self) -> list[tuple[str, str, float | None]]:
        """``(name, psp, alpha time constant in ms)`` of every panel."""
        out: list[tuple[str, str, float | None]] = [("rect", "rect", None)]
        for f in self.alpha_fractions:
            out.append((f"alpha-{f:.3g}", "alpha", float(f) * self.tau_ref))
        return out

    def bias_pairs(self) -> np.ndarray:
        """``(b_1, b_2)`` of every grid point, ``b_1`` slowest; shape ``(B * B, 2)``."""
        b = np.asarray(self.biases, dtype=float)
        return np.stack(np.meshgrid(b, b, indexing="ij"), axis=-1).reshape(-1, 2)


def deviation(w_21: np.ndarray, w_12: np.ndarray) -> float:
    """The paper's average relative deviation of the attractor from the diagonal (see the
    module docstring); NaN points are left out, NaN if fewer than two remain.

    Examples
    --------
    >>> deviation(np.array([-1.0, 1.0]), np.array([-1.0, 1.0]))
    0.0
    >>> round(deviation(np.array([1.0, 2.0]), np.array([1.1, 2.2])), 6)
    0.047619
    """
    w_21, w_12 = np.asarray(w_21, dtype=float), np.asarray(w_12, dtype=float)
    keep = np.isfinite(w_12)
    if keep.sum() < 2:
        return float("nan")
    x, y = w_21[keep], w_12[keep]
    d = np.abs(x - y) / np.abs(x + y)
    return float(np.trapezoid(d, x=x) / abs(x[-1] - x[0]))


def _oracle_model(config: PSPShapesConfig, psp: str, alpha_tau: float | None) -> Any:
    from salpynn.networks.sampling import cell_timing
    from salpynn.theory import TwoNeuronModel

    tau_refrac, tau_syn, offset = cell_timing(config.tau_ref, config.resolution, config.convention)
    shape: dict[str, Any] = {"tau_syn": tau_syn}
    if psp == "alpha":
        shape = {"tau_syn": alpha_tau, "psp": "alpha", "t_max": config.oracle_t_max}
    model = TwoNeuronModel.from_ms(
        tau_refrac,
        delay=config.delay,
        resolution=config.resolution,
        escape=config.escape,
        **shape,
    )
    return model, offset


def oracle_nullclines(config: PSPShapesConfig, progress: bool = True) -> np.ndarray:
    """Oracle ``w_12*``, shape ``(shapes, bias pairs, len(w_21))`` (NaN: no fixed point within
    4 of the diagonal)."""
    from tqdm import tqdm

    from salpynn.theory import attractor

    rule = config.sal_rule()
    pairs = config.bias_pairs()
    w_21 = np.asarray(config.w_21, dtype=float)
    out = np.full((len(config.shapes()), len(pairs), w_21.size), np.nan)
    bar = tqdm(
        total=out.shape[0] * out.shape[1], desc="oracle", unit="bias pair", disable=not progress
    )
    with bar:
        for s, (_, psp, alpha_tau) in enumerate(config.shapes()):
            model, offset = _oracle_model(config, psp, alpha_tau)
            for k, (b_1, b_2) in enumerate(pairs):
                out[s, k] = attractor(
                    w_21, rule, model.with_(b_1=b_1 + offset, b_2=b_2 + offset), xtol=1e-4
                )
                bar.update()
    return out


def simulate_nullclines(
    config: PSPShapesConfig, progress: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Simulated ``w_12*`` (each copy's mean over the second half, averaged over the
    ``copies``), its standard error over the independent copies, the copies' trajectories
    ``(reports + 1, shapes, pairs, w_21, copies)`` and the wall time."""
    from tqdm import tqdm

    from salpynn.networks.sampling import SamplingBatch
    from salpynn.pynn import load_backend

    backend = load_backend(config.backend)
    backend.setup(timestep=config.resolution, seed=config.seed, threads=config.threads)
    rule = config.sal_rule()
    pairs = config.bias_pairs()
    w_21 = np.asarray(config.w_21, dtype=float)
    grid = (len(pairs), w_21.size, config.copies)
    replicas = int(np.prod(grid))
    # Replica r = ((bias pair, w_21 index, copy) in C order); W[r, 0, 1] = w_12.
    w = np.zeros((replicas, 2, 2))
    w[:, 1, 0] = np.broadcast_to(w_21[None, :, None], grid).ravel()
    w[:, 0, 1] = w[:, 1, 0]  # start on the diagonal
    b = np.broadcast_to(pairs[:, None, None, :], (*grid, 2)).reshape(replicas, 2)
    amplitudes = np.zeros((replicas, 2, 2))
    amplitudes[:, 0, 1] = 1.0  # only w_12 learns
    batches = [
        SamplingBatch(
            backend,
            w,
            b,
            tau_ref=config.tau_ref,
            escape=config.escape,
            delay=config.delay,
            rule=rule,
            resolution=config.resolution,
            amplitudes=amplitudes,
            convention=config.convention,
            psp=psp,
            alpha_tau=alpha_tau,
        )
        for _, psp, alpha_tau in config.shapes()
    ]
    bounds = report_steps(config.duration, config.resolution, config.n_reports)
    trajectory = np.zeros((config.n_reports + 1, len(batches), *grid))
    trajectory[0] = w[:, 0, 1].reshape(grid)
    start = time.perf_counter()
    bar = tqdm(total=config.n_reports, desc="simulation", unit="chunk", disable=not progress)
    with bar:
        for i in range(config.n_reports):
            backend.sim.run((bounds[i + 1] - bounds[i]) * config.resolution)
            for s, batch in enumerate(batches):
                trajectory[i + 1, s] = batch.weights()[:, 0, 1].reshape(grid)
            bar.update()
    wall = time.perf_counter() - start
    backend.sim.end()
    per_copy = trajectory[1 + config.n_reports // 2 :].mean(axis=0)
    mean = per_copy.mean(axis=-1)
    if config.copies > 1:
        sem = per_copy.std(axis=-1, ddof=1) / np.sqrt(config.copies)
    else:
        sem = np.full(mean.shape, np.nan)
    return mean, sem, trajectory, wall


def _deviations(config: PSPShapesConfig, w_12: np.ndarray) -> np.ndarray:
    """Deviation per shape and bias pair, shape ``(shapes, B, B)`` (``[s, i, j]`` at
    ``b_1 = biases[i], b_2 = biases[j]``)."""
    w_21 = np.asarray(config.w_21, dtype=float)
    n = len(config.biases)
    return np.array([[deviation(w_21, row) for row in shape] for shape in w_12]).reshape(
        len(w_12), n, n
    )


def run(config: PSPShapesConfig, out: Path, progress: bool = True) -> dict[str, Any] | None:
    """Compute the oracle and/or simulate, write ``nullclines.npz``, ``summary.json`` and
    ``fig11-psp-shapes.png`` into ``out``; returns the summary."""
    config.validate()
    out.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {
        "biases": np.asarray(config.biases, dtype=float),
        "w_21": np.asarray(config.w_21, dtype=float),
    }
    summary: dict[str, Any] = {
        "experiment": "psp-shapes",
        "shapes": [s[0] for s in config.shapes()],
    }
    start = time.perf_counter()
    if config.oracle:
        arrays["oracle_w_12"] = oracle_nullclines(config, progress)
        arrays["oracle_deviation"] = _deviations(config, arrays["oracle_w_12"])
        summary["oracle_seconds"] = round(time.perf_counter() - start, 2)
    if config.simulation:
        mean, sem, trajectory, wall = simulate_nullclines(config, progress)
        arrays.update(
            sim_w_12=mean,
            sim_w_12_sem=sem,
            sim_trajectory=trajectory,
            sim_deviation=_deviations(config, mean),
        )
        summary["simulation_wall_s"] = round(wall, 2)
    for source in ("oracle", "sim"):
        if f"{source}_deviation" not in arrays:
            continue
        dev = arrays[f"{source}_deviation"]
        summary[f"{source}_deviation_mean"] = {
            name: float(np.nanmean(dev[s])) for s, (name, _, _) in enumerate(config.shapes())
        }
        summary[f"{source}_deviation_max"] = {
            name: float(np.nanmax(dev[s])) for s, (name, _, _) in enumerate(config.shapes())
        }
    if config.oracle and config.simulation:
        diff = arrays["sim_w_12"] - arrays["oracle_w_12"]
        summary["sim_minus_oracle_w_12"] = {
            name: {
                "mean": float(np.nanmean(diff[s])),
                "max_abs": float(np.nanmax(np.abs(diff[s]))),
            }
            for s, (name, _, _) in enumerate(config.shapes())
        }
        summary["sim_w_12_sem_max"] = float(np.nanmax(arrays["sim_w_12_sem"]))
    summary.update(run_record(config))
    atomic_write_npz(out / "nullclines.npz", **arrays)
    plot_psp_shapes(config, arrays, out / "fig11-psp-shapes.png")
    atomic_write_json(out / "summary.json", summary)
    return summary


def plot_psp_shapes(config: PSPShapesConfig, arrays: dict[str, np.ndarray], path: Path) -> Path:
    """Fig. 11: per shape, the kernel, the nullclines at the most unequal biases (oracle lines,
    simulation points) and the deviation maps of the oracle and the simulation."""
    from salpynn.analysis.plots import pyplot, save_png

    shapes = config.shapes()
    sources = [s for s in ("oracle", "sim") if f"{s}_deviation" in arrays]
    rows = 2 + len(sources)
    fig, axes = pyplot().subplots(
        rows,
        len(shapes),
        figsize=(3.2 * len(shapes), 2.8 * rows),
        squeeze=False,
        constrained_layout=True,
    )
    biases = arrays["biases"]
    w_21 = arrays["w_21"]
    pairs = config.bias_pairs()
    # One colour scale, capped at 0.5 (the oracle's alpha maps can reach several units
    # where its approximation breaks down; the colour bar marks the cap).
    vmax = min(max(float(np.nanmax(arrays[f"{s}_deviation"])) for s in sources), 0.5) or 0.5
    n_ref = round(config.tau_ref / config.resolution)
    for s, (name, psp, alpha_tau) in enumerate(shapes):
        ax = axes[0, s]
        x = np.arange(0, 3 * n_ref + 1)
        if psp == "rect":
            kernel = ((x >= 0) & (x < n_ref)).astype(float)
        else:
            tau = alpha_tau / config.resolution
            kernel = n_ref / tau**2 * x * np.exp(-x / tau)
        ax.step(x * config.resolution, kernel, where="post")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("time after arrival (ms)")
        ax.set_ylabel("PSP / w")
        ax = axes[1, s]
        for (b_1, b_2), color in (((biases[0], biases[-1]), "C0"), ((biases[-1], biases[0]), "C3")):
            k = int(np.flatnonzero((pairs[:, 0] == b_1) & (pairs[:, 1] == b_2))[0])
            label = f"b = ({b_1:g}, {b_2:g})"
            if "oracle_w_12" in arrays:
                ax.plot(w_21, arrays["oracle_w_12"][s, k], color=color, label=label + " oracle")
            if "sim_w_12" in arrays:
                ax.errorbar(
                    w_21,
                    arrays["sim_w_12"][s, k],
                    yerr=arrays["sim_w_12_sem"][s, k],
                    fmt="o",
                    ms=3,
                    color=color,
                    label=label + " sim",
                )
        ax.plot(w_21, w_21, "k--", lw=0.8)
        ax.set_xlabel(r"$w_{21}$ (frozen)")
        ax.set_ylabel(r"$w_{12}^*$")
        if s == 0:
            ax.legend(fontsize=6, frameon=False)
        for r, source in enumerate(sources):
            ax = axes[2 + r, s]
            image = ax.imshow(
                arrays[f"{source}_deviation"][s].T,
                origin="lower",
                cmap="YlOrRd",
                vmin=0,
                vmax=vmax,
                extent=(biases[0], biases[-1], biases[0], biases[-1]),
                aspect="equal",
            )
            ax.set_xlabel("$b_1$")
            ax.set_ylabel("$b_2$")
            ax.set_title(
                f"{'oracle' if source == 'oracle' else 'simulation'}: mean "
                f"{np.nanmean(arrays[f'{source}_deviation'][s]):.3f}",
                fontsize=9,
            )
    fig.colorbar(
        image, ax=axes[2:, -1].tolist(), label="rel. deviation from diagonal", extend="max"
    )
    fig.suptitle("Fig. 11: SAL's attractor for rectangular and alpha PSPs", fontsize=10)
    return save_png(fig, path)


def _announce(config: PSPShapesConfig, out: Path) -> str:
    n = len(config.biases) ** 2
    parts = [f"{len(config.shapes())} shapes x {n} bias pairs x {len(config.w_21)} w_21"]
    if config.simulation:
        parts.append(f"{config.duration / 1000:g} s model time")
    return "psp-shapes: " + ", ".join(parts) + f" -> {out}"


def _report(summary: dict[str, Any]) -> list[str]:
    lines = []
    for source, label in (("oracle", "oracle"), ("sim", "simulation")):
        key = f"{source}_deviation_mean"
        if key in summary:
            values = ", ".join(f"{k} {v:.4f}" for k, v in summary[key].items())
            lines.append(f"mean relative deviation from the diagonal ({label}): {values}")
    return lines


def _memory(config: PSPShapesConfig) -> int:
    pairs = len(config.biases) ** 2 * len(config.w_21) * len(config.shapes())
    return int(pairs * (config.n_reports + 1) * 8 + pairs * 2 * 20_000)


EXPERIMENT = Experiment(
    name="psp-shapes",
    description="SAL's attractor for rectangular and alpha PSPs, oracle and simulation (Fig. 11)",
    config=PSPShapesConfig,
    run=run,
    outputs=("summary.json", "nullclines.npz", "fig11-psp-shapes.png"),
    announce=_announce,
    report=_report,
    memory=_memory,
)
