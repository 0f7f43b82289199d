"""Binary network states read off spike trains, and distributions over them.

Neural sampling (Buesing et al. 2011) identifies a neuron's binary state with its
refractoriness: ``z_k(t) = 1`` for ``t`` in ``[t_s, t_s + tau_ref)`` after each spike ``t_s``
of neuron ``k``, else 0.  Network states are read every ``tau_ref / 2``.

Bit order
---------
A state ``z = (z_0, ..., z_{N-1})`` has the index ``sum_k z_k 2**k``: neuron 0 is the least
significant bit.  With two neurons, index 1 is ``z = (1, 0)`` (only neuron 0 active) and
index 2 is ``z = (0, 1)``.  Every distribution over ``2**N`` states in this module uses that
order (:func:`all_states` lists the states in it).

Distributions are in nats (natural logarithm).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from salpynn.analysis.spiketrains import SpikeTrainLike, TimeLike, _span, spike_times_ms, time_ms
from salpynn.rule import SIMULTANEITY_EPS

FloatArray = NDArray[np.float64]

__all__ = [
    "MAX_JOINT_NEURONS",
    "all_states",
    "binary_states",
    "boltzmann_distribution",
    "coactivation",
    "coactivation_from_spikes",
    "distribution_moments",
    "kl_divergence",
    "marginals",
    "read_out_times",
    "sampled_distribution",
    "state_counts",
    "state_indices",
]

#: Largest network whose joint distribution (``2**N`` states) is enumerated.
MAX_JOINT_NEURONS = 20


def read_out_times(t_start: TimeLike, t_stop: TimeLike, tau_ref: TimeLike) -> NDArray[np.float64]:
    """Times at which network states are read: ``t_start + m * tau_ref / 2`` before ``t_stop``.

    Parameters
    ----------
    t_start, t_stop : quantities.Quantity or float
        Recording span (floats in ms).
    tau_ref : quantities.Quantity or float
        Refractory time (float in ms).

    Returns
    -------
    numpy.ndarray
        Read-out times in ms, ``t_start <= t < t_stop``.

    Raises
    ------
    ValueError
        If ``tau_ref <= 0`` or the span is empty.

    Examples
    --------
    >>> read_out_times(0.0, 20.0, 10.0).tolist()
    [0.0, 5.0, 10.0, 15.0]
    """
    start = time_ms(t_start, "t_start")
    stop = time_ms(t_stop, "t_stop")
    tau = time_ms(tau_ref, "tau_ref")
    if not tau > 0:
        raise ValueError(f"tau_ref must be > 0 ms, got {tau}")
    if not stop > start:
        raise ValueError(f"t_stop ({stop} ms) must be later than t_start ({start} ms)")
    step = tau / 2.0
    # Integer sample numbers avoid drift from repeated float addition.
    count = int(np.ceil((stop - start) / step - 1e-9))
    return start + step * np.arange(count)


def binary_states(
    spiketrains: Sequence[SpikeTrainLike],
    tau_ref: TimeLike,
    t_start: TimeLike | None = None,
    t_stop: TimeLike | None = None,
) -> NDArray[np.uint8]:
    """Binary states ``z_k(t)`` of all neurons, read every ``tau_ref / 2``.

    ``z_k(t) = 1`` if neuron ``k`` spiked in ``(t - tau_ref, t]``, i.e. ``t`` lies in the
    half-open refractory interval ``[t_s, t_s + tau_ref)`` of some spike ``t_s``.  Spike times
    within :data:`salpynn.rule.SIMULTANEITY_EPS` of an interval edge count as on the edge, so
    that grid-aligned NEST spike times are not flipped by rounding.

    The state is found from the latest spike at or before each read-out time
    (``numpy.searchsorted``), not from Elephant's ``BinnedSpikeTrain``: binning at
    ``tau_ref / 2`` would assign spikes that fall exactly on a bin edge by a rounding
    tolerance, and the state at a read-out time depends on the exact spike time, not on the
    bin.  The result is exact for the half-open interval and costs ``O(M log n)`` per neuron.

    Parameters
    ----------
    spiketrains : sequence of neo.SpikeTrain or array_like
        One train per neuron (plain arrays in ms).
    tau_ref : quantities.Quantity or float
        Refractory time, the duration of the active state (float in ms).
    t_start, t_stop : quantities.Quantity or float, optional
        Span to read; defaults as in :func:`salpynn.analysis.as_spiketrains`.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of shape ``(n_read_outs, N)``; row ``m`` is the state at
        ``read_out_times(t_start, t_stop, tau_ref)[m]``.

    Raises
    ------
    ValueError
        If ``tau_ref <= 0`` or the span is empty or unknown.

    Examples
    --------
    Neuron 0 spikes at 2 ms, neuron 1 at 9 ms; ``tau_ref = 10 ms``, read at 0, 5, 10, 15 ms:

    >>> binary_states([[2.0], [9.0]], tau_ref=10.0, t_stop=20.0).tolist()
    [[0, 0], [1, 0], [1, 1], [0, 1]]
    """
    start, stop = _span(spiketrains, t_start, t_stop)
    tau = time_ms(tau_ref, "tau_ref")
    times = read_out_times(start, stop, tau)
    states = np.zeros((times.size, len(spiketrains)), dtype=np.uint8)
    for k, train in enumerate(spiketrains):
        spikes = spike_times_ms(train)
        if spikes.size == 0:
            continue
        latest = np.searchsorted(spikes, times + SIMULTANEITY_EPS, side="right") - 1
        has_spike = latest >= 0
        since = times - spikes[np.maximum(latest, 0)]
        states[:, k] = has_spike & (since < tau - SIMULTANEITY_EPS)
    return states


def _check_states(states: ArrayLike) -> NDArray[np.uint8]:
    z = np.asarray(states)
    if z.ndim != 2:
        raise ValueError(f"states must have shape (n_samples, N), got {z.shape}")
    if z.size and not np.all((z == 0) | (z == 1)):
        raise ValueError("states must contain only 0 and 1")
    return z.astype(np.uint8, copy=False)


def state_indices(states: ArrayLike) -> NDArray[np.int64]:
    """Index ``sum_k z_k 2**k`` of each state (neuron 0 is the least significant bit).

    Parameters
    ----------
    states : array_like
        Binary states, shape ``(n_samples, N)`` with ``N <= 62``.

    Returns
    -------
    numpy.ndarray
        ``int64`` indices, shape ``(n_samples,)``.

    Raises
    ------
    ValueError
        If ``states`` is not a 2-D binary array or has more than 62 neurons.

    Examples
    --------
    >>> state_indices([[1, 0], [0, 1], [1, 1]]).tolist()
    [1, 2, 3]
    """
    z = _check_states(states)
    if z.shape[1] > 62:
        raise ValueError(f"state indices need N <= 62 neurons, got {z.shape[1]}")
    weights = np.left_shift(np.int64(1), np.arange(z.shape[1], dtype=np.int64))
    return z.astype(np.int64) @ weights


def all_states(n: int) -> NDArray[np.uint8]:
    """All ``2**n`` binary states in index order.

    Parameters
    ----------
    n : int
        Number of neurons, ``0 <= n <= MAX_JOINT_NEURONS``.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of shape ``(2**n, n)``; row ``i`` has index ``i``.

    Raises
    ------
    ValueError
        If ``n`` is out of range.

    Examples
    --------
    >>> all_states(2).tolist()
    [[0, 0], [1, 0], [0, 1], [1, 1]]
    """
    if not 0 <= n <= MAX_JOINT_NEURONS:
        raise ValueError(f"n must lie in [0, {MAX_JOINT_NEURONS}], got {n}")
    index = np.arange(2**n, dtype=np.int64)
    return ((index[:, None] >> np.arange(n)) & 1).astype(np.uint8)


def sampled_distribution(states: ArrayLike) -> NDArray[np.float64]:
    """Relative frequency of each of the ``2**N`` states.

    Parameters
    ----------
    states : array_like
        Binary states, shape ``(n_samples, N)``, ``N <= MAX_JOINT_NEURONS``.

    Returns
    -------
    numpy.ndarray
        Probabilities, shape ``(2**N,)``, in index order; sums to 1.

    Raises
    ------
    ValueError
        If there are no samples or more than :data:`MAX_JOINT_NEURONS` neurons.

    Examples
    --------
    >>> sampled_distribution([[0, 0], [1, 0], [1, 0], [1, 1]]).tolist()
    [0.25, 0.5, 0.0, 0.25]
    """
    z = _check_states(states)
    if z.shape[1] > MAX_JOINT_NEURONS:
        raise ValueError(
            f"joint distributions are enumerated for N <= {MAX_JOINT_NEURONS}, got N = {z.shape[1]}"
        )
    if z.shape[0] == 0:
        raise ValueError("no samples: the span is shorter than tau_ref / 2")
    counts = np.bincount(state_indices(z), minlength=2 ** z.shape[1])
    return counts / z.shape[0]


def marginals(states: ArrayLike) -> NDArray[np.float64]:
    """Fraction of samples in which each neuron is active, ``<z_k>``.

    Parameters
    ----------
    states : array_like
        Binary states, shape ``(n_samples, N)``; any ``N``.

    Returns
    -------
    numpy.ndarray
        Shape ``(N,)``.

    Examples
    --------
    >>> marginals([[1, 0], [1, 1]]).tolist()
    [1.0, 0.5]
    """
    z = _check_states(states)
    return z.mean(axis=0, dtype=np.float64)


def coactivation(states: ArrayLike) -> NDArray[np.float64]:
    """Pairwise co-activation ``<z_i z_j>`` over samples (diagonal: the marginals).

    Parameters
    ----------
    states : array_like
        Binary states, shape ``(n_samples, N)``; any ``N``.

    Returns
    -------
    numpy.ndarray
        Symmetric matrix, shape ``(N, N)``.

    Examples
    --------
    >>> coactivation([[1, 0], [1, 1]]).tolist()
    [[1.0, 0.5], [0.5, 0.5]]
    """
    z = _check_states(states).astype(np.float64)
    if z.shape[0] == 0:
        raise ValueError("no samples")
    return (z.T @ z) / z.shape[0]


def distribution_moments(
    probabilities: ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Marginals ``<z_k>`` and co-activation ``<z_i z_j>`` of a distribution over states.

    Parameters
    ----------
    probabilities : array_like
        Probabilities of the ``2**N`` states in index order.

    Returns
    -------
    marginals : numpy.ndarray
        Shape ``(N,)``.
    coactivation : numpy.ndarray
        Shape ``(N, N)``, diagonal equal to the marginals.

    Raises
    ------
    ValueError
        If the length is not a power of two.

    Examples
    --------
    >>> m, c = distribution_moments([0.1, 0.2, 0.3, 0.4])
    >>> m.round(3).tolist(), float(c[0, 1])
    ([0.6, 0.7], 0.4)
    """
    p = np.asarray(probabilities, dtype=float)
    n = p.size.bit_length() - 1
    if p.ndim != 1 or n < 0 or 2**n != p.size:
        raise ValueError(f"probabilities must have 2**N entries, got shape {p.shape}")
    z = all_states(n).astype(np.float64)
    return p @ z, (z * p[:, None]).T @ z


