"""Spiking dendritic microcircuits (paper Fig. 6) in NEST through PyNN: the self-predicting
state, a reduced teacher-student run per method, resume, the figures and refusals."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from salpynn.config import ConfigError
from salpynn.experiments import get
from salpynn.experiments.microcircuit import MicrocircuitConfig, alignment_errors
from tests.conftest import require

#: The authors' protocol with 500-tau_ref patterns (a quarter) and 100-tau_ref windows.
REDUCED = dict(pattern_tau=500.0, lag_tau=100.0, avg_window_tau=100.0, sync_tau=100.0)


def nest_backend():
    try:
        from salpynn.pynn import load_backend

        return load_backend("nest")
    except ImportError as err:  # pragma: no cover - depends on the installation
        require(False, f"PyNN with NEST is not importable: {err}")


def batch_means(x: np.ndarray, batches: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Mean over time (axis 0) and its standard error from ``batches`` consecutive blocks
    (blocks much longer than the correlation time of the PSPs)."""
    blocks = np.array_split(x, batches, axis=0)
    means = np.array([b.mean(axis=0) for b in blocks])
    return x.mean(axis=0), means.std(axis=0, ddof=1) / np.sqrt(batches)


class TestSelfPredictingState:
    def test_apical_error_vanishes_without_a_target(self):
        """Interneurons with W_IP = W (next layer) and W_PI = -B receive exactly the input of
        the cells above, so without a target (no nudging) and SAL off the apical potential of
        every hidden cell has mean 0: within 5 standard errors (batch means) for all 18 cells.
        With the interneurons cut (W_PI = 0) the mean is B E[PSP] and the same test fails."""
        from salpynn.networks.microcircuit import Microcircuit, MicrocircuitParameters

        backend = nest_backend()
        means = {}
        for cut in (False, True):
            backend.setup(timestep=0.1, seed=3)
            rng = np.random.default_rng(4)
            params = MicrocircuitParameters(dims=(2, 6, 3), copies=3, lambda_nudge=0.0,
                                            eta_up=(0.0, 0.0), eta_b=0.0)  # fmt: skip
            w = [rng.uniform(-1.5, 1.5, (3, 6, 2)), rng.uniform(-1.5, 1.5, (3, 3, 6))]
            b = [rng.uniform(-1.5, 1.5, (3, 6, 3))]
            net = Microcircuit(backend, params, w, b, [np.zeros((3, 6)), np.zeros((3, 3))])
            net.build()
            net.set_inputs([0.5, -0.5])
            net.sync()
            if cut:
                for block in net.w_pi:
                    block.set(0.0)
            hidden = net.pyramidal[0]
            hidden.record("psp_apical", sampling_interval=1.0)
            backend.sim.run(20000.0)
            signal = hidden.get_data().segments[0].filter(name="psp_apical")[0]
            apical = np.asarray(signal.magnitude)[100:]  # after the first PSPs
            means[cut] = batch_means(apical)
            backend.sim.end()
        mean, se = means[False]
        assert np.all(np.abs(mean) < 5 * se), (mean, se)
        assert np.all(se < 0.05)  # the test has power: errors of 0.25 would be found
        cut_mean, cut_se = means[True]
        assert np.mean(np.abs(cut_mean) > 5 * cut_se) > 0.8


@pytest.fixture(scope="module")
def reduced_runs(tmp_path_factory):
    """Six seeds, 12 epochs of the reduced protocol, each method (about a minute)."""
    from salpynn.experiments.microcircuit import run

    base = tmp_path_factory.mktemp("microcircuit")
    out = {}
    for method in ("sal", "bp", "fa"):
        config = MicrocircuitConfig(method=method, epochs=12, seeds=6, **REDUCED)
        out[method] = (base / method, run(config, base / method, progress=False))
    return out


