"""A fully connected network of N sampling neurons with SAL (or static) recurrent weights.

``W[k, j]`` is the weight of the connection ``j -> k`` (``u = b + W z``); the diagonal is
unused.  With symmetric ``W``, ``tau_syn = tau_refrac`` and logistic escape, the network samples
from the Boltzmann distribution ``p(z) ~ exp(z^T W z / 2 + b^T z)`` (Buesing et al. 2011).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from salpynn.pynn import Backend
from salpynn.rule import PairRule

__all__ = ["SamplingNetwork", "SamplingNetworkParameters"]


@dataclass
class SamplingNetworkParameters:
    """Weights, biases and the plasticity of the recurrent connections (times in ms)."""

    W: np.ndarray
    b: np.ndarray
    tau_ref: float = 10.0
    escape: Literal["exp", "logistic"] = "logistic"
    delay: float = 0.1
    rule: PairRule | None = None  # None: static weights
    a_noise: np.ndarray | None = field(default=None)  # per-synapse amplitude factors (N, N)
    mask: np.ndarray | None = field(default=None)  # mask[k, j]: connection j -> k exists
    record_spikes: bool = True  # False: the caller records (e.g. with its own NEST recorder)

    def __post_init__(self) -> None:
        self.W = np.asarray(self.W, dtype=float)
        self.b = np.asarray(self.b, dtype=float)
        n = self.b.size
        if self.W.shape != (n, n):
            raise ValueError(f"W must have shape ({n}, {n}) to match b, got {self.W.shape}")
        if not np.all(np.isfinite(self.W)) or not np.all(np.isfinite(self.b)):
            raise ValueError("W and b must be finite")


class SamplingNetwork:
    """N sampling neurons, all-to-all recurrent (no self-connections), on any backend."""

    def __init__(self, backend: Backend, params: SamplingNetworkParameters) -> None:
        self.backend = backend
        self.params = params
        self.sim = backend.sim
        self.cells = None
        self.projection = None

    @property
    def size(self) -> int:
        return self.params.b.size

    def create(self) -> None:
        p = self.params
        celltype = self.backend.SamplingNeuron(
            escape=p.escape, bias=p.b.tolist(), tau_refrac=p.tau_ref, tau_syn=p.tau_ref
        )
        self.cells = self.sim.Population(self.size, celltype, label="sampling")
        if p.record_spikes:
            self.cells.record("spikes")

    def connect(self) -> None:
        p = self.params
        mask = ~np.eye(self.size, dtype=bool)
        if p.mask is not None:
            mask &= np.asarray(p.mask, dtype=bool)
        post, pre = np.nonzero(mask)  # connections j -> k with mask[k, j]
        weights = p.W[post, pre]
        if p.rule is None:
            synapse = self.backend.SignedStaticSynapse(delay=p.delay)
            columns = ["weight"]
            rows = [(int(j), int(k), float(w)) for j, k, w in zip(pre, post, weights, strict=True)]
        else:
            rule = p.rule
            amplitudes = {}
            if p.a_noise is None:
                # Homogeneous amplitudes stay synapse-type parameters: PyNN on MPI-enabled NEST
                # cannot set per-connection lists of anything but weights and delays.
                amplitudes = {"a_causal": rule.a_causal, "a_anticausal": rule.a_anticausal}
            synapse = self.backend.SALSynapse(
                window=rule.window,
                pairing=rule.pairing,
                delay=p.delay,
                eta=rule.eta,
                tau_causal=rule.tau_causal,
                tau_anticausal=rule.tau_anticausal,
                w_min=rule.w_min,
                w_max=rule.w_max,
                dendritic_delay=rule.dendritic_delay,
                **amplitudes,
            )
            if p.a_noise is None:
                columns = ["weight"]
                rows = [
                    (int(j), int(k), float(w)) for j, k, w in zip(pre, post, weights, strict=True)
                ]
            else:
                noise = np.asarray(p.a_noise, dtype=float)
                columns = ["weight", "a_causal", "a_anticausal"]
                rows = [
                    (
                        int(j),
                        int(k),
                        float(w),
                        rule.a_causal * noise[k, j],
                        rule.a_anticausal * noise[k, j],
                    )
                    for j, k, w in zip(pre, post, weights, strict=True)
                ]
        connector = self.sim.FromListConnector(rows, column_names=columns)
        self.projection = self.backend.projection(
            self.cells, self.cells, connector, synapse, receptor_type="basal", label="recurrent"
        )

    def build(self) -> SamplingNetwork:
        self.create()
        self.connect()
        return self

    def run(self, duration: float) -> None:
        self.sim.run(duration)

    def weights(self) -> np.ndarray:
        """Current ``W`` (``W[k, j]`` for ``j -> k``; zero diagonal), identical on every rank."""
        return np.nan_to_num(self.backend.weight_matrix(self.projection), nan=0.0)

    def spike_times(self) -> list[np.ndarray]:
        """Spike times (ms) per neuron, in neuron order, identical on every rank."""
        return self.backend.spike_times(self.cells)
