"""Pairwise spike correlations, spike-timing-difference distributions and the SAL drift.

Sign conventions
----------------
- **Lag of a pair** ``(i, j)``: ``dt = t_j - t_i``, a spike of ``j`` minus a spike of ``i``.
  A positive lag means ``i`` fired first.  This is Elephant's convention for
  ``cross_correlation_histogram(i, j)``: if train ``j`` is train ``i`` shifted by ``+d`` the
  histogram peaks at ``+d``.
- **Weights**: ``W[k, j]`` is the weight of the connection ``j -> k`` (``u = b + W z``), as
  everywhere in salpynn.  For that connection ``pre = j`` and ``post = k``, so the rule's lag
  ``t_post + delay - t_pre`` is the pair lag of ``(j, k)`` plus the delay.
- **Drift**: the predicted drift of ``W[k, j]`` is ``eta * sum K(dt) / T`` over the pairs the
  rule forms in a recording of duration ``T`` (weight units per second).  Under SAL
  (``a_causal = -1``) it is negative when ``j`` tends to fire before ``k``.  The
  **predicted asymmetry** ``A = D - D^T`` therefore has the *opposite* sign of the true
  asymmetry ``W - W^T``: the stronger of two reciprocal weights is pushed down.  Its Pearson
  correlation with ``W - W^T`` (:func:`asymmetry_correlation`) is negative under SAL.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import numpy as np
import quantities as pq
from elephant.conversion import BinnedSpikeTrain
from elephant.spike_train_correlation import (
    correlation_coefficient,
    covariance,
    cross_correlation_histogram,
)
from numpy.typing import ArrayLike, NDArray

from salpynn.analysis.spiketrains import (
    SpikeTrainLike,
    TimeLike,
    _span,
    as_spiketrains,
    spike_times_ms,
    time_ms,
)
from salpynn.rule import SIMULTANEITY_EPS, PairRule, window_kernel

__all__ = [
    "asymmetry_correlation",
    "bin_spiketrains",
    "correlation_matrix",
    "covariance_matrix",
    "cross_correlogram",
    "cross_correlograms",
    "drift_asymmetry",
    "fold_with_window",
    "predicted_drift",
    "predicted_drift_matrix",
    "reciprocal_pairs",
    "spike_time_differences",
    "stdd",
]

Pairing = Literal["all", "nearest"]


@contextmanager
def _elephant_calls() -> Iterator[None]:
    """Silence deprecation notices that Elephant 1.2 triggers inside quantities and NumPy
    (``Quantity(copy=...)``, ``numpy.matrix``); they concern Elephant's code, not the call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        yield


def bin_spiketrains(
    spiketrains: Sequence[SpikeTrainLike],
    bin_size: TimeLike = 5.0,
    t_start: TimeLike | None = None,
    t_stop: TimeLike | None = None,
) -> BinnedSpikeTrain:
    """Spike counts in bins of ``bin_size``, as Elephant's :class:`BinnedSpikeTrain`.

    Parameters
    ----------
    spiketrains : sequence of neo.SpikeTrain or array_like
        Spike trains (plain arrays in ms).
    bin_size : quantities.Quantity or float
        Bin width (float in ms).
    t_start, t_stop : quantities.Quantity or float, optional
        Span; defaults as in :func:`salpynn.analysis.as_spiketrains`.

    Returns
    -------
    elephant.conversion.BinnedSpikeTrain
        Shape ``(N, n_bins)``, ``n_bins = floor((t_stop - t_start) / bin_size)``.

    Examples
    --------
    >>> bin_spiketrains([[0.5, 1.5, 1.7]], bin_size=1.0, t_stop=3.0).to_array().tolist()
    [[1, 2, 0]]
    """
    trains = as_spiketrains(spiketrains, t_start, t_stop)
    size = time_ms(bin_size, "bin_size")
    if not size > 0:
        raise ValueError(f"bin_size must be > 0 ms, got {size}")
    with _elephant_calls():
        return BinnedSpikeTrain(trains, bin_size=size * pq.ms)