def boltzmann_distribution(weights: ArrayLike, biases: ArrayLike) -> NDArray[np.float64]:
    """Exact Boltzmann distribution ``p(z) ∝ exp(z^T W z / 2 + b^T z)`` over all states.

    Parameters
    ----------
    weights : array_like
        Symmetric ``(N, N)`` matrix with zero diagonal, ``N <= MAX_JOINT_NEURONS``.
    biases : array_like
        Shape ``(N,)``.

    Returns
    -------
    numpy.ndarray
        Probabilities, shape ``(2**N,)``, in index order (see the module's bit order).

    Raises
    ------
    ValueError
        If the shapes disagree, ``W`` is not symmetric (to 1e-9 relative) or has a nonzero
        diagonal, or ``N > MAX_JOINT_NEURONS``.

    Examples
    --------
    Two neurons with ``W_01 = W_10 = w``: ``p ∝ (1, e^b0, e^b1, e^(w + b0 + b1))``.

    >>> boltzmann_distribution([[0.0, 1.0], [1.0, 0.0]], [0.0, 0.0]).round(4).tolist()
    [0.1749, 0.1749, 0.1749, 0.4754]
    """
    w = np.asarray(weights, dtype=float)
    b = np.asarray(biases, dtype=float)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or b.shape != (w.shape[0],):
        raise ValueError(f"weights must be (N, N) and biases (N,), got {w.shape} and {b.shape}")
    n = w.shape[0]
    if n > MAX_JOINT_NEURONS:
        raise ValueError(f"the Boltzmann distribution is enumerated for N <= 20, got N = {n}")
    if not np.allclose(w, w.T, rtol=1e-9, atol=1e-12):
        raise ValueError("weights must be symmetric for a Boltzmann distribution")
    if np.any(np.diag(w) != 0):
        raise ValueError("weights must have a zero diagonal")
    log_p = np.empty(2**n)
    chunk = 2**16  # bounds memory for N = 20 (2**20 states x N floats)
    for first in range(0, 2**n, chunk):
        index = np.arange(first, min(first + chunk, 2**n), dtype=np.int64)
        z = ((index[:, None] >> np.arange(n)) & 1).astype(np.float64)
        log_p[first : first + index.size] = 0.5 * np.sum((z @ w) * z, axis=1) + z @ b
    log_p -= log_p.max()
    p = np.exp(log_p)
    return p / p.sum()


