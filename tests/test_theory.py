"""The exact STDD oracle (:mod:`salpynn.theory`): algebra, an independent NumPy Monte-Carlo of
the discrete-time model, and NEST.

Statistical tolerances are derived, not tuned: every statistical comparison is a z-score
against the oracle, and the threshold keeps the probability of *any* false alarm in a test
below 1 % (Bonferroni over the comparisons of the test; binomial standard errors for the
Monte-Carlo, Student's t with ``replicas - 1`` degrees of freedom for the replica-based
standard errors of the NEST comparison).  ``test_nest_rejects_other_conventions`` shows that
the same data reject the oracle of every one-step change of the conventions.
"""

from __future__ import annotations

import doctest
import math
import time

import numpy as np
import pytest
from scipy import stats

import salpynn.theory as theory
from salpynn.rule import PairRule
from salpynn.theory import (
    TwoNeuronChain,
    TwoNeuronModel,
    drift_grid,
    firing_rates,
    nullcline,
    renewal_rate,
    sal_drift,
)
from tests.conftest import require

H = 0.1  # ms per step (the experiments' resolution)
#: Family-wise false-alarm probability of each statistical test.
FAMILY_ALPHA = 0.01

MODELS = [
    TwoNeuronModel(w_12=1.5, w_21=0.5, b_1=-0.5, b_2=-0.2, tau_ref=25),
    TwoNeuronModel(w_12=-1.2, w_21=2.0, b_1=0.8, b_2=-1.0, tau_ref=7, escape="exp"),
    TwoNeuronModel(w_12=0.4, w_21=0.8, b_1=-0.5, b_2=-0.5, tau_ref=10, tau_syn=6),
    TwoNeuronModel(w_12=1.0, w_21=0.6, b_1=-0.5, b_2=0.5, tau_ref=10, psp="alpha", tau_syn=10 / 3),
]


def sal_rules(tau: float = 1.0, **kwargs: object) -> list[PairRule]:
    """SAL with both pairings and both windows; by default ``eta = 1`` (drift per unit
    learning rate) and lags between spike times (``dendritic_delay = 0``, the experiments')."""
    kwargs = {"eta": 1.0, "dendritic_delay": 0.0, **kwargs}
    return [
        PairRule.sal(tau=tau, pairing=pairing, window=window, **kwargs)
        for pairing in ("nearest", "all")
        for window in ("exp", "triangular")
    ]


def z_threshold(comparisons: int, dof: int | None = None) -> float:
    """Two-sided threshold for ``comparisons`` z-scores (normal, or Student's t with ``dof``)
    such that any of them exceeds it by chance with probability ``FAMILY_ALPHA``."""
    tail = FAMILY_ALPHA / (2 * comparisons)
    return float(stats.norm.isf(tail) if dof is None else stats.t.isf(tail, dof))


