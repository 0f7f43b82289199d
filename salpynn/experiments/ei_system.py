"""Dale's law: SAL aligns effective weights through E-I pathways (paper Fig. 10), on NEST or
Brian2.

The network is :mod:`salpynn.networks.ei_system`: excitatory neurons ``E1, E2`` coupled
directly (plastic SAL synapses, ``w_min = 0``) and through private inhibitory interneurons
``I1, I2`` (static).  The interneurons' weights and biases are drawn from ``seed`` as in the
paper: ``W_IE ~ N(4, 0.2)``, ``W_EI ~ N(-1, 0.1)``, ``b_I ~ N(-2, 0.2)``.  SAL acts only on the
direct weights but drives the *effective* weights (direct plus inhibitory pathway,
:func:`~salpynn.networks.ei_system.effective_weight`) to the diagonal, while the direct weights
stay excitatory and in general unequal.

Orientation: ``w_12`` is the connection ``2 -> 1`` (``u = b + W z``): ``w_ee_12`` is
``E2 -> E1``, and ``W_eff_12`` includes the pathway ``E2 -> I2 -> E1``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from salpynn.config import ConfigError, check_choices, check_range, check_timing, param
from salpynn.experiments import Experiment, convention_param, report_steps
from salpynn.networks.ei_system import EISystemParameters
from salpynn.results import atomic_write, atomic_write_json, run_record
from salpynn.rule import PairRule, RuleConfig

__all__ = [
    "EXPERIMENT",
    "EISystemConfig",
    "EISystemResult",
    "RateCheck",
    "rate_check",
    "run",
    "simulate",
]


@dataclass(frozen=True)
class EISystemConfig:
    """Two excitatory neurons with private interneurons under SAL, and how to simulate them."""

    # Fig. 10's grid spans direct weights 0..2; (0.2, 1.6) starts far from the aligned state
    # (W_eff asymmetry about 1.4) with both direct weights inside it.
    w_ee_12: float = param(0.2, "", "initial direct weight E2 -> E1 (>= 0)")
    w_ee_21: float = param(1.6, "", "initial direct weight E1 -> E2 (>= 0)")
    b_e: float = param(0.0, "", "bias of both excitatory neurons")
    w_ie_mean: float = param(4.0, "", "mean of the weights E -> own interneuron")
    w_ie_sd: float = param(0.2, "", "standard deviation of the weights E -> I")
    w_ei_mean: float = param(-1.0, "", "mean of the weights interneuron -> other E")
    w_ei_sd: float = param(0.1, "", "standard deviation of the weights I -> E")
    b_i_mean: float = param(-2.0, "", "mean bias of the interneurons")
    b_i_sd: float = param(0.2, "", "standard deviation of the interneuron biases")
    tau_ref: float = param(2.5, "ms", "refractory time = PSP duration = SAL window width")
    escape: Literal["exp", "logistic"] = param("logistic", "", "escape noise of the neurons")
    convention: Literal["authors", "reversible", "marginals"] = convention_param("authors")
    # The authors' E-I analysis pairs nearest neighbours with the exponential window +-1,
    # tau = tau_ref; w_min = 0 keeps the direct synapses excitatory (Dale's law).
    rule: RuleConfig = param(default_factory=lambda: RuleConfig(eta=0.002, w_min=0.0))
    delay: float = param(0.1, "ms", "synaptic delay (one time step)")
    duration: float = param(200_000.0, "ms", "model time (the paper's 2,000,000 steps)")
    n_reports: int = param(100, "", "weight read-outs (trajectory points)")
    backend: Literal["nest", "brian2"] = param("nest", "", "PyNN simulator")
    resolution: float = param(0.1, "ms", "time step")
    threads: int = param(1, "", "NEST threads per MPI rank")
    seed: int = param(97, "", "seed of the E-I parameter draws and of the simulator")

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid parameter."""
        for name in ("w_ee_12", "w_ee_21"):
            check_range(name, getattr(self, name), 0.0, 20.0)
        for name in ("b_e", "b_i_mean"):
            check_range(name, getattr(self, name), -20.0, 20.0)
        check_range("w_ie_mean", self.w_ie_mean, 0.0, 20.0, low_open=True)
        check_range("w_ei_mean", self.w_ei_mean, -20.0, 0.0, high_open=True)
        for name in ("w_ie_sd", "w_ei_sd", "b_i_sd"):
            check_range(name, getattr(self, name), 0.0, 5.0)
        check_range("rule.eta", self.rule.eta, 0.0, 1.0)
        if self.rule.w_min is None or not self.rule.w_min >= 0.0:
            raise ConfigError(
                f"rule.w_min must be >= 0 (Dale's law: the E -> E synapses stay excitatory), "
                f"got {self.rule.w_min!r}"
            )
        check_timing(self.resolution, self.tau_ref, self.delay)
        check_range("duration", self.duration, self.resolution, 1e9)
        check_range("n_reports", self.n_reports, 1, 100_000)
        check_range("threads", self.threads, 1, 256)
        check_range("seed", self.seed, 1, 2**31 - 1)
        check_choices(self)
        rule = self.sal_rule()
        for name in ("w_ee_12", "w_ee_21"):
            if not rule.w_min <= getattr(self, name) <= rule.w_max:
                raise ConfigError(
                    f"{name} must lie in [rule.w_min, rule.w_max] = [{rule.w_min}, "
                    f"{rule.w_max}], got {getattr(self, name)}"
                )

    def sal_rule(self) -> PairRule:
        """The SAL rule of the direct E -> E synapses (time constants ``tau_ref`` unless set)."""
        return self.rule.resolve(self.tau_ref, self.delay, self.resolution, self.backend)

    def interneurons(self) -> dict[str, tuple[float, float]]:
        """The drawn ``w_ie`` (E1 -> I1, E2 -> I2), ``w_ei`` (I1 -> E2, I2 -> E1) and ``b_i``
        (I1, I2), from ``seed``, in the authors' order."""
        rng = np.random.default_rng(self.seed)
        w_ie = rng.normal(self.w_ie_mean, self.w_ie_sd, 2)
        w_ei = rng.normal(self.w_ei_mean, self.w_ei_sd, 2)
        b_i = rng.normal(self.b_i_mean, self.b_i_sd, 2)
        return {
            "w_ie": (float(w_ie[0]), float(w_ie[1])),
            "w_ei": (float(w_ei[0]), float(w_ei[1])),
            "b_i": (float(b_i[0]), float(b_i[1])),
        }

    def network_parameters(self, plastic: bool = True) -> EISystemParameters:
        """The network of this configuration (``plastic=False``: static direct weights)."""
        return EISystemParameters(
            w_ee_12=self.w_ee_12,
            w_ee_21=self.w_ee_21,
            b_e=(self.b_e, self.b_e),
            tau_ref=self.tau_ref,
            escape=self.escape,
            rule=self.sal_rule() if plastic else None,
            delay=self.delay,
            convention=self.convention,
            **self.interneurons(),
        )


