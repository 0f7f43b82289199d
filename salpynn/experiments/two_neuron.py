"""Two reciprocally coupled sampling neurons under SAL (paper Fig. 2), on NEST or Brian2.

The network is :mod:`networks.two_neuron` (PyNN, salpynn's ``SamplingNeuron`` and
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

from networks.two_neuron import TwoNeuronParameters
from salpynn.config import ConfigError, check_choices, check_range
from salpynn.experiments import report_steps
from salpynn.results import atomic_write, atomic_write_json, config_hash, provenance
from salpynn.rule import PairRule

__all__ = ["TwoNeuronConfig", "TwoNeuronResult", "run_two_neuron"]


@dataclass(frozen=True)
class TwoNeuronConfig(TwoNeuronParameters):
    """The network's parameters (:class:`networks.two_neuron.TwoNeuronParameters`: weights,
    biases, ``tau_ref``, ``escape``, the SAL rule, ``plastic``, ``delay``) plus the run's."""

    duration: float = 300_000.0  # model time, ms
    n_reports: int = 60  # weight read-outs (trajectory resolution, printed lines)
    backend: Literal["nest", "brian2"] = "nest"
    resolution: float = 0.1
    threads: int = 1  # NEST threads per rank
    seed: int = 1234

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid parameter."""
        for name in ("w_12", "w_21", "b_1", "b_2"):
            check_range(name, getattr(self, name), -20.0, 20.0)
        check_range("tau_ref", self.tau_ref, 0.0, 1000.0, low_open=True)
        check_range("eta", self.eta, 0.0, 1.0)
        check_range("resolution", self.resolution, 0.0, 1.0, low_open=True)
        check_range("delay", self.delay, self.resolution, 100.0)
        check_range("duration", self.duration, self.resolution, 1e9)
        check_range("n_reports", self.n_reports, 1, 100_000)
        check_range("threads", self.threads, 1, 256)
        check_range("seed", self.seed, 1, 2**31 - 1)
        steps = self.tau_ref / self.resolution
        if abs(steps - round(steps)) > 1e-9:
            raise ConfigError(
                f"tau_ref must be a multiple of resolution ({self.resolution}), got {self.tau_ref}"
            )
        check_choices(self)
        PairRule.sal(tau=self.tau_ref, window=self.window, pairing=self.pairing)

    def rule(self, plastic: bool) -> PairRule:
        return PairRule.sal(
            tau=self.tau_ref,
            eta=self.eta if plastic else 0.0,
            window=self.window,
            pairing=self.pairing,
        )

    def network_parameters(self) -> TwoNeuronParameters:
        names = {f.name for f in dataclasses.fields(TwoNeuronParameters)}
        return TwoNeuronParameters(
            **{k: v for k, v in dataclasses.asdict(self).items() if k in names}
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

    def summary(self) -> dict[str, Any]:
        c = self.config
        rates = [len(s) / (c.duration / 1000.0) for s in self.spikes]
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
            "rates_hz": rates,
            "ranks": self.ranks,
            "wall_time_s": round(self.wall_time, 3),
            "orientation": "w_12 is the connection 2 -> 1 (u = b + W z)",
            "seed": c.seed,
            "config": dataclasses.asdict(c),
            "config_hash": config_hash(dataclasses.asdict(c)),
            "provenance": provenance(),
        }


def run_two_neuron(
    config: TwoNeuronConfig, progress: bool = True, echo: bool = True
) -> TwoNeuronResult:
    """Simulate the two-neuron SAL system and read the weights ``n_reports`` times."""
    config.validate()
    from tqdm import tqdm

    from networks.two_neuron import TwoNeuronNetwork
    from salpynn.pynn import load_backend

    backend = load_backend(config.backend)
    backend.setup(timestep=config.resolution, seed=config.seed, threads=config.threads)
    network = TwoNeuronNetwork(backend, config.network_parameters()).build()
    rank, ranks = backend.sim.rank(), backend.sim.num_processes()
    echo = echo and rank == 0

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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), constrained_layout=True)
    seconds = result.times / 1000.0
    ax.plot(seconds, result.w_12, label=r"$w_{12}$ (2 $\to$ 1)", color="tab:blue")
    ax.plot(seconds, result.w_21, label=r"$w_{21}$ (1 $\to$ 2)", color="tab:orange")
    mean = 0.5 * (result.config.w_12 + result.config.w_21)
    ax.axhline(mean, color="0.5", lw=0.8, ls="--", label="initial mean")
    ax.set_xlabel("model time (s)")
    ax.set_ylabel("weight")
    ax.set_title(f"SAL, two neurons ({result.config.plastic} plastic)")
    ax.legend(frameon=False)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
    return path


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
