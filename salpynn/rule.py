"""The SAL rule in NumPy: the window, a pair-by-pair reference, and the expected drift.

This module is the one Python place where the signed pair-based window lives.  The NEST
mechanism (``mechanisms/sal_synapse.h``) implements the same rule with traces; the tests hold
the two together spike for spike.

Conventions
-----------
- Lag: ``dt = t_post + delay - t_pre`` (the whole delay is dendritic, as in NEST's
  ``stdp_synapse``).  ``dt > 0`` means "pre before post" (causal).
- Window: ``K(dt) = a_causal * k(dt / tau_causal)`` for ``dt > 0``,
  ``K(dt) = a_anticausal * k(-dt / tau_anticausal)`` for ``dt < 0`` and ``K(0) = 0``, with
  ``k(x) = exp(-x)`` or ``max(0, 1 - x)``.
- SAL is ``a_causal = -1, a_anticausal = +1`` (reversed, antisymmetric); Hebbian STDP is
  ``a_causal = a_anticausal = +1``.
- Spikes closer than :data:`SIMULTANEITY_EPS` (NEST's ``stdp_eps``, 1e-6 ms) are simultaneous
  and never pair.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from salpynn.config import ConfigError, param

__all__ = [
    "SIMULTANEITY_EPS",
    "PairRule",
    "RuleConfig",
    "Trajectory",
    "check_synapse_values",
    "expected_drift",
    "settled_weight",
    "weight_trajectory",
    "window_kernel",
]

#: Two spikes closer than this (ms) are simultaneous (NEST's default ``stdp_eps``).
SIMULTANEITY_EPS = 1.0e-6

WINDOWS = ("exp", "triangular")
PAIRINGS = ("nearest", "all")


@dataclass(frozen=True)
class PairRule:
    """Parameters of the signed pair-based rule, in NEST units (ms).

    The names and defaults are those of the ``sal_synapse`` NEST model.  Invalid values raise
    :class:`ValueError` naming the parameter and its allowed range.

    Examples
    --------
    >>> rule = PairRule(eta=0.1)
    >>> float(rule.kernel(5.0))  # pre 5 ms before post: SAL depresses
    -0.6065306597126334
    """

    eta: float = 0.01
    a_causal: float = -1.0
    a_anticausal: float = 1.0
    tau_causal: float = 10.0
    tau_anticausal: float = 10.0
    window: Literal["exp", "triangular"] = "exp"
    pairing: Literal["nearest", "all"] = "nearest"
    w_min: float = -math.inf
    w_max: float = math.inf
    dendritic_delay: float = -1.0  # ms in the lags; -1: the whole delay (NEST's convention)

    def __post_init__(self) -> None:
        for name in ("eta", "a_causal", "a_anticausal"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)!r}")
        for name in ("tau_causal", "tau_anticausal"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0 ms and finite, got {value!r}")
        if self.window not in WINDOWS:
            raise ValueError(f"window must be one of {WINDOWS}, got {self.window!r}")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {PAIRINGS}, got {self.pairing!r}")
        if not (self.dendritic_delay == -1.0 or 0 <= self.dendritic_delay < math.inf):
            raise ValueError(
                "dendritic_delay must be -1 (the whole delay) or in [0, delay] ms, "
                f"got {self.dendritic_delay!r}"
            )
        if math.isnan(self.w_min) or math.isnan(self.w_max) or self.w_min > self.w_max:
            raise ValueError(f"w_min must be <= w_max, got w_min={self.w_min}, w_max={self.w_max}")

    @classmethod
    def sal(cls, tau: float = 10.0, **kwargs: object) -> PairRule:
        """The SAL rule: reversed antisymmetric window of width ``tau`` on both sides."""
        return cls(a_causal=-1.0, a_anticausal=1.0, tau_causal=tau, tau_anticausal=tau, **kwargs)

    @classmethod
    def hebbian(cls, tau: float = 10.0, **kwargs: object) -> PairRule:
        """Symmetric Hebbian STDP (``a_causal = a_anticausal = +1``)."""
        return cls(a_causal=1.0, a_anticausal=1.0, tau_causal=tau, tau_anticausal=tau, **kwargs)

    def with_(self, **changes: object) -> PairRule:
        """A copy with some parameters changed (validated again)."""
        return replace(self, **changes)

    def to_nest(self) -> dict[str, float]:
        """The numeric parameters, for a ``syn_spec`` of ``sal_synapse``.

        NEST's ``Connect`` accepts only numbers in ``syn_spec``; ``window`` and ``pairing``
        are model defaults (:meth:`model_defaults`, set with ``CopyModel``/``SetDefaults``).
        :func:`salpynn.nest.sal_syn_spec` combines both.
        """
        params = asdict(self)
        return {k: float(v) for k, v in params.items() if k not in ("window", "pairing")}

    def lag_delay(self, delay: float) -> float:
        """The ms added to postsynaptic times in the lags for a synapse with ``delay``
        (``dendritic_delay``, or the whole delay for -1): the ``delay`` argument of
        :func:`weight_trajectory` and :func:`settled_weight`."""
        return delay if self.dendritic_delay == -1.0 else self.dendritic_delay

    def model_defaults(self) -> dict[str, str]:
        """``window`` and ``pairing``: string parameters set per synapse model in NEST."""
        return {"window": self.window, "pairing": self.pairing}

    def kernel(self, dt: ArrayLike) -> NDArray[np.float64]:
        """The window ``K(dt)`` without the learning rate; see :func:`window_kernel`."""
        return window_kernel(dt, self)


@dataclass(frozen=True)
class RuleConfig:
    """The ``rule`` block of an experiment's configuration: :class:`PairRule`'s names.

    ``None`` means "set by the experiment": the time constants default to the experiment's
    ``tau_ref``; an experiment that derives ``eta``, the bounds or ``dendritic_delay`` from
    its own parameters says so in its documentation and refuses explicit values.
    :meth:`resolve` turns the block into the :class:`PairRule` the synapses get.
    """

    eta: float | None = param(0.01, "", "learning rate per spike pair")
    a_causal: float = param(-1.0, "", "amplitude for pre before post (SAL: -1)")
    a_anticausal: float = param(1.0, "", "amplitude for post before pre (SAL: +1)")
    tau_causal: float | None = param(None, "ms", "causal window width (none: tau_ref)")
    tau_anticausal: float | None = param(None, "ms", "anticausal window width (none: tau_ref)")
    window: Literal["exp", "triangular"] = param("exp", "", "window shape k(x)")
    pairing: Literal["nearest", "all"] = param("nearest", "", "which earlier partners pair")
    w_min: float | None = param(-math.inf, "", "lower weight bound")
    w_max: float | None = param(math.inf, "", "upper weight bound")
    dendritic_delay: float | None = param(
        None,
        "ms",
        "added to post times in the lags: -1 = the whole delay, 0 = lags between spike times; "
        "none: 0 where the backend can (NEST; Brian2 with delay >= 2 steps), else -1",
    )

    def resolve(
        self, tau: float, delay: float, resolution: float, backend: str, **derived: Any
    ) -> PairRule:
        """The :class:`PairRule` of synapses with this ``delay`` on ``backend``.

        Unset time constants become ``tau``; an unset ``dendritic_delay`` becomes 0 (lags
        between the spike times, as in the authors' discrete-time code, so that SAL conserves
        ``W_ij + W_ji`` exactly) where the backend allows it, else -1 (the whole delay); other
        unset fields take the experiment's ``derived`` values.  A set ``dendritic_delay`` must
        be -1 or in ``[0, delay]``, and on Brian2 at least ``2 * resolution - delay`` (the
        presynaptic side must be seen first).  Errors name ``rule.<field>``.
        """
        d = self.dendritic_delay
        if d is not None and d != -1.0:
            if not (0.0 <= d <= delay):
                raise ConfigError(
                    "rule.dendritic_delay must be -1 (the whole delay) or in [0, delay] ms; got "
                    f"{d} with delay {delay} ms"
                )
            if backend == "brian2" and d < 2 * resolution - delay - 1e-12:
                raise ConfigError(
                    "rule.dendritic_delay must be -1 or at least 2 * resolution - delay = "
                    f"{2 * resolution - delay:g} ms on the brian2 backend, got {d}"
                )
        if d is None:
            d = 0.0 if backend == "nest" or delay >= 2 * resolution - 1e-12 else -1.0
        values = {
            **asdict(self),
            "tau_causal": tau if self.tau_causal is None else self.tau_causal,
            "tau_anticausal": tau if self.tau_anticausal is None else self.tau_anticausal,
            "dendritic_delay": d,
            **derived,
        }
        missing = [f"rule.{k}" for k, v in values.items() if v is None]
        if missing:
            raise ConfigError(f"{', '.join(missing)} must be set (a number)")
        try:
            return PairRule(**values)
        except ValueError as err:
            raise ConfigError(f"rule.{err}") from err

    def refuse(self, reasons: dict[str, str]) -> None:
        """Raise :class:`ConfigError` for any field in ``reasons`` that is not ``None``
        (fields an experiment derives itself; the reason says from what)."""
        for field, reason in reasons.items():
            if getattr(self, field) is not None:
                raise ConfigError(f"rule.{field} is {reason}; leave it unset (none)")


def _number(x: float) -> str:
    """A number as sal_synapse.h prints it (12 significant digits)."""
    return f"{float(x):.12g}"


def check_synapse_values(
    owner: str,
    values: dict[str, ArrayLike],
    connections: tuple[ArrayLike, ArrayLike] | None = None,
) -> None:
    """Refuse connection values that ``sal_synapse`` would refuse, all at once and in the
    caller's units.

    Checks the relations between a connection's ``weight``, ``w_min``, ``w_max``, ``delay``
    and ``dendritic_delay`` with the sentences of ``mechanisms/sal_synapse.h``: the weight is
    finite and lies in ``[w_min, w_max]``, and ``dendritic_delay`` is -1 (the whole delay) or in
    ``[0, delay]`` ms.  Entry points call it on the whole request, so that a refused request
    changes nothing.

    Parameters
    ----------
    owner : str
        What is checked (``"SALSynapse"``, ``"sal_syn_spec"``); it starts the message.
    values : dict
        Any of the five names, each a number or an array (one value per connection, all of
        one length).  A missing name is not checked: a missing bound is unbounded, a missing
        delay unlimited.
    connections : (pre, post), optional
        Presynaptic and postsynaptic index of each connection.  The message then names the
        refused connection first in ``(pre, post)`` order (``"1 -> 0"``), whatever the order
        of the arrays, so that every backend names the same one.

    Raises
    ------
    ValueError
        Naming the parameter, the value and the allowed range.

    Examples
    --------
    >>> check_synapse_values("SALSynapse", {"weight": 5.0, "w_max": 1.0})
    Traceback (most recent call last):
    ...
    ValueError: SALSynapse: weight must be finite and lie in [w_min, w_max] = [-inf, 1]; got 5
    """
    given = {name: np.atleast_1d(np.asarray(value, dtype=float)) for name, value in values.items()}
    size = max((v.size for v in given.values()), default=0)
    arrays = {name: np.broadcast_to(v, (size,)) for name, v in given.items()}
    low = arrays.get("w_min", np.full(size, -np.inf))
    high = arrays.get("w_max", np.full(size, np.inf))

    def refuse(bad: NDArray[np.bool_], sentence: Callable[[int], str]) -> None:
        if not bad.any():
            return
        refused = np.flatnonzero(bad)
        first = int(refused[0])
        where = ""
        if connections is not None or size > 1:
            label = str(first)
            if connections is not None:
                pre, post = (np.broadcast_to(np.asarray(x), (size,)) for x in connections)
                first = int(refused[np.lexsort((post[refused], pre[refused]))[0]])
                label = f"{pre[first]} -> {post[first]}"
            more = f"; {refused.size} of {size} refused" if refused.size > 1 else ""
            where = f" (connection {label}{more})"
        raise ValueError(f"{owner}: {sentence(first)}{where}")

    refuse(
        np.isnan(low) | np.isnan(high) | (low > high),
        lambda i: (
            f"w_min must be <= w_max; got w_min = {_number(low[i])}, w_max = {_number(high[i])}"
        ),
    )
    if "weight" in arrays:
        w = arrays["weight"]
        bounds = "w_min" in arrays or "w_max" in arrays  # else only "finite" is checked
        refuse(
            ~(np.isfinite(w) & (w >= low) & (w <= high)),
            lambda i: (
                "weight must be finite and lie in [w_min, w_max]"
                + (f" = [{_number(low[i])}, {_number(high[i])}]" if bounds else "")
                + f"; got {_number(w[i])}"
            ),
        )
    if "dendritic_delay" in arrays:
        d = arrays["dendritic_delay"]
        delay = arrays.get("delay", np.full(size, np.inf))
        expected = "dendritic_delay must be -1 (the whole delay) or in [0, delay] ms; got "
        refuse(
            (d != -1.0) & ~((d >= 0.0) & np.isfinite(d)),
            lambda i: f"{expected}{_number(d[i])} ms",
        )
        refuse(
            d > delay + SIMULTANEITY_EPS,
            lambda i: f"{expected}{_number(d[i])} ms with delay {_number(delay[i])} ms",
        )


def _unit_window(x: NDArray[np.float64], window: str) -> NDArray[np.float64]:
    if window == "exp":
        return np.exp(-x)
    return np.maximum(0.0, 1.0 - x)


def window_kernel(dt: ArrayLike, rule: PairRule) -> NDArray[np.float64]:
    """Evaluate the signed pair-based window ``K(dt)`` (no learning rate).

    Parameters
    ----------
    dt : array_like
        Lags ``t_post + delay - t_pre`` in ms.
    rule : PairRule
        Amplitudes, time constants and window shape.

    Returns
    -------
    numpy.ndarray
        ``K(dt)``, same shape as ``dt``; exactly 0 at ``|dt| <= SIMULTANEITY_EPS``.

    Examples
    --------
    >>> rule = PairRule.sal(tau=10.0)
    >>> window_kernel([-10.0, 0.0, 10.0], rule).round(4).tolist()
    [0.3679, 0.0, -0.3679]
    """
    dt = np.asarray(dt, dtype=float)
    out = np.zeros_like(dt)
    causal = dt > SIMULTANEITY_EPS
    anticausal = dt < -SIMULTANEITY_EPS
    out[causal] = rule.a_causal * _unit_window(dt[causal] / rule.tau_causal, rule.window)
    out[anticausal] = rule.a_anticausal * _unit_window(
        -dt[anticausal] / rule.tau_anticausal, rule.window
    )
    return out


@dataclass(frozen=True)
class Trajectory:
    """Weight after every spike event, in the order the rule applies them.

    ``is_pre[i]`` tells whether event ``i`` is a presynaptic spike (time ``t_pre``) or a
    postsynaptic one (effective time ``t_post + delay``).  NEST applies the changes due to
    postsynaptic spikes only when the next presynaptic spike is transmitted, so the weights
    NEST reports (``weight_recorder``, final ``GetStatus``) are :attr:`at_pre`.
    """

    times: NDArray[np.float64]
    is_pre: NDArray[np.bool_]
    weights: NDArray[np.float64]

    @property
    def at_pre(self) -> NDArray[np.float64]:
        """Weights right after each presynaptic spike."""
        return self.weights[self.is_pre]

    @property
    def final(self) -> float:
        """Weight after the last event (including trailing postsynaptic spikes)."""
        return float(self.weights[-1]) if self.weights.size else math.nan


def weight_trajectory(
    pre_times: ArrayLike,
    post_times: ArrayLike,
    w0: float,
    rule: PairRule,
    delay: float = 0.0,
) -> Trajectory:
    """Reference implementation of the signed pair-based rule, pair by pair.

    Every spike completes pairs with *strictly earlier* spikes of the other side: only the
    latest one (``pairing="nearest"``) or all of them (``pairing="all"``).  The window values
    of the pairs a spike completes are summed, ``eta`` times the sum is added to the weight,
    and the weight is clipped to ``[w_min, w_max]``.  Spikes are processed in time order,
    postsynaptic before presynaptic at equal times.  This code enumerates pairs explicitly and
    shares nothing with the trace-based C++ mechanism it is used to test.

    Parameters
    ----------
    pre_times, post_times : array_like
        Spike times in ms (presynaptic at the synapse, postsynaptic at the soma).
    w0 : float
        Initial weight; must lie in ``[w_min, w_max]``.
    rule : PairRule
        The rule.
    delay : float
        Dendritic delay in ms, added to the postsynaptic times.

    Returns
    -------
    Trajectory

    Raises
    ------
    ValueError
        If ``w0`` lies outside the bounds or ``delay`` is negative.

    Examples
    --------
    Pre at 10 ms, post at 15 ms: one causal pair, ``dt = 5``; SAL depresses.

    >>> traj = weight_trajectory([10.0], [15.0], 1.0, PairRule.sal(eta=0.1))
    >>> round(traj.final, 6)
    0.939347
    """
    if not (rule.w_min <= w0 <= rule.w_max):
        raise ValueError(f"w0={w0} must lie in [w_min, w_max] = [{rule.w_min}, {rule.w_max}]")
    if not delay >= 0:
        raise ValueError(f"delay must be >= 0 ms, got {delay}")
    pre = np.sort(np.asarray(pre_times, dtype=float))
    post = np.sort(np.asarray(post_times, dtype=float)) + delay

    times = np.concatenate([post, pre])
    is_pre = np.concatenate([np.zeros(post.size, bool), np.ones(pre.size, bool)])
    # Sort on (time, kind): posts (False) before pres at equal times, where "equal" means
    # within SIMULTANEITY_EPS (t_post + delay is rarely bit-identical to t_pre).
    order = np.lexsort((is_pre, np.round(times / SIMULTANEITY_EPS)))
    times, is_pre = times[order], is_pre[order]

    weights = np.empty(times.size)
    w = float(w0)
    for i, (t, pre_event) in enumerate(zip(times, is_pre, strict=True)):
        others = post if pre_event else pre
        earlier = others[: np.searchsorted(others, t - SIMULTANEITY_EPS, side="left")]
        if earlier.size:
            if rule.pairing == "nearest":
                earlier = earlier[-1:]
            # dt = t_post_eff - t_pre: for a pre event the partners are posts (dt < 0).
            lags = earlier - t if pre_event else t - earlier
            total = float(window_kernel(lags, rule).sum())
            if total != 0.0 and rule.eta != 0.0:
                w = min(max(w + rule.eta * total, rule.w_min), rule.w_max)
        weights[i] = w
    return Trajectory(times=times, is_pre=is_pre, weights=weights)


def settled_weight(
    weight: float,
    pre_times: ArrayLike,
    post_times: ArrayLike,
    rule: PairRule,
    delay: float = 0.0,
) -> float:
    """The weight with the changes due to postsynaptic spikes after the last presynaptic spike
    applied.

    NEST (like every STDP synapse there) applies those changes only when the next presynaptic
    spike is transmitted, so a weight read at the end of a run lacks them; the rule itself (and
    the authors' discrete-time code) has already applied them.  ``weight`` is the weight NEST
    reports (``Trajectory.at_pre[-1]``), the spike times are those up to the read-out, ``delay``
    the lag delay (``dendritic_delay``).

    Examples
    --------
    Pre at 10 ms; post at 15 ms comes after it, so NEST still holds 1.0:

    >>> round(settled_weight(1.0, [10.0], [15.0], PairRule.sal(eta=0.1)), 6)
    0.939347
    """
    pre = np.sort(np.asarray(pre_times, dtype=float))
    post = np.sort(np.asarray(post_times, dtype=float))
    if pre.size == 0:
        return float(weight)
    # Posts whose effective time follows the last pre, paired with the pres before them; the
    # pres get no partners here, so only the pending post-triggered changes are applied.
    late = post[post + delay > pre[-1] + SIMULTANEITY_EPS]
    if late.size == 0:
        return float(weight)
    return weight_trajectory(pre, late, weight, rule, delay).final


def expected_drift(lags: ArrayLike, probabilities: ArrayLike, rule: PairRule) -> float:
    """Expected window value per pair, ``sum_dt p(dt) K(dt)``, for a lag distribution.

    Multiply by ``eta`` and by the rate of pairs to obtain ``dw/dt``.  For an antisymmetric
    window (SAL) this vanishes on a symmetric distribution and is negative when causal
    (``dt > 0``) pairs dominate, i.e. when this synapse's presynaptic neuron drives the
    postsynaptic one more than the reverse.

    Parameters
    ----------
    lags : array_like
        Lag values ``dt = t_post + delay - t_pre`` in ms (e.g. histogram bin centres).
    probabilities : array_like
        Probability (or any non-negative weight) of each lag; normalised here.
    rule : PairRule
        The window.

    Returns
    -------
    float

    Examples
    --------
    >>> expected_drift([-5.0, 5.0], [0.5, 0.5], PairRule.sal())
    0.0
    """
    lags = np.asarray(lags, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    if lags.shape != p.shape:
        raise ValueError(
            f"lags and probabilities must have the same shape, got {lags.shape} and {p.shape}"
        )
    if np.any(p < 0):
        raise ValueError("probabilities must be non-negative")
    total = p.sum()
    if total <= 0:
        raise ValueError("probabilities must not all be zero")
    return float(np.dot(p / total, window_kernel(lags, rule)))
