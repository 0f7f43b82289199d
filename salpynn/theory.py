"""Exact spike-timing statistics of two coupled sampling neurons: the STDD oracle.

Two discrete-time sampling neurons (NEST's ``sampling_neuron``, logistic or exponential escape)
coupled reciprocally, ``w_12`` (2 -> 1) and ``w_21`` (1 -> 2), form a Markov chain on the ages
of their last spikes.  Its stationary distribution gives, without any simulation, the firing
rates, the spike-timing-difference distribution (STDD) under SAL's nearest-spike pairing, the
all-pairs correlogram and the expected drift of either weight under any
:class:`~salpynn.rule.PairRule`.  It is the reference the simulators and the spike-based
analysis (:func:`salpynn.analysis.predicted_drift`) are checked against.

Discrete-time conventions (those of ``mechanisms/sampling_neuron.h``)
-------------------------------------------------------------------
Time runs in steps of ``resolution`` ms; "a spike at step ``s``" has the time stamp
``s * resolution`` that NEST records.  ``n_ref = tau_ref``, ``n_syn = tau_syn`` and the
synaptic delay ``d`` are counted in steps (the experiments use ``d = 1``, 0.1 ms).

- **Refractoriness.**  A spike at step ``s`` sets the refractory counter to ``n_ref``; the
  updates of steps ``s + 1 ... s + n_ref - 1`` only count it down, and at step ``s + n_ref``
  the neuron may fire again.  The shortest inter-spike interval is ``n_ref`` steps
  (``tau_ref``, not ``tau_ref + h``), and an isolated neuron's interval is
  ``n_ref - 1 + G`` with ``G`` geometric on ``{1, 2, ...}`` of parameter ``p(b)``
  (:func:`renewal_rate`).
- **Delay and PSP.**  A spike sent at step ``s`` is read from the partner's ring buffer in the
  partner's update of step ``s + d``, where it enters the PSP sum *before* that step's firing
  decision.  A rectangular PSP stays in the sum for exactly ``n_syn`` steps,
  ``s + d ... s + d + n_syn - 1``.  With ``d = 1`` and ``n_syn = n_ref`` the partner feels the
  PSP during ``s + 1 ... s + n_ref``; its last step is the first one at which the sender may
  fire again.
- **Firing.**  In every non-refractory step neuron ``k`` fires with probability
  ``p(u_k) = sigma(u_k - ln n_ref)`` (``escape="logistic"``) or ``1 - exp(-exp(u_k) / n_ref)``
  (``escape="exp"``), ``u_k = b_k + w_kj * kappa``.  The two neurons decide independently given
  the state, so **simultaneous spikes** (same step) occur with probability
  ``sum_s pi(s) p_1(s) p_2(s)`` per step.
- **State.**  ``(a_1, a_2)``: ``a_k`` is the number of steps since neuron ``k``'s last spike at
  or before step ``t - 1`` (``a_k >= 1``), the state in which step ``t``'s decisions are taken.
  Neuron ``k`` may fire iff ``a_k >= n_ref``; the partner's PSP is ``kappa(a_k - d)`` with
  ``kappa(x) = [0 <= x < n_syn]`` (rectangular) or
  ``kappa(x) = tau_ref / tau_syn**2 * x * exp(-x / tau_syn)`` for ``x >= 0`` (alpha; ``x`` is
  the time since the PSP's arrival, so it is 0 in the arrival step).  Ages are capped at
  ``M = max(n_ref, d + n_syn)`` (rectangular: beyond it nothing depends on the age) or
  ``t_max`` (alpha).
- **Exactness.**  With rectangular PSPs and ``n_syn + d <= n_ref + 1`` at most one PSP of each
  neuron runs at any time, so the ages are a complete state and the chain is exact; other
  rectangular settings are refused.  With alpha PSPs only the latest partner spike's PSP is
  kept (earlier tails are neglected, as in the authors' STDD calculator) and the kernel is cut
  at the cap: an approximation.  NEST's ``sampling_neuron`` with ``psp="alpha"`` sums every
  tail; the two agree within the statistics of long runs when the tail of a spike at least
  ``n_ref`` steps old is negligible (``tau_syn`` of one step, ``tests/test_theory.py``), and
  differ visibly for ``tau_syn = tau_ref / 3`` (``salpynn run psp-shapes``).

Pairing conventions (those of ``sal_synapse`` and :func:`salpynn.rule.weight_trajectory`)
---------------------------------------------------------------------------------------
For the synapse ``pre -> post`` the lag of a pair is ``t_post + delta - t_pre`` with the lag
delay ``delta`` (``PairRule.lag_delay``: 0 for ``dendritic_delay = 0``, which the experiments
use on NEST; the whole delay for ``dendritic_delay = -1``).  Lags within
:data:`~salpynn.rule.SIMULTANEITY_EPS` of 0 never pair.

- ``pairing="nearest"``: every post spike pairs with the latest pre spike *strictly* earlier in
  these lag times, every pre spike with the latest strictly earlier post spike.  With
  ``delta = 0`` a simultaneous pair is skipped and each of the two spikes pairs with the
  partner's previous spike instead.  With ``delta = h`` (one step) a post spike pairs with a
  pre spike in the same step (lag ``h``), and a pre spike one step after a post spike is the
  unpaired one.  Each post spike (and each pre spike) forms exactly one pair in the stationary
  state, so the pair rate is ``rate_pre + rate_post``.  Here ``0 <= delta <= h``.
- ``pairing="all"``: every pair, at the rate of the correlogram
  ``C(m) = P(pre at t, post at t + m)`` per step.

The distributions are computed by propagating the chain forward from a partner spike (the
partner held silent for nearest pairing), and the expected drift
``eta * sum_lags K(lag) * rate(lag)`` includes the infinite tail of the exponential window
exactly through a resolvent ``(I - r S)^{-1}``.  Drifts are in weight units per second, like
:func:`salpynn.analysis.predicted_drift`; :meth:`STDD.expected_drift` connects them with
:func:`salpynn.rule.expected_drift` (expected window value per pair).

Where the SAL fixed point lies (consequences of these conventions)
-----------------------------------------------------------------
- Equal biases and ``w_12 = w_21``: the system is symmetric under exchanging the neurons, the
  STDD is symmetric and the drift vanishes for every pairing and window: the diagonal is the
  fixed point.
- Unequal biases, rectangular PSPs with ``n_syn + d = n_ref + 1`` (the experiments' setting
  ``tau_syn = tau_ref``, ``d = 1``): the PSP's last step overlaps the sender's first
  non-refractory step, the process is **not** time-reversible, the correlogram is not
  symmetric on the diagonal and the fixed point moves off it (for ``b = (-0.5, 0.5)``,
  ``tau_ref = 10``, ``w_21 = 1``: ``w_12 = 1.45`` with nearest pairing and the exponential
  window, ``1.16`` with all pairs).  The NEST test confirms the non-zero drift.
- Rectangular PSPs with ``n_syn + d = n_ref`` (``tau_syn = tau_ref - h``): the PSP of a spike
  lasts exactly while its sender is refractory, the two-neuron process is time-reversible for
  symmetric weights, the correlogram is symmetric for any biases and the all-pairs drift
  vanishes on the diagonal (the authors' "rectangular PSPs stay on the diagonal").  Nearest
  pairing still sees unequal rates and moves the fixed point unless the window is shorter
  than the refractory time (triangular window of width ``tau_ref``).

Orientation: ``w_12`` is the weight of the connection 2 -> 1 (``W[0, 1]``), ``drift_12`` its
drift; lags of :func:`stdd` with ``pre=1`` are ``t_2 - t_1``, as in
``salpynn.analysis.stdd(spikes_1, spikes_2)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse
from scipy.optimize import brentq
from scipy.sparse.linalg import splu
from scipy.special import expit

from salpynn.rule import SIMULTANEITY_EPS, PairRule, window_kernel

__all__ = [
    "STDD",
    "TwoNeuronChain",
    "TwoNeuronModel",
    "attractor",
    "drift_grid",
    "firing_rates",
    "nullcline",
    "renewal_rate",
    "sal_drift",
    "stdd",
]

PSPS = ("rect", "alpha")
ESCAPES = ("logistic", "exp")
#: Alpha kernels are cut where kappa / max(kappa) = x e^(1 - x) < 1e-11 (x = age / tau_syn).
_ALPHA_CUT = 30.0
_NEGLIGIBLE = 1e-200


def _dot(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Dot product without BLAS: multithreaded BLAS calls on short vectors cost milliseconds
    each on a busy machine, and the chain makes thousands of them."""
    return float(np.multiply(a, b).sum())


