"""PSP shapes (paper Fig. 11): the deviation metric, the oracle's attractor and the simulated
attractors of rectangular and alpha PSPs in NEST (``salpynn run psp-shapes``)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from salpynn.config import ConfigError, apply_overrides
from salpynn.experiments.psp_shapes import PSPShapesConfig, deviation, run
from salpynn.rule import PairRule
from salpynn.theory import TwoNeuronModel, attractor, nullcline


class TestDeviation:
    @pytest.mark.parametrize("c", [0.5, 0.9, 1.0, 1.3])
    def test_proportional_nullcline(self, c: float) -> None:
        """w_12* = c w_21: the relative deviation is |1 - c| / |1 + c| everywhere."""
        w_21 = np.linspace(0.2, 1.5, 7)
        assert deviation(w_21, c * w_21) == pytest.approx(abs(1 - c) / abs(1 + c), rel=1e-12)

    def test_missing_points_are_left_out(self) -> None:
        w_21 = np.array([-1.0, 0.5, 1.0, 2.0])
        w_12 = np.array([math.nan, 0.5, 1.2, 2.4])
        d = np.abs(w_21[1:] - w_12[1:]) / np.abs(w_21[1:] + w_12[1:])
        expected = np.trapezoid(d, x=w_21[1:]) / 1.5
        assert deviation(w_21, w_12) == pytest.approx(expected, rel=1e-12)
        assert math.isnan(deviation(w_21, np.full(4, math.nan)))


class TestAttractor:
    RULE = PairRule.sal(tau=1.0, eta=1.0, dendritic_delay=0.0)

    def test_agrees_with_the_bracketed_root_where_it_is_unique(self) -> None:
        model = TwoNeuronModel(b_1=-0.5, b_2=0.5, tau_ref=10)  # rect: one root per w_21
        w_21 = [-1.0, 0.5, 1.5]
        expected = nullcline(w_21, self.RULE, model, quantity="w_12", xtol=1e-8)
        got = attractor(w_21, self.RULE, model, xtol=1e-8)
        np.testing.assert_allclose(got, expected, atol=1e-6)
        assert np.all(np.abs(got - w_21) > 0.01)  # off the diagonal in this convention

    def test_reversible_rectangular_psps_stay_on_the_diagonal(self) -> None:
        model = TwoNeuronModel(b_1=-1.0, b_2=0.8, tau_ref=11, tau_syn=10)
        w_21 = [-1.2, 0.4, 1.4]
        got = attractor(w_21, self.RULE.with_(pairing="all"), model)
        np.testing.assert_allclose(got, w_21, atol=1e-4)

    def test_refuses_bad_steps(self) -> None:
        with pytest.raises(ValueError, match="first_step"):
            attractor([1.0], self.RULE, first_step=0.0)


class TestConfig:
    @pytest.mark.parametrize(
        ("override", "name"),
        [
            ({"biases": []}, "biases"),
            ({"biases": [0.0, 50.0]}, "biases"),
            ({"w_21": [1.0, 0.5]}, "w_21"),
            ({"w_21": [1.0]}, "w_21"),
            ({"alpha_fractions": [0.0]}, "alpha_fractions"),
            ({"copies": 0}, "copies"),
            ({"oracle": False, "simulation": False}, "oracle"),
            ({"oracle_t_max": 3}, "oracle_t_max"),
        ],
    )
    def test_bad_values_name_the_parameter(self, override: dict, name: str) -> None:
        config = apply_overrides(PSPShapesConfig(), override)
        with pytest.raises(ConfigError, match=name):
            config.validate()

    def test_defaults_are_the_authors_grid(self) -> None:
        c = PSPShapesConfig()
        c.validate()
        assert len(c.biases) == 9 and c.biases[0] == -1.0 and c.biases[-1] == 1.0
        np.testing.assert_allclose(c.w_21, np.linspace(-1.5, 1.5, 10))
        assert [name for name, _, _ in c.shapes()] == ["rect", "alpha-0.333", "alpha-0.5"]
        assert round(c.tau_ref / c.resolution) == 10


@pytest.fixture(scope="module")
def reduced_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """Rect and alpha (tau_ref / 3) at the extreme biases, 8 independent copies per pair."""
    out = tmp_path_factory.mktemp("psp-shapes")
    config = apply_overrides(
        PSPShapesConfig(),
        {
            "biases": [-1.0, 1.0],
            "w_21": [-1.0, 1.5],
            "alpha_fractions": [1.0 / 3.0],
            "duration": 40_000.0,
            "n_reports": 20,
            "copies": 8,
        },
    )
    summary = run(config, out, progress=False)
    written = json.loads((out / "summary.json").read_text())
    assert written["sim_deviation_mean"] == summary["sim_deviation_mean"]
    assert written["config"]["copies"] == 8
    return summary, dict(np.load(out / "nullclines.npz"))


class TestSimulatedAttractors:
    """Tolerances: 5 standard errors over the 8 independent copies (t with 7 degrees of freedom:
    a false alarm per point about 2e-3)."""

    def test_rectangular_psps_align_for_any_biases(self, reduced_run) -> None:
        _, arrays = reduced_run
        w_21 = arrays["w_21"]
        np.testing.assert_allclose(arrays["oracle_w_12"][0], np.tile(w_21, (4, 1)), atol=1e-4)
        error = np.abs(arrays["sim_w_12"][0] - w_21)
        assert np.all(error < 5 * arrays["sim_w_12_sem"][0] + 1e-3), error

    def test_alpha_psps_align_for_equal_biases(self, reduced_run) -> None:
        _, arrays = reduced_run
        for k in (0, 3):  # (b_1, b_2) = (-1, -1) and (1, 1): symmetric neurons
            error = np.abs(arrays["sim_w_12"][1, k] - arrays["w_21"])
            assert np.all(error < 5 * arrays["sim_w_12_sem"][1, k] + 1e-3), (k, error)

    def test_alpha_psps_move_the_attractor_for_unequal_biases(self, reduced_run) -> None:
        """The paper's point: off the diagonal for alpha PSPs, not for rectangular ones; the
        neuron with the lower bias (neuron 1 at (-1, 1)) ends with the weaker excitatory
        input at w_21 = 1.5, and the deviation grows with the weight."""
        summary, arrays = reduced_run
        sim, sem, w_21 = arrays["sim_w_12"][1], arrays["sim_w_12_sem"][1], arrays["w_21"]
        for k, sign in ((1, -1.0), (2, 1.0)):  # (-1, 1) and (1, -1)
            shift = sim[k, 1] - w_21[1]
            assert sign * shift > 5 * sem[k, 1], (k, shift, sem[k, 1])
        dev = summary["sim_deviation_mean"]
        assert dev["alpha-0.333"] > 3 * dev["rect"]
