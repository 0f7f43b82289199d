"""Figures of the sampling experiment: learning curves of one run, and the paper's Figs. 4-5
(median and interquartile range over seeds, per condition, and against the noise level)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from salpynn.analysis.plots import pyplot, save_png
from salpynn.results import atomic_write_csv, read_json

__all__ = [
    "ACCEPTANCE",
    "SamplingRun",
    "acceptance",
    "final_table",
    "plot_conditions",
    "plot_noise_levels",
    "plot_run",
    "plot_sampling_figures",
    "switched_off_synapses",
]

#: Colours per condition kind, fixed so that every figure uses the same ones.
KIND_COLOURS = {
    "no noise": "0.2",
    "Hebbian only": "tab:red",
    "SAL": "tab:blue",
    "KP": "tab:green",
    "SAL + KP": "tab:purple",
}


def _band(ax: Any, x: NDArray[np.float64], rows: NDArray[np.float64], **style: Any) -> None:
    """Median line and interquartile band over the rows (seeds)."""
    q25, q50, q75 = np.nanpercentile(rows, [25, 50, 75], axis=0)
    (line,) = ax.plot(x, q50, **style)
    ax.fill_between(x, q25, q75, color=line.get_color(), alpha=0.2, lw=0)


def plot_run(
    path: Path,
    summary: dict[str, Any],
    asymmetry: NDArray[np.float64],
    validation_iterations: NDArray[np.int64],
    dkl_validation: NDArray[np.float64],
) -> Path:
    """D_KL and Var(W_ij - W_ji) against iterations for one run (median and IQR over seeds)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), constrained_layout=True)
    _band(axes[0], np.asarray(validation_iterations), dkl_validation, marker="o", ms=3)
    axes[0].set_ylabel("$D_{KL}$(target || sampled)")
    iterations = np.arange(asymmetry.shape[1])
    _band(axes[1], iterations, np.maximum(asymmetry, 1e-12))
    axes[1].set_ylabel("Var($W_{ij} - W_{ji}$)")
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.set_yscale("log")
    fig.suptitle(f"{summary['condition']} ({len(summary['seeds'])} seeds)", fontsize=10)
    return save_png(fig, path)


class SamplingRun:
    """A finished sampling run folder: its summary and metrics."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.summary = read_json(self.folder / "summary.json")
        with np.load(self.folder / "metrics.npz") as data:
            self.asymmetry = data["asymmetry"]
            self.validation_iterations = data["validation_iterations"]
            self.dkl_validation = data["dkl_validation"]

    @property
    def noise(self) -> str:
        return str(self.summary["noise"])

    @property
    def sigma(self) -> float:
        return float(self.summary["sigma"]) if self.noise != "none" else 0.0

    @property
    def kind(self) -> str:
        """``no noise``, ``Hebbian only``, ``SAL``, ``KP`` or ``SAL + KP``."""
        sal, kp = self.summary["sal"], self.summary["kolen_pollack"]
        if (self.noise == "none" or self.sigma == 0) and not sal and not kp:
            return "no noise"  # for plasticity noise: its baseline, sigma_init 0.2 and sigma 0
        rules = [name for name, on in (("SAL", sal), ("KP", kp)) if on]
        return " + ".join(rules) if rules else "Hebbian only"


def baseline_runs(runs: Sequence[SamplingRun], noise: str) -> list[SamplingRun]:
    """The runs a noise scenario is compared with: its own noise-free baseline (plasticity
    noise: sigma 0 with sigma_init 0.2) if present, else the noise-free runs (``noise=none``);
    never another scenario's baseline."""
    own = [r for r in runs if r.kind == "no noise" and r.noise == noise]
    return own or [r for r in runs if r.noise == "none" and r.kind == "no noise"]


