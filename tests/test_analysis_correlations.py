"""salpynn.analysis.correlations against known answers, brute force and a NEST simulation.

Statistical tolerances follow from the expected spread: a correlation coefficient of two
independent trains binned into ``n`` bins scatters with standard deviation ``1 / sqrt(n)``;
drift estimates are compared with their standard error over independent 10 s chunks.
"""

from __future__ import annotations

import doctest
import math
import os

import neo
import numpy as np
import pytest
import quantities as pq

from salpynn.analysis import correlations
from salpynn.analysis.correlations import (
    asymmetry_correlation,
    bin_spiketrains,
    correlation_matrix,
    covariance_matrix,
    cross_correlogram,
    cross_correlograms,
    drift_asymmetry,
    fold_with_window,
    predicted_drift,
    predicted_drift_matrix,
    reciprocal_pairs,
    spike_time_differences,
    stdd,
)
from salpynn.rule import PairRule, weight_trajectory, window_kernel

DURATION = 100_000.0  # ms


def poisson_train(rng: np.random.Generator, rate_hz: float, duration_ms: float) -> np.ndarray:
    """Homogeneous Poisson spike times in ms (sorted)."""
    count = rng.poisson(rate_hz * duration_ms / 1000.0)
    return np.sort(rng.uniform(0.0, duration_ms, count))


def brute_force_lags(ti: np.ndarray, tj: np.ndarray) -> np.ndarray:
    return (tj[None, :] - ti[:, None]).ravel()


class TestDocstringExamples:
    def test_examples_run(self):
        result = doctest.testmod(correlations)
        assert result.attempted > 0
        assert result.failed == 0


class TestBinSpiketrains:
    def test_counts_and_shape(self):
        binned = bin_spiketrains([[0.5, 1.5, 1.7], [2.2]], bin_size=1.0 * pq.ms, t_stop=3.0)
        assert binned.to_array().tolist() == [[1, 2, 0], [0, 0, 1]]

    def test_invalid_bin_size(self):
        with pytest.raises(ValueError, match="bin_size"):
            bin_spiketrains([[1.0]], bin_size=0.0, t_stop=3.0)


class TestCorrelationMatrix:
    def test_independent_poisson_trains_are_uncorrelated(self):
        rng = np.random.default_rng(2024)
        trains = [poisson_train(rng, 20.0, DURATION) for _ in range(10)]
        bin_size = 5.0
        n_bins = DURATION / bin_size
        sd = 1.0 / math.sqrt(n_bins)  # expected spread of r for independent trains
        r = correlation_matrix(trains, bin_size, t_stop=DURATION)
        off = r[np.triu_indices(10, k=1)]
        np.testing.assert_allclose(np.diag(r), 1.0)
        # 45 pairs: P(any |r| > 4.5 sd) ~ 45 * 7e-6; mean over pairs has sd / sqrt(45).
        assert np.max(np.abs(off)) < 4.5 * sd
        assert abs(off.mean()) < 4.0 * sd / math.sqrt(off.size)
        # The sample sd of 45 values is within ~3 x 11 % of the expected one.
        assert 0.6 * sd < off.std() < 1.4 * sd

    def test_shared_input_gives_known_correlation(self):
        # x = a + c, y = b + c with independent Poisson a, b, c of equal rate: r = 1/2.
        rng = np.random.default_rng(5)
        a, b, c = (poisson_train(rng, 10.0, DURATION) for _ in range(3))
        x, y = np.sort(np.concatenate([a, c])), np.sort(np.concatenate([b, c]))
        n_bins = DURATION / 5.0
        sd = (1 - 0.5**2) / math.sqrt(n_bins)  # large-sample sd of a Pearson r of 0.5
        r = correlation_matrix([x, y], 5.0, t_stop=DURATION)[0, 1]
        assert r == pytest.approx(0.5, abs=5 * sd)

    def test_neo_input_uses_its_span(self):
        # counts per 10 ms bin over [0, 30) ms: (1, 2, 0) and (1, 0, 1)
        trains = [
            neo.SpikeTrain([0.001, 0.012, 0.013] * pq.s, t_stop=0.03 * pq.s),
            neo.SpikeTrain([2.0, 22.0] * pq.ms, t_stop=30 * pq.ms),
        ]
        expected = np.corrcoef([[1, 2, 0], [1, 0, 1]])
        np.testing.assert_allclose(correlation_matrix(trains, 10.0), expected, rtol=1e-12)


