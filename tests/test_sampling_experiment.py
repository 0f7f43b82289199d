"""The sampling-network experiment (wake-sleep learning with and without SAL, Figs. 4-5).

Pure-Python parts are checked against brute-force references; the learning itself runs on real
NEST (and once on Brian2) with a reduced configuration whose outcome ordering is the paper's.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from salpynn.analysis.alignment import asymmetry_variance
from salpynn.analysis.states import coactivation_from_spikes
from salpynn.config import ConfigError
from salpynn.experiments.sampling import (
    SamplingConfig,
    model_term,
    seed_setup,
    target_statistics,
    wake_sleep_step,
)
from tests.conftest import require

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")

#: The reduced configuration of the README: 5 neurons, sleep phases of 300 tau_ref, 800
#: iterations with 5x (wake-sleep) and 20x (SAL) the paper's learning rates, 4 seeds.
REDUCED = {
    "n": 5,
    "sleep_tau": 300,
    "iterations": 800,
    "lr": 0.05,
    "lr_sal": 0.2,
    "validate_every": 400,
    "validation_factor": 100,
    "seeds": 4,
    "batch": 4,
}


def salpynn(*args: str, ranks: int = 1, timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "salpynn", *args]
    if ranks > 1:
        mpirun = shutil.which("mpirun")
        require(mpirun is not None, "mpirun (OpenMPI) is not installed")
        cmd = [mpirun, "-n", str(ranks), "--oversubscribe", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout)


def overrides(values: dict) -> list[str]:
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


# --- pure Python ---------------------------------------------------------------------------


def brute_force_overlap(trains: list[np.ndarray], tau: float) -> np.ndarray:
    """``out[i, j]``: sum of max(0, tau - |dt|) over the pairs in which neuron i spiked first
    (simultaneous spikes: half)."""
    n = len(trains)
    out = np.zeros((n, n))
    for i, j in itertools.permutations(range(n), 2):
        for ti in trains[i]:
            for tj in trains[j]:
                share = 1.0 if ti < tj else 0.5 if ti == tj else 0.0
                out[i, j] += share * max(0.0, tau - abs(ti - tj))
    return out


def refractory_train(rng: np.random.Generator, tau: float, t_stop: float) -> np.ndarray:
    """Spikes on a 0.1 ms grid with inter-spike intervals >= tau."""
    times, t = [], rng.integers(1, 80) * 0.1
    while t < t_stop:
        times.append(round(t, 1))
        t += tau + rng.integers(0, 60) * 0.1
    return np.array(times)


class TestCoactivation:
    TAU = 5.0

    def test_matches_all_pairs(self):
        rng = np.random.default_rng(4)
        n, replicas = 5, 3
        trains = [
            [refractory_train(rng, self.TAU, 300.0) for _ in range(n)] for _ in range(replicas)
        ]
        trains[1][2] = trains[1][0].copy()  # simultaneous spikes overlap for a full tau
        times = np.concatenate([t for rep in trains for t in rep])
        senders = np.concatenate(
            [np.full(t.size, r * n + k) for r, rep in enumerate(trains) for k, t in enumerate(rep)]
        )
        shuffle = rng.permutation(times.size)  # the recorder's order is not relied upon
        overlap, counts = coactivation_from_spikes(
            times[shuffle], senders[shuffle], n, replicas, self.TAU
        )
        for r in range(replicas):
            np.testing.assert_allclose(
                overlap[r], brute_force_overlap(trains[r], self.TAU), atol=1e-9
            )
            assert counts[r].tolist() == [t.size for t in trains[r]]
        total = overlap[1] + overlap[1].T  # simultaneous spikes overlap for a full tau
        assert total[0, 2] >= self.TAU * trains[1][0].size - 1e-9

    def test_causal_and_anticausal_branches(self):
        # Neuron 0 at 10 ms, neuron 1 at 12 ms: for 0 -> 1 (W[1, 0]) the pair is causal, for
        # 1 -> 0 (W[0, 1]) anticausal; each branch weighs the overlap tau - 2 with its gain.
        first, _ = coactivation_from_spikes(
            np.array([10.0, 12.0]), np.array([0, 1]), 2, 1, self.TAU
        )
        causal = np.array([[[0.0, 0.5], [3.0, 0.0]]])
        anticausal = np.array([[[0.0, 7.0], [0.25, 0.0]]])
        model = model_term(first, causal, anticausal)
        assert model[0, 1, 0] == pytest.approx(3.0 * (self.TAU - 2.0))
        assert model[0, 0, 1] == pytest.approx(7.0 * (self.TAU - 2.0))

    def test_no_spikes(self):
        overlap, counts = coactivation_from_spikes(
            np.empty(0), np.empty(0, dtype=np.int64), 3, 2, self.TAU
        )
        assert overlap.shape == (2, 3, 3) and not overlap.any() and not counts.any()


class TestTargets:
    def test_statistics_by_enumeration(self):
        setup = seed_setup(SamplingConfig(n=4), 3)
        p, co, rates = target_statistics(setup)
        w, b = setup.w_target, setup.b_target
        states = np.array(list(itertools.product([0, 1], repeat=4)), dtype=float)
        energy = np.array([0.5 * z @ w @ z + b @ z for z in states])
        weights = np.exp(energy - energy.max())
        weights /= weights.sum()
        np.testing.assert_allclose(co, (states * weights[:, None]).T @ states, atol=1e-12)
        np.testing.assert_allclose(rates, weights @ states, atol=1e-12)
        np.testing.assert_allclose(np.sort(p), np.sort(weights), atol=1e-12)

    def test_target_is_shared_by_every_scenario(self):
        setups = [
            seed_setup(SamplingConfig(noise=noise), 5)
            for noise in ("none", "synaptic", "plasticity")
        ]
        for s in setups[1:]:
            np.testing.assert_array_equal(s.w_target, setups[0].w_target)
            np.testing.assert_array_equal(s.b_target, setups[0].b_target)
        w = setups[0].w_target
        assert np.array_equal(w, w.T) and not np.diag(w).any() and np.abs(w).max() <= 1.0

    def test_noise_scenarios(self):
        # Synaptic noise: W0 = 0.2 * S + sigma * xi with S symmetric, so
        # E[Var(W_ij - W_ji)] = 2 sigma^2; over 200 seeds of 21 pairs the mean of the per-seed
        # variances has a relative spread < 2 %.
        config = SamplingConfig(noise="synaptic", sigma=0.5, clip=100.0)
        initial = np.stack([seed_setup(config, s).w_initial for s in range(1, 201)])
        asym = asymmetry_variance(initial)
        assert abs(asym.mean() * 21 / 20 - 2 * 0.5**2) < 0.05 * 2 * 0.5**2
        # The symmetric part has standard deviation init_scale = 0.2.
        sym = (initial + initial.transpose(0, 2, 1)) / 2
        upper = sym[:, *np.triu_indices(7, 1)]
        assert abs(upper.std() - np.sqrt(0.2**2 + 0.5**2 / 2)) < 0.02
        # Plasticity noise: sigma_init 0.2 also in its baseline (sigma 0).
        for sigma in (0.0, 0.8):
            plastic = SamplingConfig(noise="plasticity", sigma=sigma, clip=100.0)
            initial = np.stack([seed_setup(plastic, s).w_initial for s in range(1, 201)])
            assert abs(asymmetry_variance(initial).mean() * 21 / 20 - 2 * 0.2**2) < 0.1 * 0.08
        quiet = seed_setup(SamplingConfig(noise="none"), 1)
        w0 = quiet.w_initial
        assert np.array_equal(w0, w0.T) and w0.any() and quiet.b_initial.any()
        assert set(np.unique(quiet.gain_causal)) == {0.0, 1.0}
        assert set(np.unique(quiet.sal_amplitude)) == {0.0, 1.0}


class TestPlasticityNoise:
    """The paper's model: a_ij = max(0, 1 + xi), xi normal (std sigma) truncated at
    +-1.5 sigma, independent for W_ij, W_ji and the SAL amplitudes."""

    @staticmethod
    def amplitudes(sigma: float, seeds: int = 200) -> tuple[np.ndarray, np.ndarray]:
        config = SamplingConfig(noise="plasticity", sigma=sigma)
        setups = [seed_setup(config, s) for s in range(1, seeds + 1)]
        for s in setups:
            np.testing.assert_array_equal(s.gain_causal, s.gain_anticausal)  # one per synapse
        off = ~np.eye(7, dtype=bool)
        hebbian = np.stack([s.gain_causal for s in setups])
        sal = np.stack([s.sal_amplitude for s in setups])
        assert not hebbian[:, ~off].any() and not sal[:, ~off].any()
        return hebbian, sal

    def test_distribution_and_truncation(self):
        from scipy.stats import truncnorm

        sigma = 0.4  # 1 - 1.5 sigma > 0: no clipping at zero
        hebbian, sal = self.amplitudes(sigma)
        off = ~np.eye(7, dtype=bool)
        for a in (hebbian[:, off], sal[:, off]):
            xi = a.ravel() - 1.0
            assert np.abs(xi).max() <= 1.5 * sigma + 1e-12
            assert np.abs(xi).max() > 1.4 * sigma  # truncated, not squeezed
            std = truncnorm.std(-1.5, 1.5, scale=sigma)
            se = std / np.sqrt(xi.size)
            assert abs(xi.mean()) < 4 * se
            # Standard error of a standard deviation: about std / sqrt(2 N).
            assert abs(xi.std() - std) < 4 * std / np.sqrt(2 * xi.size)

    def test_clipped_at_zero(self):
        from scipy.stats import norm

        hebbian, _ = self.amplitudes(0.8)
        a = hebbian[:, ~np.eye(7, dtype=bool)].ravel()
        assert a.min() == 0.0
        # P(xi < -1 | |xi| <= 1.5 sigma) with sigma = 0.8: xi / sigma < -1.25.
        p = (norm.cdf(-1.25) - norm.cdf(-1.5)) / (2 * norm.cdf(1.5) - 1)
        assert abs(np.mean(a == 0.0) - p) < 4 * np.sqrt(p * (1 - p) / a.size)

    def test_amplitude_floor_is_a_named_option(self):
        # The floor replaces only the clip: the same draws, max(floor, 1 + xi) instead of
        # max(0, 1 + xi), for the Hebbian and the SAL amplitudes (and the window model).
        for model in ("amplitude", "window"):
            paper = SamplingConfig(noise="plasticity", sigma=0.8, plasticity_noise=model)
            floored = SamplingConfig(
                noise="plasticity", sigma=0.8, plasticity_noise=model, amplitude_floor=0.1
            )
            assert SamplingConfig().amplitude_floor == 0.0
            off = ~np.eye(7, dtype=bool)
            clipped = 0
            for seed in range(1, 41):
                a, f = seed_setup(paper, seed), seed_setup(floored, seed)
                for name in ("gain_causal", "gain_anticausal", "sal_amplitude"):
                    x, y = getattr(a, name), getattr(f, name)
                    if model == "window" and name == "sal_amplitude":
                        np.testing.assert_array_equal(x, y)  # nominal SAL amplitudes
                        continue
                    np.testing.assert_array_equal(y[off], np.maximum(0.1, x[off]))
                    assert not y[~off].any()
                    clipped += int((x[off] == 0.0).sum())
                np.testing.assert_array_equal(a.w_target, f.w_target)
                np.testing.assert_array_equal(a.w_initial, f.w_initial)
            assert clipped > 0  # the paper's clip was active in these seeds

    def test_amplitude_floor_range(self):
        with pytest.raises(ConfigError, match="amplitude_floor"):
            SamplingConfig(noise="plasticity", amplitude_floor=-0.1).validate()
        with pytest.raises(ConfigError, match="amplitude_floor"):
            SamplingConfig(noise="plasticity", amplitude_floor=1.5).validate()

    def test_independence(self):
        hebbian, sal = self.amplitudes(0.4)
        rows, cols = np.triu_indices(7, 1)
        pairs = hebbian.shape[0] * rows.size
        bound = 4 / np.sqrt(pairs)  # |r| of independent samples
        ij, ji = hebbian[:, rows, cols].ravel(), hebbian[:, cols, rows].ravel()
        assert abs(np.corrcoef(ij, ji)[0, 1]) < bound
        assert abs(np.corrcoef(ij, sal[:, rows, cols].ravel())[0, 1]) < bound
        assert (
            abs(np.corrcoef(sal[:, rows, cols].ravel(), sal[:, cols, rows].ravel())[0, 1]) < bound
        )

    def test_window_alternative_keeps_independent_branches(self):
        config = SamplingConfig(noise="plasticity", sigma=0.8, plasticity_noise="window")
        setup = seed_setup(config, 1)
        assert not np.allclose(setup.gain_causal, setup.gain_anticausal)
        assert set(np.unique(setup.sal_amplitude)) == {0.0, 1.0}

    def test_data_term_is_scaled_by_the_amplitude(self):
        # No model term, no spikes: the weight change is lr * a_ij * <z_i z_j>_target.
        config = SamplingConfig(n=3, noise="plasticity", lr=0.1, clip=100.0)
        setup = seed_setup(config, 2)
        _, co, rates = target_statistics(setup)
        gain = (setup.gain_causal + setup.gain_anticausal) / 2
        w0 = np.zeros((1, 3, 3))
        w, b = wake_sleep_step(
            config,
            w0,
            np.zeros((1, 3)),
            (gain * co)[None],
            rates[None],
            np.zeros((1, 3, 3)),
            np.zeros((1, 3), dtype=np.int64),
            1000.0,
        )
        off = ~np.eye(3, dtype=bool)
        np.testing.assert_allclose(w[0][off], 0.1 * setup.gain_causal[off] * co[off], rtol=1e-15)
        np.testing.assert_allclose(b[0], 0.1 * rates, rtol=1e-15)

    def test_paper_defaults_by_scenario(self):
        synaptic, plastic = SamplingConfig(), SamplingConfig(noise="plasticity")
        assert (synaptic.kp_rate, plastic.kp_rate) == (1.6e-4, 4e-5)
        assert (synaptic.validation_interval, plastic.validation_interval) == (500, 1000)
        assert (synaptic.initial_noise, plastic.initial_noise) == (0.8, 0.2)
        rule = synaptic.sal_rule()
        assert rule.pairing == "nearest" and rule.window == "triangular"


class TestValidation:
    @pytest.mark.parametrize(
        ("key", "value", "words"),
        [
            ("sigma", -0.1, "sigma"),
            ("iterations", 0, "iterations"),
            ("noise", "thermal", "noise"),
            ("tau_ref", 5.05, "whole number of time steps"),
            ("validate_every", 10**9, "validate_every"),
            ("rule.eta", 0.1, "rule.eta is derived from lr_sal"),
            ("rule.w_max", 3.0, "rule.w_max is clip"),
            ("rule.window", "box", "rule.window"),
            ("rule.dendritic_delay", 0.5, r"rule.dendritic_delay must be -1 .* in \[0, delay\]"),
        ],
    )
    def test_bad_values_are_named(self, key, value, words):
        from salpynn.config import apply_overrides

        with pytest.raises(ConfigError, match=words):
            apply_overrides(SamplingConfig(), {key: value}).validate()

    def test_dendritic_delay_default_follows_the_backend(self):
        # none: spike-time lags (0) where the backend can, the whole delay on Brian2 with a
        # one-step delay; an explicit value is used as it is.
        assert SamplingConfig().sal_rule().dendritic_delay == 0.0
        assert SamplingConfig(backend="brian2").sal_rule().dendritic_delay == -1.0
        assert SamplingConfig(backend="brian2", delay=0.2).sal_rule().dendritic_delay == 0.0
        with pytest.raises(ConfigError, match="brian2"):
            apply = SamplingConfig(backend="brian2").rule
            SamplingConfig(backend="brian2", rule=replace(apply, dendritic_delay=0.0)).validate()
        rule = SamplingConfig(lr_sal=0.5, sleep_tau=100).sal_rule()
        assert rule.eta == pytest.approx(0.5 * 5.0 / 500.0) and rule.w_max == 2.0

    def test_command_line_rejects_before_running(self, tmp_path):
        start = time.perf_counter()
        proc = salpynn("run", "sampling", "--set", "sigma=9", "--out", str(tmp_path / "x"))
        assert proc.returncode == 2
        assert "sigma" in proc.stderr and "[0" in proc.stderr
        assert not (tmp_path / "x").exists()
        assert time.perf_counter() - start < 60


# --- NEST -----------------------------------------------------------------------------------

SMALL = {
    "n": 4,
    "seeds": 3,
    "batch": 2,
    "iterations": 6,
    "validate_every": 2,
    "validation_factor": 2,
    "sleep_tau": 100,
    "lr": 0.05,
    "lr_sal": 0.2,
}


def metrics(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / "metrics.npz") as data:
        return {k: data[k] for k in data.files}


class TestResumeAndRanks:
    def test_killed_run_resumes_to_the_same_result(self, tmp_path):
        args = ["run", "sampling", *overrides(SMALL), "--no-progress"]
        whole = salpynn(*args, "--out", str(tmp_path / "whole"))
        assert whole.returncode == 0, whole.stderr
        # Kill a second run once its first checkpoint is on disk, then run it again.
        out = tmp_path / "killed"
        cmd = [sys.executable, "-m", "salpynn", *args, "--out", str(out)]
        proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while not list(out.glob("checkpoints/batch-*.npz")) and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not (out / "summary.json").exists(), "the run finished before it was killed"
        resumed = salpynn(*args, "--out", str(out))
        assert resumed.returncode == 0, resumed.stderr
        a, b = metrics(tmp_path / "whole"), metrics(out)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        # The resumed run's speed covers the part it trained, not the whole schedule.
        total = SMALL["iterations"] * SMALL["seeds"]
        assert (
            json.loads((tmp_path / "whole" / "summary.json").read_text())[
                "run_iterations_this_invocation"
            ]
            == total
        )
        resumed_part = json.loads((out / "summary.json").read_text())
        assert 0 < resumed_part["run_iterations_this_invocation"] < total

    def test_two_ranks_give_the_one_rank_result(self, tmp_path):
        args = ["run", "sampling", *overrides(SMALL), "--no-progress"]
        one = salpynn(*args, "--out", str(tmp_path / "one"))
        two = salpynn(*args, "--out", str(tmp_path / "two"), ranks=2)
        assert one.returncode == 0, one.stderr
        assert two.returncode == 0, two.stderr
        summary = json.loads((tmp_path / "two" / "summary.json").read_text())
        assert summary["ranks"] == 2 and summary["seeds"] == [1, 2, 3]
        a, b = metrics(tmp_path / "one"), metrics(tmp_path / "two")
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)

    def test_same_seed_same_result_and_provenance(self, tmp_path):
        args = ["run", "sampling", *overrides({**SMALL, "seeds": 2}), "--no-progress"]
        first = salpynn(*args, "--out", str(tmp_path / "a"))
        second = salpynn(*args, "--out", str(tmp_path / "b"))
        assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
        a, b = metrics(tmp_path / "a"), metrics(tmp_path / "b")
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        summary = json.loads((tmp_path / "a" / "summary.json").read_text())
        assert summary["config"]["n"] == 4 and summary["seeds"] == [1, 2]
        assert summary["provenance"]["salpynn_version"]
        rows = (tmp_path / "a" / "metrics.csv").read_text().splitlines()
        assert rows[0] == "seed,iteration,asymmetry,dkl_sleep,dkl_validation"
        assert len(rows) == 1 + 2 * (SMALL["iterations"] + 1)


def median_final(folder: Path) -> tuple[float, float]:
    summary = json.loads((folder / "summary.json").read_text())
    return summary["dkl_final"], summary["asymmetry_final"]


@pytest.fixture(scope="module")
def reduced_runs(tmp_path_factory):
    """The reduced configuration's five conditions, as one sweep, with salpynn's earlier
    model (named options): W0 = sigma * xi, b0 = 0, plasticity noise as independent causal and
    anticausal Hebbian amplitudes.  The paper's model (the defaults) does not meet these
    thresholds at this schedule; the README reports its numbers."""
    root = tmp_path_factory.mktemp("reduced")
    earlier = {"init_scale": 0.0, "convention": "marginals"}
    window = {**earlier, "plasticity_noise": "window", "sigma_init": 0.0}
    spec = {
        "experiment": "sampling",
        "out": str(root / "sweep"),
        "base": REDUCED,
        "conditions": {
            "none": {"noise": "none", "sal": False, **earlier},
            "synaptic": {"noise": "synaptic", "sal": False, **earlier},
            "synaptic-sal": {"noise": "synaptic", "sal": True, **earlier},
            "plasticity": {"noise": "plasticity", "sal": False, **window},
            "plasticity-sal": {"noise": "plasticity", "sal": True, **window},
        },
    }
    (root / "sweep.json").write_text(json.dumps(spec))
    # Five runs on two worker ranks (rank 0 schedules): about 2 minutes on two cores.
    proc = salpynn("sweep", str(root / "sweep.json"), "--no-progress", ranks=3, timeout=900)
    assert proc.returncode == 0, proc.stderr
    runs = {}
    for folder in (root / "sweep" / "runs").iterdir():
        runs[folder.name.rsplit("-", 1)[0]] = folder
    return root, runs


class TestReducedAcceptance:
    """The paper's ordering at sigma = 0.8 on the reduced configuration (4 fixed seeds), with
    the issue's acceptance thresholds: Var(W_ij - W_ji) with SAL at least 100x smaller than
    without, D_KL with SAL within 1.5x of the noise-free run, without SAL at least 1.5x above.
    Measured (earlier model, 2026-12-03): synaptic 143x, 1.29x, 3.0x; plasticity 403x,
    1.32x, 8.6x."""

    @staticmethod
    def check_ordering(runs: dict[str, Path], noisy: str) -> None:
        from salpynn.experiments.sampling_plots import SamplingRun, acceptance

        rows = acceptance([SamplingRun(folder) for folder in runs.values()], noisy, 0.8)
        assert [row["criterion"].split(" ")[0] for row in rows] == ["Var(W_ij", "D_KL", "D_KL"]
        assert all(row["met"] for row in rows), rows
        # The same three criteria, computed here from the medians directly.
        dkl_none, _ = median_final(runs["none"])
        dkl_hebb, asym_hebb = median_final(runs[noisy])
        dkl_sal, asym_sal = median_final(runs[f"{noisy}-sal"])
        expected = [asym_hebb / asym_sal, dkl_sal / dkl_none, dkl_hebb / dkl_none]
        np.testing.assert_allclose([row["value"] for row in rows], expected, rtol=1e-12)

    def test_synaptic_noise(self, reduced_runs):
        self.check_ordering(reduced_runs[1], "synaptic")

    def test_plasticity_noise(self, reduced_runs):
        self.check_ordering(reduced_runs[1], "plasticity")

    def test_no_noise_learns_the_target(self, reduced_runs):
        _, runs = reduced_runs
        summary = json.loads((runs["none"] / "summary.json").read_text())
        assert summary["dkl_final"] < 0.1 * summary["dkl_initial"]
        assert summary["asymmetry_final"] < 1e-20  # symmetric updates keep W symmetric

    def test_figures_from_the_sweep(self, reduced_runs, tmp_path):
        from PIL import Image

        root, _ = reduced_runs
        proc = salpynn("plot", str(root / "sweep"), "--out", str(tmp_path))
        assert proc.returncode == 0, proc.stderr
        with open(tmp_path / "sampling-acceptance.csv") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 6 and {row["met"] for row in rows} == {"True"}
        with open(tmp_path / "sampling-final.csv") as handle:
            assert len(list(csv.DictReader(handle))) == 5  # one row per condition
        for name in ("fig4-synaptic-curves.png", "fig5-plasticity-curves.png"):
            with Image.open(tmp_path / name) as image:
                assert image.size[0] > 500 and image.size[1] > 200
                # A blank canvas has one colour; curves and bands give many.
                assert len(image.convert("RGB").getcolors(maxcolors=100_000) or []) > 50


#: The paper's model (all defaults: initial state, noise model, the authors' neuron) on the
#: reduced schedule of ``scripts/sweeps/conventions-reduced.json``: equal rates 5x the paper's.
PAPER_REDUCED = {
    "n": 5,
    "sleep_tau": 300,
    "seeds": 4,
    "batch": 4,
    "iterations": 1500,
    "lr": 0.05,
    "lr_sal": 0.05,
    "validation_factor": 100,
}


@pytest.fixture(scope="module")
def paper_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    spec = {
        "experiment": "sampling",
        "out": str(root / "sweep"),
        "base": PAPER_REDUCED,
        "conditions": {
            "none": {"noise": "none", "sal": False},
            "synaptic": {"noise": "synaptic", "sigma": 0.8, "sal": False},
            "synaptic-sal": {"noise": "synaptic", "sigma": 0.8, "sal": True},
        },
    }
    (root / "sweep.json").write_text(json.dumps(spec))
    proc = salpynn("sweep", str(root / "sweep.json"), "--no-progress", ranks=3, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return {f.name.rsplit("-", 1)[0]: f for f in (root / "sweep" / "runs").iterdir()}


class TestPaperModelReduced:
    """The paper's model with every default (``convention=authors``) meets the synaptic-noise
    criteria on the reduced schedule. Measured (4 fixed seeds, 2026-12-03): 132x, 0.90x,
    2.68x; the README's table has the plasticity numbers, which do not all meet them."""

    def test_synaptic_noise(self, paper_runs):
        TestReducedAcceptance.check_ordering(paper_runs, "synaptic")