def plot_conditions(path: Path, runs: Sequence[SamplingRun], noise: str, sigma: float) -> Path:
    """Fig. 4/5 (left): D_KL and Var(W_ij - W_ji) against iterations, per condition, at one
    noise level, with the no-noise baseline."""
    plt = pyplot()
    # The figure's own baseline (plasticity noise: sigma 0 with sigma_init 0.2) if there is
    # one, else the noise-free run.
    chosen = baseline_runs(runs, noise)
    chosen += [r for r in runs if r.noise == noise and np.isclose(r.sigma, sigma)]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    for run in chosen:
        colour = KIND_COLOURS.get(run.kind)
        _band(axes[0], run.validation_iterations, run.dkl_validation, color=colour, label=run.kind)
        x = np.arange(run.asymmetry.shape[1])
        _band(axes[1], x, np.maximum(run.asymmetry, 1e-12), color=colour, label=run.kind)
    axes[0].set_ylabel("$D_{KL}$(target || sampled)")
    axes[1].set_ylabel("Var($W_{ij} - W_{ji}$)")
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    seeds = min((len(r.summary["seeds"]) for r in chosen), default=0)
    title = f"{noise} noise, sigma = {sigma:g} (median and IQR over {seeds} seeds)"
    fig.suptitle(title, fontsize=10)
    return save_png(fig, path)


