"""A fully connected network of N sampling neurons with SAL (or static) recurrent weights.

``W[k, j]`` is the weight of the connection ``j -> k`` (``u = b + W z``); the diagonal is
unused.  With symmetric ``W``, ``tau_syn = tau_refrac`` and logistic escape, the network samples
from the Boltzmann distribution ``p(z) ~ exp(z^T W z / 2 + b^T z)`` (Buesing et al. 2011).

:class:`SamplingBatch` holds many independent networks of the same size in one simulator
(block-diagonal connectivity) and reads and writes their parameters as stacks
``(replicas, n, n)`` and ``(replicas, n)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from salpynn.rule import PairRule

if TYPE_CHECKING:
    from salpynn.pynn import Backend

__all__ = [
    "CONVENTIONS",
    "NodeSamplingBatch",
    "PhaseStatistics",
    "SamplingBatch",
    "SamplingNetwork",
    "SamplingNetworkParameters",
    "cell_timing",
    "sampling_celltype",
]

#: Discrete-time conventions of a neuron with refractory time ``tau_ref`` = T steps of h:
#: (dead time, PSP duration) in steps after the spike step.  The escape threshold is always
#: ``ln T`` (``sigma(u - ln T)``).  A spike at step s reaches the partner at s + 1 (delay h).
#:
#: - ``"authors"``: the authors' simulator (``unibe-cns/sal-code``, ``sim_poisson_neurons``):
#:   a neuron may fire again only after T steps (``last_spike < t - t_ref``: the shortest
#:   interval is T + 1 steps), and its PSP ``H(x) H(T - x)`` lasts T - 1 steps.
#: - ``"reversible"``: dead time as the authors', PSP T steps: the PSP covers exactly the steps
#:   in which the sender cannot fire, the two-neuron process is time-reversible and SAL's fixed
#:   point is exactly ``W_ij = W_ji`` for any biases (:mod:`salpynn.theory`).
#: - ``"marginals"``: salpynn's ``sampling_neuron`` as it is: shortest interval T steps, PSP T
#:   steps; an isolated neuron's PSP is on with probability exactly ``sigma(b)``.  With the
#:   one-step delay the PSP's last step overlaps the sender's first free step, which moves
#:   SAL's fixed point off the diagonal by O(h / tau_ref) when biases differ.
CONVENTIONS: dict[str, tuple[int, int]] = {
    "authors": (1, -1),
    "reversible": (1, 0),
    "marginals": (0, 0),
}


def cell_timing(tau_ref: float, resolution: float, convention: str) -> tuple[float, float, float]:
    """``(tau_refrac, tau_syn, bias_offset)`` of ``sampling_neuron`` for a convention of
    :data:`CONVENTIONS`: the neuron's logistic threshold is ``ln(tau_refrac / h)``, so the
    offset ``ln(tau_refrac / tau_ref)`` added to every bias keeps it at ``ln(tau_ref / h)``."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {sorted(CONVENTIONS)}, got {convention!r}")
    extra_dead, extra_psp = CONVENTIONS[convention]
    tau_refrac = tau_ref + extra_dead * resolution
    tau_syn = tau_ref + extra_psp * resolution
    return tau_refrac, tau_syn, float(np.log(tau_refrac / tau_ref))


