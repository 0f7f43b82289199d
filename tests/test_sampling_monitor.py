"""``sampling_monitor`` (NEST) against the NumPy statistics of the same spikes.

The sampling experiment's phase statistics (spike counts, overlaps of the active windows,
sampled-state counts) are computed in the kernel by ``sampling_monitor`` instead of from
spikes read into Python.  The references are :func:`salpynn.analysis.states.
coactivation_from_spikes` and :func:`~salpynn.analysis.states.state_counts` applied to the
spikes a ``spike_recorder`` recorded in the same run: counts and states must be equal, overlaps
equal to rounding (the monitor sums whole half-steps, the reference floats in ms).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import salpynn.nest as snest
from salpynn.analysis.states import coactivation_from_spikes, state_counts
from salpynn.build import build_module

H = 0.1
TAU = 2.0  # 20 steps


@pytest.fixture(scope="module", autouse=True)
def _module_built() -> None:
    build_module(verbose=False)


@pytest.fixture
def nest():
    nest = snest.import_nest()
    nest.ResetKernel()
    snest.install()
    nest.verbosity = nest.VerbosityLevel.ERROR
    return nest


def _networks(nest, n: int, replicas: int, threads: int = 1, seed: int = 5):
    """``replicas`` recurrent networks of ``n`` sampling neurons, a recorder and a monitor."""
    nest.set(resolution=H, rng_seed=seed, local_num_threads=threads)
    rng = np.random.default_rng(seed)
    cells = nest.Create(
        "sampling_neuron", n * replicas, params={"tau_ref": TAU, "escape": "logistic"}
    )
    nest.SetStatus(cells, "b", list(rng.normal(0.0, 1.0, n * replicas)))
    for r in range(replicas):
        block = cells[r * n : (r + 1) * n]
        w = rng.normal(0.0, 1.0, (n, n))
        for i in range(n):
            for j in range(n):
                if i != j:
                    nest.Connect(
                        block[j], block[i], syn_spec={"weight": float(w[i, j]), "delay": H}
                    )
    recorder = nest.Create("spike_recorder")
    nest.Connect(cells, recorder)
    monitor = nest.Create(
        "sampling_monitor",
        params={"n": n, "replicas": replicas, "first_sender": cells[0].global_id, "tau": TAU},
    )
    nest.Connect(cells, monitor)
    return cells, recorder, monitor


def _read(monitor, n: int, replicas: int):
    status = monitor.get(["overlap_first", "counts", "state_counts", "n_events"])
    return (
        np.asarray(status["overlap_first"]).reshape(replicas, n, n),
        np.asarray(status["counts"]).reshape(replicas, n),
        np.asarray(status["state_counts"]).reshape(replicas, 2**n),
        status["n_events"],
    )


@pytest.mark.parametrize("threads", [1, 2])
def test_phases_match_the_numpy_statistics_of_the_recorded_spikes(nest, threads: int) -> None:
    n, replicas = 4, 6
    cells, recorder, monitor = _networks(nest, n, replicas, threads)
    first_id = cells[0].global_id
    t0 = 0.0
    for duration in (300.0, 0.5, 123.4):  # the middle phase is shorter than tau
        nest.Simulate(duration)
        t1 = round(t0 + duration, 10)
        monitor.set(readout_start=t0 + TAU, readout_stop=max(t1, t0 + TAU))
        first, counts, states, n_events = _read(monitor, n, replicas)
        events = recorder.events
        times = np.asarray(events["times"], dtype=float)
        senders = np.asarray(events["senders"], dtype=np.int64) - first_id
        ref_first, ref_counts = coactivation_from_spikes(times, senders, n, replicas, TAU)
        assert n_events == times.size
        np.testing.assert_array_equal(counts, ref_counts)
        np.testing.assert_allclose(first, ref_first, rtol=0, atol=1e-9)
        if t1 - t0 > TAU:
            assert times.size > 50 * replicas  # active enough that overlaps and states vary
            ref_states = state_counts(times, senders, n, replicas, TAU, t0, t1)
            np.testing.assert_array_equal(states, ref_states)
            assert states.sum() == replicas * np.ceil((t1 - t0 - TAU) / (TAU / 2) - 1e-9)
        else:
            assert states.sum() == 0
        monitor.n_events = 0
        recorder.n_events = 0
        assert monitor.get("n_events") == 0
        t0 = t1


def test_simultaneous_and_overlapping_spikes_by_hand(nest) -> None:
    """Two neurons: 0 fires at steps 10 and 40, 1 at steps 10 and 55; tau = 20 steps.

    Pairs: (0@10, 1@10) simultaneous, overlap 20 steps = 2 ms, 1 ms to each order; (0@40,
    1@55) with 0 first, overlap 5 steps = 0.5 ms; (1@10, 0@40) do not overlap.  States read
    every 10 steps in [20, 80): 3, 0, 1, 1, 2, 2 (neuron 0 is bit 0)."""
    nest.set(resolution=H)
    generators = nest.Create("spike_generator", 2)
    generators[0].spike_times = [0.9, 3.9]  # parrots re-emit after the 0.1 ms delay
    generators[1].spike_times = [0.9, 5.4]
    parrots = nest.Create("parrot_neuron", 2)
    nest.Connect(generators, parrots, "one_to_one", syn_spec={"delay": H})
    recorder = nest.Create("spike_recorder")
    nest.Connect(parrots, recorder)
    monitor = nest.Create(
        "sampling_monitor", params={"n": 2, "first_sender": parrots[0].global_id, "tau": TAU}
    )
    nest.Connect(parrots, monitor)
    nest.Simulate(8.0)
    events = recorder.events
    steps = np.rint(np.asarray(events["times"]) / H).astype(int)
    assert sorted(zip(events["senders"] - parrots[0].global_id, steps, strict=True)) == [
        (0, 10), (0, 40), (1, 10), (1, 55)
    ]  # fmt: skip
    monitor.set(readout_start=2.0, readout_stop=8.0)
    first, counts, states, n_events = _read(monitor, 2, 1)
    assert n_events == 4
    np.testing.assert_array_equal(counts, [[2, 2]])
    np.testing.assert_allclose(first[0], [[0.0, 1.5], [1.0, 0.0]], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(states[0], [1, 2, 2, 1])


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"n": 0}, "n"),
        ({"n": 17}, "n"),
        ({"replicas": 0}, "replicas"),
        ({"first_sender": 0}, "first_sender"),
        ({"tau": 0.0}, "tau"),
        ({"tau": 0.25}, "tau"),
        ({"readout_start": 0.07}, "readout_start"),
        ({"readout_stop": float("nan")}, "readout_stop"),
        ({"n_events": 3}, "n_events"),
    ],
)
def test_bad_parameters_are_refused_by_name(nest, params: dict, name: str) -> None:
    nest.set(resolution=H)
    monitor = nest.Create("sampling_monitor")
    with pytest.raises(Exception, match=f"sampling_monitor: {name} "):
        monitor.set(params)
    assert monitor.get("n") == 1  # nothing changed


def test_a_neuron_outside_the_networks_cannot_connect(nest) -> None:
    nest.set(resolution=H)
    cells = nest.Create("sampling_neuron", 5)
    monitor = nest.Create(
        "sampling_monitor", params={"n": 2, "replicas": 2, "first_sender": cells[0].global_id}
    )
    nest.Connect(cells[:4], monitor)
    with pytest.raises(
        Exception, match=r"node 5 is not one of its networks' neurons \(node ids 1 \.\.\. 4"
    ):
        nest.Connect(cells[4], monitor)


def test_static_synapses_sample_exactly_as_sal_synapses_with_eta_zero() -> None:
    """The sampling experiment runs its conditions without SAL on static synapses: same
    kernel seed, weights and biases give the same phase statistics as ``sal_synapse`` with
    ``eta = 0`` (which the experiment used before)."""
    from salpynn.networks.sampling import SamplingBatch

    from salpynn.experiments.sampling import SamplingConfig, seed_setup
    from salpynn.pynn import load_backend

    config = SamplingConfig(n=5, sal=True)
    setups = [seed_setup(config, s) for s in (1, 2, 3)]
    w = np.stack([s.w_initial for s in setups])
    b = np.stack([s.b_initial for s in setups])
    results = {}
    for name, rule in (("static", None), ("sal-eta-0", replace(config.sal_rule(), eta=0.0))):
        backend = load_backend("nest")
        backend.setup(timestep=config.resolution, seed=17)
        batch = SamplingBatch(
            backend, w, b, tau_ref=config.tau_ref, escape=config.escape, delay=config.delay,
            rule=rule, resolution=config.resolution, convention=config.convention,
            statistics=True,
        )  # fmt: skip
        phases = [batch.run_statistics(200.0) for _ in range(2)]
        batch.set_weights(w * 0.5)
        phases.append(batch.run_statistics(200.0))
        results[name] = phases
        batch.end()
    for static, sal in zip(results["static"], results["sal-eta-0"], strict=True):
        assert static.counts.sum() > 300
        np.testing.assert_array_equal(static.counts, sal.counts)
        np.testing.assert_array_equal(static.first, sal.first)
        np.testing.assert_array_equal(static.states, sal.states)


def test_batch_statistics_from_the_monitor_equal_those_from_recorded_spikes() -> None:
    """``SamplingBatch.run_statistics`` with the monitor (NEST) and from recorded spikes (the
    path of other backends) on the same seed: the same phases give the same statistics, the
    read-out window included (phases longer and shorter than tau_ref)."""
    from salpynn.networks.sampling import SamplingBatch

    from salpynn.experiments.sampling import SamplingConfig, seed_setup
    from salpynn.pynn import load_backend

    config = SamplingConfig(n=4)
    setups = [seed_setup(config, s) for s in (4, 5)]
    w = np.stack([s.w_initial for s in setups])
    b = np.stack([s.b_initial for s in setups])
    results = {}
    for monitored in (True, False):
        backend = load_backend("nest")
        backend.setup(timestep=config.resolution, seed=23)
        batch = SamplingBatch(
            backend, w, b, tau_ref=config.tau_ref, escape=config.escape, delay=config.delay,
            rule=config.sal_rule(), resolution=config.resolution, convention=config.convention,
            statistics=monitored,
        )  # fmt: skip
        assert (batch.monitor is not None) == monitored
        results[monitored] = [batch.run_statistics(d) for d in (150.0, 3.0, 97.3)]
        batch.end()
    for a, b_ in zip(results[True], results[False], strict=True):
        assert (a.t_start, a.t_stop) == (b_.t_start, b_.t_stop)
        np.testing.assert_array_equal(a.counts, b_.counts)
        np.testing.assert_array_equal(a.states, b_.states)
        np.testing.assert_allclose(a.first, b_.first, rtol=0, atol=1e-9)
    assert results[True][0].states.sum() > 0 and results[True][1].states.sum() == 0