class TestBrian2:
    def test_same_protocol_runs_on_brian2(self, tmp_path):
        try:
            import brian2  # noqa: F401
        except ImportError as err:
            require(False, f"Brian2 is not importable: {err}")
        config = {**SMALL, "seeds": 1, "batch": 1, "iterations": 4, "sleep_tau": 50}
        proc = salpynn(
            "run",
            "sampling",
            *overrides(config),
            "--backend",
            "brian2",
            "--no-progress",
            "--out",
            str(tmp_path),
        )
        assert proc.returncode == 0, proc.stderr
        summary = json.loads((tmp_path / "summary.json").read_text())
        assert summary["config"]["backend"] == "brian2"
        m = metrics(tmp_path)
        # SAL moves the asymmetric initial weights (synaptic noise) towards symmetry.
        assert np.all(np.isfinite(m["dkl_validation"]))
        assert m["asymmetry"][0, -1] < m["asymmetry"][0, 0]


def test_a_scenario_is_never_compared_with_another_scenarios_baseline(tmp_path):
    """The synaptic criteria use the noise-free run even when the plasticity baseline (sigma
    0, sigma_init 0.2) is in the same sweep and listed first."""
    from salpynn.experiments.sampling_plots import SamplingRun, acceptance

    def run(name: str, noise: str, sigma: float, sal: bool, dkl: float, asym: float):
        r = SamplingRun.__new__(SamplingRun)
        r.folder = tmp_path / f"{name}-0123456789ab"
        r.summary = {"noise": noise, "sigma": sigma, "sal": sal, "kolen_pollack": False}
        r.summary["seeds"] = [1, 2]
        r.dkl_validation = np.full((2, 2), dkl)
        r.asymmetry = np.full((2, 3), asym)
        r.validation_iterations = np.array([0, 2])
        return r

    runs = [
        run("plasticity-baseline", "plasticity", 0.0, False, 9.0, 0.1),
        run("no-noise", "none", 0.8, False, 1.0, 0.0),
        run("synaptic-hebbian", "synaptic", 0.8, False, 3.0, 1.0),
        run("synaptic-sal", "synaptic", 0.8, True, 1.2, 0.001),
    ]
    rows = acceptance(runs, "synaptic", 0.8)
    assert [row["value"] for row in rows] == pytest.approx([1000.0, 1.2, 3.0])
    # A sweep of a scenario's baseline and SAL alone (Fig. 5's 20-seed plasticity sweep)
    # decides the one criterion that compares those two, against its own baseline.
    runs = [runs[0], run("plasticity-sal", "plasticity", 0.8, True, 18.0, 0.002)]
    runs[1].summary["seeds"] = [1, 2, 3]
    rows = acceptance(runs, "plasticity", 0.8)
    assert [(row["criterion"], row["met"], row["seeds"]) for row in rows] == [
        ("D_KL with SAL / noise-free <= 1.5", False, 2)
    ]
    assert rows[0]["value"] == pytest.approx(2.0)
    assert acceptance(runs, "synaptic", 0.8) == []


