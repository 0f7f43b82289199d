"""A recurrent network of sampling neurons whose reciprocal weights SAL makes symmetric.

Initial weights are a random symmetric matrix plus an asymmetric perturbation
(``W = S + sigma * A``, ``A`` with independent entries), on a random connectivity mask. SAL
removes ``W_ij - W_ji``; the summary reports ``Var(W_ij - W_ji)`` over reciprocally connected
pairs before and after.

This is the experiment for distributed runs: under ``mpirun -n K`` with NEST built with MPI
(``.venv-mpi``) one network is spread over the ranks; weights and spikes are gathered to rank 0,
which alone prints the progress bar and writes the results.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from salpynn.analysis.alignment import asymmetry_variance
from salpynn.config import ConfigError, check_choices, check_range, check_timing, param
from salpynn.experiments import Experiment, convention_param, report_steps
from salpynn.results import atomic_write_json, atomic_write_npz, run_record
from salpynn.rule import PairRule, RuleConfig

__all__ = ["EXPERIMENT", "RecurrentConfig", "initial_network", "run"]

#: Largest weight matrix (entries) written into recording.nix; larger ones only to weights.npz.
MAX_NIX_MATRIX_ENTRIES = 2500


@dataclass(frozen=True)
class RecurrentConfig:
    """A recurrent SAL network from asymmetric initial weights."""

    n: int = param(20, "", "neurons")
    connectivity: float = param(1.0, "", "probability of each pair (kept reciprocal)")
    w_sigma: float = param(0.5, "", "spread of the symmetric part of W")
    asymmetry_sigma: float = param(0.5, "", "spread of the asymmetric perturbation")
    b_low: float = param(-1.5, "", "biases ~ U(b_low, b_high)")
    b_high: float = param(-0.5, "", "biases ~ U(b_low, b_high)")
    tau_ref: float = param(10.0, "ms", "refractory time = PSP duration = SAL window width")
    escape: Literal["exp", "logistic"] = param("logistic", "", "escape noise of the neurons")
    convention: Literal["authors", "reversible", "marginals"] = convention_param("marginals")
    rule: RuleConfig = param(default_factory=lambda: RuleConfig(eta=0.005))
    duration: float = param(100_000.0, "ms", "model time")
    n_reports: int = param(10, "", "weight read-outs")
    backend: Literal["nest", "brian2"] = param("nest", "", "PyNN simulator")
    resolution: float = param(0.1, "ms", "time step")
    delay: float = param(0.1, "ms", "synaptic delay")
    threads: int = param(1, "", "NEST threads per MPI rank")
    seed: int = param(1, "", "seed of the initial network and the simulator")

    def validate(self) -> None:
        check_range("n", self.n, 2, 100_000)
        check_range("connectivity", self.connectivity, 0.0, 1.0, low_open=True)
        check_range("w_sigma", self.w_sigma, 0.0, 10.0)
        check_range("asymmetry_sigma", self.asymmetry_sigma, 0.0, 10.0)
        check_range("b_low", self.b_low, -20.0, self.b_high)
        check_range("b_high", self.b_high, self.b_low, 20.0)
        check_range("rule.eta", self.rule.eta, 0.0, 1.0)
        check_range("duration", self.duration, self.resolution, 1e9)
        check_range("n_reports", self.n_reports, 1, 10_000)
        check_timing(self.resolution, self.tau_ref, self.delay)
        check_range("threads", self.threads, 1, 256)
        check_range("seed", self.seed, 1, 2**31 - 1)
        check_choices(self)
        self.sal_rule()

    def sal_rule(self) -> PairRule:
        """The SAL rule of the recurrent synapses (time constants ``tau_ref`` unless set)."""
        return self.rule.resolve(self.tau_ref, self.delay, self.resolution, self.backend)


def initial_network(config: RecurrentConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W, b, mask)`` drawn from ``config.seed`` (identical on every rank)."""
    rng = np.random.default_rng(config.seed)
    n = config.n
    upper = np.triu(rng.random((n, n)) < config.connectivity, 1)
    mask = upper | upper.T  # reciprocal pairs: SAL needs both directions
    s = rng.normal(0.0, config.w_sigma, (n, n))
    a = rng.normal(0.0, config.asymmetry_sigma, (n, n))
    w = np.where(mask, (s + s.T) / 2 + a, 0.0)
    b = rng.uniform(config.b_low, config.b_high, n)
    return w, b, mask


