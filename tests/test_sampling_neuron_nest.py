"""NEST tests of ``sampling_neuron``, the neural-sampling neuron of ``salpynnmodule``.

Each test resets the kernel and loads the module again.  Times are compared on the time grid
(integer steps of the resolution ``H``); a value recorded at time ``t`` is the state at the right
end of the step that ends at ``t``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import salpynn.nest as snest
from salpynn.build import build_module
from salpynn.rule import PairRule, weight_trajectory
from tests.conftest import pooled_chi_square

H = 0.1  # resolution, ms
SILENT_B = -50.0  # exp(-50) ~ 2e-22: a neuron with this bias does not fire in these tests


@pytest.fixture(scope="module", autouse=True)
def _module_built() -> None:
    build_module(verbose=False)  # instantaneous when the current sources are built


def fresh_kernel(nest, seed: int = 12345, threads: int = 1) -> None:
    nest.ResetKernel()
    snest.install()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.set(resolution=H, rng_seed=seed, local_num_threads=threads)


@pytest.fixture
def nest():
    nest = snest.import_nest()
    fresh_kernel(nest)
    return nest


def to_steps(times) -> np.ndarray:
    return np.rint(np.asarray(times, dtype=float) / H).astype(np.int64)


def spike_probability(u: float, escape: str, tau_ref: float) -> float:
    """Per-step spike probability outside refractoriness, as documented for the model."""
    n_ref = tau_ref / H
    if escape == "exp":
        return -math.expm1(-math.exp(u) / n_ref)  # hazard exp(u) / tau_ref over one step
    return 1.0 / (1.0 + math.exp(-(u - math.log(n_ref))))


def isi_moments(p: float, tau_ref: float) -> tuple[float, float]:
    """Mean (ms) and variance (ms^2) of the inter-spike interval of an isolated neuron.

    A spike in step 0 makes steps 1 .. n_ref - 1 refractory; from step n_ref on the neuron fires
    in each step with probability p.  The ISI is therefore (n_ref - 1 + G) steps with G geometric
    on {1, 2, ...}: mean 1 / p, variance (1 - p) / p^2.
    """
    n_ref = round(tau_ref / H)
    return (n_ref - 1 + 1.0 / p) * H, (1.0 - p) / p**2 * H**2


def spikes_by_sender(recorder, nodes) -> list[np.ndarray]:
    events = recorder.events
    senders, times = np.asarray(events["senders"]), np.asarray(events["times"])
    return [np.sort(times[senders == node_id]) for node_id in nodes.tolist()]


def recorded(multimeter, node, name: str) -> tuple[np.ndarray, np.ndarray]:
    events = multimeter.events
    mine = np.asarray(events["senders"]) == node.global_id
    times = np.asarray(events["times"])[mine]
    order = np.argsort(times, kind="stable")
    return to_steps(times[order]), np.asarray(events[name])[mine][order]


class TestIsolatedRate:
    @pytest.mark.parametrize("escape", ["exp", "logistic"])
    def test_rate_matches_renewal_theory(self, nest, escape: str) -> None:
        tau_ref, n_per_bias, duration = 10.0, 20, 20_000.0
        # For small b both escape functions are close to exp(b) / n_ref; at b = 4 they differ
        # (per-step probability 0.42 for exp, 0.35 for logistic).
        biases = (-1.0, 0.0, 1.5, 4.0)
        groups = [
            nest.Create(
                "sampling_neuron", n_per_bias, params={"b": b, "tau_ref": tau_ref, "escape": escape}
            )
            for b in biases
        ]
        recorder = nest.Create("spike_recorder")
        for group in groups:
            nest.Connect(group, recorder)
        nest.Simulate(duration)

        for b, group in zip(biases, groups, strict=True):
            assert set(group.get("escape")) == {escape}
            trains = spikes_by_sender(recorder, group)
            mean, var = isi_moments(spike_probability(b, escape, tau_ref), tau_ref)
            if escape == "exp":
                # The grid version of the hazard exp(b) / tau_ref is within a step of the
                # continuous-time mean ISI tau_ref + tau_ref * exp(-b).
                assert abs(mean - tau_ref * (1.0 + math.exp(-b))) < H

            # ISIs of a renewal process are independent: the standard error of their mean is exact.
            isis = np.concatenate([np.diff(t) for t in trains])
            assert isis.min() >= tau_ref - 1e-9
            # The first step after refractoriness fires with probability p (binomial count).
            p = spike_probability(b, escape, tau_ref)
            at_tau_ref = np.mean(to_steps(isis) == round(tau_ref / H))
            se_p = math.sqrt(p * (1.0 - p) / isis.size)
            assert abs(at_tau_ref - p) < 4.0 * se_p, (b, at_tau_ref, p, se_p)
            se_mean = math.sqrt(var / isis.size)
            assert abs(isis.mean() - mean) < 4.0 * se_mean, (b, isis.mean(), mean, se_mean)

            # Spike count over time T: variance T * CV^2 / mean = T * var / mean^3 per neuron.
            n_spikes = sum(t.size for t in trains)
            rate = n_spikes / (n_per_bias * duration)
            se_rate = math.sqrt(var / mean**3 / (n_per_bias * duration))
            assert abs(rate - 1.0 / mean) < 4.0 * se_rate, (b, rate, 1.0 / mean, se_rate)


class TestRectangularPsp:
    def test_psp_height_and_duration_on_both_ports(self, nest) -> None:
        tau_ref, delay, duration = 2.0, 1.0, 60.0
        # receptor None: plain Connect (basal); tau_syn 0 means tau_syn = tau_ref.
        cases = [
            {"receptor": None, "params": {}, "spikes": [5.0], "weight": 0.7, "tau_syn": tau_ref},
            {
                "receptor": 1,
                "params": {"tau_syn": 3.5},
                "spikes": [5.0],
                "weight": -0.4,
                "tau_syn": 3.5,
            },
            {
                "receptor": 2,
                "params": {"lambda_apical": 0.5},
                "spikes": [5.0],
                "weight": 0.8,
                "tau_syn": tau_ref,
            },
            # Longer than the ring buffer reaches ahead (min_delay + max_delay), and overlapping.
            {
                "receptor": 1,
                "params": {"tau_syn": 25.0},
                "spikes": [5.0, 12.0],
                "weight": 0.3,
                "tau_syn": 25.0,
            },
        ]
        multimeter = nest.Create(
            "multimeter", params={"record_from": ["u", "psp_basal", "psp_apical"], "interval": H}
        )
        neurons = []
        for case in cases:
            neuron = nest.Create(
                "sampling_neuron", params={"b": SILENT_B, "tau_ref": tau_ref, **case["params"]}
            )
            source = nest.Create("spike_generator", params={"spike_times": case["spikes"]})
            syn_spec = {"weight": case["weight"], "delay": delay}
            if case["receptor"] is not None:
                syn_spec["receptor_type"] = case["receptor"]
            nest.Connect(source, neuron, syn_spec=syn_spec)
            nest.Connect(multimeter, neuron)
            neurons.append(neuron)
        nest.Simulate(duration)

        for case, neuron in zip(cases, neurons, strict=True):
            steps, u = recorded(multimeter, neuron, "u")
            # Samples of the last min_delay stay in the neuron until the next Simulate.
            np.testing.assert_array_equal(steps, np.arange(1, steps.size + 1))
            assert steps[-1] >= round((duration - delay) / H)
            n_syn = round(case["tau_syn"] / H)
            psp = np.zeros(steps.size)
            for t_spike in case["spikes"]:
                arrival = round((t_spike + delay) / H)
                psp[(steps >= arrival) & (steps < arrival + n_syn)] += case["weight"]
            apical = case["receptor"] == 2
            gain = case["params"].get("lambda_apical", 1.0) if apical else 1.0
            np.testing.assert_allclose(u, SILENT_B + gain * psp, rtol=0.0, atol=1e-12)
            # Exactly b before and after the PSPs, not b plus rounding residue.
            assert np.all(u[psp == 0.0] == SILENT_B)
            _, basal = recorded(multimeter, neuron, "psp_basal")
            _, apical_psp = recorded(multimeter, neuron, "psp_apical")
            np.testing.assert_allclose(apical_psp if apical else basal, psp, rtol=0.0, atol=1e-12)
            assert np.all((basal if apical else apical_psp) == 0.0)
            assert neuron.u == SILENT_B

    def test_apical_gain_changes_at_run_time(self, nest) -> None:
        w, tau_syn = 0.8, 4.0
        neuron = nest.Create(
            "sampling_neuron",
            params={"b": SILENT_B, "tau_ref": 2.0, "tau_syn": tau_syn, "lambda_apical": 0.5},
        )
        source = nest.Create("spike_generator", params={"spike_times": [5.0]})
        nest.Connect(source, neuron, syn_spec={"weight": w, "delay": 1.0, "receptor_type": 2})
        multimeter = nest.Create("multimeter", params={"record_from": ["u"], "interval": H})
        nest.Connect(multimeter, neuron)

        nest.Simulate(7.0)  # the PSP runs on [6, 10)
        neuron.set(lambda_apical=2.0)
        assert neuron.u == pytest.approx(SILENT_B + 2.0 * w, abs=1e-12)
        nest.Simulate(8.0)

        steps, u = recorded(multimeter, neuron, "u")
        expected = np.full(steps.size, SILENT_B)
        expected[(steps >= 60) & (steps <= 70)] += 0.5 * w
        expected[(steps > 70) & (steps < 100)] += 2.0 * w
        np.testing.assert_allclose(u, expected, rtol=0.0, atol=1e-12)

    def test_receptor_ports(self, nest) -> None:
        assert nest.GetDefaults("sampling_neuron", "receptor_types") == {"basal": 1, "apical": 2}
        neuron = nest.Create("sampling_neuron")
        source = nest.Create("spike_generator")
        with pytest.raises(nest.NESTErrors.UnknownReceptorType):
            nest.Connect(source, neuron, syn_spec={"receptor_type": 3})
        for receptor in (0, 1, 2):
            nest.Connect(source, neuron, syn_spec={"receptor_type": receptor})


class TestRefractoriness:
    @pytest.mark.parametrize("escape", ["exp", "logistic"])
    def test_z_is_one_for_exactly_tau_ref_after_each_spike(self, nest, escape: str) -> None:
        tau_ref, duration = 3.0, 2000.0
        n_ref = round(tau_ref / H)
        neurons = nest.Create(
            "sampling_neuron", 3, params={"b": 2.0, "tau_ref": tau_ref, "escape": escape}
        )
        recorder = nest.Create("spike_recorder")
        multimeter = nest.Create("multimeter", params={"record_from": ["z"], "interval": H})
        nest.Connect(neurons, recorder)
        nest.Connect(multimeter, neurons)
        nest.Simulate(duration)

        for neuron, train in zip(neurons, spikes_by_sender(recorder, neurons), strict=True):
            spikes = to_steps(train)
            assert spikes.size > 100
            isis = np.diff(spikes)
            # Never shorter than tau_ref, and often exactly tau_ref at this rate.
            assert isis.min() == n_ref
            steps, z = recorded(multimeter, neuron, "z")
            expected = np.zeros(steps.size)
            for s in spikes:
                expected[(steps >= s) & (steps < s + n_ref)] = 1.0
            np.testing.assert_array_equal(z, expected)
            remaining = max(0, spikes[-1] + n_ref - round(duration / H)) * H
            assert neuron.t_ref_remaining == pytest.approx(remaining, abs=1e-9)
            assert neuron.z == (1 if remaining > 0 else 0)

    @pytest.mark.parametrize("escape", ["exp", "logistic"])
    def test_certain_firing_is_periodic(self, nest, escape: str) -> None:
        # With b = 50 the spike probability is 1.0 in double precision: the neuron fires as
        # soon as it is allowed to.
        tau_ref = 2.5
        params = {"b": 50.0, "tau_ref": tau_ref, "escape": escape}
        free = nest.Create("sampling_neuron", params=params)
        delayed = nest.Create("sampling_neuron", params={**params, "t_ref_remaining": 4.0})
        refractory = nest.Create("sampling_neuron", params={**params, "z": 1})
        assert refractory.t_ref_remaining == pytest.approx(tau_ref)
        recorder = nest.Create("spike_recorder")
        nodes = free + delayed + refractory
        nest.Connect(nodes, recorder)
        nest.Simulate(20.0)
        trains = [to_steps(t) for t in spikes_by_sender(recorder, nodes)]
        for train, first in zip(trains, (1, 40, 25), strict=True):
            expected = np.arange(first, 201, 25)
            np.testing.assert_array_equal(train, expected)


class TestReproducibility:
    @staticmethod
    def _run(nest, seed: int, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
        fresh_kernel(nest, seed=seed, threads=threads)
        neurons = nest.Create("sampling_neuron", 8, params={"b": -0.5, "tau_ref": 5.0})
        nest.Connect(neurons, neurons, syn_spec={"weight": 0.4, "delay": H})
        recorder = nest.Create("spike_recorder")
        nest.Connect(neurons, recorder)
        nest.Simulate(1000.0)
        events = recorder.events
        order = np.lexsort((events["senders"], events["times"]))
        return np.asarray(events["senders"])[order], np.asarray(events["times"])[order]

    @pytest.mark.parametrize("threads", [1, 2])
    def test_same_seed_gives_identical_spikes(self, nest, threads: int) -> None:
        first = self._run(nest, 42, threads)
        second = self._run(nest, 42, threads)
        other = self._run(nest, 43, threads)
        assert first[0].size > 100
        np.testing.assert_array_equal(first[0], second[0])
        np.testing.assert_array_equal(first[1], second[1])
        assert first[0].size != other[0].size or not np.array_equal(first[1], other[1])


class TestQuietSteps:
    """Skipping quiet steps (``skip_quiet_steps``, the default) must not change anything.

    Each scenario runs twice with the same seed, once with every step in full; spikes, the
    recorded ``u`` and ``z`` of every step and the state read between runs must be identical.
    The scenarios cover what decides whether a step is quiet: arrivals on both ports with
    delays of one and several steps (also longer than ``min_delay``), PSPs longer and shorter
    than the dead time, weights that cancel within a step, runs that end inside a slice,
    ``b`` and ``z`` set between runs, and both escape functions.
    """

    @staticmethod
    def _run(nest, skip: bool, escape: str, min_delay: float, durations: list[float]) -> dict:
        fresh_kernel(nest, seed=7)
        nest.set(min_delay=min_delay, max_delay=2.0)
        rng = np.random.default_rng(3)
        params = {"tau_ref": 2.0, "escape": escape, "skip_quiet_steps": skip}
        cells = nest.Create("sampling_neuron", 12, params={**params, "b": -0.3})
        nest.SetStatus(cells[6:], {"tau_syn": 3.5})  # PSPs outlast the dead time
        nest.SetStatus(cells[9:], {"tau_syn": 0.7})  # ... and end before it
        delays = rng.choice([0.1, 0.3, 1.2], size=(12, 12))
        weights = rng.normal(0.0, 0.8, size=(12, 12))
        weights[0, 1] = 0.5  # cell 0 drives cells 1 and 2 with cancelling weights
        weights[0, 2], weights[1, 2], delays[0, 2], delays[1, 2] = 0.5, -0.5, 0.1, 0.1
        for i in range(12):
            for j in range(12):
                if i != j:
                    nest.Connect(
                        cells[i],
                        cells[j],
                        syn_spec={
                            "weight": float(weights[i, j]),
                            "delay": max(float(delays[i, j]), min_delay),
                            "receptor_type": 1 + int((i + j) % 3 == 0),
                        },
                    )
        recorder = nest.Create("spike_recorder")
        nest.Connect(cells, recorder)
        meter = nest.Create("multimeter", params={"record_from": ["u", "z"], "interval": H})
        nest.Connect(meter, cells[:4])
        between = []
        for k, duration in enumerate(durations):
            nest.Simulate(duration)
            between.append((nest.GetStatus(cells, "z"), nest.GetStatus(cells, "t_ref_remaining")))
            if k == 0:
                nest.SetStatus(cells[3:5], {"b": 0.8})
            if k == 1:
                nest.SetStatus(cells[5], {"z": 1})
                nest.SetStatus(cells[6], {"z": 0})
        events, meter_events = recorder.events, meter.events
        return {
            "senders": np.asarray(events["senders"]),
            "times": np.asarray(events["times"]),
            "u": np.asarray(meter_events["u"]),
            "z": np.asarray(meter_events["z"]),
            "meter_times": np.asarray(meter_events["times"]),
            "between": between,
        }

    @pytest.mark.parametrize("escape", ["exp", "logistic"])
    @pytest.mark.parametrize("min_delay", [0.1, 0.3])
    def test_identical_with_every_step_in_full(self, nest, escape: str, min_delay: float) -> None:
        durations = [50.0, 37.3, 0.1, 80.0]  # with min_delay 0.3, runs end inside slices
        quiet = self._run(nest, True, escape, min_delay, durations)
        full = self._run(nest, False, escape, min_delay, durations)
        assert quiet["senders"].size > 500  # enough activity to exercise every path
        for key in ("senders", "times", "u", "z", "meter_times"):
            np.testing.assert_array_equal(quiet[key], full[key], err_msg=key)
        for (zq, rq), (zf, rf) in zip(quiet["between"], full["between"], strict=True):
            assert list(zq) == list(zf)
            assert list(rq) == list(rf)

    def test_skipping_is_the_default(self, nest) -> None:
        assert nest.GetDefaults("sampling_neuron")["skip_quiet_steps"] is True


class TestStepwiseU:
    """The first spike under a piecewise-constant ``u`` has the per-step Bernoulli law.

    4000 unconnected neurons receive the same input (rectangular PSPs that overlap, end and
    inhibit), so ``u`` changes several times while they may fire, and the neuron draws its
    geometric waiting time again at every change.  Expected: ``P(first spike in step k) =
    p_k prod_{s<k} (1 - p_s)`` from the recorded ``u``; chi-square over bins pooled to >= 5
    expected counts, false-alarm rate 1e-4.
    """

    N, STEPS = 4000, 40

    @pytest.mark.parametrize("escape", ["exp", "logistic"])
    def test_first_spike_step_distribution(self, nest, escape: str) -> None:
        from scipy.stats import chi2

        fresh_kernel(nest, seed=11)
        tau_ref = 1.0  # 10 steps
        cells = nest.Create(
            "sampling_neuron",
            self.N,
            params={"b": -2.0, "tau_ref": tau_ref, "tau_syn": 0.4, "escape": escape},
        )
        source = nest.Create("spike_generator", params={"spike_times": [0.4, 0.7, 1.4, 2.2]})
        for weight, receptor in ((1.0, 1), (0.8, 2)):
            nest.Connect(
                source, cells, syn_spec={"weight": weight, "delay": H, "receptor_type": receptor}
            )
        inhibit = nest.Create("spike_generator", params={"spike_times": [1.0, 2.5]})
        nest.Connect(inhibit, cells, syn_spec={"weight": -1.5, "delay": H})
        recorder = nest.Create("spike_recorder")
        nest.Connect(cells, recorder)
        meter = nest.Create("multimeter", params={"record_from": ["u"], "interval": H})
        nest.Connect(meter, cells[0])
        nest.Simulate(self.STEPS * H)

        steps, u = recorded(meter, cells[0], "u")
        first = {}
        for sender, step in zip(
            recorder.events["senders"], to_steps(recorder.events["times"]), strict=True
        ):
            first[sender] = min(step, first.get(sender, step))
        # u of cell 0 is everyone's u up to its own first spike (no recurrent input).
        u_of_step = dict(zip(steps.tolist(), u.tolist(), strict=True))
        assert len(set(np.round(u, 9))) >= 5  # u changes several times
        p = np.array(
            [spike_probability(u_of_step[k], escape, tau_ref) for k in range(1, self.STEPS)]
        )
        survive = np.concatenate(([1.0], np.cumprod(1.0 - p)))
        expected = self.N * np.append(survive[:-1] * p, survive[-1])
        observed = np.zeros(self.STEPS)
        for step in first.values():
            observed[step - 1] += 1
        observed[-1] = self.N - len(first)  # no spike within the run
        statistic, dof = pooled_chi_square(observed, expected)
        assert dof >= 14, (observed, expected)
        assert statistic < chi2.ppf(1 - 1e-4, dof), (statistic, observed, expected)


class TestAlphaPsp:
    def test_alpha_kernel_tails_and_apical_gain(self, nest) -> None:
        """u against the alpha kernel summed over every arrival (tails included), off-grid
        tau_syn, tau_syn = 0 meaning tau_ref, both ports; the kernel's area is tau_ref."""
        tau_ref, delay, spikes = 2.0, 0.3, [1.0, 1.4, 3.0]
        cases = [({"tau_syn": 0.37}, 1, 0.9, 0.37), ({"lambda_apical": 0.5}, 2, -0.6, tau_ref)]
        multimeter = nest.Create("multimeter", params={"record_from": ["u"], "interval": H})
        source = nest.Create("spike_generator", params={"spike_times": spikes})
        neurons = []
        for params, receptor, weight, _ in cases:
            neuron = nest.Create(
                "sampling_neuron",
                params={"b": SILENT_B, "tau_ref": tau_ref, "psp": "alpha", **params},
            )
            syn_spec = {"weight": weight, "delay": delay, "receptor_type": receptor}
            nest.Connect(source, neuron, syn_spec=syn_spec)
            nest.Connect(multimeter, neuron)
            neurons.append(neuron)
        nest.Simulate(40.0)
        for (params, _, weight, tau), neuron in zip(cases, neurons, strict=True):
            steps, u = recorded(multimeter, neuron, "u")
            gain = params.get("lambda_apical", 1.0)
            expected = np.full(steps.size, SILENT_B)
            for t in spikes:
                x = np.maximum(steps - round((t + delay) / H), 0) * H
                expected += gain * weight * tau_ref / tau**2 * x * np.exp(-x / tau)
            np.testing.assert_allclose(u, expected, rtol=0.0, atol=1e-12)
            # Area of the three PSPs: 3 * gain * w * tau_ref (up to the grid's Riemann sum).
            area = np.sum(u - SILENT_B) * H
            assert area == pytest.approx(3 * gain * weight * tau_ref, rel=0.02)

    def test_changing_psp_discards_running_psps(self, nest) -> None:
        neuron = nest.Create("sampling_neuron", params={"b": SILENT_B, "tau_ref": 5.0})
        source = nest.Create("spike_generator", params={"spike_times": [1.0]})
        nest.Connect(source, neuron, syn_spec={"weight": 1.0, "delay": 0.1})
        nest.Simulate(3.0)
        assert neuron.u == SILENT_B + 1.0
        neuron.set(psp="alpha", tau_syn=0.5)
        assert neuron.u == SILENT_B
        nest.Simulate(3.0)
        assert neuron.u == SILENT_B


