"""Boltzmann-machine learning in spiking sampling networks, with and without SAL (Figs. 4-5).

Each seed draws a target Boltzmann machine ``W*, b* ~ U(-1, 1)`` (``W*`` symmetric, zero
diagonal) over ``n`` neurons and trains a network of sampling neurons to sample from it by
wake-sleep learning.  One iteration is

1. a free-running **sleep phase** of ``sleep_tau * tau_ref``; the recurrent connections are
   ``sal_synapse`` s, so with ``sal = true`` SAL changes the weights online during the phase;
2. the **model term** ``<z_i z_j>_model``: the time both neurons spent in their active
   (refractory) state, computed from the recorded sleep spikes.  Two refractory windows of
   length ``tau_ref`` whose spikes are ``dt`` apart overlap for ``max(0, tau_ref - |dt|)``,
   which is symmetric Hebbian pair-based STDP with a triangular window of width ``tau_ref``;
   the spikes give it exactly, including pairs of simultaneous spikes, which a synapse's
   pair rule (``K(0) = 0``) would drop.  The synapse ``j -> k`` weighs the overlaps of its
   causal pairs (``j`` first) with ``m_c`` and of its anticausal pairs with ``m_a``
   (simultaneous spikes count half to each);
3. the update ``W += lr * (m * <z_i z_j>_target - <z_i z_j>_model)`` with the exact target
   co-activations and ``m = (m_c + m_a) / 2``, ``b += lr * (<z_i>_target - rate_i * tau_ref)``,
   an optional Kolen-Pollack decay ``W -= kp_decay * W``, clipping of ``|W|`` and ``|b|`` at
   ``clip`` and a zero diagonal.

``m_c = m_a = 1`` except under plasticity noise.  Noise scenarios (``noise``):

- ``"synaptic"``: the initial weights carry an asymmetric perturbation ``sigma * xi_ij``
  (independent normal ``xi_ij``); the Hebbian update is symmetric, so it never removes it.
- ``"plasticity"``: every synapse's Hebbian rule has its own causal and anticausal amplitudes
  ``m_c, m_a = max(0, 1 + sigma xi)`` (independent normal ``xi``).  Their mean scales the
  synapse's whole update, which leaves the fixed point unchanged; their difference makes the
  synapse's window asymmetric, i.e. adds ordinary (causal > anticausal) or reversed STDP with
  a random sign, and ordinary STDP drives reciprocal weights apart.  SAL's own amplitudes stay
  nominal.
- ``"none"``: initial weights 0.

Every ``validate_every`` iterations plasticity is frozen and the network samples for
``validation_factor`` sleep phases; ``D_KL(target || sampled)`` over all ``2**n`` states is the
validation metric.  Sampled states are read every ``tau_ref / 2``.

Many seeds share one NEST kernel: seeds are grouped into batches of ``batch`` networks that are
simulated together (block-diagonal connectivity), which amortises NEST's per-step cost.  Under
``mpirun -n K`` (NEST without MPI, one kernel per rank) batches are spread over the ranks.  A
batch's simulation is seeded from its seeds and the segment number (a segment is the
iterations between two validations), and a fresh kernel is built for every segment, so results
do not depend on the number of ranks, and a run killed mid-way resumes from the last
checkpoint with exactly the results an uninterrupted run would have produced.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from salpynn import mpi
from salpynn.analysis.alignment import asymmetry_variance
from salpynn.config import check_choices, check_range, check_timing, param
from salpynn.experiments import Experiment, convention_param
from salpynn.results import (
    atomic_write,
    atomic_write_json,
    atomic_write_npz,
    config_hash,
    run_record,
)
from salpynn.rule import PairRule, RuleConfig
from salpynn.safety import CorruptFileError, load_npz

__all__ = [
    "EXPERIMENT",
    "SamplingConfig",
    "SeedSetup",
    "model_term",
    "run",
    "seed_setup",
]

if TYPE_CHECKING:
    from salpynn.networks.sampling import NodeSamplingBatch, SamplingBatch

FloatArray = NDArray[np.float64]


def _sampling_rule() -> RuleConfig:
    # Triangular window of width tau_ref, where nearest and all-to-all pairing coincide
    # (refractoriness allows one spike per neuron per tau_ref).  eta, w_min, w_max and (by
    # default) dendritic_delay are derived from the experiment's parameters.
    return RuleConfig(eta=None, window="triangular", w_min=None, w_max=None, dendritic_delay=None)


@dataclass(frozen=True)
class SamplingConfig:
    """Parameters; defaults are the paper's (times in ms, ``tau_ref`` = 50 steps of 0.1 ms)."""

    n: int = param(7, "", "neurons per network")
    noise: Literal["none", "synaptic", "plasticity"] = param("synaptic", "", "noise scenario")
    sigma: float = param(0.8, "", "noise level (std of xi)")
    plasticity_noise: Literal["amplitude", "window"] = param(
        "amplitude",
        "",
        "amplitude: one truncated amplitude per synapse for its Hebbian and data terms, own "
        "SAL amplitudes (the paper's); window: independent causal and anticausal amplitudes",
    )
    amplitude_floor: float = param(
        0.0,
        "",
        "lower bound of the plasticity-noise amplitudes (0: the paper's clip at zero, which "
        "switches some synapses' learning off; > 0 keeps every synapse learning)",
    )
    sigma_init: float | None = param(
        None, "", "std of the asymmetric initial noise (none: sigma, synaptic; 0.2, plasticity)"
    )
    init_scale: float = param(0.2, "", "std of the symmetric initial weights and of b0")
    sal: bool = param(True, "", "SAL in the recurrent synapses during sleep")
    kolen_pollack: bool = param(False, "", "Kolen-Pollack weight decay baseline")
    kp_decay: float | None = param(
        None, "1/iteration", "fraction of W removed per iteration (none: 1.6e-4 or 4e-5)"
    )
    iterations: int = param(20_000, "", "wake-sleep iterations")
    lr: float = param(0.01, "", "wake-sleep learning rate (weights and biases)")
    lr_sal: float = param(0.01, "", "SAL rate per iteration; rule.eta = lr_sal tau_ref / sleep")
    sleep_tau: float = param(1000.0, "tau_ref", "sleep phase length")
    validate_every: int | None = param(
        None, "", "iterations between validations and checkpoints (none: 500 or 1000)"
    )
    validation_factor: float = param(100.0, "", "validation sleep = factor x training sleep")
    tau_ref: float = param(5.0, "ms", "refractory time = PSP duration = SAL window width")
    resolution: float = param(0.1, "ms", "time step")
    delay: float = param(0.1, "ms", "synaptic delay")
    escape: Literal["exp", "logistic"] = param("logistic", "", "escape noise of the neurons")
    convention: Literal["authors", "reversible", "marginals"] = convention_param()
    # rule.dendritic_delay none ("auto"): 0 (lags between spike times, which keeps W_ij + W_ji
    # exactly) where the backend can (NEST; Brian2 with delay >= 2 steps), else -1 (NEST's
    # t_post + delay - t_pre, which adds a Hebbian-like O(lr_sal delay / tau_ref) term).
    rule: RuleConfig = param(default_factory=_sampling_rule)
    clip: float = param(2.0, "", "|W|, |b| <= clip (also the synapses' bounds)")
    target_range: float = param(1.0, "", "W*, b* ~ U(-target_range, target_range)")
    seeds: int = param(20, "", "number of seeds: seed, seed + 1, ...")
    seed: int = param(1, "", "first seed")
    batch: int = param(10, "", "networks simulated together in one kernel")
    backend: Literal["nest", "brian2"] = param("nest", "", "PyNN simulator")
    engine: Literal["auto", "pynn"] = param(
        "auto",
        "",
        "auto: conditions without SAL on NEST in one process run in one sampling_networks node "
        "per kernel (the same numbers as pynn, about 3x faster); pynn: PyNN populations and "
        "projections for every condition",
    )

    def validate(self) -> None:
        check_range("n", self.n, 2, 12)
        check_range("sigma", self.sigma, 0.0, 5.0)
        check_range("amplitude_floor", self.amplitude_floor, 0.0, 1.0)
        check_range("kp_decay", self.kp_rate, 0.0, 1.0)
        check_range("sigma_init", self.initial_noise, 0.0, 5.0)
        check_range("init_scale", self.init_scale, 0.0, 5.0)
        check_range("iterations", self.iterations, 1, 10_000_000)
        check_range("lr", self.lr, 0.0, 10.0)
        check_range("lr_sal", self.lr_sal, 0.0, 100.0)
        check_range("sleep_tau", self.sleep_tau, 10.0, 1e7)
        check_range("validate_every", self.validation_interval, 1, self.iterations)
        check_range("validation_factor", self.validation_factor, 1.0, 1e5)
        check_timing(self.resolution, self.tau_ref, self.delay, self.tau_ref)
        check_range("clip", self.clip, 0.0, 100.0, low_open=True)
        check_range("target_range", self.target_range, 0.0, 100.0)
        check_range("seeds", self.seeds, 1, 100_000)
        check_range("seed", self.seed, 1, 2**31 - 1 - self.seeds)
        check_range("batch", self.batch, 1, 10_000)
        check_choices(self)
        self.rule.refuse(
            {
                "eta": "derived from lr_sal (lr_sal * tau_ref / sleep) in this experiment",
                "w_min": "-clip in this experiment",
                "w_max": "clip in this experiment",
            }
        )
        self.sal_rule()

    def sal_rule(self) -> PairRule:
        """The rule of the recurrent synapses: ``rule`` with ``eta =`` :attr:`sal_eta` and
        bounds ``+-clip``."""
        return self.rule.resolve(
            self.tau_ref,
            self.delay,
            self.resolution,
            self.backend,
            eta=self.sal_eta,
            w_min=-self.clip,
            w_max=self.clip,
        )

    @property
    def initial_noise(self) -> float:
        """``sigma_init``, or the paper's: ``sigma`` under synaptic noise, 0.2 under plasticity
        noise (also in its noise-free baseline), 0 without noise."""
        if self.sigma_init is not None:
            return self.sigma_init
        return {"synaptic": self.sigma, "plasticity": 0.2}.get(self.noise, 0.0)

    @property
    def kp_rate(self) -> float:
        """``kp_decay``, or the paper's: 4e-5 under plasticity noise, else 1.6e-4."""
        if self.kp_decay is not None:
            return self.kp_decay
        return 4e-5 if self.noise == "plasticity" else 1.6e-4

    @property
    def validation_interval(self) -> int:
        """``validate_every``, or the paper's: 1000 under plasticity noise, else 500."""
        if self.validate_every is not None:
            return self.validate_every
        return 1000 if self.noise == "plasticity" else 500

    @property
    def sleep(self) -> float:
        """Duration of one training sleep phase (ms)."""
        return self.sleep_tau * self.tau_ref

    @property
    def sal_eta(self) -> float:
        """Per-pair SAL learning rate: ``lr_sal * tau_ref / sleep``.

        With it the SAL change of one sleep phase, ``lr_sal * (tau_ref / T) * sum K(dt)``, has
        the same normalisation as the Hebbian model term ``(tau_ref / T) * sum tri(dt)``, so
        ``lr_sal`` and ``lr`` are comparable rates per iteration.
        """
        return self.lr_sal * self.tau_ref / self.sleep if self.sal else 0.0

    def seed_list(self) -> list[int]:
        return list(range(self.seed, self.seed + self.seeds))

    def batches(self) -> list[list[int]]:
        seeds = self.seed_list()
        return [seeds[i : i + self.batch] for i in range(0, len(seeds), self.batch)]

    def segments(self) -> list[tuple[int, int]]:
        """``(first, stop)`` iterations between validations."""
        edges = [*range(0, self.iterations, self.validation_interval), self.iterations]
        return list(itertools.pairwise(edges))


