"""Scenario tests of the PyNN layer: the same test body on every backend (NEST and Brian2).

Each test takes the ``backend`` fixture (``salpynn.pynn.load_backend`` for ``"nest"`` and
``"brian2"``), calls ``backend.setup`` itself and uses only the PyNN API and salpynn's model
classes.  The one documented semantic difference is when a SAL weight shows the change due to
a postsynaptic spike: NEST applies it at the next presynaptic spike (as every NEST STDP
synapse), Brian2 at once (:data:`POST_UPDATES_LAZY`).

Statistical thresholds are derived in each test from the sample size, and the seeds are fixed.
In CI (``CI=true``) a missing backend fails instead of skipping.

Brian2 runs with its default code generation target ("auto": Cython when a compiler works).
Cython compiles each new code object once (about 2 s each, cached in ``~/.cython``) and then
runs these small networks several times faster than the numpy target.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from salpynn.analysis.states import (
    binary_states,
    boltzmann_distribution,
    kl_divergence,
    sampled_distribution,
)
from salpynn.pynn import BACKENDS, ESCAPES, Backend, load_backend
from salpynn.rule import PairRule, weight_trajectory
from tests.conftest import pooled_chi_square, require

#: Does a postsynaptic spike change the reported weight only at the next presynaptic spike?
POST_UPDATES_LAZY = {"nest": True, "brian2": False}

#: Brian2 code generation target for these tests (see the module docstring).
BRIAN2_TARGET = "numpy"

SILENT_BIAS = -50.0  # exp(-50) ~ 2e-22 per step: such a neuron fires only when driven


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    name = request.param
    try:
        loaded = load_backend(name)
    except ImportError as err:
        require(False, f"PyNN backend {name!r} is not importable: {err}")
    if name == "nest":
        from salpynn.build import ModuleNotBuiltError

        try:
            loaded.setup()  # loads salpynnmodule; every test calls setup again with its values
        except ModuleNotBuiltError as err:
            require(False, str(err))
    else:
        import brian2

        brian2.prefs.codegen.target = BRIAN2_TARGET
    return loaded


def spike_trains(population) -> list[np.ndarray]:
    """Spike times (ms) per neuron, in population order."""
    segment = population.get_data("spikes", clear=False).segments[0]
    trains = sorted(segment.spiketrains, key=lambda st: st.annotations["source_index"])
    return [np.sort(np.asarray(st.rescale("ms").magnitude)) for st in trains]


def signal(population, name: str) -> np.ndarray:
    """Recorded signal, shape (samples, neurons); sample m is at time m * dt."""
    segment = population.get_data(name, clear=False).segments[0]
    (recorded,) = [sig for sig in segment.analogsignals if sig.name == name]
    return np.asarray(recorded.magnitude)


# ---------------------------------------------------------------------------------------------
# (a) SAL weights against the pair-by-pair reference
# ---------------------------------------------------------------------------------------------


class TestSALRule:
    # A binary-exact grid: pyNN.nest shifts SpikeSourceArray times by -min_delay in floating
    # point, and times such as 1102.9 - 0.1 can land one step late; multiples of 1/8 ms do
    # not.  (Brian2 computes in seconds, where they are not exact; it is within 1e-14 anyway.)
    H = 0.125
    SAL_DELAY = 1.0  # dendritic: dt = t_post + 1 ms - t_pre
    DRIVE_DELAY = 0.5
    DURATION = 2000.0
    W0 = 0.5

    @classmethod
    def grid_train(cls, rng: np.random.Generator, rate_hz: float, min_isi: float) -> np.ndarray:
        steps = rng.choice(
            np.arange(round(10.0 / cls.H), round((cls.DURATION - 100.0) / cls.H)),
            size=int(rate_hz * cls.DURATION / 1000.0),
            replace=False,
        )
        times = np.sort(steps) * cls.H
        kept = [times[0]]
        for t in times[1:]:
            if t - kept[-1] >= min_isi:
                kept.append(t)
        return np.asarray(kept)

    @pytest.mark.parametrize(
        ("window", "pairing"),
        [("exp", "nearest"), ("exp", "all"), ("triangular", "nearest"), ("triangular", "all")],
    )
    @pytest.mark.parametrize("dendritic_delay", [-1.0, 0.0])  # whole delay; spike-time lags
    def test_final_weight_matches_reference(
        self, backend, window: str, pairing: str, dendritic_delay: float
    ) -> None:
        lag_delay = self.SAL_DELAY if dendritic_delay < 0 else dendritic_delay
        backend.setup(timestep=self.H, seed=5)
        sim = backend.sim
        rng = np.random.default_rng(11)
        pre_times = self.grid_train(rng, 25.0, min_isi=1.0)
        post_times = self.grid_train(rng, 25.0, min_isi=1.5)
        # Postsynaptic spikes whose effective time equals a presynaptic one (never paired),
        # and a trailing one after the last presynaptic spike (NEST shows it only lazily).
        coincident = pre_times[5:9] - lag_delay
        post_times = np.union1d(post_times, coincident)
        post_times = post_times[np.concatenate([[True], np.diff(post_times) >= 1.5])]
        post_times = np.append(post_times, self.DURATION - 30.0)

        rule = PairRule.sal(
            tau=10.0, eta=0.05, window=window, pairing=pairing, dendritic_delay=dendritic_delay
        )
        rule = rule.with_(w_min=-2.0, w_max=2.0)
        pre = sim.Population(1, sim.SpikeSourceArray(spike_times=list(pre_times)))
        drive = sim.Population(
            1, sim.SpikeSourceArray(spike_times=list(post_times - self.DRIVE_DELAY))
        )
        # u = -50 + 100 makes spiking certain; the driving PSP lasts tau_syn = tau_refrac, so
        # each drive spike causes exactly one postsynaptic spike, DRIVE_DELAY later.
        post = sim.Population(1, backend.SamplingNeuron(bias=SILENT_BIAS, tau_refrac=1.0))
        pre.record("spikes")
        post.record("spikes")
        all_to_all = sim.AllToAllConnector()
        sim.Projection(
            drive,
            post,
            all_to_all,
            backend.SignedStaticSynapse(weight=100.0, delay=self.DRIVE_DELAY),
            receptor_type="basal",
        )
        sal = sim.Projection(
            pre,
            post,
            all_to_all,
            backend.SALSynapse.from_rule(rule, weight=self.W0, delay=self.SAL_DELAY),
            receptor_type="apical",
        )
        frozen = sim.Projection(
            pre,
            post,
            all_to_all,
            backend.SALSynapse.from_rule(rule.with_(eta=0.0), weight=self.W0, delay=self.SAL_DELAY),
            receptor_type="apical",
        )
        sim.run(self.DURATION)

        (t_pre,) = spike_trains(pre)
        (t_post,) = spike_trains(post)
        np.testing.assert_allclose(t_pre, pre_times, rtol=0.0, atol=1e-9)
        np.testing.assert_allclose(t_post, post_times, rtol=0.0, atol=1e-9)

        reference = weight_trajectory(t_pre, t_post, self.W0, rule, delay=lag_delay)
        assert abs(reference.final - reference.at_pre[-1]) > 1e-3  # the trailing post counts
        assert abs(reference.at_pre[-1] - self.W0) > 1e-2  # and the weight did move
        expected = reference.at_pre[-1] if POST_UPDATES_LAZY[backend.name] else reference.final
        weight = sal.get("weight", format="array")[0, 0]
        # Floating point: both backends agree with the reference to ~1e-14 relative.
        assert weight == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert frozen.get("weight", format="array")[0, 0] == pytest.approx(self.W0, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Exact, deterministic semantics: PSP shape, delays, ports, refractoriness, recording
# ---------------------------------------------------------------------------------------------


class TestDeterministicSemantics:
    H = 0.1

    def test_rectangular_psps_delays_and_ports(self, backend) -> None:
        backend.setup(timestep=self.H, seed=1)
        sim = backend.sim
        spikes, duration = [1.0, 5.0, 5.3, 12.0], 25.0
        source = sim.Population(1, sim.SpikeSourceArray(spike_times=spikes))
        # Neuron 0: PSPs of tau_refrac = 2 ms; neuron 1: tau_syn = 3.5 ms, overlapping PSPs.
        cells = sim.Population(
            2,
            backend.SamplingNeuron(
                bias=SILENT_BIAS, tau_refrac=2.0, tau_syn=[0.0, 3.5], lambda_apical=0.5
            ),
        )
        cells.record(["u", "z"])
        sim.Projection(
            source,
            cells,
            sim.AllToAllConnector(),
            backend.SignedStaticSynapse(weight=0.7, delay=1.0),
            receptor_type="basal",
        )
        sim.Projection(
            source,
            cells,
            sim.AllToAllConnector(),
            backend.SALSynapse(weight=-0.4, delay=0.5, eta=0.0),
            receptor_type="apical",
        )
        sim.run(5.7)  # a second run: PSPs that run across the boundary end on time
        sim.run(duration - 5.7)

        u, z = signal(cells, "u"), signal(cells, "z")
        steps = np.arange(u.shape[0])
        for k, tau_syn in enumerate((2.0, 3.5)):
            expected = np.full(steps.size, SILENT_BIAS)
            for t in spikes:
                for weight, delay in ((0.7, 1.0), (0.5 * -0.4, 0.5)):
                    start = round((t + delay) / self.H)
                    expected[(steps >= start) & (steps < start + round(tau_syn / self.H))] += weight
            # Sample 0 is PyNN's placeholder for the initial value (0 on both backends).
            np.testing.assert_allclose(u[1:, k], expected[1:], rtol=0.0, atol=1e-12)
        assert np.all(z == 0.0)

    def test_alpha_psps_delays_and_ports(self, backend) -> None:
        """Alpha PSPs against the kernel summed directly: every earlier PSP keeps its tail, a
        PSP is 0 in its arrival step, tau_syn may be off the time grid (0.37 ms)."""
        backend.setup(timestep=self.H, seed=1)
        sim = backend.sim
        spikes, duration, tau_ref = [1.0, 1.5, 5.3, 12.0], 25.0, 2.0
        source = sim.Population(1, sim.SpikeSourceArray(spike_times=spikes))
        cells = sim.Population(
            2,
            backend.SamplingNeuron(
                psp="alpha",
                bias=SILENT_BIAS,
                tau_refrac=tau_ref,
                tau_syn=[0.0, 0.37],
                lambda_apical=0.5,
            ),
        )
        cells.record(["u", "z"])
        sim.Projection(
            source,
            cells,
            sim.AllToAllConnector(),
            backend.SignedStaticSynapse(weight=0.7, delay=1.0),
            receptor_type="basal",
        )
        sim.Projection(
            source,
            cells,
            sim.AllToAllConnector(),
            backend.SALSynapse(weight=-0.4, delay=0.5, eta=0.0),
            receptor_type="apical",
        )
        sim.run(5.7)
        sim.run(duration - 5.7)

        u = signal(cells, "u")
        times = np.arange(u.shape[0]) * self.H
        for k, tau in enumerate((tau_ref, 0.37)):
            expected = np.full(times.size, SILENT_BIAS)
            for t in spikes:
                for weight, delay in ((0.7, 1.0), (0.5 * -0.4, 0.5)):
                    x = np.maximum(times - round((t + delay) / self.H) * self.H, 0.0)
                    expected += weight * tau_ref / tau**2 * x * np.exp(-x / tau)
            np.testing.assert_allclose(u[1:, k], expected[1:], rtol=0.0, atol=1e-12)
        assert np.all(signal(cells, "z") == 0.0)

    @pytest.mark.parametrize("escape", ESCAPES)
    def test_certain_firing_is_periodic_and_z_marks_refractoriness(self, backend, escape) -> None:
        backend.setup(timestep=self.H, seed=1)
        sim = backend.sim
        tau_ref = 2.5  # b = 50: the spike probability is 1.0 in double precision
        cells = sim.Population(
            1, backend.SamplingNeuron(escape=escape, bias=50.0, tau_refrac=tau_ref)
        )
        cells.record(["spikes", "z"])
        sim.run(20.0)
        (train,) = spike_trains(cells)
        n_ref = round(tau_ref / self.H)
        np.testing.assert_allclose(train, np.arange(1, 201, n_ref) * self.H, atol=1e-9)
        z = signal(cells, "z")[:, 0]
        expected = np.zeros(z.size)
        for s in np.rint(train / self.H).astype(int):
            expected[s : s + n_ref] = 1.0
        np.testing.assert_array_equal(z[1:], expected[1:])


# ---------------------------------------------------------------------------------------------
# (b) Firing rate of an isolated neuron: exact discrete-time renewal theory
# ---------------------------------------------------------------------------------------------


def spike_probability(u: float, escape: str, n_ref: int) -> float:
    """Per-step spike probability outside refractoriness (sampling_neuron.h)."""
    if escape == "exp":
        return -math.expm1(-math.exp(u) / n_ref)
    return 1.0 / (1.0 + math.exp(-(u - math.log(n_ref))))


def expected_spike_count(p: float, n_ref: int, steps: int) -> float:
    """Exact mean number of spikes in ``steps`` steps of an isolated neuron that starts
    outside refractoriness.

    The k-th spike falls on step ``S_k = (k - 1)(n_ref - 1) + G_1 + ... + G_k`` with ``G_i``
    geometric on {1, 2, ...}; ``G_1 + ... + G_k - k`` is negative binomial, so
    ``E[N] = sum_k P(S_k <= steps)`` is a sum of negative-binomial CDFs.
    """
    from scipy.stats import nbinom

    k = np.arange(1, steps // n_ref + 2)
    slack = steps - k - (k - 1) * (n_ref - 1)
    return float(np.sum(np.where(slack >= 0, nbinom.cdf(np.maximum(slack, 0), k, p), 0.0)))


class TestAlphaDrivenFiring:
    """Spikes under a time-varying ``u`` (alpha PSPs): the first-spike-step distribution after an
    input spike against the exact per-step Bernoulli product (both escapes).

    ``N`` neurons get one input spike every ``PERIOD`` (the previous PSP has decayed to 1e-5 by
    the next trial).  A trial counts if the neuron is outside refractoriness when it starts (no
    spike in the ``n_ref - 1`` steps before): this selects on the past only, so the first spike
    after the trial's start has the exact distribution of a fresh neuron.
    """

    H, TAU_REF, TAU_SYN, N, TRIALS, PERIOD = 0.1, 1.0, 0.3, 20, 150, 5.0
    BIAS, WEIGHT, LEAD, STEPS = -2.0, 4.0, 0.5, 30

    @pytest.mark.parametrize("escape", ESCAPES)
    def test_first_spike_distribution(self, backend, escape: str) -> None:
        from scipy.stats import chi2

        backend.setup(timestep=self.H, seed=5)
        sim = backend.sim
        inputs = [k * self.PERIOD + self.LEAD for k in range(self.TRIALS)]
        source = sim.Population(1, sim.SpikeSourceArray(spike_times=inputs))
        cells = sim.Population(
            self.N,
            backend.SamplingNeuron(
                escape=escape,
                psp="alpha",
                bias=self.BIAS,
                tau_refrac=self.TAU_REF,
                tau_syn=self.TAU_SYN,
            ),
        )
        cells.record("spikes")
        sim.Projection(
            source,
            cells,
            sim.AllToAllConnector(),
            backend.SignedStaticSynapse(weight=self.WEIGHT, delay=self.H),
            receptor_type="basal",
        )
        sim.run(self.TRIALS * self.PERIOD)

        n_ref, period = round(self.TAU_REF / self.H), round(self.PERIOD / self.H)
        observed = np.zeros(self.STEPS + 1)
        for train in spike_trains(cells):
            steps = np.rint(train / self.H).astype(np.int64)
            for k in range(1, self.TRIALS):  # trial k covers steps k * period + 1, 2, ...
                origin = k * period
                if np.any((steps > origin - n_ref + 1) & (steps <= origin)):
                    continue  # refractory at the trial's start
                later = steps[(steps > origin) & (steps <= origin + self.STEPS)]
                observed[later[0] - origin - 1 if later.size else self.STEPS] += 1

        # Relative step j = 1, 2, ...; the PSP arrives in step LEAD / h + 1, where it is 0.
        x = np.maximum(np.arange(1, self.STEPS + 1) - (round(self.LEAD / self.H) + 1), 0)
        tau = self.TAU_SYN / self.H
        u = self.BIAS + self.WEIGHT * n_ref / tau**2 * x * np.exp(-x / tau)
        p = np.array([spike_probability(v, escape, n_ref) for v in u])
        survive = np.concatenate(([1.0], np.cumprod(1.0 - p)))
        expected = observed.sum() * np.append(survive[:-1] * p, survive[-1])
        assert observed.sum() > 0.8 * self.N * (self.TRIALS - 1)
        assert expected[round(self.LEAD / self.H) + 2] > 50  # the PSP drives a burst

        # Chi-square over bins pooled to >= 5 expected counts; false-alarm rate 1e-4.
        statistic, dof = pooled_chi_square(observed, expected)
        assert statistic < chi2.ppf(1 - 1e-4, dof), (statistic, observed, expected)


class TestIsolatedRate:
    H, TAU_REF, DURATION, N_PER_BIAS = 0.1, 10.0, 20_000.0, 20
    BIASES = (-1.0, 0.0, 1.5, 4.0)

    @pytest.mark.parametrize("escape", ESCAPES)
    def test_rate_matches_renewal_theory(self, backend, escape: str) -> None:
        backend.setup(timestep=self.H, seed=3)
        sim = backend.sim
        biases = np.repeat(self.BIASES, self.N_PER_BIAS)
        cells = sim.Population(
            biases.size,
            backend.SamplingNeuron(escape=escape, bias=biases, tau_refrac=self.TAU_REF),
        )
        cells.record("spikes")
        sim.run(self.DURATION)
        trains = spike_trains(cells)

        n_ref = round(self.TAU_REF / self.H)
        for index, b in enumerate(self.BIASES):
            group = trains[index * self.N_PER_BIAS : (index + 1) * self.N_PER_BIAS]
            # A spike makes the next n_ref - 1 steps refractory; then each step fires with
            # probability p: ISI = (n_ref - 1 + G) h, G geometric, mean 1/p, var (1-p)/p^2.
            p = spike_probability(b, escape, n_ref)
            mean = (n_ref - 1 + 1.0 / p) * self.H
            var = (1.0 - p) / p**2 * self.H**2
            isis = np.concatenate([np.diff(t) for t in group])
            assert isis.min() >= self.TAU_REF - 1e-9
            # ISIs of a renewal process are independent: 4 standard errors, fixed seed.
            at_tau_ref = np.mean(np.rint(isis / self.H) == n_ref)
            assert abs(at_tau_ref - p) < 4.0 * math.sqrt(p * (1 - p) / isis.size), (b, at_tau_ref)
            assert abs(isis.mean() - mean) < 4.0 * math.sqrt(var / isis.size), (b, isis.mean())
            # Spike count over T against its exact expectation (the neuron starts outside
            # refractoriness, which adds O(1) spikes: significant for regular, fast neurons);
            # variance T var / mean^3 per neuron (renewal theory) sets the tolerance.
            count = sum(t.size for t in group)
            expected = self.N_PER_BIAS * expected_spike_count(
                p, n_ref, round(self.DURATION / self.H)
            )
            se = math.sqrt(self.N_PER_BIAS * self.DURATION * var / mean**3)
            assert abs(count - expected) < 4.0 * se, (b, count, expected)


# ---------------------------------------------------------------------------------------------
# (c) A small network samples its Boltzmann distribution
# ---------------------------------------------------------------------------------------------


class TestBoltzmannSampling:
    H, TAU, DURATION = 0.1, 10.0, 50_000.0
    W = np.array([[0.0, 0.8, -0.6], [0.8, 0.0, 0.4], [-0.6, 0.4, 0.0]])
    B = np.array([-0.5, 0.3, -0.2])
    # Measured on NEST with 1000 s runs (200,000 samples, statistical part ~2e-5): D_KL is
    # 5e-5 (logistic) and 7e-5 (exp) at h = 0.1 ms; the PSP starts one step (the delay) after
    # the presynaptic state turns on.  1e-4 bounds this systematic part for both escapes.
    SYSTEMATIC = 1e-4
    # Samples every tau/2 are nearly independent: the variance of state frequencies over 50 s
    # batches was 0.5 to 2.3 times the multinomial one; 2.5 bounds it.
    AUTOCORRELATION = 2.5

    def threshold(self, n_samples: int) -> float:
        """Systematic part plus mean + 4 sd of the estimator's D_KL (chi-square, K - 1 dof)."""
        k = 2 ** len(self.B)
        n_eff = n_samples / self.AUTOCORRELATION
        return self.SYSTEMATIC + (k - 1 + 4.0 * math.sqrt(2.0 * (k - 1))) / (2.0 * n_eff)

    @pytest.mark.parametrize("escape", ESCAPES)
    def test_samples_boltzmann_distribution(self, backend, escape: str) -> None:
        backend.setup(timestep=self.H, seed=17)
        sim = backend.sim
        cells = sim.Population(
            3,
            backend.SamplingNeuron(
                escape=escape, bias=self.B, tau_refrac=self.TAU, tau_syn=self.TAU
            ),
        )
        rows = [(j, k, self.W[k, j], self.H) for k in range(3) for j in range(3) if j != k]
        sim.Projection(
            cells,
            cells,
            sim.FromListConnector(rows, column_names=["weight", "delay"]),
            backend.SignedStaticSynapse(),
            receptor_type="basal",
        )
        cells.record("spikes")
        sim.run(self.DURATION)

        states = binary_states(spike_trains(cells), self.TAU, t_start=0.0, t_stop=self.DURATION)
        target = boltzmann_distribution(self.W, self.B)
        divergence = kl_divergence(target, sampled_distribution(states))
        threshold = self.threshold(states.shape[0])
        # The threshold separates: the uncoupled network's distribution is far outside it.
        uncoupled = boltzmann_distribution(np.zeros((3, 3)), self.B)
        assert kl_divergence(target, uncoupled) > 20 * threshold
        assert divergence < threshold, (divergence, threshold)