class TestCovarianceMatrix:
    def test_matches_numpy_cov_of_counts(self):
        rng = np.random.default_rng(9)
        trains = [poisson_train(rng, 30.0, 2000.0) for _ in range(3)]
        counts = np.array([np.histogram(t, bins=np.arange(0.0, 2000.1, 10.0))[0] for t in trains])
        np.testing.assert_allclose(
            covariance_matrix(trains, 10.0, t_stop=2000.0), np.cov(counts), rtol=1e-12
        )


class TestCrossCorrelogram:
    @pytest.mark.parametrize("shift", [3.0, -4.0, 0.0])
    def test_shifted_copy_peaks_at_the_shift(self, shift):
        rng = np.random.default_rng(11)
        ti = poisson_train(rng, 20.0, 20_000.0)
        ti = ti[(ti > 10.0) & (ti < 19_990.0)]
        counts, lags = cross_correlogram(ti, ti + shift, max_lag=10.0, t_stop=20_000.0)
        assert lags.units == pq.ms
        assert float(lags[np.argmax(counts)]) == shift
        # every spike contributes a pair at the shift or, by bin rounding, one bin next to it
        near = np.abs(lags.magnitude - shift) <= 1.0
        assert counts[near].sum() >= ti.size

    def test_equals_brute_force_on_bin_indices(self):
        rng = np.random.default_rng(3)
        ti, tj = poisson_train(rng, 40.0, 3000.0), poisson_train(rng, 40.0, 3000.0)
        counts, lags = cross_correlogram(ti, tj, bin_size=2.0, max_lag=20.0, t_stop=3000.0)
        diff = brute_force_lags(np.floor(ti / 2.0), np.floor(tj / 2.0))
        expected = [np.count_nonzero(diff == m) for m in range(-10, 11)]
        np.testing.assert_array_equal(counts, expected)
        np.testing.assert_allclose(lags.magnitude, np.arange(-20.0, 21.0, 2.0))


class TestReciprocalPairs:
    def test_only_both_directions(self):
        w = np.array([[0, 1, 0, 2], [3, 0, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0]])
        assert reciprocal_pairs(w) == [(0, 1), (0, 3)]


class TestCrossCorrelograms:
    def test_pairs_from_weights_match_single_histograms(self):
        rng = np.random.default_rng(4)
        trains = [poisson_train(rng, 30.0, 5000.0) for _ in range(3)]
        w = np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 2.0], [0.0, 1.0, 0.0]])
        hists, lags = cross_correlograms(trains, weights=w, max_lag=15.0, t_stop=5000.0)
        assert sorted(hists) == [(0, 1), (1, 2)]
        for (i, j), counts in hists.items():
            single, _ = cross_correlogram(trains[i], trains[j], max_lag=15.0, t_stop=5000.0)
            np.testing.assert_array_equal(counts, single)
        assert lags.size == 31

    @pytest.mark.parametrize("border_correction", [False, True])
    def test_sparse_method_equals_elephant(self, border_correction):
        rng = np.random.default_rng(6)
        trains = [poisson_train(rng, 40.0, 4000.0) for _ in range(4)]
        trains[1] = np.sort(np.concatenate([trains[1], trains[0] + 3.0, [0.2, 0.4]]))
        pairs = [(0, 1), (1, 0), (2, 3), (1, 1)]
        kwargs = {"bin_size": 2.0, "max_lag": 30.0, "t_stop": 4000.0}
        kwargs["border_correction"] = border_correction
        elephant, _ = cross_correlograms(trains, pairs, method="elephant", **kwargs)
        sparse, _ = cross_correlograms(trains, pairs, method="sparse", **kwargs)
        for pair in pairs:
            np.testing.assert_allclose(sparse[pair], elephant[pair], rtol=1e-12)

    def test_unknown_method(self):
        with pytest.raises(ValueError, match="method"):
            cross_correlograms([[1.0], [2.0]], [(0, 1)], t_stop=10.0, method="fft")  # type: ignore[arg-type]

    def test_needs_pairs_or_weights(self):
        with pytest.raises(ValueError, match="pairs"):
            cross_correlograms([[1.0], [2.0]], t_stop=10.0)


