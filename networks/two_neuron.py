"""Two reciprocally coupled sampling neurons under SAL (paper Fig. 2).

Orientation: ``W[k, j]`` is the weight of the connection ``j -> k`` (``u = b + W z``), so
``w_12 = W[0, 1]`` is the connection from neuron 2 to neuron 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
from salpynn.networks.sampling import sampling_celltype

from salpynn.rule import PairRule

if TYPE_CHECKING:
    from salpynn.pynn import Backend

__all__ = ["TwoNeuronNetwork", "TwoNeuronParameters"]


@dataclass(frozen=True)
class TwoNeuronParameters:
    """Model parameters (times in ms; weights and biases dimensionless)."""

    w_12: float = 1.5  # connection 2 -> 1
    w_21: float = 0.5  # connection 1 -> 2
    b_1: float = -0.5
    b_2: float = -0.2
    tau_ref: float = 10.0  # refractory time = PSP duration
    escape: Literal["exp", "logistic"] = "logistic"
    rule: PairRule = field(default_factory=lambda: PairRule.sal(tau=10.0, eta=0.002))
    plastic: Literal["both", "w_12", "w_21"] = "both"
    delay: float = 0.1
    record_states: bool = False  # also record u and z, every tau_ref / 2
    convention: Literal["authors", "reversible", "marginals"] = "marginals"  # sampling.CONVENTIONS

    def synapse_rule(self, name: Literal["w_12", "w_21"]) -> PairRule:
        """The rule of connection ``name``: ``rule``, or frozen (``eta = 0``) if not plastic."""
        return self.rule if self.plastic in ("both", name) else self.rule.with_(eta=0.0)


class TwoNeuronNetwork:
    """Build and run the two-neuron SAL system on any salpynn PyNN backend."""

    def __init__(self, backend: Backend, params: TwoNeuronParameters) -> None:
        self.backend = backend
        self.params = params
        self.sim = backend.sim
        self.cells = None
        self.projections: dict[str, object] = {}

    def create(self) -> None:
        p = self.params
        celltype, _ = sampling_celltype(
            self.backend,
            [p.b_1, p.b_2],
            tau_ref=p.tau_ref,
            escape=p.escape,
            convention=p.convention,
        )
        self.cells = self.sim.Population(2, celltype, label="two-neuron")
        self.cells.record("spikes")
        if p.record_states:
            self.cells.record(["u", "z"], sampling_interval=p.tau_ref / 2)

    def connect(self) -> None:
        p = self.params
        for name, pre, post, weight in (("w_12", 1, 0, p.w_12), ("w_21", 0, 1, p.w_21)):
            rule = p.synapse_rule(name)
            self.projections[name] = self.backend.projection(
                self.cells[[pre]],
                self.cells[[post]],
                self.sim.AllToAllConnector(),
                self.backend.SALSynapse.from_rule(rule, weight=weight, delay=p.delay),
                receptor_type="basal",
                label=name,
            )

    def build(self) -> TwoNeuronNetwork:
        self.create()
        self.connect()
        return self

    def run(self, duration: float) -> None:
        self.sim.run(duration)

    def weights(self) -> tuple[float, float]:
        """Current ``(w_12, w_21)``, identical on every MPI rank."""
        return tuple(
            float(np.nansum(self.backend.weight_matrix(self.projections[name])))
            for name in ("w_12", "w_21")
        )

    def spike_times(self) -> tuple[np.ndarray, np.ndarray]:
        """Spike times (ms) of neuron 1 and neuron 2, identical on every MPI rank."""
        return tuple(self.backend.spike_times(self.cells))

    def state_signals(self) -> list:
        """Recorded ``u`` and ``z`` as Neo AnalogSignals (this rank's neurons; empty unless
        ``record_states``)."""
        if not self.params.record_states:
            return []
        segment = self.cells.get_data(["u", "z"], gather=False, clear=False).segments[0]
        return list(segment.analogsignals)