class TestChain:
    @pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m.psp}-{m.escape}-{m.tau_ref}")
    def test_probabilities_sum_to_one(self, model):
        chain = TwoNeuronChain(model)
        rows = np.asarray(chain.transfer.sum(axis=1)).ravel()
        assert np.abs(rows - 1.0).max() < 1e-12
        pi = chain.stationary
        assert pi.min() >= 0.0 and abs(pi.sum() - 1.0) < 1e-12
        # Nearest pairing: every spike of either neuron forms exactly one pair, so the lag
        # distribution (grid plus its exact tail) is normalised to rate_1 + rate_2.
        rates = chain.rates()
        for delta in (0.0, H):
            for pre in (1, 2):
                total = chain.nearest_pair_rate(pre, delta)
                assert total == pytest.approx(sum(rates), rel=1e-10)
                s = chain.stdd(pre, "nearest", max_lag=40 * model.tau_ref, lag_delay=delta)
                assert s.probabilities.sum() + s.tail == pytest.approx(1.0, abs=1e-12)
                assert s.tail < 1e-6

    @pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m.psp}-{m.escape}-{m.tau_ref}")
    def test_stationary_is_fixed_point(self, model):
        chain = TwoNeuronChain(model)
        pi = chain.stationary
        assert np.abs(chain.transfer.T @ pi - pi).sum() < 1e-12
        # ... and the chain converges to it from "never spiked" (the state NEST starts in).
        v = np.zeros(chain.n_states)
        v[-1] = 1.0
        step = chain.transfer.T.tocsr()
        for _ in range(50 * model.cap):
            v = step @ v
        assert np.abs(v - pi).sum() < 1e-9

    @pytest.mark.parametrize("escape", ["logistic", "exp"])
    @pytest.mark.parametrize(("b_1", "b_2", "tau_ref"), [(0.0, -1.0, 10), (2.0, 0.3, 4)])
    def test_zero_weights_give_renewal_rates_and_flat_correlogram(self, escape, b_1, b_2, tau_ref):
        model = TwoNeuronModel(b_1=b_1, b_2=b_2, tau_ref=tau_ref, escape=escape, w_12=0, w_21=0)
        chain = TwoNeuronChain(model)
        r_1, r_2 = chain.rates()
        assert r_1 == pytest.approx(renewal_rate(b_1, tau_ref, escape), rel=1e-12)
        assert r_2 == pytest.approx(renewal_rate(b_2, tau_ref, escape), rel=1e-12)
        # Independent neurons: pairs at every lag at the product of the rates.
        s = chain.stdd(pairing="all", max_lag=3 * tau_ref)
        assert np.abs(s.rate / (r_1 * r_2 * H / 1000.0) - 1.0).max() < 1e-10

    def test_symmetric_system_has_symmetric_stdd_and_no_drift(self):
        for w, b, psp in ((0.7, -0.5, "rect"), (-1.1, 0.4, "rect"), (0.9, -0.2, "alpha")):
            # alpha: cut at 90 steps, where the kernel is 1e-5 of its peak
            extra = {"tau_syn": 5.0, "t_max": 90} if psp == "alpha" else {}
            model = TwoNeuronModel(w_12=w, w_21=w, b_1=b, b_2=b, tau_ref=15, psp=psp, **extra)
            chain = TwoNeuronChain(model)
            scale = chain.rates()[0]
            for pairing in ("nearest", "all"):
                s = chain.stdd(pairing=pairing, max_lag=60)
                assert np.abs(s.rate - s.rate[::-1]).max() < 1e-12 * scale, (psp, pairing)
            for rule in sal_rules(tau=1.5):
                d_12, d_21 = chain.drift(rule, lag_delay=0.0)
                assert abs(d_12) < 1e-9 * scale and abs(d_21) < 1e-9 * scale
                # Lags that include the 0.1 ms delay are shifted by a step: the window is no
                # longer antisymmetric around the symmetric STDD, and both weights drift
                # alike (SAL then changes w_12 + w_21, not w_12 - w_21).
                d_12, d_21 = chain.drift(rule, lag_delay=H)
                assert d_12 == pytest.approx(d_21, rel=1e-9) and abs(d_12) > 1e-6 * scale

    def test_larger_weight_decreases(self):
        # The authors' check (rectangular PSP, tau_ref = 10, b = 0): (1.5, 0.5) and mirrored.
        for w_12, w_21 in ((1.5, 0.5), (0.5, 1.5)):
            chain = TwoNeuronChain(TwoNeuronModel(w_12=w_12, w_21=w_21, tau_ref=10))
            for rule in sal_rules():
                d_12, d_21 = chain.drift(rule)
                # Lags between spike times: both synapses see the same pairs with opposite
                # lags, so the drifts are exactly opposite; the larger weight decreases.
                assert d_12 == pytest.approx(-d_21, rel=1e-9)
                assert np.sign(d_12) == -np.sign(w_12 - w_21)
                assert abs(d_12) > 10.0  # per second and unit eta; the scale is ~100

    def test_diagonal_with_unequal_biases(self):
        """Where the authors' "rectangular PSPs stay on the diagonal" holds under NEST's
        conventions, and where it does not (module docstring)."""
        rules = sal_rules()
        # tau_syn = tau_ref (the experiments): the correlogram is asymmetric on the diagonal
        # and every SAL variant drifts; confirmed by NEST in TestNest.
        nest_like = TwoNeuronChain(TwoNeuronModel(w_12=1, w_21=1, b_1=-0.5, b_2=0.5, tau_ref=10))
        reference = abs(sal_drift(TwoNeuronModel(w_12=1.5, w_21=0.5, tau_ref=10), rules[0])[0])
        s = nest_like.stdd(pairing="all", max_lag=20)
        assert np.abs(s.rate - s.rate[::-1]).max() > 0.05 * s.rate.max()
        for rule in rules:
            assert nest_like.drift(rule)[0] > 0.1 * reference
        # tau_syn = tau_ref - 1 step: time-reversible, symmetric correlogram for any biases.
        for b_1, b_2, w in ((-0.5, 0.5, 1.0), (-1.0, 0.7, -0.8), (0.3, -1.2, 2.0)):
            model = TwoNeuronModel(w_12=w, w_21=w, b_1=b_1, b_2=b_2, tau_ref=10, tau_syn=9)
            chain = TwoNeuronChain(model)
            s = chain.stdd(pairing="all", max_lag=40)
            assert np.abs(s.rate - s.rate[::-1]).max() < 1e-12 * s.rate.max()
            scale = chain.rates()[0]
            for rule in rules:
                d_12, _ = chain.drift(rule.with_(dendritic_delay=0.0))
                if rule.pairing == "all" or rule.window == "triangular":
                    assert abs(d_12) < 1e-9 * scale, rule
                else:  # nearest pairing, exponential window: unequal rates move it
                    assert abs(d_12) > 1e-3 * scale
        # The numbers quoted in the module docstring.
        rule = rules[0].with_(dendritic_delay=0.0)
        near = nullcline([1.0], rule, b_1=-0.5, b_2=0.5, tau_ref=10)
        every = nullcline([1.0], rule.with_(pairing="all"), b_1=-0.5, b_2=0.5, tau_ref=10)
        assert near[0] == pytest.approx(1.45, abs=0.005)
        assert every[0] == pytest.approx(1.16, abs=0.005)
        reversible = nullcline(
            [1.0], rule.with_(pairing="all"), b_1=-0.5, b_2=0.5, tau_ref=10, tau_syn=9
        )
        assert reversible[0] == pytest.approx(1.0, abs=1e-6)

    def test_nullcline_is_the_diagonal_for_equal_biases(self):
        w_21 = np.array([-1.5, -0.25, 0.5, 1.75])
        for rule in sal_rules(tau=1.5):
            w_12 = nullcline(w_21, rule, b_1=-0.3, b_2=-0.3, tau_ref=15, xtol=1e-9)
            np.testing.assert_allclose(w_12, w_21, atol=1e-6)
        # Only w_12 plastic: its own drift vanishes on the diagonal too (same argument).
        w_12 = nullcline(
            w_21, sal_rules(tau=1.5)[0], b_1=-0.3, b_2=-0.3, tau_ref=15, quantity="w_12"
        )
        np.testing.assert_allclose(w_12, w_21, atol=1e-6)
        # No sign change in the bracket: NaN.
        assert np.isnan(nullcline([0.0], sal_rules()[0], tau_ref=10, bracket=(1.0, 2.0)))[0]

    def test_stdd_and_drift_agree_with_the_rule_module(self):
        from salpynn.rule import expected_drift

        model = TwoNeuronModel(w_12=0.3, w_21=1.2, b_1=-0.4, b_2=0.1, tau_ref=12)
        chain = TwoNeuronChain(model)
        for rule in sal_rules(tau=1.2, eta=0.01):
            for delta in (0.0, H):
                exact = chain._synapse_drift(1, rule, delta)  # w_21: pre 1
                s = chain.stdd(1, rule.pairing, max_lag=600, lag_delay=delta)
                folded = s.expected_drift(rule)
                assert folded == pytest.approx(exact, rel=1e-9, abs=1e-12)
                via_rule = rule.eta * s.rate.sum() * expected_drift(s.lags, s.rate, rule)
                assert via_rule == pytest.approx(exact, rel=1e-9, abs=1e-12)
                assert chain.drift(rule, lag_delay=delta)[1] == exact
        # The exponential tail is summed exactly: a short grid misses it, drift() does not.
        rule = PairRule.sal(tau=1.2, eta=1.0, pairing="all")
        short = chain.stdd(1, "all", max_lag=12, lag_delay=0.0).expected_drift(rule)
        assert abs(short - chain.drift(rule, lag_delay=0.0)[1]) > 1e-3 * abs(short)

    def test_default_lag_delay_is_the_synapses(self):
        chain = TwoNeuronChain(TwoNeuronModel(w_12=1.5, w_21=0.5, b_1=0.2, tau_ref=10))
        whole = PairRule.sal(tau=1.0, eta=1.0)  # dendritic_delay -1: the whole 0.1 ms
        assert chain.drift(whole) == chain.drift(whole, lag_delay=H)
        zero = whole.with_(dendritic_delay=0.0)
        assert chain.drift(zero) == chain.drift(zero, lag_delay=0.0)
        assert chain.drift(whole) != chain.drift(zero)

    def test_thirty_by_thirty_grid_is_fast(self):
        # Fig. 2e's phase plane: tau_ref = 15 steps, rectangular, 30 x 30 weights.
        w = np.linspace(-2.0, 2.0, 30)
        rule = PairRule.sal(tau=1.5, eta=1.0, dendritic_delay=0.0)
        start = time.process_time()
        d_12, d_21 = drift_grid(w, w, rule, tau_ref=15, b_1=-0.5, b_2=-0.2)
        cpu = time.process_time() - start
        assert cpu < 60.0, cpu  # the brief: under a minute on one core (measured: ~3 s)
        assert d_12.shape == d_21.shape == (30, 30)
        np.testing.assert_allclose(d_12, -d_21, rtol=1e-9, atol=1e-9)
        # [i, j] is (w_12[j], w_21[i]): above the diagonal (w_21 > w_12) w_12 grows.
        assert d_12[25, 5] > 0 > d_12[5, 25]

    def test_invalid_parameters(self):
        with pytest.raises(ValueError, match="tau_syn \\+ delay"):
            TwoNeuronModel(tau_ref=10, tau_syn=11)
        with pytest.raises(ValueError, match="tau_syn \\+ delay"):
            TwoNeuronModel(tau_ref=10, delay=2)
        with pytest.raises(ValueError, match="tau_ref"):
            TwoNeuronModel(tau_ref=10.5)
        with pytest.raises(ValueError, match="t_max"):
            TwoNeuronModel(t_max=40)
        with pytest.raises(ValueError, match="w_12"):
            TwoNeuronModel(w_12=math.nan)
        with pytest.raises(ValueError, match="resolution"):
            TwoNeuronModel.from_ms(tau_ref=1.05)
        chain = TwoNeuronChain(TwoNeuronModel())
        with pytest.raises(ValueError, match="lag delay"):
            chain.stdd(pairing="nearest", lag_delay=0.2)
        with pytest.raises(ValueError, match="pairing"):
            chain.stdd(pairing="adjacent")
        assert TwoNeuronModel.from_ms(tau_ref=2.5, tau_syn=2.4) == TwoNeuronModel(
            tau_ref=25, tau_syn=24
        )

    def test_doctests(self):
        result = doctest.testmod(theory)
        assert result.attempted > 10 and result.failed == 0


