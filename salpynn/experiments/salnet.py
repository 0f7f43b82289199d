"""Pure symmetrisation in a SALNet (paper Fig. 9; Fig. 7's SAL curve with ``layers=50,50``).

Random Kaiming-uniform ``W`` and ``B`` (independent) are loaded into a
:class:`~salpynn.networks.salnet.SALNet` of ``copies`` copies that runs without input, driven
only by its escape noise and biases (0 by default).  Each epoch is the paper's SAL phase:
``iterations`` iterations of ``iteration_tau * tau_ref``; in each, every copy's feedback
synapses accumulate their SAL update ``dB`` (``sal_synapse`` with a negligible ``eta``, so that
``B`` stays fixed while the spikes are drawn, as in the authors' offline update), and then
``B += lr * mean_copies(dB) / lr_norm`` is written to all copies.  ``W`` never changes.

Per layer and epoch: angle(W, B) in degrees, Var(W - B), correlation and sign concordance
(:func:`salpynn.analysis.alignment.alignment_metrics`).  ``mpirun -n K`` distributes the
network over K ranks (NEST with MPI, ``.venv-mpi``).  A run checkpoints after every epoch and
resumes from the checkpoint when started again with the same configuration.
"""

from __future__ import annotations

import itertools
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from salpynn.analysis.alignment import METRIC_NAMES
from salpynn.config import ConfigError, check_choices, check_range, param, parse_sizes
from salpynn.experiments import Experiment, angle_changes, convention_param, sal_pairing_param
from salpynn.results import (
    atomic_write,
    atomic_write_json,
    atomic_write_npz,
    config_hash,
    run_record,
)

__all__ = ["EXPERIMENT", "SALNetConfig", "run"]


