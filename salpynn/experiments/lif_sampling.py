"""LIF sampling on standard PyNN cells: calibration, SAL on two neurons, a 5-neuron sampler.

Everything runs on :mod:`salpynn.networks.lif_sampling` (``IF_cond_exp`` in a high-conductance
state, Poisson background), on NEST: its ``iaf_cond_exp`` routes signed weights, which SAL
needs, to the excitatory or inhibitory conductance.  Four steps, one run:

1. **Activation**: ``copies`` neurons per offset current, ``calibration_duration`` each; the
   fraction of time refractory against the current, fitted by a logistic (``i_0``, ``alpha``).
2. **Weights**: pairs of neurons with ``W = +1`` and ``W = -1`` (analytic translation, see the
   network module); the log odds ratio of their joint states is the effective weight they
   realise, and its inverse rescales the translation (``gain_E``, ``gain_I``).
3. **SAL on two neurons** (Fig. 2d on LIF cells): both weights plastic from ``(w_12, w_21)``
   (effective units) under ``sal_synapse`` (all pairs, exponential window +-1, ``tau =
   tau_refrac``; ``eta`` in effective units); the trajectory is reported in effective units.
4. **A 5-neuron sampler**: random symmetric ``W`` and ``b`` (``sampling_seed``) on LIF cells and
   on the abstract ``sampling_neuron`` (``convention``), each against the Boltzmann target
   (``D_KL`` in nats).

The calibration is written to ``calibration.json`` (with its parameters and measured points);
``--set calibration=<file>`` reuses one instead of measuring again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from salpynn.config import ConfigError, check_choices, check_range, param
from salpynn.experiments import Experiment, convention_param, report_steps
from salpynn.results import atomic_write_json, atomic_write_npz, read_json, run_record
from salpynn.rule import RuleConfig

__all__ = ["EXPERIMENT", "LIFSamplingConfig", "run"]


@dataclass(frozen=True)
class LIFSamplingConfig:
    """The LIF sampler, how to calibrate it and the two demonstrations."""

    background_rate: float = param(5000.0, "Hz", "Poisson background per neuron (E and I each)")
    background_weight: float = param(0.002, "uS", "background synaptic weight (E and I each)")
    calibration: str = param("", "", "calibration.json to reuse (empty: measure)")
    calibration_points: int = param(13, "", "offset currents of the activation function")
    calibration_span: float = param(1.2, "nA", "currents within +- this of the threshold guess")
    calibration_duration: float = param(10_000.0, "ms", "model time per calibration step")
    copies: int = param(8, "", "independent copies of every calibration point and pair")
    w_12: float = param(1.5, "", "initial effective weight 2 -> 1 of the SAL pair")
    w_21: float = param(0.5, "", "initial effective weight 1 -> 2 of the SAL pair")
    b_1: float = param(-0.5, "", "bias of neuron 1 of the SAL pair")
    b_2: float = param(-0.2, "", "bias of neuron 2 of the SAL pair")
    rule: RuleConfig = param(default_factory=lambda: RuleConfig(eta=0.002, pairing="all"))
    sal_duration: float = param(300_000.0, "ms", "model time of the SAL pair")
    n_reports: int = param(60, "", "weight read-outs of the SAL pair")
    n_sampling: int = param(5, "", "neurons of the sampler")
    sampling_scale: float = param(0.5, "", "standard deviation of the sampler's W and b")
    sampling_duration: float = param(200_000.0, "ms", "model time of each sampler")
    sampling_seed: int = param(5, "", "seed of the sampler's W and b")
    convention: Literal["authors", "reversible", "marginals"] = convention_param("authors")
    resolution: float = param(0.1, "ms", "time step")
    seed: int = param(21, "", "simulator seed")
    backend: Literal["nest"] = param("nest", "", "PyNN simulator (NEST: signed weights)")

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid parameter."""
        check_range("background_rate", self.background_rate, 0.0, 1e5, low_open=True)
        check_range("background_weight", self.background_weight, 0.0, 1.0, low_open=True)
        check_range("calibration_points", self.calibration_points, 4, 200)
        check_range("calibration_span", self.calibration_span, 0.0, 100.0, low_open=True)
        check_range("calibration_duration", self.calibration_duration, 100.0, 1e7)
        check_range("copies", self.copies, 2, 1000)
        for name in ("w_12", "w_21", "b_1", "b_2"):
            check_range(name, getattr(self, name), -5.0, 5.0)
        check_range("rule.eta", self.rule.eta, 0.0, 1.0, low_open=True)
        check_range("sal_duration", self.sal_duration, 1.0, 1e9)
        check_range("n_reports", self.n_reports, 1, 100_000)
        check_range("n_sampling", self.n_sampling, 2, 10)
        check_range("sampling_scale", self.sampling_scale, 0.0, 5.0)
        check_range("sampling_duration", self.sampling_duration, 100.0, 1e9)
        check_range("resolution", self.resolution, 0.0, 1.0, low_open=True)
        for name in ("seed", "sampling_seed"):
            check_range(name, getattr(self, name), 1, 2**31 - 1)
        check_choices(self)
        if self.calibration and not Path(self.calibration).is_file():
            raise ConfigError(f"calibration: no such file {self.calibration!r}")

    def network_parameters(self) -> Any:
        from salpynn.networks.lif_sampling import LIFSamplingParameters

        return LIFSamplingParameters(
            background_rate=self.background_rate,
            background_weight=self.background_weight,
            delay=self.resolution,
        )

    def sampler(self) -> tuple[np.ndarray, np.ndarray]:
        """The sampler's symmetric ``W`` (zero diagonal) and ``b``, from ``sampling_seed``."""
        rng = np.random.default_rng(self.sampling_seed)
        n = self.n_sampling
        w = np.triu(rng.normal(0.0, self.sampling_scale, (n, n)), 1)
        return w + w.T, rng.normal(0.0, self.sampling_scale, n)