@dataclass(frozen=True)
class TwoNeuronModel:
    """Two reciprocally coupled discrete-time sampling neurons (times in steps).

    Invalid values raise :class:`ValueError` naming the parameter.

    Attributes
    ----------
    w_12, w_21 : float
        Weights of the connections 2 -> 1 and 1 -> 2.
    b_1, b_2 : float
        Biases.
    tau_ref : int
        Refractory time in steps (``tau_ref / resolution`` of the NEST model).
    tau_syn : float, optional
        PSP time constant in steps: the duration of a rectangular PSP (an integer,
        ``n_syn + delay <= tau_ref + 1``) or the alpha time constant; default ``tau_ref``.
    psp : {"rect", "alpha"}
        PSP shape.
    escape : {"logistic", "exp"}
        Escape noise of ``sampling_neuron`` (``"logistic"`` is the authors' model).
    delay : int
        Synaptic delay in steps (>= 1; NEST's minimum is one step).
    resolution : float
        Step in ms; only used to express rates, lags and drifts in NEST's units.
    t_max : int, optional
        Age cap for alpha PSPs (the kernel is 0 from ``t_max - delay`` on); default
        ``delay + 30 tau_syn``, at least ``tau_ref``.

    Examples
    --------
    >>> model = TwoNeuronModel(w_12=1.5, w_21=0.5, b_1=-0.5, b_2=-0.2, tau_ref=25)
    >>> model.cap, model.n_states
    (26, 676)
    """

    w_12: float = 0.0
    w_21: float = 0.0
    b_1: float = 0.0
    b_2: float = 0.0
    tau_ref: int = 10
    tau_syn: float | None = None
    psp: Literal["rect", "alpha"] = "rect"
    escape: Literal["logistic", "exp"] = "logistic"
    delay: int = 1
    resolution: float = 0.1
    t_max: int | None = None

    def __post_init__(self) -> None:
        for name in ("w_12", "w_21", "b_1", "b_2"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)!r}")
        if self.psp not in PSPS:
            raise ValueError(f"psp must be one of {PSPS}, got {self.psp!r}")
        if self.escape not in ESCAPES:
            raise ValueError(f"escape must be one of {ESCAPES}, got {self.escape!r}")
        if not (isinstance(self.tau_ref, int | np.integer) and self.tau_ref >= 1):
            raise ValueError(f"tau_ref must be an integer number of steps >= 1, got {self.tau_ref}")
        if not (isinstance(self.delay, int | np.integer) and self.delay >= 1):
            raise ValueError(f"delay must be an integer number of steps >= 1, got {self.delay}")
        if not (math.isfinite(self.resolution) and self.resolution > 0):
            raise ValueError(f"resolution must be > 0 ms, got {self.resolution}")
        n_syn = self.n_syn
        if not (math.isfinite(n_syn) and n_syn > 0):
            raise ValueError(f"tau_syn must be > 0 steps, got {self.tau_syn}")
        if self.psp == "rect":
            if n_syn != round(n_syn):
                raise ValueError(f"tau_syn of a rectangular PSP must be whole steps, got {n_syn}")
            if n_syn + self.delay > self.tau_ref + 1:
                raise ValueError(
                    "rectangular PSPs need tau_syn + delay <= tau_ref + 1 (steps) for the age "
                    "chain to be exact (two PSPs of one neuron would overlap); got tau_syn = "
                    f"{n_syn:g}, delay = {self.delay}, tau_ref = {self.tau_ref}"
                )
            if self.t_max is not None:
                raise ValueError("t_max applies to alpha PSPs only (rect: the cap is exact)")
        elif self.t_max is not None and not (
            isinstance(self.t_max, int | np.integer) and self.t_max >= self.tau_ref
        ):
            raise ValueError(f"t_max must be an integer >= tau_ref, got {self.t_max}")

    @classmethod
    def from_ms(
        cls,
        tau_ref: float,
        tau_syn: float | None = None,
        delay: float = 0.1,
        resolution: float = 0.1,
        **parameters: object,
    ) -> TwoNeuronModel:
        """The model of NEST neurons whose times are given in ms (as in the experiments'
        configurations): ``tau_ref``, ``delay`` and a rectangular ``tau_syn`` must lie on the
        grid of ``resolution``; an alpha ``tau_syn`` may be any positive time.

        Examples
        --------
        >>> m = TwoNeuronModel.from_ms(tau_ref=2.5, w_12=1.5, w_21=0.5)
        >>> m.tau_ref, m.delay, m.resolution
        (25, 1, 0.1)
        """

        def steps(value: float, name: str) -> int:
            n = round(value / resolution)
            if not (n >= 1 and abs(n * resolution - value) <= 1e-9 * max(1.0, value)):
                raise ValueError(
                    f"{name} must be a positive multiple of the resolution ({resolution} ms), "
                    f"got {value} ms"
                )
            return int(n)

        syn: float | None = None
        if tau_syn is not None:
            if parameters.get("psp", "rect") == "rect":
                syn = steps(tau_syn, "tau_syn")
            else:
                syn = tau_syn / resolution
        return cls(
            tau_ref=steps(tau_ref, "tau_ref"),
            tau_syn=syn,
            delay=steps(delay, "delay"),
            resolution=resolution,
            **parameters,
        )

    @property
    def n_syn(self) -> float:
        """The PSP time constant in steps (``tau_ref`` unless ``tau_syn`` is set)."""
        return float(self.tau_ref if self.tau_syn is None else self.tau_syn)

    @property
    def cap(self) -> int:
        """Largest age of the chain; the state ``cap`` stands for every age ``>= cap``."""
        if self.psp == "rect":
            return max(self.tau_ref, self.delay + round(self.n_syn))
        if self.t_max is not None:
            return int(self.t_max)
        return max(self.tau_ref, self.delay + math.ceil(_ALPHA_CUT * self.n_syn))

    @property
    def n_states(self) -> int:
        return self.cap**2

    def with_(self, **changes: object) -> TwoNeuronModel:
        """A copy with some parameters changed (validated again)."""
        return replace(self, **changes)

    def psp_at(self, age: ArrayLike) -> NDArray[np.float64]:
        """PSP value ``kappa(age - delay)`` felt ``age`` steps after the partner's spike.

        Examples
        --------
        >>> TwoNeuronModel(tau_ref=3).psp_at([1, 2, 3, 4]).tolist()
        [1.0, 1.0, 1.0, 0.0]
        """
        x = np.asarray(age, dtype=float) - self.delay
        if self.psp == "rect":
            return ((x >= 0) & (x < self.n_syn)).astype(float)
        tau = self.n_syn
        value = self.tau_ref / tau**2 * np.maximum(x, 0.0) * np.exp(-np.maximum(x, 0.0) / tau)
        return np.where(np.asarray(age) >= self.cap, 0.0, value)

    def spike_probability(self, u: ArrayLike) -> NDArray[np.float64]:
        """Probability to fire in one non-refractory step at membrane state ``u``.

        Examples
        --------
        >>> round(float(TwoNeuronModel(tau_ref=10).spike_probability(0.0)), 6)
        0.090909
        """
        u = np.asarray(u, dtype=float)
        if self.escape == "logistic":
            return expit(u - math.log(self.tau_ref))
        return -np.expm1(-np.exp(u) / self.tau_ref)


