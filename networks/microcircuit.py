"""A hierarchy of spiking dendritic cortical microcircuits (Sacramento et al. 2018, in the
spiking form of Gierlich et al. 2025, Fig. 6) whose top-down weights can learn under SAL.

Layers ``0 .. L`` of sizes ``dims``: layer 0 is the input (sampling neurons whose bias is the
pattern value ``u_in``, so they fire with ``sigma(u_in - ln tau_ref)``), layers ``1 .. L-1``
are hidden pyramidal cells, layer ``L`` the output.  Per layer ``l >= 1``:

- ``W[l-1]`` (``(n_l, n_{l-1})``): forward weights onto the basal port, plastic by dendritic
  prediction (:class:`~salpynn.pynn.models.DendriticPredictionSynapse`, rate ``eta_up[l-1]``);
- hidden layers: ``u = b + v_bas + lambda_apical * v_api`` with ``v_api = B[l] PSP(pyr_{l+1}) +
  W_PI[l] PSP(int_l)``, ``B[l]`` (``(n_l, n_{l+1})``) a ``sal_synapse`` (SAL window, nearest
  pairing, ``tau = tau_ref``, lags between spike times) onto the apical port;
- interneurons ``int_l`` (one per cell of layer ``l+1``): ``u_I = b_{l+1} + W_IP[l]
  PSP(pyr_l)``;
- the output: ``u = b + v_bas + lambda_nudge * (u_target - v_bar_bas - b)`` while a target is
  given.

The self-predicting state is imposed, not learned: :meth:`Microcircuit.sync` writes
``W_IP[l] = W[l]`` (the next layer's forward weights) and ``W_PI[l] = -B[l]``.  Neurons are
``sampling_neuron``s with logistic escape, ``tau_ref = tau_syn`` and one-step delays, the
``"marginals"`` convention of :mod:`salpynn.networks.sampling`, which is the authors'
microcircuit simulator (a neuron may fire again ``tau_ref`` steps after a spike, and a PSP lasts
``tau_ref`` steps from the step after the spike).

``copies`` independent microcircuits (one per seed) run in one simulator; every weight array
has a leading copy axis.  NEST only: the dendritic averages have no Brian2 form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from salpynn.networks.blocks import BlockProjection

from salpynn.rule import PairRule

if TYPE_CHECKING:
    from salpynn.pynn import Backend

__all__ = ["Microcircuit", "MicrocircuitParameters"]


@dataclass(frozen=True)
class MicrocircuitParameters:
    """Sizes, timing, gains and learning rates (times in ms; ``eta_up`` per forward layer)."""

    dims: tuple[int, ...]
    copies: int = 1
    tau_ref: float = 1.0  # 10 steps of 0.1 ms
    delay: float = 0.1
    avg_window: float = 200.0  # 2000 steps: the authors' moving-average window
    lambda_apical: float = 0.02
    lambda_nudge: float = 0.6
    eta_up: tuple[float, ...] = (0.2, 0.003)
    eta_b: float = 0.001
    sal_pairing: str = "nearest"  # the authors' n_last_spks = 1
    teacher: bool = False  # no feedback, interneurons, nudging or plasticity
    record_spikes: bool = False

    def __post_init__(self) -> None:
        if len(self.dims) < 3 or any(int(n) < 1 for n in self.dims):
            raise ValueError(f"dims must be >= 3 positive sizes (input, hidden..., output), "
                             f"got {self.dims}")  # fmt: skip
        if len(self.eta_up) != len(self.dims) - 1:
            raise ValueError(f"eta_up needs one rate per forward layer ({len(self.dims) - 1}), "
                             f"got {self.eta_up}")  # fmt: skip
        if self.copies < 1:
            raise ValueError(f"copies must be >= 1, got {self.copies}")

    @property
    def forward_shapes(self) -> list[tuple[int, int]]:
        return [(self.dims[i + 1], self.dims[i]) for i in range(len(self.dims) - 1)]

    @property
    def feedback_shapes(self) -> list[tuple[int, int]]:
        """``B[l]`` for hidden layers ``l = 1 .. L-1``: ``(n_l, n_{l+1})``."""
        return [(self.dims[i], self.dims[i + 1]) for i in range(1, len(self.dims) - 1)]


def _stack(values: ArrayLike, copies: int, shape: tuple[int, ...], name: str) -> NDArray:
    a = np.asarray(values, dtype=float)
    if a.shape == shape:
        a = np.broadcast_to(a, (copies, *shape))
    if a.shape != (copies, *shape):
        raise ValueError(f"{name} must have shape {shape} or {(copies, *shape)}, got {a.shape}")
    return np.array(a)


class Microcircuit:
    """Build, drive and read a microcircuit hierarchy on a salpynn PyNN backend (NEST)."""

    def __init__(
        self,
        backend: Backend,
        params: MicrocircuitParameters,
        w: list[ArrayLike],
        b_fb: list[ArrayLike] | None,
        biases: list[ArrayLike],
    ) -> None:
        p = params
        self.backend, self.sim, self.params = backend, backend.sim, p
        self._w0 = [
            _stack(m, p.copies, s, f"W{i}")
            for i, (m, s) in enumerate(zip(w, p.forward_shapes, strict=True))
        ]
        if p.teacher:
            self._b0: list[NDArray] = []
        else:
            if b_fb is None or len(b_fb) != len(p.feedback_shapes):
                raise ValueError(f"B needs {len(p.feedback_shapes)} matrices")
            self._b0 = [
                _stack(m, p.copies, s, f"B{i + 1}")
                for i, (m, s) in enumerate(zip(b_fb, p.feedback_shapes, strict=True))
            ]
        self._bias0 = [
            _stack(b, p.copies, (n,), f"b{i + 1}")
            for i, (b, n) in enumerate(zip(biases, p.dims[1:], strict=True))
        ]
        self.inputs: Any = None
        self.pyramidal: list[Any] = []  # layers 1 .. L
        self.interneurons: list[Any] = []  # hidden layers 1 .. L-1
        self.forward: list[BlockProjection] = []
        self.feedback: list[BlockProjection] = []
        self.w_ip: list[BlockProjection] = []
        self.w_pi: list[BlockProjection] = []
        self._symmetrising = False
        self._synced_w: list[NDArray] | None = None  # W[1:] at the last sync while connected

    # ------------------------------------------------------------------ build

    def build(self) -> Microcircuit:
        p, sim, be, c = self.params, self.sim, self.backend, self.params.copies
        timing = {"tau_refrac": p.tau_ref, "tau_syn": p.tau_ref}
        self.inputs = sim.Population(
            c * p.dims[0], be.SamplingNeuron(escape="logistic", bias=0.0, **timing), label="input"
        )
        n_layers = len(p.dims) - 1
        for layer in range(1, n_layers + 1):
            output = layer == n_layers
            cell = be.DendriticSamplingNeuron(
                escape="logistic",
                bias=self._bias0[layer - 1].ravel().tolist(),
                lambda_apical=1.0 if output else p.lambda_apical,
                lambda_nudge=p.lambda_nudge if output and not p.teacher else 0.0,
                avg_window=p.avg_window,
                learning_gate=0.0,
                **timing,
            )
            self.pyramidal.append(sim.Population(c * p.dims[layer], cell, label=f"pyr{layer}"))
        if not p.teacher:
            for layer in range(1, n_layers):
                bias_next = self._bias0[layer].ravel().tolist()
                cell = be.SamplingNeuron(escape="logistic", bias=bias_next, **timing)
                self.interneurons.append(
                    sim.Population(c * p.dims[layer + 1], cell, label=f"int{layer}")
                )
        if p.record_spikes:
            for pop in (self.inputs, *self.pyramidal, *self.interneurons):
                pop.record("spikes")
        cells = [self.inputs, *self.pyramidal]
        for i, w in enumerate(self._w0):
            eta = 0.0 if p.teacher else p.eta_up[i]
            synapse = be.DendriticPredictionSynapse(eta=eta, delay=p.delay)
            self.forward.append(
                BlockProjection(be, cells[i], cells[i + 1], w, synapse, label=f"W{i}")
            )
        if p.teacher:
            return self
        rule = PairRule.sal(tau=p.tau_ref, eta=0.0, dendritic_delay=0.0, pairing=p.sal_pairing)
        static = be.SignedStaticSynapse(delay=p.delay)
        for layer in range(1, n_layers):
            pyr, upper, inter = cells[layer], cells[layer + 1], self.interneurons[layer - 1]
            b = self._b0[layer - 1]
            synapse = be.SALSynapse.from_rule(rule, delay=p.delay)
            self.feedback.append(BlockProjection(be, upper, pyr, b, synapse, receptor_type="apical",
                                                 label=f"B{layer}"))  # fmt: skip
            self.w_ip.append(BlockProjection(be, pyr, inter, self._w0[layer], static,
                                             label=f"W_IP{layer}"))  # fmt: skip
            self.w_pi.append(BlockProjection(be, inter, pyr, -b, static, receptor_type="apical",
                                             label=f"W_PI{layer}"))  # fmt: skip
        return self

    # ------------------------------------------------------------------ drive

    def run(self, duration: float) -> None:
        self.sim.run(duration)

    def set_inputs(self, values: ArrayLike) -> None:
        """Pattern values ``u_in``: ``(n_0,)`` for every copy or ``(copies, n_0)``."""
        v = _stack(values, self.params.copies, (self.params.dims[0],), "inputs")
        self.backend.set_cells(self.inputs, bias=v.ravel())

    def set_targets(self, values: ArrayLike) -> None:
        """Output targets ``u_target``: ``(n_L,)`` or ``(copies, n_L)``."""
        v = _stack(values, self.params.copies, (self.params.dims[-1],), "targets")
        self.backend.set_cells(self.pyramidal[-1], u_target=v.ravel())

    def set_learning(self, on: bool) -> None:
        """Forward plasticity on or off, from the next step on (the neurons' learning gate)."""
        for pop in self.pyramidal:
            self.backend.set_cells(pop, learning_gate=np.full(pop.size, 1.0 if on else 0.0))

    def set_symmetrisation(
        self, on: bool, eta_b: float | None = None, transport: bool = False
    ) -> None:
        """A symmetrisation phase: ``lambda_apical = 1``, interneurons disconnected (``W_IP =
        W_PI = 0``) and ``B`` plastic with rate ``eta_b`` (default ``params.eta_b``; 0 for a
        method whose ``B`` does not learn).  ``on=False`` restores the gains and
        :meth:`sync`s (with ``transport``, as there).
        """
        p = self.params
        for pop in self.pyramidal[:-1]:
            gain = 1.0 if on else p.lambda_apical
            self.backend.set_cells(pop, lambda_apical=np.full(pop.size, gain))
        rate = (p.eta_b if eta_b is None else eta_b) if on else 0.0
        for block in self.feedback:
            block.set(rate, name="eta")
        self._symmetrising = on
        if on:
            for block in (*self.w_ip, *self.w_pi):
                block.set(0.0)
            self._synced_w = None
        else:
            self.sync(transport)

    def sync(self, transport: bool = False) -> float:
        """Impose the self-predicting state: ``W_IP[l] = W[l]``, ``W_PI[l] = -B[l]``; with
        ``transport`` first ``B[l] = W[l]^T`` (backprop).

        Returns the largest deviation ``|W_IP - W|`` that the interneurons ran with since the
        last sync (forward learning moves ``W`` in between; ``B`` changes only while the
        interneurons are disconnected or at a sync), 0 right after a symmetrisation phase.
        """
        if self._symmetrising or self.params.teacher:
            return 0.0
        w_next = [block.get() for block in self.forward[1:]]  # the interneurons' targets
        drift = 0.0
        if self._synced_w is not None:
            drift = max(
                float(np.abs(a - b).max()) for a, b in zip(self._synced_w, w_next, strict=True)
            )
        for w, b_block, ip, pi in zip(w_next, self.feedback, self.w_ip, self.w_pi, strict=True):
            if transport:
                b = np.swapaxes(w, 1, 2)
                b_block.set(b)
            else:
                b = b_block.get()
            ip.set(w)
            pi.set(-b)
        self._synced_w = w_next
        return drift

    # ------------------------------------------------------------------ read

    def forward_weights(self) -> list[NDArray[np.float64]]:
        """``W[l]``: ``(copies, n_{l+1}, n_l)`` per forward layer, identical on every rank."""
        return [block.get() for block in self.forward]

    def feedback_weights(self) -> list[NDArray[np.float64]]:
        """``B[l]``: ``(copies, n_l, n_{l+1})`` per hidden layer."""
        return [block.get() for block in self.feedback]

    def set_forward(self, w: list[ArrayLike]) -> None:
        for block, m in zip(self.forward, w, strict=True):
            block.set(m)

    def set_feedback(self, b_fb: list[ArrayLike]) -> None:
        for block, m in zip(self.feedback, b_fb, strict=True):
            block.set(m)

    def mean_output(
        self, lag: float, duration: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Run ``lag`` ms, then ``duration`` ms, and return :meth:`output_means` over the
        second part (the time averages of the protocol's patterns)."""
        self.run(lag)
        self.reset_output_means()
        self.run(duration)
        return self.output_means()

    def reset_output_means(self) -> None:
        """Start the output cells' time averages of ``u`` and ``v_bas`` afresh."""
        pop = self.pyramidal[-1]
        zeros = np.zeros(pop.size)
        self.backend.set_cells(pop, u_sum=zeros, v_sum=zeros, n_sum=zeros)

    def output_means(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(u, b + v_bas)`` of the output cells averaged since :meth:`reset_output_means`,
        ``(copies, n_L)`` each: the nudged potential and the free prediction."""
        pop = self.pyramidal[-1]
        values = self.backend.get_cells(pop, "u_sum", "v_sum", "n_sum", "bias")
        n = np.maximum(values["n_sum"], 1)
        shape = (self.params.copies, self.params.dims[-1])
        u = (values["u_sum"] / n).reshape(shape)
        free = (values["v_sum"] / n + values["bias"]).reshape(shape)
        return u, free