class TestParameters:
    def test_defaults(self, nest) -> None:
        d = nest.GetDefaults("sampling_neuron")
        assert d["b"] == 0.0
        assert d["tau_ref"] == 10.0
        assert d["tau_syn"] == 0.0  # tied to tau_ref
        assert d["lambda_apical"] == 1.0
        assert d["escape"] == "exp"
        assert d["psp"] == "rect"
        assert d["z"] == 0
        assert d["t_ref_remaining"] == 0.0
        assert d["avg_window"] == 0.0 and d["lambda_nudge"] == 0.0  # dendritic prediction off
        assert d["u_target"] == 0.0 and d["learning_gate"] == 1.0
        assert set(d["recordables"]) == {"u", "z", "psp_basal", "psp_apical", "u_bar", "v_bar"}

    @pytest.mark.parametrize(
        ("params", "name"),
        [
            ({"tau_ref": 0.0}, "tau_ref"),
            ({"tau_ref": -1.0}, "tau_ref"),
            ({"tau_ref": 1.05}, "tau_ref"),
            ({"tau_ref": math.inf}, "tau_ref"),
            ({"escape": "sigmoid"}, "escape"),
            ({"psp": "exp"}, "psp"),
            ({"psp": "alpha", "tau_syn": math.inf}, "tau_syn"),
            ({"psp": "alpha", "tau_syn": -0.3}, "tau_syn"),
            ({"b": math.inf}, "b"),
            ({"b": math.nan}, "b"),
            ({"lambda_apical": math.nan}, "lambda_apical"),
            ({"tau_syn": -1.0}, "tau_syn"),
            ({"tau_syn": 0.25}, "tau_syn"),
            ({"z": 0.5}, "z"),
            ({"t_ref_remaining": 0.05}, "t_ref_remaining"),
            ({"z": 0, "t_ref_remaining": 1.0}, "t_ref_remaining"),
        ],
    )
    def test_invalid_values_are_refused(self, nest, params: dict, name: str) -> None:
        with pytest.raises(nest.NESTErrors.BadProperty, match=rf"\b{name}\b"):
            nest.Create("sampling_neuron", params=params)
        with pytest.raises(nest.NESTErrors.BadProperty, match=rf"\b{name}\b"):
            nest.SetDefaults("sampling_neuron", params)
        neuron = nest.Create("sampling_neuron", params={"b": 0.3})
        before = neuron.get(["b", "tau_ref", "tau_syn", "lambda_apical", "escape", "z"])
        with pytest.raises(nest.NESTErrors.BadProperty, match=rf"\b{name}\b"):
            neuron.set(params)
        assert neuron.get(["b", "tau_ref", "tau_syn", "lambda_apical", "escape", "z"]) == before

    def test_u_is_read_only(self, nest) -> None:
        neuron = nest.Create("sampling_neuron", params={"b": -0.7})
        assert neuron.u == -0.7
        with pytest.raises(nest.NESTErrors.UnaccessedDictionaryEntry):
            neuron.set(u=1.0)

    def test_tau_syn_follows_tau_ref_unless_set(self, nest) -> None:
        tied = nest.Create("sampling_neuron", params={"b": SILENT_B, "tau_ref": 1.0})
        tied.set(tau_ref=3.0)  # tau_syn stays tied: PSPs last 3 ms
        own = nest.Create("sampling_neuron", params={"b": SILENT_B, "tau_syn": 1.5})
        own.set(tau_ref=3.0)
        source = nest.Create("spike_generator", params={"spike_times": [1.0]})
        nest.Connect(source, tied + own, syn_spec={"weight": 1.0, "delay": 1.0})
        multimeter = nest.Create("multimeter", params={"record_from": ["psp_basal"], "interval": H})
        nest.Connect(multimeter, tied + own)
        nest.Simulate(10.0)
        for neuron, duration in ((tied, 3.0), (own, 1.5)):
            _, psp = recorded(multimeter, neuron, "psp_basal")
            assert np.count_nonzero(psp) == round(duration / H)


