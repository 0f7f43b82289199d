"""Dendritic-prediction plasticity in NumPy: the reference for ``sampling_neuron``'s averages
and ``dendritic_prediction_synapse``.

The NEST mechanism (``mechanisms/sampling_neuron.h`` with ``avg_window > 0`` and
``mechanisms/dendritic_prediction_synapse.h``) implements the same step loop; the tests hold the
two together to rounding.  Conventions, all on NEST's grid of ``n_steps`` steps (step ``t`` ends
at ``t * h``):

- the basal input at step ``t`` is the sum of the rectangular PSPs running then: a spike of
  stamp ``s`` through a connection of delay ``d`` steps adds its weight *after* the update of
  that spike during steps ``s + d ... s + d + n_syn - 1``;
- ``u(t) = b + basal + lambda_apical * apical + lambda_nudge * (u_target - v_bar(t-1) - b)``;
- ``u_bar(t)``, ``v_bar(t)``: means of ``u`` and ``basal`` over steps ``t - N + 1 ... t`` (over
  ``1 ... t`` while ``t < N``);
- ``g(t) = gate * (p(u_bar(t)) - p(v_bar(t) + b))`` with the neuron's escape probability ``p``;
- a presynaptic spike of stamp ``s`` changes its weight by ``eta * g(s)`` (clipped to
  ``[w_min, w_max]``) before it is transmitted.

The postsynaptic neuron's own spikes do not enter (no recurrence onto the learning neuron), so
the trajectory is deterministic given the presynaptic spikes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["PredictionTrajectory", "escape_probability", "prediction_trajectory"]


def escape_probability(u: float, n_ref: int, escape: str = "logistic") -> float:
    """The spike probability per step of ``sampling_neuron`` at state ``u`` (``n_ref`` =
    tau_ref / h): ``sigma(u - ln n_ref)`` (logistic) or ``1 - exp(-exp(u) / n_ref)`` (exp)."""
    if escape == "logistic":
        x = u - math.log(n_ref)
        return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
    if escape == "exp":
        return -math.expm1(-math.exp(u) / n_ref)
    raise ValueError(f"escape must be 'logistic' or 'exp'; got {escape!r}")


@dataclass
class PredictionTrajectory:
    """What :func:`prediction_trajectory` computes: per step ``u``, the basal input ``v``,
    ``u_bar``, ``v_bar``, ``g``
    (index ``t - 1`` for step ``t``), the weight after each presynaptic spike (in the order of
    the spikes given) and the final weights."""

    u: NDArray[np.float64]
    v: NDArray[np.float64]
    u_bar: NDArray[np.float64]
    v_bar: NDArray[np.float64]
    g: NDArray[np.float64]
    spike_weights: NDArray[np.float64]
    weights: NDArray[np.float64]


def _per_step(value: float | ArrayLike, n_steps: int, name: str) -> NDArray[np.float64]:
    arr = np.broadcast_to(np.asarray(value, dtype=float), (n_steps,))
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def prediction_trajectory(
    n_steps: int,
    stamps: ArrayLike,
    synapse: ArrayLike,
    weights: ArrayLike,
    *,
    eta: float | ArrayLike,
    delay_steps: int | ArrayLike = 1,
    n_syn: int = 10,
    n_ref: int = 10,
    n_avg: int = 2000,
    b: float = 0.0,
    escape: str = "logistic",
    lambda_apical: float = 1.0,
    apical: float | ArrayLike = 0.0,
    lambda_nudge: float = 0.0,
    u_target: float | ArrayLike = 0.0,
    gate: float | ArrayLike = 1.0,
    weight_scale: float = 1.0,
    w_min: float = -math.inf,
    w_max: float = math.inf,
) -> PredictionTrajectory:
    """Step the neuron and its plastic basal synapses for ``n_steps`` steps.

    ``stamps`` (steps, 1-based) and ``synapse`` (index into ``weights``) list the presynaptic
    spikes; ``apical``, ``u_target`` and ``gate`` may be per-step arrays (index ``t - 1``), to
    model changes between ``Simulate`` calls.  ``eta`` and ``delay_steps`` may be per synapse.
    """
    if n_avg < 1 or n_syn < 1 or n_ref < 1:
        raise ValueError("n_avg, n_syn and n_ref must be >= 1")
    stamps = np.asarray(stamps, dtype=np.int64)
    synapse = np.asarray(synapse, dtype=np.int64)
    w = np.array(weights, dtype=float)
    eta = np.broadcast_to(np.asarray(eta, dtype=float), w.shape)
    delay = np.broadcast_to(np.asarray(delay_steps, dtype=np.int64), w.shape)
    apical = _per_step(apical, n_steps, "apical")
    u_target = _per_step(u_target, n_steps, "u_target")
    gate = _per_step(gate, n_steps, "gate")

    order = np.argsort(stamps, kind="stable")
    # Basal input in the neuron's order: PSPs that end leave, then the step's arrivals enter.
    arrive, end = np.zeros(n_steps + 2), np.zeros(n_steps + 2)
    n_arrive, n_end = np.zeros(n_steps + 2, dtype=np.int64), np.zeros(n_steps + 2, dtype=np.int64)
    running = 0
    out = {k: np.zeros(n_steps) for k in ("u", "v", "u_bar", "v_bar", "g")}
    spike_weights = np.zeros(len(stamps))
    u_ring, v_ring = np.zeros(n_avg), np.zeros(n_avg)
    pos = count = 0
    u_total = v_total = 0.0
    u_bar = v_bar = 0.0
    basal = 0.0
    k = 0
    for t in range(1, n_steps + 1):
        basal -= end[t]
        running -= n_end[t]
        if running == 0:
            basal = 0.0  # no rounding residue once every PSP has ended
        basal += arrive[t]
        running += n_arrive[t]
        nudge = lambda_nudge * (u_target[t - 1] - v_bar - b)
        u = b + basal + lambda_apical * apical[t - 1]
        if lambda_nudge != 0.0:
            u = u + nudge
        if count < n_avg:
            count += 1
            u_total += u
            v_total += basal
        else:
            u_total += u - u_ring[pos]
            v_total += basal - v_ring[pos]
        u_ring[pos], v_ring[pos] = u, basal
        pos += 1
        if pos == n_avg:
            pos = 0
            u_total = v_total = 0.0
            for i in range(n_avg):
                u_total += u_ring[i]
                v_total += v_ring[i]
        u_bar, v_bar = u_total / count, v_total / count
        g = 0.0
        if gate[t - 1] != 0.0:
            g = gate[t - 1] * (
                escape_probability(u_bar, n_ref, escape)
                - escape_probability(v_bar + b, n_ref, escape)
            )
        for name, value in (("u", u), ("v", basal), ("u_bar", u_bar), ("v_bar", v_bar), ("g", g)):
            out[name][t - 1] = value
        while k < len(order) and stamps[order[k]] == t:
            i = order[k]
            j = synapse[i]
            if eta[j] != 0.0:
                w[j] = min(max(w[j] + eta[j] * g, w_min), w_max)
            spike_weights[i] = w[j]
            start = t + delay[j]
            if start <= n_steps:
                arrive[start] += weight_scale * w[j]
                n_arrive[start] += 1
                stop = min(start + n_syn, n_steps + 1)
                end[stop] += weight_scale * w[j]
                n_end[stop] += 1
            k += 1
    return PredictionTrajectory(spike_weights=spike_weights, weights=w, **out)