class TestTeacherStudent:
    def test_alignment_ordering(self, reduced_runs):
        """bp: B = W^T exactly; SAL: its alignment error falls below FA's, whose B never
        moves (FA's error changes only through W)."""
        err = {m: np.array(s["per_seed"]["alignment_error_final"])[:, 0]
               for m, (_, s) in reduced_runs.items()}  # fmt: skip
        assert np.all(err["bp"] == 0.0)
        assert np.median(err["sal"]) < 0.5 * np.median(err["fa"])
        sal = reduced_runs["sal"][1]
        assert sal["alignment_error_final"][0] < 0.5 * sal["alignment_error_initial"][0]
        fa_b = np.array(reduced_runs["fa"][1]["B_final"][0])
        b0 = MicrocircuitConfig(seeds=6).initial()[1][0]
        np.testing.assert_array_equal(fa_b, b0)

    def test_sal_gives_feedback_the_sign_of_the_forward_weight(self, reduced_runs):
        """SAL turns B_12 to W_21's sign in at least 5 of the 6 seeds after 12 reduced epochs;
        FA keeps its random initial signs (3 of these 6 draws agree)."""
        agree = {}
        for method in ("sal", "fa"):
            s = reduced_runs[method][1]
            b = np.array(s["B_final"][0]).ravel()
            w21 = np.array(s["W_final"][1]).ravel()
            agree[method] = int(np.sum(np.sign(b) == np.sign(w21)))
        assert agree["sal"] >= 5 and agree["sal"] > agree["fa"], agree

    def test_every_method_learns(self, reduced_runs):
        for method, (_, s) in reduced_runs.items():
            assert s["val_loss_final"] < s["val_loss_initial"], method
            assert s["val_loss_free_final"] < s["val_loss_free_initial"], method

    def test_sync_drift_is_small(self, reduced_runs):
        """Between syncs (100 tau_ref) the output weights move little: the interneurons run
        with W_IP within 5 % of the largest output weight."""
        for method, (_, s) in reduced_runs.items():
            w_out = np.abs(np.array(s["W_final"][-1])).max()
            assert s["max_sync_drift"] < 0.05 * w_out, method

    def test_figures_and_table(self, reduced_runs, tmp_path):
        proc = subprocess.run(
            [sys.executable, "-m", "salpynn", "plot", *(str(f) for f, _ in reduced_runs.values()),
             "--out", str(tmp_path)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        for name in ("loss", "weights", "angles"):
            assert (tmp_path / f"microcircuit-{name}.png").stat().st_size > 10_000
        with open(tmp_path / "microcircuit.csv", newline="") as handle:
            table = {row["method"]: row for row in csv.DictReader(handle)}
        assert set(table) == {"sal", "bp", "fa"}
        # The table's median loss is the median of the runs' per-seed losses.
        sal = reduced_runs["sal"][1]
        value = float(table["sal"]["val_loss_median"])
        assert value == pytest.approx(np.median(sal["per_seed"]["val_loss_final"]), rel=1e-5)
        assert float(table["bp"]["B12_over_W21"]) == 1.0


class TestRun:
    def test_resume_extends_a_run(self, tmp_path):
        from salpynn.experiments.microcircuit import run

        short = dict(pattern_tau=60.0, lag_tau=20.0, avg_window_tau=20.0, sync_tau=20.0,
                     teacher_pattern_tau=60.0, seeds=2)  # fmt: skip
        first = run(MicrocircuitConfig(epochs=1, **short), tmp_path, progress=False)
        again = run(MicrocircuitConfig(epochs=2, **short), tmp_path, progress=False)
        assert first["resumed_from_epoch"] == 0 and again["resumed_from_epoch"] == 1
        history = np.load(tmp_path / "history.npz")["history"]
        assert history.shape[:2] == (3, 2)
        assert again["targets"] == first["targets"]  # the teacher is not run again
        summary = json.loads((tmp_path / "summary.json").read_text())
        assert summary["config"]["epochs"] == 2 and summary["seeds"] == [1, 2]

    def test_alignment_errors_against_hand_values(self):
        w = [np.zeros((1, 2, 2)), np.array([[[3.0, 4.0]]])]  # W[1] is (1 x 2): W^T is (2 x 1)
        b = [np.array([[[3.0], [4.0]]])]
        err, angle = alignment_errors(w, b)
        assert err[0, 0] == 0.0 and angle[0, 0] == pytest.approx(0.0, abs=1e-6)
        b = [np.array([[[-4.0], [3.0]]])]  # orthogonal, same norm
        err, angle = alignment_errors(w, b)
        assert err[0, 0] == pytest.approx(np.sqrt(2)) and angle[0, 0] == pytest.approx(90.0)


class TestRefusals:
    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"dims": "1,1"}, "dims must be at least 3 sizes"),
            ({"dims": "1,x,1"}, "dims must be comma-separated whole numbers"),
            ({"method": "kp"}, "method"),
            ({"sym_patterns": 20}, "sym_patterns must lie in [0, 19]"),
            ({"lag_tau": 2000.0}, "lag_tau must lie in [0.0, 2000.0)"),
            ({"pattern_tau": 0.05}, "pattern_tau"),
            ({"lambda_nudge": 1.5}, "lambda_nudge must lie in [0.0, 1.0]"),
            ({"sync_tau": 0.25}, "sync_tau * tau_ref must be a whole number of time steps"),
            ({"backend": "brian2"}, "backend"),
        ],
    )
    def test_named_errors(self, changes, message):
        with pytest.raises(ConfigError, match=re.escape(message)):
            MicrocircuitConfig(**changes).validate()

    def test_cli_refuses_before_simulating(self, tmp_path):
        proc = subprocess.run(
            [sys.executable, "-m", "salpynn", "run", "microcircuit", "--set", "dims=3,4",
             "--out", str(tmp_path / "x")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "dims must be at least 3 sizes" in proc.stderr
        assert not (tmp_path / "x" / "summary.json").exists()

    def test_brian2_refuses_the_dendritic_types_by_name(self):
        try:
            from salpynn.pynn import load_backend

            backend = load_backend("brian2")
        except ImportError as err:  # pragma: no cover
            require(False, f"Brian2 is not importable: {err}")
        with pytest.raises(NotImplementedError, match="DendriticSamplingNeuron is not available"):
            backend.DendriticSamplingNeuron(avg_window=200.0)
        with pytest.raises(NotImplementedError, match="use backend='nest'"):
            backend.DendriticPredictionSynapse()

    def test_registered(self):
        assert get("microcircuit").config is MicrocircuitConfig
