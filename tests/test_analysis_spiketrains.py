"""salpynn.analysis.spiketrains: Neo trains and plain arrays in ms."""

from __future__ import annotations

import doctest

import neo
import numpy as np
import pytest
import quantities as pq

from salpynn.analysis import spiketrains
from salpynn.analysis.spiketrains import as_spiketrains, firing_rates, spike_times_ms, time_ms


class TestDocstringExamples:
    def test_examples_run(self):
        result = doctest.testmod(spiketrains)
        assert result.attempted > 0
        assert result.failed == 0


class TestTimeMs:
    def test_units(self):
        assert time_ms(2 * pq.s) == 2000.0
        assert time_ms(7) == 7.0

    @pytest.mark.parametrize("value", [3 * pq.mV, float("nan"), [1.0, 2.0]])
    def test_invalid(self, value):
        with pytest.raises(ValueError):
            time_ms(value)


class TestSpikeTimesMs:
    def test_sorted_copy(self):
        raw = np.array([3.0, 1.0])
        out = spike_times_ms(raw)
        assert out.tolist() == [1.0, 3.0]
        assert raw.tolist() == [3.0, 1.0]

    def test_rejects_2d(self):
        with pytest.raises(ValueError, match="one-dimensional"):
            spike_times_ms([[1.0]])


class TestAsSpiketrains:
    def test_neo_span_and_annotations_kept(self):
        train = neo.SpikeTrain([0.1, 0.2] * pq.s, t_start=0.05 * pq.s, t_stop=1 * pq.s, pop="e")
        (out,) = as_spiketrains([train])
        assert out.units == pq.ms
        assert out.t_start == 50 * pq.ms and out.t_stop == 1000 * pq.ms
        assert out.annotations["pop"] == "e"
        np.testing.assert_allclose(out.magnitude, [100.0, 200.0])

    def test_spikes_outside_the_span_are_dropped(self):
        (out,) = as_spiketrains([[1.0, 5.0, 12.0]], t_start=2.0, t_stop=10.0)
        assert out.magnitude.tolist() == [5.0]

    def test_errors(self):
        with pytest.raises(ValueError, match="t_stop"):
            as_spiketrains([[1.0]])
        with pytest.raises(ValueError, match="later"):
            as_spiketrains([[1.0]], t_start=5.0, t_stop=5.0)


class TestFiringRates:
    def test_hz(self):
        rates = firing_rates([np.arange(0.0, 2000.0, 100.0), []], t_stop=2 * pq.s)
        assert rates.units == pq.Hz
        np.testing.assert_allclose(rates.magnitude, [10.0, 0.0])
