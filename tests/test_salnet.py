"""SALNet (``networks/salnet.py``) and the pure-symmetrisation experiment (``salpynn run
salnet``) on NEST: orientation and bulk I/O, the SAL update against the reference rule on the
recorded spikes, symmetrisation, checkpoints, configuration errors."""

from __future__ import annotations

import numpy as np
import pytest
from salpynn.networks.salnet import SALNet, SALNetParameters, kaiming_uniform

from salpynn.config import ConfigError, apply_overrides
from salpynn.experiments.salnet import SALNetConfig, run
from salpynn.pynn import load_backend
from salpynn.rule import PairRule, weight_trajectory


def _net(layers, w, b, copies=1, rule=None, record=False, seed=3):
    backend = load_backend("nest")
    backend.setup(timestep=0.1, seed=seed)
    params = SALNetParameters(
        tuple(layers), rule=rule, copies=copies, record_spikes=record, tau_ref=1.0
    )
    biases = [np.zeros(n) for n in layers]
    return backend, SALNet(backend, params, w, b, biases).build()


class TestBulkIO:
    def test_orientation_and_round_trip(self) -> None:
        w = [np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])]
        b = [np.array([[-0.1, -0.2, -0.3], [-0.4, -0.5, -0.6]])]
        backend, net = _net((3, 2), w, b, copies=2)
        got_w, got_b = net.weights()
        np.testing.assert_array_equal(got_w[0], np.stack([w[0], w[0]]))
        np.testing.assert_array_equal(got_b[0], np.stack([b[0], b[0]]))
        # Feedback i (upper) -> k (lower) carries B[i, k]: B[1, 2] on upper 1 -> lower 2.
        fb = backend.weight_matrix(net.projections["B0"])
        assert fb[2, 1] == pytest.approx(-0.6)  # [post = lower 2, pre = upper 1]
        assert np.isnan(fb[2 + 3, 1])  # no connection between copies
        new = [np.arange(6.0).reshape(2, 3) / 10]
        net.set_feedback(new)
        np.testing.assert_allclose(net.weights()[1][0], np.stack([new[0], new[0]]))
        backend.sim.end()

    def test_kaiming_bound(self) -> None:
        m = kaiming_uniform(np.random.default_rng(1), 50, 50)
        assert np.abs(m).max() <= np.sqrt(3 / 50)
        assert np.abs(m).max() > 0.95 * np.sqrt(3 / 50)


class TestSALUpdate:
    def test_feedback_update_matches_the_reference_rule_on_recorded_spikes(self) -> None:
        rule = PairRule.sal(tau=1.0, eta=0.01, dendritic_delay=0.0)
        rng = np.random.default_rng(2)
        w = [kaiming_uniform(rng, 2, 2)]
        b = [kaiming_uniform(rng, 2, 2)]
        backend, net = _net((2, 2), w, b, rule=rule, record=True)
        net.run(500.0)
        _, got = net.weights()
        lower, upper = (backend.spike_times(p) for p in net.populations)
        for i in range(2):
            for k in range(2):
                traj = weight_trajectory(upper[i], lower[k], b[0][i, k], rule)
                expected = traj.at_pre[-1] if traj.at_pre.size else b[0][i, k]
                assert got[0][0, i, k] == pytest.approx(expected, abs=1e-10), (i, k)
        backend.sim.end()


class TestSymmetrisation:
    def test_angle_falls(self, tmp_path) -> None:
        config = apply_overrides(
            SALNetConfig(), {"layers": "20,20", "copies": 4, "epochs": 2, "iterations": 3}
        )
        summary = run(config, tmp_path, progress=False)
        before, after = summary["angle_initial"][0], summary["angle_final"][0]
        assert after < before - 3.0, (before, after)
        assert summary["correlation_final"][0] > 0.05

    def test_resumes_from_its_checkpoint(self, tmp_path) -> None:
        base = {"layers": "6,4", "copies": 2, "iterations": 1, "iteration_tau": 20.0}
        first = run(apply_overrides(SALNetConfig(), {**base, "epochs": 1}), tmp_path, False)
        second = run(apply_overrides(SALNetConfig(), {**base, "epochs": 2}), tmp_path, False)
        assert first["resumed_from_epoch"] == 0 and second["resumed_from_epoch"] == 1
        rows = np.loadtxt(tmp_path / "metrics.csv", delimiter=",", skiprows=1)
        assert rows.shape[0] == 3
        assert rows[1, 2] == pytest.approx(first["angle_final"][0], rel=1e-12)


@pytest.mark.parametrize(
    ("override", "name"),
    [({"layers": "5,x"}, "layers"), ({"layers": "5"}, "layers"), ({"copies": 0}, "copies")],
)
def test_bad_values_name_the_parameter(override: dict, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        apply_overrides(SALNetConfig(), override).validate()