def _setup(config: LIFSamplingConfig, offset: int) -> Any:
    from salpynn.pynn import load_backend

    backend = load_backend(config.backend)
    backend.setup(timestep=config.resolution, seed=config.seed + offset)
    return backend


def _on_fraction(trains: list[np.ndarray], tau_ref: float, duration: float) -> np.ndarray:
    return np.array([len(t) for t in trains]) * tau_ref / duration


def _log_odds(trains: list[np.ndarray], tau_ref: float, duration: float) -> float:
    """Effective coupling of a pair from its joint states: ``ln(p11 p00 / (p10 p01))``."""
    from salpynn.analysis.states import binary_states, sampled_distribution

    z = binary_states(trains, tau_ref, t_start=10 * tau_ref, t_stop=duration)
    p = np.maximum(sampled_distribution(z), 1e-12)
    return float(np.log(p[0] * p[3] / (p[1] * p[2])))


def calibrate(config: LIFSamplingConfig, progress: bool = True) -> Any:
    """Steps 1 and 2 of the module docstring: the :class:`Calibration`."""
    from salpynn.networks.lif_sampling import Calibration, LIFNetwork, fit_logistic

    params = config.network_parameters()
    g_l, g_e, g_i = params.mean_conductances()
    c = params.cell
    guess = (g_l + g_e + g_i) * c["v_thresh"] - (
        g_l * c["v_rest"] + g_e * c["e_rev_E"] + g_i * c["e_rev_I"]
    )
    currents = guess + np.linspace(-1, 1, config.calibration_points) * config.calibration_span
    backend = _setup(config, 0)
    net = LIFNetwork(backend, params, np.repeat(currents, config.copies)).build()
    backend.sim.run(config.calibration_duration)
    p_on = _on_fraction(net.spike_times(), params.tau_ref, config.calibration_duration)
    p_on = p_on.reshape(-1, config.copies).mean(axis=1)
    backend.sim.end()
    samples = config.copies * config.calibration_duration / params.tau_ref
    i_0, alpha = fit_logistic(currents, p_on, np.full(currents.size, samples))
    cal = Calibration(params, i_0, alpha, tuple(currents), tuple(p_on), config.calibration_duration)

    gains = []
    for offset, w in ((1, 1.0), (2, -1.0)):
        measured = _pair_log_odds(config, cal, w, offset)
        gains.append(abs(float(np.mean(measured))))
        if progress:
            print(f"lif-sampling: W = {w:+g} realises {np.mean(measured):+.3f} (analytic scale)")
    return Calibration(
        params, i_0, alpha, tuple(currents), tuple(p_on), config.calibration_duration, *gains
    )


def _pair_log_odds(config: LIFSamplingConfig, cal: Any, w: float, offset: int) -> np.ndarray:
    """Effective weight of ``copies`` pairs with Boltzmann weight ``w`` and biases 0."""
    from salpynn.networks.lif_sampling import LIFNetwork

    copies = config.copies
    backend = _setup(config, offset)
    g = cal.to_synaptic(np.array([[0.0, w], [w, 0.0]]))
    net = LIFNetwork(
        backend,
        cal.params,
        np.tile(cal.current(np.zeros(2)), copies),
        np.kron(np.eye(copies), g),
        mask=np.kron(np.eye(copies), np.ones((2, 2))),
    ).build()
    backend.sim.run(config.calibration_duration * 2)
    trains = net.spike_times()
    backend.sim.end()
    duration = config.calibration_duration * 2
    return np.array(
        [_log_odds(trains[2 * r : 2 * r + 2], cal.params.tau_ref, duration) for r in range(copies)]
    )


