"""Two reciprocally coupled sampling neurons under SAL (paper Fig. 2), on NEST or Brian2.

The network is :mod:`salpynn.networks.two_neuron` (PyNN, salpynn's ``SamplingNeuron`` and
``SALSynapse``); ``backend`` picks the simulator.

Orientation: ``W[k, j]`` is the weight of the connection ``j -> k`` (``u = b + W z``), so
``w_12 = W[0, 1]`` is the connection from neuron 2 to neuron 1.  The paper's example
``W = [[0, 1.5], [0.5, 0]]`` is ``w_12 = 1.5``, ``w_21 = 0.5``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from salpynn.config import check_choices, check_range, check_timing, param
from salpynn.experiments import Experiment, convention_param, report_steps
from salpynn.networks.two_neuron import TwoNeuronParameters
from salpynn.results import atomic_write, atomic_write_json, run_record
from salpynn.rule import PairRule, RuleConfig

__all__ = ["EXPERIMENT", "TwoNeuronConfig", "TwoNeuronResult", "run", "simulate"]


@dataclass(frozen=True)
class TwoNeuronConfig:
    """Two sampling neurons coupled by SAL synapses, and how long and where to simulate them."""

    w_12: float = param(1.5, "", "initial weight of the connection 2 -> 1")
    w_21: float = param(0.5, "", "initial weight of the connection 1 -> 2")
    b_1: float = param(-0.5, "", "bias of neuron 1")
    b_2: float = param(-0.2, "", "bias of neuron 2")
    tau_ref: float = param(10.0, "ms", "refractory time = PSP duration = SAL window width")
    escape: Literal["exp", "logistic"] = param("logistic", "", "escape noise of the neurons")
    convention: Literal["authors", "reversible", "marginals"] = convention_param("marginals")
    # The authors' Fig. 2d pairs each spike with the partner's last 10 spikes (in effect all
    # pairs) and measures lags between spike times (rule.dendritic_delay unset: 0 on NEST).
    rule: RuleConfig = param(default_factory=lambda: RuleConfig(eta=0.002, pairing="all"))
    plastic: Literal["both", "w_12", "w_21"] = param("both", "", "which weights learn")
    delay: float = param(0.1, "ms", "synaptic delay")
    record_states: bool = param(False, "", "also record u and z every tau_ref / 2")
    duration: float = param(300_000.0, "ms", "model time")
    n_reports: int = param(60, "", "weight read-outs (trajectory points)")
    backend: Literal["nest", "brian2"] = param("nest", "", "PyNN simulator")
    resolution: float = param(0.1, "ms", "time step")
    threads: int = param(1, "", "NEST threads per MPI rank")
    seed: int = param(1234, "", "random seed of the simulator")

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid parameter."""
        for name in ("w_12", "w_21", "b_1", "b_2"):
            check_range(name, getattr(self, name), -20.0, 20.0)
        check_range("rule.eta", self.rule.eta, 0.0, 1.0)
        check_timing(self.resolution, self.tau_ref, self.delay)
        check_range("duration", self.duration, self.resolution, 1e9)
        check_range("n_reports", self.n_reports, 1, 100_000)
        check_range("threads", self.threads, 1, 256)
        check_range("seed", self.seed, 1, 2**31 - 1)
        check_choices(self)
        self.sal_rule()

    def sal_rule(self) -> PairRule:
        """The SAL rule of the plastic synapses (time constants ``tau_ref`` unless set)."""
        return self.rule.resolve(self.tau_ref, self.delay, self.resolution, self.backend)

    def network_parameters(self) -> TwoNeuronParameters:
        return TwoNeuronParameters(
            w_12=self.w_12,
            w_21=self.w_21,
            b_1=self.b_1,
            b_2=self.b_2,
            tau_ref=self.tau_ref,
            escape=self.escape,
            rule=self.sal_rule(),
            plastic=self.plastic,
            delay=self.delay,
            record_states=self.record_states,
            convention=self.convention,
        )