@dataclass(frozen=True)
class STDD:
    """Rates of spike pairs per lag, on the grid ``lag = k * resolution + delta``.

    Attributes
    ----------
    lags : numpy.ndarray
        Lags in ms (``t_post + delta - t_pre`` of the synapse ``pre -> post``).
    rate : numpy.ndarray
        Pairs per second at each lag.
    total_rate : float
        Pairs per second over all lags, also beyond the grid (nearest pairing:
        ``rate_pre + rate_post``); ``inf`` for all-pairs pairing.
    pairing : {"nearest", "all"}
    resolution : float
        Step in ms (the lag grid's spacing).
    """

    lags: NDArray[np.float64]
    rate: NDArray[np.float64]
    total_rate: float
    pairing: str
    resolution: float

    @property
    def probabilities(self) -> NDArray[np.float64]:
        """Probability of each lag among all pairs (nearest pairing; sums to 1 with the
        pairs beyond the grid)."""
        return self.rate / self.total_rate

    @property
    def tail(self) -> float:
        """Fraction of the pairs outside the grid (nearest pairing)."""
        return 1.0 - float(self.rate.sum() / self.total_rate)

    def counts(self, duration: float) -> NDArray[np.float64]:
        """Expected pair counts per lag in ``duration`` ms: compare with
        ``salpynn.analysis.stdd(..., bin_size=resolution)`` (bins centred on the lags)."""
        return self.rate * duration / 1000.0

    def expected_drift(self, rule: PairRule) -> float:
        """``eta * sum K(lag) rate(lag)`` over the grid (weight units per second); equals
        ``eta * rate.sum() * salpynn.rule.expected_drift(lags, rate, rule)``.  Lags beyond
        the grid are missing (use :func:`sal_drift` for the exact drift)."""
        return rule.eta * _dot(window_kernel(self.lags, rule), self.rate)


