"""Fig. 7: SAL against STDWI on one 50 -> 50 layer, angle(W, B) against simulated time and
W-vs-B scatters at the start and the end.

Both rules start from the same Kaiming-uniform ``W`` and ``B`` (the paper's bound
``sqrt(3 / 50)``, seed 43 as in the authors' notebook) and see the same sampling neurons
(:class:`~salpynn.networks.salnet.SALNet`, layers ``[n, n]``, driven by their own noise):

- **SAL**: ``B`` sits in the network as ``sal_synapse`` feedback; every simulated second (of
  network time, summed over the ``sal_copies`` copies: 1000 ms / copies each) ends with the
  paper's offline update ``B += lr * mean_copies(dB) / lr_norm`` (lr 0.05, 8 copies).
- **STDWI** (:mod:`salpynn.stdwi`): the same layer without feedback in the dynamics (STDWI
  infers ``W`` from forward activity only, as in its authors' network); its spikes are
  recorded and STDWI runs on them second by second, as the authors' notebook does.

Deviation from the paper, by necessity: the authors' STDWI ran in its own network (LIF
neurons with double-exponential PSPs, Poisson stimulation of 20 % of the inputs, 0.25 ms
steps).  Here it runs on the sampling neurons SAL uses, so the figure compares the rules on
the same spikes' statistics; its time constants are scaled from the paper's 10 ms / 200 ms
(with SAL's ``tau_ref`` = 10 ms) to ``tau_ref`` / ``20 tau_ref``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from salpynn.config import ConfigError, check_choices, check_range, param
from salpynn.experiments import Experiment, convention_param, sal_pairing_param
from salpynn.results import atomic_write, atomic_write_json, atomic_write_npz, run_record

__all__ = ["EXPERIMENT", "AlignRulesConfig", "run"]


@dataclass(frozen=True)
class AlignRulesConfig:
    """The layer, the two rules and the run."""

    n: int = param(50, "", "neurons per layer (the layer is n -> n)")
    seconds: int = param(100, "s", "simulated network time per rule (summed over copies)")
    sal_copies: int = param(8, "", "SAL: network copies averaged per update (paper: 8)")
    sal_lr: float = param(0.05, "", "SAL: learning rate (paper: 0.05)")
    sal_lr_norm: float = param(20.0, "", "SAL: divisor of the averaged update")
    sal_pairing: Literal["all", "nearest"] = sal_pairing_param()
    stdwi_lr: float = param(0.02, "", "STDWI: learning rate per output spike (paper: 2e-2)")
    stdwi_tau_fast: float = param(1.0, "tau_ref", "STDWI: fast trace (paper: 10 ms)")
    stdwi_tau_slow: float = param(20.0, "tau_ref", "STDWI: slow trace (paper: 200 ms)")
    stdwi_decay: float = param(0.1, "", "STDWI: weight decay per output spike (paper: 0.1)")
    init_gain: float = param(1.0, "", "Kaiming-uniform gain of W and B")
    bias: float = param(0.0, "", "bias of every neuron")
    tau_ref: float = param(1.0, "ms", "refractory time = PSP = SAL window (10 steps)")
    escape: Literal["exp", "logistic"] = param("logistic", "", "escape noise of the neurons")
    convention: Literal["authors", "reversible", "marginals"] = convention_param("authors")
    resolution: float = param(0.1, "ms", "time step")
    seed: int = param(43, "", "seed of W and B (the notebook's 43) and of the simulator")
    backend: Literal["nest", "brian2"] = param("nest", "", "PyNN simulator")

    def validate(self) -> None:
        check_range("n", self.n, 1, 2000)
        check_range("seconds", self.seconds, 1, 100_000)
        check_range("sal_copies", self.sal_copies, 1, 256)
        check_range("sal_lr", self.sal_lr, 0.0, 10.0)
        check_range("sal_lr_norm", self.sal_lr_norm, 0.0, 1e9, low_open=True)
        check_range("init_gain", self.init_gain, 0.0, 100.0, low_open=True)
        check_range("bias", self.bias, -20.0, 20.0)
        check_range("resolution", self.resolution, 0.0, 1.0, low_open=True)
        check_range("tau_ref", self.tau_ref, 2 * self.resolution, 1000.0)
        check_range("seed", self.seed, 1, 2**31 - 1)
        check_range("stdwi_tau_fast", self.stdwi_tau_fast, 0.0, 1e4, low_open=True)
        check_range("stdwi_tau_slow", self.stdwi_tau_slow, self.stdwi_tau_fast, 1e5, low_open=True)
        check_range("stdwi_lr", self.stdwi_lr, 0.0, 1.0, low_open=True)
        check_range("stdwi_decay", self.stdwi_decay, 0.0, 1.0 / self.stdwi_lr, high_open=True)
        check_choices(self)
        try:
            self.stdwi_rule()
        except ValueError as err:
            raise ConfigError(str(err)) from err

    def stdwi_rule(self) -> Any:
        from salpynn.stdwi import STDWIRule

        return STDWIRule(
            lr=self.stdwi_lr,
            tau_fast=self.stdwi_tau_fast * self.tau_ref,
            tau_slow=self.stdwi_tau_slow * self.tau_ref,
            decay=self.stdwi_decay,
        )

    def initial(self) -> tuple[np.ndarray, np.ndarray]:
        """Kaiming-uniform ``W`` and ``B`` (forward orientation), drawn from ``seed``."""
        from salpynn.networks.salnet import kaiming_uniform

        rng = np.random.default_rng(self.seed)
        w = kaiming_uniform(rng, self.n, self.n, gain=self.init_gain)
        return w, kaiming_uniform(rng, self.n, self.n, gain=self.init_gain)


def _network(config: AlignRulesConfig, backend: Any, w: np.ndarray, b: np.ndarray, **kw: Any):
    from salpynn.networks.salnet import SALNet, SALNetParameters

    params = SALNetParameters(
        (config.n, config.n),
        tau_ref=config.tau_ref,
        escape=config.escape,
        convention=config.convention,
        delay=config.resolution,
        **kw,
    )
    biases = [np.full(config.n, config.bias)] * 2
    return SALNet(backend, params, [w], [b], biases).build()


def run(config: AlignRulesConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """Both rules; writes ``metrics.csv``, ``weights.npz``, ``alignment-rules.png`` and
    ``summary.json``."""
    from tqdm import tqdm

    from salpynn.analysis.alignment import alignment_angle, alignment_correlation
    from salpynn.networks.salnet import sal_phase_rule
    from salpynn.pynn import load_backend
    from salpynn.stdwi import STDWI

    config.validate()
    w, b0 = config.initial()
    backend = load_backend(config.backend)
    per_copy_ms = round(1000.0 / config.sal_copies / config.resolution) * config.resolution
    bar = tqdm(total=2 * config.seconds, desc="align-rules", unit="s", disable=not progress)
    start = time.perf_counter()

    # SAL: the feedback learns in the network, one offline update per simulated second.
    backend.setup(timestep=config.resolution, seed=config.seed)
    rule = sal_phase_rule(
        config.tau_ref, "offline", config.sal_lr, config.sal_lr_norm, pairing=config.sal_pairing
    )
    net = _network(config, backend, w, b0, rule=rule, copies=config.sal_copies)
    b_sal = [b0]
    sal_curve = [(alignment_angle(w, b0), alignment_correlation(w, b0))]
    with bar:
        bar.set_postfix_str("SAL")
        for _ in range(config.seconds):
            b_sal, _ = net.sal_phase(
                b_sal, 1, per_copy_ms, config.sal_lr, config.sal_lr_norm, "offline"
            )
            sal_curve.append((alignment_angle(w, b_sal[0]), alignment_correlation(w, b_sal[0])))
            bar.update()
        backend.sim.end()
        sal_s = time.perf_counter() - start

        # STDWI: the same layer, feedback out of the dynamics (weight 0), spikes recorded.
        backend.setup(timestep=config.resolution, seed=config.seed + 1)
        net = _network(config, backend, w, np.zeros_like(w), record_spikes=True)
        bar.set_postfix_str("STDWI")
        for _ in range(config.seconds):
            net.run(1000.0)
            bar.update()
        trains = [backend.spike_times(p) for p in net.populations]
        backend.sim.end()
    steps_per_s = round(1000.0 / config.resolution)
    stdwi = STDWI(config.stdwi_rule(), config.n, config.resolution)
    spikes = [_steps(t, config.resolution) for t in trains]
    b_stdwi = b0
    stdwi_curve = [sal_curve[0]]
    for second in range(config.seconds):
        lo, hi = second * steps_per_s, (second + 1) * steps_per_s
        chunk = []
        for s, i in spikes:  # sorted by step: each second is one slice
            a, b = np.searchsorted(s, [lo, hi])
            chunk.append((s[a:b] - lo, i[a:b]))
        b_stdwi = stdwi.update(b_stdwi, *chunk[0], *chunk[1], steps_per_s)
        stdwi_curve.append((alignment_angle(w, b_stdwi), alignment_correlation(w, b_stdwi)))
    wall = time.perf_counter() - start

    table = np.column_stack([np.arange(config.seconds + 1), sal_curve, stdwi_curve])
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(
        out / "metrics.csv",
        lambda tmp: np.savetxt(
            tmp,
            table,
            delimiter=",",
            header="second,angle_sal,correlation_sal,angle_stdwi,correlation_stdwi",
            comments="",
        ),
    )
    atomic_write_npz(out / "weights.npz", W=w, B_initial=b0, B_sal=b_sal[0], B_stdwi=b_stdwi)
    rates = [sum(len(t) for t in trains[k]) / config.n / config.seconds for k in (0, 1)]
    summary = {
        "experiment": "align-rules",
        "angle_initial": float(table[0, 1]),
        "angle_final_sal": float(table[-1, 1]),
        "angle_final_stdwi": float(table[-1, 3]),
        "correlation_final_sal": float(table[-1, 2]),
        "correlation_final_stdwi": float(table[-1, 4]),
        "rate_hz_input_stdwi": rates[0],
        "rate_hz_output_stdwi": rates[1],
        "wall_s": round(wall, 2),
        "sal_wall_s": round(sal_s, 2),
        **run_record(config),
    }
    plot_align_rules(table, w, b0, b_sal[0], b_stdwi, out / "alignment-rules.png")
    atomic_write_json(out / "summary.json", summary)
    return summary


def _steps(trains: list[np.ndarray], resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """All spikes of a population as (time step, neuron) arrays sorted by step; a spike at
    ``t`` ms belongs to the step ending at ``t``."""
    steps = [np.rint(np.asarray(t) / resolution).astype(np.int64) - 1 for t in trains]
    ids = [np.full(len(s), i, dtype=np.int64) for i, s in enumerate(steps)]
    if not steps:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    steps_all, ids_all = np.concatenate(steps), np.concatenate(ids)
    order = np.argsort(steps_all, kind="stable")
    return steps_all[order], ids_all[order]


def plot_align_rules(
    table: np.ndarray,
    w: np.ndarray,
    b0: np.ndarray,
    b_sal: np.ndarray,
    b_stdwi: np.ndarray,
    path: Path,
) -> Path:
    """Angle against simulated time for both rules, and W-vs-B scatters."""
    from salpynn.analysis.alignment import alignment_angle
    from salpynn.analysis.plots import pyplot, save_png

    fig, axes = pyplot().subplots(1, 4, figsize=(14, 3.4), constrained_layout=True)
    axes[0].plot(table[:, 0], table[:, 1], label="SAL", color="tab:blue")
    axes[0].plot(table[:, 0], table[:, 3], label="STDWI", color="tab:orange")
    axes[0].set_xlabel("simulated network time (s)")
    axes[0].set_ylabel("angle(W, B) (deg)")
    axes[0].set_ylim(0, 95)
    axes[0].legend(frameon=False)
    lim = float(max(np.abs(m).max() for m in (w, b0, b_sal, b_stdwi)))
    for ax, (b, label) in zip(
        axes[1:], ((b0, "start"), (b_sal, "SAL, end"), (b_stdwi, "STDWI, end")), strict=True
    ):
        scale = 1.0 if label == "start" else float(np.abs(w).max() / np.abs(b).max())
        ax.plot(w.ravel(), scale * b.ravel(), ".", ms=2, alpha=0.5)
        ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.7)
        ax.set_title(f"{label}: {alignment_angle(w, b):.0f}°", fontsize=9)
        ax.set_xlabel("W")
        ax.set_ylabel("B" if scale == 1.0 else f"B x {scale:.2g}")
    fig.suptitle("Fig. 7: spike-based alignment rules on a 50 -> 50 layer", fontsize=10)
    return save_png(fig, path)


def _report(summary: dict[str, Any]) -> list[str]:
    return [
        f"angle(W, B): start {summary['angle_initial']:.1f} deg, SAL "
        f"{summary['angle_final_sal']:.1f}, STDWI {summary['angle_final_stdwi']:.1f} "
        f"(after {summary['config']['seconds']} s each)"
    ]


EXPERIMENT = Experiment(
    name="align-rules",
    description="SAL against STDWI on a 50 -> 50 layer: angle vs time and scatters (Fig. 7)",
    config=AlignRulesConfig,
    run=run,
    outputs=("summary.json", "metrics.csv", "weights.npz", "alignment-rules.png"),
    report=_report,
)
