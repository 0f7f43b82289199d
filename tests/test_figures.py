"""``salpynn plot``: the measured SAL drift field (Fig. 2e) and the two-neuron figures."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from salpynn.experiments.two_neuron import TwoNeuronConfig
from salpynn.experiments.two_neuron_figures import drift_field


class TestDriftField:
    DURATION = 100_000.0  # ms

    def test_points_to_the_diagonal_and_is_mirror_symmetric(self):
        # Equal biases make the two neurons interchangeable: the field at (a, b) mirrors the
        # field at (b, a), and it pushes the larger weight down and the smaller one up.
        config = TwoNeuronConfig(b_1=-0.3, b_2=-0.3)
        axis = np.array([0.3, 1.5])
        field = drift_field(config, axis, axis, duration=self.DURATION, seed=5)
        # [i, j] is (w_12 = axis[j], w_21 = axis[i]): [0, 1] is (1.5, 0.3), [1, 0] is (0.3, 1.5).
        assert field.drift_12[0, 1] < 0 < field.drift_21[0, 1]
        assert field.drift_21[1, 0] < 0 < field.drift_12[1, 0]
        # Each drift is eta * sum K / T with |K| <= 1 over at most (spikes of both neurons)
        # pairs; at ~25 Hz per neuron that bounds one estimate's standard error by
        # eta * sqrt(2 * 25 * T) / T.  Two estimates differ by < 4 sqrt(2) of that.
        seconds = self.DURATION / 1000
        se = config.rule.eta * math.sqrt(2 * 25 * seconds) / seconds
        assert abs(field.drift_12[0, 1] - field.drift_21[1, 0]) < 4 * math.sqrt(2) * se
        assert abs(field.drift_21[0, 1] - field.drift_12[1, 0]) < 4 * math.sqrt(2) * se
        # On the diagonal the expected drift vanishes.
        assert abs(field.drift_12[0, 0]) < 4 * se and abs(field.drift_21[1, 1]) < 4 * se

    @pytest.mark.parametrize("convention", ["marginals", "authors", "reversible"])
    def test_agrees_with_the_exact_theory(self, convention):
        """The measured field against the Markov-chain oracle at the same lags the synapses
        use (dendritic_delay 0 on NEST): with the whole delay counted instead, even the
        symmetric point would drift both weights by about +eta * 24 per s (tau_ref 1 ms)."""
        from salpynn.experiments.two_neuron_figures import theory_model
        from salpynn.theory import sal_drift

        config = TwoNeuronConfig(tau_ref=1.0, b_1=-0.5, b_2=0.3, convention=convention)
        axis = np.array([0.2, 1.2])
        field = drift_field(config, axis, axis, duration=self.DURATION, seed=7)
        seconds = self.DURATION / 1000
        rule = config.sal_rule()
        for i, w_21 in enumerate(axis):
            for j, w_12 in enumerate(axis):
                exact = sal_drift(theory_model(config, w_12, w_21), rule)
                # All pairs, |K| <= 1, <= 2 * 300 spikes/s for tau_ref 1 ms: the standard
                # error of a drift estimate is below eta * sqrt(600 T) / T (x the window).
                se = rule.eta * math.sqrt(600 * seconds) / seconds
                assert abs(field.drift_12[i, j] - exact[0]) < 5 * se, (w_12, w_21, exact)
                assert abs(field.drift_21[i, j] - exact[1]) < 5 * se, (w_12, w_21, exact)


def test_two_neuron_figures(tmp_path):
    from PIL import Image

    run = [sys.executable, "-m", "salpynn"]
    out = tmp_path / "run"
    proc = subprocess.run(
        [*run, "run", "two-neuron", "--set", "duration=20000", "--no-progress", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    figs = tmp_path / "figs"
    proc = subprocess.run(
        [*run, "plot", str(out), "--out", str(figs), "--grid", "4", "--field-duration", "5000"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("fig2d-trajectories.png", "fig2e-drift-field.png"):
        with Image.open(figs / name) as image:
            assert len(image.convert("RGB").getcolors(maxcolors=100_000) or []) > 50
    with np.load(figs / "fig2e-drift-field.npz") as data:
        assert data["drift_12"].shape == (4, 4) and np.all(np.isfinite(data["drift_12"]))


def test_plot_refuses_missing_folders(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "salpynn", "plot", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "not a folder" in proc.stderr
