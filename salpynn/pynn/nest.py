"""pyNN.nest translations of salpynn's models onto ``salpynnmodule``.

PyNN's NEST layer multiplies weights by 1000 on the way in (NEST's currents are in pA where
PyNN's are in nA) and by 0.001 on the way out, for every synapse model.  We keep that
convention, so ``Projection.get("weight")`` returns what was set: the synapse stores
``1000 * w`` (and ``1000 * eta``, ``1000 * w_min``, ``1000 * w_max``), and the neuron multiplies
every incoming weight by ``weight_scale = 0.001``.  Native NEST users of ``sampling_neuron``
keep ``weight_scale = 1``.

Values are checked in PyNN units before NEST sees them (:mod:`salpynn.pynn.models`), so a
refusal names the user's numbers, not NEST's thousandfold ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import nest
import numpy as np
import pyNN.nest
from pyNN.nest.synapses import NESTSynapseMixin
from pyNN.parameters import ParameterSpace
from pyNN.standardmodels import build_translations

from salpynn.pynn import models

__all__ = [
    "Connections",
    "DendriticPredictionSynapse",
    "DendriticSamplingNeuron",
    "Projection",
    "SALSynapse",
    "SamplingNeuron",
    "SignedStaticSynapse",
    "SpikeReader",
    "get_cells",
    "set_cells",
]

#: PyNN's NEST weight scale (nA -> pA), undone by the neuron's ``weight_scale``.  This module is
#: the only place that applies it: the synapse translations and :class:`Connections`.
WEIGHT_SCALE = 1000.0
#: Connection parameters stored in NEST as ``WEIGHT_SCALE`` times their PyNN value
#: (``eta * K`` is a weight change; the bounds are weights).
SCALED = ("weight", "eta", "w_min", "w_max")


def _scale(name: str) -> float:
    return WEIGHT_SCALE if name in SCALED else 1.0


_NEURON_TRANSLATIONS = (
    ("bias", "b"),
    ("tau_refrac", "tau_ref"),
    ("tau_syn", "tau_syn"),
    ("lambda_apical", "lambda_apical"),
)


class SamplingNeuron(models.SamplingNeuron):
    __doc__ = models.SamplingNeuron.__doc__

    translations = build_translations(*_NEURON_TRANSLATIONS)
    variable_map = {"u": "u", "z": "z"}
    scale_factors = {"u": 1.0, "z": 1.0}
    nest_name = {"on_grid": "sampling_neuron", "off_grid": "sampling_neuron"}
    standard_receptor_type = False
    receptor_ports = {"basal": 1, "apical": 2}

    def __init__(self, escape: str = "exp", psp: str = "rect", **parameters: Any) -> None:
        super().__init__(escape=escape, psp=psp, **parameters)
        self.extra_parameters = {"escape": escape, "psp": psp, "weight_scale": 1.0 / WEIGHT_SCALE}

    def get_receptor_type(self, name: str) -> int:
        return self.receptor_ports[name]


class DendriticSamplingNeuron(models.DendriticSamplingNeuron, SamplingNeuron):
    __doc__ = models.DendriticSamplingNeuron.__doc__

    translations = build_translations(
        *_NEURON_TRANSLATIONS,
        ("avg_window", "avg_window"),
        ("lambda_nudge", "lambda_nudge"),
        ("u_target", "u_target"),
        ("learning_gate", "learning_gate"),
    )
    variable_map = {**SamplingNeuron.variable_map, "u_bar": "u_bar", "v_bar": "v_bar",
                    "psp_apical": "psp_apical"}  # fmt: skip
    scale_factors = {**SamplingNeuron.scale_factors, "u_bar": 1.0, "v_bar": 1.0, "psp_apical": 1.0}


_SYNAPSE_TRANSLATIONS = (
    ("weight", "weight", _scale("weight")),
    ("delay", "delay"),
)


class _PlasticSynapseMixin:
    """NEST side of a plastic synapse type whose parameters are mostly homogeneous.

    While a projection is built (:meth:`connecting`), only weight, delay and per-connection
    values go through ``Connect``; homogeneous parameters (and :meth:`_string_defaults`)
    become the defaults of the projection's label model (:meth:`_get_nest_synapse_model`).
    PyNN on MPI-enabled NEST cannot pass per-connection lists of anything but weights and
    delays, so this keeps such projections working under mpirun.  Use
    :meth:`salpynn.pynn.Backend.projection`, which enters the context.
    """

    _connecting = False

    @contextmanager
    def connecting(self) -> Iterator[None]:
        """Context in which a projection with this synapse type is built."""
        self._connecting = True
        try:
            yield
        finally:
            self._connecting = False

    def _string_defaults(self) -> dict[str, Any]:
        return {}

    def translate(self, parameters: ParameterSpace, copy: bool = True) -> ParameterSpace:
        native = super().translate(parameters, copy=copy)  # type: ignore[misc]
        if not self._connecting:
            return native
        kept = {
            name: value
            for name, value in native.items()
            if name in ("weight", "delay") or not value.is_homogeneous
        }
        return ParameterSpace(kept, shape=native.shape)

    def _get_nest_synapse_model(self) -> str:
        # String parameters cannot go through Connect's syn_spec either: they and the
        # homogeneous parameters are set on the label model's defaults right before this
        # projection's connections are created (connections copy the defaults).
        full = super().translate(self.parameter_space)  # type: ignore[misc]
        defaults: dict[str, Any] = self._string_defaults()
        for name, value in full.items():
            if name != "delay" and value.is_homogeneous:
                value.shape = (1,)
                defaults[name] = float(value.evaluate(simplify=True))
        if "weight" not in defaults:  # inhomogeneous weights: the default must lie in bounds
            low = defaults.get("w_min", -np.inf)
            high = defaults.get("w_max", np.inf)
            defaults["weight"] = float(np.clip(0.0, low, high))
        name = self.nest_name + "_lbl"  # type: ignore[attr-defined]
        nest.SetDefaults(name, defaults)
        return name


class SALSynapse(_PlasticSynapseMixin, models.SALSynapse, NESTSynapseMixin):
    __doc__ = models.SALSynapse.__doc__

    translations = build_translations(
        *_SYNAPSE_TRANSLATIONS,
        ("eta", "eta", _scale("eta")),
        ("a_causal", "a_causal"),
        ("a_anticausal", "a_anticausal"),
        ("tau_causal", "tau_causal"),
        ("tau_anticausal", "tau_anticausal"),
        ("w_min", "w_min", _scale("w_min")),
        ("w_max", "w_max", _scale("w_max")),
        ("dendritic_delay", "dendritic_delay"),
    )
    nest_name = "sal_synapse"

    def _string_defaults(self) -> dict[str, Any]:
        return {"window": self.window, "pairing": self.pairing}


class DendriticPredictionSynapse(
    _PlasticSynapseMixin, models.DendriticPredictionSynapse, NESTSynapseMixin
):
    __doc__ = models.DendriticPredictionSynapse.__doc__

    translations = build_translations(
        *_SYNAPSE_TRANSLATIONS,
        ("eta", "eta", _scale("eta")),
        ("w_min", "w_min", _scale("w_min")),
        ("w_max", "w_max", _scale("w_max")),
    )
    nest_name = "dendritic_prediction_synapse"


class SignedStaticSynapse(models.SignedStaticSynapse, NESTSynapseMixin):
    __doc__ = models.SignedStaticSynapse.__doc__

    translations = build_translations(*_SYNAPSE_TRANSLATIONS)
    nest_name = "static_synapse"


class Projection(models.CheckedProjection, pyNN.nest.Projection):
    """``pyNN.nest.Projection`` whose ``set`` checks a :class:`SALSynapse` request whole (in PyNN
    units) before NEST, which sets connection by connection, changes any of them.

    Its ``get`` also returns ``eta``, ``w_min`` and ``w_max`` in PyNN units: pyNN.nest undoes the
    weight scale for ``weight`` only.
    """

    def _rescaled(self, names: list[str], values: list[Any]) -> list[Any]:
        if not isinstance(self.synapse_type, (SALSynapse, DendriticPredictionSynapse)):
            return values
        return [
            v / WEIGHT_SCALE if name in SCALED and name != "weight" else v
            for name, v in zip(names, values, strict=True)
        ]

    def _get_attributes_as_arrays(self, names: list[str], *args: Any, **kwargs: Any) -> list[Any]:
        arrays = super()._get_attributes_as_arrays(names, *args, **kwargs)
        return self._rescaled(names, arrays)

    def _get_attributes_as_list(self, names: list[str]) -> list[tuple]:
        rows = super()._get_attributes_as_list(names)
        return [tuple(self._rescaled(names, list(row))) for row in rows]


def join_connection_collectives(projection: Any) -> None:
    """Take part in the MPI collectives of a projection built on other ranks only.

    PyNN creates NEST connections only on ranks that own postsynaptic neurons, and queries
    them once (``GetConnections``), which on MPI-enabled NEST is collective on every rank whose
    connections changed.  A rank owning none of the postsynaptic neurons (a population smaller
    than the number of ranks) skips both, the collectives no longer match and the run freezes
    or aborts later.  On such a rank we issue the same ``Connect`` (creating no local
    connection, but marking connections as changed) and ``GetConnections``.
    """
    if projection.post._mask_local.any():
        return
    model = projection.nest_synapse_model
    label = projection.nest_synapse_label
    sources = projection.pre.node_collection
    nest.Connect(
        sources,
        projection.post.node_collection,
        "all_to_all",
        {"synapse_model": model, "synapse_label": label},
    )
    nest.GetConnections(source=sources[:1], synapse_model=model, synapse_label=label)


class Connections:
    """This rank's connections of a projection, read and written in bulk in PyNN units
    (:meth:`salpynn.pynn.Backend.connections`), in one fixed order (``pre``, ``post``).

    NEST re-sorts a synapse model's connections by source whenever connections were added
    since the last sort (at ``GetConnections`` and ``Simulate``), and its sort does not keep
    the order of connections with the same source; a handle read before that addresses other
    connections afterwards.  So the handle is re-read whenever the number of connections on
    this rank has changed since it was read, and values are mapped from NEST's current order
    to the order fixed when this object was made.
    """

    def __init__(self, backend: Any, projection: Any) -> None:
        self.backend = backend
        self.projection = projection
        self._pre_id = projection.pre.node_collection[0].global_id
        self._post_id = projection.post.node_collection[0].global_id
        self._version: int | None = None
        self._perm: np.ndarray | None = None  # NEST's order -> ours: ours = nest[perm]
        self.handle, pre, post = self._read_handle()
        self.pre, self.post = pre, post
        self._keys = self._key(pre, post)
        self.checked = isinstance(projection.synapse_type, models.SALSynapse)
        self._fixed: dict[str, np.ndarray] = {}  # FIXED values as last read or set

    def _key(self, pre: np.ndarray, post: np.ndarray) -> np.ndarray:
        return pre.astype(np.int64) * (self.projection.post.size + 1) + post

    def _read_handle(self) -> tuple[Any, np.ndarray, np.ndarray]:
        self._version = int(nest.GetKernelStatus("num_connections"))
        self.projection._connections = None  # PyNN's own cache may be stale as well
        handle = self.projection.nest_connections
        if len(handle) == 0:
            return handle, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        ends = handle.get(["source", "target"])
        pre = np.atleast_1d(np.asarray(ends["source"], dtype=np.int64)) - self._pre_id
        post = np.atleast_1d(np.asarray(ends["target"], dtype=np.int64)) - self._post_id
        return handle, pre, post

    def _current(self) -> Any:
        """The handle in NEST's current order (re-read if connections were added since)."""
        if int(nest.GetKernelStatus("num_connections")) == self._version:
            return self.handle
        self.handle, pre, post = self._read_handle()
        keys = self._key(pre, post)
        if np.array_equal(keys, self._keys):
            self._perm = None
            return self.handle
        if len(keys) != len(self._keys):
            raise RuntimeError(
                f"projection {self.projection.label!r} changed its number of connections on "
                "this rank; salpynn's bulk access expects fixed projections"
            )
        perm = np.empty(len(keys), dtype=np.int64)
        perm[np.argsort(self._keys, kind="stable")] = np.argsort(keys, kind="stable")
        self._perm = perm
        return self.handle

    def _from_nest(self, values: np.ndarray) -> np.ndarray:
        return values if self._perm is None else values[self._perm]

    def _to_nest(self, values: list[float]) -> list[float]:
        if self._perm is None:
            return values
        out = np.empty(len(values))
        out[self._perm] = values
        return out.tolist()

    #: Parameters the simulation never changes: read from NEST once, then tracked, so that
    #: checking a weight request (against w_min, w_max) costs no read-back per call.
    FIXED = ("w_min", "w_max", "delay", "dendritic_delay")

    def get(self, name: str) -> np.ndarray:
        """Values of parameter ``name`` (e.g. ``"weight"``, ``"eta"``), one per connection."""
        handle = self._current()
        values = np.atleast_1d(np.asarray(handle.get(name), dtype=float)) / _scale(name)
        return self._from_nest(values)

    def _stored(self, name: str) -> np.ndarray:
        if name not in self.FIXED:
            return self.get(name)
        if name not in self._fixed:
            self._fixed[name] = self.get(name)
        return self._fixed[name]

    def set(self, **values: Any) -> None:
        """Set parameters: arrays (one value per connection, in this order) or scalars.

        The whole request is checked first (NEST itself sets connection by connection)."""
        if self.checked:
            models.check_connection_request(values, self._stored, self.pre, self.post)
        handle = self._current()
        native = {}
        for name, value in values.items():
            if np.ndim(value) == 0:
                native[name] = float(value) * _scale(name)
            else:
                scaled = np.asarray(value, dtype=float) * _scale(name)
                native[name] = self._to_nest(scaled.tolist())
        lists = [name for name, value in native.items() if isinstance(value, list)]
        if lists and self.backend.sim.num_processes() > 1:
            # PyNEST refuses per-connection lists under MPI; a list of per-connection
            # dictionaries for this rank's own connections is accepted.
            columns = zip(*(native[k] for k in lists), strict=True)
            rows = [dict(zip(lists, row, strict=True)) for row in columns]
            for row in rows:
                row.update({k: v for k, v in native.items() if k not in lists})
            handle.set(rows)
        else:
            handle.set(**native)
        for name in self.FIXED:
            if name in values:
                shape = (len(self.pre),)
                self._fixed[name] = np.broadcast_to(np.asarray(values[name], float), shape).copy()


