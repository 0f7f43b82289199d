"""Bad synapse values are refused whole, with one sentence on every backend (issue #16).

The PyNN tests run the same request on NEST and on Brian2 and compare the two refusals: the
same sentence, in the user's (PyNN) units, naming the parameter, the value and the allowed
range, and nothing changed.  The NEST tests hold ``sal_synapse`` and salpynn's NEST helpers
(:func:`salpynn.nest.sal_syn_spec`, :func:`salpynn.nest.sal_synapse_model`) to the same rules,
and pin down the behaviour of NEST itself that no synapse model can change (the NaN weight of
``Connect``, connection-by-connection ``SynapseCollection.set``, ``CopyModel``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import salpynn.nest as snest
from salpynn.build import build_module
from salpynn.pynn import BACKENDS, Backend, load_backend
from salpynn.rule import PairRule
from tests.conftest import require

H = 0.1  # ms, time step and minimum delay
NAN, INF = math.nan, math.inf
WEIGHT_RANGE = r"weight must be finite and lie in \[w_min, w_max\] = "
DENDRITIC_RANGE = r"dendritic_delay must be -1 \(the whole delay\) or in \[0, delay\] ms; got "


@pytest.fixture(scope="module", autouse=True)
def _module_built() -> None:
    build_module(verbose=False)  # instantaneous when the current sources are built


@pytest.fixture(scope="module")
def backends() -> dict[str, Backend]:
    loaded = {}
    for name in BACKENDS:
        try:
            loaded[name] = load_backend(name)
        except ImportError as err:
            require(False, f"PyNN backend {name!r} is not importable: {err}")
    import brian2

    brian2.prefs.codegen.target = "numpy"  # these networks are built, rarely run
    return loaded


def same_refusal(backends: dict[str, Backend], attempt: Callable[[Backend], Any]) -> str:
    """Run ``attempt`` on a fresh simulator of every backend; each must raise ValueError, all
    with the same message, which is returned."""
    messages = {}
    for name, backend in backends.items():
        backend.setup(timestep=H, seed=1)
        with pytest.raises(ValueError) as refused:
            attempt(backend)
        messages[name] = str(refused.value)
    assert len(set(messages.values())) == 1, messages
    return messages["nest"]


def three_to_one(backend: Backend, synapse: Any, connector: Any = None) -> Any:
    """Three silent sources onto one sampling neuron through salpynn's projection."""
    sim = backend.sim
    pre = sim.Population(3, backend.SamplingNeuron(bias=-50.0))
    post = sim.Population(1, backend.SamplingNeuron(bias=-50.0))
    return backend.projection(
        pre, post, connector or sim.AllToAllConnector(), synapse, receptor_type="basal"
    )


# ---------------------------------------------------------------------------------------------
# PyNN: the same refusal on NEST and Brian2, in PyNN units
# ---------------------------------------------------------------------------------------------


