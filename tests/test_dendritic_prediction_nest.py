"""sampling_neuron's averages and dendritic_prediction_synapse in real NEST against the NumPy
step loop (salpynn.dendritic).

Presynaptic spikes come from spike generators through parrots; the learning neuron's own spikes
do not reach its inputs, so its state, averages and the weights are deterministic given the
input trains, and every value must agree with the reference to rounding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from salpynn.dendritic import prediction_trajectory

H = 0.1
#: Absolute tolerance: the C++ and the reference add the same numbers in the same order except
#: for the PSP bookkeeping, so only rounding of O(1) sums separates them.
ATOL = 1e-11


def build(nest, trains, weights, *, delay=0.1, eta=0.05, neuron=None, apical=None, syn=None,
          threads=1, parrot_delay=None):  # fmt: skip
    """Generators -> parrots -> one learning sampling_neuron; returns handles."""
    nest.resolution = H
    if threads > 1:
        nest.local_num_threads = threads
    params = {"escape": "logistic", "tau_ref": 1.0, "avg_window": 5.0, "b": -0.5}
    params.update(neuron or {})
    post = nest.Create("sampling_neuron", params=params)
    n_in = len(trains) + (1 if apical is not None else 0)
    gens = nest.Create("spike_generator", n_in)
    parrots = nest.Create("parrot_neuron", n_in)
    for i, times in enumerate([*trains, *([apical[0]] if apical is not None else [])]):
        gens[i].spike_times = [round(t, 1) for t in times]
    nest.Connect(gens, parrots, "one_to_one", syn_spec={"delay": parrot_delay or delay})
    wr = nest.Create("weight_recorder")
    nest.CopyModel("dendritic_prediction_synapse", "dps_test", {"weight_recorder": wr})
    for i, w in enumerate(weights):
        spec = {"synapse_model": "dps_test", "weight": w, "eta": eta, "delay": delay}
        spec.update(syn or {})
        nest.Connect(parrots[i], post, syn_spec=spec)
    if apical is not None:
        nest.Connect(parrots[-1], post, syn_spec={"weight": apical[1], "delay": delay,
                                                  "receptor_type": 2})  # fmt: skip
    mm = nest.Create("multimeter", params={"record_from": ["u", "u_bar", "v_bar"], "interval": H})
    nest.Connect(mm, post)
    rec = nest.Create("spike_recorder")
    nest.Connect(parrots, rec)
    return post, parrots, wr, mm, rec


def stamps_of(rec, parrots):
    ev = rec.events
    ids = np.asarray(parrots.global_id)
    index = {int(g): i for i, g in enumerate(ids)}
    stamps = np.rint(np.asarray(ev["times"]) / H).astype(np.int64)
    which = np.array([index[int(s)] for s in ev["senders"]], dtype=np.int64)
    return stamps, which


def rect_input(stamps, weight, delay_steps, n_syn, n_steps):
    x = np.zeros(n_steps)
    for s in stamps:
        a = s + delay_steps
        x[a - 1 : min(a - 1 + n_syn, n_steps)] += weight
    return x


def random_trains(rng, n, t_max, rate=0.15):
    """Presynaptic trains on the grid (ms), with coincidences across trains."""
    steps = int(t_max / H)
    common = rng.choice(np.arange(5, steps - 20), 5, replace=False)
    out = []
    for _ in range(n):
        k = rng.binomial(steps - 30, rate / 10)
        own = rng.choice(np.arange(1, steps - 20), k, replace=False)
        out.append(np.unique(np.concatenate([own, common])) * H)
    return out


def compare(nest, post, parrots, wr, mm, rec, weights, n_steps, **ref_kwargs):
    stamps, which = stamps_of(rec, parrots)
    plastic = which < len(weights)
    stamps, which = stamps[plastic], which[plastic]
    ref = prediction_trajectory(n_steps, stamps, which, weights, **ref_kwargs)
    ev = mm.events
    order = np.argsort(ev["times"], kind="stable")
    steps = np.rint(np.asarray(ev["times"])[order] / H).astype(int)
    # The multimeter hands over its data once per min_delay block: the last block is missing.
    n_rec = len(steps)
    assert n_rec >= n_steps - round(nest.min_delay / H)
    assert np.array_equal(steps, np.arange(1, n_rec + 1))
    for name in ("u", "u_bar", "v_bar"):
        np.testing.assert_allclose(np.asarray(ev[name])[order], getattr(ref, name)[:n_rec], rtol=0,
                                   atol=ATOL, err_msg=name)  # fmt: skip
    wev = wr.events
    got = {}
    for t, s, w in zip(wev["times"], wev["senders"], wev["weights"], strict=True):
        got.setdefault((round(t / H), int(s)), []).append(w)
    ids = np.asarray(parrots.global_id)
    for i in range(len(stamps)):
        key = (int(stamps[i]), int(ids[which[i]]))
        assert got[key].pop(0) == pytest.approx(ref.spike_weights[i], rel=1e-12, abs=ATOL)
    conns = nest.GetConnections(parrots[: len(weights)], post)
    final = dict(zip(conns.source, conns.weight, strict=True))
    for i, w in enumerate(ref.weights):
        assert final[int(ids[i])] == pytest.approx(w, rel=1e-12, abs=ATOL)
    return ref


class TestAgainstReference:
    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_random_trains_with_nudge_gate_and_apical_input(self, nest, seed):
        """Three plastic synapses (their changing weights feed back into u and so into g), an
        apical input that enters u_bar but not v_bar, a nudge whose target changes between
        Simulate calls, and a gate toggled between calls."""
        rng = np.random.default_rng(seed)
        t_chunks = [30.0, 25.0, 45.0]
        t_max = sum(t_chunks)
        n_steps = round(t_max / H)
        trains = random_trains(rng, 3, t_max)
        apical = (random_trains(rng, 1, t_max)[0], 0.7)
        weights = [0.8, -1.2, 0.1]
        nudge = {"lambda_nudge": 0.6, "u_target": 0.4, "lambda_apical": 0.3}
        post, parrots, wr, mm, rec = build(nest, trains, weights, eta=0.9, apical=apical,
                                           neuron=nudge)  # fmt: skip
        targets, gates = [0.4, -1.0, 2.0], [1.0, 0.0, 0.5]
        u_target, gate = np.zeros(n_steps), np.zeros(n_steps)
        start = 0
        for chunk, target, g in zip(t_chunks, targets, gates, strict=True):
            post.set(u_target=target, learning_gate=g)
            nest.Simulate(chunk)
            stop = start + round(chunk / H)
            u_target[start:stop], gate[start:stop] = target, g
            start = stop
        stamps, which = stamps_of(rec, parrots)
        apical_input = 0.7 * rect_input(stamps[which == 3], 1.0, 1, 10, n_steps)
        ref = compare(nest, post, parrots, wr, mm, rec, weights, n_steps, eta=0.9, n_avg=50,
                      b=-0.5, lambda_apical=0.3, apical=apical_input, lambda_nudge=0.6,
                      u_target=u_target, gate=gate)  # fmt: skip
        # The weights did learn, in both directions, and the gate held them in chunk 2.
        assert np.ptp(ref.g) > 0.05
        status = post.get(["u_sum", "v_sum", "n_sum"])
        assert status["n_sum"] == n_steps
        assert status["u_sum"] == pytest.approx(ref.u.sum(), rel=1e-12)
        assert status["v_sum"] == pytest.approx(ref.v.sum(), rel=1e-12)

    @pytest.mark.parametrize(
        ("delay", "parrot_delay"), [(0.1, None), (1.5, None), (0.5, 0.5)]
    )  # 0.5/0.5: min_delay is 5 steps, so spikes are delivered up to 4 steps late
    def test_delays_and_slices(self, nest, delay, parrot_delay):
        rng = np.random.default_rng(7)
        t_max = 63.7  # not a multiple of min_delay: the last slice is partial
        trains = random_trains(rng, 2, t_max, rate=0.3)
        weights = [1.5, -0.4]
        post, parrots, wr, mm, rec = build(nest, trains, weights, delay=delay, eta=0.3,
                                           parrot_delay=parrot_delay)  # fmt: skip
        nest.Simulate(20.3)
        nest.Simulate(t_max - 20.3)
        n_steps = round(t_max / H)
        compare(nest, post, parrots, wr, mm, rec, weights, n_steps, eta=0.3, n_avg=50, b=-0.5,
                delay_steps=round(delay / H))  # fmt: skip

    @pytest.mark.parametrize("window", [0.1, 200.0])
    def test_window_of_one_step_and_longer_than_the_run(self, nest, window):
        rng = np.random.default_rng(3)
        trains = random_trains(rng, 2, 40.0, rate=0.3)
        post, parrots, wr, mm, rec = build(nest, trains, [0.5, 0.5], eta=1.0,
                                           neuron={"avg_window": window})  # fmt: skip
        nest.Simulate(40.0)
        compare(nest, post, parrots, wr, mm, rec, [0.5, 0.5], 400, eta=1.0,
                n_avg=round(window / H), b=-0.5)  # fmt: skip

    def test_bounds_eta_zero_exp_escape_and_weight_scale(self, nest):
        """PyNN's units (weights x1000, weight_scale 0.001), bounds that clip, one synapse with
        eta = 0, and exponential escape."""
        rng = np.random.default_rng(11)
        trains = random_trains(rng, 3, 60.0, rate=0.4)
        weights = [1000.0, -500.0, 200.0]
        post, parrots, wr, mm, rec = build(
            nest, trains, weights, eta=4000.0,
            neuron={"escape": "exp", "weight_scale": 0.001, "b": 0.3},
            syn={"w_min": -800.0, "w_max": 1100.0},
        )  # fmt: skip
        nest.GetConnections(parrots[2], post).eta = 0.0
        nest.Simulate(60.0)
        ref = compare(nest, post, parrots, wr, mm, rec, weights, 600, eta=[4000.0, 4000.0, 0.0],
                      n_avg=50, b=0.3, escape="exp", weight_scale=0.001, w_min=-800.0,
                      w_max=1100.0)  # fmt: skip
        assert ref.weights[2] == 200.0
        assert ref.weights.min() >= -800.0 and ref.weights.max() <= 1100.0

    def test_two_threads(self, nest):
        rng = np.random.default_rng(5)
        trains = random_trains(rng, 4, 50.0, rate=0.3)
        weights = [0.3, -0.3, 0.9, 0.0]
        post, parrots, wr, mm, rec = build(nest, trains, weights, eta=0.5, threads=2)
        nest.Simulate(50.0)
        compare(nest, post, parrots, wr, mm, rec, weights, 500, eta=0.5, n_avg=50, b=-0.5)

    def test_the_earliest_spike_sees_the_first_steps_only(self, nest):
        """Stamp 2 (generator at step 1, delay 1): no PSP yet, so v_bar = 0 and both steps have
        the nudged u = b + lambda_nudge (u_target - 0 - b) = -0.5 + 0.5 * 1.5 = 0.25; by hand,
        dw = eta (sigma(0.25 - ln 10) - sigma(-0.5 - ln 10))."""
        nudge = {"lambda_nudge": 0.5, "u_target": 1.0}
        wr = build(nest, [[0.1]], [0.5], eta=1.0, neuron=nudge)[2]
        nest.Simulate(5.0)

        def sigma(x):
            return 1.0 / (1.0 + math.exp(-x))

        expected = 0.5 + sigma(0.25 - math.log(10)) - sigma(-0.5 - math.log(10))
        assert expected - 0.5 > 0.03  # a synapse that does not learn fails
        assert wr.events["weights"][0] == pytest.approx(expected, abs=1e-15)


class TestNeuron:
    def test_averaging_does_not_change_the_spikes(self, nest):
        """avg_window > 0 with lambda_nudge = 0 adds bookkeeping only: the same seed gives the
        same spikes as the plain neuron (the averages draw no random numbers)."""
        trains = []
        for window in (0.0, 20.0):
            nest.ResetKernel()
            import salpynn.nest as snest

            snest.install()
            nest.rng_seed = 12
            nest.resolution = H
            n = nest.Create("sampling_neuron", 3, params={"escape": "logistic", "b": 0.5,
                                                          "avg_window": window})  # fmt: skip
            nest.Connect(n, n, "all_to_all", syn_spec={"weight": 0.3, "delay": H})
            rec = nest.Create("spike_recorder")
            nest.Connect(n, rec)
            nest.Simulate(300.0)
            trains.append((list(rec.events["senders"]), list(rec.events["times"])))
        assert len(trains[0][0]) > 50
        assert trains[0] == trains[1]

    def test_changing_the_window_clears_the_averages(self, nest):
        post = build(nest, [[1.0, 3.0]], [0.5], eta=0.0, neuron={"b": 0.2})[0]
        nest.Simulate(3.5)  # the second PSP runs during 3.2 ... 4.1 ms
        assert post.u_bar != 0.0
        post.avg_window = 2.0
        assert post.u_bar == 0.0 and post.v_bar == 0.0
        nest.Simulate(0.1)  # one step: the average of a single value
        assert post.u_bar == post.u
        assert post.v_bar == pytest.approx(0.5)

    def test_sums_can_be_reset(self, nest):
        post, *_ = build(nest, [[1.0]], [0.5], eta=0.0, neuron={"b": 0.25})
        nest.Simulate(10.0)
        post.set(u_sum=0.0, v_sum=0.0, n_sum=0)
        nest.Simulate(3.0)
        assert post.n_sum == 30
        assert post.u_sum == pytest.approx(30 * 0.25)
        assert post.v_sum == 0.0


class TestRefusals:
    def test_non_sampling_target(self, nest):
        parrot = nest.Create("parrot_neuron")
        with pytest.raises(nest.NESTError, match="target must be a sampling_neuron"):
            nest.Connect(parrot, nest.Create("iaf_psc_alpha"),
                         syn_spec={"synapse_model": "dendritic_prediction_synapse"})  # fmt: skip

    def test_apical_port(self, nest):
        parrot = nest.Create("parrot_neuron")
        with pytest.raises(nest.NESTError, match="basal port"):
            nest.Connect(parrot, nest.Create("sampling_neuron", params={"avg_window": 1.0}),
                         syn_spec={"synapse_model": "dendritic_prediction_synapse",
                                   "receptor_type": 2})  # fmt: skip

    def test_averaging_off_at_the_first_spike(self, nest):
        nest.resolution = H
        gen = nest.Create("spike_generator", params={"spike_times": [1.0]})
        parrot = nest.Create("parrot_neuron")
        nest.Connect(gen, parrot)
        nest.Connect(parrot, nest.Create("sampling_neuron"),
                     syn_spec={"synapse_model": "dendritic_prediction_synapse"})  # fmt: skip
        with pytest.raises(nest.NESTError, match="keeps no averages; set avg_window > 0"):
            nest.Simulate(5.0)

    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"avg_window": 0.25}, "avg_window must be a multiple of the resolution"),
            ({"avg_window": -1.0}, "avg_window must be >= 0 ms"),
            ({"lambda_nudge": 0.5}, "lambda_nudge != 0 needs the basal average"),
            ({"u_target": math.nan}, "u_target must be a finite number"),
            ({"learning_gate": math.inf}, "learning_gate must be a finite number"),
            ({"n_sum": -1}, "n_sum >= 0"),
        ],
    )
    def test_bad_neuron_values(self, nest, params, message):
        nest.resolution = H
        n = nest.Create("sampling_neuron")
        with pytest.raises(nest.NESTError, match=message):
            n.set(params)
        assert n.avg_window == 0.0 and n.lambda_nudge == 0.0  # unchanged

    @pytest.mark.parametrize(
        ("params", "message"),
        [({"eta": math.nan}, "eta must be finite"), ({"w_min": 2.0}, "w_min must be <= w_max"),
         ({"weight": 5.0, "w_max": 1.0}, r"weight must be finite and lie in \[w_min, w_max\]")],
    )  # fmt: skip
    def test_bad_synapse_values(self, nest, params, message):
        with pytest.raises(nest.NESTError, match=message):
            nest.SetDefaults("dendritic_prediction_synapse", {"w_max": 1.0, **params}
                             if "w_min" in params else params)  # fmt: skip