class TestPlasticity:
    @pytest.mark.parametrize("threads", [1, 2])
    def test_sal_synapse_on_sampling_neurons_matches_reference(self, nest, threads: int) -> None:
        fresh_kernel(nest, seed=7, threads=threads)
        rule = PairRule.sal(tau=10.0, eta=0.05)
        w0, delay, duration = 0.5, 1.0, 3000.0
        pre = nest.Create("sampling_neuron", params={"b": 0.0, "tau_ref": 10.0})
        post = nest.Create("sampling_neuron", params={"b": -0.5, "tau_ref": 10.0})
        weights = nest.Create("weight_recorder")
        nest.Connect(
            pre, post, syn_spec=snest.sal_syn_spec(rule, w0, delay, weight_recorder=weights)
        )
        recorder = nest.Create("spike_recorder")
        nest.Connect(pre + post, recorder)
        nest.Simulate(duration)

        t_pre, t_post = spikes_by_sender(recorder, pre + post)
        assert t_pre.size > 50 and t_post.size > 50
        events = weights.events
        w_nest = np.asarray(events["weights"])
        # Every transmitted presynaptic spike is recorded, in order; the last few may still be
        # in flight when the simulation ends.
        n = w_nest.size
        assert t_pre.size - 5 <= n <= t_pre.size
        np.testing.assert_allclose(np.asarray(events["times"]), t_pre[:n], rtol=0.0, atol=1e-9)

        reference = weight_trajectory(t_pre, t_post, w0, rule, delay=delay)
        np.testing.assert_allclose(w_nest, reference.at_pre[:n], rtol=0.0, atol=1e-10)
        assert abs(w_nest[-1] - w0) > 1e-3  # the weight did change
        conn = nest.GetConnections(pre, post)
        assert conn.get("weight") == pytest.approx(w_nest[-1], abs=1e-12)