class TestSynapseTypeRefusals:
    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"weight": 5.0, "w_max": 1.0}, WEIGHT_RANGE + r"\[-inf, 1\]; got 5$"),
            ({"weight": NAN}, WEIGHT_RANGE + r"\[-inf, inf\]; got nan$"),
            ({"weight": INF}, WEIGHT_RANGE + r"\[-inf, inf\]; got inf$"),
            ({"weight": 0.5, "w_min": 1.0, "w_max": 2.0}, WEIGHT_RANGE + r"\[1, 2\]; got 0.5$"),
            ({"dendritic_delay": 1.5, "delay": 1.0}, DENDRITIC_RANGE + "1.5 ms with delay 1 ms$"),
            ({"dendritic_delay": 0.5}, DENDRITIC_RANGE + "0.5 ms with delay 0.1 ms$"),
        ],
    )
    def test_constructor(self, backends, params, expected) -> None:
        message = same_refusal(backends, lambda b: b.SALSynapse(**params))
        assert re.search("^SALSynapse: " + expected, message), message

    def test_per_connection_weights_when_connecting(self, backends) -> None:
        def attempt(backend: Backend) -> None:
            rows = [(0, 0, 0.5, 1.0), (1, 0, 5.0, 1.0), (2, 0, NAN, 1.0)]
            connector = backend.sim.FromListConnector(rows, column_names=["weight", "delay"])
            three_to_one(backend, backend.SALSynapse(w_max=1.0), connector)

        message = same_refusal(backends, attempt)
        assert re.search(WEIGHT_RANGE + r"\[-inf, 1\]; got 5 .*2 of 3 refused", message), message

    def test_dendritic_delay_is_checked_against_the_given_delay(self, backends) -> None:
        # 1.5 ms fits a 2 ms delay; NEST used to check it against its default delay of 1 ms.
        for backend in backends.values():
            backend.setup(timestep=H, seed=1)
            synapse = backend.SALSynapse(weight=0.5, dendritic_delay=1.5, delay=2.0)
            projection = three_to_one(backend, synapse)
            got = projection.get(["dendritic_delay", "delay"], format="array")
            np.testing.assert_allclose(got[0], 1.5)
            np.testing.assert_allclose(got[1], 2.0)


