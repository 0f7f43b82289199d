"""salpynn.analysis.alignment against hand computations."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from salpynn.analysis import alignment
from salpynn.analysis.alignment import (
    alignment_angle,
    alignment_correlation,
    alignment_metrics,
    asymmetry_variance,
    difference_variance,
    feedback_in_forward_orientation,
    layer_alignment,
    sign_concordance,
)

RNG = np.random.default_rng(42)
W = RNG.normal(size=(4, 3))


class TestDocstringExamples:
    def test_examples_run(self):
        result = doctest.testmod(alignment)
        assert result.attempted > 0
        assert result.failed == 0


class TestFeedbackInForwardOrientation:
    def test_transpose(self):
        b = RNG.normal(size=(3, 4))
        np.testing.assert_array_equal(feedback_in_forward_orientation(b), b.T)

    def test_wrong_orientation_is_reported(self):
        with pytest.raises(ValueError, match="feedback_in_forward_orientation"):
            alignment_angle(W, W.T)


class TestAlignmentAngle:
    def test_identical_is_zero(self):
        assert alignment_angle(W, W) == 0.0

    def test_opposite_is_180(self):
        assert alignment_angle(W, -W) == 180.0

    def test_orthogonal_is_90(self):
        assert alignment_angle([[1.0, 0.0]], [[0.0, 2.0]]) == pytest.approx(90.0, abs=1e-12)

    def test_hand_value_and_scale_invariance(self):
        # <(1, 0), (1, 1)> / (1 * sqrt 2) = cos 45 degrees
        assert alignment_angle([[1.0, 0.0]], [[3.0, 3.0]]) == pytest.approx(45.0, abs=1e-12)

    def test_tiny_angles_are_accurate(self):
        b = W.copy()
        b[0, 0] += 1e-9
        angle = alignment_angle(W, b)
        assert 0.0 < angle < 1e-6

    def test_zero_matrix_is_nan(self):
        assert math.isnan(alignment_angle(W, np.zeros_like(W)))


class TestDifferenceVariance:
    def test_hand_value(self):
        # W - B = (1, 3): mean 2, population variance 1
        assert difference_variance([[2.0, 3.0]], [[1.0, 0.0]]) == 1.0

    def test_offset_does_not_count(self):
        assert difference_variance(W, W + 5.0) == pytest.approx(0.0, abs=1e-24)


class TestAlignmentCorrelation:
    def test_linear_relation(self):
        assert alignment_correlation(W, 2.0 * W + 1.0) == pytest.approx(1.0)
        assert alignment_correlation(W, -W) == pytest.approx(-1.0)

    def test_constant_is_nan(self):
        assert math.isnan(alignment_correlation(W, np.ones_like(W)))


class TestSignConcordance:
    def test_hand_value(self):
        assert sign_concordance([[1.0, -2.0, 3.0, -4.0]], [[2.0, -1.0, -3.0, 4.0]]) == 0.5

    def test_extremes(self):
        assert sign_concordance(W, 3.0 * W) == 1.0
        assert sign_concordance(W, -W) == 0.0


class TestAlignmentMetrics:
    def test_keys_and_values(self):
        m = alignment_metrics(W, W)
        assert m == {
            "angle_deg": 0.0,
            "difference_variance": 0.0,
            "correlation": pytest.approx(1.0),
            "sign_concordance": 1.0,
        }


class TestLayerAlignment:
    def test_per_layer(self):
        forward = [W, RNG.normal(size=(2, 4))]
        feedback = [W, -forward[1]]
        layers = layer_alignment(forward, feedback)
        assert [m["layer"] for m in layers] == [0, 1]
        assert [m["angle_deg"] for m in layers] == [0.0, 180.0]

    def test_layer_count_mismatch(self):
        with pytest.raises(ValueError, match="feedback"):
            layer_alignment([W], [])


class TestAsymmetryVariance:
    def test_symmetric_is_zero(self):
        a = RNG.normal(size=(5, 5))
        assert asymmetry_variance(a + a.T) == 0.0

    def test_hand_value(self):
        # upper-triangle differences W_ij - W_ji: (1 - 0, 2 - 2, 1 - 0) = (1, 0, 1)
        w = [[0.0, 1.0, 2.0], [0.0, 0.0, 1.0], [2.0, 0.0, 0.0]]
        assert asymmetry_variance(w) == pytest.approx(np.var([1.0, 0.0, 1.0]))

    def test_needs_square(self):
        with pytest.raises(ValueError, match="square"):
            asymmetry_variance(W)


def test_metric_names_are_the_keys_in_order() -> None:
    from salpynn.analysis.alignment import METRIC_NAMES, alignment_metrics

    assert tuple(alignment_metrics([[1.0, -2.0]], [[0.5, 1.0]])) == METRIC_NAMES