class TestSpikeTimeDifferences:
    def test_sign_convention(self):
        # j fires 2 ms after i: lag t_j - t_i = +2 ms.
        lags = spike_time_differences([10.0], [12.0], max_lag=5.0)
        assert lags.magnitude.tolist() == [2.0]
        assert lags.units == pq.ms

    def test_all_pairs_match_brute_force(self):
        rng = np.random.default_rng(8)
        ti, tj = poisson_train(rng, 50.0, 2000.0), poisson_train(rng, 50.0, 2000.0)
        got = np.sort(spike_time_differences(ti, tj, max_lag=30.0).magnitude)
        every = brute_force_lags(ti, tj)
        np.testing.assert_allclose(got, np.sort(every[np.abs(every) <= 30.0]))

    def test_nearest_pairs_by_hand(self):
        # i: 0, 10; j: 3, 4, 20.  j@3 <- i@0 (+3), j@4 <- i@0 (+4), j@20 <- i@10 (+10),
        # i@10 <- j@4 (-6); i@0 has no earlier j.
        lags = spike_time_differences([0.0, 10.0], [3.0, 4.0, 20.0], pairing="nearest")
        assert sorted(lags.magnitude.tolist()) == [-6.0, 3.0, 4.0, 10.0]

    def test_simultaneous_spikes_do_not_pair_nearest(self):
        lags = spike_time_differences([5.0], [5.0], pairing="nearest")
        assert lags.size == 0

    def test_errors(self):
        with pytest.raises(ValueError, match="max_lag"):
            spike_time_differences([1.0], [2.0])
        with pytest.raises(ValueError, match="pairing"):
            spike_time_differences([1.0], [2.0], 5.0, pairing="triplet")  # type: ignore[arg-type]


class TestStdd:
    def test_shifted_copy_in_one_bin(self):
        rng = np.random.default_rng(12)
        ti = poisson_train(rng, 10.0, 10_000.0)
        counts, lags = stdd(ti, ti + 2.5, bin_size=0.5, max_lag=10.0)
        assert float(lags[np.argmax(counts)]) == 2.5
        # every spike pairs with its copy; chance pairs can only add to that bin
        assert counts[np.argmax(counts)] >= ti.size

    def test_total_matches_pairs_within_reach(self):
        rng = np.random.default_rng(13)
        ti, tj = poisson_train(rng, 40.0, 3000.0), poisson_train(rng, 40.0, 3000.0)
        counts, _ = stdd(ti, tj, bin_size=1.0, max_lag=20.0)
        every = brute_force_lags(ti, tj)
        assert counts.sum() == np.count_nonzero(np.abs(every) < 20.5)


class TestFoldWithWindow:
    def test_hand_value(self):
        rule = PairRule.sal(tau=5.0)
        expected = 2 * math.exp(-1.0) * 1 - 1 * math.exp(-2.0) * 4  # K(-5) * 2 + K(10) * 4
        assert fold_with_window([-5.0, 0.0, 10.0], [2, 7, 4], rule) == pytest.approx(expected)

    def test_symmetric_histogram_gives_zero(self):
        lags = np.arange(-20.0, 21.0)
        counts = np.exp(-np.abs(lags) / 7.0)
        assert fold_with_window(lags * pq.ms, counts, PairRule.sal(tau=10.0)) == pytest.approx(
            0.0, abs=1e-12
        )

    def test_length_mismatch(self):
        with pytest.raises(ValueError, match="length"):
            fold_with_window([1.0, 2.0], [1.0], PairRule.sal())


