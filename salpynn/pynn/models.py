"""Simulator-agnostic PyNN model definitions: the sampling neuron and the SAL synapse.

As in ``pyNN.standardmodels``, a model here is data (parameter names, defaults, units,
recordables, receptor types); each backend module (:mod:`salpynn.pynn.nest`,
:mod:`salpynn.pynn.brian2`) subclasses it and adds only a translation to its native model.

Units (PyNN conventions): times in ms; the neuron's membrane state ``u`` and all weights are
dimensionless ("u units"); a presynaptic spike of weight ``w`` raises ``u`` by ``w`` (times
``lambda_apical`` on the apical port) for ``tau_syn``.

Signed weights: a SAL projection may hold weights of either sign, and they may cross zero
during learning.  Use ``receptor_type="basal"`` (or ``"apical"``) for every projection onto a
sampling neuron, whatever the sign: there is no separate inhibitory receptor, and PyNN's
check that excitatory weights be positive is switched off for :class:`SALSynapse` and
:class:`SignedStaticSynapse`.

Refused values: a :class:`SALSynapse` weight must be finite and lie in ``[w_min, w_max]``, and
``dendritic_delay`` must be -1 or lie in ``[0, delay]``.  Both backends refuse a value that
breaks this with the same :class:`ValueError`, in PyNN units, before anything changes: the
constructor checks its values, every translation checks the values it translates (the
connections of a ``FromListConnector``, a ``Projection.set`` request on its own), and a
:class:`CheckedProjection` (what :meth:`salpynn.pynn.Backend.projection` builds) checks a
``set`` request against the values every connection would have afterwards.  What passes
around these checks (random or distance-dependent values when connecting, a ``set`` of PyNN's
own ``Projection`` that needs the stored bounds) is still refused by NEST's synapse, in NEST
units and connection by connection, and on Brian2 before the next run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from numbers import Real
from typing import Any

import numpy as np
from pyNN.parameters import ParameterSpace
from pyNN.random import RandomDistribution
from pyNN.standardmodels import StandardCellType, StandardSynapseType

from salpynn.rule import PAIRINGS, WINDOWS, PairRule, check_synapse_values

__all__ = [
    "CHECKED",
    "ESCAPES",
    "PSPS",
    "CheckedProjection",
    "DendriticPredictionSynapse",
    "DendriticSamplingNeuron",
    "SALSynapse",
    "SamplingNeuron",
    "SignedStaticSynapse",
    "check_connection_request",
    "check_known_values",
    "checked_request",
]

ESCAPES = ("exp", "logistic")
#: PSP shapes of the sampling neuron: rectangular (neural sampling) or alpha (Fig. 11).
PSPS = ("rect", "alpha")


class SamplingNeuron(StandardCellType):
    """Neural-sampling neuron (Buesing et al. 2011) with a basal and an apical port.

    ``u = bias + basal PSPs + lambda_apical * apical PSPs``.  PSPs are rectangular of duration
    ``tau_syn`` (``psp="rect"``, the default; 0 means ``tau_syn = tau_refrac``) or alpha-shaped,
    ``w * tau_refrac / tau_syn**2 * x * exp(-x / tau_syn)`` at time ``x`` after the arrival
    (``psp="alpha"``, the paper's Fig. 11; the same area as a rectangular PSP of length
    ``tau_refrac``; ``tau_syn`` may then be off the time grid).  Outside refractoriness it
    fires with hazard ``exp(u) / tau_refrac`` (``escape="exp"``) or with probability
    ``sigma(u - ln(tau_refrac / dt))`` per time step (``escape="logistic"``); after a spike it is
    refractory for ``tau_refrac``, and its binary state ``z`` is 1 during that time.

    ``escape`` and ``psp`` are properties of the whole population (constructor arguments),
    not per-neuron parameters.
    """

    default_parameters = {
        "bias": 0.0,  # b, dimensionless
        "tau_refrac": 10.0,  # ms, tau_ref: refractory time
        "tau_syn": 0.0,  # ms, PSP duration; 0 means tau_syn = tau_refrac
        "lambda_apical": 1.0,  # gain of the apical port
    }
    default_initial_values: dict[str, float] = {}
    recordable = ["spikes", "u", "z"]
    units = {"u": "dimensionless", "z": "dimensionless"}
    receptor_types = ("basal", "apical")
    conductance_based = False
    injectable = False
    voltage_based_synapses = True  # Brian2 backend: weights are carried in mV internally

    def __init__(self, escape: str = "exp", psp: str = "rect", **parameters: Any) -> None:
        if escape not in ESCAPES:
            raise ValueError(f"escape must be one of {ESCAPES}, got {escape!r}")
        if psp not in PSPS:
            raise ValueError(f"psp must be one of {PSPS}, got {psp!r}")
        for name, value in parameters.items():
            if name == "tau_refrac" and not _positive(value):
                raise ValueError(f"tau_refrac must be > 0 ms, got {value!r}")
            if name == "tau_syn" and isinstance(value, (int, float)) and not value >= 0:
                raise ValueError(f"tau_syn must be >= 0 ms (0 = tau_refrac), got {value!r}")
        self.escape = escape
        self.psp = psp
        super().__init__(**parameters)


class DendriticSamplingNeuron(SamplingNeuron):
    """A :class:`SamplingNeuron` that predicts its own activity from its basal dendrite
    (Urbanczik & Senn 2014), the pyramidal and output cells of dendritic microcircuits.

    It keeps boxcar averages over ``avg_window`` (ms) of ``u`` (``u_bar``) and of its basal
    input (``v_bar``) and offers :class:`DendriticPredictionSynapse` the learning signal
    ``learning_gate * (p(u_bar) - p(v_bar + bias))`` (``p`` its escape probability); with
    ``lambda_nudge != 0`` its state is nudged towards ``u_target``:
    ``u = bias + basal + lambda_apical * apical + lambda_nudge * (u_target - v_bar - bias)``.

    NEST only (the same ``sampling_neuron`` with ``avg_window > 0``): a per-neuron boxcar of
    thousands of steps has no form in Brian2's equations, and a per-step Python operation
    would cost hours per run.
    """

    default_parameters = {
        **SamplingNeuron.default_parameters,
        "avg_window": 200.0,  # ms: 2000 steps of 0.1 ms, the authors' window
        "lambda_nudge": 0.0,
        "u_target": 0.0,
        "learning_gate": 1.0,
    }
    recordable = [*SamplingNeuron.recordable, "u_bar", "v_bar", "psp_apical"]
    units = {**SamplingNeuron.units, "u_bar": "dimensionless", "v_bar": "dimensionless",
             "psp_apical": "dimensionless"}  # fmt: skip

    def __init__(self, escape: str = "logistic", psp: str = "rect", **parameters: Any) -> None:
        window = parameters.get("avg_window", self.default_parameters["avg_window"])
        if isinstance(window, (int, float)) and not (math.isfinite(window) and window > 0):
            raise ValueError(f"avg_window must be > 0 ms, got {window!r}")
        super().__init__(escape=escape, psp=psp, **parameters)


class DendriticPredictionSynapse(StandardSynapseType):
    """Forward plasticity onto a :class:`DendriticSamplingNeuron`'s basal port: at each
    presynaptic spike ``weight += eta * g`` with the target's learning signal ``g`` of that
    moment, clipped to ``[w_min, w_max]`` (NEST's ``dendritic_prediction_synapse``)."""

    default_parameters = {
        "weight": 0.0,
        "delay": None,
        "eta": 0.01,
        "w_min": -math.inf,
        "w_max": math.inf,
    }
    parameter_checks: dict[str, Any] = {}  # weights are signed


def _positive(value: Any) -> bool:
    return not isinstance(value, (int, float)) or (math.isfinite(value) and value > 0)


class SALSynapse(StandardSynapseType):
    """Signed pair-based plasticity; SAL with the default amplitudes (see :mod:`salpynn.rule`).

    Parameters follow ``sal_synapse``: ``eta``, ``a_causal``, ``a_anticausal``,
    ``tau_causal``, ``tau_anticausal`` (ms), ``w_min``, ``w_max``; ``window`` (``"exp"`` or
    ``"triangular"``) and ``pairing`` (``"nearest"`` or ``"all"``) hold for the whole
    projection.  Lags are ``dt = t_post + d_dend - t_pre`` with ``d_dend = dendritic_delay``
    (ms); the default -1 makes the whole delay dendritic, as in NEST's STDP synapses, and 0
    measures lags between the spike times (exact sum conservation of reciprocal SAL pairs).
    """

    default_parameters = {
        "weight": 0.0,
        "delay": None,
        "eta": 0.01,
        "a_causal": -1.0,
        "a_anticausal": 1.0,
        "tau_causal": 10.0,
        "tau_anticausal": 10.0,
        "w_min": -math.inf,
        "w_max": math.inf,
        "dendritic_delay": -1.0,  # ms added to postsynaptic times in the lags; -1: the delay
    }
    parameter_checks: dict[str, Any] = {}  # weights are signed

    def __init__(self, window: str = "exp", pairing: str = "nearest", **parameters: Any) -> None:
        if window not in WINDOWS:
            raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")
        if pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")
        scalars = {k: v for k, v in parameters.items() if isinstance(v, (int, float))}
        scalars.pop("weight", None)
        scalars.pop("delay", None)
        PairRule(window=window, pairing=pairing, **scalars)  # validate, naming the parameter
        self.window = window
        self.pairing = pairing
        super().__init__(**parameters)

        # After PyNN's initialisation, which turns delay=None into the minimum delay.
        check_known_values(self.parameter_space)

    def translate(self, parameters: ParameterSpace, copy: bool = True) -> ParameterSpace:
        """PyNN's translation to native names and units, after :func:`check_known_values`."""
        check_known_values(parameters)
        return super().translate(parameters, copy=copy)

    @contextmanager
    def connecting(self) -> Iterator[None]:
        """Context in which a projection with this synapse type is built (backend hook)."""
        yield

    @classmethod
    def from_rule(cls, rule: PairRule, weight: Any = 0.0, delay: Any = None) -> SALSynapse:
        """The synapse type of a :class:`~salpynn.rule.PairRule` (same names and units)."""
        return cls(
            window=rule.window, pairing=rule.pairing, weight=weight, delay=delay, **rule.to_nest()
        )


#: The connection parameters whose values and relations are checked (in PyNN units) before a
#: backend sees them: :func:`salpynn.rule.check_synapse_values`.
CHECKED = ("weight", "w_min", "w_max", "delay", "dendritic_delay")


#: The stored values a new value of each :data:`CHECKED` parameter is checked against.
_RELATED = {
    "weight": ("w_min", "w_max"),
    "w_min": ("weight", "w_max"),
    "w_max": ("weight", "w_min"),
    "delay": ("dendritic_delay",),
    "dendritic_delay": ("delay",),
}


def check_connection_request(
    request: dict[str, Any], read: Callable[[str], np.ndarray], pre: Any, post: Any
) -> None:
    """Check a request of one value (or one per connection) for each of some connections, in
    PyNN units, against the stored values it must agree with (``read(name)``, same order)."""
    names = [name for name in CHECKED if name in request]
    if not names:
        return
    values = {name: request[name] for name in names}
    for name in names:
        for other in _RELATED[name]:
            if other not in values:
                values[other] = read(other)
    check_synapse_values("SALSynapse", values, connections=(pre, post))


def _known(value: Any) -> np.ndarray | None:
    """The values of one parameter of a ParameterSpace if they are known without drawing
    random numbers or evaluating a function of distance, else None."""
    base = value.base_value
    if not isinstance(base, (Real, np.ndarray)) or isinstance(base, bool):
        return None
    if not value.operations:
        return np.asarray(base, dtype=float)
    if value.shape is None:
        return None
    return np.asarray(value.evaluate(simplify=True), dtype=float)


def check_known_values(space: ParameterSpace) -> None:
    """Check the :data:`CHECKED` values of a request that are known (numbers and arrays).

    One-dimensional arrays hold one value per connection (a ``FromListConnector``'s columns);
    in a matrix (``[pre, post]``, PyNN's array format) NaN marks "no connection", so an entry
    that is NaN in any matrix of the request is not checked.  Random and distance-dependent
    values are checked by a :class:`CheckedProjection`'s ``set`` and by the backends.
    """
    known = {name: _known(space[name]) for name in CHECKED if name in space.keys()}
    values = {name: v for name, v in known.items() if v is not None}
    if not values:
        return
    try:
        shape = np.broadcast_shapes(*(v.shape for v in values.values()))
    except ValueError:  # values of different connections: each is checked on its own
        for name, v in values.items():
            check_known_values(ParameterSpace({name: v}, shape=None))
        return
    arrays = {name: np.broadcast_to(v, shape) for name, v in values.items()}
    present = np.ones(shape, dtype=bool)
    for name, v in values.items():
        if v.ndim == 2:
            present &= ~np.isnan(arrays[name])
    check_synapse_values("SALSynapse", {name: v[present] for name, v in arrays.items()})


def checked_request(projection: Any, attributes: dict[str, Any]) -> dict[str, Any]:
    """Check a ``Projection.set`` request against the values every connection of
    ``projection`` (on this MPI rank) would have afterwards; raise before anything changes.

    Random values are drawn here, once, and the returned request carries the draws, so that
    the values checked are the values set.
    """
    if not any(name in attributes for name in CHECKED):
        return attributes
    request = dict(attributes)
    if any(isinstance(v, list) or np.ndim(v) == 1 for v in request.values()):
        # One value per connection: PyNN's [pre, post] matrix, NaN where there is none.
        request = projection._value_list_to_array(request)
    space = ParameterSpace(dict(request), projection.synapse_type.get_schema(), projection.shape)
    space = projection._handle_distance_expressions(space)
    if not np.any(projection.post._mask_local):  # no connection on this rank
        return request
    rows = projection.get(list(CHECKED), format="list", gather=False, with_address=True)
    table = np.asarray(rows, dtype=float).reshape(-1, 2 + len(CHECKED))
    pre, post = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
    values = {name: table[:, 2 + k] for k, name in enumerate(CHECKED)}
    for name in CHECKED:
        if name not in request:
            continue
        value = space[name]
        if value.is_homogeneous and not isinstance(value.base_value, RandomDistribution):
            values[name] = np.full(pre.size, float(value.evaluate(simplify=True)))
            continue
        matrix = np.asarray(value.evaluate(simplify=False), dtype=float)
        if isinstance(value.base_value, RandomDistribution):
            request[name] = matrix
        values[name] = matrix[pre, post]
    check_synapse_values("SALSynapse", values, connections=(pre, post))
    return request


class CheckedProjection:
    """Mixin for a backend's ``Projection``: ``set`` checks a :class:`SALSynapse` request
    whole, against the values the connections would have, before anything changes."""

    def set(self, **attributes: Any) -> None:
        if isinstance(self.synapse_type, SALSynapse):
            attributes = checked_request(self, attributes)
        super().set(**attributes)  # type: ignore[misc]


class SignedStaticSynapse(StandardSynapseType):
    """A fixed signed weight onto a sampling neuron (no plasticity)."""

    default_parameters = {"weight": 0.0, "delay": None}
    parameter_checks: dict[str, Any] = {}
