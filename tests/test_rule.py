"""The NumPy reference of the SAL rule against hand computations and theorems."""

from __future__ import annotations

import math

import numpy as np
import pytest

from salpynn.rule import PairRule, expected_drift, weight_trajectory, window_kernel


class TestWindowKernel:
    def test_exponential_values(self):
        rule = PairRule(a_causal=-2.0, a_anticausal=0.5, tau_causal=4.0, tau_anticausal=8.0)
        got = window_kernel([-8.0, -1e-9, 0.0, 4.0], rule)
        expected = [0.5 * math.exp(-1.0), 0.0, 0.0, -2.0 * math.exp(-1.0)]
        np.testing.assert_allclose(got, expected, rtol=1e-15)

    def test_triangular_support(self):
        rule = PairRule.hebbian(tau=10.0, window="triangular")
        np.testing.assert_allclose(window_kernel([-12, -5, 5, 10, 12], rule), [0, 0.5, 0.5, 0, 0])

    @pytest.mark.parametrize("window", ["exp", "triangular"])
    def test_sal_is_antisymmetric(self, window):
        dt = np.linspace(-40, 40, 161)
        k = window_kernel(dt, PairRule.sal(tau=7.0, window=window))
        np.testing.assert_allclose(k, -k[::-1], atol=1e-15)


class TestPairRule:
    @pytest.mark.parametrize(
        ("kwargs", "name"),
        [
            ({"tau_causal": 0.0}, "tau_causal"),
            ({"tau_anticausal": -1.0}, "tau_anticausal"),
            ({"window": "gauss"}, "window"),
            ({"pairing": "triplet"}, "pairing"),
            ({"w_min": 1.0, "w_max": 0.0}, "w_min"),
            ({"eta": math.nan}, "eta"),
        ],
    )
    def test_invalid_values_name_the_parameter(self, kwargs, name):
        with pytest.raises(ValueError, match=name):
            PairRule(**kwargs)


class TestWeightTrajectory:
    def test_hand_computed_nearest(self):
        # pre at 11, 31, 51; post (effective, delay 1) at 17, 42:
        # 17: causal with 11 (dt=6); 31: anticausal with 17 (dt=-14);
        # 42: causal with 31 (dt=11); 51: anticausal with 42 (dt=-9).
        traj = weight_trajectory([11, 31, 51], [16, 41], 0.5, PairRule.sal(eta=0.1), delay=1.0)
        total = -math.exp(-0.6) + math.exp(-1.4) - math.exp(-1.1) + math.exp(-0.9)
        assert traj.final == pytest.approx(0.5 + 0.1 * total, rel=1e-14)
        assert traj.at_pre.size == 3

    def test_all_to_all_sums_every_earlier_partner(self):
        rule = PairRule.sal(eta=1.0, pairing="all")
        traj = weight_trajectory([0.0, 2.0], [5.0], 0.0, rule)
        assert traj.final == pytest.approx(-(math.exp(-0.5) + math.exp(-0.3)), rel=1e-14)
        nearest = weight_trajectory([0.0, 2.0], [5.0], 0.0, rule.with_(pairing="nearest"))
        assert nearest.final == pytest.approx(-math.exp(-0.3), rel=1e-14)

    def test_simultaneous_spikes_never_pair(self):
        traj = weight_trajectory([10.0, 20.0], [20.0], 0.0, PairRule.sal(eta=1.0))
        # Post 20 pairs with pre 10 (not with the simultaneous pre 20); pre 20 finds no
        # strictly earlier post.  Pairing the simultaneous spikes would give 0 instead.
        assert traj.final == pytest.approx(-math.exp(-1.0), rel=1e-14)

    def test_clipping_after_each_spike(self):
        rule = PairRule.sal(eta=1.0, w_min=-0.1, w_max=0.2)
        traj = weight_trajectory([0.0, 10.0], [1.0, 11.0], 0.0, rule)
        assert traj.weights.min() >= -0.1 and traj.weights.max() <= 0.2
        assert traj.weights[1] == -0.1  # post at 1 ms: -exp(-0.1) clipped

    def test_eta_zero_freezes(self):
        traj = weight_trajectory([1, 5, 9], [3, 7], 0.7, PairRule.sal(eta=0.0))
        assert np.all(traj.weights == 0.7)

    def test_rejects_initial_weight_outside_bounds(self):
        with pytest.raises(ValueError, match="w0"):
            weight_trajectory([1.0], [2.0], 5.0, PairRule(w_max=1.0))


class TestExpectedDrift:
    def test_symmetric_distribution_gives_zero_for_sal(self):
        lags = np.linspace(-50.0, 50.0, 201)
        p = np.exp(-np.abs(lags) / 13.0)
        # Exact cancellation up to floating-point summation error.
        assert expected_drift(lags, p, PairRule.sal()) == pytest.approx(0.0, abs=1e-12)

    def test_causal_excess_depresses(self):
        lags = np.linspace(-50.0, 50.0, 201)
        p = np.exp(-np.abs(lags - 3.0) / 13.0)  # post tends to follow pre
        assert expected_drift(lags, p, PairRule.sal()) < 0

    def test_matches_monte_carlo_mean(self):
        rng = np.random.default_rng(5)
        samples = rng.normal(2.0, 8.0, 200_000)
        rule = PairRule.sal(tau=6.0)
        mc = window_kernel(samples, rule)
        edges = np.linspace(-60, 60, 2401)
        counts, _ = np.histogram(samples, edges)
        drift = expected_drift(0.5 * (edges[1:] + edges[:-1]), counts, rule)
        # Monte-Carlo standard error of the mean, plus the histogram's bin discretisation.
        assert drift == pytest.approx(mc.mean(), abs=4 * mc.std() / math.sqrt(mc.size) + 1e-3)


class TestReciprocalSumConservation:
    """Theorem: with lags between the spike times themselves (no dendritic delay), the two
    synapses of a reciprocal pair see opposite lags of the same pairs, so an antisymmetric
    window changes them by exact opposites; a dendritic delay d breaks this by O(d / tau)."""

    @pytest.mark.parametrize("window", ["exp", "triangular"])
    @pytest.mark.parametrize("pairing", ["nearest", "all"])
    def test_sum_is_conserved_without_dendritic_delay(self, window, pairing):
        rng = np.random.default_rng(8)
        a = np.sort(rng.choice(np.arange(1, 40000), 400, replace=False)) * 0.1
        b = np.sort(rng.choice(np.arange(1, 40000), 400, replace=False)) * 0.1
        rule = PairRule.sal(tau=5.0, eta=0.01, window=window, pairing=pairing)
        w_ab = weight_trajectory(a, b, 0.3, rule, delay=0.0).final
        w_ba = weight_trajectory(b, a, 0.9, rule, delay=0.0).final
        assert w_ab + w_ba == pytest.approx(1.2, abs=1e-12)
        assert abs(w_ab - 0.3) > 1e-3  # the weights did change
        shifted = weight_trajectory(a, b, 0.3, rule, delay=0.5).final
        shifted += weight_trajectory(b, a, 0.9, rule, delay=0.5).final
        assert abs(shifted - 1.2) > 1e-4