@pytest.mark.parametrize(
    "convention, dead, psp", [("authors", 51, 49), ("reversible", 51, 50), ("marginals", 50, 50)]
)
def test_conventions_reach_the_neurons(convention, dead, psp):
    """tau_ref = 50 steps: the shortest interval (a neuron that fires whenever it may), the
    PSP length and the bias that keeps the escape threshold at ln 50, in NEST."""
    from salpynn.networks.sampling import SamplingBatch

    from salpynn.pynn import load_backend

    backend = load_backend("nest")
    backend.setup(timestep=0.1, seed=3)
    b = np.array([[20.0, -0.3]])  # neuron 0: p(fire) = 1 - 3e-7 whenever it may
    batch = SamplingBatch(
        backend, np.zeros((1, 2, 2)), b, tau_ref=5.0, escape="logistic", delay=0.1,
        rule=None, resolution=0.1, convention=convention,
    )  # fmt: skip
    times, senders, _, _ = batch.run(200.0)
    np.testing.assert_allclose(np.diff(times[senders == 0]), dead * 0.1, atol=1e-9)
    import nest

    status = nest.GetStatus(batch.network.cells.node_collection)
    batch.end()
    assert status[1]["tau_syn"] == pytest.approx(psp * 0.1)
    assert status[1]["tau_ref"] == pytest.approx(dead * 0.1)
    # The neuron's threshold is ln(dead); the offset makes the model's ln(50).
    assert status[1]["b"] == pytest.approx(-0.3 + np.log(dead / 50), abs=1e-12)