@dataclass(frozen=True)
class _Branch:
    """Pairs of an event spike of neuron ``x`` with an earlier partner spike of ``y``.

    Their rate per step at lag ``m`` (steps, ``x`` after ``y``) is ``start @ S^(m - m0) @
    readout`` for ``m >= m0``, plus ``at_zero`` for ``m = 0``.  ``start`` is the state
    distribution one step after a partner spike, weighted by the partner's rate.
    """

    start: NDArray[np.float64]
    step: sparse.csr_matrix  # S, rows = from-state
    readout: NDArray[np.float64]
    m0: int
    at_zero: float  # rate per step of pairs at m = 0 (0 if there are none)

    def series(self, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Rates for ``m = m0 ... m0 + n - 1`` and ``start @ S^n``."""
        step_t = self.step.T.tocsr()
        out = np.empty(n)
        v = self.start
        for k in range(n):
            out[k] = _dot(v, self.readout)
            v = step_t @ v
            # Mass decaying under a silent partner would reach subnormal numbers (slow
            # arithmetic); below 1e-200 it is irrelevant.
            v[v < _NEGLIGIBLE] = 0.0
        return out, v

    def geometric_tail(self, v_n: NDArray[np.float64], r: float) -> float:
        """``sum_{k >= 0} r^k v_n S^k readout`` (exact, by one sparse solve)."""
        size = self.step.shape[0]
        system = (sparse.identity(size, format="csc") - r * self.step).tocsc()
        return _dot(v_n, splu(system).solve(self.readout))


class TwoNeuronChain:
    """The Markov chain of the two ages and everything computed from it.

    Parameters
    ----------
    model : TwoNeuronModel

    Attributes
    ----------
    ages : tuple of numpy.ndarray
        ``(a_1, a_2)`` of every state; state index ``(a_1 - 1) * cap + (a_2 - 1)``.
    p : tuple of numpy.ndarray
        Spike probability of neuron 1 and 2 in every state (0 while refractory).
    parts : dict
        ``(f_1, f_2) -> sparse matrix``: transitions in which neuron 1 fires (``f_1 = 1``) or
        not, and neuron 2 likewise; rows are from-states.  They sum to :attr:`transfer`.

    Examples
    --------
    >>> chain = TwoNeuronChain(TwoNeuronModel(tau_ref=10))
    >>> rates = chain.rates()  # Hz, resolution 0.1 ms: 1 / (9 + 11) steps
    >>> [round(r, 6) for r in rates]
    [500.0, 500.0]
    """

    def __init__(self, model: TwoNeuronModel) -> None:
        self.model = model
        cap = model.cap
        index = np.arange(cap * cap)
        a_1 = index // cap + 1
        a_2 = index % cap + 1
        self.ages = (a_1, a_2)
        u_1 = model.b_1 + model.w_12 * model.psp_at(a_2)
        u_2 = model.b_2 + model.w_21 * model.psp_at(a_1)
        p_1 = np.where(a_1 >= model.tau_ref, model.spike_probability(u_1), 0.0)
        p_2 = np.where(a_2 >= model.tau_ref, model.spike_probability(u_2), 0.0)
        self.p = (p_1, p_2)
        older_1 = np.minimum(a_1 + 1, cap)
        older_2 = np.minimum(a_2 + 1, cap)
        self.parts = {}
        for f_1 in (0, 1):
            for f_2 in (0, 1):
                next_1 = np.ones_like(a_1) if f_1 else older_1
                next_2 = np.ones_like(a_2) if f_2 else older_2
                prob = (p_1 if f_1 else 1.0 - p_1) * (p_2 if f_2 else 1.0 - p_2)
                target = (next_1 - 1) * cap + (next_2 - 1)
                self.parts[(f_1, f_2)] = sparse.csr_matrix(
                    (prob, (index, target)), shape=(cap * cap, cap * cap)
                )

    @property
    def n_states(self) -> int:
        return self.ages[0].size

    @cached_property
    def transfer(self) -> sparse.csr_matrix:
        """Row-stochastic transfer matrix ``T[s, s']`` (state of step ``t`` to step ``t+1``)."""
        return self.parts[(0, 0)] + self.parts[(0, 1)] + self.parts[(1, 0)] + self.parts[(1, 1)]

    def fires(self, neuron: int) -> sparse.csr_matrix:
        """Transitions in which ``neuron`` (1 or 2) fires, the other one either way."""
        if neuron == 1:
            return self.parts[(1, 0)] + self.parts[(1, 1)]
        return self.parts[(0, 1)] + self.parts[(1, 1)]

    def silent(self, neuron: int) -> sparse.csr_matrix:
        """Transitions in which ``neuron`` (1 or 2) does not fire."""
        if neuron == 1:
            return self.parts[(0, 0)] + self.parts[(0, 1)]
        return self.parts[(0, 0)] + self.parts[(1, 0)]

    @cached_property
    def stationary(self) -> NDArray[np.float64]:
        """Stationary distribution ``pi`` (``pi T = pi``, sums to 1).

        Solved directly: ``(T^T - I) pi = 0`` with the component of the state "both silent
        for a long time" fixed, then normalised (one sparse LU, no eigen-solver).
        """
        size = self.n_states
        system = (self.transfer.T - sparse.identity(size, format="csr")).tocsr()
        ref = size - 1  # the state (cap, cap), reachable from every state
        keep = np.arange(size - 1)
        reduced = system[keep][:, keep].tocsc()
        rhs = -system[keep][:, [ref]].toarray().ravel()
        rest = splu(reduced).solve(rhs)
        pi = np.append(rest, 1.0)
        pi = np.clip(pi, 0.0, None)
        return pi / pi.sum()

    def _per_second(self) -> float:
        return 1000.0 / self.model.resolution

    def rates(self) -> tuple[float, float]:
        """Firing rates of neuron 1 and 2 in Hz."""
        pi = self.stationary
        return tuple(_dot(pi, p) * self._per_second() for p in self.p)

    def simultaneous_rate(self) -> float:
        """Rate (Hz) of steps in which both neurons fire."""
        return _dot(self.stationary, self.p[0] * self.p[1]) * self._per_second()

    # -- pairs -------------------------------------------------------------------------------

    def _nearest_branch(self, x: int, y: int, gap: int) -> _Branch:
        """Spikes of ``x`` paired with the latest spike of ``y`` at or before ``t + gap``
        (``gap`` in {0, -1, -2}, see :meth:`_gaps`)."""
        pi = self.stationary
        p_x, p_y = self.p[x - 1], self.p[y - 1]
        start = self.fires(y).T @ pi
        step = self.silent(y)
        if gap == 0:
            return _Branch(start, step, p_x * (1.0 - p_y), 1, _dot(pi, p_x * p_y))
        if gap == -1:
            return _Branch(start, step, p_x, 1, 0.0)
        # The partner may fire in the last two steps: one free step, then x fires.
        return _Branch(start, step, self.transfer @ p_x, 2, 0.0)

    def _all_branch(self, x: int, y: int, with_zero: bool) -> _Branch:
        pi = self.stationary
        zero = _dot(pi, self.p[0] * self.p[1]) if with_zero else 0.0
        return _Branch(self.fires(y).T @ pi, self.transfer, self.p[x - 1], 1, zero)

    def _gaps(self, lag_delay: float) -> tuple[int, int]:
        """How far after an event spike (in steps) the partner's latest spike may lie, for the
        causal (post event) and anticausal (pre event) branch of nearest pairing."""
        h = self.model.resolution
        if not (-SIMULTANEITY_EPS <= lag_delay <= h + SIMULTANEITY_EPS):
            raise ValueError(
                f"nearest pairing needs a lag delay in [0, resolution] = [0, {h}] ms, "
                f"got {lag_delay}"
            )
        causal = 0 if lag_delay > SIMULTANEITY_EPS else -1
        anticausal = -2 if lag_delay >= h - SIMULTANEITY_EPS else -1
        return causal, anticausal

    def _branches(self, pre: int, pairing: str, lag_delay: float) -> tuple[_Branch, _Branch]:
        """(causal, anticausal) branches of the synapse ``pre -> post``."""
        post = 3 - pre
        if pairing == "nearest":
            causal_gap, anticausal_gap = self._gaps(lag_delay)
            return (
                self._nearest_branch(post, pre, causal_gap),
                self._nearest_branch(pre, post, anticausal_gap),
            )
        if pairing == "all":
            return self._all_branch(post, pre, True), self._all_branch(pre, post, False)
        raise ValueError(f'pairing must be "nearest" or "all", got {pairing!r}')

    def stdd(
        self,
        pre: int = 1,
        pairing: Literal["nearest", "all"] = "nearest",
        max_lag: int = 100,
        lag_delay: float = 0.0,
    ) -> STDD:
        """Pair rates per lag of the synapse ``pre -> post`` (``post = 3 - pre``).

        Parameters
        ----------
        pre : {1, 2}
            Presynaptic neuron; ``pre=1`` gives lags ``t_2 + lag_delay - t_1``.
        pairing : {"nearest", "all"}
            SAL's nearest-spike pairing or every pair (the correlogram).
        max_lag : int
            Largest ``|k|`` of the lag grid ``k * resolution + lag_delay``, in steps.
        lag_delay : float
            ``delta`` in ms (see the module docstring).

        Returns
        -------
        STDD
        """
        if pre not in (1, 2):
            raise ValueError(f"pre must be 1 or 2, got {pre}")
        if not (isinstance(max_lag, int | np.integer) and max_lag >= 1):
            raise ValueError(f"max_lag must be an integer number of steps >= 1, got {max_lag}")
        causal, anticausal = self._branches(pre, pairing, lag_delay)
        per_step = np.zeros(2 * max_lag + 1)  # index k + max_lag
        per_step[max_lag] = causal.at_zero
        for branch, sign in ((causal, 1), (anticausal, -1)):
            n = max_lag - branch.m0 + 1
            if n > 0:
                values, _ = branch.series(n)
                k = sign * (branch.m0 + np.arange(n))
                per_step[k + max_lag] += values
        if pairing == "nearest":
            pi = self.stationary
            total = _dot(pi, self.p[0]) + _dot(pi, self.p[1])
        else:
            total = math.inf
        h = self.model.resolution
        return STDD(
            lags=np.arange(-max_lag, max_lag + 1) * h + lag_delay,
            rate=per_step * self._per_second(),
            total_rate=total * self._per_second(),
            pairing=pairing,
            resolution=h,
        )

    def nearest_pair_rate(self, pre: int = 1, lag_delay: float = 0.0) -> float:
        """Rate (Hz) of all nearest pairs of the synapse ``pre -> post``, summed branch by
        branch to infinite lags (equals ``rate_1 + rate_2`` in the stationary state)."""
        total = 0.0
        for branch in self._branches(pre, "nearest", lag_delay):
            total += branch.at_zero + branch.geometric_tail(branch.start, 1.0)
        return total * self._per_second()

    def drift(self, rule: PairRule, lag_delay: float | None = None) -> tuple[float, float]:
        """Expected drift of ``(w_12, w_21)`` under ``rule`` (its window, pairing and ``eta``)
        in weight units per second, exact (the exponential window's tail included).

        ``lag_delay`` (ms) defaults to ``rule.lag_delay(delay * resolution)``: the lags the
        NEST synapse with this delay and ``dendritic_delay`` sees.
        """
        h = self.model.resolution
        if lag_delay is None:
            lag_delay = rule.lag_delay(self.model.delay * h)
        return (
            self._synapse_drift(2, rule, lag_delay),  # w_12: 2 -> 1
            self._synapse_drift(1, rule, lag_delay),  # w_21: 1 -> 2
        )

    def _synapse_drift(self, pre: int, rule: PairRule, lag_delay: float) -> float:
        h = self.model.resolution
        total = 0.0
        branches = self._branches(pre, rule.pairing, lag_delay)
        for branch, sign in zip(branches, (1, -1), strict=True):
            tau = rule.tau_causal if sign > 0 else rule.tau_anticausal
            amplitude = rule.a_causal if sign > 0 else rule.a_anticausal
            # Explicit terms cover the triangular window's support and every lag whose sign
            # lag_delay might flip; beyond them the exponential window is geometric in m.
            n = math.ceil((tau + abs(lag_delay)) / h) + 2
            values, v_n = branch.series(n)
            m = branch.m0 + np.arange(n)
            total += _dot(window_kernel(sign * m * h + lag_delay, rule), values)
            if branch.at_zero:
                total += branch.at_zero * float(window_kernel(lag_delay, rule))
            if rule.window == "exp" and amplitude != 0.0:
                r = math.exp(-h / tau)
                scale = amplitude * math.exp(-sign * lag_delay / tau) * r ** (branch.m0 + n)
                total += scale * branch.geometric_tail(v_n, r)
        return rule.eta * total * self._per_second()


def _model(model: TwoNeuronModel | None, kwargs: dict[str, object]) -> TwoNeuronModel:
    if model is None:
        return TwoNeuronModel(**kwargs)
    return model.with_(**kwargs) if kwargs else model


def stdd(
    model: TwoNeuronModel,
    pairing: Literal["nearest", "all"] = "nearest",
    pre: int = 1,
    max_lag: int = 100,
    lag_delay: float = 0.0,
) -> STDD:
    """Exact STDD of the synapse ``pre -> post`` of ``model``; see
    :meth:`TwoNeuronChain.stdd`.

    Examples
    --------
    A stronger ``w_21`` (1 -> 2) makes "1 then 2" pairs at short lags more likely:

    >>> s = stdd(TwoNeuronModel(w_12=0.4, w_21=0.8, b_1=-0.5, b_2=-0.5, tau_ref=10), max_lag=5)
    >>> bool(s.rate[s.lags > 0][0] > s.rate[s.lags < 0][-1])
    True
    """
    return TwoNeuronChain(model).stdd(pre, pairing, max_lag, lag_delay)


def firing_rates(model: TwoNeuronModel) -> tuple[float, float]:
    """Stationary firing rates (Hz) of neuron 1 and 2."""
    return TwoNeuronChain(model).rates()


def renewal_rate(
    b: float,
    tau_ref: int,
    escape: Literal["logistic", "exp"] = "logistic",
    resolution: float = 0.1,
) -> float:
    """Firing rate (Hz) of an isolated ``sampling_neuron``: ``1 / (n_ref - 1 + 1 / p(b))``
    per step (inter-spike interval ``n_ref - 1 + G``, ``G`` geometric).

    Examples
    --------
    >>> round(renewal_rate(0.0, 10), 6)
    500.0
    """
    p = float(TwoNeuronModel(b_1=b, tau_ref=tau_ref, escape=escape).spike_probability(b))
    return 1000.0 / resolution / (tau_ref - 1 + 1.0 / p)


def sal_drift(
    model: TwoNeuronModel, rule: PairRule, lag_delay: float | None = None
) -> tuple[float, float]:
    """Exact expected drift ``(dw_12/dt, dw_21/dt)`` in weight units per second.

    The units of :func:`salpynn.analysis.predicted_drift` on spikes of the same system (same
    ``rule``, same lag delay); see :meth:`TwoNeuronChain.drift`.

    Examples
    --------
    The authors' check (rectangular PSP, tau_ref = 10): the larger weight decreases.

    >>> rule = PairRule.sal(tau=1.0, eta=1.0, dendritic_delay=0.0)
    >>> d_12, d_21 = sal_drift(TwoNeuronModel(w_12=1.5, w_21=0.5, tau_ref=10), rule)
    >>> bool(d_12 < 0 < d_21), bool(abs(d_12 + d_21) < 1e-9 * abs(d_12))
    (True, True)
    """
    return TwoNeuronChain(model).drift(rule, lag_delay)


def drift_grid(
    w_12: ArrayLike,
    w_21: ArrayLike,
    rule: PairRule,
    model: TwoNeuronModel | None = None,
    lag_delay: float | None = None,
    **parameters: object,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Exact drift of both weights on a grid, ``[i, j]`` at ``(w_12[j], w_21[i])``.

    The orientation of :class:`salpynn.experiments.two_neuron_figures.DriftField`.  The other
    parameters come from ``model`` (default :class:`TwoNeuronModel`) updated by
    ``parameters``.

    Returns
    -------
    drift_12, drift_21 : numpy.ndarray
        Weight units per second, shape ``(len(w_21), len(w_12))``.
    """
    base = _model(model, parameters)
    x = np.asarray(w_12, dtype=float).ravel()
    y = np.asarray(w_21, dtype=float).ravel()
    out = np.zeros((2, y.size, x.size))
    for i, b in enumerate(y):
        for j, a in enumerate(x):
            out[:, i, j] = TwoNeuronChain(base.with_(w_12=a, w_21=b)).drift(rule, lag_delay)
    return out[0], out[1]


def nullcline(
    w_21: ArrayLike,
    rule: PairRule,
    model: TwoNeuronModel | None = None,
    bracket: tuple[float, float] = (-3.0, 3.0),
    quantity: Literal["difference", "w_12"] = "difference",
    lag_delay: float | None = None,
    xtol: float = 1e-7,
    **parameters: object,
) -> NDArray[np.float64]:
    """The SAL fixed-point curve: for each ``w_21`` the ``w_12`` where a drift changes sign.

    ``quantity="difference"``: the drift of ``w_12 - w_21`` (both weights plastic; SAL keeps
    their sum), the attractor of Fig. 2e.  ``quantity="w_12"``: the drift of ``w_12`` alone
    (only ``w_12`` plastic).  Roots are found with Brent's method in ``bracket``; NaN where the
    drift has the same sign at both ends.  The curve is the diagonal for equal biases; for
    unequal ones see the module docstring.

    Parameters
    ----------
    w_21 : array_like
        Values of the connection 1 -> 2.
    rule : salpynn.rule.PairRule
        The plasticity rule (window, pairing, amplitudes).
    model : TwoNeuronModel, optional
        Biases, time constants, PSP; updated by ``parameters``.
    bracket : (float, float)
        Search interval for ``w_12``.
    quantity : {"difference", "w_12"}
        Which drift must vanish.
    lag_delay : float, optional
        See :meth:`TwoNeuronChain.drift`.
    xtol : float
        Absolute tolerance on ``w_12``.

    Returns
    -------
    numpy.ndarray
        ``w_12`` per ``w_21``.

    Examples
    --------
    >>> rule = PairRule.sal(tau=1.0, eta=1.0, dendritic_delay=0.0)
    >>> nullcline([0.5], rule, b_1=-0.5, b_2=-0.5, tau_ref=10).round(6).tolist()
    [0.5]
    >>> nullcline([0.5], rule, b_1=-0.5, b_2=0.5, tau_ref=10).round(3).tolist()
    [0.911]
    """
    if quantity not in ("difference", "w_12"):
        raise ValueError(f'quantity must be "difference" or "w_12", got {quantity!r}')
    base = _model(model, parameters)
    low, high = bracket
    if not low < high:
        raise ValueError(f"bracket must be (low, high) with low < high, got {bracket}")

    def drift(a: float, b: float) -> float:
        d_12, d_21 = TwoNeuronChain(base.with_(w_12=a, w_21=b)).drift(rule, lag_delay)
        return d_12 - d_21 if quantity == "difference" else d_12

    out = []
    for b in np.asarray(w_21, dtype=float).ravel():
        f_low, f_high = drift(low, b), drift(high, b)
        if f_low == 0.0:
            out.append(low)
        elif f_high == 0.0:
            out.append(high)
        elif np.sign(f_low) == np.sign(f_high):
            out.append(math.nan)
        else:
            out.append(brentq(drift, low, high, args=(b,), xtol=xtol))
    return np.asarray(out, dtype=float)


def attractor(
    w_21: ArrayLike,
    rule: PairRule,
    model: TwoNeuronModel | None = None,
    quantity: Literal["difference", "w_12"] = "w_12",
    first_step: float = 0.05,
    reach: float = 4.0,
    lag_delay: float | None = None,
    xtol: float = 1e-5,
    **parameters: object,
) -> NDArray[np.float64]:
    """The fixed point that SAL reaches from the diagonal: for each ``w_21``, start at
    ``w_12 = w_21``, follow the sign of the drift with doubling steps (``first_step``, ...)
    until it changes, and refine with Brent's method.  NaN if no sign change lies within
    ``reach`` of the diagonal.

    Unlike :func:`nullcline`, whose bracket may hold several roots (alpha PSPs give extra,
    unstable ones far from the diagonal), this is the stable root a simulation starting on
    the diagonal settles at.

    Examples
    --------
    >>> rule = PairRule.sal(tau=1.0, eta=1.0, dendritic_delay=0.0)
    >>> attractor([0.5, -1.0], rule, b_1=-0.5, b_2=-0.5, tau_ref=10).round(6).tolist()
    [0.5, -1.0]
    """
    if quantity not in ("difference", "w_12"):
        raise ValueError(f'quantity must be "difference" or "w_12", got {quantity!r}')
    if not (first_step > 0 and reach > first_step):
        raise ValueError(f"need 0 < first_step < reach, got {first_step}, {reach}")
    base = _model(model, parameters)

    def drift(a: float, b: float) -> float:
        d_12, d_21 = TwoNeuronChain(base.with_(w_12=a, w_21=b)).drift(rule, lag_delay)
        return d_12 - d_21 if quantity == "difference" else d_12

    out = []
    for b in np.asarray(w_21, dtype=float).ravel():
        x0, f0 = b, drift(b, b)
        if f0 == 0.0:
            out.append(b)
            continue
        direction, step, found = math.copysign(1.0, f0), first_step, math.nan
        while abs(x0 - b) < reach:
            x1 = x0 + direction * step
            f1 = drift(x1, b)
            if f1 == 0.0 or math.copysign(1.0, f1) != direction:
                found = x1 if f1 == 0.0 else brentq(drift, *sorted((x0, x1)), args=(b,), xtol=xtol)
                break
            x0, step = x1, 2.0 * step
        out.append(found)
    return np.asarray(out, dtype=float)
