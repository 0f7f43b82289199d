"""Two excitatory sampling neurons with private inhibitory interneurons (paper Fig. 10).

Dale's law: a neuron's outgoing weights all share one sign.  ``E1`` reaches ``E2`` through two
pathways, directly (``W_EE``, excitatory, the only plastic connections, kept ``>= 0`` by
``w_min = 0``) and through its private interneuron ``I1`` (``E1 -> I1``: ``W_IE > 0``;
``I1 -> E2``: ``W_EI < 0``, both static); symmetrically ``E2`` reaches ``E1`` directly and
through ``I2``.  SAL on the direct synapses aligns the *effective* reciprocal weights
(:func:`effective_weight`), the sum of both pathways, while the direct weights stay excitatory.

Cell order in the population: ``E1, E2, I1, I2`` (indices 0-3).  Orientation as everywhere in
salpynn: ``w_12`` is the connection ``2 -> 1`` (``u = b + W z``), so ``w_ee_12`` is ``E2 -> E1``
and its interneuron pathway is ``E2 -> I2 -> E1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from salpynn.networks.sampling import (
    SamplingNetwork,
    SamplingNetworkParameters,
    sampling_celltype,
)

from salpynn.rule import PairRule

if TYPE_CHECKING:
    from salpynn.pynn import Backend

__all__ = [
    "CELLS",
    "EISystemNetwork",
    "EISystemParameters",
    "direct_system",
    "direct_weight",
    "effective_weight",
    "logistic",
]

#: Population index of each cell.
CELLS: dict[str, int] = {"E1": 0, "E2": 1, "I1": 2, "I2": 3}


def logistic(x: ArrayLike) -> NDArray[np.float64]:
    """``sigma(x) = 1 / (1 + exp(-x))``."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def effective_weight(
    w_ee: ArrayLike, w_ie: float, w_ei: float, b_i: float, b_e: float
) -> NDArray[np.float64]:
    """Effective weight of the pathway ``Ej -> Ek``: ``W_EE + W_EI sigma(W_IE r + b_I) / r``
    with ``r = sigma(b_E)`` (the authors' ``_calc_eff_weight``).

    Parameters
    ----------
    w_ee : direct weight ``Ej -> Ek`` (scalar or array).
    w_ie : weight ``Ej -> I`` of ``Ej``'s private interneuron (``> 0``).
    w_ei : weight ``I -> Ek`` (``< 0``).
    b_i : bias of the interneuron.
    b_e : bias of the presynaptic excitatory neuron ``Ej``.

    Notes
    -----
    ``Ek``'s membrane potential is ``u_k = b_k + W_EE z_j + W_EI z_I`` (``z``: the binary
    states, 1 for ``tau_ref`` after a spike).  A neural-sampling neuron alone is on with
    probability ``r = sigma(b_E)``; in mean field the interneuron, driven only by ``Ej``, is on
    with probability ``p_I = sigma(W_IE r + b_I)``.  With ``b_I << 0`` the interneuron hardly
    fires unless ``Ej`` drives it, so its activity is attributed to ``Ej``: ``z_I`` is replaced by
    its regression through the origin on ``z_j``, ``z_I ~ (p_I / r) z_j``.  Then
    ``u_k ~ b_k + (W_EE + W_EI p_I / r) z_j``: ``Ej`` acts on ``Ek`` as one connection of weight
    ``W_eff``.  With the paper's means (``b_E = 0``, ``W_IE = 4``, ``b_I = -2``) ``p_I / r = 1``
    and ``W_eff = W_EE + W_EI``.  It is a mean-field estimate, checked in the paper (and in
    :mod:`salpynn.experiments.ei_system`) by comparing rates with a direct system.

    Examples
    --------
    >>> float(effective_weight(1.5, w_ie=4.0, w_ei=-1.0, b_i=-2.0, b_e=0.0))
    0.5
    """
    r = logistic(b_e)
    return np.asarray(w_ee, dtype=float) + w_ei * logistic(w_ie * r + b_i) / r


def direct_weight(
    w_eff: ArrayLike, w_ie: float, w_ei: float, b_i: float, b_e: float
) -> NDArray[np.float64]:
    """The direct weight ``W_EE`` whose pathway has effective weight ``w_eff`` (the inverse
    of :func:`effective_weight`, same parameters)."""
    return np.asarray(w_eff, dtype=float) - (effective_weight(0.0, w_ie, w_ei, b_i, b_e))