def simulate_discrete(model: TwoNeuronModel, replicas: int, steps: int, seed: int) -> np.ndarray:
    """The discrete-time model written from ``sampling_neuron``'s update loop, not from the
    chain: refractory counters, and PSPs summed from the spike history (so overlapping PSPs
    would add up).  Returns ``spikes[step, replica, neuron]``."""
    rng = np.random.default_rng(seed)
    n_syn, d = round(model.n_syn), model.delay
    history = np.zeros((replicas, 2, d + n_syn), dtype=bool)  # [..., 0] = previous step
    refractory = np.zeros((replicas, 2), dtype=np.int64)  # NEST's r_
    weights = np.array([model.w_12, model.w_21])
    biases = np.array([model.b_1, model.b_2])
    out = np.zeros((steps, replicas, 2), dtype=bool)
    for t in range(steps):
        # A spike sent d steps ago arrives now and lasts n_syn steps.
        arrived = history[:, :, d - 1 : d - 1 + n_syn].sum(axis=2)
        u = biases + weights * arrived[:, ::-1]  # neuron 1 hears neuron 2 and vice versa
        counting_down = refractory > 1
        refractory = np.where(counting_down, refractory - 1, 0)
        fires = ~counting_down & (rng.random((replicas, 2)) < model.spike_probability(u))
        refractory[fires] = model.tau_ref
        history = np.roll(history, 1, axis=2)
        history[:, :, 0] = fires
        out[t] = fires
    return out