# ---------------------------------------------------------------------------------------------
# (d) The two-neuron SAL system converges
# ---------------------------------------------------------------------------------------------


class TestTwoNeuronSAL:
    H, TAU, ETA, DURATION, READS = 0.25, 10.0, 0.01, 30_000.0, 30

    def test_reciprocal_weights_converge(self, backend) -> None:
        backend.setup(timestep=self.H, seed=8)
        sim = backend.sim
        cells = [
            sim.Population(
                1,
                backend.SamplingNeuron(
                    escape="logistic", bias=b, tau_refrac=self.TAU, tau_syn=self.TAU
                ),
            )
            for b in (-0.5, -0.2)
        ]
        projections = {}
        # W[0, 1] = 1.5 is the connection 1 -> 0, W[1, 0] = 0.5 the connection 0 -> 1.
        for name, source, target, weight in (("w01", 1, 0, 1.5), ("w10", 0, 1, 0.5)):
            projections[name] = sim.Projection(
                cells[source],
                cells[target],
                sim.AllToAllConnector(),
                backend.SALSynapse(
                    weight=weight,
                    delay=self.H,
                    eta=self.ETA,
                    tau_causal=self.TAU,
                    tau_anticausal=self.TAU,
                ),
                receptor_type="basal",
            )
        difference = []
        for _ in range(self.READS):
            sim.run(self.DURATION / self.READS)
            w01, w10 = (projections[n].get("weight", format="array")[0, 0] for n in ("w01", "w10"))
            difference.append(w01 - w10)
        # At eta = 0.01 SAL removes the initial difference (1.0) within ~10 s; afterwards the
        # difference fluctuates (sd ~0.1 of its mean over the second half, over 12 NEST seeds,
        # mean ~0.08: the fixed point aligns effective, not raw, weights).  Half of the initial
        # difference is ~4 sd away from those fluctuations.
        late = np.mean(difference[self.READS // 2 :])
        assert abs(late) < 0.5 * (1.5 - 0.5), difference
        assert difference[0] < 1.0  # it moved from the start in the right direction
