"""``salpynn plot``: the measured SAL drift field (Fig. 2e) and the two-neuron figures."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np

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