def sal_pair(config: LIFSamplingConfig, cal: Any, progress: bool = True) -> dict[str, Any]:
    """Step 3: the SAL trajectory of two LIF neurons in effective units."""
    from tqdm import tqdm

    from salpynn.networks.lif_sampling import LIFNetwork

    k_e, _ = cal.scales()
    tau = cal.params.tau_ref
    rule = config.rule.resolve(tau, config.resolution, config.resolution, "nest")
    rule = rule.with_(eta=rule.eta * k_e)  # effective units -> uS (excitatory scale)
    backend = _setup(config, 3)
    w0 = np.array([[0.0, config.w_12], [config.w_21, 0.0]])
    net = LIFNetwork(
        backend,
        cal.params,
        cal.current([config.b_1, config.b_2]),
        cal.to_synaptic(w0),
        rule=rule,
    ).build()
    bounds = report_steps(config.sal_duration, config.resolution, config.n_reports)
    times, w_12, w_21 = [0.0], [config.w_12], [config.w_21]
    start = time.perf_counter()
    bar = tqdm(total=config.n_reports, desc="lif SAL pair", unit="chunk", disable=not progress)
    with bar:
        for i in range(config.n_reports):
            backend.sim.run((bounds[i + 1] - bounds[i]) * config.resolution)
            eff = cal.to_effective(net.weights())
            times.append(bounds[i + 1] * config.resolution)
            w_12.append(float(eff[0, 1]))
            w_21.append(float(eff[1, 0]))
            bar.update()
    wall = time.perf_counter() - start
    backend.sim.end()
    return {
        "times": np.array(times),
        "w_12": np.array(w_12),
        "w_21": np.array(w_21),
        "wall": wall,
    }


def sampler(config: LIFSamplingConfig, cal: Any) -> dict[str, np.ndarray]:
    """Step 4: the sampled distributions of the LIF and the abstract network and the target."""
    from salpynn.analysis.states import (
        binary_states,
        boltzmann_distribution,
        sampled_distribution,
    )
    from salpynn.networks.lif_sampling import LIFNetwork
    from salpynn.networks.sampling import SamplingNetwork, SamplingNetworkParameters

    w, b = config.sampler()
    tau = cal.params.tau_ref
    backend = _setup(config, 4)
    lif = LIFNetwork(backend, cal.params, cal.current(b), cal.to_synaptic(w)).build()
    backend.sim.run(config.sampling_duration)
    trains = lif.spike_times()
    backend.sim.end()
    z_lif = binary_states(trains, tau, t_start=10 * tau, t_stop=config.sampling_duration)

    backend = _setup(config, 5)
    abstract = SamplingNetwork(
        backend,
        SamplingNetworkParameters(
            w, b, tau_ref=tau, delay=config.resolution, convention=config.convention
        ),
    ).build()
    backend.sim.run(config.sampling_duration)
    trains = abstract.spike_times()
    backend.sim.end()
    z_abs = binary_states(trains, tau, t_start=10 * tau, t_stop=config.sampling_duration)
    return {
        "target": boltzmann_distribution(w, b),
        "lif": sampled_distribution(z_lif),
        "abstract": sampled_distribution(z_abs),
        "w": w,
        "b": b,
    }