class TestMonteCarlo:
    """A tiny system against an independent NumPy simulation of many replicas.

    Each replica contributes one Bernoulli sample per quantity (all measured around one step
    ``T0``), so the standard errors are exactly binomial, ``sqrt(p (1 - p) / replicas)`` with
    the oracle's ``p``.  The burn-in is long enough for the chain started in "never spiked"
    (as the simulation is) to be within 1e-9 of stationarity.
    """

    MODEL = TwoNeuronModel(w_12=2.0, w_21=-1.5, b_1=0.5, b_2=1.0, tau_ref=3)
    REPLICAS = 200_000
    T0 = 100
    LAGS = 6

    @pytest.fixture(scope="class")
    @classmethod
    def spikes(cls):
        chain = TwoNeuronChain(cls.MODEL)
        v = np.zeros(chain.n_states)
        v[-1] = 1.0
        for _ in range(cls.T0):
            v = chain.transfer.T @ v
        assert np.abs(v - chain.stationary).sum() < 1e-9  # burn-in suffices
        return simulate_discrete(cls.MODEL, cls.REPLICAS, cls.T0 + cls.LAGS + 1, seed=2024)

    def _nearest_events(self, s: np.ndarray, lag: int, gap_pre_event: int, delta: float):
        """Per replica: the post spike (causal, lag > 0) or pre spike (lag < 0) at T0 + |lag|
        pairs with the partner spike at T0 under the pairing rule with lag delay ``delta``."""
        t0 = self.T0
        pre, post = 0, 1  # synapse 1 -> 2
        if lag >= 0:
            # post at t0 + lag, latest pre at <= t0 + lag + gap: no pre in (t0, t0 + lag + gap]
            gap = 0 if delta > 0 else -1
            x, y, m = post, pre, lag
        else:
            gap = gap_pre_event
            x, y, m = pre, post, -lag
        if m + gap < 0:
            return np.zeros(s.shape[1], dtype=bool)
        between = s[t0 + 1 : t0 + m + gap + 1, :, y].any(axis=0)
        return s[t0, :, y] & s[t0 + m, :, x] & ~between

    def test_against_numpy_simulation(self, spikes):
        chain = TwoNeuronChain(self.MODEL)
        n, t0, cap = self.REPLICAS, self.T0, self.MODEL.cap
        observed, expected = [], []

        # Ages at T0 from the spike history.
        ages = []
        for k in range(2):
            age = np.full(n, cap)
            for back in range(cap, 0, -1):
                age = np.where(spikes[t0 - back, :, k], back, age)
            ages.append(age)
        state = (ages[0] - 1) * cap + (ages[1] - 1)
        observed += list(np.bincount(state, minlength=chain.n_states) / n)
        expected += list(chain.stationary)

        lags = np.arange(-self.LAGS, self.LAGS + 1)
        per_step = H / 1000.0
        correlogram = chain.stdd(pairing="all", max_lag=self.LAGS).rate * per_step
        for lag, p in zip(lags, correlogram, strict=True):
            first, second = (t0, t0 + lag) if lag >= 0 else (t0 - lag, t0)
            observed.append(np.mean(spikes[first, :, 0] & spikes[second, :, 1]))
            expected.append(p)
        for delta, anticausal_gap in ((0.0, -1), (H, -2)):
            nearest = chain.stdd(pairing="nearest", max_lag=self.LAGS, lag_delay=delta)
            for lag, p in zip(lags, nearest.rate * per_step, strict=True):
                observed.append(np.mean(self._nearest_events(spikes, lag, anticausal_gap, delta)))
                expected.append(p)

        observed, expected = np.array(observed), np.array(expected)
        impossible = expected == 0.0
        assert np.all(observed[impossible] == 0.0)  # e.g. nearest pairs at lag 0 with delta = 0
        p = expected[~impossible]
        z = (observed[~impossible] - p) / np.sqrt(p * (1.0 - p) / n)
        assert np.abs(z).max() < z_threshold(p.size), np.round(z, 2)