def correlation_matrix(
    spiketrains: Sequence[SpikeTrainLike],
    bin_size: TimeLike = 5.0,
    t_start: TimeLike | None = None,
    t_stop: TimeLike | None = None,
    binary: bool = False,
) -> NDArray[np.float64]:
    """Pearson correlation coefficients of binned spike counts (Elephant).

    For independent trains each coefficient scatters around 0 with standard deviation
    about ``1 / sqrt(n_bins)``.

    Parameters
    ----------
    spiketrains : sequence of neo.SpikeTrain or array_like
        Spike trains (plain arrays in ms).
    bin_size : quantities.Quantity or float
        Bin width (float in ms); ``tau_ref`` is the natural choice for sampling networks.
    t_start, t_stop : quantities.Quantity or float, optional
        Span; defaults as in :func:`salpynn.analysis.as_spiketrains`.
    binary : bool
        Clip counts to 0/1 before correlating.

    Returns
    -------
    numpy.ndarray
        ``(N, N)`` matrix; rows and columns of silent trains are NaN.

    Examples
    --------
    >>> c = correlation_matrix([[1.0, 12.0, 31.0], [2.0, 13.0, 32.0]], 10.0, t_stop=40.0)
    >>> c.round(3).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    binned = bin_spiketrains(spiketrains, bin_size, t_start, t_stop)
    with _elephant_calls():
        r = correlation_coefficient(binned, binary=binary)
    return np.atleast_2d(np.asarray(r, dtype=float))


def covariance_matrix(
    spiketrains: Sequence[SpikeTrainLike],
    bin_size: TimeLike = 5.0,
    t_start: TimeLike | None = None,
    t_stop: TimeLike | None = None,
    binary: bool = False,
) -> NDArray[np.float64]:
    """Covariances of binned spike counts (Elephant; normalised by ``n_bins - 1``).

    Parameters
    ----------
    spiketrains : sequence of neo.SpikeTrain or array_like
        Spike trains (plain arrays in ms).
    bin_size : quantities.Quantity or float
        Bin width (float in ms).
    t_start, t_stop : quantities.Quantity or float, optional
        Span; defaults as in :func:`salpynn.analysis.as_spiketrains`.
    binary : bool
        Clip counts to 0/1 first.

    Returns
    -------
    numpy.ndarray
        ``(N, N)`` matrix in counts² per bin.

    Examples
    --------
    >>> covariance_matrix([[1.0], [11.0]], 10.0, t_stop=20.0).tolist()
    [[0.5, -0.5], [-0.5, 0.5]]
    """
    binned = bin_spiketrains(spiketrains, bin_size, t_start, t_stop)
    with _elephant_calls():
        c = covariance(binned, binary=binary)
    return np.atleast_2d(np.asarray(c, dtype=float))


def _lag_bins(bin_size: TimeLike, max_lag: TimeLike) -> tuple[float, int]:
    size = time_ms(bin_size, "bin_size")
    lag = time_ms(max_lag, "max_lag")
    if not size > 0:
        raise ValueError(f"bin_size must be > 0 ms, got {size}")
    if not lag >= 0:
        raise ValueError(f"max_lag must be >= 0 ms, got {lag}")
    return size, round(lag / size)


def _window_partners(
    ti: NDArray, tj: NDArray, reach: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Indices ``(a, b)`` of all pairs with ``|tj[b] - ti[a]| <= reach`` (sorted inputs)."""
    lo = np.searchsorted(tj, ti - reach, side="left")
    hi = np.searchsorted(tj, ti + reach, side="right")
    counts = hi - lo
    owner = np.repeat(np.arange(ti.size), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, np.repeat(lo, counts) + offset


def _occupied_bins(binned: BinnedSpikeTrain) -> list[NDArray[np.int64]]:
    """Bin index of every spike (repeated for bins with several spikes), per train."""
    matrix = binned.sparse_matrix.tocsr()
    out = []
    for row in range(matrix.shape[0]):
        start, stop = matrix.indptr[row], matrix.indptr[row + 1]
        columns = matrix.indices[start:stop].astype(np.int64)
        counts = np.asarray(matrix.data[start:stop], dtype=np.int64)
        order = np.argsort(columns, kind="stable")
        out.append(np.repeat(columns[order], counts[order]))
    return out


def _cch_sparse(
    bins_i: NDArray[np.int64], bins_j: NDArray[np.int64], half_width: int, n_bins: int, border: bool
) -> NDArray[np.float64]:
    a, b = _window_partners(bins_i, bins_j, half_width)
    counts = np.bincount(bins_j[b] - bins_i[a] + half_width, minlength=2 * half_width + 1)
    counts = counts.astype(float)
    if border:
        # Elephant's linear correction for equal spans: n_bins / (n_bins - |lag|).
        lags = np.abs(np.arange(-half_width, half_width + 1))
        counts *= n_bins / (n_bins - lags)
    return counts


def _cch(
    binned_i: BinnedSpikeTrain, binned_j: BinnedSpikeTrain, half_width: int, border: bool
) -> NDArray[np.float64]:
    with _elephant_calls():
        histogram, _ = cross_correlation_histogram(
            binned_i,
            binned_j,
            window=[-half_width, half_width],
            border_correction=border,
            method="speed",
        )
    return np.asarray(histogram.magnitude, dtype=float).ravel()


def cross_correlogram(
    train_i: SpikeTrainLike,
    train_j: SpikeTrainLike,
    bin_size: TimeLike = 1.0,
    max_lag: TimeLike = 50.0,
    t_start: TimeLike | None = None,
    t_stop: TimeLike | None = None,
    border_correction: bool = False,
) -> tuple[NDArray[np.float64], pq.Quantity]:
    """Cross-correlation histogram of two trains (Elephant), lags ``t_j - t_i``.

    Both trains are binned at ``bin_size``; the entry at lag ``m * bin_size`` counts pairs
    whose bin numbers differ by ``m``.  A positive lag means ``i`` fired first.

    Parameters
    ----------
    train_i, train_j : neo.SpikeTrain or array_like
        Reference and target train (plain arrays in ms).
    bin_size : quantities.Quantity or float
        Bin width (float in ms).
    max_lag : quantities.Quantity or float
        Largest lag (float in ms), rounded to a whole number of bins.
    t_start, t_stop : quantities.Quantity or float, optional
        Span; defaults as in :func:`salpynn.analysis.as_spiketrains`.
    border_correction : bool
        Elephant's linear correction for the loss of overlap at large lags.

    Returns
    -------
    counts : numpy.ndarray
        Pair counts, one per lag.
    lags : quantities.Quantity
        Lag of each entry (bin centres) in ms, symmetric around 0.

    Raises
    ------
    ValueError
        If ``max_lag`` exceeds the recording or ``bin_size <= 0``.

    Examples
    --------
    Train ``j`` is train ``i`` shifted by +3 ms: the histogram peaks at +3 ms.

    >>> counts, lags = cross_correlogram(
    ...     [10.5, 30.5, 50.5], [13.5, 33.5, 53.5], max_lag=5.0, t_stop=60.0
    ... )
    >>> float(lags[counts.argmax()])
    3.0
    """
    size, half_width = _lag_bins(bin_size, max_lag)
    binned = bin_spiketrains([train_i, train_j], size, t_start, t_stop)
    counts = _cch(binned[0], binned[1], half_width, border_correction)
    return counts, np.arange(-half_width, half_width + 1) * size * pq.ms


def reciprocal_pairs(weights: ArrayLike) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, connected in both directions (``W[i, j]`` and ``W[j, i]``
    nonzero).

    Parameters
    ----------
    weights : array_like
        Square weight matrix, ``W[k, j]`` for ``j -> k``.

    Returns
    -------
    list of tuple of int

    Examples
    --------
    >>> reciprocal_pairs([[0, 1, 1], [2, 0, 0], [0, 3, 0]])
    [(0, 1)]
    """
    w = _square(weights, "weights")
    connected = (w != 0) & (w.T != 0)
    rows, cols = np.nonzero(np.triu(connected, k=1))
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True)]


def cross_correlograms(
    spiketrains: Sequence[SpikeTrainLike],
    pairs: Iterable[tuple[int, int]] | None = None,
    weights: ArrayLike | None = None,
    bin_size: TimeLike = 1.0,
    max_lag: TimeLike = 50.0,
    t_start: TimeLike | None = None,
    t_stop: TimeLike | None = None,
    border_correction: bool = False,
    method: Literal["elephant", "sparse"] = "elephant",
) -> tuple[dict[tuple[int, int], NDArray[np.float64]], pq.Quantity]:
    """Cross-correlation histograms of chosen pairs, or of all reciprocally connected pairs.

    All trains are binned once with Elephant's :class:`BinnedSpikeTrain`.  With
    ``method="elephant"`` every pair then goes through Elephant's
    ``cross_correlation_histogram``, whose cost grows with the number of bins of the
    recording.  ``method="sparse"`` counts the same pairs of occupied bins directly
    (``numpy.searchsorted`` over the bins within ``max_lag``), so its cost grows with the
    number of spike pairs in the window; the counts are identical (tested), and it is the
    better choice for many pairs of long, sparse recordings.

    Parameters
    ----------
    spiketrains : sequence of neo.SpikeTrain or array_like
        Spike trains (plain arrays in ms).
    pairs : iterable of (int, int), optional
        Pairs ``(i, j)``; lags are ``t_j - t_i``.
    weights : array_like, optional
        If ``pairs`` is None: use :func:`reciprocal_pairs` of this matrix.
    bin_size, max_lag, t_start, t_stop, border_correction
        As in :func:`cross_correlogram`.
    method : {"elephant", "sparse"}
        How to count pairs (see above).

    Returns
    -------
    histograms : dict
        ``(i, j) -> counts``.
    lags : quantities.Quantity
        Bin centres in ms, shared by all histograms.

    Raises
    ------
    ValueError
        If neither ``pairs`` nor ``weights`` is given, or ``method`` is unknown.

    Examples
    --------
    >>> trains = [[10.5, 30.5], [12.5, 32.5], [11.5]]
    >>> hists, lags = cross_correlograms(trains, [(0, 1)], max_lag=3.0, t_stop=40.0)
    >>> hists[(0, 1)].tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0]
    """
    if pairs is None:
        if weights is None:
            raise ValueError("give pairs or a weight matrix to choose reciprocal pairs")
        pairs = reciprocal_pairs(weights)
    pairs = [(int(i), int(j)) for i, j in pairs]
    size, half_width = _lag_bins(bin_size, max_lag)
    binned = bin_spiketrains(spiketrains, size, t_start, t_stop)
    if method == "elephant":
        histograms = {
            (i, j): _cch(binned[i], binned[j], half_width, border_correction) for i, j in pairs
        }
    elif method == "sparse":
        bins = _occupied_bins(binned)
        histograms = {
            (i, j): _cch_sparse(bins[i], bins[j], half_width, binned.n_bins, border_correction)
            for i, j in pairs
        }
    else:
        raise ValueError(f'method must be "elephant" or "sparse", got {method!r}')
    return histograms, np.arange(-half_width, half_width + 1) * size * pq.ms


def spike_time_differences(
    train_i: SpikeTrainLike,
    train_j: SpikeTrainLike,
    max_lag: TimeLike | None = None,
    pairing: Pairing = "all",
) -> pq.Quantity:
    """Exact lags ``t_j - t_i`` of spike pairs (unbinned).

    ``pairing="all"`` takes every pair with ``|t_j - t_i| <= max_lag``.  ``pairing="nearest"``
    takes the pairs the nearest-spike SAL rule forms with ``i`` as pre- and ``j`` as
    postsynaptic neuron: each spike of ``j`` with the latest strictly earlier spike of ``i``
    (lag > 0) and each spike of ``i`` with the latest strictly earlier spike of ``j``
    (lag < 0); spikes within :data:`salpynn.rule.SIMULTANEITY_EPS` are simultaneous and not
    paired.  ``max_lag`` then only drops longer lags.

    Parameters
    ----------
    train_i, train_j : neo.SpikeTrain or array_like
        The two trains (plain arrays in ms).
    max_lag : quantities.Quantity or float, optional
        Largest ``|lag|`` (float in ms); required for ``pairing="all"``.
    pairing : {"all", "nearest"}
        Which pairs to take.

    Returns
    -------
    quantities.Quantity
        Lags in ms (order unspecified).

    Raises
    ------
    ValueError
        If ``pairing`` is unknown or ``max_lag`` is missing for ``"all"``.

    Examples
    --------
    If ``j`` is ``i`` shifted by +2 ms, the short lags are +2 ms:

    >>> lags = spike_time_differences([10.0, 40.0], [12.0, 42.0], max_lag=5.0)
    >>> lags.magnitude.tolist()
    [2.0, 2.0]
    >>> lags = spike_time_differences([10.0, 40.0], [12.0, 42.0], pairing="nearest")
    >>> np.sort(lags.magnitude).tolist()
    [-28.0, 2.0, 2.0]
    """
    ti = spike_times_ms(train_i)
    tj = spike_times_ms(train_j)
    limit = None if max_lag is None else time_ms(max_lag, "max_lag")
    if pairing == "all":
        if limit is None:
            raise ValueError('max_lag is required for pairing="all"')
        a, b = _window_partners(ti, tj, limit)
        lags = tj[b] - ti[a]
    elif pairing == "nearest":
        # Latest strictly earlier partner, as in salpynn.rule.weight_trajectory.
        before_j = np.searchsorted(ti, tj - SIMULTANEITY_EPS, side="left") - 1
        before_i = np.searchsorted(tj, ti - SIMULTANEITY_EPS, side="left") - 1
        causal = tj[before_j >= 0] - ti[before_j[before_j >= 0]]
        anticausal = tj[before_i[before_i >= 0]] - ti[before_i >= 0]
        lags = np.concatenate([causal, anticausal])
        if limit is not None:
            lags = lags[np.abs(lags) <= limit]
    else:
        raise ValueError(f'pairing must be "all" or "nearest", got {pairing!r}')
    return lags * pq.ms


def stdd(
    train_i: SpikeTrainLike,
    train_j: SpikeTrainLike,
    bin_size: TimeLike = 1.0,
    max_lag: TimeLike = 50.0,
    pairing: Pairing = "all",
) -> tuple[NDArray[np.float64], pq.Quantity]:
    """Spike-timing-difference distribution: histogram of exact lags ``t_j - t_i``.

    Unlike :func:`cross_correlogram` the lags are taken from exact spike times and binned
    once, so a shift by ``d`` puts every pair into the bin centred on ``d`` (no triangular
    spread).  Bins are centred on multiples of ``bin_size``; ``max_lag`` is rounded to a
    whole number of bins.

    Parameters
    ----------
    train_i, train_j : neo.SpikeTrain or array_like
        The two trains (plain arrays in ms).
    bin_size : quantities.Quantity or float
        Bin width (float in ms).
    max_lag : quantities.Quantity or float
        Largest lag (float in ms).
    pairing : {"all", "nearest"}
        See :func:`spike_time_differences`.

    Returns
    -------
    counts : numpy.ndarray
        Pairs per lag bin.
    lags : quantities.Quantity
        Bin centres in ms.

    Examples
    --------
    >>> counts, lags = stdd([10.0, 40.0], [12.0, 42.0], bin_size=1.0, max_lag=3.0)
    >>> counts.tolist(), lags.magnitude.tolist()
    ([0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0], [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0])
    """
    size, half_width = _lag_bins(bin_size, max_lag)
    reach = (half_width + 0.5) * size
    lags = spike_time_differences(train_i, train_j, reach, pairing).magnitude
    edges = (np.arange(-half_width, half_width + 2) - 0.5) * size
    counts, _ = np.histogram(lags, bins=edges)
    return counts.astype(float), np.arange(-half_width, half_width + 1) * size * pq.ms


def fold_with_window(lags: pq.Quantity | ArrayLike, counts: ArrayLike, rule: PairRule) -> float:
    """Sum of the window over a lag histogram, ``sum_m counts_m K(lag_m)`` (no ``eta``).

    With lags ``t_post + delay - t_pre`` this is the total weight change per unit learning
    rate that the pairs of the histogram cause; bin centres stand in for the exact lags.

    Parameters
    ----------
    lags : quantities.Quantity or array_like
        Lags (plain arrays in ms), e.g. bin centres of :func:`stdd`.
    counts : array_like
        Pair counts per lag.
    rule : salpynn.rule.PairRule
        The window.

    Returns
    -------
    float

    Examples
    --------
    >>> from salpynn.rule import PairRule
    >>> round(fold_with_window([-10.0, 10.0], [1, 3], PairRule.sal(tau=10.0)), 4)
    -0.7358
    """
    if isinstance(lags, pq.Quantity):
        lag_ms = np.asarray(lags.rescale(pq.ms).magnitude, dtype=float).ravel()
    else:
        lag_ms = np.asarray(lags, dtype=float).ravel()
    weights = np.asarray(counts, dtype=float).ravel()
    if lag_ms.shape != weights.shape:
        raise ValueError(f"lags and counts differ in length: {lag_ms.size} and {weights.size}")
    return float(np.dot(weights, window_kernel(lag_ms, rule)))


def _default_max_lag(rule: PairRule) -> float | None:
    if rule.pairing == "nearest":
        return None
    tau = max(rule.tau_causal, rule.tau_anticausal)
    # The triangular window is exactly zero beyond tau; exp(-12) ~ 6e-6 of the peak.
    return tau if rule.window == "triangular" else 12.0 * tau


def predicted_drift(
    pre: SpikeTrainLike,
    post: SpikeTrainLike,
    rule: PairRule,
    delay: TimeLike = 0.0,
    t_start: TimeLike | None = None,
    t_stop: TimeLike | None = None,
    max_lag: TimeLike | None = None,
) -> float:
    """Weight drift the rule would cause on the synapse ``pre -> post``, from spikes alone.

    ``eta * sum K(t_post + delay - t_pre) / T`` over the pairs the rule forms (its own
    ``pairing``) in a recording of duration ``T``, without weight bounds.  For
    ``pairing="nearest"`` this equals, up to rounding, the change
    :func:`salpynn.rule.weight_trajectory` computes for the same trains, divided by ``T``.

    Parameters
    ----------
    pre, post : neo.SpikeTrain or array_like
        Pre- and postsynaptic trains (plain arrays in ms).
    rule : salpynn.rule.PairRule
        Window, pairing and ``eta`` (use ``eta=1`` for the drift per unit learning rate).
    delay : quantities.Quantity or float
        Dendritic delay (float in ms), added to the postsynaptic times.
    t_start, t_stop : quantities.Quantity or float, optional
        Span defining ``T``; defaults as in :func:`salpynn.analysis.as_spiketrains`.
    max_lag : quantities.Quantity or float, optional
        Pairs with longer lags are ignored; default: none for nearest pairing, ``tau`` for
        the triangular window and ``12 tau`` for the exponential one (all-to-all pairing).

    Returns
    -------
    float
        Drift in weight units per second.

    Examples
    --------
    Pre at 10 ms, post at 15 ms in a 1 s recording: one causal pair, SAL depresses.

    >>> from salpynn.rule import PairRule
    >>> round(predicted_drift([10.0], [15.0], PairRule.sal(eta=1.0), t_stop=1000.0), 4)
    -0.6065
    """
    start, stop = _span([pre, post], t_start, t_stop)
    if max_lag is None:
        max_lag = _default_max_lag(rule)
    shifted = spike_times_ms(post) + time_ms(delay, "delay")
    lags = spike_time_differences(pre, shifted, max_lag, rule.pairing)
    total = float(window_kernel(lags.magnitude, rule).sum())
    return rule.eta * total / ((stop - start) / 1000.0)


def _square(matrix: ArrayLike, name: str) -> NDArray[np.float64]:
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {m.shape}")
    return m


def predicted_drift_matrix(
    spiketrains: Sequence[SpikeTrainLike],
    rule: PairRule,
    connections: ArrayLike | None = None,
    delay: TimeLike | ArrayLike = 0.0,
    t_start: TimeLike | None = None,
    t_stop: TimeLike | None = None,
    max_lag: TimeLike | None = None,
) -> NDArray[np.float64]:
    """Predicted drift ``D[k, j]`` of every weight ``W[k, j]`` (connection ``j -> k``).

    Parameters
    ----------
    spiketrains : sequence of neo.SpikeTrain or array_like
        One train per neuron (plain arrays in ms).
    rule : salpynn.rule.PairRule
        Window, pairing and ``eta``.
    connections : array_like, optional
        Boolean ``(N, N)`` mask, ``connections[k, j]`` for ``j -> k``; default all pairs
        ``k != j``.  A weight matrix works too (nonzero entries are connections).
    delay : quantities.Quantity, float or array_like
        Dendritic delay in ms, a scalar or an ``(N, N)`` matrix in ``W``'s orientation.
    t_start, t_stop, max_lag
        As in :func:`predicted_drift`.

    Returns
    -------
    numpy.ndarray
        ``(N, N)`` drifts in weight units per second; NaN on the diagonal and where there is
        no connection.

    Examples
    --------
    Neuron 1 fires 2 ms before neuron 0, so SAL depresses ``W[0, 1]`` (1 -> 0) and
    potentiates ``W[1, 0]``:

    >>> from salpynn.rule import PairRule
    >>> d = predicted_drift_matrix([[12.0], [10.0]], PairRule.sal(eta=1.0), t_stop=1000.0)
    >>> bool(d[0, 1] < 0 < d[1, 0])
    True
    """
    n = len(spiketrains)
    start, stop = _span(spiketrains, t_start, t_stop)
    if connections is None:
        mask = ~np.eye(n, dtype=bool)
    else:
        mask = _square(connections, "connections") != 0
        if mask.shape != (n, n):
            raise ValueError(f"connections must have shape ({n}, {n}), got {mask.shape}")
        mask &= ~np.eye(n, dtype=bool)
    if isinstance(delay, pq.Quantity):
        delay = delay.rescale(pq.ms).magnitude
    delays = np.broadcast_to(np.asarray(delay, dtype=float), (n, n))
    drift = np.full((n, n), np.nan)
    for k, j in zip(*np.nonzero(mask), strict=True):
        drift[k, j] = predicted_drift(
            spiketrains[j], spiketrains[k], rule, float(delays[k, j]), start, stop, max_lag
        )
    return drift


def drift_asymmetry(drift: ArrayLike) -> NDArray[np.float64]:
    """Predicted asymmetry ``A = D - D^T`` of a drift matrix.

    ``A[k, j]`` is the drift of ``W[k, j]`` minus that of ``W[j, k]``.  Under SAL it has the
    opposite sign of ``W[k, j] - W[j, k]``.

    Parameters
    ----------
    drift : array_like
        ``(N, N)`` drift matrix from :func:`predicted_drift_matrix`.

    Returns
    -------
    numpy.ndarray
        Antisymmetric ``(N, N)`` matrix (NaN where either direction is missing).

    Examples
    --------
    >>> drift_asymmetry([[0.0, -1.0], [2.0, 0.0]]).tolist()
    [[0.0, -3.0], [3.0, 0.0]]
    """
    d = _square(drift, "drift")
    return d - d.T


def asymmetry_correlation(predicted_asymmetry: ArrayLike, weights: ArrayLike) -> float:
    """Pearson correlation of a predicted asymmetry with the true ``W - W^T``.

    Taken over the upper triangle where the prediction is finite.  Negative under SAL (the
    drift opposes the asymmetry); NaN with fewer than two pairs or no variance.

    Parameters
    ----------
    predicted_asymmetry : array_like
        ``(N, N)`` output of :func:`drift_asymmetry`.
    weights : array_like
        ``(N, N)`` weight matrix, ``W[k, j]`` for ``j -> k``.

    Returns
    -------
    float

    Examples
    --------
    >>> w = [[0.0, 1.0, 2.0], [0.0, 0.0, 0.5], [1.0, 1.0, 0.0]]
    >>> a = [[0.0, -1.0, -1.0], [1.0, 0.0, 0.5], [1.0, -0.5, 0.0]]
    >>> round(asymmetry_correlation(a, w), 4)
    -1.0
    """
    a = _square(predicted_asymmetry, "predicted_asymmetry")
    w = _square(weights, "weights")
    if a.shape != w.shape:
        raise ValueError(f"shapes differ: {a.shape} and {w.shape}")
    rows, cols = np.triu_indices(a.shape[0], k=1)
    x = a[rows, cols]
    y = (w - w.T)[rows, cols]
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 2 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])
