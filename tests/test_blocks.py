"""Bulk access to projections stays correct when NEST re-sorts its connections.

NEST sorts a synapse model's connections by source whenever connections were added (at
``GetConnections`` and ``Simulate``), and the sort does not keep the order of connections with
the same source.  A projection read before another projection of the same model was connected
must still read and write its own connections."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import require


@pytest.fixture
def backend():
    try:
        from salpynn.pynn import load_backend

        backend = load_backend("nest")
    except ImportError as err:  # pragma: no cover
        require(False, f"PyNN with NEST is not importable: {err}")
    backend.setup(timestep=0.1, seed=1)
    yield backend
    backend.sim.end()


def nest_matrix(projection, shape) -> np.ndarray:
    """(copies, post, pre) weights as NEST holds them now, from a fresh query."""
    import nest

    conns = nest.GetConnections(
        projection.pre.node_collection,
        projection.post.node_collection,
        synapse_label=projection.nest_synapse_label,
    )
    got = conns.get(["source", "target", "weight"])
    n_post, n_pre = shape[1:]
    out = np.full(shape, np.nan)
    pre = np.asarray(got["source"]) - projection.pre.node_collection[0].global_id
    post = np.asarray(got["target"]) - projection.post.node_collection[0].global_id
    out[post // n_post, post % n_post, pre % n_pre] = np.asarray(got["weight"]) / 1000.0
    return out


@pytest.mark.parametrize("kind", ["static", "sal", "dendritic"])
def test_blocks_address_their_own_connections_after_resorting(backend, kind):
    from salpynn.networks.blocks import BlockProjection

    from salpynn.rule import PairRule

    sim = backend.sim
    rng = np.random.default_rng(3)
    if kind == "dendritic":
        cell = backend.DendriticSamplingNeuron(avg_window=1.0)
    else:
        cell = backend.SamplingNeuron(escape="logistic")
    a, b, c = (sim.Population(3 * n, cell) for n in (6, 3, 4))

    def synapse():
        if kind == "static":
            return backend.SignedStaticSynapse(delay=0.1)
        if kind == "sal":
            return backend.SALSynapse.from_rule(PairRule.sal(tau=1.0, eta=0.0), delay=0.1)
        return backend.DendriticPredictionSynapse(eta=0.0, delay=0.1)

    first = BlockProjection(backend, a, b, rng.normal(size=(3, 3, 6)), synapse(), label="first")
    # More connections of the same model from the same sources: NEST re-sorts them all.
    second = BlockProjection(backend, a, c, rng.normal(size=(3, 4, 6)), synapse(), label="second")
    third = BlockProjection(backend, b, c, rng.normal(size=(3, 4, 3)), synapse(), label="third")
    sim.run(0.5)  # Simulate sorts too
    for block in (first, second, third):
        target = rng.normal(size=block.shape)
        block.set(target)
        np.testing.assert_allclose(nest_matrix(block.projection, block.shape), target, rtol=1e-12)
        np.testing.assert_allclose(block.get(), target, rtol=1e-12)
