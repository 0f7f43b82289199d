"""Dale's law: SAL with E-I pathways (paper Fig. 10) in NEST, and ``salpynn run ei-system``."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from salpynn.networks.ei_system import (
    EISystemNetwork,
    EISystemParameters,
    direct_weight,
    effective_weight,
)

from salpynn.config import ConfigError, apply_overrides
from salpynn.experiments.ei_system import EISystemConfig, rate_check, run, simulate
from salpynn.rule import PairRule


@pytest.fixture(scope="module")
def reduced_run():
    # The defaults (seed 97: W_eff asymmetry 1.56 at the start) for 30 s instead of 200 s.
    config = apply_overrides(EISystemConfig(), {"duration": 30_000.0, "n_reports": 30})
    return simulate(config, progress=False)


def _sigma(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class TestEffectiveWeight:
    def test_formula_brute_force(self):
        # Written out term by term, with math.exp, for random parameters.
        rng = np.random.default_rng(3)
        for _ in range(20):
            w_ee, w_ie, w_ei, b_i, b_e = rng.normal([1, 4, -1, -2, 0], [1, 0.5, 0.3, 0.5, 1])
            r = _sigma(b_e)
            expected = w_ee + w_ei * _sigma(w_ie * r + b_i) / r
            got = float(effective_weight(w_ee, w_ie, w_ei, b_i, b_e))
            assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)
            assert float(direct_weight(got, w_ie, w_ei, b_i, b_e)) == pytest.approx(w_ee, abs=1e-12)
        # The paper's means: sigma(4 / 2 - 2) / sigma(0) = 1, so W_eff = W_EE + W_EI.
        assert float(effective_weight(1.5, 4.0, -1.0, -2.0, 0.0)) == 0.5

    def test_orientation_of_the_pathways(self):
        # W_eff_12 (E2 -> E1) runs through I2 (driven by E2, bias b_e[1]), W_eff_21 through I1.
        p = EISystemParameters(
            w_ee_12=1.0, w_ee_21=1.0, w_ie=(4.0, 3.0), w_ei=(-1.0, -2.0), b_i=(-2.0, -1.0)
        )
        eff_12, eff_21 = p.w_eff()
        assert float(eff_12) == pytest.approx(1.0 - 2.0 * _sigma(3.0 * 0.5 - 1.0) / 0.5)
        assert float(eff_21) == pytest.approx(0.0)

    def test_mean_field_against_measured_interneuron(self):
        # The formula's sigma term is the interneuron's on-probability in mean field, and r the
        # presynaptic E's.  Measure both from spikes (state probability = count x tau_ref / T)
        # in the feed-forward system (E1 alone drives I1 and E2) and form W_EE + W_EI p_I / p_E.
        config = EISystemConfig()
        p = EISystemParameters(
            w_ee_21=1.0, pathways="21", **config.interneurons(), tau_ref=config.tau_ref
        )
        from salpynn.pynn import load_backend

        backend = load_backend("nest")
        backend.setup(timestep=0.1, seed=11)
        network = EISystemNetwork(backend, p).build()
        duration = 100_000.0
        network.run(duration)
        counts = [len(s) for s in network.spike_times()]
        backend.sim.end()
        p_e, p_i = (counts[k] * p.tau_ref / duration for k in (0, 2))
        mean_field = _sigma(p.w_ie[0] * p_e + p.b_i[0])
        # About 40,000 spikes each: count noise ~0.003 in p_i.  The closure (sigma of the mean
        # drive instead of the time course over E1's states) is off by 0.09 for seed 97's
        # draws (measured 0.513 vs 0.421): W_eff's own approximation error, whose effect on
        # the rates the rate check bounds.  0.12 still separates it from the interneuron's
        # resting on-probability sigma(b_I) ~ 0.12, which a formula without E's drive gives.
        assert abs(p_i - mean_field) < 0.12, (p_i, mean_field, p_e)
        assert abs(p_i - _sigma(p.b_i[0])) > 0.3
        # The formula's r = sigma(b_E) is the isolated E neuron's on-probability.
        assert abs(p_e - _sigma(p.b_e[0])) < 0.03


class TestValidation:
    @pytest.mark.parametrize(
        ("overrides", "words"),
        [
            ({"w_ee_12": -0.1}, "w_ee_12 must lie in"),
            ({"rule.w_min": -1.0}, r"rule.w_min must be >= 0 \(Dale's law"),
            ({"w_ei_mean": 0.5}, "w_ei_mean must lie in"),
            ({"w_ie_mean": -4.0}, "w_ie_mean must lie in"),
            ({"tau_ref": 2.55}, "tau_ref must be a whole number of time steps"),
            ({"delay": 0.05}, "delay must lie in"),
            ({"rule.w_max": 1.0}, r"w_ee_21 must lie in \[rule.w_min, rule.w_max\]"),
            ({"convention": "bogus"}, "convention"),
        ],
    )
    def test_errors_name_the_parameter_before_running(self, overrides, words, tmp_path):
        out = tmp_path / "run"
        with pytest.raises(ConfigError, match=words):
            run(apply_overrides(EISystemConfig(), overrides), out, progress=False)
        assert not out.exists()  # refused before anything ran or was written


class TestLearning:
    def test_effective_asymmetry_decreases(self, reduced_run):
        eff_12, eff_21 = reduced_run.effective()
        start, end = abs(eff_12[0] - eff_21[0]), abs(eff_12[-1] - eff_21[-1])
        # 1.56 at the start; at eta = 0.002 SAL removes it within ~20 s and the asymmetry then
        # fluctuates by about 0.05-0.1 (seen over 200 s runs).  0.3 of the start (0.47) is a
        # margin of > 4 fluctuations and still fails if SAL does nothing or drives it apart.
        assert start > 1.4
        assert end < 0.3 * start, (start, end)

    def test_direct_weights_stay_excitatory_and_sum_is_kept(self, reduced_run):
        assert min(reduced_run.w_ee_12.min(), reduced_run.w_ee_21.min()) >= 0.0
        # Opposite lags on the two direct synapses: SAL moves their sum only by the changes
        # NEST has not applied yet (< eta per pending pair).
        total = reduced_run.w_ee_12 + reduced_run.w_ee_21
        assert np.all(np.abs(total - 1.8) < 0.02)
        # The direct weights moved a lot: the alignment happened through them.
        assert reduced_run.w_ee_21[-1] < 1.3

    def test_bound_holds_where_alignment_asks_for_a_negative_weight(self):
        # I2 -> E1 inhibits more (-1.4) than I1 -> E2 (-1.0): with both direct weights at 0,
        # W_eff_12 = -1.4 < W_eff_21 = -1.0, so SAL depresses w_ee_21 (E1 -> E2), which would
        # go to about -0.2 without the bound.  A twin with w_min = -inf shows it does.
        from salpynn.pynn import load_backend

        backend = load_backend("nest")
        backend.setup(timestep=0.1, seed=5)
        nets = {}
        for name, w_min in (("bounded", 0.0), ("free", -math.inf)):
            rule = PairRule.sal(tau=2.5, eta=0.01, w_min=w_min, dendritic_delay=0.0)
            p = EISystemParameters(w_ee_12=0.0, w_ee_21=0.0, w_ei=(-1.0, -1.4), rule=rule)
            nets[name] = EISystemNetwork(backend, p).build()
        w = {name: [] for name in nets}
        for _ in range(40):
            backend.sim.run(1000.0)
            for name, net in nets.items():
                w[name].append(net.weights())
        backend.sim.end()
        bounded, free = np.array(w["bounded"]), np.array(w["free"])
        assert free[:, 1].min() < -0.1  # the test situation: the free weight goes negative
        assert bounded.min() >= 0.0
        # Pressed against the bound: NEST reads the weight before the depression of the
        # latest post spikes is applied, so it sits just above 0 rather than at 0.
        assert bounded[:, 1].min() < 0.02 and bounded[-20:, 1].mean() < 0.1
        # With w_21 held at 0 the other weight takes the whole alignment: W_eff_12 -> -1.0.
        assert bounded[-10:, 0].mean() > 0.25


class TestRateCheck:
    def test_direct_system_with_w_eff_fires_like_the_ei_system(self):
        config = apply_overrides(EISystemConfig(), {"w_ee_21": 1.0})
        check = rate_check(config, duration=100_000.0)
        p_ei, p_direct = check.state_probabilities()
        # Tolerance: 4 standard errors of the count difference (~0.02 with ~40,000 spikes
        # each) plus 0.03 for the mean-field approximation in W_eff (differences up to 0.02
        # measured over W_EE in 0..2).
        tolerance = 4 * check.standard_error() + 0.03
        assert np.all(np.abs(p_ei - p_direct) < tolerance), (p_ei, p_direct, tolerance)
        # Ignoring the inhibitory pathway (direct weight W_EE = 1 instead of W_eff ~ 0) fails
        # the same check on E2 by a wide margin.
        naive = rate_check(config, duration=100_000.0, w_direct=(0.0, 1.0))
        p_ei, p_naive = naive.state_probabilities()
        assert abs(p_ei[1] - p_naive[1]) > 2 * tolerance[1]


class TestCommandLine:
    def test_run_and_plot(self, tmp_path):
        out = tmp_path / "run"
        proc = subprocess.run(
            [sys.executable, "-m", "salpynn", "run", "ei-system", "--out", str(out),
             "--set", "duration=20000", "--set", "n_reports=10", "--no-progress"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        summary = json.loads((out / "summary.json").read_text())
        for key in ("w_eff_12_initial", "w_eff_21_initial", "w_eff_12_final", "w_eff_21_final"):
            assert math.isfinite(summary[key])
        assert abs(summary["w_eff_12_final"] - summary["w_eff_21_final"]) < abs(
            summary["w_eff_12_initial"] - summary["w_eff_21_initial"]
        )
        table = np.loadtxt(out / "trajectory.csv", delimiter=",", skiprows=1)
        assert table.shape == (11, 5)
        assert table[-1, 3] == pytest.approx(summary["w_eff_12_final"])
        proc = subprocess.run(
            [sys.executable, "-m", "salpynn", "plot", str(out)], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        figure = out / "fig10-ei-system.png"
        assert figure.stat().st_size > 10_000
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