class TestProjectionSetRefusals:
    WEIGHTS = np.array([0.2, 0.5, 0.7])

    def build(self, backend: Backend) -> Any:
        rows = [(j, 0, w) for j, w in enumerate(self.WEIGHTS)]
        connector = backend.sim.FromListConnector(rows, column_names=["weight"])
        synapse = backend.SALSynapse(w_min=-1.0, w_max=1.0, delay=1.0, dendritic_delay=0.5)
        return three_to_one(backend, synapse, connector)

    @pytest.mark.parametrize(
        ("request_", "expected"),
        [
            # One bad connection among good ones: nothing may change (NEST used to set 0.9).
            ({"weight": [0.9, 5.0, 0.7]}, WEIGHT_RANGE + r"\[-1, 1\]; got 5 \(connection 1 -> 0\)"),
            ({"weight": np.array([[0.9], [0.3], [NAN]])}, WEIGHT_RANGE + r"\[-1, 1\]; got nan"),
            ({"weight": NAN}, WEIGHT_RANGE + r"\[-1, 1\]; got nan .*3 of 3 refused"),
            ({"w_max": 0.6}, WEIGHT_RANGE + r"\[-1, 0.6\]; got 0.7 \(connection 2 -> 0\)"),
            ({"w_max": -2.0}, r"w_min must be <= w_max; got w_min = -1, w_max = -2"),
            ({"eta": 0.5, "weight": 1.5}, WEIGHT_RANGE + r"\[-1, 1\]; got 1.5"),
            ({"dendritic_delay": 2.0}, DENDRITIC_RANGE + "2 ms with delay 1 ms"),
            ({"delay": 0.3}, DENDRITIC_RANGE + "0.5 ms with delay 0.3 ms"),
        ],
    )
    def test_nothing_changes(self, backends, request_, expected) -> None:
        before = {}

        def attempt(backend: Backend) -> None:
            projection = self.build(backend)
            before[backend.name] = projection
            projection.set(**request_)

        message = same_refusal(backends, attempt)
        assert re.search(expected, message), message
        # Setting up Brian2 after NEST left NEST's kernel alone: both projections can be read.
        for projection in before.values():
            got = projection.get(["weight", "w_max", "eta", "delay"], format="array")
            np.testing.assert_allclose(got[0][:, 0], self.WEIGHTS, rtol=1e-12)
            np.testing.assert_allclose(got[1][:, 0], 1.0)
            np.testing.assert_allclose(got[2][:, 0], 0.01)
            np.testing.assert_allclose(got[3][:, 0], 1.0)

    def test_valid_request_still_applies(self, backends) -> None:
        for backend in backends.values():
            backend.setup(timestep=H, seed=1)
            projection = self.build(backend)
            projection.set(weight=[0.9, -0.3, 0.7], eta=0.2)
            got = projection.get(["weight", "eta"], format="array")
            np.testing.assert_allclose(got[0][:, 0], [0.9, -0.3, 0.7], rtol=1e-12)
            np.testing.assert_allclose(got[1][:, 0], 0.2)

    def test_bulk_connections_set(self, backends) -> None:
        # salpynn's bulk access (Backend.connections): the whole request, all names, first.
        def attempt(backend: Backend) -> None:
            projection = self.build(backend)
            before[backend.name] = projection
            connections = backend.connections(projection)
            weights = np.array([0.9, 5.0, 0.7])  # by presynaptic index
            connections.set(eta=0.3, weight=weights[connections.pre])

        before: dict[str, Any] = {}
        message = same_refusal(backends, attempt)
        assert re.search(WEIGHT_RANGE + r"\[-1, 1\]; got 5 \(connection 1 -> 0\)", message)
        for projection in before.values():
            got = projection.get(["weight", "eta"], format="array")
            np.testing.assert_allclose(got[0][:, 0], self.WEIGHTS, rtol=1e-12)
            np.testing.assert_allclose(got[1][:, 0], 0.01)

    def test_random_values_are_checked_as_drawn(self, backends) -> None:
        from pyNN.random import NumpyRNG, RandomDistribution

        for backend in backends.values():
            backend.setup(timestep=H, seed=1)
            projection = self.build(backend)
            too_large = RandomDistribution("uniform", (2.0, 3.0), rng=NumpyRNG(seed=4))
            with pytest.raises(ValueError, match=WEIGHT_RANGE + r"\[-1, 1\]; got 2\.\d+"):
                projection.set(weight=too_large)
            got = projection.get("weight", format="array")[:, 0]
            np.testing.assert_allclose(got, self.WEIGHTS, rtol=1e-12)
            projection.set(weight=RandomDistribution("uniform", (0.1, 0.2), rng=NumpyRNG(seed=4)))
            got = projection.get("weight", format="array")[:, 0]
            assert np.all((got >= 0.1) & (got <= 0.2)) and np.unique(got).size == 3, got

    def test_pynn_projection_refuses_what_the_request_shows(self, backends) -> None:
        # PyNN's own Projection (not salpynn's) knows no current values: the request alone is
        # checked, still alike on both backends and before anything changes.
        def attempt(backend: Backend) -> None:
            sim = backend.sim
            pre = sim.Population(3, backend.SamplingNeuron(bias=-50.0))
            post = sim.Population(1, backend.SamplingNeuron(bias=-50.0))
            synapse = backend.SALSynapse(weight=0.5, w_max=1.0)
            projection = sim.Projection(
                pre, post, sim.AllToAllConnector(), synapse, receptor_type="basal"
            )
            projection.set(weight=NAN)

        message = same_refusal(backends, attempt)
        assert message == "SALSynapse: weight must be finite and lie in [w_min, w_max]; got nan"


class TestBrian2StoredValues:
    def test_bad_stored_weight_is_refused_before_running(self, backends) -> None:
        # A value that reached Brian2 around salpynn's checks (here PyNN's own Projection and a
        # weight matrix whose NaN PyNN reads as "no connection") never runs silently: the
        # neuron would stop firing.
        backend = backends["brian2"]
        backend.setup(timestep=H, seed=1)
        sim = backend.sim
        pre = sim.Population(2, backend.SamplingNeuron(bias=2.0))
        post = sim.Population(1, backend.SamplingNeuron(bias=2.0))
        projection = sim.Projection(
            pre,
            post,
            sim.AllToAllConnector(),
            backend.SALSynapse(weight=0.5),
            receptor_type="basal",
        )
        projection.set(weight=np.array([[0.3], [NAN]]))
        from brian2.core.base import BrianObjectException

        with pytest.raises(BrianObjectException) as refused:  # Brian2 wraps the ValueError
            sim.run(1.0)
        cause = refused.value.__cause__
        assert isinstance(cause, ValueError), refused.value
        assert re.search(WEIGHT_RANGE + r"\[-inf, inf\]; got nan \(connection 1 -> 0\)", str(cause))