def kl_divergence(p_target: ArrayLike, p_sampled: ArrayLike, epsilon: float = 1e-10) -> float:
    """Kullback-Leibler divergence ``D_KL(p_target || p_sampled)`` in nats.

    States the sampler never visited have ``p_sampled = 0`` and would make the divergence
    infinite.  A pseudo-probability ``epsilon`` is therefore added to every entry of
    ``p_sampled`` and the result renormalised, ``q = (p_sampled + epsilon) / (1 + 2**N
    epsilon)``, before ``sum p log(p / q)`` is taken.  States with ``p_target = 0`` contribute
    0.  ``epsilon = 0`` gives the plain divergence (``inf`` if a target state is unvisited).

    Parameters
    ----------
    p_target : array_like
        Target probabilities (normalised here).
    p_sampled : array_like
        Sampled probabilities, same shape (normalised here).
    epsilon : float
        Pseudo-probability added to each sampled state; ``>= 0``.

    Returns
    -------
    float
        The divergence in nats, ``>= 0``.

    Raises
    ------
    ValueError
        If shapes differ, entries are negative, a distribution sums to 0 or ``epsilon < 0``.

    Examples
    --------
    >>> round(kl_divergence([0.5, 0.5], [0.25, 0.75], epsilon=0.0), 6)
    0.143841
    """
    p = np.asarray(p_target, dtype=float)
    q = np.asarray(p_sampled, dtype=float)
    if p.shape != q.shape:
        raise ValueError(f"distributions must have the same shape, got {p.shape} and {q.shape}")
    if not epsilon >= 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon}")
    if np.any(p < 0) or np.any(q < 0) or p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("distributions must be non-negative and not all zero")
    p = p / p.sum()
    q = q / q.sum() + epsilon
    q /= q.sum()
    support = p > 0
    with np.errstate(divide="ignore"):
        return float(np.sum(p[support] * (np.log(p[support]) - np.log(q[support]))))