# -- NEST -------------------------------------------------------------------------------------

#: The systems simulated in NEST (rectangular PSPs unless given; tau_syn = tau_ref unless given).
NEST_SYSTEMS = {
    # On the diagonal with unequal biases: the oracle predicts a clear drift.
    "diagonal": TwoNeuronModel(w_12=1.0, w_21=1.0, b_1=-0.5, b_2=0.5, tau_ref=10),
    # Strong, mixed-sign weights and a short refractory time: high rates, every step counts.
    "strong": TwoNeuronModel(w_12=1.5, w_21=-1.0, b_1=0.5, b_2=0.0, tau_ref=5),
    # tau_syn = tau_ref - 1 step: the time-reversible case.
    "reversible": TwoNeuronModel(w_12=1.0, w_21=1.0, b_1=-0.5, b_2=0.5, tau_ref=10, tau_syn=9),
    # Exponential escape noise.
    "exp-escape": TwoNeuronModel(w_12=-0.8, w_21=0.6, b_1=0.2, b_2=-0.3, tau_ref=8, escape="exp"),
    # Alpha PSPs short enough (tau_syn = 1 step) that the chain's "latest spike only" is
    # accurate: an older spike's tail is at most kappa(n_ref) = 4.5e-3 per unit weight.
    "alpha": TwoNeuronModel(
        w_12=1.2, w_21=0.7, b_1=-0.5, b_2=0.3, tau_ref=10, tau_syn=1.0, psp="alpha"
    ),
}
REPLICAS = 32
DURATION = 40_000.0  # ms per replica
SETTLE = 100.0  # ms discarded at the start (NEST starts in "never spiked")
HIST_REACH = 2  # histograms over |lag| <= HIST_REACH * tau_ref


