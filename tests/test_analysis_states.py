"""salpynn.analysis.states: binary states, distributions and D_KL against hand computations."""

from __future__ import annotations

import doctest
import math

import neo
import numpy as np
import pytest
import quantities as pq

from salpynn.analysis import states
from salpynn.analysis.states import (
    all_states,
    binary_states,
    boltzmann_distribution,
    coactivation,
    distribution_moments,
    kl_divergence,
    marginals,
    read_out_times,
    sampled_distribution,
    state_indices,
)


class TestDocstringExamples:
    def test_examples_run(self):
        result = doctest.testmod(states)
        assert result.attempted > 0
        assert result.failed == 0


class TestReadOutTimes:
    def test_every_half_tau_ref(self):
        np.testing.assert_allclose(read_out_times(5.0, 30.0, 10.0), [5, 10, 15, 20, 25])

    def test_grid_has_no_float_drift(self):
        # 100 s at tau_ref / 2 = 0.1 ms: exactly 10**6 read-outs, the last at 99999.9 ms.
        times = read_out_times(0.0, 100_000.0, 0.2)
        assert times.size == 10**6
        assert times[-1] == pytest.approx(99_999.9, abs=1e-9)

    def test_quantities(self):
        np.testing.assert_allclose(
            read_out_times(0 * pq.s, 0.02 * pq.s, 10 * pq.ms), [0, 5, 10, 15]
        )

    @pytest.mark.parametrize(("start", "stop", "tau"), [(0, 10, 0), (10, 10, 1), (0, 10, -1)])
    def test_invalid(self, start, stop, tau):
        with pytest.raises(ValueError):
            read_out_times(start, stop, tau)


class TestBinaryStates:
    def test_half_open_refractory_interval(self):
        # tau_ref = 10 ms, read at 0, 5, ..., 35 ms.  A spike at 5 ms is active at 5 and 10
        # (interval [5, 15)), not at 15.
        z = binary_states([[5.0], [0.0, 20.0]], tau_ref=10.0, t_stop=40.0)
        assert z[:, 0].tolist() == [0, 1, 1, 0, 0, 0, 0, 0]
        assert z[:, 1].tolist() == [1, 1, 0, 0, 1, 1, 0, 0]

    def test_grid_aligned_spikes_are_not_flipped_by_rounding(self):
        # 0.1 * 3 != 0.3 in binary floating point; NEST spike times are on a 0.1 ms grid.
        spike = 0.1 * 3
        z = binary_states([[spike]], tau_ref=0.3, t_start=0.0, t_stop=0.9)
        np.testing.assert_allclose(read_out_times(0.0, 0.9, 0.3), [0, 0.15, 0.3, 0.45, 0.6, 0.75])
        assert z[:, 0].tolist() == [0, 0, 1, 1, 0, 0]

    def test_neo_trains_in_seconds(self):
        train = neo.SpikeTrain([0.005] * pq.s, t_stop=0.02 * pq.s)
        z = binary_states([train], tau_ref=10.0 * pq.ms)
        assert z[:, 0].tolist() == [0, 1, 1, 0]

    def test_silent_neuron(self):
        assert binary_states([[], [1.0]], 10.0, t_stop=20.0)[:, 0].sum() == 0

    def test_regular_train_active_fraction(self):
        # A spike every 40 ms with tau_ref = 10 ms: active a quarter of the time.
        z = binary_states([np.arange(1.0, 4000.0, 40.0)], tau_ref=10.0, t_stop=4000.0)
        assert z.mean() == pytest.approx(0.25, abs=1e-12)

    def test_plain_arrays_need_t_stop(self):
        with pytest.raises(ValueError, match="t_stop"):
            binary_states([[1.0]], tau_ref=10.0)


class TestStateIndices:
    def test_neuron_zero_is_least_significant(self):
        assert state_indices([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1]]).tolist() == [
            0,
            1,
            2,
            4,
            5,
        ]

    def test_rejects_non_binary(self):
        with pytest.raises(ValueError, match="0 and 1"):
            state_indices([[2, 0]])


class TestAllStates:
    def test_rows_have_their_index(self):
        z = all_states(5)
        assert z.shape == (32, 5)
        np.testing.assert_array_equal(state_indices(z), np.arange(32))

    def test_too_many(self):
        with pytest.raises(ValueError):
            all_states(21)


class TestSampledDistribution:
    def test_hand_counts(self):
        z = [[0, 0], [1, 0], [1, 0], [0, 1], [1, 1], [1, 1], [1, 1], [1, 1]]
        np.testing.assert_allclose(sampled_distribution(z), [1 / 8, 2 / 8, 1 / 8, 4 / 8])

    def test_twenty_neurons(self):
        z = np.random.default_rng(3).integers(0, 2, size=(1000, 20))
        p = sampled_distribution(z)
        assert p.shape == (2**20,)
        assert p.sum() == pytest.approx(1.0)

    def test_too_many_neurons(self):
        with pytest.raises(ValueError, match="N <= 20"):
            sampled_distribution(np.zeros((3, 21), dtype=np.uint8))

    def test_no_samples(self):
        with pytest.raises(ValueError, match="no samples"):
            sampled_distribution(np.zeros((0, 2), dtype=np.uint8))


