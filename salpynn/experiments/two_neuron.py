"""Two reciprocally coupled stochastic neurons under SAL (paper Fig. 2).

Neuron model (until salpynn's own sampling neuron is used): NEST's ``pp_psc_delta`` as an
exponential-escape neuron, ``rate = exp(b) / tau_ref * exp(V)`` with ``V`` in mV, an absolute
dead time of ``tau_ref`` and exponentially decaying PSPs with ``tau_m = tau_ref`` (same area as
the rectangular PSP of neural sampling).  A weight ``w`` makes ``V`` jump by ``w`` mV.

Orientation: ``W[k, j]`` is the weight of the connection ``j -> k`` (``u = b + W z``), so
``w_12 = W[0, 1]`` is the connection from neuron 2 to neuron 1.  The paper's example
``W = [[0, 1.5], [0.5, 0]]`` is ``w_12 = 1.5``, ``w_21 = 0.5``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from salpynn.config import ConfigError, check_range
from salpynn.results import atomic_write, atomic_write_json, config_hash, provenance
from salpynn.rule import PairRule

__all__ = ["TwoNeuronConfig", "TwoNeuronResult", "run_two_neuron"]


@dataclass(frozen=True)
class TwoNeuronConfig:
    """Parameters of the two-neuron experiment (times in ms)."""

    w_12: float = 1.5  # connection 2 -> 1
    w_21: float = 0.5  # connection 1 -> 2
    b_1: float = -0.5
    b_2: float = -0.2
    tau_ref: float = 10.0  # refractory time = PSP time constant = SAL window width
    eta: float = 0.002
    window: Literal["exp", "triangular"] = "exp"
    pairing: Literal["nearest", "all"] = "nearest"
    plastic: Literal["both", "w_12", "w_21"] = "both"
    duration: float = 300_000.0  # model time, ms
    n_reports: int = 60  # weight read-outs (trajectory resolution, printed lines)
    resolution: float = 0.1
    delay: float = 0.1
    threads: int = 1
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
        if self.tau_ref < self.resolution:
            raise ConfigError(
                f"tau_ref must be >= resolution ({self.resolution}), got {self.tau_ref}"
            )
        if self.plastic not in ("both", "w_12", "w_21"):
            raise ConfigError(f"plastic must be 'both', 'w_12' or 'w_21', got {self.plastic!r}")
        PairRule.sal(tau=self.tau_ref, window=self.window, pairing=self.pairing)

    def rule(self, plastic: bool) -> PairRule:
        return PairRule.sal(
            tau=self.tau_ref,
            eta=self.eta if plastic else 0.0,
            window=self.window,
            pairing=self.pairing,
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

    def summary(self) -> dict[str, Any]:
        c = self.config
        rates = [len(s) / (c.duration / 1000.0) for s in self.spikes]
        return {
            "experiment": "two-neuron",
            "w_12_initial": c.w_12,
            "w_21_initial": c.w_21,
            "w_12_final": float(self.w_12[-1]),
            "w_21_final": float(self.w_21[-1]),
            "difference_initial": c.w_12 - c.w_21,
            "difference_final": float(self.w_12[-1] - self.w_21[-1]),
            "sum_initial": c.w_12 + c.w_21,
            "sum_final": float(self.w_12[-1] + self.w_21[-1]),
            "rates_hz": rates,
            "wall_time_s": round(self.wall_time, 3),
            "orientation": "w_12 is the connection 2 -> 1 (u = b + W z)",
            "seed": c.seed,
            "config": dataclasses.asdict(c),
            "config_hash": config_hash(dataclasses.asdict(c)),
            "provenance": provenance(),
        }


def _neuron_params(bias: float, tau_ref: float) -> dict[str, Any]:
    return {
        "c_1": 0.0,
        "c_2": 1000.0 * math.exp(bias) / tau_ref,  # Hz
        "c_3": 1.0,  # 1/mV: rate = c_2 * exp(V)
        "tau_m": tau_ref,
        "dead_time": tau_ref,
        "dead_time_random": False,
        "with_reset": False,
        "V_m": 0.0,
    }


def run_two_neuron(
    config: TwoNeuronConfig, progress: bool = True, echo: bool = True
) -> TwoNeuronResult:
    """Simulate the two-neuron SAL system in NEST and read the weights ``n_reports`` times."""
    config.validate()
    from tqdm import tqdm

    import salpynn.nest as snest

    nest = snest.import_nest()
    nest.ResetKernel()
    nest.SetKernelStatus(
        {
            "resolution": config.resolution,
            "local_num_threads": config.threads,
            "rng_seed": config.seed,
        }
    )
    snest.install()
    neurons = nest.Create("pp_psc_delta", 2)
    neurons[0].set(_neuron_params(config.b_1, config.tau_ref))
    neurons[1].set(_neuron_params(config.b_2, config.tau_ref))
    recorder = nest.Create("spike_recorder")
    nest.Connect(neurons, recorder)
    # Weights are read from a weight_recorder: in NEST 3.10 every SynapseCollection.get()
    # calls GetKernelStatus, which becomes slow (0.1-0.2 s) once spikes have been recorded.
    weights = nest.Create("weight_recorder")
    for pre, post, weight, name in ((1, 0, config.w_12, "w_12"), (0, 1, config.w_21, "w_21")):
        plastic = config.plastic in ("both", name)
        syn = snest.sal_syn_spec(
            config.rule(plastic), weight, config.delay, weight_recorder=weights
        )
        nest.Connect(neurons[pre], neurons[post], syn_spec=syn)
    id_1, id_2 = neurons[0].global_id, neurons[1].global_id

    def latest() -> tuple[float, float]:
        ev = weights.get("events")
        senders, w = np.asarray(ev["senders"]), np.asarray(ev["weights"])
        from_2, from_1 = w[senders == id_2], w[senders == id_1]
        return (
            float(from_2[-1]) if from_2.size else config.w_12,
            float(from_1[-1]) if from_1.size else config.w_21,
        )

    times = [0.0]
    w_12 = [config.w_12]
    w_21 = [config.w_21]
    # Report boundaries on the time grid: NEST only runs whole multiples of the resolution.
    n_steps = round(config.duration / config.resolution)
    bounds = np.linspace(0, n_steps, config.n_reports + 1).round().astype(int)
    start = time.perf_counter()
    bar = tqdm(
        total=config.n_reports,
        desc="two-neuron",
        unit="chunk",
        disable=not progress,
        leave=False,
    )
    with bar:
        nest.Prepare()
        for i in range(config.n_reports):
            # Run/Prepare/Cleanup avoids re-preparing the kernel for each chunk.
            nest.Run((bounds[i + 1] - bounds[i]) * config.resolution)
            times.append(bounds[i + 1] * config.resolution)
            now_12, now_21 = latest()
            w_12.append(now_12)
            w_21.append(now_21)
            bar.update()
            if echo and (i + 1) % max(1, config.n_reports // 10) == 0:
                bar.write(
                    f"t = {times[-1] / 1000.0:8.1f} s   w_12 = {now_12:+.4f}   "
                    f"w_21 = {now_21:+.4f}   difference = {now_12 - now_21:+.4f}"
                )
        nest.Cleanup()
    wall = time.perf_counter() - start
    events = recorder.get("events")
    spikes = tuple(
        np.sort(events["times"][events["senders"] == neuron.global_id]) for neuron in neurons
    )
    return TwoNeuronResult(
        config=config,
        times=np.array(times),
        w_12=np.array(w_12),
        w_21=np.array(w_21),
        spikes=spikes,
        wall_time=wall,
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