def plot_noise_levels(path: Path, runs: Sequence[SamplingRun], noise: str) -> Path:
    """Fig. 4/5 (right): final D_KL and Var(W_ij - W_ji) against the noise level."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    baseline = baseline_runs(runs, noise)
    noisy = [r for r in runs if r.noise == noise and r.kind != "no noise"]
    for kind in dict.fromkeys(r.kind for r in noisy):
        group = sorted((r for r in noisy if r.kind == kind), key=lambda r: r.sigma)
        sigmas = np.array([r.sigma for r in group])
        for ax, values in (
            (axes[0], [r.dkl_validation[:, -1] for r in group]),
            (axes[1], [r.asymmetry[:, -1] for r in group]),
        ):
            q = np.array([np.percentile(v, [25, 50, 75]) for v in values])
            ax.errorbar(
                sigmas,
                q[:, 1],
                yerr=[q[:, 1] - q[:, 0], q[:, 2] - q[:, 1]],
                marker="o",
                capsize=3,
                color=KIND_COLOURS.get(kind),
                label=kind,
            )
    for run in baseline:
        level = np.median(run.dkl_validation[:, -1])
        axes[0].axhline(level, color="0.4", ls="--", label="no noise")
    axes[0].set_ylabel("final $D_{KL}$")
    axes[1].set_ylabel("final Var($W_{ij} - W_{ji}$)")
    for ax in axes:
        ax.set_xlabel(f"{noise} noise sigma")
        ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    return save_png(fig, path)


#: The sampling-network acceptance criteria at one noise level: (name, threshold, relation,
#: numerator, denominator); numerator and denominator are (condition, quantity) pairs whose
#: median final values are compared (condition ``baseline``, ``hebbian`` or ``sal``;
#: quantity ``dkl`` or ``asymmetry``).
ACCEPTANCE = (
    (
        "Var(W_ij - W_ji) w/o SAL / with SAL",
        100.0,
        ">=",
        ("hebbian", "asymmetry"),
        ("sal", "asymmetry"),
    ),
    ("D_KL with SAL / noise-free", 1.5, "<=", ("sal", "dkl"), ("baseline", "dkl")),
    ("D_KL w/o SAL / noise-free", 1.5, ">=", ("hebbian", "dkl"), ("baseline", "dkl")),
)


def _median_final(run: SamplingRun) -> dict[str, float]:
    return {
        "dkl": float(np.median(run.dkl_validation[:, -1])),
        "asymmetry": float(np.median(run.asymmetry[:, -1])),
    }


def acceptance(runs: Sequence[SamplingRun], noise: str, sigma: float) -> list[dict[str, Any]]:
    """The acceptance criteria of one noise scenario at level ``sigma``, from medians over
    seeds of the final values: ``Var`` without SAL at least 100x that with SAL, final D_KL with
    SAL within 1.5x of the scenario's noise-free baseline, without SAL at least 1.5x above it.
    The baseline is the scenario's own (plasticity noise: sigma 0 with sigma_init 0.2) if
    present, else the noise-free run.  A criterion is reported when both conditions it compares
    are among ``runs`` (a sweep of the baseline and SAL alone decides the second).  Rows:
    criterion, value, threshold, met, and the seeds of the two conditions compared."""
    at = [r for r in runs if r.noise == noise and np.isclose(r.sigma, sigma)]
    candidates = {
        "baseline": baseline_runs(runs, noise),
        "hebbian": [r for r in at if r.kind == "Hebbian only"],
        "sal": [r for r in at if r.kind == "SAL"],
    }
    chosen = {name: found[0] for name, found in candidates.items() if found}
    final = {name: _median_final(run) for name, run in chosen.items()}
    rows = []
    for name, threshold, relation, (top, top_value), (bottom, bottom_value) in ACCEPTANCE:
        if top not in chosen or bottom not in chosen:
            continue
        value = final[top][top_value] / final[bottom][bottom_value]
        met = value >= threshold if relation == ">=" else value <= threshold
        rows.append(
            {
                "noise": noise,
                "sigma": sigma,
                "criterion": f"{name} {relation} {threshold:g}",
                "value": value,
                "met": bool(met),
                "seeds": min(len(chosen[k].summary["seeds"]) for k in (top, bottom)),
            }
        )
    return rows


def switched_off_synapses(
    gain: NDArray[np.float64], sal_amplitude: NDArray[np.float64], threshold: float = 0.05
) -> NDArray[np.bool_]:
    """Synapses that plasticity noise leaves unable to reach their target: ``gain[..., k, j]``
    (the Hebbian amplitude of ``j -> k``, data and model term) at most ``threshold``, and
    either its SAL amplitude or its partner's (``k -> j``) Hebbian amplitude at most
    ``threshold`` too.  Such a synapse cannot follow its data term, and SAL cannot carry it to
    a partner that learns.  Stacks ``(..., n, n)``; the diagonal is never counted."""
    gain = np.asarray(gain, dtype=float)
    sal_amplitude = np.asarray(sal_amplitude, dtype=float)
    n = gain.shape[-1]
    weak = gain <= threshold
    partner_weak = np.swapaxes(weak, -1, -2)
    return weak & ((sal_amplitude <= threshold) | partner_weak) & ~np.eye(n, dtype=bool)


def final_table(runs: Sequence[SamplingRun]) -> list[dict[str, Any]]:
    """One row per run: the condition and the median and IQR over seeds of the initial and
    final D_KL and Var(W_ij - W_ji)."""
    rows = []
    for run in sorted(runs, key=lambda r: (r.noise, r.sigma, r.kind)):
        row: dict[str, Any] = {
            "condition": run.folder.name.rsplit("-", 1)[0],
            "noise": run.noise,
            "sigma": run.sigma,
            "kind": run.kind,
            "seeds": len(run.summary["seeds"]),
            "iterations": int(run.asymmetry.shape[1] - 1),
        }
        for name, values in (
            ("dkl_initial", run.dkl_validation[:, 0]),
            ("dkl_final", run.dkl_validation[:, -1]),
            ("asymmetry_initial", run.asymmetry[:, 0]),
            ("asymmetry_final", run.asymmetry[:, -1]),
        ):
            q25, q50, q75 = np.percentile(values, [25, 50, 75])
            row.update({name: q50, f"{name}_q25": q25, f"{name}_q75": q75})
        rows.append(row)
    return rows


def plot_sampling_figures(runs: Sequence[tuple[Path, dict[str, Any]]], out: Path) -> list[Path]:
    """Figs. 4 (synaptic noise) and 5 (plasticity noise) from finished sampling runs, and two
    tables: ``sampling-final.csv`` (:func:`final_table`) and, where a scenario has its
    baseline, Hebbian-only and SAL runs at sigma 0.8, ``sampling-acceptance.csv``
    (:func:`acceptance`)."""
    loaded = [SamplingRun(folder) for folder, _ in runs]
    paths = [atomic_write_csv(out / "sampling-final.csv", final_table(loaded))]
    checks = [row for noise in ("synaptic", "plasticity") for row in acceptance(loaded, noise, 0.8)]
    if checks:
        paths.append(atomic_write_csv(out / "sampling-acceptance.csv", checks))
    for figure, noise in (("fig4", "synaptic"), ("fig5", "plasticity")):
        noisy = [r for r in loaded if r.noise == noise]
        if not noisy:
            continue
        sigmas = sorted({r.sigma for r in noisy})
        sigma = 0.8 if any(np.isclose(s, 0.8) for s in sigmas) else sigmas[-1]
        paths.append(plot_conditions(out / f"{figure}-{noise}-curves.png", loaded, noise, sigma))
        if len(sigmas) > 1:
            paths.append(plot_noise_levels(out / f"{figure}-{noise}-levels.png", loaded, noise))
    return paths
