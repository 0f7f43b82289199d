"""LIF sampling on PyNN's standard ``IF_cond_exp`` cells (Petrovici et al. 2016).

A leaky integrate-and-fire neuron with conductance-based exponential synapses, driven by
strong excitatory and inhibitory Poisson background, is in a high-conductance state: its
membrane follows its input almost instantly, and its probability of being refractory,
``p_on = rate * tau_refrac``, is close to a logistic function of its mean free membrane
potential.  Read ``z_k = 1`` while neuron ``k`` is refractory: with ``tau_syn = tau_refrac``
and a calibrated logistic activation, a network of such neurons samples approximately from a
Boltzmann distribution, like the abstract ``sampling_neuron``.

Only standard PyNN cells and sources are used (``IF_cond_exp``, ``SpikeSourcePoisson``); the
recurrent synapses are salpynn's ``SALSynapse`` (NEST's ``sal_synapse``) or
``SignedStaticSynapse``, whose signed weights NEST's ``iaf_cond_exp`` routes to the excitatory
(``w > 0``) or inhibitory (``w < 0``) conductance.

Units: PyNN's (ms, mV, nA, uS).  Boltzmann weights and biases ``W``, ``b`` are dimensionless;
:class:`Calibration` translates them:

- bias ``b`` -> offset current ``i_0 + alpha * b`` (``alpha`` in nA per logit unit, fitted);
- weight ``W`` -> conductance ``w = W * k_E`` (``W >= 0``) or ``W * k_I`` (``W < 0``), where
  ``k = alpha * tau_refrac / (|E_rev - v_mean| * tau_syn)`` equates the area of the PSP
  (``w |E_rev - v_mean| tau_syn / g_tot`` in mV ms, high-conductance limit) with that of a
  rectangular PSP of height ``W alpha / g_tot`` and length ``tau_refrac``.  ``v_mean`` is the
  free membrane potential at ``i_0``.  The high-conductance limit is not exact (the PSP's tail
  outlasts ``tau_refrac``, the membrane is not instantaneous), so the calibration also measures
  the effective weight of ``W = +1`` and ``W = -1`` in pairs of neurons (log odds ratio of
  their joint states) and divides ``k_E``, ``k_I`` by the measured gains.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from salpynn.rule import PairRule

if TYPE_CHECKING:
    from salpynn.pynn import Backend

__all__ = [
    "LIF_CELL",
    "Calibration",
    "LIFNetwork",
    "LIFSamplingParameters",
    "fit_logistic",
]

#: The LIF-sampling neuron (the parameter set of Petrovici et al.'s sampling networks): a
#: 0.1 ms membrane time constant, threshold = rest, reset just below, tau_syn = tau_refrac.
LIF_CELL: dict[str, float] = {
    "cm": 0.2,
    "tau_m": 0.1,
    "v_rest": -50.0,
    "v_thresh": -50.0,
    "v_reset": -50.01,
    "e_rev_E": 0.0,
    "e_rev_I": -90.0,
    "tau_syn_E": 10.0,
    "tau_syn_I": 10.0,
    "tau_refrac": 10.0,
}


@dataclass(frozen=True)
class LIFSamplingParameters:
    """Cell parameters and the Poisson background of every neuron."""

    cell: dict = field(default_factory=lambda: dict(LIF_CELL))
    background_rate: float = 5000.0  # Hz, excitatory and inhibitory each
    background_weight: float = 0.002  # uS, excitatory and inhibitory each
    delay: float = 0.1  # ms, recurrent and background

    @property
    def tau_ref(self) -> float:
        return float(self.cell["tau_refrac"])

    def mean_conductances(self) -> tuple[float, float, float]:
        """Leak, mean excitatory and mean inhibitory conductance (uS)."""
        c = self.cell
        g_l = c["cm"] / c["tau_m"]
        g_e = self.background_weight * self.background_rate * 1e-3 * c["tau_syn_E"]
        g_i = self.background_weight * self.background_rate * 1e-3 * c["tau_syn_I"]
        return g_l, g_e, g_i

    def free_potential(self, current: float) -> float:
        """Mean free membrane potential (mV) at offset ``current`` (nA), no threshold."""
        c = self.cell
        g_l, g_e, g_i = self.mean_conductances()
        num = g_l * c["v_rest"] + g_e * c["e_rev_E"] + g_i * c["e_rev_I"] + current
        return num / (g_l + g_e + g_i)


def fit_logistic(
    currents: ArrayLike, p_on: ArrayLike, counts: ArrayLike | None = None
) -> tuple[float, float]:
    """Least-squares fit of ``p_on = sigma((I - i_0) / alpha)``; returns ``(i_0, alpha)``.

    ``counts`` (samples behind each ``p_on``) weight the residuals with their binomial
    variance; points at 0 or 1 are kept (no logit is taken).
    """
    from scipy.optimize import curve_fit
    from scipy.special import expit

    x = np.asarray(currents, dtype=float)
    y = np.asarray(p_on, dtype=float)
    sigma = None
    if counts is not None:
        n = np.asarray(counts, dtype=float)
        sigma = np.sqrt(np.clip(y * (1 - y), 0.01, None) / np.maximum(n, 1.0))
    inside = (y > 0.05) & (y < 0.95)
    if inside.sum() >= 2:
        slope, icpt = np.polyfit(x[inside], np.log(y[inside] / (1 - y[inside])), 1)
        guess = (-icpt / slope, 1.0 / slope)
    else:
        guess = (float(np.median(x)), float(np.ptp(x)) / 8 or 1.0)
    (i_0, alpha), _ = curve_fit(
        lambda i, i0, a: expit((i - i0) / a), x, y, p0=guess, sigma=sigma, maxfev=10_000
    )
    return float(i_0), float(alpha)


@dataclass(frozen=True)
class Calibration:
    """The fitted activation function and the weight translation of :class:`LIFSamplingParameters`.

    ``currents`` and ``p_on`` are the measured points (nA, fraction of time refractory);
    ``i_0``, ``alpha`` the logistic fit.
    """

    params: LIFSamplingParameters
    i_0: float
    alpha: float
    currents: tuple[float, ...] = ()
    p_on: tuple[float, ...] = ()
    duration: float = 0.0
    gain_e: float = 1.0  # measured effective weight of W = +1 with the analytic scale
    gain_i: float = 1.0  # the same for W = -1 (magnitude)

    @property
    def v_mean(self) -> float:
        return self.params.free_potential(self.i_0)

    def current(self, b: ArrayLike) -> NDArray[np.float64]:
        """Offset current (nA) of bias ``b``."""
        return self.i_0 + self.alpha * np.asarray(b, dtype=float)

    def scales(self) -> tuple[float, float]:
        """``(k_E, k_I)``: uS per unit of Boltzmann weight, excitatory and inhibitory."""
        c = self.params.cell
        k_e = self.alpha * c["tau_refrac"] / ((c["e_rev_E"] - self.v_mean) * c["tau_syn_E"])
        k_i = self.alpha * c["tau_refrac"] / ((self.v_mean - c["e_rev_I"]) * c["tau_syn_I"])
        return float(k_e / self.gain_e), float(k_i / self.gain_i)

    def to_synaptic(self, w: ArrayLike) -> NDArray[np.float64]:
        """Signed conductance (uS) of Boltzmann weight ``w``."""
        k_e, k_i = self.scales()
        w = np.asarray(w, dtype=float)
        return np.where(w >= 0, w * k_e, w * k_i)

    def to_effective(self, g: ArrayLike) -> NDArray[np.float64]:
        """Boltzmann weight of signed conductance ``g`` (the inverse of :meth:`to_synaptic`)."""
        k_e, k_i = self.scales()
        g = np.asarray(g, dtype=float)
        return np.where(g >= 0, g / k_e, g / k_i)

    def record(self) -> dict[str, Any]:
        """JSON-ready description (parameters, fit, measured points, derived scales)."""
        k_e, k_i = self.scales()
        return {
            "params": asdict(self.params),
            "i_0_nA": self.i_0,
            "alpha_nA": self.alpha,
            "v_mean_mV": self.v_mean,
            "k_E_uS": k_e,
            "k_I_uS": k_i,
            "currents_nA": list(self.currents),
            "p_on": list(self.p_on),
            "duration_ms": self.duration,
            "gain_E": self.gain_e,
            "gain_I": self.gain_i,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Calibration:
        return cls(
            LIFSamplingParameters(**record["params"]),
            record["i_0_nA"],
            record["alpha_nA"],
            tuple(record["currents_nA"]),
            tuple(record["p_on"]),
            record["duration_ms"],
            record.get("gain_E", 1.0),
            record.get("gain_I", 1.0),
        )


class LIFNetwork:
    """``n`` LIF-sampling neurons with private Poisson background and recurrent connections
    (all-to-all without self-connections, or only where ``mask[k, j]``), on any PyNN backend
    whose ``IF_cond_exp`` takes signed weights (NEST)."""

    def __init__(
        self,
        backend: Backend,
        params: LIFSamplingParameters,
        currents: ArrayLike,
        synaptic_w: ArrayLike | None = None,
        rule: PairRule | None = None,
        mask: ArrayLike | None = None,
    ) -> None:
        self.backend = backend
        self.sim = backend.sim
        self.params = params
        self.currents = np.atleast_1d(np.asarray(currents, dtype=float))
        self.n = self.currents.size
        self.synaptic_w = None if synaptic_w is None else np.asarray(synaptic_w, dtype=float)
        self.rule = rule
        self.mask = mask
        self.cells: Any = None
        self.projection: Any = None
        self.connections: Any = None

    def build(self) -> LIFNetwork:
        p, sim = self.params, self.sim
        self.cells = sim.Population(
            self.n, sim.IF_cond_exp(**p.cell, i_offset=self.currents), label="lif-sampling"
        )
        self.cells.record("spikes")
        for receptor in ("excitatory", "inhibitory"):
            source = sim.Population(self.n, sim.SpikeSourcePoisson(rate=p.background_rate))
            sim.Projection(
                source,
                self.cells,
                sim.OneToOneConnector(),
                sim.StaticSynapse(weight=p.background_weight, delay=p.delay),
                receptor_type=receptor,
            )
        if self.synaptic_w is not None and self.n > 1:
            self._connect()
        return self

    def _connect(self) -> None:
        mask = ~np.eye(self.n, dtype=bool)
        if self.mask is not None:
            mask &= np.asarray(self.mask, dtype=bool)
        post, pre = np.nonzero(mask)
        rows = [
            (int(j), int(k), float(self.synaptic_w[k, j])) for j, k in zip(pre, post, strict=True)
        ]
        if self.rule is None:
            synapse = self.backend.SignedStaticSynapse(delay=self.params.delay)
        else:
            synapse = self.backend.SALSynapse.from_rule(self.rule, delay=self.params.delay)
        self.projection = self.backend.projection(
            self.cells,
            self.cells,
            self.sim.FromListConnector(rows, column_names=["weight"]),
            synapse,
            receptor_type="excitatory",
            label="recurrent",
        )
        self.connections = self.backend.connections(self.projection)

    def weights(self) -> NDArray[np.float64]:
        """Current signed conductances (uS), ``[k, j]`` for ``j -> k``, zero where none."""
        w = np.zeros((self.n, self.n))
        if self.connections is not None:
            w[self.connections.post, self.connections.pre] = self.connections.get("weight")
        return w

    def spike_times(self) -> list[np.ndarray]:
        return self.backend.spike_times(self.cells)
