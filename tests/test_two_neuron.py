"""The two-neuron SAL system (paper Fig. 2) in NEST, and the ``salpynn run`` command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from salpynn.config import apply_overrides
from salpynn.experiments.two_neuron import TwoNeuronConfig, simulate
from salpynn.rule import weight_trajectory


@pytest.fixture(scope="module")
def fine_run():
    # A 0.01 ms grid and delay, a larger eta.
    config = apply_overrides(
        TwoNeuronConfig(),
        {
            "duration": 60_000.0,
            "rule.eta": 0.008,
            "resolution": 0.01,
            "delay": 0.01,
            "n_reports": 6,
            "seed": 7,
        },
    )
    return simulate(config, progress=False)


class TestTwoNeuronSystem:
    def test_weights_approach_each_other(self, fine_run):
        start = fine_run.w_12[0] - fine_run.w_21[0]
        end = fine_run.w_12[-1] - fine_run.w_21[-1]
        # Initial difference 1.0; SAL removes most of it.  Fluctuations of the difference at
        # this eta are about 0.1 (seen over seeds), so 0.3 is a safe margin.
        assert abs(end) < 0.3 * abs(start)

    def test_sum_conserved(self, fine_run):
        # Lags between spike times (the default): the two synapses see exactly opposite lags,
        # so every pair changes the sum by 0 once NEST has applied it.
        settled_12, settled_21 = fine_run.settled()
        assert abs(settled_12 + settled_21 - 2.0) < 1e-9
        change_diff = abs((fine_run.w_12[-1] - fine_run.w_21[-1]) - 1.0)
        assert change_diff > 0.5

    def test_weights_follow_reference_from_recorded_spikes(self, fine_run):
        c = fine_run.config
        s1, s2 = fine_run.spikes
        # w_12 is 2 -> 1: presynaptic neuron 2, postsynaptic neuron 1.
        rule = c.sal_rule()
        assert rule.dendritic_delay == 0.0 and rule.pairing == "all"  # the paper's defaults
        ref_12 = weight_trajectory(s2, s1, c.w_12, rule, delay=0.0)
        ref_21 = weight_trajectory(s1, s2, c.w_21, rule, delay=0.0)
        assert fine_run.w_12[-1] == pytest.approx(ref_12.at_pre[-1], rel=1e-9)
        assert fine_run.w_21[-1] == pytest.approx(ref_21.at_pre[-1], rel=1e-9)
        # The settled weights are the reference's after its last event.
        assert fine_run.settled() == pytest.approx((ref_12.final, ref_21.final), rel=1e-9)

    def test_frozen_weight_is_tracked(self):
        config = apply_overrides(
            TwoNeuronConfig(),
            {"duration": 60_000.0, "rule.eta": 0.01, "plastic": "w_21", "n_reports": 4, "seed": 3},
        )
        run = simulate(config, progress=False)
        assert np.all(run.w_12 == 1.5)
        assert abs(run.w_21[-1] - 1.5) < 0.3 * 1.0

    def test_same_seed_same_result(self):
        config = TwoNeuronConfig(duration=5_000.0, n_reports=2, seed=99)
        a = simulate(config, progress=False)
        b = simulate(config, progress=False)
        np.testing.assert_array_equal(a.w_12, b.w_12)
        np.testing.assert_array_equal(a.spikes[0], b.spikes[0])


@pytest.fixture(scope="module")
def fig2d_runs():
    """The default configuration (300 s, the README's main job) for 5 seeds, both weights
    plastic and w_12 frozen."""
    runs = {}
    for plastic in ("both", "w_21"):
        runs[plastic] = [
            simulate(TwoNeuronConfig(plastic=plastic, seed=seed), progress=False)
            for seed in range(1, 6)
        ]
    return runs


class TestPaperFig2d:
    """With its defaults the system is the authors' Fig. 2d (paper-details.md 1.2-1.3)."""

    def test_sum_is_conserved(self, fig2d_runs):
        for run in fig2d_runs["both"]:
            summary = run.summary()
            assert abs(summary["sum_drift"]) < 1e-3
            # The reference rule on the recorded spikes conserves it to rounding.
            s1, s2 = run.spikes
            rule = run.config.sal_rule()
            total = (
                weight_trajectory(s2, s1, 1.5, rule).final
                + weight_trajectory(s1, s2, 0.5, rule).final
            )
            assert abs(total - 2.0) < 1e-9

    def test_weights_meet_at_the_common_mean(self, fig2d_runs):
        # Mean of w_12 - w_21 over the last third of each run; the runs are independent, so
        # the standard error of their mean comes from the spread over seeds.
        means = []
        for run in fig2d_runs["both"]:
            third = len(run.times) * 2 // 3
            means.append(np.mean(run.w_12[third:] - run.w_21[third:]))
        se = np.std(means, ddof=1) / np.sqrt(len(means))
        assert abs(np.mean(means)) < 2 * se
        assert abs(np.mean(means)) < 0.05  # and close to 0 in absolute terms (start: 1.0)

    def test_plastic_weight_converges_to_the_frozen_one(self, fig2d_runs):
        levels = []
        for run in fig2d_runs["w_21"]:
            assert np.all(run.w_12 == 1.5)
            third = len(run.times) * 2 // 3
            levels.append(np.mean(run.w_21[third:]))
        assert abs(np.median(levels) - 1.5) < 0.02


class TestCommandLine:
    def test_run_writes_summary_and_plot(self, tmp_path):
        out = tmp_path / "run"
        cmd = [
            sys.executable,
            "-m",
            "salpynn",
            "run",
            "two-neuron",
            "--out",
            str(out),
            "--set",
            "duration=20000",
            "--seed",
            "5",
            "--no-progress",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        summary = json.loads((out / "summary.json").read_text())
        for key in ("w_12_initial", "w_21_initial", "w_12_final", "w_21_final"):
            assert isinstance(summary[key], float)
        assert summary["w_12_initial"] == 1.5 and summary["w_21_initial"] == 0.5
        assert summary["config"]["seed"] == 5 and summary["provenance"]["salpynn_version"]
        assert abs(summary["w_12_final"] - summary["w_21_final"]) < 1.0
        png = (out / "weights.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
        table = np.loadtxt(out / "trajectory.csv", delimiter=",", skiprows=1)
        assert table[-1, 1] == pytest.approx(summary["w_12_final"])
        assert "w_12 =" in proc.stdout

    @pytest.mark.parametrize(
        ("override", "name"),
        [
            ("rule.eta=-1", "rule.eta"),
            ("rule.window=box", "rule.window"),
            ("rule.dendritic_delay=-0.5", "rule.dendritic_delay"),
            ("rule.dendritic_delay=0.5", "rule.dendritic_delay"),
            ("rule.bogus=1", "rule.bogus"),
            ("rule=1", "rule"),
            ("tau_ref=0", "tau_ref"),
            ("plastic=all", "plastic"),
            ("bogus=1", "bogus"),
        ],
    )
    def test_bad_input_is_rejected_before_running(self, tmp_path, override, name):
        cmd = [
            sys.executable,
            "-m",
            "salpynn",
            "run",
            "two-neuron",
            "--out",
            str(tmp_path / "x"),
            "--set",
            override,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2
        assert name in proc.stderr
        assert not (tmp_path / "x").exists()


class TestStateRecording:
    def test_u_and_z_are_recorded_into_the_nix_file(self, tmp_path):
        from salpynn.analysis import load_recording
        from salpynn.experiments.two_neuron import write_outputs

        config = TwoNeuronConfig(duration=5_000.0, n_reports=1, record_states=True, seed=4)
        write_outputs(simulate(config, progress=False), tmp_path)
        rec = load_recording(tmp_path)
        signals = {sig.name: sig for sig in rec.analogsignals}
        z = np.asarray(signals["z"].magnitude)
        times = np.asarray(signals["z"].times.rescale("ms").magnitude)
        assert z.shape == (1001, 2) and set(np.unique(z)) <= {0.0, 1.0}
        for k, train in enumerate(rec.spiketrains):
            s = np.asarray(train.rescale("ms").magnitude)
            # z = 1 while refractory: within tau_ref after a spike.  Samples within one step
            # of a spike or of the end of refractoriness may fall either way.
            lag = times[:, None] - s[None, :]
            expected = ((lag >= 0) & (lag < config.tau_ref)).any(axis=1)
            edge = (np.abs(lag) <= 0.1).any(axis=1) | (np.abs(lag - config.tau_ref) <= 0.1).any(
                axis=1
            )
            assert np.array_equal(z[~edge, k] == 1, expected[~edge])
        u = np.asarray(signals["u"].magnitude)
        assert np.all(u >= np.array([config.b_1, config.b_2]) - 1e-9)  # positive weights only