class TestPredictedDrift:
    @pytest.mark.parametrize(
        "rule",
        [
            PairRule.sal(tau=10.0, eta=0.01, pairing="nearest"),
            PairRule.sal(tau=10.0, eta=0.01, pairing="all", window="triangular"),
            PairRule.hebbian(tau=5.0, eta=0.02, pairing="nearest"),
        ],
    )
    def test_equals_the_pair_by_pair_reference(self, rule):
        # Without weight bounds the total change of the reference rule is the drift times T.
        rng = np.random.default_rng(21)
        pre, post = poisson_train(rng, 30.0, 5000.0), poisson_train(rng, 30.0, 5000.0)
        total = weight_trajectory(pre, post, 0.0, rule, delay=0.5).final
        drift = predicted_drift(pre, post, rule, delay=0.5, t_stop=5000.0)
        assert drift * 5.0 == pytest.approx(total, rel=1e-9, abs=1e-12)

    def test_exponential_all_to_all_truncation_is_negligible(self):
        rng = np.random.default_rng(22)
        pre, post = poisson_train(rng, 30.0, 5000.0), poisson_train(rng, 30.0, 5000.0)
        rule = PairRule.sal(tau=10.0, eta=1.0, pairing="all")
        total = weight_trajectory(pre, post, 0.0, rule).final
        drift = predicted_drift(pre, post, rule, t_stop=5000.0)
        # exp(-12) per pair beyond the default cut of 12 tau
        assert drift * 5.0 == pytest.approx(total, rel=1e-4)

    def test_causal_pair_depresses_under_sal(self):
        assert predicted_drift([10.0], [12.0], PairRule.sal(eta=1.0), t_stop=1000.0) < 0


class TestPredictedDriftMatrix:
    def test_orientation_and_mask(self):
        trains = [[12.0, 52.0], [10.0, 50.0], [30.0]]
        rule = PairRule.sal(tau=5.0, eta=1.0)
        mask = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=bool)
        d = predicted_drift_matrix(trains, rule, connections=mask, t_stop=100.0)
        # W[0, 1] is 1 -> 0: pre = 1 fires 2 ms before post = 0, so SAL depresses it.
        assert d[0, 1] == pytest.approx(predicted_drift(trains[1], trains[0], rule, t_stop=100.0))
        assert d[0, 1] < 0 < d[1, 0]
        assert np.isnan(d[2, 0]) and np.isnan(d[0, 0])

    def test_delay_matrix(self):
        trains = [[12.0], [10.0]]
        rule = PairRule.sal(tau=5.0, eta=1.0)
        delays = np.array([[0.0, 1.0], [3.0, 0.0]])
        d = predicted_drift_matrix(trains, rule, delay=delays, t_stop=1000.0)
        assert d[0, 1] == pytest.approx(float(window_kernel(3.0, rule)) / 1.0)
        assert d[1, 0] == pytest.approx(float(window_kernel(-2.0 + 3.0, rule)) / 1.0)


class TestDriftAsymmetry:
    def test_antisymmetric(self):
        d = np.random.default_rng(0).normal(size=(4, 4))
        a = drift_asymmetry(d)
        np.testing.assert_allclose(a, -a.T)


class TestAsymmetryCorrelation:
    def test_perfect_opposition(self):
        w = np.random.default_rng(1).normal(size=(5, 5))
        assert asymmetry_correlation(-(w - w.T), w) == pytest.approx(-1.0)

    def test_ignores_missing_pairs(self):
        w = np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
        a = -(w - w.T)
        a[1, 2] = a[2, 1] = np.nan
        assert asymmetry_correlation(a, w) == pytest.approx(-1.0)

    def test_single_pair_is_nan(self):
        assert math.isnan(asymmetry_correlation([[0.0, -1.0], [1.0, 0.0]], [[0, 1], [0, 0]]))


