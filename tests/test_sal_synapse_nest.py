"""sal_synapse in real NEST against the pair-by-pair NumPy reference (salpynn.rule).

Spikes are fed through parrot neurons; the plastic connection targets the postsynaptic parrot
on receptor 1, which parrots ignore, so the postsynaptic spikes are exactly the ones we drive.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from salpynn.rule import PairRule, weight_trajectory

RESOLUTION = 0.1
RTOL = 1e-9  # trace-based C++ vs explicit pair sums: only rounding differs


def random_trains(rng: np.random.Generator, n_pre: int, n_post: int, t_max: float, delay: float):
    """Grid-aligned spike times with deliberate coincidences (t_post + delay == t_pre)."""
    steps = int(t_max / RESOLUTION)
    pre = np.sort(rng.choice(np.arange(20, steps), n_pre, replace=False))
    post = rng.choice(np.arange(20, steps), n_post, replace=False)
    shift = round(delay / RESOLUTION)
    coincident = rng.choice(pre, max(1, n_post // 5), replace=False) - shift
    post = np.unique(np.concatenate([post, coincident[coincident > 10]]))
    return pre * RESOLUTION, post * RESOLUTION


def parrot_pair(
    nest,
    pre_times,
    post_times,
    rule: PairRule,
    weight: float,
    delay: float = 0.1,
    weight_recorder: bool = True,
):
    """Drive pre/post parrots with the given times; return (connection, wr, pre_rec, post_rec)."""
    import salpynn.nest as snest

    gens = nest.Create("spike_generator", 2)
    gens[0].spike_times = list(pre_times)
    gens[1].spike_times = list(post_times)
    parrots = nest.Create("parrot_neuron", 2)
    nest.Connect(gens[0], parrots[0], syn_spec={"delay": RESOLUTION})
    nest.Connect(gens[1], parrots[1], syn_spec={"delay": RESOLUTION})
    recorders = nest.Create("spike_recorder", 2)
    nest.Connect(parrots[0], recorders[0])
    nest.Connect(parrots[1], recorders[1])
    wr = nest.Create("weight_recorder") if weight_recorder else None
    syn = snest.sal_syn_spec(rule, weight, delay, weight_recorder=wr, receptor_type=1)
    nest.Connect(parrots[0], parrots[1], syn_spec=syn)
    conn = nest.GetConnections(parrots[0], parrots[1])
    return conn, wr, recorders[0], recorders[1]


def spike_times(recorder) -> np.ndarray:
    return np.asarray(recorder.get("events")["times"], dtype=float)


COMBINATIONS = list(itertools.product(["exp", "triangular"], ["nearest", "all"]))


class TestAgainstReference:
    @pytest.mark.parametrize(("window", "pairing"), COMBINATIONS)
    @pytest.mark.parametrize("seed", [1, 2])
    def test_random_trains(self, nest, window, pairing, seed):
        rng = np.random.default_rng(seed)
        delay = [0.1, 1.5][seed - 1]
        pre, post = random_trains(rng, 150, 150, 3000.0, delay)
        rule = PairRule(
            eta=0.05,
            a_causal=-1.3,
            a_anticausal=0.8,
            tau_causal=7.0,
            tau_anticausal=12.0,
            window=window,
            pairing=pairing,
        )
        w0 = 0.2  # small, so the weight crosses zero several times
        conn, wr, rec_pre, rec_post = parrot_pair(nest, pre, post, rule, w0, delay)
        nest.Simulate(3100.0)
        t_pre, t_post = spike_times(rec_pre), spike_times(rec_post)
        assert t_pre.size == pre.size and t_post.size == post.size
        ref = weight_trajectory(t_pre, t_post, w0, rule, delay=delay)
        recorded = np.asarray(wr.get("events")["weights"], dtype=float)
        np.testing.assert_allclose(recorded, ref.at_pre, rtol=RTOL, atol=1e-12)
        assert conn.get("weight") == pytest.approx(ref.at_pre[-1], rel=RTOL, abs=1e-12)
        assert np.any(np.diff(np.sign(ref.at_pre)) != 0), "test should cross zero"


class TestDendriticDelay:
    @pytest.mark.parametrize(("window", "pairing"), COMBINATIONS)
    @pytest.mark.parametrize("dendritic_delay", [0.0, 0.7])
    def test_lags_use_the_dendritic_delay(self, nest, window, pairing, dendritic_delay):
        rng = np.random.default_rng(3)
        delay = 1.5
        pre, post = random_trains(rng, 150, 150, 3000.0, dendritic_delay)
        rule = PairRule.sal(
            tau=8.0, eta=0.05, window=window, pairing=pairing, dendritic_delay=dendritic_delay
        )
        conn, wr, rec_pre, rec_post = parrot_pair(nest, pre, post, rule, 0.2, delay)
        assert conn.get("dendritic_delay") == dendritic_delay
        nest.Simulate(3100.0)
        t_pre, t_post = spike_times(rec_pre), spike_times(rec_post)
        ref = weight_trajectory(t_pre, t_post, 0.2, rule, delay=dendritic_delay)
        recorded = np.asarray(wr.get("events")["weights"], dtype=float)
        np.testing.assert_allclose(recorded, ref.at_pre, rtol=RTOL, atol=1e-12)
        # The whole delay (the default) gives a different trajectory on these trains.
        whole = weight_trajectory(t_pre, t_post, 0.2, rule, delay=delay)
        assert np.max(np.abs(whole.at_pre - ref.at_pre)) > 1e-3

    @pytest.mark.parametrize("value", [-0.5, -2.0, float("inf"), float("nan")])
    def test_one_meaning_in_python_and_nest(self, nest, value):
        # -1 is the only negative value (the whole delay); NEST and PairRule refuse the rest
        # with the same sentence.
        expected = r"dendritic_delay must be -1 \(the whole delay\) or in \[0, delay\] ms"
        with pytest.raises(ValueError, match=expected):
            PairRule.sal(dendritic_delay=value)
        n = nest.Create("parrot_neuron", 2)
        with pytest.raises(Exception, match=expected):
            nest.Connect(
                n[0],
                n[1],
                syn_spec={"synapse_model": "sal_synapse", "delay": 1.0, "dendritic_delay": value},
            )

    def test_bounds_and_fixed_after_spikes(self, nest):
        n = nest.Create("parrot_neuron", 2)
        with pytest.raises(Exception, match="dendritic_delay"):
            nest.Connect(
                n[0],
                n[1],
                syn_spec={"synapse_model": "sal_synapse", "delay": 1.0, "dendritic_delay": 1.5},
            )
        conn, _, _, _ = parrot_pair(nest, [5.0], [7.0], PairRule.sal(), 0.0, 1.0, False)
        assert conn.get("dendritic_delay") == -1.0  # the whole delay
        conn.set(dendritic_delay=0.0)  # allowed before any spike
        nest.Simulate(20.0)
        with pytest.raises(Exception, match="cannot change"):
            conn.set(dendritic_delay=0.5)


class TestEdgeCases:
    def test_simultaneous_spikes_do_not_pair(self, nest):
        # Parrot spikes: pre at 10.1 and 30.1, post at 29.1, whose effective time
        # t_post + delay = 30.1 equals the second pre spike.
        delay = 1.0
        conn, _, _, _ = parrot_pair(nest, [10.0, 30.0], [29.0], PairRule.sal(eta=1.0), 0.0, delay)
        nest.Simulate(50.0)
        # The post spike pairs with pre 10.1 (dt = 20), not with the simultaneous pre 30.1,
        # and pre 30.1 finds no strictly earlier post.  Pairing them would give 0.
        assert conn.get("weight") == pytest.approx(-math.exp(-2.0), rel=1e-12)

    def test_zero_crossing_and_sign(self, nest):
        rule = PairRule.sal(eta=0.5)
        pre = [10.0, 20.0, 30.0, 40.0]
        post = [12.0, 22.0, 32.0]
        _, wr, rp, rq = parrot_pair(nest, pre, post, rule, 0.3)
        nest.Simulate(60.0)
        ref = weight_trajectory(spike_times(rp), spike_times(rq), 0.3, rule, delay=0.1)
        weights = np.asarray(wr.get("events")["weights"])
        assert weights[0] > 0 > weights[-1]
        np.testing.assert_allclose(weights, ref.at_pre, rtol=RTOL)

    @pytest.mark.parametrize(("bound", "sign"), [("w_min", -1), ("w_max", +1)])
    def test_bounds(self, nest, bound, sign):
        # a_causal = sign drives the weight towards the bound being tested.
        rule = PairRule(
            eta=1.0, a_causal=float(sign), a_anticausal=float(sign), w_min=-0.5, w_max=0.5
        )
        pre = np.arange(10.0, 200.0, 10.0)
        post = pre + 2.0
        _, wr, rp, rq = parrot_pair(nest, pre, post, rule, 0.0)
        nest.Simulate(250.0)
        weights = np.asarray(wr.get("events")["weights"])
        assert weights[-1] == (0.5 if sign > 0 else -0.5)
        ref = weight_trajectory(spike_times(rp), spike_times(rq), 0.0, rule, delay=0.1)
        np.testing.assert_allclose(weights, ref.at_pre, rtol=RTOL)

    def test_eta_zero_freezes_and_can_be_switched_on(self, nest):
        pre = np.arange(10.0, 400.0, 7.0)
        post = np.arange(12.0, 400.0, 9.0)
        conn, _, rp, rq = parrot_pair(nest, pre, post, PairRule.sal(eta=0.0), 1.0)
        nest.Simulate(200.0)
        assert conn.get("weight") == 1.0
        conn.set(eta=0.1)
        nest.Simulate(250.0)
        t_pre, t_post = spike_times(rp), spike_times(rq)
        # Reference: frozen until the switch at 200 ms, then eta = 0.1 (traces kept meanwhile).
        # No spike lies in (last pre before 200, 200] on the post side, so laziness is moot.
        frozen = weight_trajectory(t_pre, t_post, 1.0, PairRule.sal(eta=0.0), delay=0.1)
        assert np.all(frozen.at_pre == 1.0)
        rule = PairRule.sal(eta=0.1)
        full = weight_trajectory(t_pre, t_post, 1.0, rule, delay=0.1)
        # Changes from pairs completed after 200 ms only:
        last_frozen_pre = t_pre[t_pre <= 200.0][-1]
        assert not np.any((t_post + 0.1 > last_frozen_pre) & (t_post + 0.1 <= 200.0))
        w = 1.0
        for t, _, dw in _pair_increments(t_pre, t_post, rule, 0.1):
            if 200.0 < t <= t_pre[-1]:  # NEST applies trailing posts lazily
                w += rule.eta * dw
        assert conn.get("weight") == pytest.approx(w, rel=RTOL)
        assert full.final != 1.0

    def test_weight_set_mid_run(self, nest):
        rule = PairRule.sal(eta=0.2, pairing="all")
        pre = np.arange(10.0, 300.0, 11.0)
        post = np.arange(15.0, 300.0, 13.0)
        conn, _, rp, rq = parrot_pair(nest, pre, post, rule, 0.5)
        nest.Simulate(100.0)
        conn.set(weight=-2.0)
        nest.Simulate(250.0)
        t_pre, t_post = spike_times(rp), spike_times(rq)
        last_pre = t_pre[t_pre <= 100.0][-1]
        assert not np.any((t_post + 0.1 > last_pre) & (t_post + 0.1 <= 100.0))
        w = -2.0
        for t, _, dw in _pair_increments(t_pre, t_post, rule, 0.1):
            if t > 100.0 and t <= t_pre[-1]:
                w += rule.eta * dw
        assert conn.get("weight") == pytest.approx(w, rel=RTOL)


def _pair_increments(t_pre, t_post, rule, delay):
    """(time, is_pre, summed window) per event, from the reference with eta = 1, unbounded."""
    unit = rule.with_(eta=1.0, w_min=-math.inf, w_max=math.inf)
    traj = weight_trajectory(t_pre, t_post, 0.0, unit, delay=delay)
    steps = np.diff(np.concatenate([[0.0], traj.weights]))
    return zip(traj.times, traj.is_pre, steps, strict=True)


class TestThreads:
    def _run(self, nest, threads: int, trains, rule):
        nest.ResetKernel()
        nest.local_num_threads = threads
        import salpynn.nest as snest

        snest.install()
        (pre_trains, post_trains) = trains
        gens = nest.Create("spike_generator", len(pre_trains) + len(post_trains))
        for gen, times in zip(gens, pre_trains + post_trains, strict=True):
            gen.spike_times = list(times)
        parrots = nest.Create("parrot_neuron", len(gens))
        nest.Connect(gens, parrots, "one_to_one", syn_spec={"delay": RESOLUTION})
        pre = parrots[: len(pre_trains)]
        post = parrots[len(pre_trains) :]
        syn = snest.sal_syn_spec(rule, 0.1, 0.5, receptor_type=1)
        nest.Connect(pre, post, "all_to_all", syn_spec=syn)
        conns = nest.GetConnections(pre, post)
        nest.Simulate(1100.0)
        data = conns.get(["source", "target", "weight"])
        order = np.lexsort((data["target"], data["source"]))
        return (
            np.asarray(data["weight"])[order],
            np.asarray(data["source"])[order],
            np.asarray(data["target"])[order],
        )

    def test_one_and_two_threads_identical_and_exact(self, nest):
        rng = np.random.default_rng(11)
        rule = PairRule.sal(eta=0.05, pairing="all", window="triangular")
        pre = [random_trains(rng, 60, 1, 1000.0, 0.5)[0] for _ in range(5)]
        post = [random_trains(rng, 60, 1, 1000.0, 0.5)[0] for _ in range(4)]
        w1, src1, tgt1 = self._run(nest, 1, (pre, post), rule)
        w2, src2, _ = self._run(nest, 2, (pre, post), rule)
        np.testing.assert_array_equal(src1, src2)
        np.testing.assert_array_equal(w1, w2)
        # And each equals the reference: parrot i repeats generator i with delay 0.1 ms.
        first = int(src1.min())
        n_pre = len(pre)
        for w, s, t in zip(w1, src1, tgt1, strict=True):
            t_pre = pre[int(s) - first] + RESOLUTION
            t_post = post[int(t) - first - n_pre] + RESOLUTION
            ref = weight_trajectory(t_pre, t_post, 0.1, rule, delay=0.5)
            assert w == pytest.approx(ref.at_pre[-1], rel=RTOL, abs=1e-12)


class TestValidation:
    @pytest.mark.parametrize(
        ("params", "name"),
        [
            ({"tau_causal": 0.0}, "tau_causal"),
            ({"tau_anticausal": -3.0}, "tau_anticausal"),
            ({"w_min": 1.0, "w_max": 0.0, "weight": 0.5}, "w_min"),
            ({"w_max": 0.5, "weight": 1.0}, "weight"),
            ({"eta": math.inf}, "eta"),
        ],
    )
    def test_connect_rejects(self, nest, params, name):
        n = nest.Create("parrot_neuron", 2)
        with pytest.raises(Exception, match=name):
            nest.Connect(n[0], n[1], syn_spec={"synapse_model": "sal_synapse", **params})

    @pytest.mark.parametrize(
        ("params", "name"),
        [
            ({"tau_causal": -1.0}, "tau_causal"),
            ({"w_max": -5.0}, "weight"),
            ({"window": "x"}, "window"),
        ],
    )
    def test_set_status_rejects_and_keeps_state(self, nest, params, name):
        n = nest.Create("parrot_neuron", 2)
        nest.Connect(n[0], n[1], syn_spec={"synapse_model": "sal_synapse", "weight": 0.3})
        conn = nest.GetConnections(n[0], n[1])
        with pytest.raises(Exception, match=name):
            conn.set(params)
        assert conn.get("weight") == 0.3
        assert conn.get("tau_causal") == 10.0 and conn.get("window") == "exp"

    @pytest.mark.parametrize(
        ("params", "name"), [({"pairing": "first"}, "pairing"), ({"window": "box"}, "window")]
    )
    def test_set_defaults_rejects(self, nest, params, name):
        with pytest.raises(Exception, match=name):
            nest.SetDefaults("sal_synapse", params)
        with pytest.raises(Exception, match=name):
            nest.CopyModel("sal_synapse", "sal_copy", params)

    def test_window_is_fixed_after_spikes(self, nest):
        conn, _, _, _ = parrot_pair(nest, [5.0], [7.0], PairRule.sal(), 0.0, weight_recorder=False)
        nest.Simulate(20.0)
        with pytest.raises(Exception, match="cannot change"):
            conn.set(window="triangular")
        conn.set(eta=0.5, a_causal=-0.5)  # amplitudes and eta stay switchable

    def test_unknown_parameter_rejected(self, nest):
        n = nest.Create("parrot_neuron", 2)
        with pytest.raises(Exception, match="tau_plus"):
            nest.Connect(n[0], n[1], syn_spec={"synapse_model": "sal_synapse", "tau_plus": 3.0})