class SpikeReader:
    """Spikes of a population through its own ``spike_recorder`` (cleared at every read)."""

    def __init__(self, backend: Any, population: Any) -> None:
        nodes = population.node_collection
        self.first_id = nodes[0].global_id
        self.recorder = nest.Create("spike_recorder")
        nest.Connect(nodes, self.recorder)

    def read(self, since: float) -> tuple[np.ndarray, np.ndarray]:
        """``(times, senders)`` recorded since the last read (``since`` is implied)."""
        events = self.recorder.get("events")
        self.recorder.n_events = 0
        times = np.asarray(events["times"], dtype=float)
        senders = np.asarray(events["senders"], dtype=np.int64) - self.first_id
        return times, senders


class SamplingMonitor:
    """A ``sampling_monitor`` on ``population`` (networks of ``n`` consecutive neurons)."""

    def __init__(self, population: Any, n: int, tau: float) -> None:
        nodes = population.node_collection
        if len(nodes) % n:
            raise ValueError(
                f"a population of {len(nodes)} neurons is no whole number of networks of {n}"
            )
        self.n, self.replicas = n, len(nodes) // n
        self.monitor = nest.Create(
            "sampling_monitor",
            params={
                "n": n,
                "replicas": self.replicas,
                "first_sender": nodes[0].global_id,
                "tau": tau,
            },
        )
        nest.Connect(nodes, self.monitor)

    def read(
        self, readout_start: float, readout_stop: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(first, counts, states)`` of the spikes since the last read, states read every
        ``tau / 2`` in ``[readout_start, readout_stop)``; forgets the spikes."""
        return _read_statistics(self.monitor, self.n, self.replicas, readout_start, readout_stop)


def _read_statistics(
    node: Any, n: int, replicas: int, readout_start: float, readout_stop: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(first, counts, states)`` from a ``sampling_monitor`` or ``sampling_networks`` node,
    states read every ``tau / 2`` in ``[readout_start, readout_stop)``; forgets the spikes."""
    # PyNEST's set(dict) and get(list) read the whole status once per key and per call, and
    # each read computes the statistics: set a list of one dict, get everything once.
    node.set([{"readout_start": readout_start, "readout_stop": max(readout_stop, readout_start)}])
    status = node.get()
    node.set([{"n_events": 0}])
    return (
        np.asarray(status["overlap_first"], dtype=float).reshape(replicas, n, n),
        np.asarray(status["counts"], dtype=np.int64).reshape(replicas, n),
        np.asarray(status["state_counts"], dtype=np.int64).reshape(replicas, 2**n),
    )


class SamplingNetworks:
    """``replicas`` networks of ``n`` sampling neurons with static all-to-all weights in one
    ``sampling_networks`` node: what a population of ``sampling_neuron`` with a static
    projection per network and a ``sampling_monitor`` compute, with the same numbers on one
    thread, without NEST's per-spike and per-step costs.  Weights and biases in PyNN units
    (stacks ``w[r, k, j]`` for ``j -> k``, ``b[r, k]``), stored as PyNN would store them."""

    def __init__(
        self,
        w: np.ndarray,
        b: np.ndarray,
        *,
        tau_refrac: float,
        tau_syn: float,
        tau: float,
        escape: str,
        delay: float,
    ) -> None:
        if nest.num_processes != 1 or nest.local_num_threads != 1:
            raise NotImplementedError(
                "sampling_networks needs NEST in one process with one thread "
                f"({nest.num_processes} processes, {nest.local_num_threads} threads)"
            )
        self.replicas, self.n, _ = np.shape(w)
        self._started = False
        if nest.num_connections == 0:
            # Nothing crosses NEST's event delivery, so slices can be long: NEST's per-slice
            # work (a communication cycle, two OpenMP barriers) then runs every 1000 steps
            # instead of every step.  The node's numbers do not depend on it.
            slice_ms = 1000 * nest.resolution
            nest.set(min_delay=slice_ms, max_delay=slice_ms)
        self.node = nest.Create(
            "sampling_networks", params={"n": self.n, "replicas": self.replicas}
        )
        self.node.set(
            [
                {
                    "tau_ref": float(tau_refrac),
                    "tau_syn": float(tau_syn),
                    "tau": float(tau),
                    "escape": escape,
                    "delay": float(delay),
                    "weight_scale": 1.0 / WEIGHT_SCALE,
                    "b": np.asarray(b, dtype=float).reshape(-1).tolist(),
                    "weights": self._native_weights(w),
                }
            ]
        )

    def _native_weights(self, w: np.ndarray) -> list[float]:
        # As Connections.set: the PyNN value times the weight scale.
        return (np.asarray(w, dtype=float) * _scale("weight")).reshape(-1).tolist()

    def simulate(self, duration: float) -> None:
        """Advance ``duration`` ms.  Called instead of PyNN's ``run``, which at its first call
        adds one ``min_delay``: the same extra step as a population with ``min_delay`` = the
        resolution gets, whatever this kernel's ``min_delay``."""
        if not self._started:
            duration += nest.resolution
            self._started = True
        nest.Simulate(duration)

    def set_weights(self, w: np.ndarray) -> None:
        self.node.set([{"weights": self._native_weights(w)}])

    def weights(self) -> np.ndarray:
        native = np.asarray(self.node.get("weights"), dtype=float) / _scale("weight")
        return native.reshape(self.replicas, self.n, self.n)

    def set_biases(self, b: np.ndarray) -> None:
        self.node.set([{"b": np.asarray(b, dtype=float).reshape(-1).tolist()}])

    def read(
        self, readout_start: float, readout_stop: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`SamplingMonitor.read`."""
        return _read_statistics(self.node, self.n, self.replicas, readout_start, readout_stop)


#: State of ``sampling_neuron`` that :func:`set_cells` and :func:`get_cells` pass through
#: under its native name (no PyNN parameter): the accumulators of time-averaged read-outs.
NATIVE_STATE = {"u_sum": float, "v_sum": float, "n_sum": int, "u_bar": float, "v_bar": float,
                "psp_basal": float, "psp_apical": float}  # fmt: skip


def _native_name(population: Any, name: str) -> str:
    if name in NATIVE_STATE:
        return name
    entry = population.celltype.translations[name]
    if entry["forward_transform"] != name:
        raise ValueError(f"{name} needs a unit conversion; use Population.set")
    return entry["translated_name"]


def _local_nodes(population: Any) -> tuple[np.ndarray, Any]:
    index = np.flatnonzero(population._mask_local)
    return index, population.node_collection[index.tolist()] if index.size else None


def set_cells(population: Any, **values: Any) -> None:
    """Set per-neuron parameters with one NEST call (PyNN names; no unit conversion needed
    for the parameters allowed here; also the :data:`NATIVE_STATE` accumulators).  Values are
    one per neuron of the whole population; each rank sets its own."""
    native = {}
    index, nodes = _local_nodes(population)
    if nodes is None:
        return
    for name, value in values.items():
        cast = NATIVE_STATE.get(name, float)
        arr = np.broadcast_to(np.asarray(value, dtype=float).reshape(-1), (population.size,))
        native[_native_name(population, name)] = [cast(v) for v in arr[index]]
    nodes.set(**native)


def get_cells(backend: Any, population: Any, *names: str) -> dict[str, np.ndarray]:
    """Per-neuron values of parameters (PyNN names) or :data:`NATIVE_STATE`, for the whole
    population on every rank."""
    index, nodes = _local_nodes(population)
    local: dict[str, np.ndarray] = {}
    if nodes is not None:
        got = nodes.get([_native_name(population, n) for n in names])
        for name in names:
            local[name] = np.atleast_1d(np.asarray(got[_native_name(population, name)], float))
    out = {name: np.zeros(population.size) for name in names}
    for idx, part in backend.allgather((index, local)):
        for name, values in part.items():
            out[name][idx] = values
    return out