class TestMarginals:
    def test_any_size(self):
        z = np.zeros((4, 50), dtype=np.uint8)
        z[:2, 7] = 1
        m = marginals(z)
        assert m.shape == (50,)
        assert m[7] == 0.5
        assert m.sum() == 0.5


class TestCoactivation:
    def test_hand_case(self):
        z = [[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 1]]
        expected = np.array([[3, 2, 1], [2, 2, 1], [1, 1, 2]]) / 4
        np.testing.assert_allclose(coactivation(z), expected)

    def test_matches_distribution_moments(self):
        z = np.random.default_rng(1).integers(0, 2, size=(500, 4))
        m, c = distribution_moments(sampled_distribution(z))
        np.testing.assert_allclose(m, marginals(z), atol=1e-12)
        np.testing.assert_allclose(c, coactivation(z), atol=1e-12)


class TestDistributionMoments:
    def test_rejects_non_power_of_two(self):
        with pytest.raises(ValueError, match="2\\*\\*N"):
            distribution_moments([0.5, 0.25, 0.25])


class TestBoltzmannDistribution:
    def test_two_neuron_hand_case(self):
        w, b0, b1 = 0.7, -0.5, 0.3
        p = boltzmann_distribution([[0.0, w], [w, 0.0]], [b0, b1])
        unnormalised = np.array([1.0, math.exp(b0), math.exp(b1), math.exp(w + b0 + b1)])
        np.testing.assert_allclose(p, unnormalised / unnormalised.sum(), rtol=1e-13)

    def test_three_neurons_against_brute_force(self):
        rng = np.random.default_rng(7)
        a = rng.uniform(-1, 1, (3, 3))
        w = np.triu(a, 1) + np.triu(a, 1).T
        b = rng.uniform(-1, 1, 3)
        energies = [0.5 * z @ w @ z + b @ z for z in all_states(3).astype(float)]
        expected = np.exp(energies) / np.sum(np.exp(energies))
        np.testing.assert_allclose(boltzmann_distribution(w, b), expected, rtol=1e-12)

    def test_twenty_neurons_normalised(self):
        rng = np.random.default_rng(0)
        a = rng.uniform(-1, 1, (20, 20))
        w = np.triu(a, 1) + np.triu(a, 1).T
        p = boltzmann_distribution(w, rng.uniform(-1, 1, 20))
        assert p.shape == (2**20,)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.all(p > 0)

    def test_large_energies_do_not_overflow(self):
        p = boltzmann_distribution([[0.0, 400.0], [400.0, 0.0]], [300.0, 300.0])
        assert p[3] == pytest.approx(1.0)

    @pytest.mark.parametrize(
        ("w", "match"),
        [([[0.0, 1.0], [0.5, 0.0]], "symmetric"), ([[1.0, 0.0], [0.0, 0.0]], "diagonal")],
    )
    def test_rejects_invalid_weights(self, w, match):
        with pytest.raises(ValueError, match=match):
            boltzmann_distribution(w, [0.0, 0.0])


class TestKlDivergence:
    def test_equal_distributions(self):
        p = np.array([0.1, 0.2, 0.3, 0.4])
        assert kl_divergence(p, p, epsilon=0.0) == 0.0
        assert kl_divergence(p, p) == pytest.approx(0.0, abs=1e-9)

    def test_known_pair(self):
        expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
        assert kl_divergence([0.5, 0.5], [0.25, 0.75], epsilon=0.0) == pytest.approx(
            expected, rel=1e-14
        )

    def test_unvisited_state_gets_pseudo_probability(self):
        eps = 1e-3
        q = np.array([eps, 1.0 + eps]) / (1.0 + 2 * eps)
        expected = 0.5 * math.log(0.5 / q[0]) + 0.5 * math.log(0.5 / q[1])
        assert kl_divergence([0.5, 0.5], [0.0, 1.0], epsilon=eps) == pytest.approx(expected)
        assert kl_divergence([0.5, 0.5], [0.0, 1.0], epsilon=0.0) == math.inf

    def test_target_zeros_contribute_nothing(self):
        assert kl_divergence([1.0, 0.0], [0.5, 0.5], epsilon=0.0) == pytest.approx(math.log(2))

    @pytest.mark.parametrize(
        ("p", "q", "eps"), [([1, 0], [1, 0, 0], 0.0), ([1, -1], [1, 1], 0.0), ([1], [1], -1.0)]
    )
    def test_invalid(self, p, q, eps):
        with pytest.raises(ValueError):
            kl_divergence(p, q, epsilon=eps)
