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
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyNN.standardmodels import StandardCellType, StandardSynapseType

from salpynn.rule import PAIRINGS, WINDOWS, PairRule

__all__ = ["ESCAPES", "SALSynapse", "SamplingNeuron", "SignedStaticSynapse"]

ESCAPES = ("exp", "logistic")


class SamplingNeuron(StandardCellType):
    """Neural-sampling neuron (Buesing et al. 2011) with a basal and an apical port.

    ``u = bias + basal PSPs + lambda_apical * apical PSPs``, rectangular PSPs of duration
    ``tau_syn`` (0 means ``tau_syn = tau_refrac``).  Outside refractoriness it fires with hazard
    ``exp(u) / tau_refrac`` (``escape="exp"``) or with probability
    ``sigma(u - ln(tau_refrac / dt))`` per time step (``escape="logistic"``); after a spike it is
    refractory for ``tau_refrac``, and its binary state ``z`` is 1 during that time.

    ``escape`` is a property of the whole population (a constructor argument), not a
    per-neuron parameter.
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

    def __init__(self, escape: str = "exp", **parameters: Any) -> None:
        if escape not in ESCAPES:
            raise ValueError(f"escape must be one of {ESCAPES}, got {escape!r}")
        for name, value in parameters.items():
            if name == "tau_refrac" and not _positive(value):
                raise ValueError(f"tau_refrac must be > 0 ms, got {value!r}")
            if name == "tau_syn" and isinstance(value, (int, float)) and not value >= 0:
                raise ValueError(f"tau_syn must be >= 0 ms (0 = tau_refrac), got {value!r}")
        self.escape = escape
        super().__init__(**parameters)


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


class SignedStaticSynapse(StandardSynapseType):
    """A fixed signed weight onto a sampling neuron (no plasticity)."""

    default_parameters = {"weight": 0.0, "delay": None}
    parameter_checks: dict[str, Any] = {}