def run(config: LIFSamplingConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """All four steps; writes ``calibration.json``, ``lif-sampling.npz``, ``summary.json``
    and ``lif-sampling.png`` into ``out``."""
    from salpynn.analysis.states import kl_divergence
    from salpynn.networks.lif_sampling import Calibration

    config.validate()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if config.calibration:
        cal = Calibration.from_record(read_json(config.calibration))
    else:
        cal = calibrate(config, progress)
    atomic_write_json(out / "calibration.json", cal.record())
    pair = sal_pair(config, cal, progress)
    dist = sampler(config, cal)
    atomic_write_npz(
        out / "lif-sampling.npz",
        times=pair["times"],
        w_12=pair["w_12"],
        w_21=pair["w_21"],
        **{f"p_{k}": v for k, v in dist.items()},
    )
    late = slice(len(pair["times"]) // 2, None)
    diff = pair["w_12"] - pair["w_21"]
    total = pair["w_12"] + pair["w_21"]
    summary = {
        "experiment": "lif-sampling",
        "calibration": cal.record(),
        "w_12_initial": config.w_12,
        "w_21_initial": config.w_21,
        "w_12_final": float(pair["w_12"][-1]),
        "w_21_final": float(pair["w_21"][-1]),
        "asymmetry_initial": float(abs(diff[0])),
        "asymmetry_late_mean": float(np.mean(diff[late])),
        "asymmetry_late_sem": float(np.std(diff[late], ddof=1) / np.sqrt(diff[late].size)),
        "sum_drift": float(total[-1] - total[0]),
        "dkl_lif": kl_divergence(dist["target"], dist["lif"]),
        "dkl_abstract": kl_divergence(dist["target"], dist["abstract"]),
        "sal_wall_s": round(pair["wall"], 2),
        "wall_time_s": round(time.perf_counter() - start, 2),
        **run_record(config),
    }
    plot_lif_sampling(cal, pair, dist, summary, out / "lif-sampling.png")
    atomic_write_json(out / "summary.json", summary)
    return summary


def plot_lif_sampling(
    cal: Any, pair: dict[str, Any], dist: dict[str, np.ndarray], summary: dict, path: Path
) -> Path:
    """Activation function and fit; SAL trajectory in effective units; distributions."""
    from scipy.special import expit

    from salpynn.analysis.plots import pyplot, save_png

    fig, (act, traj, bars) = pyplot().subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    i = np.asarray(cal.currents)
    act.plot(i, cal.p_on, "o", label="measured")
    fine = np.linspace(i.min(), i.max(), 200)
    act.plot(fine, expit((fine - cal.i_0) / cal.alpha), label="logistic fit")
    act.set_xlabel("offset current (nA)")
    act.set_ylabel(r"$p_\mathrm{on}$ = rate $\tau_\mathrm{ref}$")
    act.set_title(f"activation: i_0 = {cal.i_0:.3f} nA, alpha = {cal.alpha:.3f} nA", fontsize=9)
    act.legend(fontsize=7, frameon=False)
    t = pair["times"] / 1000.0
    traj.plot(t, pair["w_12"], label=r"$W_{12}$ (2 $\to$ 1)")
    traj.plot(t, pair["w_21"], label=r"$W_{21}$ (1 $\to$ 2)")
    traj.set_xlabel("model time (s)")
    traj.set_ylabel("effective weight")
    traj.set_title("SAL on two IF_cond_exp cells", fontsize=9)
    traj.legend(fontsize=7, frameon=False)
    x = np.arange(dist["target"].size)
    for k, (key, label) in enumerate(
        (
            ("target", "Boltzmann target"),
            ("lif", f"LIF, D_KL {summary['dkl_lif']:.3f}"),
            ("abstract", f"sampling_neuron, D_KL {summary['dkl_abstract']:.3f}"),
        )
    ):
        bars.bar(x + (k - 1) * 0.27, dist[key], width=0.27, label=label)
    bars.set_xlabel("state (index)")
    bars.set_ylabel("probability")
    bars.legend(fontsize=7, frameon=False)
    return save_png(fig, path)


def _announce(config: LIFSamplingConfig, out: Path) -> str:
    return (
        f"lif-sampling: calibration {'from ' + config.calibration if config.calibration else ''}"
        f"{'' if config.calibration else 'measured'}, SAL pair {config.sal_duration / 1000:g} s, "
        f"{config.n_sampling}-neuron sampler {config.sampling_duration / 1000:g} s -> {out}"
    )


def _report(summary: dict[str, Any]) -> list[str]:
    cal = summary["calibration"]
    return [
        f"activation: i_0 = {cal['i_0_nA']:.3f} nA, alpha = {cal['alpha_nA']:.3f} nA; "
        f"weight gains E {cal['gain_E']:.3f}, I {cal['gain_I']:.3f}",
        f"SAL pair (effective): ({summary['w_12_initial']:.3f}, {summary['w_21_initial']:.3f}) -> "
        f"({summary['w_12_final']:.3f}, {summary['w_21_final']:.3f}), late asymmetry "
        f"{summary['asymmetry_late_mean']:+.3f} +- {summary['asymmetry_late_sem']:.3f}",
        f"sampler D_KL: LIF {summary['dkl_lif']:.4f}, sampling_neuron "
        f"{summary['dkl_abstract']:.4f}",
    ]


EXPERIMENT = Experiment(
    name="lif-sampling",
    description="LIF sampling on standard IF_cond_exp cells: calibration, SAL pair, sampler",
    config=LIFSamplingConfig,
    run=run,
    outputs=("summary.json", "calibration.json", "lif-sampling.npz", "lif-sampling.png"),
    announce=_announce,
    report=_report,
)