@dataclass
class TwoNeuronResult:
    """Weight trajectories and spike trains of one run."""

    config: TwoNeuronConfig
    times: np.ndarray  # ms, read-out times
    w_12: np.ndarray
    w_21: np.ndarray
    spikes: tuple[np.ndarray, np.ndarray]
    wall_time: float
    rank: int = 0  # MPI rank of this process; only rank 0 writes
    ranks: int = 1
    state_signals: list = dataclasses.field(default_factory=list)  # u, z (record_states)

    def settled(self) -> tuple[float, float]:
        """Final ``(w_12, w_21)`` with the changes of the last postsynaptic spikes applied.

        NEST applies a change caused by a postsynaptic spike when the next presynaptic spike
        arrives, so the weights it reports lag by the pairs completed since; the rule (and the
        authors' code) has applied them.  Brian2 applies them at once."""
        w_12, w_21 = float(self.w_12[-1]), float(self.w_21[-1])
        c = self.config
        if c.backend != "nest":
            return w_12, w_21
        from salpynn.rule import settled_weight

        p = c.network_parameters()
        lag = p.rule.lag_delay(c.delay)
        s1, s2 = self.spikes
        return (
            settled_weight(w_12, s2, s1, p.synapse_rule("w_12"), lag),  # 2 -> 1: pre 2, post 1
            settled_weight(w_21, s1, s2, p.synapse_rule("w_21"), lag),
        )

    def summary(self) -> dict[str, Any]:
        c = self.config
        rates = [len(s) / (c.duration / 1000.0) for s in self.spikes]
        settled_12, settled_21 = self.settled()
        return {
            "experiment": "two-neuron",
            "backend": c.backend,
            "w_12_initial": c.w_12,
            "w_21_initial": c.w_21,
            "w_12_final": float(self.w_12[-1]),
            "w_21_final": float(self.w_21[-1]),
            "difference_initial": c.w_12 - c.w_21,
            "difference_final": float(self.w_12[-1] - self.w_21[-1]),
            "sum_initial": c.w_12 + c.w_21,
            "sum_final": float(self.w_12[-1] + self.w_21[-1]),
            "w_12_settled": settled_12,
            "w_21_settled": settled_21,
            "sum_drift": settled_12 + settled_21 - (c.w_12 + c.w_21),
            "rates_hz": rates,
            "ranks": self.ranks,
            "wall_time_s": round(self.wall_time, 3),
            "orientation": "w_12 is the connection 2 -> 1 (u = b + W z)",
            **run_record(c),
        }


