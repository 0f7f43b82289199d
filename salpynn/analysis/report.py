"""The report behind ``salpynn analyse``: rates, correlations, predicted SAL drift and sampling
quality of a recording.

:func:`analyse` loads a recording (:func:`salpynn.analysis.load_recording`) and writes
``analysis.json`` and PNG figures into the output folder (default: ``analysis/`` next to the
recording):

- firing rates and the correlation-coefficient matrix of spike counts in bins of ``tau_ref``;
- if a recurrent weight matrix ``"W"`` is stored: the SAL drift of every reciprocal weight
  predicted from the spikes alone, the predicted asymmetry ``D - D^T`` and its correlation
  with the true ``W - W^T`` (negative under SAL: the drift opposes the asymmetry), and the
  STDD of the most asymmetric pair;
- if ``N <= 20`` and weights ``"W"`` and biases ``"b"`` are stored: the sampled state
  distribution and ``D_KL(target || sampled)``, the target being the Boltzmann distribution
  of ``"W_target"``/``"b_target"`` if stored, else of the symmetric part of ``W`` and ``b``.

Weights that changed during the recording enter as their mean over the stored snapshots.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from salpynn.analysis.alignment import asymmetry_variance
from salpynn.analysis.correlations import (
    asymmetry_correlation,
    correlation_matrix,
    drift_asymmetry,
    predicted_drift_matrix,
    reciprocal_pairs,
    stdd,
)
from salpynn.analysis.recording import Recording, load_recording
from salpynn.analysis.spiketrains import firing_rates
from salpynn.analysis.states import (
    MAX_JOINT_NEURONS,
    binary_states,
    boltzmann_distribution,
    distribution_moments,
    kl_divergence,
    marginals,
    sampled_distribution,
)
from salpynn.results import atomic_write_json, provenance
from salpynn.rule import PAIRINGS, WINDOWS, PairRule

__all__ = ["analyse", "summary_lines"]

#: Correlation matrices of at most this many neurons are written into analysis.json.
MAX_MATRIX_NEURONS = 50


def _tau_ref(recording: Recording, tau_ref: float | None) -> float:
    if tau_ref is None:
        tau_ref = recording.config.get("tau_ref", recording.metadata.get("tau_ref"))
    if tau_ref is None:
        raise ValueError("tau_ref is not in the recording's configuration: pass --tau-ref MS")
    tau_ref = float(tau_ref)
    if not (math.isfinite(tau_ref) and tau_ref > 0):
        raise ValueError(f"tau_ref must be > 0 ms, got {tau_ref}")
    return tau_ref


def _rule(config: dict[str, Any], tau_ref: float) -> PairRule:
    """SAL with the recording's window and pairing (its configuration's ``rule`` block, or
    flat keys in older recordings), ``eta = 1`` (drift per unit rate)."""
    block = config.get("rule") if isinstance(config.get("rule"), dict) else config
    window = block.get("window", "exp")
    pairing = block.get("pairing", "nearest")
    return PairRule.sal(
        tau=tau_ref,
        eta=1.0,
        window=window if window in WINDOWS else "exp",
        pairing=pairing if pairing in PAIRINGS else "nearest",
    )


def _upper_triangle(matrix: np.ndarray) -> np.ndarray:
    values = matrix[np.triu_indices(matrix.shape[0], k=1)]
    return values[np.isfinite(values)]


def _asymmetry_section(
    recording: Recording,
    weights: np.ndarray,
    rule: PairRule,
    delay: float,
    max_pairs: int,
    out: Path,
) -> dict[str, Any]:
    from salpynn.analysis.plots import plot_asymmetry, plot_stdd

    trains = recording.spiketrains
    pairs = reciprocal_pairs(weights)
    if len(pairs) > max_pairs:
        chosen = np.random.default_rng(0).choice(len(pairs), size=max_pairs, replace=False)
        pairs = [pairs[i] for i in np.sort(chosen)]
    mask = np.zeros(weights.shape, dtype=bool)
    for i, j in pairs:
        mask[i, j] = mask[j, i] = True
    drift = predicted_drift_matrix(
        trains,
        rule,
        connections=mask,
        delay=delay,
        t_start=recording.t_start,
        t_stop=recording.t_stop,
    )
    predicted = drift_asymmetry(drift)
    true = weights - weights.T
    rows, cols = np.nonzero(np.triu(mask, k=1))
    nonzero = true[rows, cols] != 0
    opposes = np.sign(predicted[rows, cols]) == -np.sign(true[rows, cols])
    section: dict[str, Any] = {
        "rule": {"window": rule.window, "pairing": rule.pairing, "tau_ms": rule.tau_causal},
        "delay_ms": delay,
        "n_reciprocal_pairs": len(pairs),
        "asymmetry_variance": asymmetry_variance(weights) if weights.shape[0] > 1 else None,
        "asymmetry_correlation": asymmetry_correlation(predicted, weights),
        "fraction_drift_opposes_asymmetry": (
            float(np.mean(opposes[nonzero])) if nonzero.any() else None
        ),
        "convention": "predicted asymmetry D[k,j] - D[j,k] (drift per unit eta, 1/s); "
        "under SAL its sign is opposite to W[k,j] - W[j,k]",
    }
    if weights.shape[0] <= MAX_MATRIX_NEURONS:
        section["predicted_asymmetry"] = predicted
    plots = []
    if len(pairs) >= 1:
        plots.append(plot_asymmetry(predicted, weights, out / "asymmetry.png").name)
        k, j = max(pairs, key=lambda p: abs(true[p]))
        # Lags t_k - t_j: for the connection j -> k these are t_post - t_pre.
        counts, lags = stdd(
            trains[j], trains[k], bin_size=rule.tau_causal / 10.0, max_lag=5.0 * rule.tau_causal
        )
        title = (
            f"{j} → {k}: W[{k},{j}] = {weights[k, j]:.3g} (window shown), "
            f"W[{j},{k}] = {weights[j, k]:.3g}"
        )
        plots.append(plot_stdd(counts, lags, out / "stdd.png", (j, k), rule, title).name)
        section["stdd_pair"] = [j, k]
    section["plots"] = plots
    return section


def _sampling_section(
    recording: Recording,
    weights: np.ndarray,
    biases: np.ndarray,
    tau_ref: float,
    epsilon: float,
    out: Path,
) -> dict[str, Any]:
    from salpynn.analysis.plots import plot_distributions

    stored_w = recording.weights
    stored_b = recording.biases
    if "W_target" in stored_w and "b_target" in stored_b:
        target_w, target_b = stored_w["W_target"].mean, stored_b["b_target"].mean
        source = "Boltzmann distribution of the stored W_target, b_target"
    else:
        target_w = 0.5 * (weights + weights.T)
        np.fill_diagonal(target_w, 0.0)
        target_b = biases
        source = "Boltzmann distribution of the symmetric part of W, and b"
    states = binary_states(recording.spiketrains, tau_ref, recording.t_start, recording.t_stop)
    p_sampled = sampled_distribution(states)
    p_target = boltzmann_distribution(target_w, target_b)
    kl = kl_divergence(p_target, p_sampled, epsilon)
    target_marginals, _ = distribution_moments(p_target)
    plot = plot_distributions(p_target, p_sampled, out / "distributions.png", kl=kl)
    return {
        "target": source,
        "n_samples": int(states.shape[0]),
        "read_out_interval_ms": tau_ref / 2.0,
        "kl_divergence_nats": kl,
        "epsilon": epsilon,
        "marginals_sampled": marginals(states),
        "marginals_target": target_marginals,
        "state_index": "sum_k z_k 2**k (neuron 0 is the least significant bit)",
        "plots": [plot.name],
    }


def analyse(
    path: str | Path,
    out: str | Path | None = None,
    tau_ref: float | None = None,
    epsilon: float = 1e-10,
    max_pairs: int = 2000,
) -> dict[str, Any]:
    """Analyse one recording and write ``analysis.json`` and PNG figures.

    Parameters
    ----------
    path : str or pathlib.Path
        Recording ``.nix`` file or run folder.
    out : str or pathlib.Path, optional
        Output folder; default ``analysis/`` beside the recording file.
    tau_ref : float, optional
        Refractory time in ms; default from the recording's configuration.
    epsilon : float
        Pseudo-probability for unvisited states (:func:`salpynn.analysis.kl_divergence`).
    max_pairs : int
        Most reciprocal pairs used for the drift prediction.

    Returns
    -------
    dict
        The content of ``analysis.json``.

    Raises
    ------
    FileNotFoundError
        If there is no recording at ``path``.
    ValueError
        If ``tau_ref`` is unknown or invalid.

    Examples
    --------
    >>> import tempfile
    >>> from salpynn.analysis import write_recording
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = write_recording(folder, [[5.0, 60.0], [8.0, 65.0]], t_stop=100.0)
    ...     result = analyse(folder, tau_ref=10.0)
    ...     result["n_neurons"], result["plots"]
    (2, ['stdd.png'])
    """
    from salpynn.analysis.plots import plot_stdd

    recording = load_recording(path)
    assert recording.path is not None
    out = Path(out) if out is not None else recording.path.parent / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    tau = _tau_ref(recording, tau_ref)
    trains = recording.spiketrains
    n = len(trains)
    start, stop = recording.t_start, recording.t_stop
    rates = firing_rates(trains, start, stop).magnitude
    result: dict[str, Any] = {
        "source": str(recording.path),
        "recording_config_hash": recording.metadata.get("config_hash"),
        "recording_seeds": recording.seeds,
        "n_neurons": n,
        "duration_s": float((stop - start).rescale("s").magnitude),
        "tau_ref_ms": tau,
        "rates_hz": rates,
        "mean_rate_hz": float(rates.mean()) if n else math.nan,
    }
    if n >= 2:
        corr = correlation_matrix(trains, tau, start, stop)
        values = _upper_triangle(corr)
        result["correlation"] = {
            "bin_size_ms": tau,
            "mean_offdiagonal": float(values.mean()) if values.size else math.nan,
            "std_offdiagonal": float(values.std()) if values.size else math.nan,
            "expected_std_if_independent": 1.0 / math.sqrt((stop - start).magnitude / tau),
        }
        if n <= MAX_MATRIX_NEURONS:
            result["correlation"]["matrix"] = corr
    plots: list[str] = []
    weights = recording.weights.get("W")
    biases = recording.biases.get("b")
    rule = _rule(recording.config, tau)
    delay = recording.config.get("delay", 0.0)
    delay = float(delay) if isinstance(delay, (int, float)) else 0.0
    if weights is not None and weights.mean.shape == (n, n):
        section = _asymmetry_section(recording, weights.mean, rule, delay, max_pairs, out)
        section["weights_used"] = f"mean of {weights.times.size} snapshot(s) of W"
        plots += section.pop("plots")
        result["asymmetry"] = section
    elif n >= 2:
        counts, lags = stdd(trains[0], trains[1], bin_size=tau / 10.0, max_lag=5.0 * tau)
        plots.append(plot_stdd(counts, lags, out / "stdd.png", (0, 1), rule).name)
    if weights is not None and biases is not None and 1 <= n <= MAX_JOINT_NEURONS:
        if weights.mean.shape == (n, n) and biases.mean.shape == (n,):
            section = _sampling_section(recording, weights.mean, biases.mean, tau, epsilon, out)
            plots += section.pop("plots")
            result["sampling"] = section
    result["plots"] = plots
    result["conventions"] = {
        "lag": "t_j - t_i for a pair (i, j); > 0 when i fires first",
        "weights": "W[k, j] is the weight of the connection j -> k (u = b + W z)",
    }
    result["provenance"] = provenance()
    atomic_write_json(out / "analysis.json", result)
    result["out"] = str(out)
    return result


def summary_lines(result: dict[str, Any]) -> list[str]:
    """What ``salpynn analyse`` prints about the result of :func:`analyse`."""
    lines = [
        f"{result['n_neurons']} neurons, {result['duration_s']:g} s, "
        f"mean rate {result['mean_rate_hz']:.2f} Hz, tau_ref {result['tau_ref_ms']:g} ms"
    ]
    if "correlation" in result:
        c = result["correlation"]
        lines.append(
            f"correlation (bins of {c['bin_size_ms']:g} ms): mean {c['mean_offdiagonal']:+.4f}, "
            f"sd {c['std_offdiagonal']:.4f} (independent: ~{c['expected_std_if_independent']:.4f})"
        )
    if "asymmetry" in result:
        a = result["asymmetry"]
        frac = a["fraction_drift_opposes_asymmetry"]
        lines.append(
            f"predicted SAL drift: {a['n_reciprocal_pairs']} reciprocal pairs, correlation with "
            f"W - W^T {a['asymmetry_correlation']:+.3f} (SAL: negative), drift opposes the "
            f"asymmetry in {'n/a' if frac is None else f'{100 * frac:.0f} %'} of pairs"
        )
    if "sampling" in result:
        s = result["sampling"]
        lines.append(
            f"sampling: D_KL(target || sampled) = {s['kl_divergence_nats']:.4f} nats "
            f"over {s['n_samples']} states read every {s['read_out_interval_ms']:g} ms"
        )
    lines.append(f"wrote {Path(result['out']) / 'analysis.json'} and {', '.join(result['plots'])}")
    return lines