# ---------------------------------------------------------------------------------------------
# NEST: sal_synapse and salpynn's NEST helpers
# ---------------------------------------------------------------------------------------------


def parrots(nest, n: int = 3):
    return nest.Create("parrot_neuron", n)


class TestSalSynSpec:
    @pytest.mark.parametrize(
        ("weight", "rule", "expected"),
        [
            (NAN, PairRule.sal(), r"\[-inf, inf\]; got nan$"),
            (INF, PairRule.sal(), r"\[-inf, inf\]; got inf$"),
            (5.0, PairRule.sal(w_max=1.0), r"\[-inf, 1\]; got 5$"),
        ],
    )
    def test_refuses_bad_weight(self, nest, weight, rule, expected) -> None:
        # NEST itself would store the model's default weight for NaN (TestNestBehaviour).
        with pytest.raises(ValueError, match="^sal_syn_spec: " + WEIGHT_RANGE + expected):
            snest.sal_syn_spec(rule, weight=weight)

    def test_refuses_dendritic_delay_beyond_the_delay(self, nest) -> None:
        rule = PairRule.sal(dendritic_delay=1.5)
        with pytest.raises(ValueError, match=DENDRITIC_RANGE + "1.5 ms with delay 1 ms$"):
            snest.sal_syn_spec(rule, weight=0.5, delay=1.0)
        n = parrots(nest)
        nest.Connect(n[0], n[1], syn_spec=snest.sal_syn_spec(rule, weight=0.5, delay=2.0))
        assert nest.GetConnections(n[0], n[1]).get("dendritic_delay") == 1.5


class TestSalSynapseInNest:
    def test_messages_in_numbers_not_six_decimals(self, nest) -> None:
        n = parrots(nest)
        with pytest.raises(
            nest.NESTErrors.BadProperty, match=WEIGHT_RANGE + r"\[-inf, 1\]; got 5\."
        ):
            nest.Connect(
                n[0], n[1], syn_spec={"synapse_model": "sal_synapse", "w_max": 1.0, "weight": 5.0}
            )

    def test_infinite_weight_refused(self, nest) -> None:
        n = parrots(nest)
        with pytest.raises(nest.NESTErrors.BadProperty, match=WEIGHT_RANGE + r".*got inf\."):
            nest.Connect(n[0], n[1], syn_spec={"synapse_model": "sal_synapse", "weight": INF})

    def test_dendritic_delay_against_the_final_delay(self, nest) -> None:
        n = parrots(nest)
        # A model default is checked against each new connection's own delay ...
        nest.SetDefaults("sal_synapse", {"dendritic_delay": 0.5})
        with pytest.raises(nest.NESTErrors.BadProperty, match=DENDRITIC_RANGE + r"0.5 ms with"):
            nest.Connect(n[0], n[1], syn_spec={"synapse_model": "sal_synapse", "delay": 0.1})
        assert len(nest.GetConnections(n[0], n[1])) == 0
        # ... not against the model's default delay (1 ms): 1.5 ms fits a 2 ms delay.
        nest.SetDefaults("sal_synapse", {"dendritic_delay": 1.5})
        with pytest.raises(nest.NESTErrors.BadProperty, match=DENDRITIC_RANGE + r"1.5 ms with"):
            nest.Connect(n[0], n[1], syn_spec={"synapse_model": "sal_synapse"})
        nest.Connect(n[0], n[1], syn_spec={"synapse_model": "sal_synapse", "delay": 2.0})
        nest.CopyModel("sal_synapse", "sal_copy", {"dendritic_delay": 1.8})
        nest.Connect(n[0], n[2], syn_spec={"synapse_model": "sal_copy", "delay": 2.0})
        conn = nest.GetConnections(n[0], n[1])
        assert conn.get(["delay", "dendritic_delay"]) == {"delay": 2.0, "dendritic_delay": 1.5}
        # An existing connection checks a new delay or dendritic delay at once.
        with pytest.raises(nest.NESTErrors.BadProperty, match=DENDRITIC_RANGE + r"1.5 ms with"):
            conn.set(delay=1.0)
        with pytest.raises(nest.NESTErrors.BadProperty, match=DENDRITIC_RANGE + r"2.5 ms with"):
            conn.set(dendritic_delay=2.5)
        assert conn.get(["delay", "dendritic_delay"]) == {"delay": 2.0, "dendritic_delay": 1.5}


