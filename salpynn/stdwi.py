"""Spike-timing-dependent weight inference (STDWI; Ahmad, Ambrogioni and van Gerven 2021), the
trace-based alignment rule the paper compares SAL with (Fig. 7), in NumPy.

The rule estimates a forward weight ``W[i, j]`` (input ``j`` -> output ``i``) from spikes
alone.  Every input neuron carries two traces on the time grid, a fast and a slow one, with
equal areas (``a_slow = a_fast * tau_fast / tau_slow``)::

    x[t] = exp(-dt / tau) * x[t - 1] + a * s[t]       (s[t]: spikes of that step)

At every spike of output ``i`` the whole row of the estimate moves::

    B[i, :] += lr * (x_fast[t] - x_slow[t]) - lr * decay * B[i, :]

so an input that fired just before output spikes (fast trace above its own slow average) is
inferred as excitatory, one that kept quiet as inhibitory, and the ``decay`` term bounds the
estimate.  This is the authors' NumPy re-implementation of STDWI for Fig. 7, on recorded
spikes, offline (no weight transport: ``B`` never enters the dynamics); ``B`` is stored in the
forward orientation (``B -> W`` is alignment).

:class:`STDWI` processes consecutive chunks of a recording and carries the traces across
them, so the result does not depend on how the recording is cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["STDWI", "STDWIRule"]


@dataclass(frozen=True)
class STDWIRule:
    """STDWI's parameters (ms); defaults are the paper's Fig. 7 values (lr 2e-2, decay 0.1,
    tau_fast 10 ms, tau_slow 200 ms)."""

    lr: float = 2e-2
    tau_fast: float = 10.0
    tau_slow: float = 200.0
    a_fast: float = 1.0
    decay: float = 0.1

    def __post_init__(self) -> None:
        for name in ("lr", "tau_fast", "tau_slow", "a_fast"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if not (math.isfinite(self.decay) and self.decay >= 0):
            raise ValueError(f"decay must be a finite number >= 0, got {self.decay!r}")
        if self.tau_slow <= self.tau_fast:
            raise ValueError(
                f"tau_slow must be larger than tau_fast ({self.tau_fast}), got {self.tau_slow}"
            )
        if self.lr * self.decay >= 1.0:
            raise ValueError(
                f"lr * decay must be < 1 (each output spike keeps 1 - lr * decay of the row), "
                f"got {self.lr * self.decay}"
            )

    @property
    def a_slow(self) -> float:
        return self.a_fast * self.tau_fast / self.tau_slow


class STDWI:
    """STDWI on a recording cut into chunks of ``n_steps`` time steps of ``dt`` ms.

    Parameters
    ----------
    rule : STDWIRule
    n_in : int
        Number of input neurons (columns of ``B``).
    dt : float
        Time step (ms) of the spike steps passed to :meth:`update`.
    """

    def __init__(self, rule: STDWIRule, n_in: int, dt: float) -> None:
        if n_in < 1:
            raise ValueError(f"n_in must be >= 1, got {n_in}")
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a finite number > 0, got {dt!r}")
        self.rule = rule
        self.n_in = n_in
        self.dt = dt
        self._decay = np.array([math.exp(-dt / rule.tau_fast), math.exp(-dt / rule.tau_slow)])
        self._amp = np.array([rule.a_fast, rule.a_slow])
        self._state = np.zeros((2, n_in))  # fast, slow traces after the last step seen

    def traces(self, in_steps: ArrayLike, in_ids: ArrayLike, n_steps: int) -> NDArray:
        """``x_fast - x_slow`` for steps ``0 .. n_steps - 1`` of the next chunk, shape
        ``(n_steps, n_in)``; advances the carried traces to the chunk's end."""
        from scipy.signal import lfilter

        steps = np.asarray(in_steps, dtype=np.int64)
        ids = np.asarray(in_ids, dtype=np.int64)
        _check_steps("in", steps, ids, n_steps, self.n_in)
        spikes = np.zeros((n_steps, self.n_in))
        np.add.at(spikes, (steps, ids), 1.0)
        out = np.zeros((n_steps, self.n_in))
        for k in range(2):
            x, _ = lfilter(
                [self._amp[k]],
                [1.0, -self._decay[k]],
                spikes,
                axis=0,
                zi=(self._decay[k] * self._state[k])[None, :],
            )
            self._state[k] = x[-1]
            out += x if k == 0 else -x
        return out

    def update(
        self,
        b: ArrayLike,
        in_steps: ArrayLike,
        in_ids: ArrayLike,
        out_steps: ArrayLike,
        out_ids: ArrayLike,
        n_steps: int,
    ) -> NDArray[np.float64]:
        """The estimate ``b`` (``(n_out, n_in)``) after the next chunk's spikes (steps counted
        from the chunk's start, ``0 <= step < n_steps``)."""
        b = np.array(b, dtype=float)
        if b.ndim != 2 or b.shape[1] != self.n_in:
            raise ValueError(f"b must have shape (n_out, {self.n_in}), got {b.shape}")
        rel = self.traces(in_steps, in_ids, n_steps)
        steps = np.asarray(out_steps, dtype=np.int64)
        ids = np.asarray(out_ids, dtype=np.int64)
        _check_steps("out", steps, ids, n_steps, b.shape[0])
        if steps.size == 0:
            return b
        keep = 1.0 - self.rule.lr * self.rule.decay
        # Row i after its spikes k = 1..n: keep^n * b_i + lr * sum_k keep^(n - k) * rel[t_k].
        order = np.lexsort((steps, ids))
        steps, ids = steps[order], ids[order]
        counts = np.bincount(ids, minlength=b.shape[0])
        first = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rank = np.arange(ids.size) - first[ids]  # 0 for each neuron's earliest spike
        weight = keep ** (counts[ids] - 1 - rank)
        gain = np.zeros_like(b)
        np.add.at(gain, ids, self.rule.lr * weight[:, None] * rel[steps])
        return keep ** counts[:, None] * b + gain


def _check_steps(which: str, steps: NDArray, ids: NDArray, n_steps: int, n: int) -> None:
    if steps.shape != ids.shape or steps.ndim != 1:
        raise ValueError(f"{which}_steps and {which}_ids must be 1-d arrays of equal length")
    if steps.size and (steps.min() < 0 or steps.max() >= n_steps):
        raise ValueError(f"{which}_steps must lie in [0, {n_steps - 1}]")
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        raise ValueError(f"{which}_ids must lie in [0, {n - 1}]")
