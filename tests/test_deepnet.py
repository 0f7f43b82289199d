"""The NumPy MLP's backward passes (``salpynn.mlp``) and training with a spiking SAL phase
(``salpynn run deepnet``)."""

from __future__ import annotations

import numpy as np
import pytest

from salpynn.config import ConfigError, apply_overrides
from salpynn.experiments.deepnet import DeepNetConfig, run
from salpynn.mlp import MLP, digits


def _batch(seed: int = 0, n: int = 7, sizes=(5, 4, 3, 3)):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, sizes[0])), rng.integers(0, sizes[-1], n)


class TestBackward:
    def test_bp_matches_finite_differences(self) -> None:
        net = MLP((5, 4, 3, 3), method="bp", seed=2)
        x, y = _batch()
        grad_w, grad_b = net.gradients(x, y)
        eps = 1e-6
        for layer in range(3):
            for params, grads in ((net.W, grad_w), (net.b, grad_b)):
                flat = params[layer].reshape(-1)
                for k in range(flat.size):
                    old = flat[k]
                    flat[k] = old + eps
                    up = net.loss(x, y)
                    flat[k] = old - eps
                    down = net.loss(x, y)
                    flat[k] = old
                    numeric = (up - down) / (2 * eps)
                    assert grads[layer].reshape(-1)[k] == pytest.approx(numeric, abs=1e-7)

    def test_feedback_matrices(self) -> None:
        """One hidden layer by hand: delta_hidden = (delta_out @ M) * relu'(z)."""
        for method in ("fa", "scfa", "kp", "sal"):
            net = MLP((3, 2, 2), method=method, seed=4)
            x, y = np.array([[1.0, -0.5, 0.25]]), np.array([1])
            z_h = x @ net.W[0].T + net.b[0]
            h = np.maximum(z_h, 0)
            z_o = h @ net.W[1].T + net.b[1]
            p = np.exp(z_o - z_o.max()) / np.exp(z_o - z_o.max()).sum()
            d_out = p - np.eye(2)[1]
            m = net.B[1]
            if method == "scfa":
                m = np.abs(net.B[1]) * np.sign(net.W[1])
            d_h = (d_out @ m) * (z_h > 0)
            grad_w, _ = net.gradients(x, y)
            np.testing.assert_allclose(grad_w[1], d_out.T @ h, atol=1e-12)
            np.testing.assert_allclose(grad_w[0], d_h.T @ x, atol=1e-12)

    def test_kp_shrinks_the_difference(self) -> None:
        """Same gradient for W and B plus decay: with momentum 0, W - B shrinks by exactly
        (1 - lr * kp_decay) per step."""
        net = MLP((5, 4, 3, 3), method="kp", seed=1, kp_decay=0.1)
        before = [w - b for w, b in zip(net.W, net.B, strict=True)]
        x, y = _batch(3)
        net.step(x, y, lr=0.5, momentum=0.0)
        for d0, w, b in zip(before, net.W, net.B, strict=True):
            np.testing.assert_allclose(w - b, (1 - 0.05) * d0, atol=1e-12)

    def test_digits_split(self) -> None:
        x, y, _, yt = digits(0)
        assert x.shape[1] == 64 and len(y) + len(yt) == 1797
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert set(np.unique(y)) == set(range(10))


class TestTraining:
    def test_bp_learns_digits(self, tmp_path) -> None:
        config = apply_overrides(DeepNetConfig(), {"method": "bp", "epochs": 5})
        summary = run(config, tmp_path, progress=False)
        assert summary["test_accuracy_final"] > 0.9  # chance is 0.1

    def test_sal_phase_aligns_feedback(self, tmp_path) -> None:
        config = apply_overrides(
            DeepNetConfig(),
            {
                "layers": "64,16,10",
                "epochs": 2,
                "sal_copies": 4,
            },
        )
        summary = run(config, tmp_path, progress=False)
        for before, after in zip(summary["angle_initial"], summary["angle_final"], strict=True):
            # Two of the paper's SAL phases (5 x 200 tau_ref, 4 copies): about 10 degrees.
            assert after < before - 3.0, summary
        assert 0.0 < summary["sal_share"] <= 1.0


@pytest.mark.parametrize(
    ("override", "name"),
    [({"layers": "63,10"}, "layers"), ({"method": "xx"}, "method"), ({"batch": 0}, "batch")],
)
def test_bad_values_name_the_parameter(override: dict, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        apply_overrides(DeepNetConfig(), override).validate()


def test_depth_table_and_figures(tmp_path) -> None:
    """``salpynn plot`` on deepnet runs: the depth table's medians and quartiles are those of
    the runs' summaries (numpy's, recomputed here), and every figure is written."""
    import csv

    from salpynn.experiments.deepnet import EXPERIMENT
    from salpynn.results import finished_runs

    accuracies: dict[tuple[str, int], list[float]] = {}
    for method in ("bp", "fa"):
        for layers in ("64,8,10", "64,8,8,10"):
            for seed in (1, 2, 3):
                folder = tmp_path / "runs" / f"{method}-{layers}-{seed}"
                config = apply_overrides(
                    DeepNetConfig(),
                    {"method": method, "layers": layers, "epochs": 2, "seed": seed},
                )
                summary = run(config, folder, progress=False)
                key = (method, len(layers.split(",")) - 2)
                accuracies.setdefault(key, []).append(summary["test_accuracy_final"])
    paths = EXPERIMENT.figures(finished_runs([tmp_path], "deepnet"), tmp_path / "fig")
    names = {p.name for p in paths}
    assert {"deepnet-accuracy.png", "deepnet-angles.png", "deepnet-depth.png"} <= names
    assert "deepnet-scatter-fa.png" in names  # the deepest FA run's weights
    with open(tmp_path / "fig" / "deepnet-depth.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    for row in rows:
        acc = accuracies[(row["method"], int(row["hidden_layers"]))]
        assert int(row["seeds"]) == 3
        assert float(row["test_accuracy_median"]) == pytest.approx(np.median(acc), abs=1e-4)
        assert float(row["test_accuracy_q25"]) == pytest.approx(np.quantile(acc, 0.25), abs=1e-4)