@dataclass(frozen=True)
class SeedSetup:
    """Everything a seed fixes: target, initial parameters and plasticity amplitudes."""

    seed: int
    w_target: FloatArray
    b_target: FloatArray
    w_initial: FloatArray
    b_initial: FloatArray
    gain_causal: FloatArray  # m_c[k, j] of the synapse j -> k (1 without plasticity noise)
    gain_anticausal: FloatArray  # m_a[k, j]
    sal_amplitude: FloatArray  # a[k, j]: the synapse's SAL window is -a / +a


def truncated_amplitudes(
    rng: np.random.Generator, sigma: float, shape: tuple[int, ...], floor: float = 0.0
) -> FloatArray:
    """``max(floor, 1 + xi)`` with ``xi`` normal of standard deviation ``sigma`` truncated at
    ``+-1.5 sigma`` (the paper's plasticity noise has ``floor = 0``)."""
    if sigma == 0:
        return np.ones(shape)
    from scipy.stats import truncnorm

    xi = truncnorm.rvs(-1.5, 1.5, scale=sigma, size=shape, random_state=rng)
    return np.maximum(floor, 1.0 + xi)


def seed_setup(config: SamplingConfig, seed: int) -> SeedSetup:
    """Target and initial state of ``seed``; the target depends only on ``seed`` and ``n``, so
    every noise scenario and condition of a seed learns the same target.

    Initial weights are the authors': a symmetric part ``init_scale * N(0, 1)`` plus the
    asymmetric noise ``sigma_init * xi`` (independent ``xi_ij``), clipped at ``clip``; initial
    biases ``init_scale * N(0, 1)``.  Each quantity has its own random stream."""
    n = config.n
    off = ~np.eye(n, dtype=bool)

    def stream(k: int) -> np.random.Generator:
        return np.random.default_rng([seed, n, k])

    target_rng = stream(0)
    upper = np.triu(target_rng.uniform(-config.target_range, config.target_range, (n, n)), 1)
    w_target = upper + upper.T
    b_target = target_rng.uniform(-config.target_range, config.target_range, n)
    xi = stream(1).normal(0.0, 1.0, (n, n)) * off
    symmetric = np.triu(stream(3).normal(0.0, 1.0, (n, n)), 1)
    symmetric = symmetric + symmetric.T
    w_initial = np.clip(
        config.init_scale * symmetric + config.initial_noise * xi, -config.clip, config.clip
    )
    b_initial = np.clip(
        config.init_scale * stream(4).normal(0.0, 1.0, n), -config.clip, config.clip
    )
    gains = np.ones((2, n, n))
    sal_amplitude = np.ones((n, n))
    if config.noise == "plasticity":
        if config.plasticity_noise == "amplitude":
            floor = config.amplitude_floor
            amplitude = truncated_amplitudes(stream(2), config.sigma, (n, n), floor)
            gains = np.stack([amplitude, amplitude])
            sal_amplitude = truncated_amplitudes(stream(5), config.sigma, (n, n), floor)
        else:  # salpynn's earlier model, with its draws: causal from stream 1, as before
            xi_anticausal = stream(2).normal(0.0, 1.0, (n, n))
            gains = np.maximum(
                config.amplitude_floor, 1.0 + config.sigma * np.stack([xi, xi_anticausal])
            )
    return SeedSetup(
        seed,
        w_target,
        b_target,
        w_initial * off,
        b_initial,
        gains[0] * off,
        gains[1] * off,
        sal_amplitude * off,
    )


