"""SALNet: the spiking copy of a multilayer network whose feedback weights learn under SAL
(paper Figs. 7-9).

Layers ``0 .. L`` of sampling neurons (sizes ``layers``); ``W[l]`` and ``B[l]`` have the shape
``(layers[l + 1], layers[l])``.  Neuron ``k`` of layer ``l`` has

    u = b[l][k] + sum_j W[l - 1][k, j] PSP_j(layer l - 1) + sum_i B[l][i, k] PSP_i(layer l + 1)

(the input layer has no bottom-up, the output layer no top-down term): ``W`` is the forward
connection ``j -> k`` (static), ``B[l][i, k]`` the feedback connection ``i -> k`` from the
layer above (a ``sal_synapse``).  The forward synapse ``k -> i`` and the feedback synapse
``i -> k`` are a reciprocal pair, so SAL drives ``B[l][i, k]`` towards ``W[l][i, k]``: ``B -> W``
in the same orientation, which is what a backward pass ``grad_in = grad_out @ B`` needs.

``copies`` independent copies of the whole network run in one simulator (the paper averages
the SAL updates of 32); weights and biases are read and written in bulk as arrays with a
leading copy axis, on every MPI rank (each rank sets its own connections; reads are gathered).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray
from salpynn.networks.blocks import BlockProjection
from salpynn.networks.sampling import sampling_celltype

from salpynn.rule import PairRule

if TYPE_CHECKING:
    from salpynn.pynn import Backend

__all__ = ["PROBE_ETA", "SALNet", "SALNetParameters", "kaiming_uniform", "sal_phase_rule"]

#: sal_synapse learning rate of an offline SAL phase while an iteration's spikes are drawn: B
#: moves by at most about 1e-4 of its size, and dB is read back as (B_end - B_start) / PROBE_ETA.
PROBE_ETA = 1e-6


def sal_phase_rule(
    tau_ref: float, update: str, lr: float, lr_norm: float, pairing: str = "all"
) -> PairRule:
    """The feedback synapses' rule for :meth:`SALNet.sal_phase` (SAL window +-1, ``tau =
    tau_ref``, lags between spike times): ``eta`` = :data:`PROBE_ETA` (offline) or
    ``lr / lr_norm`` (online).

    ``pairing="all"`` (default) is the authors' SALNet: every spike pairs with every spike of
    the partner in its window (their window is cut after 2 ``tau_ref``, which drops the
    ``exp(-2)`` tail that salpynn keeps).  ``"nearest"`` pairs each spike with the partner's
    latest only; with unequal rates it biases the drift (issue 12's finding for two neurons)."""
    if update not in ("offline", "online"):
        raise ValueError(f'update must be "offline" or "online", got {update!r}')
    eta = PROBE_ETA if update == "offline" else lr / lr_norm
    return PairRule.sal(tau=tau_ref, eta=eta, dendritic_delay=0.0, pairing=pairing)


def kaiming_uniform(
    rng: np.random.Generator, n_out: int, n_in: int, gain: float = 1.0
) -> NDArray[np.float64]:
    """``U(-bound, bound)`` with ``bound = gain * sqrt(3 / n_in)`` (the paper's Fig. 7 init,
    ``sqrt(3 / 50)`` for a 50 -> 50 layer)."""
    bound = gain * np.sqrt(3.0 / n_in)
    return rng.uniform(-bound, bound, (n_out, n_in))


@dataclass(frozen=True)
class SALNetParameters:
    """Layer sizes, neuron timing, the SAL rule of ``B`` and the number of copies."""

    layers: tuple[int, ...]
    tau_ref: float = 1.0  # ms: 10 steps of 0.1 ms, the paper's
    escape: Literal["exp", "logistic"] = "logistic"
    convention: Literal["authors", "reversible", "marginals"] = "authors"
    delay: float = 0.1
    rule: PairRule | None = None  # None: B static too
    copies: int = 1
    record_spikes: bool = False

    def __post_init__(self) -> None:
        if len(self.layers) < 2 or any(int(n) < 1 for n in self.layers):
            raise ValueError(f"layers must be >= 2 positive sizes, got {self.layers}")
        if self.copies < 1:
            raise ValueError(f"copies must be >= 1, got {self.copies}")

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return [(self.layers[i + 1], self.layers[i]) for i in range(len(self.layers) - 1)]


class SALNet:
    """Build, run and read/write a SALNet on any salpynn PyNN backend."""

    def __init__(
        self,
        backend: Backend,
        params: SALNetParameters,
        w: list[NDArray[np.float64]],
        b_fb: list[NDArray[np.float64]],
        biases: list[NDArray[np.float64]],
    ) -> None:
        self.backend = backend
        self.sim = backend.sim
        self.params = params
        for name, mats in (("W", w), ("B", b_fb)):
            got = [np.shape(m) for m in mats]
            if got != params.shapes:
                raise ValueError(f"{name} shapes must be {params.shapes}, got {got}")
        if [np.size(b) for b in biases] != list(params.layers):
            raise ValueError(f"biases must have sizes {list(params.layers)}")
        self._w0, self._b0, self._bias0 = w, b_fb, biases
        self.populations: list[Any] = []
        self.forward: list[BlockProjection] = []
        self.feedback: list[BlockProjection] = []
        self.projections: dict[str, Any] = {}  # "W0", "B0", ...: the PyNN projections
        self.bias_offset = 0.0

    def build(self) -> SALNet:
        p, sim, c = self.params, self.sim, self.params.copies
        for size, bias in zip(p.layers, self._bias0, strict=True):
            celltype, self.bias_offset = sampling_celltype(
                self.backend,
                np.tile(np.asarray(bias, dtype=float), c),
                tau_ref=p.tau_ref,
                escape=p.escape,
                convention=p.convention,
            )
            population = sim.Population(c * size, celltype, label=f"layer{len(self.populations)}")
            if p.record_spikes:
                population.record("spikes")
            self.populations.append(population)
        for layer, (w, b) in enumerate(zip(self._w0, self._b0, strict=True)):
            lower, upper = self.populations[layer], self.populations[layer + 1]
            self.forward.append(self._project(lower, upper, w, None, f"W{layer}"))
            # Feedback i -> k carries B[i, k]: the transpose in (post, pre) order.
            self.feedback.append(self._project(upper, lower, np.transpose(b), p.rule, f"B{layer}"))
        return self

    def _project(
        self, pre: Any, post: Any, matrix: Any, rule: PairRule | None, label: str
    ) -> BlockProjection:
        """Block-diagonal copies of ``matrix[post, pre]``."""
        m = np.asarray(matrix, dtype=float)
        if rule is None:
            synapse = self.backend.SignedStaticSynapse(delay=self.params.delay)
        else:
            synapse = self.backend.SALSynapse.from_rule(rule, delay=self.params.delay)
        block = BlockProjection(
            self.backend,
            pre,
            post,
            np.broadcast_to(m, (self.params.copies, *m.shape)),
            synapse,
            label=label,
        )
        self.projections[label] = block.projection
        return block

    def run(self, duration: float) -> None:
        self.sim.run(duration)

    def weights(self) -> tuple[list[NDArray[np.float64]], list[NDArray[np.float64]]]:
        """``(W, B)``: per layer arrays ``(copies, n_{l+1}, n_l)``, identical on every rank."""
        return [block.get() for block in self.forward], self.feedback_weights()

    def feedback_weights(self) -> list[NDArray[np.float64]]:
        """``B`` only (``W`` never changes): per layer ``(copies, n_{l+1}, n_l)``."""
        return [block.get().transpose(0, 2, 1) for block in self.feedback]

    def set_feedback(self, b_fb: list[NDArray[np.float64]]) -> None:
        """Write ``B`` (per layer ``(n_{l+1}, n_l)``, the same in every copy, or with a copy
        axis)."""
        for block, matrix in zip(self.feedback, b_fb, strict=True):
            block.set(np.swapaxes(np.asarray(matrix, dtype=float), -1, -2))

    def set_forward(self, w: list[NDArray[np.float64]]) -> None:
        for block, matrix in zip(self.forward, w, strict=True):
            block.set(matrix)

    def set_biases(self, biases: list[NDArray[np.float64]]) -> None:
        for population, bias in zip(self.populations, biases, strict=True):
            values = np.tile(np.asarray(bias, dtype=float), self.params.copies)
            self.backend.set_cells(population, bias=values + self.bias_offset)

    def sal_phase(
        self,
        b_fb: list[NDArray[np.float64]],
        iterations: int,
        iteration_ms: float,
        lr: float,
        lr_norm: float,
        update: str = "offline",
    ) -> tuple[list[NDArray[np.float64]], float]:
        """The paper's SAL phase from feedback ``b_fb``; returns the new ``B`` (one per layer,
        the same for every copy) and the seconds spent simulating.

        ``offline`` (the feedback synapses must use :func:`sal_phase_rule`'s probe ``eta``):
        per iteration ``B`` is written to every copy, stays fixed while the spikes are drawn,
        and ``B += lr * mean_copies(dB) / lr_norm``.  ``online``: ``B`` learns in the simulator
        for all iterations at once and the copies' results are averaged.
        """
        import time

        seconds = 0.0
        if update == "online":
            self.set_feedback(b_fb)
            start = time.perf_counter()
            self.run(iterations * iteration_ms)
            seconds += time.perf_counter() - start
            return [m.mean(axis=0) for m in self.feedback_weights()], seconds
        for _ in range(iterations):
            self.set_feedback(b_fb)
            start = time.perf_counter()
            self.run(iteration_ms)
            seconds += time.perf_counter() - start
            now = self.feedback_weights()
            b_fb = [
                m + lr * ((m_now - m[None]) / PROBE_ETA).mean(axis=0) / lr_norm
                for m_now, m in zip(now, b_fb, strict=True)
            ]
        return b_fb, seconds

    def spike_counts(self) -> list[int]:
        """Total spikes per layer so far (all copies), identical on every rank."""
        return [sum(len(t) for t in self.backend.spike_times(p)) for p in self.populations]