def simulate(config: TwoNeuronConfig, progress: bool = True) -> TwoNeuronResult:
    """Simulate the two-neuron SAL system and read the weights ``n_reports`` times (with
    ``progress``, a progress bar and the weights ten times along the way, on rank 0)."""
    config.validate()
    from tqdm import tqdm

    from salpynn.networks.two_neuron import TwoNeuronNetwork
    from salpynn.pynn import load_backend

    backend = load_backend(config.backend)
    backend.setup(timestep=config.resolution, seed=config.seed, threads=config.threads)
    network = TwoNeuronNetwork(backend, config.network_parameters()).build()
    rank, ranks = backend.sim.rank(), backend.sim.num_processes()
    echo = progress and rank == 0

    times = [0.0]
    w_12 = [config.w_12]
    w_21 = [config.w_21]
    # Report boundaries on the time grid: simulators only run whole multiples of the step.
    bounds = report_steps(config.duration, config.resolution, config.n_reports)
    start = time.perf_counter()
    bar = tqdm(
        total=config.n_reports,
        desc="two-neuron",
        unit="chunk",
        disable=not progress or rank != 0,
        leave=False,
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
                bar.write(
                    f"t = {times[-1] / 1000.0:8.1f} s   w_12 = {now_12:+.4f}   "
                    f"w_21 = {now_21:+.4f}   difference = {now_12 - now_21:+.4f}"
                )
    wall = time.perf_counter() - start
    spikes = network.spike_times()
    signals = network.state_signals() if ranks == 1 else []
    backend.sim.end()
    return TwoNeuronResult(
        config=config,
        times=np.array(times),
        w_12=np.array(w_12),
        w_21=np.array(w_21),
        spikes=spikes,
        wall_time=wall,
        rank=rank,
        ranks=ranks,
        state_signals=signals,
    )


def plot_two_neuron(result: TwoNeuronResult, path: Path) -> Path:
    """PNG of both weight trajectories against model time."""
    from salpynn.analysis.plots import pyplot, save_png

    fig, ax = pyplot().subplots(figsize=(6, 3.6), constrained_layout=True)
    seconds = result.times / 1000.0
    ax.plot(seconds, result.w_12, label=r"$w_{12}$ (2 $\to$ 1)", color="tab:blue")
    ax.plot(seconds, result.w_21, label=r"$w_{21}$ (1 $\to$ 2)", color="tab:orange")
    mean = 0.5 * (result.config.w_12 + result.config.w_21)
    ax.axhline(mean, color="0.5", lw=0.8, ls="--", label="initial mean")
    ax.set_xlabel("model time (s)")
    ax.set_ylabel("weight")
    ax.set_title(f"SAL, two neurons ({result.config.plastic} plastic)")
    ax.legend(frameon=False)
    return save_png(fig, path)


def write_recording_of(result: TwoNeuronResult, out: Path) -> Path:
    """Write spikes, weight snapshots and biases as ``recording.nix`` (Neo/NIX)."""
    from salpynn.analysis.recording import Snapshots, write_recording

    c = result.config
    zeros = np.zeros_like(result.w_12)
    # W[k, j] is the connection j -> k: W[0, 1] = w_12 (2 -> 1), W[1, 0] = w_21 (1 -> 2).
    matrices = np.stack([np.stack([zeros, result.w_12], -1), np.stack([result.w_21, zeros], -1)], 1)
    return write_recording(
        out,
        list(result.spikes),
        t_start=0.0,
        t_stop=c.duration,
        config={"experiment": "two-neuron", **dataclasses.asdict(c)},
        seeds={"nest_rng_seed": c.seed},
        weights={"W": Snapshots(result.times, matrices)},
        biases={"b": np.array([c.b_1, c.b_2])},
        analogsignals=result.state_signals,
        annotations={"tau_ref": c.tau_ref, "delay": c.delay},
    )


def write_outputs(result: TwoNeuronResult, out: Path) -> dict[str, Any]:
    """Write ``summary.json``, ``trajectory.csv``, ``weights.png`` and ``recording.nix``."""
    out.mkdir(parents=True, exist_ok=True)
    table = np.column_stack([result.times, result.w_12, result.w_21])
    atomic_write(
        out / "trajectory.csv",
        lambda tmp: np.savetxt(tmp, table, delimiter=",", header="time_ms,w_12,w_21", comments=""),
    )
    plot_two_neuron(result, out / "weights.png")
    summary = result.summary()
    write_recording_of(result, out)
    atomic_write_json(out / "summary.json", summary)
    return summary


def run(config: TwoNeuronConfig, out: Path, progress: bool = True) -> dict[str, Any] | None:
    """Simulate and, on rank 0, write the run folder ``out``; returns the summary there."""
    result = simulate(config, progress=progress)
    if result.rank != 0:  # under mpirun only rank 0 writes
        return None
    return write_outputs(result, out)


def _announce(config: TwoNeuronConfig, out: Path) -> str:
    return (
        f"two-neuron: w_12 = {config.w_12}, w_21 = {config.w_21}, eta = {config.rule.eta}, "
        f"{config.duration / 1000:g} s model time, seed {config.seed} -> {out}"
    )


def _report(summary: dict[str, Any]) -> list[str]:
    return [
        f"final: w_12 = {summary['w_12_final']:+.4f}, w_21 = {summary['w_21_final']:+.4f} "
        f"(difference {summary['difference_initial']:+.3f} -> {summary['difference_final']:+.4f}, "
        f"sum {summary['sum_initial']:.3f} -> {summary['sum_final']:.4f} as NEST holds it, "
        f"drift {summary['sum_drift']:.1e} once the last post-spike changes are applied); "
        f"wall time {summary['wall_time_s']:.1f} s"
    ]


def _figures(runs: list[tuple[Path, dict[str, Any]]], out: Path, **options: Any) -> list[Path]:
    from salpynn.config import apply_overrides
    from salpynn.experiments.two_neuron_figures import plot_two_neuron_figures

    config = apply_overrides(TwoNeuronConfig(), runs[0][1]["config"])
    return plot_two_neuron_figures(runs, config, out, **options)


def _memory(config: TwoNeuronConfig) -> int:
    """Bytes held by a run: at most one spike per tau_ref and neuron, recorded by NEST and
    copied into Neo (about 64 bytes each), and with ``record_states`` u and z of both neurons
    every tau_ref / 2 (float64, held three times on the way to the NIX file)."""
    periods = config.duration / config.tau_ref
    states = 2 * 2 * 2 * periods * 8 * 3 if config.record_states else 0
    return int(2 * periods * 64 + states)


EXPERIMENT = Experiment(
    name="two-neuron",
    description="two reciprocally coupled sampling neurons under SAL (paper Fig. 2)",
    config=TwoNeuronConfig,
    run=run,
    outputs=("summary.json", "trajectory.csv", "weights.png", "recording.nix"),
    figures=_figures,
    announce=_announce,
    report=_report,
    memory=_memory,
)