def target_statistics(setup: SeedSetup) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(p(z), <z_i z_j>, <z_i>)`` of the target Boltzmann machine, exactly."""
    from salpynn.analysis.states import boltzmann_distribution, distribution_moments

    p = boltzmann_distribution(setup.w_target, setup.b_target)
    marginals, coactivation = distribution_moments(p)
    return p, coactivation, marginals


def model_term(
    first: FloatArray, gain_causal: FloatArray, gain_anticausal: FloatArray
) -> FloatArray:
    """Hebbian overlaps as the synapses see them: ``[r, k, j]`` for the synapse ``j -> k``,
    ``gain_causal * (overlap with j first) + gain_anticausal * (overlap with k first)``
    (``first`` from :class:`salpynn.networks.sampling.PhaseStatistics`)."""
    return gain_causal * first.transpose(0, 2, 1) + gain_anticausal * first


def kl_rows(p_target: FloatArray, counts: NDArray[np.int64]) -> FloatArray:
    """``D_KL(target || sampled)`` per replica (:func:`salpynn.analysis.states.kl_divergence`)."""
    from salpynn.analysis.states import kl_divergence

    return np.array([kl_divergence(p, c) for p, c in zip(p_target, counts, strict=True)])


def _open_batch(
    config: SamplingConfig,
    w: FloatArray,
    b: FloatArray,
    kernel_seed: int,
    sal_amplitudes: FloatArray | None = None,
) -> SamplingBatch | NodeSamplingBatch:
    """A fresh simulator with the batch's networks (:class:`salpynn.networks.sampling.
    SamplingBatch`) at weights ``w`` and biases ``b``; ``sal_amplitudes`` (a stack like
    ``w``) scale each synapse's SAL window."""
    from salpynn.networks.sampling import NodeSamplingBatch, SamplingBatch
    from salpynn.pynn import load_backend

    backend = load_backend(config.backend)
    # NEST rotates its delay ring (min_delay + max_delay slots) every step: PyNN's default
    # max_delay of 10 ms makes that 101 slots; 1 ms (the default delay of NEST's synapses)
    # is enough here.
    backend.setup(timestep=config.resolution, seed=kernel_seed, max_delay=max(1.0, config.delay))
    if config.engine == "auto" and not config.sal and backend.has_sampling_networks:
        # Static weights: the same networks in one node (NodeSamplingBatch; same numbers).
        return NodeSamplingBatch(
            backend,
            w,
            b,
            tau_ref=config.tau_ref,
            escape=config.escape,
            delay=config.delay,
            resolution=config.resolution,
            convention=config.convention,
        )
    return SamplingBatch(
        backend,
        w,
        b,
        tau_ref=config.tau_ref,
        escape=config.escape,
        delay=config.delay,
        # Without SAL the weights only change between phases (from Python): static synapses,
        # which transmit exactly as a sal_synapse with eta = 0 and skip its spike pairing.
        rule=config.sal_rule() if config.sal else None,
        resolution=config.resolution,
        amplitudes=sal_amplitudes if config.sal else None,
        convention=config.convention,
        statistics=True,
    )


def _kernel_seed(seeds: list[int], segment: int) -> int:
    state = np.random.SeedSequence([*seeds, 7919, segment]).generate_state(1)[0]
    return int(state % (2**31 - 2)) + 1


@dataclass
class _BatchState:
    """A batch's progress: the checkpoint content."""

    seeds: list[int]
    iteration: int
    w: FloatArray  # (replicas, n, n)
    b: FloatArray  # (replicas, n)
    asymmetry: FloatArray  # (replicas, iterations + 1), NaN where not reached
    dkl_sleep: FloatArray  # (replicas, iterations), D_KL of each training sleep phase
    validation_iterations: list[int]
    dkl_validation: list[FloatArray]  # per validation, (replicas,)
    train_seconds: float = 0.0
    validation_seconds: float = 0.0
    resumed_from: int = 0  # the iteration this process started from (not saved)

    def save(self, path: Path, key: str) -> None:
        atomic_write_npz(
            path,
            key=key,
            seeds=np.array(self.seeds),
            iteration=self.iteration,
            w=self.w,
            b=self.b,
            asymmetry=self.asymmetry,
            dkl_sleep=self.dkl_sleep,
            validation_iterations=np.array(self.validation_iterations, dtype=np.int64),
            dkl_validation=np.array(self.dkl_validation).reshape(
                len(self.validation_iterations), len(self.seeds)
            ),
            seconds=np.array([self.train_seconds, self.validation_seconds]),
        )

    @classmethod
    def load(cls, path: Path, key: str) -> _BatchState | None:
        if not path.exists():
            return None
        data = load_npz(
            path,
            "checkpoint",
            "delete it and run the same command again: that batch starts from its beginning, "
            "the other batches keep their progress",
        )
        if str(data.get("key")) != key:
            return None
        try:
            iteration = int(data["iteration"])
            return cls(
                seeds=data["seeds"].tolist(),
                iteration=iteration,
                w=data["w"],
                b=data["b"],
                asymmetry=data["asymmetry"],
                dkl_sleep=data["dkl_sleep"],
                validation_iterations=data["validation_iterations"].tolist(),
                dkl_validation=list(data["dkl_validation"]),
                train_seconds=float(data["seconds"][0]),
                validation_seconds=float(data["seconds"][1]),
                resumed_from=iteration,
            )
        except (KeyError, IndexError, ValueError) as err:
            raise CorruptFileError(
                f"checkpoint {path} lacks {err} (not a checkpoint of this salpynn version?); "
                f"delete it and run the same command again"
            ) from None


def _validate(
    batch: SamplingBatch | NodeSamplingBatch, config: SamplingConfig, p_target: FloatArray
) -> FloatArray:
    """Frozen plasticity, ``validation_factor`` sleep phases; ``D_KL`` per replica."""
    if config.sal:
        batch.set_connection_parameter("eta", 0.0)
    counts = np.zeros((batch.replicas, 2**config.n), dtype=np.int64)
    remaining = round(config.validation_factor * config.sleep / config.resolution)
    chunk = round(config.sleep / config.resolution)
    while remaining > 0:
        steps = min(chunk, remaining)
        counts += batch.run_statistics(steps * config.resolution).states
        remaining -= steps
    if config.sal:
        batch.set_connection_parameter("eta", config.sal_eta)
    return kl_rows(p_target, counts)


def wake_sleep_step(
    config: SamplingConfig,
    w: FloatArray,
    b: FloatArray,
    data: FloatArray,
    rate_target: FloatArray,
    model: FloatArray,
    counts: NDArray[np.int64],
    duration: float,
) -> tuple[FloatArray, FloatArray]:
    """One update of the stacks ``w`` ``(replicas, n, n)`` and ``b`` ``(replicas, n)``.

    ``W += lr * (data - model / duration)`` with the data term ``data`` (the target
    co-activations, scaled by each synapse's Hebbian amplitude under plasticity noise) and the
    model term ``model`` (the synapses' overlaps in ms over the sleep phase of ``duration`` ms,
    :func:`model_term`); ``b += lr * (<z>_target - counts * tau_ref / duration)``; the
    Kolen-Pollack decay; clipping at ``clip``; zero diagonal.
    """
    off = ~np.eye(config.n, dtype=bool)
    dw = config.lr * (data - model / duration)
    if config.kolen_pollack:
        dw -= config.kp_rate * w
    w = np.clip(w + dw, -config.clip, config.clip) * off
    b = np.clip(
        b + config.lr * (rate_target - counts * config.tau_ref / duration),
        -config.clip,
        config.clip,
    )
    return w, b


def _train_batch(
    config: SamplingConfig, seeds: list[int], path: Path, key: str, bar: Any
) -> _BatchState:
    setups = [seed_setup(config, s) for s in seeds]
    stats = [target_statistics(s) for s in setups]
    p_target = np.stack([s[0] for s in stats])
    co_target = np.stack([s[1] for s in stats])
    rate_target = np.stack([s[2] for s in stats])
    gain_c = np.stack([s.gain_causal for s in setups])
    gain_a = np.stack([s.gain_anticausal for s in setups])
    gain_mean = (gain_c + gain_a) / 2
    sal_amp = np.stack([s.sal_amplitude for s in setups])
    off_diagonal = ~np.eye(config.n, dtype=bool)
    if np.all(sal_amp[:, off_diagonal] == 1.0):
        sal_amp = None  # homogeneous amplitudes stay synapse-type parameters
    reps = len(seeds)
    state = _BatchState.load(path, key)
    if state is None:
        w0 = np.stack([s.w_initial for s in setups])
        asym = np.full((reps, config.iterations + 1), np.nan)
        asym[:, 0] = asymmetry_variance(w0)
        state = _BatchState(
            seeds=seeds,
            iteration=0,
            w=w0,
            b=np.stack([s.b_initial for s in setups]),
            asymmetry=asym,
            dkl_sleep=np.full((reps, config.iterations), np.nan),
            validation_iterations=[],
            dkl_validation=[],
        )
    bar.update(state.iteration)
    for index, (first, stop) in enumerate(config.segments()):
        if stop <= state.iteration:
            continue
        batch = _open_batch(config, state.w, state.b, _kernel_seed(seeds, index), sal_amp)
        if first == 0:
            start = time.perf_counter()
            state.validation_iterations.append(0)
            state.dkl_validation.append(_validate(batch, config, p_target))
            state.validation_seconds += time.perf_counter() - start
        start = time.perf_counter()
        w, b = state.w, state.b
        for it in range(first, stop):
            phase = batch.run_statistics(config.sleep)
            model = model_term(phase.first, gain_c, gain_a)
            w = batch.weights() if config.sal else w
            w, b = wake_sleep_step(
                config,
                w,
                b,
                gain_mean * co_target,
                rate_target,
                model,
                phase.counts,
                phase.t_stop - phase.t_start,
            )
            batch.set_weights(w)
            batch.set_biases(b)
            state.dkl_sleep[:, it] = kl_rows(p_target, phase.states)
            state.asymmetry[:, it + 1] = asymmetry_variance(w)
            bar.update()
        state.train_seconds += time.perf_counter() - start
        state.w, state.b, state.iteration = w, b, stop
        start = time.perf_counter()
        state.validation_iterations.append(stop)
        state.dkl_validation.append(_validate(batch, config, p_target))
        state.validation_seconds += time.perf_counter() - start
        batch.end()
        state.save(path, key)
        bar.set_postfix(
            dkl=f"{np.median(state.dkl_validation[-1]):.4f}",
            asym=f"{np.median(state.asymmetry[:, stop]):.2e}",
        )
    return state


def run(config: SamplingConfig, out: Path, progress: bool = True) -> dict[str, Any] | None:
    """Train every seed's network (batches spread over MPI ranks); rank 0 writes
    ``summary.json``, ``metrics.csv``, ``metrics.npz``, ``weights.npz`` and ``learning.png``
    into ``out`` and returns the summary (other ranks return ``None``).

    Checkpoints (``out/checkpoints/batch-*.npz``) are written after every validation; running
    the same configuration into the same ``out`` again resumes from them.  Inside
    :func:`salpynn.mpi.local_only` (a sweep's worker) every batch runs in this process.
    """
    config.validate()
    from tqdm import tqdm

    rank, size = mpi.launcher_rank_size()
    if size > 1:
        mpi.independent_nest_per_rank()
    key = config_hash(dataclasses.asdict(config))  # checkpoints belong to this configuration
    folder = Path(out) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    batches = config.batches()
    mine = list(range(rank, len(batches), size))
    start = time.perf_counter()
    with tqdm(
        total=config.iterations * len(mine),
        desc=f"sampling ({config.noise}, sal={config.sal})",
        unit="it",
        disable=not progress or rank != 0,
        dynamic_ncols=True,
        mininterval=1.0,
    ) as bar:
        done = 0  # run-iterations trained by this process (a resumed run counts only these)
        for index in mine:
            state = _train_batch(
                config, batches[index], folder / f"batch-{index:04d}.npz", key, bar
            )
            done += (state.iteration - state.resumed_from) * len(state.seeds)
    done = sum(mpi.allgather(done, size))
    wall = time.perf_counter() - start
    if rank != 0:
        return None
    states = []
    for index, seeds in enumerate(batches):
        path = folder / f"batch-{index:04d}.npz"
        state = _BatchState.load(path, key)
        if state is None or state.seeds != seeds or state.iteration != config.iterations:
            raise CorruptFileError(  # never drop a seed silently
                f"checkpoint {path} does not hold the finished seeds {seeds} of this "
                f"configuration (was it changed or deleted by another process?); run the same "
                f"command again to (re)train that batch"
            )
        states.append(state)
    summary = _write_outputs(config, Path(out), states, wall, size, done)
    if progress:
        print(
            f"sampling: {config.seeds} seeds, {config.iterations} iterations: "
            f"D_KL {summary['dkl_initial']:.4f} -> {summary['dkl_final']:.4f}, "
            f"Var(W_ij - W_ji) {summary['asymmetry_initial']:.3g} -> "
            f"{summary['asymmetry_final']:.3g} (medians over seeds); "
            f"{summary['train_seconds_per_iteration_per_run']:.4f} s per iteration per run"
        )
    return summary


def _write_outputs(
    config: SamplingConfig,
    out: Path,
    states: list[_BatchState],
    wall: float,
    ranks: int,
    done: int,
) -> dict[str, Any]:
    seeds = [s for st in states for s in st.seeds]
    asym = np.concatenate([st.asymmetry for st in states])
    dkl_sleep = np.concatenate([st.dkl_sleep for st in states])
    val_iters = np.asarray(states[0].validation_iterations)
    dkl_val = np.concatenate([np.array(st.dkl_validation).T for st in states])
    setups = [seed_setup(config, s) for s in seeds]
    w_final = np.concatenate([st.w for st in states])
    b_final = np.concatenate([st.b for st in states])

    atomic_write_npz(
        out / "metrics.npz",
        seeds=np.array(seeds),
        asymmetry=asym,
        dkl_sleep=dkl_sleep,
        validation_iterations=val_iters,
        dkl_validation=dkl_val,
    )
    atomic_write_npz(
        out / "weights.npz",
        seeds=np.array(seeds),
        W_target=np.stack([s.w_target for s in setups]),
        b_target=np.stack([s.b_target for s in setups]),
        W_initial=np.stack([s.w_initial for s in setups]),
        gain_causal=np.stack([s.gain_causal for s in setups]),
        gain_anticausal=np.stack([s.gain_anticausal for s in setups]),
        sal_amplitude=np.stack([s.sal_amplitude for s in setups]),
        W_final=w_final,
        b_final=b_final,
    )
    _write_metrics_csv(out / "metrics.csv", seeds, asym, dkl_sleep, val_iters, dkl_val)
    train = sum(st.train_seconds for st in states)
    validation = sum(st.validation_seconds for st in states)
    per_seed = {
        "seed": seeds,
        "dkl_initial": dkl_val[:, 0].tolist(),
        "dkl_final": dkl_val[:, -1].tolist(),
        "asymmetry_initial": asym[:, 0].tolist(),
        "asymmetry_final": asym[:, -1].tolist(),
    }
    summary: dict[str, Any] = {
        "experiment": "sampling",
        "condition": condition_label(config),
        "noise": config.noise,
        "sigma": config.sigma,
        "sal": config.sal,
        "kolen_pollack": config.kolen_pollack,
        "dkl_initial": float(np.median(dkl_val[:, 0])),
        "dkl_final": float(np.median(dkl_val[:, -1])),
        "asymmetry_initial": float(np.median(asym[:, 0])),
        "asymmetry_final": float(np.median(asym[:, -1])),
        "dkl_final_iqr": np.percentile(dkl_val[:, -1], [25, 75]).tolist(),
        "asymmetry_final_iqr": np.percentile(asym[:, -1], [25, 75]).tolist(),
        "per_seed": per_seed,
        "iterations": config.iterations,
        "seeds": seeds,
        "ranks": ranks,
        "wall_time_s": round(wall, 3),  # of this invocation
        "run_iterations_this_invocation": done,
        # wall clock per run-iteration trained by this invocation (a resumed run: its part)
        "seconds_per_iteration_per_run": wall / done if done else None,
        # compute time over all invocations (accumulated in the checkpoints)
        "train_seconds_per_iteration_per_run": train / (config.iterations * len(seeds)),
        "validation_seconds": round(validation, 3),
        **run_record(config),
    }
    from salpynn.experiments.sampling_plots import plot_run

    plot_run(out / "learning.png", summary, asym, val_iters, dkl_val)
    atomic_write_json(out / "summary.json", summary)
    return summary


def condition_label(config: SamplingConfig) -> str:
    """Short name of the scenario, e.g. ``synaptic noise 0.8, SAL``."""
    if config.noise == "none":
        noise = "no noise"
    else:
        noise = f"{config.noise} noise {config.sigma:g}"
    rules = [name for name, on in (("SAL", config.sal), ("KP", config.kolen_pollack)) if on]
    return f"{noise}, {' + '.join(rules) if rules else 'Hebbian only'}"


def _write_metrics_csv(
    path: Path,
    seeds: list[int],
    asym: FloatArray,
    dkl_sleep: FloatArray,
    val_iters: NDArray[np.int64],
    dkl_val: FloatArray,
) -> None:
    """One row per seed and iteration (0 = before learning)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["seed", "iteration", "asymmetry", "dkl_sleep", "dkl_validation"])
    val_column = {int(it): k for k, it in enumerate(val_iters)}
    for row, seed in enumerate(seeds):
        for it in range(asym.shape[1]):
            sleep = "" if it == 0 else f"{dkl_sleep[row, it - 1]:.6g}"
            val = f"{dkl_val[row, val_column[it]]:.6g}" if it in val_column else ""
            writer.writerow([seed, it, f"{asym[row, it]:.6g}", sleep, val])
    atomic_write(path, lambda tmp: tmp.write_text(buffer.getvalue()))


def _announce(config: SamplingConfig, out: Path) -> str:
    return (
        f"sampling: {condition_label(config)}; {config.seeds} seeds x {config.iterations} "
        f"iterations, {config.n} neurons, {config.backend} -> {out}"
    )


def _figures(runs: list[tuple[Path, dict[str, Any]]], out: Path, **options: Any) -> list[Path]:
    from salpynn.experiments.sampling_plots import plot_sampling_figures

    return plot_sampling_figures(runs, out)


def _memory(config: SamplingConfig) -> int:
    """Bytes held by a run: per seed and iteration the metrics (asymmetry, sleep D_KL: float64,
    collected and copied once) and the text of ``metrics.csv`` (about 80 bytes a row)."""
    return config.seeds * config.iterations * (4 * 8 + 80)


EXPERIMENT = Experiment(
    name="sampling",
    description="wake-sleep Boltzmann learning in sampling networks with and without SAL, "
    "under synaptic or plasticity noise (paper Figs. 4-5)",
    config=SamplingConfig,
    run=run,
    outputs=("summary.json", "metrics.csv", "metrics.npz", "weights.npz", "learning.png"),
    figures=_figures,
    announce=_announce,
    memory=_memory,
)