def simulate_pair_nest(weights: np.ndarray, biases: list[float], seed: int) -> list[np.ndarray]:
    """Two stochastic (exponential-escape) neurons with static weights, 100 s of model time.

    ``pp_psc_delta`` as a neural-sampling neuron: rate ``exp(b + V) / tau_ref`` with ``V`` in
    mV, dead time ``tau_ref``, PSPs decaying with ``tau_m = tau_ref``; ``W[k, j]`` is
    ``j -> k`` and makes ``V_k`` jump by ``W[k, j]`` mV.
    """
    os.environ.setdefault("PYNEST_QUIET", "1")
    try:
        import nest
    except ImportError as err:  # pragma: no cover - depends on the installation
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"NEST is required in CI: {err}")
        pytest.skip(f"NEST is not importable: {err}")
    tau_ref = 10.0
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": 0.1, "rng_seed": seed})
    neurons = nest.Create("pp_psc_delta", 2)
    for k in range(2):
        neurons[k].set(
            {
                "c_1": 0.0,
                "c_2": 1000.0 * math.exp(biases[k]) / tau_ref,
                "c_3": 1.0,
                "tau_m": tau_ref,
                "dead_time": tau_ref,
                "dead_time_random": False,
                "with_reset": False,
                "V_m": 0.0,
            }
        )
    recorder = nest.Create("spike_recorder")
    nest.Connect(neurons, recorder)
    for k in range(2):
        for j in range(2):
            if k != j and weights[k, j] != 0:
                syn = {"synapse_model": "static_synapse", "weight": weights[k, j], "delay": 0.1}
                nest.Connect(neurons[j], neurons[k], syn_spec=syn)
    nest.Simulate(DURATION)
    events = recorder.get("events")
    trains = [np.sort(events["times"][events["senders"] == g]) for g in neurons.tolist()]
    nest.ResetKernel()
    return trains


def chunked_asymmetry(trains: list[np.ndarray], rule: PairRule, chunks: int = 10) -> np.ndarray:
    """Predicted ``A[0, 1] = D[0, 1] - D[1, 0]`` in independent chunks of the recording."""
    length = DURATION / chunks
    values = []
    for c in range(chunks):
        start, stop = c * length, (c + 1) * length
        part = [t[(t >= start) & (t < stop)] for t in trains]
        d = predicted_drift_matrix(part, rule, delay=0.1, t_start=start, t_stop=stop)
        values.append(drift_asymmetry(d)[0, 1])
    return np.asarray(values)


class TestPredictedDriftOnNestPair:
    """The spike-only prediction of SAL's drift against a NEST simulation of two neurons."""

    RULE = PairRule.sal(tau=10.0, eta=1.0, pairing="nearest")

    def test_stronger_weight_is_pushed_down(self):
        w = np.array([[0.0, 1.5], [0.0, 0.0]])  # W[0, 1] = 1.5: neuron 1 drives neuron 0
        trains = simulate_pair_nest(w, [-0.5, -0.5], seed=12345)
        assert min(t.size for t in trains) > 1000
        d = predicted_drift_matrix(trains, self.RULE, delay=0.1, t_stop=DURATION)
        assert d[0, 1] < 0 < d[1, 0]
        # sign of D[0,1] - D[1,0] is opposite to that of W[0,1] - W[1,0]
        assert np.sign(drift_asymmetry(d)[0, 1]) == -np.sign(w[0, 1] - w[1, 0])
        chunks = chunked_asymmetry(trains, self.RULE)
        sem = chunks.std(ddof=1) / math.sqrt(chunks.size)
        assert chunks.mean() < -4.0 * sem

    def test_equal_weights_give_no_asymmetry(self):
        w = np.array([[0.0, 0.75], [0.75, 0.0]])
        trains = simulate_pair_nest(w, [-0.5, -0.5], seed=54321)
        chunks = chunked_asymmetry(trains, self.RULE)
        sem = chunks.std(ddof=1) / math.sqrt(chunks.size)
        assert abs(chunks.mean()) < 4.0 * sem