@dataclass
class EISystemResult:
    """Direct-weight trajectories and spike trains of one run."""

    config: EISystemConfig
    times: np.ndarray  # ms, read-out times
    w_ee_12: np.ndarray
    w_ee_21: np.ndarray
    spikes: list[np.ndarray]  # E1, E2, I1, I2
    wall_time: float
    rank: int = 0
    ranks: int = 1

    def effective(self) -> tuple[np.ndarray, np.ndarray]:
        """``(W_eff_12, W_eff_21)`` at every read-out."""
        p = self.config.network_parameters(plastic=False)
        return p.w_eff(self.w_ee_12, self.w_ee_21)

    def summary(self) -> dict[str, Any]:
        c = self.config
        eff_12, eff_21 = self.effective()
        rates = [len(s) / (c.duration / 1000.0) for s in self.spikes]
        return {
            "experiment": "ei-system",
            "backend": c.backend,
            "w_ee_12_initial": c.w_ee_12,
            "w_ee_21_initial": c.w_ee_21,
            "w_ee_12_final": float(self.w_ee_12[-1]),
            "w_ee_21_final": float(self.w_ee_21[-1]),
            "w_ee_min": float(min(self.w_ee_12.min(), self.w_ee_21.min())),
            "w_eff_12_initial": float(eff_12[0]),
            "w_eff_21_initial": float(eff_21[0]),
            "w_eff_12_final": float(eff_12[-1]),
            "w_eff_21_final": float(eff_21[-1]),
            "asymmetry_initial": float(abs(eff_12[0] - eff_21[0])),
            "asymmetry_final": float(abs(eff_12[-1] - eff_21[-1])),
            # Time average over the second half: the fluctuating end point's expected value.
            "asymmetry_late_mean": float(np.mean((eff_12 - eff_21)[len(eff_12) // 2 :])),
            "interneurons": c.interneurons(),
            "rates_hz": dict(zip(("E1", "E2", "I1", "I2"), rates, strict=True)),
            "state_probabilities": {
                k: r * c.tau_ref / 1000.0
                for k, r in zip(("E1", "E2", "I1", "I2"), rates, strict=True)
            },
            "ranks": self.ranks,
            "wall_time_s": round(self.wall_time, 3),
            "orientation": "w_12 is the connection 2 -> 1 (u = b + W z)",
            **run_record(c),
        }


def simulate(config: EISystemConfig, progress: bool = True) -> EISystemResult:
    """Simulate the E-I system under SAL and read the direct weights ``n_reports`` times."""
    config.validate()
    from tqdm import tqdm

    from salpynn.networks.ei_system import EISystemNetwork
    from salpynn.pynn import load_backend

    backend = load_backend(config.backend)
    backend.setup(timestep=config.resolution, seed=config.seed, threads=config.threads)
    params = config.network_parameters()
    network = EISystemNetwork(backend, params).build()
    rank, ranks = backend.sim.rank(), backend.sim.num_processes()
    echo = progress and rank == 0

    times, w_12, w_21 = [0.0], [config.w_ee_12], [config.w_ee_21]
    bounds = report_steps(config.duration, config.resolution, config.n_reports)
    start = time.perf_counter()
    bar = tqdm(
        total=config.n_reports, desc="ei-system", unit="chunk", disable=not echo, leave=False
    )
    with bar:
        for i in range(config.n_reports):
            network.run((bounds[i + 1] - bounds[i]) * config.resolution)
            times.append(bounds[i + 1] * config.resolution)
            now_12, now_21 = network.weights()
            w_12.append(now_12)
            w_21.append(now_21)
            bar.update()
            if echo and (i + 1) % max(1, config.n_reports // 10) == 0:
                eff_12, eff_21 = params.w_eff(now_12, now_21)
                bar.write(
                    f"t = {times[-1] / 1000.0:8.1f} s   W_EE = ({now_12:.3f}, {now_21:.3f})   "
                    f"W_eff = ({eff_12:+.3f}, {eff_21:+.3f})"
                )
    wall = time.perf_counter() - start
    spikes = network.spike_times()
    backend.sim.end()
    return EISystemResult(
        config=config,
        times=np.array(times),
        w_ee_12=np.array(w_12),
        w_ee_21=np.array(w_21),
        spikes=spikes,
        wall_time=wall,
        rank=rank,
        ranks=ranks,
    )


@dataclass(frozen=True)
class RateCheck:
    """Spike counts of the excitatory neurons in the E-I system and in a direct system.

    ``counts_ei[k]`` and ``counts_direct[k]`` are the spikes of ``E1``/``E2`` in
    ``duration`` ms; ``w_direct`` the static ``(w_12, w_21)`` of the direct system."""

    counts_ei: tuple[int, int]
    counts_direct: tuple[int, int]
    w_direct: tuple[float, float]
    duration: float
    tau_ref: float

    def state_probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        """``(E-I, direct)`` probabilities of ``E1, E2`` being on (rate x tau_ref)."""
        scale = self.tau_ref / self.duration
        return np.array(self.counts_ei) * scale, np.array(self.counts_direct) * scale

    def standard_error(self) -> np.ndarray:
        """Standard error of each difference of state probabilities from the counts: counts
        as Poisson, ``sqrt(N_ei + N_direct)``; refractory neurons are sub-Poisson, coupling
        correlates the counts over windows much shorter than ``duration``."""
        total = np.array(self.counts_ei) + np.array(self.counts_direct)
        return np.sqrt(total) * self.tau_ref / self.duration


def rate_check(
    config: EISystemConfig,
    duration: float = 100_000.0,
    pathways: Literal["both", "21"] = "21",
    w_direct: tuple[float, float] | None = None,
) -> RateCheck:
    """The paper's check of the effective weight: the E-I system (static direct weights of
    ``config``) and a direct two-neuron system with weights ``W_eff`` (or ``w_direct``) and no
    interneurons, simulated side by side for ``duration`` ms.  ``pathways="21"`` (the paper's
    check) keeps only ``E1 -> E2``, directly and through ``I1``."""
    config.validate()
    from salpynn.networks.ei_system import EISystemNetwork, direct_system
    from salpynn.pynn import load_backend

    params = dataclasses.replace(config.network_parameters(plastic=False), pathways=pathways)
    if w_direct is None:
        w_direct = tuple(float(w) for w in params.w_eff())
    backend = load_backend(config.backend)
    backend.setup(timestep=config.resolution, seed=config.seed, threads=config.threads)
    ei = EISystemNetwork(backend, params).build()
    direct = direct_system(backend, params, *w_direct)
    backend.sim.run(round(duration / config.resolution) * config.resolution)
    counts_ei = tuple(len(s) for s in ei.spike_times()[:2])
    counts_direct = tuple(len(s) for s in direct.spike_times())
    backend.sim.end()
    return RateCheck(counts_ei, counts_direct, w_direct, duration, config.tau_ref)


def plot_ei_system(
    runs: list[tuple[EISystemConfig, np.ndarray]], path: Path, title: str = ""
) -> Path:
    """Fig. 10: trajectories in effective-weight coordinates (with the diagonal) and in
    direct-weight coordinates; ``runs`` pairs a configuration with its trajectory table
    (columns ``time_ms, w_ee_12, w_ee_21, w_eff_12, w_eff_21``)."""
    from salpynn.analysis.plots import pyplot, save_png

    fig, (eff, direct) = pyplot().subplots(1, 2, figsize=(9, 4.2), constrained_layout=True)
    for config, table in runs:
        label = f"seed {config.seed}: ({config.w_ee_12:g}, {config.w_ee_21:g})"
        (line,) = eff.plot(table[:, 3], table[:, 4], lw=1.2, label=label)
        eff.plot(table[0, 3], table[0, 4], "o", color=line.get_color(), ms=4)
        eff.plot(table[-1, 3], table[-1, 4], "s", color=line.get_color(), ms=4)
        direct.plot(table[:, 1], table[:, 2], lw=1.2, color=line.get_color(), label=label)
        direct.plot(table[0, 1], table[0, 2], "o", color=line.get_color(), ms=4)
        direct.plot(table[-1, 1], table[-1, 2], "s", color=line.get_color(), ms=4)
    for ax, columns in ((eff, (3, 4)), (direct, (1, 2))):
        values = np.concatenate([t[:, columns].ravel() for _, t in runs])
        low, high = values.min() - 0.2, values.max() + 0.2
        ax.plot([low, high], [low, high], color="0.5", lw=0.8, ls="--", label="diagonal")
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.set_aspect("equal")
    low = min(direct.get_xlim()[0], 0.0)
    direct.axvspan(low, 0.0, color="0.9")
    direct.axhspan(low, 0.0, color="0.9")
    direct.set_xlim(left=low)
    direct.set_ylim(bottom=low)
    eff.set_xlabel(r"$W^\mathrm{eff}_{12}$ (E2 $\to$ E1)")
    eff.set_ylabel(r"$W^\mathrm{eff}_{21}$ (E1 $\to$ E2)")
    eff.set_title("effective weights: SAL aligns them", fontsize=10)
    direct.set_xlabel(r"$W^\mathrm{EE}_{12}$ (direct, E2 $\to$ E1)")
    direct.set_ylabel(r"$W^\mathrm{EE}_{21}$ (direct, E1 $\to$ E2)")
    direct.set_title(r"direct weights: stay $\geq 0$ (grey: excluded)", fontsize=10)
    eff.legend(fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_png(fig, path)


def trajectory_table(result: EISystemResult) -> np.ndarray:
    """Columns ``time_ms, w_ee_12, w_ee_21, w_eff_12, w_eff_21``."""
    eff_12, eff_21 = result.effective()
    return np.column_stack([result.times, result.w_ee_12, result.w_ee_21, eff_12, eff_21])


def write_outputs(result: EISystemResult, out: Path) -> dict[str, Any]:
    """Write ``summary.json``, ``trajectory.csv`` and ``weights.png``."""
    out.mkdir(parents=True, exist_ok=True)
    table = trajectory_table(result)
    header = "time_ms,w_ee_12,w_ee_21,w_eff_12,w_eff_21"
    atomic_write(
        out / "trajectory.csv",
        lambda tmp: np.savetxt(tmp, table, delimiter=",", header=header, comments=""),
    )
    plot_ei_system([(result.config, table)], out / "weights.png", "SAL with E-I pathways")
    summary = result.summary()
    atomic_write_json(out / "summary.json", summary)
    return summary


def run(config: EISystemConfig, out: Path, progress: bool = True) -> dict[str, Any] | None:
    """Simulate and, on rank 0, write the run folder ``out``; returns the summary there."""
    result = simulate(config, progress=progress)
    if result.rank != 0:
        return None
    return write_outputs(result, out)


def _announce(config: EISystemConfig, out: Path) -> str:
    return (
        f"ei-system: W_EE = ({config.w_ee_12}, {config.w_ee_21}), eta = {config.rule.eta}, "
        f"{config.duration / 1000:g} s model time, seed {config.seed} -> {out}"
    )


def _report(summary: dict[str, Any]) -> list[str]:
    return [
        f"W_eff = ({summary['w_eff_12_initial']:+.3f}, {summary['w_eff_21_initial']:+.3f}) -> "
        f"({summary['w_eff_12_final']:+.3f}, {summary['w_eff_21_final']:+.3f}), asymmetry "
        f"{summary['asymmetry_initial']:.3f} -> {summary['asymmetry_final']:.3f}",
        f"W_EE = ({summary['w_ee_12_initial']:.3f}, {summary['w_ee_21_initial']:.3f}) -> "
        f"({summary['w_ee_12_final']:.3f}, {summary['w_ee_21_final']:.3f}), minimum "
        f"{summary['w_ee_min']:.3f}; wall time {summary['wall_time_s']:.1f} s",
    ]


def _figures(runs: list[tuple[Path, dict[str, Any]]], out: Path, **options: Any) -> list[Path]:
    """Fig. 10 from finished runs (the drift-field options of ``salpynn plot`` are unused)."""
    from salpynn.config import apply_overrides

    tables = [
        (
            apply_overrides(EISystemConfig(), summary["config"]),
            np.atleast_2d(np.loadtxt(folder / "trajectory.csv", delimiter=",", skiprows=1)),
        )
        for folder, summary in runs
    ]
    title = "Fig. 10: SAL aligns effective weights under Dale's law"
    return [plot_ei_system(tables, out / "fig10-ei-system.png", title)]


def _memory(config: EISystemConfig) -> int:
    """Bytes held by a run: at most one spike per tau_ref and neuron, recorded by NEST and
    copied into Neo (about 64 bytes each)."""
    return int(4 * config.duration / config.tau_ref * 64)


EXPERIMENT = Experiment(
    name="ei-system",
    description="SAL with Dale's law: E-E synapses plus inhibitory pathways (paper Fig. 10)",
    config=EISystemConfig,
    run=run,
    outputs=("summary.json", "trajectory.csv", "weights.png"),
    figures=_figures,
    announce=_announce,
    report=_report,
    memory=_memory,
)