def sampling_celltype(
    backend: Backend,
    biases: Any,
    *,
    tau_ref: float,
    escape: str,
    convention: str,
    psp: str = "rect",
    alpha_tau: float | None = None,
) -> tuple[Any, float]:
    """The backend's ``SamplingNeuron`` type for ``biases`` under a convention of
    :data:`CONVENTIONS` (:func:`cell_timing` at the simulator's time step), and the bias
    offset it adds, which every later bias write must add too.

    ``psp="alpha"``: alpha PSPs of time constant ``alpha_tau`` (ms; default ``tau_ref``)
    instead of the convention's rectangular PSP; the convention still sets the dead time (and
    with it the kernel's area, ``tau_refrac``) and the bias offset."""
    tau_refrac, tau_syn, offset = cell_timing(tau_ref, backend.sim.get_time_step(), convention)
    if psp == "alpha":
        tau_syn = tau_ref if alpha_tau is None else alpha_tau
    celltype = backend.SamplingNeuron(
        escape=escape,
        psp=psp,
        bias=[float(b) + offset for b in np.ravel(biases)],
        tau_refrac=tau_refrac,
        tau_syn=tau_syn,
    )
    return celltype, offset


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
    convention: Literal["authors", "reversible", "marginals"] = "marginals"  # CONVENTIONS
    psp: Literal["rect", "alpha"] = "rect"  # alpha: time constant alpha_tau (ms; None: tau_ref)
    alpha_tau: float | None = None

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
        self.bias_offset = 0.0  # added to every bias written to the simulator (cell_timing)

    @property
    def size(self) -> int:
        return self.params.b.size

    def create(self) -> None:
        p = self.params
        celltype, self.bias_offset = sampling_celltype(
            self.backend,
            p.b,
            tau_ref=p.tau_ref,
            escape=p.escape,
            convention=p.convention,
            psp=p.psp,
            alpha_tau=p.alpha_tau,
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


@dataclass
class PhaseStatistics:
    """What a learning rule needs from one phase of a :class:`SamplingBatch`, per network.

    ``first[r, i, j]``: summed overlap (ms) of the active windows ``[t, t + tau_ref)`` of the
    spike pairs of network ``r`` in which ``i`` fired before ``j`` (simultaneous spikes count
    half to each order; zero diagonal), as :func:`salpynn.analysis.states.
    coactivation_from_spikes`; ``counts[r, k]``: spikes; ``states[r, s]``: how often state
    ``s`` was read, every ``tau_ref / 2`` in ``[t_start + tau_ref, t_stop)``, as
    :func:`salpynn.analysis.states.state_counts`.
    """

    first: NDArray[np.float64]  # (replicas, n, n)
    counts: NDArray[np.int64]  # (replicas, n)
    states: NDArray[np.int64]  # (replicas, 2**n)
    t_start: float
    t_stop: float


class SamplingBatch:
    """``replicas`` independent networks of ``n`` sampling neurons in one simulator.

    Weights and biases are read and written as stacks (``W[r, k, j]`` for the connection
    ``j -> k`` of replica ``r``; ``b[r, k]``) in bulk through the backend
    (:meth:`salpynn.pynn.Backend.connections`), and :meth:`run` returns the spikes of the phase
    just simulated, so a learning loop never touches simulator objects.  ``amplitudes``
    (a stack like ``w``) scale each synapse's rule amplitudes (per-synapse plasticity noise).

    With ``statistics=True`` the batch serves :meth:`run_statistics` instead of :meth:`run`:
    on NEST (one process) ``salpynnmodule``'s ``sampling_monitor`` computes the statistics in
    the kernel and no spike reaches Python; elsewhere they are computed from the recorded
    spikes.  Both give the same numbers (the tests compare them).
    """

    def __init__(
        self,
        backend: Backend,
        w: NDArray[np.float64],
        b: NDArray[np.float64],
        *,
        tau_ref: float,
        escape: Literal["exp", "logistic"],
        delay: float,
        rule: PairRule | None,
        resolution: float,
        amplitudes: NDArray[np.float64] | None = None,
        convention: Literal["authors", "reversible", "marginals"] = "marginals",
        psp: Literal["rect", "alpha"] = "rect",
        alpha_tau: float | None = None,
        statistics: bool = False,
    ) -> None:
        self.backend = backend
        self.tau_ref = tau_ref
        self.replicas, self.n, _ = w.shape
        size = self.replicas * self.n
        block = np.kron(np.eye(self.replicas, dtype=bool), np.ones((self.n, self.n), dtype=bool))
        self.resolution = resolution  # the backend's time step (ms), as given to setup
        self.network = SamplingNetwork(
            backend,
            SamplingNetworkParameters(
                _block_diagonal(w),
                b.reshape(size),
                tau_ref=tau_ref,
                escape=escape,
                delay=delay,
                rule=rule,
                a_noise=None if amplitudes is None else _block_diagonal(amplitudes),
                mask=block,
                record_spikes=backend.pynn_records_spikes,
                convention=convention,
                psp=psp,
                alpha_tau=alpha_tau,
            ),
        ).build()
        self.monitor = None
        if statistics and backend.has_sampling_monitor:
            self.monitor = backend.sampling_monitor(self.network.cells, self.n, tau_ref)
            self.spikes = None
        else:
            self.spikes = backend.spike_reader(self.network.cells)
        self.connections = backend.connections(self.network.projection)
        pre, post = self.connections.pre, self.connections.post
        # Each connection's place in the (replicas, n, n) stack: [replica, post, pre].
        self.index = (post // self.n, post % self.n, pre % self.n)
        self.steps = 0  # time steps simulated

    def run(self, duration: float) -> tuple[NDArray[np.float64], NDArray[np.int64], float, float]:
        """Simulate ``duration`` ms (whole steps); return this phase's spikes ``(times,
        senders)`` (senders ``replica * n + k``) and its span ``(t_start, t_stop)`` in ms."""
        if self.spikes is None:
            raise RuntimeError("this SamplingBatch records no spikes (statistics=True on NEST)")
        t_start, t_stop = self._advance(duration)
        times, senders = self.spikes.read(t_start)
        return times, senders, t_start, t_stop

    def run_statistics(self, duration: float) -> PhaseStatistics:
        """Simulate ``duration`` ms (whole steps); return the phase's :class:`PhaseStatistics`."""
        if self.monitor is not None:
            t_start, t_stop = self._advance(duration)
            first, counts, states = self.monitor.read(t_start + self.tau_ref, t_stop)
            return PhaseStatistics(first, counts, states, t_start, t_stop)
        from salpynn.analysis.states import coactivation_from_spikes, state_counts

        times, senders, t_start, t_stop = self.run(duration)
        first, counts = coactivation_from_spikes(
            times, senders, self.n, self.replicas, self.tau_ref
        )
        if t_stop - t_start > self.tau_ref:
            states = state_counts(
                times, senders, self.n, self.replicas, self.tau_ref, t_start, t_stop
            )
        else:
            states = np.zeros((self.replicas, 2**self.n), dtype=np.int64)
        return PhaseStatistics(first, counts, states, t_start, t_stop)

    def _advance(self, duration: float) -> tuple[float, float]:
        steps = round(duration / self.resolution)
        t_start = self.steps * self.resolution
        self.network.run(steps * self.resolution)
        self.steps += steps
        return t_start, self.steps * self.resolution

    def weights(self) -> NDArray[np.float64]:
        """Current weights, shape ``(replicas, n, n)``, zero diagonal."""
        w = np.zeros((self.replicas, self.n, self.n))
        w[self.index] = self.connections.get("weight")
        return w

    def set_weights(self, w: NDArray[np.float64]) -> None:
        self.connections.set(weight=w[self.index])

    def set_biases(self, b: NDArray[np.float64]) -> None:
        self.backend.set_cells(self.network.cells, bias=b.reshape(-1) + self.network.bias_offset)

    def set_connection_parameter(self, name: str, value: Any) -> None:
        """Set a synapse parameter (e.g. ``eta``) of every connection to one value."""
        self.connections.set(**{name: value})

    def end(self) -> None:
        self.backend.sim.end()


class NodeSamplingBatch:
    """A :class:`SamplingBatch` with static weights and ``statistics=True``, in one NEST node.

    The backend's ``sampling_networks`` (NEST in one process, one thread) simulates the
    ``replicas`` networks as one node: the same neurons, the same random numbers in the same
    order and the same sums as the PyNN populations, projections and ``sampling_monitor`` of
    :class:`SamplingBatch`, so the same :class:`PhaseStatistics` (the tests compare them),
    without NEST's per-spike and per-step costs.  Its neurons are not PyNN cells (nothing can
    be connected to or recorded from them) and its weights only change between phases.
    """

    def __init__(
        self,
        backend: Backend,
        w: NDArray[np.float64],
        b: NDArray[np.float64],
        *,
        tau_ref: float,
        escape: Literal["exp", "logistic"],
        delay: float,
        resolution: float,
        convention: Literal["authors", "reversible", "marginals"] = "marginals",
    ) -> None:
        self.backend = backend
        self.tau_ref = tau_ref
        self.replicas, self.n, _ = w.shape
        self.resolution = resolution
        tau_refrac, tau_syn, self.bias_offset = cell_timing(
            tau_ref, backend.sim.get_time_step(), convention
        )
        # As sampling_celltype: the offset is added to every bias written.
        self.node = backend.sampling_networks(
            w,
            np.asarray(b, dtype=float).reshape(-1) + self.bias_offset,
            tau_refrac=tau_refrac,
            tau_syn=tau_syn,
            tau=tau_ref,
            escape=escape,
            delay=delay,
        )
        self.steps = 0

    def run_statistics(self, duration: float) -> PhaseStatistics:
        """Simulate ``duration`` ms (whole steps); return the phase's :class:`PhaseStatistics`."""
        steps = round(duration / self.resolution)
        t_start = self.steps * self.resolution
        self.node.simulate(steps * self.resolution)
        self.steps += steps
        t_stop = self.steps * self.resolution
        first, counts, states = self.node.read(t_start + self.tau_ref, t_stop)
        return PhaseStatistics(first, counts, states, t_start, t_stop)

    def weights(self) -> NDArray[np.float64]:
        """Current weights, shape ``(replicas, n, n)``, zero diagonal."""
        return self.node.weights()

    def set_weights(self, w: NDArray[np.float64]) -> None:
        self.node.set_weights(w)

    def set_biases(self, b: NDArray[np.float64]) -> None:
        self.node.set_biases(b.reshape(-1) + self.bias_offset)

    def end(self) -> None:
        self.backend.sim.end()


def _block_diagonal(blocks: NDArray[np.float64]) -> NDArray[np.float64]:
    replicas, n, _ = blocks.shape
    out = np.zeros((replicas * n, replicas * n), dtype=blocks.dtype)
    for r in range(replicas):
        out[r * n : (r + 1) * n, r * n : (r + 1) * n] = blocks[r]
    return out
