"""``sampling_networks`` (one NEST node for many static-weight sampling networks) against the
separate nodes it replaces.

The reference is the PyNN path of the sampling experiment: a population of
``sampling_neuron``, static projections within each network and a ``sampling_monitor``
(:class:`salpynn.networks.sampling.SamplingBatch`, itself tested against NumPy statistics of
recorded spikes in ``test_sampling_monitor.py``).  On one thread the node draws the same random
numbers in the same order and sums the same weights in the same order, so every statistic must
be *equal*, phase after phase, with weights and biases changed between phases; spikes of a
phase's last step are delivered at the start of the next phase with the new weights, as NEST
delivers them.
"""

from __future__ import annotations

import numpy as np
import pytest
from salpynn.networks.sampling import NodeSamplingBatch, SamplingBatch

from salpynn.build import build_module
from salpynn.experiments.sampling import SamplingConfig, seed_setup
from salpynn.pynn import load_backend

H = 0.1


@pytest.fixture(scope="module", autouse=True)
def _module_built() -> None:
    build_module(verbose=False)


def _stacks(replicas: int) -> tuple[np.ndarray, np.ndarray]:
    config = SamplingConfig(noise="synaptic", sigma=0.8)
    setups = [seed_setup(config, seed) for seed in range(1, replicas + 1)]
    return np.stack([s.w_initial for s in setups]), np.stack([s.b_initial for s in setups])


def _phases(kind: str, w, b, *, escape: str, convention: str, delay: float, phases: int):
    """Statistics of ``phases`` phases (lengths 50 ... 500 ms), with new weights and biases
    after each; for the node also how many spikes waited at each phase boundary."""
    backend = load_backend("nest")
    backend.setup(timestep=H, seed=11, max_delay=1.0)
    common = {"tau_ref": 5.0, "escape": escape, "delay": delay, "resolution": H}
    if kind == "node":
        batch = NodeSamplingBatch(backend, w, b, convention=convention, **common)
    else:
        batch = SamplingBatch(
            backend, w, b, rule=None, convention=convention, statistics=True, **common
        )
    rng = np.random.default_rng(3)
    off = ~np.eye(w.shape[1], dtype=bool)
    out, waiting = [], []
    for phase in range(phases):
        stats = batch.run_statistics([50.0, 500.0, 120.0, 300.0][phase % 4])
        out.append((stats.first, stats.counts, stats.states, stats.t_start, stats.t_stop))
        if kind == "node":
            waiting.append(batch.node.node.get("undelivered"))
        w = w + 0.3 * rng.normal(size=w.shape) * off
        b = b + 0.3 * rng.normal(size=b.shape)
        batch.set_weights(w)
        batch.set_biases(b)
    weights = batch.weights()
    batch.end()
    return out, waiting, weights


@pytest.mark.parametrize(
    ("escape", "convention", "delay"),
    [
        ("logistic", "marginals", 0.1),  # the sampling experiment's defaults
        ("logistic", "authors", 0.1),
        ("exp", "reversible", 0.2),
    ],
)
def test_node_equals_the_separate_neurons_and_monitor(
    escape: str, convention: str, delay: float
) -> None:
    w, b = _stacks(12)
    kw = {"escape": escape, "convention": convention, "delay": delay, "phases": 8}
    pynn, _, w_pynn = _phases("pynn", w, b, **kw)
    node, waiting, w_node = _phases("node", w, b, **kw)
    assert sum(int(c.sum()) for _, c, *_ in pynn) > 10_000  # enough spikes to tell
    names = ("first", "counts", "states", "t_start", "t_stop")
    for phase, (a, c) in enumerate(zip(pynn, node, strict=True)):
        for name, x, y in zip(names, a, c, strict=True):
            np.testing.assert_array_equal(y, x, err_msg=f"phase {phase}: {name}")
    np.testing.assert_array_equal(w_node, w_pynn)
    # Some phase ended with spikes in its last step, delivered with the next phase's weights:
    # the case that distinguishes NEST's delivery at the start of the next slice.
    assert any(waiting[:-1]), waiting


def test_experiment_gives_the_same_numbers_on_both_engines(tmp_path) -> None:
    """A whole (short) run without SAL: segments in fresh kernels, validations, weight and
    bias updates; every metric and the final weights are equal."""
    from salpynn.experiments import sampling

    results = {}
    for engine in ("auto", "pynn"):
        config = SamplingConfig(
            sal=False,
            seeds=3,
            batch=3,
            iterations=6,
            validate_every=3,
            validation_factor=2,
            sleep_tau=100.0,
            engine=engine,
        )
        sampling.run(config, tmp_path / engine, progress=False)
        results[engine] = (
            dict(np.load(tmp_path / engine / "metrics.npz")),
            dict(np.load(tmp_path / engine / "weights.npz")),
        )
    for auto, pynn in zip(results["auto"], results["pynn"], strict=True):
        assert auto.keys() == pynn.keys()
        for key in auto:
            np.testing.assert_array_equal(auto[key], pynn[key], err_msg=key)


def test_node_needs_one_thread() -> None:
    backend = load_backend("nest")
    backend.setup(timestep=H, seed=1, threads=2)
    assert not backend.has_sampling_networks
    w, b = _stacks(2)
    with pytest.raises(NotImplementedError, match="one process"):
        NodeSamplingBatch(backend, w, b, tau_ref=5.0, escape="logistic", delay=H, resolution=H)
    backend.sim.end()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n": 0}, "n must be 1 ... 16"),
        ({"n": 17}, "n must be 1 ... 16"),
        ({"replicas": 0}, "replicas must be >= 1"),
        ({"b": [0.0, 1.0, 2.0]}, "b must have replicas . n = 2"),
        ({"weights": [0.0] * 3}, "weights must have replicas . n . n = 4"),
        ({"b": [0.0, float("nan")]}, "b must be finite"),
        ({"tau_ref": 0.25}, "tau_ref must be a positive multiple of the resolution"),
        ({"delay": 0.0}, "delay must be a positive multiple"),
        ({"escape": "linear"}, "escape must be 'exp' or 'logistic'"),
        ({"readout_start": 0.01}, "readout_start must be a finite multiple of half"),
        ({"n_events": 3}, "n_events can only be set to 0"),
    ],
)
def test_bad_parameters_name_the_parameter_and_range(nest, params, message) -> None:
    node = nest.Create("sampling_networks", params={"n": 2, "replicas": 1})
    before = node.get(["b", "weights", "tau_ref"])
    with pytest.raises(Exception, match=message):
        node.set(params)
    after = node.get(["b", "weights", "tau_ref"])
    for key, value in before.items():  # a refused set changes nothing
        np.testing.assert_array_equal(after[key], value)