@pytest.fixture(scope="module")
def nest_spikes():
    """Spike trains of ``REPLICAS`` independent copies of every system, frozen weights
    (``static_synapse``), one NEST kernel: ``{name: [(spikes_1, spikes_2), ...]}``."""
    try:
        import salpynn.nest as snest

        nest = snest.import_nest()
    except ImportError as err:  # pragma: no cover - depends on the installation
        require(False, f"NEST is not importable: {err}")
    from salpynn.build import ModuleNotBuiltError, build_module

    try:
        build_module(verbose=False)  # instantaneous when the current sources are built
    except Exception as err:  # pragma: no cover - a missing compiler
        require(False, f"salpynnmodule cannot be built: {err}")
    nest.ResetKernel()
    try:
        snest.install()
    except ModuleNotBuiltError as err:  # pragma: no cover
        require(False, str(err))
    nest.set(resolution=H, rng_seed=4321, local_num_threads=1)
    groups = {}
    for name, m in NEST_SYSTEMS.items():
        common = {
            "tau_ref": m.tau_ref * H,
            "tau_syn": m.n_syn * H,
            "escape": m.escape,
            "psp": m.psp,
        }
        one = nest.Create("sampling_neuron", REPLICAS, params={**common, "b": m.b_1})
        two = nest.Create("sampling_neuron", REPLICAS, params={**common, "b": m.b_2})
        delay = m.delay * H
        syn_12 = {"synapse_model": "static_synapse", "weight": m.w_12, "delay": delay}
        syn_21 = {"synapse_model": "static_synapse", "weight": m.w_21, "delay": delay}
        nest.Connect(two, one, "one_to_one", syn_12)  # w_12: 2 -> 1
        nest.Connect(one, two, "one_to_one", syn_21)
        groups[name] = (one, two)
    recorder = nest.Create("spike_recorder")
    for one, two in groups.values():
        nest.Connect(one + two, recorder)
    nest.Simulate(DURATION)
    events = recorder.events
    senders, times = np.asarray(events["senders"]), np.asarray(events["times"])
    keep = times > SETTLE
    senders, times = senders[keep], times[keep]
    out = {}
    for name, (one, two) in groups.items():
        out[name] = [
            (np.sort(times[senders == a]), np.sort(times[senders == b]))
            for a, b in zip(one.tolist(), two.tolist(), strict=True)
        ]
    nest.ResetKernel()
    return out