def coactivation_from_spikes(
    times: FloatArray, senders: NDArray[np.int64], n: int, replicas: int, tau: float
) -> tuple[FloatArray, NDArray[np.int64]]:
    """Summed overlap of the active windows of every ordered pair, and spike counts.

    ``senders`` are indices ``replica * n + k``.  Returns ``(first, counts)`` with shapes
    ``(replicas, n, n)`` (ms, zero diagonal) and ``(replicas, n)``; ``first[r, i, j]`` sums
    the overlaps of pairs in which ``i`` spiked before ``j`` (simultaneous spikes count half
    to each order), so ``first + first.T`` is the total overlap.  Each spike opens a window
    ``[t, t + tau)``; two windows overlap for ``max(0, tau - |dt|)``.  A neuron is refractory
    for ``tau``, so at most ``n - 1`` spikes of its replica follow a spike within ``tau``:
    comparing each spike with its next ``n - 1`` neighbours in (replica, time) order finds
    every overlapping pair.
    """
    counts = np.bincount(senders, minlength=n * replicas).reshape(replicas, n)
    overlap = np.zeros(replicas * n * n)
    order = np.lexsort((times, senders // n))
    t, s = times[order], senders[order]
    r = s // n
    eps = 1e-6 * tau
    for shift in range(1, n):
        if t.size <= shift:
            break
        dt = t[shift:] - t[:-shift]
        close = (r[shift:] == r[:-shift]) & (dt < tau - eps)
        first, second = s[:-shift][close], s[shift:][close]
        amount = tau - dt[close]
        tie = dt[close] <= eps
        rep, i, j = first // n, first % n, second % n
        overlap += np.bincount(
            (rep * n + i) * n + j, np.where(tie, amount / 2, amount), overlap.size
        )
        overlap += np.bincount((rep * n + j) * n + i, np.where(tie, amount / 2, 0.0), overlap.size)
    overlap = overlap.reshape(replicas, n, n)
    overlap[:, np.arange(n), np.arange(n)] = 0.0
    return overlap, counts


def state_counts(
    times: FloatArray,
    senders: NDArray[np.int64],
    n: int,
    replicas: int,
    tau: float,
    t_start: float,
    t_stop: float,
) -> NDArray[np.int64]:
    """Counts of the ``2**n`` states per replica, read every ``tau / 2`` in
    ``[t_start + tau, t_stop)`` (the first ``tau`` is skipped: states there depend on spikes
    before ``t_start``)."""
    order = np.argsort(senders, kind="stable")
    bounds = np.searchsorted(senders[order], np.arange(n * replicas + 1))
    sorted_times = times[order]
    counts = np.zeros((replicas, 2**n), dtype=np.int64)
    for rep in range(replicas):
        trains = [sorted_times[bounds[rep * n + k] : bounds[rep * n + k + 1]] for k in range(n)]
        z = binary_states(trains, tau, t_start=t_start + tau, t_stop=t_stop)
        counts[rep] = np.bincount(state_indices(z), minlength=2**n)
    return counts