class TestSalSynapseModel:
    def test_bad_copy_leaves_no_model(self, nest) -> None:
        rule = PairRule.sal(window="triangular")
        not_a_weight_recorder = nest.Create("spike_recorder")
        for _ in range(2):  # a half-made copy would be returned silently the second time
            with pytest.raises(ValueError, match="weight_recorder must be one weight_recorder"):
                snest.sal_synapse_model(rule, weight_recorder=not_a_weight_recorder)
        assert not any(m.startswith("sal_synapse__triangular") for m in nest.synapse_models)
        recorder = nest.Create("weight_recorder")
        name = snest.sal_synapse_model(rule, weight_recorder=recorder)
        assert nest.GetDefaults(name, "window") == "triangular"

    def test_unknown_base_model(self, nest) -> None:
        with pytest.raises(ValueError, match="'stdp_synapse' is not a sal_synapse model"):
            snest.sal_synapse_model(PairRule.sal(), base="stdp_synapse")


class TestNestBehaviour:
    """What NEST 3.10 does for every synapse model; salpynn can only check its own entry
    points (see the README, "What happens when things go wrong")."""

    @pytest.mark.parametrize("model", ["sal_synapse", "static_synapse", "stdp_synapse"])
    def test_connect_reads_a_nan_weight_as_no_weight(self, nest, model) -> None:
        # conn_builder.cpp passes NaN for "no weight in syn_spec" and add_connection() keeps
        # the default weight for NaN: a NaN given by the user cannot be told apart.
        n = parrots(nest)
        nest.Connect(n[0], n[1], syn_spec={"synapse_model": model, "weight": NAN})
        assert nest.GetConnections(n[0], n[1]).get("weight") == 1.0

    def test_synapse_collection_set_applies_connection_by_connection(self, nest) -> None:
        # nest.cpp set_connection_status() sets each connection's dictionary in turn; a
        # refusal stops the loop after the earlier connections have changed.
        n = parrots(nest)
        nest.Connect(n[0], n[1:], syn_spec={"synapse_model": "sal_synapse", "weight": 0.5})
        nest.Connect(n[1], n[2], syn_spec={"synapse_model": "sal_synapse", "weight": 0.5})
        conns = nest.GetConnections(synapse_model="sal_synapse")
        conns.set(w_max=1.0)
        with pytest.raises(nest.NESTErrors.BadProperty, match="weight"):
            conns.set(weight=[0.9, 5.0, 0.7])
        assert conns.get("weight") == [0.9, 0.5, 0.5]

    @pytest.mark.parametrize(
        ("model", "params"),
        [("sal_synapse", {"tau_causal": -1.0}), ("stdp_synapse", {"Wmax": -1.0, "weight": 1.0})],
    )
    def test_failed_copy_model_leaves_the_model(self, nest, model, params) -> None:
        # model_manager.cpp registers the copy before it sets the parameters.
        with pytest.raises(nest.NESTErrors.BadProperty):
            nest.CopyModel(model, "half_made", params)
        assert "half_made" in nest.synapse_models