def replica_z(values: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """z-scores of replica means (axis 0) against ``expected``, with the replicas' spread."""
    se = values.std(axis=0, ddof=1) / math.sqrt(values.shape[0])
    return (values.mean(axis=0) - expected) / np.maximum(se, 1e-300)


def nest_histograms(model: TwoNeuronModel, pairs, pairing: str) -> np.ndarray:
    from salpynn.analysis import stdd

    reach = HIST_REACH * model.tau_ref * H
    return np.array([stdd(a, b, bin_size=H, max_lag=reach, pairing=pairing)[0] for a, b in pairs])


def oracle_counts(model: TwoNeuronModel, pairing: str, reach: int | None = None) -> np.ndarray:
    """Expected counts per lag bin of one replica, ``|lag| <= reach`` steps (default
    ``HIST_REACH * tau_ref``)."""
    reach = HIST_REACH * model.tau_ref if reach is None else reach
    return TwoNeuronChain(model).stdd(1, pairing, max_lag=reach).counts(DURATION - SETTLE)


def _comparisons() -> int:
    bins = sum(2 * (2 * HIST_REACH * m.tau_ref + 1) for m in NEST_SYSTEMS.values())
    rates = 2 * len(NEST_SYSTEMS)
    drifts = len(NEST_SYSTEMS) * 4 * 2 * 2  # rules x lag delays x synapses
    return bins + rates + drifts


class TestNest:
    """The oracle against ``sampling_neuron`` in NEST.

    Each system runs as ``REPLICAS`` independent copies for ``DURATION`` ms; every statistic
    is computed per replica with the analysis layer and compared through its replica mean and
    standard error.  The threshold (Student's t, ``REPLICAS - 1`` degrees of freedom,
    Bonferroni over all comparisons of this class) is about 4.9.
    """

    Z_MAX = z_threshold(_comparisons(), dof=REPLICAS - 1)

    @pytest.mark.parametrize("name", list(NEST_SYSTEMS))
    def test_rates(self, nest_spikes, name):
        model = NEST_SYSTEMS[name]
        counts = np.array([[a.size, b.size] for a, b in nest_spikes[name]], dtype=float)
        z = replica_z(counts / ((DURATION - SETTLE) / 1000.0), np.array(firing_rates(model)))
        assert np.abs(z).max() < self.Z_MAX, z

    @pytest.mark.parametrize("name", list(NEST_SYSTEMS))
    @pytest.mark.parametrize("pairing", ["all", "nearest"])
    def test_stdd_per_lag(self, nest_spikes, name, pairing):
        """Every lag bin of the correlogram (with its bin at dt = 0: simultaneous spikes) and of
        the nearest-pair STDD: PSP onset, PSP length and refractoriness each move a bin by a
        factor of about exp(w), far outside the tolerance."""
        model = NEST_SYSTEMS[name]
        observed = nest_histograms(model, nest_spikes[name], pairing)
        expected = oracle_counts(model, pairing)
        zero = expected == 0.0
        assert np.all(observed[:, zero] == 0.0)  # e.g. no nearest pairs at lag 0
        z = replica_z(observed[:, ~zero], expected[~zero])
        assert np.abs(z).max() < self.Z_MAX, np.round(z, 1)

    @pytest.mark.parametrize("name", list(NEST_SYSTEMS))
    @pytest.mark.parametrize("dendritic_delay", [0.0, -1.0])
    def test_drift(self, nest_spikes, name, dendritic_delay):
        """The drift of both weights from the recorded spikes
        (:func:`salpynn.analysis.predicted_drift`) for both pairings and windows, with lags
        between spike times (``dendritic_delay = 0``) or including the 0.1 ms delay (-1:
        simultaneous spikes then form causal pairs)."""
        from salpynn.analysis import predicted_drift

        model = NEST_SYSTEMS[name]
        chain = TwoNeuronChain(model)
        span = {"t_start": SETTLE, "t_stop": DURATION}
        for rule in sal_rules(tau=model.tau_ref * H, dendritic_delay=dendritic_delay):
            delta = rule.lag_delay(model.delay * H)
            measured = np.array(
                [
                    [
                        predicted_drift(b, a, rule, delay=delta, **span),  # w_12: 2 -> 1
                        predicted_drift(a, b, rule, delay=delta, **span),
                    ]
                    for a, b in nest_spikes[name]
                ]
            )
            exact = np.array(chain.drift(rule))
            z = replica_z(measured, exact)
            assert np.abs(z).max() < self.Z_MAX, (rule, exact, measured.mean(0), z)
            if name == "diagonal":
                # The diagonal's drift is far from zero: NEST confirms the fixed point moves.
                assert np.abs(replica_z(measured, np.zeros(2))).min() > 3 * self.Z_MAX

    def test_nest_rejects_other_conventions(self, nest_spikes):
        """The same NEST correlogram against the oracle of conventions one step off: the PSP
        arriving a step later, one step shorter or longer, and the refractory time one step
        longer (with the logistic offset ln(n_ref) following it).  Each is rejected by far."""
        base = NEST_SYSTEMS["reversible"]
        observed = nest_histograms(base, nest_spikes["reversible"], "all")
        alternatives = {
            "PSP a step later": base.with_(delay=2),
            "PSP a step shorter": base.with_(tau_syn=8),
            "PSP a step longer": base.with_(tau_syn=10),
            "refractory a step longer": base.with_(tau_ref=11),
        }
        assert np.abs(replica_z(observed, oracle_counts(base, "all"))).max() < self.Z_MAX
        for label, alternative in alternatives.items():
            reach = HIST_REACH * base.tau_ref
            z = replica_z(observed, oracle_counts(alternative, "all", reach))
            assert np.abs(z).max() > 3 * self.Z_MAX, label