@dataclass(frozen=True)
class SALNetConfig:
    """Layer sizes, the SAL phase and the run."""

    layers: str = param("1600,384,192,10", "", "layer sizes, comma-separated (input first)")
    epochs: int = param(10, "", "SAL phases")
    iterations: int = param(5, "", "iterations per SAL phase (B updated after each)")
    iteration_tau: float = param(200.0, "tau_ref", "length of an iteration")
    copies: int = param(4, "", "network copies whose updates are averaged (paper: 32)")
    lr: float = param(0.04, "", "SAL learning rate")
    lr_norm: float = param(20.0, "", "divisor of the averaged update (the paper's 20)")
    update: Literal["offline", "online"] = param(
        "offline",
        "",
        "offline: B fixed while an iteration's spikes are drawn, copies' updates averaged after "
        "each (the paper's); online: B learns in NEST (eta = lr / lr_norm), copies averaged "
        "once per epoch (one weight read per epoch: for large layers)",
    )
    pairing: Literal["all", "nearest"] = sal_pairing_param()
    bias: float = param(0.0, "", "bias of every neuron")
    init_gain: float = param(1.0, "", "Kaiming-uniform gain of W and B")
    tau_ref: float = param(1.0, "ms", "refractory time = PSP = SAL window (10 steps)")
    escape: Literal["exp", "logistic"] = param("logistic", "", "escape noise of the neurons")
    convention: Literal["authors", "reversible", "marginals"] = convention_param("authors")
    resolution: float = param(0.1, "ms", "time step")
    threads: int = param(1, "", "NEST threads per MPI rank")
    seed: int = param(7, "", "seed of the initial weights and of the simulator")
    backend: Literal["nest", "brian2"] = param("nest", "", "PyNN simulator")

    def sizes(self) -> tuple[int, ...]:
        return parse_sizes("layers", self.layers)

    def validate(self) -> None:
        sizes = self.sizes()
        if len(sizes) < 2 or any(not 1 <= n <= 100_000 for n in sizes):
            raise ConfigError(
                f"layers must be at least 2 sizes in [1, 100000], got {self.layers!r}"
            )
        check_range("epochs", self.epochs, 1, 100_000)
        check_range("iterations", self.iterations, 1, 10_000)
        check_range("iteration_tau", self.iteration_tau, 1.0, 1e6)
        check_range("copies", self.copies, 1, 1024)
        check_range("lr", self.lr, 0.0, 10.0)
        check_range("lr_norm", self.lr_norm, 0.0, 1e9, low_open=True)
        check_range("bias", self.bias, -20.0, 20.0)
        check_range("init_gain", self.init_gain, 0.0, 100.0, low_open=True)
        check_range("tau_ref", self.tau_ref, 2 * self.resolution, 1000.0)
        check_range("resolution", self.resolution, 0.0, 1.0, low_open=True)
        check_range("threads", self.threads, 1, 256)
        check_range("seed", self.seed, 1, 2**31 - 1)
        check_choices(self)

    def initial(self) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Kaiming-uniform ``W`` and ``B`` (drawn from ``seed``), and the biases."""
        from salpynn.networks.salnet import kaiming_uniform

        rng = np.random.default_rng(self.seed)
        sizes = self.sizes()
        shapes = [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]
        w = [kaiming_uniform(rng, *s, gain=self.init_gain) for s in shapes]
        b = [kaiming_uniform(rng, *s, gain=self.init_gain) for s in shapes]
        return w, b, [np.full(n, self.bias) for n in sizes]

    def synapses(self) -> int:
        sizes = self.sizes()
        return 2 * self.copies * sum(a * b for a, b in itertools.pairwise(sizes))


def _metrics(w: list[np.ndarray], b: list[np.ndarray]) -> list[dict[str, float]]:
    from salpynn.analysis.alignment import alignment_metrics

    return [alignment_metrics(wl, bl) for wl, bl in zip(w, b, strict=True)]


def run(config: SALNetConfig, out: Path, progress: bool = True) -> dict[str, Any] | None:
    """Run (or resume) the symmetrisation; rank 0 writes ``metrics.csv``, ``summary.json``,
    ``salnet.png`` and ``scatter.png`` and returns the summary."""
    from tqdm import tqdm

    from salpynn.networks.salnet import SALNet, SALNetParameters, sal_phase_rule
    from salpynn.pynn import load_backend

    config.validate()
    w, b, biases = config.initial()
    # The checkpoint fits every configuration that differs at most in ``epochs`` (so a run
    # can be extended); a resumed run draws new spikes (seed + epoch), so it is statistically,
    # not bitwise, the same as an uninterrupted one.
    key = config_hash({k: v for k, v in run_record(config)["config"].items() if k != "epochs"})
    checkpoint = out / "checkpoint.npz"
    start_epoch, history = 0, []
    if checkpoint.is_file():
        saved = np.load(checkpoint, allow_pickle=False)
        if str(saved["key"]) == key:
            start_epoch = int(saved["epoch"])
            b = [saved[f"B{i}"] for i in range(len(b))]
            history = [list(row) for row in saved["history"]]

    backend = load_backend(config.backend)
    backend.setup(
        timestep=config.resolution, seed=config.seed + start_epoch, threads=config.threads
    )
    rank, ranks = backend.sim.rank(), backend.sim.num_processes()
    echo = progress and rank == 0
    rule = sal_phase_rule(
        config.tau_ref, config.update, config.lr, config.lr_norm, pairing=config.pairing
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    params = SALNetParameters(
        config.sizes(),
        tau_ref=config.tau_ref,
        escape=config.escape,
        convention=config.convention,
        delay=config.resolution,
        rule=rule,
        copies=config.copies,
    )
    net = SALNet(backend, params, w, b, biases).build()
    build_s = time.perf_counter() - t0
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    if not history:
        history = [[0, 0.0, *np.ravel([list(m.values()) for m in _metrics(w, b)])]]
    iteration_ms = (
        round(config.iteration_tau * config.tau_ref / config.resolution) * config.resolution
    )
    sim_s = 0.0
    bar = tqdm(
        total=config.epochs, initial=start_epoch, desc="salnet", unit="epoch", disable=not echo
    )
    with bar:
        for epoch in range(start_epoch, config.epochs):
            b, seconds = net.sal_phase(
                b, config.iterations, iteration_ms, config.lr, config.lr_norm, config.update
            )
            sim_s += seconds
            model_s = (epoch + 1) * config.iterations * iteration_ms / 1000.0
            history.append(
                [epoch + 1, model_s, *np.ravel([list(m.values()) for m in _metrics(w, b)])]
            )
            if rank == 0:
                atomic_write_npz(
                    checkpoint,
                    key=np.array(key),
                    epoch=np.array(epoch + 1),
                    history=np.array(history),
                    **{f"B{i}": bl for i, bl in enumerate(b)},
                )
            bar.update()
            if echo:
                angles = history[-1][2::4]
                bar.set_postfix_str("angles " + ", ".join(f"{a:.1f}" for a in angles))
    wall = time.perf_counter() - t0
    backend.sim.end()
    if rank != 0:
        return None
    return _write(
        config,
        out,
        w,
        b,
        np.array(history),
        {
            "wall_s": wall,
            "build_s": build_s,
            "simulate_s": sim_s,
            "ranks": ranks,
            "rss_growth_bytes": (rss_after - rss_before) * 1024,
            "resumed_from_epoch": start_epoch,
        },
    )


def _write(
    config: SALNetConfig,
    out: Path,
    w: list[np.ndarray],
    b: list[np.ndarray],
    history: np.ndarray,
    timing: dict[str, Any],
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    n_layers = len(w)
    header = "epoch,model_time_s," + ",".join(
        f"{name}_{i}" for i in range(n_layers) for name in METRIC_NAMES
    )
    atomic_write(
        out / "metrics.csv",
        lambda tmp: np.savetxt(tmp, history, delimiter=",", header=header, comments=""),
    )
    model_s = float(history[-1, 1])
    simulated = config.epochs - timing["resumed_from_epoch"]
    summary = {
        "experiment": "salnet",
        "layers": list(config.sizes()),
        "synapses": config.synapses(),
        "neurons": config.copies * sum(config.sizes()),
        "angle_initial": [float(history[0, 2 + 4 * i]) for i in range(n_layers)],
        "angle_final": [float(history[-1, 2 + 4 * i]) for i in range(n_layers)],
        "difference_variance_final": [float(history[-1, 3 + 4 * i]) for i in range(n_layers)],
        "correlation_final": [float(history[-1, 4 + 4 * i]) for i in range(n_layers)],
        "model_time_s": model_s,
        "real_time_factor": (
            timing["simulate_s"]
            / (simulated * config.iterations * config.iteration_tau * config.tau_ref / 1000.0)
            if simulated
            else None
        ),
        "bytes_per_synapse": timing["rss_growth_bytes"] / max(config.synapses(), 1),
        **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in timing.items()},
        **run_record(config),
    }
    from salpynn.analysis.plots import plot_layer_scatters

    plot_salnet(history, n_layers, out / "salnet.png")
    plot_layer_scatters([(w, config.initial()[1], "start"), (w, b, "end")], out / "scatter.png")
    atomic_write_json(out / "summary.json", summary)
    return summary


def plot_salnet(history: np.ndarray, n_layers: int, path: Path) -> Path:
    """Angle, Var(W - B) and correlation per layer against model time."""
    from salpynn.analysis.plots import pyplot, save_png

    fig, axes = pyplot().subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    t = history[:, 1]
    for i in range(n_layers):
        for ax, offset in zip(axes, (2, 3, 4), strict=True):
            ax.plot(t, history[:, offset + 4 * i], label=f"layer {i} -> {i + 1}")
    for ax, label in zip(axes, ("angle(W, B) (deg)", "Var(W - B)", "corr(W, B)"), strict=True):
        ax.set_xlabel("model time (s)")
        ax.set_ylabel(label)
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle("SALNet: pure symmetrisation (Fig. 9)", fontsize=10)
    return save_png(fig, path)


def _announce(config: SALNetConfig, out: Path) -> str:
    return (
        f"salnet: layers {config.layers}, {config.copies} copies ({config.synapses():,} "
        f"synapses), {config.epochs} epochs x {config.iterations} x {config.iteration_tau:g} "
        f"tau_ref -> {out}"
    )


def _report(summary: dict[str, Any]) -> list[str]:
    angles = angle_changes(summary)
    return [
        f"angle(W, B) per layer (deg): {angles}",
        f"{summary['model_time_s']:g} s model time in {summary['wall_s']:.1f} s on "
        f"{summary['ranks']} rank(s); real-time factor {summary['real_time_factor']}",
    ]


def _memory(config: SALNetConfig) -> int:
    return int(config.synapses() * 120 + config.copies * sum(config.sizes()) * 2000)


EXPERIMENT = Experiment(
    name="salnet",
    description="pure symmetrisation of a layered SALNet's feedback weights (Figs. 7, 9)",
    config=SALNetConfig,
    run=run,
    outputs=("summary.json", "metrics.csv", "salnet.png", "scatter.png"),
    announce=_announce,
    report=_report,
    memory=_memory,
)