@dataclass(frozen=True)
class EISystemParameters:
    """Weights, biases and plasticity of the E-I system (times in ms).

    Per interneuron ``n`` (1, 2): ``w_ie[n-1]`` is ``En -> In``, ``w_ei[n-1]`` is ``In -> E(other)``
    and ``b_i[n-1]`` its bias; ``b_e`` are the biases of ``E1, E2``.
    """

    w_ee_12: float = 0.2  # E2 -> E1, direct
    w_ee_21: float = 1.6  # E1 -> E2, direct
    w_ie: tuple[float, float] = (4.0, 4.0)  # E1 -> I1, E2 -> I2
    w_ei: tuple[float, float] = (-1.0, -1.0)  # I1 -> E2, I2 -> E1
    b_e: tuple[float, float] = (0.0, 0.0)
    b_i: tuple[float, float] = (-2.0, -2.0)
    tau_ref: float = 2.5  # refractory time = PSP duration = SAL window width
    escape: Literal["exp", "logistic"] = "logistic"
    rule: PairRule | None = None  # the direct E -> E synapses; None: static
    delay: float = 0.1
    convention: Literal["authors", "reversible", "marginals"] = "authors"  # sampling.CONVENTIONS
    pathways: Literal["both", "21"] = "both"  # "21": only E1 -> E2 (direct and via I1)

    def w_eff(self, w_ee_12: ArrayLike | None = None, w_ee_21: ArrayLike | None = None) -> tuple:
        """``(W_eff_12, W_eff_21)`` for direct weights (default: the initial ones)."""
        w_ee_12 = self.w_ee_12 if w_ee_12 is None else w_ee_12
        w_ee_21 = self.w_ee_21 if w_ee_21 is None else w_ee_21
        # E2 -> E1 runs through I2 (driven by E2); E1 -> E2 through I1 (driven by E1).
        return (
            effective_weight(w_ee_12, self.w_ie[1], self.w_ei[1], self.b_i[1], self.b_e[1]),
            effective_weight(w_ee_21, self.w_ie[0], self.w_ei[0], self.b_i[0], self.b_e[0]),
        )

    def static_connections(self) -> list[tuple[int, int, float]]:
        """``(pre, post, weight)`` of the static E -> I and I -> E connections."""
        e1, e2, i1, i2 = (CELLS[k] for k in ("E1", "E2", "I1", "I2"))
        rows = [(e1, i1, self.w_ie[0]), (i1, e2, self.w_ei[0])]
        if self.pathways == "both":
            rows += [(e2, i2, self.w_ie[1]), (i2, e1, self.w_ei[1])]
        return rows


class EISystemNetwork:
    """Build and run the E-I system on any salpynn PyNN backend."""

    def __init__(self, backend: Backend, params: EISystemParameters) -> None:
        self.backend = backend
        self.params = params
        self.sim = backend.sim
        self.cells = None
        self.projections: dict[str, object] = {}

    def create(self) -> None:
        p = self.params
        celltype, _ = sampling_celltype(
            self.backend,
            [p.b_e[0], p.b_e[1], p.b_i[0], p.b_i[1]],
            tau_ref=p.tau_ref,
            escape=p.escape,
            convention=p.convention,
        )
        self.cells = self.sim.Population(len(CELLS), celltype, label="ei-system")
        self.cells.record("spikes")

    def connect(self) -> None:
        p = self.params
        # An unplastic direct synapse is a SAL synapse with eta = 0, so a static run reads the
        # same way as a learning one.
        rule = p.rule if p.rule is not None else PairRule.sal(tau=p.tau_ref, eta=0.0, w_min=0.0)
        direct = [("w_ee_21", "E1", "E2", p.w_ee_21)]
        if p.pathways == "both":
            direct.append(("w_ee_12", "E2", "E1", p.w_ee_12))
        for name, pre, post, weight in direct:
            self.projections[name] = self.backend.projection(
                self.cells[[CELLS[pre]]],
                self.cells[[CELLS[post]]],
                self.sim.AllToAllConnector(),
                self.backend.SALSynapse.from_rule(rule, weight=weight, delay=p.delay),
                receptor_type="basal",
                label=name,
            )
        self.projections["static"] = self.backend.projection(
            self.cells,
            self.cells,
            self.sim.FromListConnector(p.static_connections(), column_names=["weight"]),
            self.backend.SignedStaticSynapse(delay=p.delay),
            receptor_type="basal",
            label="e-i static",
        )

    def build(self) -> EISystemNetwork:
        self.create()
        self.connect()
        return self

    def run(self, duration: float) -> None:
        self.sim.run(duration)

    def weights(self) -> tuple[float, float]:
        """Current direct weights ``(w_ee_12, w_ee_21)`` (``w_ee_12`` is NaN without that
        pathway), identical on every MPI rank."""
        return tuple(
            float(np.nansum(self.backend.weight_matrix(self.projections[name])))
            if name in self.projections
            else float("nan")
            for name in ("w_ee_12", "w_ee_21")
        )

    def static_weights(self) -> NDArray[np.float64]:
        """``W[post, pre]`` of the static E-I connections (NaN where unconnected)."""
        return self.backend.weight_matrix(self.projections["static"])

    def spike_times(self) -> list[np.ndarray]:
        """Spike times (ms) of ``E1, E2, I1, I2``, identical on every MPI rank."""
        return self.backend.spike_times(self.cells)


def direct_system(
    backend: Backend, params: EISystemParameters, w_eff_12: float, w_eff_21: float
) -> SamplingNetwork:
    """The two excitatory neurons of ``params`` coupled directly with static weights
    ``W_eff`` and no interneurons (built; ``w_eff_12`` is ignored for ``pathways="21"``)."""
    w = np.array([[0.0, w_eff_12 if params.pathways == "both" else 0.0], [w_eff_21, 0.0]])
    mask = np.array([[False, params.pathways == "both"], [True, False]])
    return SamplingNetwork(
        backend,
        SamplingNetworkParameters(
            w,
            np.array(params.b_e, dtype=float),
            tau_ref=params.tau_ref,
            escape=params.escape,
            delay=params.delay,
            mask=mask,
            convention=params.convention,
        ),
    ).build()