def test_switched_off_synapses_against_a_loop():
    """A synapse j -> k counts when its Hebbian amplitude is <= the threshold and its SAL
    amplitude or its partner's Hebbian amplitude is too; checked against a plain loop on
    amplitudes drawn like the paper's (many exact zeros from the clip), and on a hand case."""
    from salpynn.experiments.sampling_plots import switched_off_synapses

    rng = np.random.default_rng(4)

    def draw(shape):
        xi = np.clip(rng.normal(0.0, 0.8, shape), -1.2, 1.2)
        return np.maximum(0.0, 1.0 + xi)

    gain, sal = draw((50, 5, 5)), draw((50, 5, 5))
    got = switched_off_synapses(gain, sal, 0.05)
    expected = np.zeros_like(got)
    for r in range(50):
        for k in range(5):
            for j in range(5):
                if k != j and gain[r, k, j] <= 0.05:
                    expected[r, k, j] = sal[r, k, j] <= 0.05 or gain[r, j, k] <= 0.05
    np.testing.assert_array_equal(got, expected)
    assert 0 < got.sum() < got.size  # the draw exercises both outcomes
    gain = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.5], [0.02, 1.0, 0.0]])
    sal = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    # (0, 1) and (1, 0): both Hebbian amplitudes 0; (2, 0): weak, SAL 0; diagonal never.
    np.testing.assert_array_equal(
        switched_off_synapses(gain, sal),
        [[False, True, False], [True, False, False], [True, False, False]],
    )