def run(config: RecurrentConfig, out: Path, progress: bool = True) -> dict[str, Any] | None:
    """Run on the current ranks; rank 0 writes ``summary.json``, ``weights.npz``,
    ``recording.nix`` and ``weights.png`` into ``out`` and returns the summary (other ranks
    return ``None``)."""
    config.validate()
    from tqdm import tqdm

    from salpynn.networks.sampling import SamplingNetwork, SamplingNetworkParameters
    from salpynn.pynn import load_backend

    w0, b, mask = initial_network(config)
    if not mask.any():  # SAL has nothing to symmetrise; refuse before simulating
        raise ConfigError(
            f"connectivity={config.connectivity} with n={config.n} and seed={config.seed} "
            f"draws no reciprocal pair; raise connectivity or n, or change the seed"
        )
    backend = load_backend(config.backend)
    backend.setup(timestep=config.resolution, seed=config.seed, threads=config.threads)
    sim = backend.sim
    rank, ranks = sim.rank(), sim.num_processes()
    params = SamplingNetworkParameters(
        w0,
        b,
        tau_ref=config.tau_ref,
        escape=config.escape,
        delay=config.delay,
        rule=config.sal_rule(),
        mask=mask,
        convention=config.convention,
    )
    start = time.perf_counter()
    network = SamplingNetwork(backend, params).build()
    build_time = time.perf_counter() - start
    bounds = report_steps(config.duration, config.resolution, config.n_reports)
    asymmetry = [asymmetry_variance(w0, mask)]
    start = time.perf_counter()
    with tqdm(
        total=config.n_reports,
        desc="recurrent",
        unit="chunk",
        disable=not progress or rank != 0,
        leave=False,
    ) as bar:
        for i in range(config.n_reports):
            network.run((bounds[i + 1] - bounds[i]) * config.resolution)
            w_final = network.weights()
            asymmetry.append(asymmetry_variance(w_final, mask))
            bar.set_postfix(asymmetry=f"{asymmetry[-1]:.4f}")
            bar.update()
    sim_time = time.perf_counter() - start
    spikes = network.spike_times()
    sim.end()
    summary: dict[str, Any] = {
        "experiment": "recurrent",
        "backend": config.backend,
        "ranks": ranks,
        "threads_per_rank": config.threads,
        "asymmetry_initial": asymmetry[0],
        "asymmetry_final": asymmetry[-1],
        "asymmetry_trajectory": asymmetry,
        "n_spikes": int(sum(len(s) for s in spikes)),
        "n_connections": int(mask.sum()),
        "build_time_s": round(build_time, 3),
        "simulation_time_s": round(sim_time, 3),
        **run_record(config),
    }
    if rank != 0:  # under mpirun only rank 0 writes
        return None
    _write(out, config, summary, w0, w_final, b, mask, spikes)
    return summary


def _write(
    out: Path,
    config: RecurrentConfig,
    summary: dict[str, Any],
    w0: np.ndarray,
    w_final: np.ndarray,
    b: np.ndarray,
    mask: np.ndarray,
    spikes: list[np.ndarray],
) -> None:
    from salpynn.analysis.recording import Snapshots, write_recording

    out.mkdir(parents=True, exist_ok=True)

    atomic_write_npz(
        out / "weights.npz",
        W_initial=w0,
        W_final=w_final,
        b=b,
        mask=mask,
        **{f"spikes_{i}": s for i, s in enumerate(spikes)},
    )
    # Neo's NIX writer stores every channel of a signal as its own data array, which takes
    # minutes for a few thousand entries: weights and biases go into the NIX file only for
    # small networks; weights.npz always has them.
    weights = biases = None
    if w0.size <= MAX_NIX_MATRIX_ENTRIES:
        weights = {"W": Snapshots(np.array([0.0, config.duration]), np.stack([w0, w_final]))}
        biases = {"b": b}
    write_recording(
        out,
        spikes,
        t_start=0.0,
        t_stop=config.duration,
        config={"experiment": "recurrent", **dataclasses.asdict(config)},
        seeds={"seed": config.seed},
        weights=weights,
        biases=biases,
        annotations={
            "tau_ref": config.tau_ref,
            "delay": config.delay,
            "weights_file": "weights.npz",
        },
    )
    _plot(out / "weights.png", w0, w_final, mask)
    atomic_write_json(out / "summary.json", summary)


def _plot(path: Path, w0: np.ndarray, w_final: np.ndarray, mask: np.ndarray) -> None:
    from salpynn.analysis.plots import pyplot, save_png

    iu = np.triu_indices_from(w0, 1)
    keep = mask[iu]
    fig, axes = pyplot().subplots(
        1, 2, figsize=(7, 3.4), sharex=True, sharey=True, constrained_layout=True
    )
    for ax, w, title in ((axes[0], w0, "initial"), (axes[1], w_final, "after SAL")):
        ax.scatter(w[iu][keep], w.T[iu][keep], s=6, alpha=0.6)
        lim = np.abs(np.concatenate([w0[iu][keep], w_final[iu][keep]])).max() * 1.05
        ax.plot([-lim, lim], [-lim, lim], color="0.5", lw=0.8)
        ax.set_title(f"{title}: Var(W_ij - W_ji) = {asymmetry_variance(w, mask):.4f}", fontsize=9)
        ax.set_xlabel("$W_{ij}$")
    axes[0].set_ylabel("$W_{ji}$")
    save_png(fig, path, dpi=110)


def _report(summary: dict[str, Any]) -> list[str]:
    return [
        f"recurrent: {summary['config']['n']} neurons on {summary['ranks']} rank(s) x "
        f"{summary['threads_per_rank']} thread(s): Var(W_ij - W_ji) "
        f"{summary['asymmetry_initial']:.4f} -> {summary['asymmetry_final']:.4f}; "
        f"simulation {summary['simulation_time_s']:.1f} s"
    ]


def _memory(config: RecurrentConfig) -> int:
    """Bytes held by a run: at most one spike per tau_ref and neuron (about 64 bytes each,
    recorded and copied into Neo), the weight matrices of every read-out and NEST's
    connections (about 200 bytes each)."""
    spikes = config.n * config.duration / config.tau_ref * 64
    return int(spikes + config.n**2 * (8 * (config.n_reports + 1) + 200))


EXPERIMENT = Experiment(
    name="recurrent",
    description="a recurrent sampling network whose reciprocal weights SAL makes symmetric "
    "(one network over MPI ranks with .venv-mpi)",
    config=RecurrentConfig,
    run=run,
    outputs=("summary.json", "weights.npz", "recording.nix", "weights.png"),
    report=_report,
    memory=_memory,
)
