"""pyNN.brian2 translations of salpynn's models: the NEST semantics, step for step, in Brian2.

Everything here reproduces ``mechanisms/sampling_neuron.h`` and ``mechanisms/sal_synapse.h``
on Brian2's clock (step ``h``); the remaining differences are listed at the end.

Time grid and the neuron
------------------------
NEST's step ending at ``(k + 1) h`` is computed in Brian2's step ``k`` (clock time ``k h``),
whose results PyNN's ``StateMonitor`` (scheduled ``when="end"``) reports at ``(k + 1) h``.  In
that step the synapses first apply the PSPs that start or end at ``(k + 1) h``, then a code
block scheduled ``before_end`` draws the spike decision with ``u((k + 1) h)`` and starts the
refractory period; ``u`` and ``z`` recorded at ``(k + 1) h`` are therefore NEST's values.  The
decision is emitted by the threshold (``spike_next``) at the start of step ``k + 1``, so the
spike is labelled ``(k + 1) h``, as NEST stamps it, and enters the synaptic queues in the
same step as a ``SpikeSourceArray`` spike with that time would.  Refractoriness is an integer
step count (``step_last``, the step of the last spike): the neuron may fire again
``tau_refrac / h`` steps after a spike, so the shortest ISI is exactly ``tau_refrac`` and an
isolated neuron's ISI is ``(n_ref - 1 + G) h`` with ``G`` geometric, as in NEST.

Delays: a spike labelled ``t`` arrives at ``t + d`` (it counts for the spike decision of the
step ending at ``t + d``).  That step is Brian2's step ``(t + d) / h - 1``, so the Brian2
synaptic delay is ``d - h`` (0 for the minimum delay ``h``); PyNN sees ``d`` in both
directions.

Alpha PSPs
----------
With ``psp="alpha"`` the input sums are ``psp = tau_ref h / tau_syn**2 * s`` with the two
variables of NEST's exact recursion, advanced at the start of every step (``s <- E (s + a)``,
``a <- E a``, ``E = exp(-h / tau_syn)``); a synapse adds its weight to ``a`` (the synaptic
variables are ``alpha_a_basal`` and ``alpha_a_apical``), so a PSP is 0 in its arrival step and
``w kappa(h)`` in the next, as in NEST.  Nothing has to end an alpha PSP.

Rectangular PSPs
----------------
A projection onto a sampling neuron gets a second presynaptic pathway, ``end_psp``, delayed
by ``d - h + tau_syn``, that removes exactly what ``pre`` added.  A static synapse removes its
``weight``; a SAL synapse, whose weight may change while a PSP runs, stores the weight it sent
in a ring of :data:`PSP_SLOTS` slots.  More than :data:`PSP_SLOTS` PSPs of one plastic synapse
running at the same time raise :class:`RuntimeError` after the run (sampling-neuron sources
with ``tau_syn <= tau_refrac`` have at most two, one ending as the next begins).  The
``end_psp`` delays (they depend on the target's ``tau_syn``) are set before every run by a
small network object (:class:`_RunHooks`).

The SAL pair rule
-----------------
NEST's delay is dendritic by default: lags are ``t_post +
d_dend - t_pre`` with ``d_dend = d`` (``dendritic_delay = -1``). The ``pre`` pathway runs at
``t_pre + (d - h)``; the ``post`` pathway is delayed by ``(d - h) + (d_dend - h)``, so it runs
at ``t_post + d_dend + (d - h) - h``: one step *before* a presynaptic spike of the same
effective time. That delay cannot be negative, so this backend needs ``d_dend >= 2h - d``
(``dendritic_delay = 0`` only for ``d >= 2h``); NEST takes any ``d_dend`` in ``[0, d]``. With
Brian2's order of pathways within a step (presynaptic first), every synapse sees its spikes in
the order of effective times with postsynaptic before presynaptic spikes at equal times, as NEST
and :func:`salpynn.rule.weight_trajectory` do; the postsynaptic code adds the step back (``t +
dt``). Nearest pairing keeps the last presynaptic and the last two postsynaptic times;
all-to-all pairing with the exponential window keeps NEST's two traces; all-to-all pairing with
the triangular window keeps the last :data:`WINDOW_SLOTS` spike times of each side and raises
:class:`RuntimeError` after a run in which a spike still inside the window had to be dropped.
Unlike NEST, a postsynaptic spike changes the weight at once (at its effective time), not at the
next presynaptic spike; the transmitted weights are the same.

Units: PyNN's Brian2 projections carry weights in mV for ``voltage_based_synapses``; the input
sums ``psp_basal`` and ``psp_apical`` are in volts and ``u`` divides them by mV.  ``eta``,
``w_min`` and ``w_max`` scale with the weight.

Refused values: as on NEST, before anything changes (:mod:`salpynn.pynn.models`).  Brian2 itself
stores any number, so before every run the run hooks check the stored SAL values once more: a
value that reached Brian2 around those checks (e.g. PyNN's own ``Projection.set`` with NaN in
a weight matrix, which PyNN reads as "no connection") raises instead of silencing the neurons.

Remaining differences from NEST
-------------------------------
- A spike decided in the last step of a run (time ``t_stop``) is reported, and transmitted,
  in the next run; NEST reports it in the current one.  ``u`` and ``z`` already show it.
- ``u`` keeps a floating-point residue (~1e-16) once PSPs have ended; NEST resets it to ``b``.
- Changing a static weight while its PSPs run, or a delay of a SAL synapse, between runs, ends
  or pairs the running spikes with the new values.
- The random streams differ (same statistics, different spikes).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import brian2
import numpy as np
import pyNN.brian2
from brian2 import ms, mV, nA, uS
from pyNN.brian2 import simulator
from pyNN.parameters import ParameterSpace
from pyNN.standardmodels import build_translations

from salpynn.pynn import models
from salpynn.rule import check_synapse_values

__all__ = [
    "PSP_SLOTS",
    "WINDOW_SLOTS",
    "Connections",
    "Projection",
    "SALSynapse",
    "SamplingNeuron",
    "SamplingNeuronGroup",
    "SignedStaticSynapse",
    "SpikeReader",
    "set_cells",
]

#: Overlapping PSPs one plastic synapse can hold (ring of sent weights).
PSP_SLOTS = 4
#: Spike times per side kept for all-to-all pairing with the triangular window.
WINDOW_SLOTS = 4
#: Step of the "last spike" of a neuron that never spiked (int32 ``integer`` variables).
_NEVER = -(2**30)
#: Spikes closer than this never pair (NEST's ``stdp_eps`` = salpynn.rule.SIMULTANEITY_EPS).
_EPS = "(1e-9*second)"
#: Names of the neuron's input sums; a projection onto them gets rectangular PSPs.
_RECTANGULAR_INPUTS = ("psp_basal", "psp_apical")


def _grid_steps(values_s: Any, dt_s: float, name: str, allow_zero: bool = False) -> np.ndarray:
    """Durations (s) as integer steps of ``dt_s``; raise like NEST for off-grid values."""
    values = np.atleast_1d(np.asarray(values_s, dtype=float))
    steps = np.rint(values / dt_s)
    values_ms, dt_ms = values * 1e3, dt_s * 1e3
    bad = ~np.isfinite(values) | (values < 0) | ((values == 0) & (not allow_zero))
    bad |= np.abs(steps * dt_ms - values_ms) > 1e-9 * np.maximum(1.0, values_ms)
    if bad.any():
        lower = ">= 0" if allow_zero else "> 0"
        raise ValueError(
            f"SamplingNeuron: {name} must be {lower} ms, finite and a multiple of the time step "
            f"({dt_ms:g} ms); got {values_ms[bad][0]:g} ms"
        )
    return steps.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Neuron
# --------------------------------------------------------------------------------------------

_NEURON_EQUATIONS_COMMON = """
b : 1
tau_ref : second
tau_syn : second
lambda_apical : 1
n_ref : integer
step_last : integer
spike_next : boolean
u = b + (psp_basal + lambda_apical * psp_apical) / mV : 1
z = int(t_in_timesteps + 1 - step_last < n_ref) : 1
"""
_NEURON_EQUATIONS = (
    _NEURON_EQUATIONS_COMMON
    + """
psp_basal : volt
psp_apical : volt
"""
)
# Alpha PSPs: the two variables of the exact recursion per port (see the module docstring).
_NEURON_EQUATIONS_ALPHA = (
    _NEURON_EQUATIONS_COMMON
    + """
alpha_a_basal : volt
alpha_s_basal : volt
alpha_a_apical : volt
alpha_s_apical : volt
alpha_decay : 1
alpha_scale : 1
psp_basal = alpha_scale * alpha_s_basal : volt
psp_apical = alpha_scale * alpha_s_apical : volt
"""
)
_ALPHA_STEP = """
alpha_s_basal = alpha_decay * (alpha_s_basal + alpha_a_basal)
alpha_a_basal = alpha_decay * alpha_a_basal
alpha_s_apical = alpha_decay * (alpha_s_apical + alpha_a_apical)
alpha_a_apical = alpha_decay * alpha_a_apical
"""

# Per-step spike probability p of the step ending at t + dt (see sampling_neuron.h), as code
# that leaves p in the temporary "p".
_ESCAPE_PROBABILITY = {
    # hazard exp(u) / tau_ref over one step; u clipped so that exp() cannot overflow
    "exp": "p = -expm1(-exp(clip(u, -inf, 700)) / n_ref)",
    # sigma(u - ln(tau_ref / h)) in the form whose exp() never overflows
    "logistic": """
        x = u - log(n_ref)
        e = exp(-abs(x))
        p = (int(x >= 0) + int(x < 0) * e) / (1 + e)
        """,
}


class SamplingNeuronGroup(brian2.NeuronGroup):
    """Brian2 group of sampling neurons (the ``brian2_model`` of :class:`SamplingNeuron`).

    Parameters are ``b``, ``tau_ref``, ``tau_syn`` and ``lambda_apical`` (NEST's names);
    ``n_ref`` is derived from ``tau_ref`` and the time step before every run.
    """

    def __init__(
        self, n: int, equations: Any, escape: str = "exp", psp: str = "rect", **parameters: Any
    ) -> None:
        if escape not in models.ESCAPES:
            raise ValueError(f"escape must be one of {models.ESCAPES}, got {escape!r}")
        if psp not in models.PSPS:
            raise ValueError(f"psp must be one of {models.PSPS}, got {psp!r}")
        super().__init__(
            n,
            model=equations,
            threshold="spike_next",
            reset="",  # refractoriness is the step count step_last, set by the decision
            refractory=False,
            method="exact",
            clock=simulator.state.network.clock,
            name="samplingneurons*",
        )
        # The empty reset only silences Brian2's "threshold without reset" warning; its
        # per-step code object is not needed.
        self.contained_objects.remove(self.resetter.pop("spike"))
        for name, value in parameters.items():
            setattr(self, name, value)
        self.step_last = _NEVER
        # The decision for the step ending at t + dt, after the synapses and before the
        # StateMonitors of PyNN ("end"), so that u and z are recorded as NEST records them.
        self.run_regularly(
            _ESCAPE_PROBABILITY[escape]
            + """
            spike_next = (t_in_timesteps + 1 - step_last >= n_ref) and (rand() < p)
            step_last = step_last + int(spike_next) * (t_in_timesteps + 1 - step_last)
            """,
            when="before_end",
            name=self.name + "_escape",
        )
        if psp == "alpha":
            # Before the synapses add this step's arrivals ("synapses" slot).
            self.run_regularly(_ALPHA_STEP, when="start", name=self.name + "_alpha")
        self.add_attribute("escape")
        self.escape = escape
        self.add_attribute("psp")
        self.psp = psp
        _RunHooks.ensure_in_network()  # checks the synapse types of projections onto it
        self.add_attribute("initial_values")
        self.initial_values: dict[str, Any] = {}

    def psp_steps(self) -> np.ndarray:
        """PSP duration of every neuron in time steps (``tau_syn = 0`` means ``tau_ref``);
        rectangular PSPs only."""
        dt_s = float(self.clock.dt_)
        n_ref = _grid_steps(self.tau_ref_[:], dt_s, "tau_refrac")
        n_syn = _grid_steps(self.tau_syn_[:], dt_s, "tau_syn", allow_zero=True)
        return np.where(n_syn == 0, n_ref, n_syn)

    def before_run(self, run_namespace: Any) -> None:
        # As NEST's pre_run_hook: the time step may have changed since the parameters were set.
        dt_s = float(self.clock.dt_)
        self.n_ref_[:] = _grid_steps(self.tau_ref_[:], dt_s, "tau_refrac")
        if self.psp == "rect":
            self.psp_steps()  # validates tau_syn
        else:
            tau_ref = np.asarray(self.tau_ref_[:], dtype=float)
            tau = np.asarray(self.tau_syn_[:], dtype=float)
            if np.any(~np.isfinite(tau) | (tau < 0)):
                raise ValueError("SamplingNeuron: tau_syn of an alpha PSP must be >= 0 ms, finite")
            tau = np.where(tau == 0, tau_ref, tau)
            self.alpha_decay_[:] = np.exp(-dt_s / tau)
            self.alpha_scale_[:] = tau_ref * dt_s / tau**2
        super().before_run(run_namespace)

    def initialize(self) -> None:
        """Apply ``Population.initialize``: ``z = 1`` starts a refractory period, ``z = 0`` ends it.

        ``u`` is read-only (``b`` plus the inputs); PyNN's Brian2 recorder needs an initial
        value for it, which is the placeholder 0 (NEST's PyNN layer reports 0 as well).
        """
        for variable, values in self.initial_values.items():
            values = np.broadcast_to(np.asarray(values, dtype=float), (self.N,))
            if variable == "z":
                if not np.all((values == 0) | (values == 1)):
                    raise ValueError("SamplingNeuron: z must be 0 or 1")
                now = int(self.clock.variables["timestep"].get_value()[0])
                self.step_last_[:] = np.where(values == 1, now, _NEVER)
            elif variable == "u":
                if np.any(values != 0):
                    raise ValueError("SamplingNeuron: u is read-only (bias plus the inputs)")
            else:
                setattr(self, variable, values)


class SamplingNeuron(models.SamplingNeuron):
    __doc__ = models.SamplingNeuron.__doc__

    eqs = _NEURON_EQUATIONS
    translations = build_translations(
        ("bias", "b"),
        ("tau_refrac", "tau_ref", ms),
        ("tau_syn", "tau_syn", ms),
        ("lambda_apical", "lambda_apical"),
    )
    state_variable_translations = build_translations(("u", "u", 1.0), ("z", "z", 1.0))
    # PyNN's Brian2 recorder prepends an initial value to every signal; u and z have the
    # placeholder 0 (z = 0 is also the true initial state).
    default_initial_values = {"u": 0.0, "z": 0.0}
    post_synaptic_variables = {"basal": "psp_basal", "apical": "psp_apical"}

    def __init__(self, escape: str = "exp", psp: str = "rect", **parameters: Any) -> None:
        super().__init__(escape=escape, psp=psp, **parameters)
        self.brian2_model = functools.partial(SamplingNeuronGroup, escape=escape, psp=psp)
        if psp == "alpha":
            self.eqs = _NEURON_EQUATIONS_ALPHA
            self.post_synaptic_variables = {"basal": "alpha_a_basal", "apical": "alpha_a_apical"}


# --------------------------------------------------------------------------------------------
# Synapses
# --------------------------------------------------------------------------------------------


class _PathwayCode(str):
    """Synaptic code that PyNN's Brian2 ``Projection`` formats with ``%``.

    ``code % {"syn_var": ..., "weight_units": ...}`` substitutes the placeholders (and nothing
    else, so that ``%`` stays Brian2's modulo).  Onto a sampling neuron's input sum the result
    is a dict of pathways: ``pre`` (start of the PSP) and ``end_psp`` (its end), the form
    ``brian2.Synapses(on_pre=...)`` takes for several presynaptic pathways.
    """

    def __new__(cls, start: str, rectangular_start: str = "", end: str = "") -> _PathwayCode:
        code = super().__new__(cls, start)
        code.rectangular_start = rectangular_start
        code.end = end
        return code

    @staticmethod
    def _fill(code: str, context: dict[str, str]) -> str:
        for key, value in context.items():
            code = code.replace(f"%({key})s", value)
        return code

    def __mod__(self, context: dict[str, str]) -> str | dict[str, str]:  # type: ignore[override]
        start = self._fill(str(self), context)
        if context.get("syn_var") not in _RECTANGULAR_INPUTS or not self.end:
            return start
        return {
            "pre": start + self._fill(self.rectangular_start, context),
            "end_psp": self._fill(self.end, context),
        }


def _delay_translation() -> tuple[str, str, Any, Any]:
    """PyNN delay ``d`` <-> Brian2 delay ``d - h`` (see the module docstring)."""

    def forward(**p: Any) -> Any:
        return (p["delay"] - simulator.state.dt) * ms

    def reverse(**p: Any) -> Any:
        return p["delay"] / ms + simulator.state.dt

    return ("delay", "delay", forward, reverse)


def _weight_translation(name: str, units: Any) -> tuple[str, str, Any, Any]:
    def forward(**p: Any) -> Any:
        return p[name] * units

    def reverse(**p: Any) -> Any:
        return p[name] / units

    return (name, name, forward, reverse)


class _OneConnectionParameterSpace(ParameterSpace):
    """Keeps one-element values as arrays after evaluation.

    lazyarray evaluates a one-element array to a scalar, and pyNN.brian2's
    ``Projection.get(..., format="list")`` then fails for a projection with one connection
    (it stacks the scalar with the index arrays).
    """

    def __getitem__(self, name: str) -> Any:
        value = super().__getitem__(name)
        if self._evaluated and np.ndim(value) == 0 and self._evaluated_shape == (1,):
            return np.atleast_1d(value)
        return value


class _BrianSynapseMixin:
    """What pyNN.brian2 needs from a synapse type: translations per instance, units, delays."""

    _weight_like: tuple[str, ...] = ("weight",)
    _other_translations: tuple[tuple, ...] = ()

    def _build_translations(self, weight_units: Any = mV) -> None:
        self.translations = build_translations(
            *(_weight_translation(name, weight_units) for name in self._weight_like),
            _delay_translation(),
            *self._other_translations,
        )

    def _set_target_type(self, weight_units: Any) -> None:
        self._build_translations(weight_units)
        _RunHooks.ensure_in_network()

    def _get_minimum_delay(self) -> float:
        d = simulator.state.min_delay
        return simulator.state.dt if d == "auto" else d

    def reverse_translate(self, native_parameters: ParameterSpace) -> ParameterSpace:
        standard = super().reverse_translate(native_parameters)  # type: ignore[misc]
        return _OneConnectionParameterSpace(
            dict(standard.items()), schema=standard.schema, shape=standard.shape
        )


class SignedStaticSynapse(_BrianSynapseMixin, models.SignedStaticSynapse):
    __doc__ = models.SignedStaticSynapse.__doc__

    eqs = "weight : %(weight_units)s"
    pre = _PathwayCode("%(syn_var)s_post += weight\n", end="%(syn_var)s_post -= weight\n")
    post = None
    initial_conditions: dict[str, float] = {}

    def __init__(self, **parameters: Any) -> None:
        self._build_translations()
        super().__init__(**parameters)


def _kernel(x: str, window: str) -> str:
    """Unit window ``k(x)`` for ``x >= 0`` as Brian2 code (NEST's exact expressions)."""
    if window == "exp":
        return f"exp(-({x}))"
    return f"int(({x}) < 1) * (1 - ({x}))"


def _sal_code(window: str, pairing: str) -> tuple[str, str, str]:
    """Model equations, presynaptic and postsynaptic code of the pair rule (sal_synapse.h).

    In the presynaptic code ``t`` is the spike's time shifted by ``d - h``; in the
    postsynaptic code ``t + dt`` is the effective postsynaptic time with the same shift.
    """
    eqs = [
        "weight : %(weight_units)s",
        "eta : %(weight_units)s",
        "w_min : %(weight_units)s",
        "w_max : %(weight_units)s",
        "a_causal : 1",
        "a_anticausal : 1",
        "tau_causal : second",
        "tau_anticausal : second",
        "dendritic_delay : second",  # < 0: the whole delay (used by the run hooks)
        "t_pre_last : second",
        "pre_seen : integer",
        "t_post_last : second",
        "posts_seen : integer",  # saturates at 2: "none", "one", "two or more"
    ]
    apply = "weight = clip(weight + eta * ({summed}), w_min, w_max)\n"
    post_time = "(t + dt)"
    if pairing == "nearest":
        eqs.append("t_post_prev : second")
        lag_last = "(t - t_post_last)"
        pre = (
            f"k_last = int(posts_seen > 0) * int(abs{lag_last} > {_EPS})"
            f" * {_kernel(f'{lag_last} / tau_anticausal', window)}\n"
            f"k_prev = int(posts_seen > 1) * int(abs{lag_last} <= {_EPS})"
            f" * {_kernel('(t - t_post_prev) / tau_anticausal', window)}\n"
            + apply.format(summed="a_anticausal * (k_last + k_prev)")
        )
        post = (
            f"k_causal = pre_seen * {_kernel(f'({post_time} - t_pre_last) / tau_causal', window)}\n"
            + apply.format(summed="a_causal * k_causal")
            + "t_post_prev = t_post_last\n"
        )
    elif window == "exp":
        eqs += ["pre_trace : 1", "post_trace_prev : 1"]
        pre = (
            "lag_last = t - t_post_last\n"
            # post_trace_prev excludes t_post_last: a simultaneous last post is dropped exactly
            f"earlier = post_trace_prev + int(abs(lag_last) > {_EPS})\n"
            + apply.format(
                summed="a_anticausal * int(posts_seen > 0) * earlier"
                " * exp(-lag_last / tau_anticausal)"
            )
            + "pre_trace = pre_seen * pre_trace * exp(-(t - t_pre_last) / tau_causal) + 1\n"
        )
        post = (
            apply.format(
                summed=f"a_causal * pre_seen * pre_trace"
                f" * exp(-({post_time} - t_pre_last) / tau_causal)"
            )
            + "post_trace_prev = int(posts_seen > 0) * (post_trace_prev + 1)"
            f" * exp(-({post_time} - t_post_last) / tau_anticausal)\n"
        )
    else:  # triangular window, all-to-all: the last WINDOW_SLOTS spike times of each side
        eqs += [f"t_pre_{j} : second" for j in range(WINDOW_SLOTS)]
        eqs += [f"t_post_{j} : second" for j in range(WINDOW_SLOTS)]
        eqs += ["n_pre_seen : integer", "n_post_seen : integer", "window_overflow : integer"]

        def partners(now: str, side: str, count: str, tau: str) -> str:
            terms = [
                f"int({count} > {j}) * int({now} - t_{side}_{j} > {_EPS})"
                f" * {_kernel(f'({now} - t_{side}_{j}) / {tau}', 'triangular')}"
                for j in range(WINDOW_SLOTS)
            ]
            return " + ".join(terms)

        def remember(now: str, side: str, count: str, tau: str) -> str:
            slot = f"({count} % {WINDOW_SLOTS})"
            # The slot's old spike may still pair with a later spike of the other side.
            code = "".join(
                f"window_overflow += int({count} >= {WINDOW_SLOTS}) * int({slot} == {j})"
                f" * int({now} - t_{side}_{j} < {tau})\n"
                for j in range(WINDOW_SLOTS)
            )
            code += "".join(
                f"t_{side}_{j} = int({slot} == {j}) * {now} + int({slot} != {j}) * t_{side}_{j}\n"
                for j in range(WINDOW_SLOTS)
            )
            return code + f"{count} += 1\n"

        pre = (
            f"sum_posts = {partners('t', 'post', 'n_post_seen', 'tau_anticausal')}\n"
            + apply.format(summed="a_anticausal * sum_posts")
            + remember("t", "pre", "n_pre_seen", "tau_causal")
        )
        post = (
            f"sum_pres = {partners(post_time, 'pre', 'n_pre_seen', 'tau_causal')}\n"
            + apply.format(summed="a_causal * sum_pres")
            + remember(post_time, "post", "n_post_seen", "tau_anticausal")
        )
    pre += "t_pre_last = t\npre_seen = 1\n"
    post += f"t_post_last = {post_time}\nposts_seen = posts_seen + int(posts_seen < 2)\n"
    return "\n".join(eqs), pre, post


def _psp_ring() -> tuple[str, str, str]:
    """Equations, start and end code of the ring of sent weights (PSP_SLOTS slots)."""
    eqs = [f"w_sent_{j} : %(weight_units)s" for j in range(PSP_SLOTS)]
    eqs += ["n_psp_started : integer", "n_psp_ended : integer", "psp_overflow : integer"]
    start = f"psp_overflow += int(n_psp_started - n_psp_ended >= {PSP_SLOTS})\n"
    slot = f"(n_psp_started % {PSP_SLOTS})"
    start += "".join(
        f"w_sent_{j} = int({slot} == {j}) * weight + int({slot} != {j}) * w_sent_{j}\n"
        for j in range(PSP_SLOTS)
    )
    start += "n_psp_started += 1\n"
    end_slot = f"(n_psp_ended % {PSP_SLOTS})"
    sent = " + ".join(f"int({end_slot} == {j}) * w_sent_{j}" for j in range(PSP_SLOTS))
    end = f"%(syn_var)s_post -= {sent}\nn_psp_ended += 1\n"
    return "\n".join(eqs), start, end


class SALSynapse(_BrianSynapseMixin, models.SALSynapse):
    __doc__ = models.SALSynapse.__doc__

    _weight_like = ("weight", "eta", "w_min", "w_max")
    _other_translations = (
        ("a_causal", "a_causal"),
        ("a_anticausal", "a_anticausal"),
        ("tau_causal", "tau_causal", ms),
        ("tau_anticausal", "tau_anticausal", ms),
        ("dendritic_delay", "dendritic_delay", ms),
    )
    initial_conditions: dict[str, float] = {}

    def __init__(self, window: str = "exp", pairing: str = "nearest", **parameters: Any) -> None:
        self._build_translations()
        super().__init__(window=window, pairing=pairing, **parameters)
        rule_eqs, pre, post = _sal_code(self.window, self.pairing)
        ring_eqs, ring_start, ring_end = _psp_ring()
        self.eqs = rule_eqs + "\n" + ring_eqs
        # The weight is updated before it is sent, as in NEST.
        self.pre = _PathwayCode(
            pre + "%(syn_var)s_post += weight\n", rectangular_start=ring_start, end=ring_end
        )
        self.post = _PathwayCode(post)


# --------------------------------------------------------------------------------------------
# Run hooks: pathway delays before every run, overflow checks after it
# --------------------------------------------------------------------------------------------


def _nest_only(name: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"{name} is not available on Brian2: its per-neuron boxcar average over thousands "
            "of steps has no form in Brian2's equations, and a per-step Python operation would "
            "take hours per run; use backend='nest'"
        )

    refuse.__name__ = name
    return refuse


DendriticSamplingNeuron = _nest_only("DendriticSamplingNeuron")
DendriticPredictionSynapse = _nest_only("DendriticPredictionSynapse")


class Projection(models.CheckedProjection, pyNN.brian2.Projection):
    """``pyNN.brian2.Projection`` whose ``set`` checks a :class:`SALSynapse` request whole (in
    PyNN units) against the values its connections would have, before anything changes."""


#: PyNN's weight unit of a Brian2 synaptic weight, by its dimension (``weight_units``).
_PYNN_WEIGHT_UNITS = {unit.dim: unit for unit in (mV, nA, uS)}


def _check_stored_sal_values(syn: brian2.Synapses) -> None:
    """Check a SAL synapse group's stored values as the NEST synapse would (PyNN units)."""
    unit = float(_PYNN_WEIGHT_UNITS[syn.variables["weight"].dim])
    dt_ms = float(syn.clock.dt_) * 1e3
    values = {name: getattr(syn, name + "_")[:] / unit for name in ("weight", "w_min", "w_max")}
    values["delay"] = syn.pre.delay_[:] * 1e3 + dt_ms  # PyNN's delay (see the module docstring)
    dendritic = syn.dendritic_delay_[:] * 1e3
    # -1 ms ("the whole delay") went through seconds: give it back its exact value.
    values["dendritic_delay"] = np.where(np.abs(dendritic + 1.0) < 1e-9, -1.0, dendritic)
    check_synapse_values("SALSynapse", values, connections=(syn.i[:], syn.j[:]))


class _RunHooks(brian2.BrianObject):
    """Before every run: pathway delays of salpynn synapses, and a check of foreign synapses.

    Runs first ("start" slot, lowest order) so that the delays are in place before the
    pathways build their spike queues; it has no per-step work.  After every run it raises if
    a ring of :data:`PSP_SLOTS` or :data:`WINDOW_SLOTS` overflowed.
    """

    add_to_magic_network = False

    def __init__(self) -> None:
        super().__init__(
            clock=simulator.state.network.clock, when="start", order=-(10**6), name="salpynnhooks*"
        )

    @classmethod
    def ensure_in_network(cls) -> None:
        network = simulator.state.network
        if not any(isinstance(obj, cls) for obj in network.objects):
            network.add(cls())

    @staticmethod
    def _synapses() -> list[brian2.Synapses]:
        return [obj for obj in simulator.state.network.objects if isinstance(obj, brian2.Synapses)]

    @staticmethod
    def _check_rectangular(syn: brian2.Synapses) -> None:
        """Refuse synapse types that would start a sampling neuron's PSP and never end it."""
        if not isinstance(syn.target, SamplingNeuronGroup) or "end_psp" in syn._synaptic_updaters:
            return
        if any(re.search(r"\bpsp_(basal|apical)", pathway.code) for pathway in syn._pathways):
            raise TypeError(
                f"{syn.name}: projections onto a SamplingNeuron need salpynn's synapse types "
                "(SignedStaticSynapse or SALSynapse of this backend), whose rectangular PSPs end "
                "after tau_syn; this synapse type would never end them"
            )

    def before_run(self, run_namespace: Any) -> None:
        for syn in self._synapses():
            self._check_rectangular(syn)
            if "end_psp" not in syn._synaptic_updaters and "t_pre_last" not in syn.variables:
                continue
            delay = np.asarray(syn.pre.delay_[:], dtype=float)
            dt_s = float(syn.clock.dt_)
            if np.any(delay < -1e-12):
                raise ValueError(f"{syn.name}: delays must be >= the time step ({dt_s * 1e3:g} ms)")
            if "t_pre_last" in syn.variables:
                _check_stored_sal_values(syn)
            if "end_psp" in syn._synaptic_updaters:
                steps = syn.target.psp_steps()[np.asarray(syn.j[:], dtype=int)]
                syn.end_psp.delay_[:] = delay + steps * dt_s
            if "post" in syn._synaptic_updaters:
                # Postsynaptic spikes count at t_post + d_dend, one step before presynaptic
                # spikes of the same effective time: (d - h) + (d_dend - h) after the spike.
                dendritic = np.asarray(syn.dendritic_delay_[:], dtype=float)
                dendritic = np.where(dendritic < 0, delay + dt_s, dendritic)
                post_delay = delay + dendritic - dt_s
                if np.any(post_delay < -1e-12):
                    raise ValueError(
                        f"{syn.name}: on Brian2 dendritic_delay must be -1 (the whole delay) or "
                        f">= 2 * timestep - delay ({2 * dt_s * 1e3:g} ms - delay); "
                        "NEST accepts any value in [0, delay]"
                    )
                syn.post.delay_[:] = np.maximum(post_delay, 0.0)
        super().before_run(run_namespace)

    def after_run(self) -> None:
        super().after_run()
        for syn in self._synapses():
            if "psp_overflow" in syn.variables and np.any(syn.psp_overflow_[:] > 0):
                raise RuntimeError(
                    f"{syn.name}: a SAL synapse had more than {PSP_SLOTS} PSPs running at "
                    f"once (more than {PSP_SLOTS} presynaptic spikes within tau_syn); the Brian2 "
                    "backend could not end them exactly"
                )
            if "window_overflow" in syn.variables and np.any(syn.window_overflow_[:] > 0):
                raise RuntimeError(
                    f"{syn.name}: more than {WINDOW_SLOTS} spikes of one side within the "
                    "triangular window (pairing='all'); use pairing='nearest' or the "
                    "exponential window on the Brian2 backend"
                )


class Connections:
    """A projection's connections (row-major ``(post, pre)`` order), read and written in bulk
    through PyNN (:meth:`salpynn.pynn.Backend.connections`)."""

    def __init__(self, backend: Any, projection: Any) -> None:
        self.backend = backend
        self.projection = projection
        self.post, self.pre = np.nonzero(~np.isnan(backend.weight_matrix(projection)))
        self.checked = isinstance(projection.synapse_type, models.SALSynapse)

    def get(self, name: str) -> np.ndarray:
        return self.backend.weight_matrix(self.projection, name)[self.post, self.pre]

    def set(self, **values: Any) -> None:
        """Set parameters: arrays (one value per connection, in this order) or scalars; the
        whole request is checked first and set in one ``Projection.set``."""
        if self.checked:
            models.check_connection_request(values, self.get, self.pre, self.post)
        shape = (self.projection.post.size, self.projection.pre.size)
        request = {}
        for name, value in values.items():
            if np.ndim(value) == 0:
                request[name] = value
                continue
            full = np.full(shape, np.nan)
            full[self.post, self.pre] = value
            request[name] = full.T  # PyNN's array format is [pre, post]
        self.projection.set(**request)


class SpikeReader:
    """Spikes of a population from PyNN's recording (which pyNN.brian2 cannot clear, so the
    whole recording is read and the spikes after ``since`` are kept)."""

    def __init__(self, backend: Any, population: Any) -> None:
        self.population = population
        self.half_step = 0.5 * backend.sim.get_time_step()

    def read(self, since: float) -> tuple[np.ndarray, np.ndarray]:
        segment = self.population.get_data("spikes", clear=False).segments[0]
        times, senders = [], []
        for st in segment.spiketrains:
            t = st.rescale("ms").magnitude
            t = t[t > since + self.half_step]
            times.append(np.asarray(t, dtype=float))
            senders.append(np.full(len(t), int(st.annotations["source_index"]), dtype=np.int64))
        if not times:
            return np.empty(0), np.empty(0, dtype=np.int64)
        return np.concatenate(times), np.concatenate(senders).astype(np.int64)


def set_cells(population: Any, **values: Any) -> None:
    """Set per-neuron parameters (PyNN names and units)."""
    population.set(**{name: np.asarray(value).reshape(-1) for name, value in values.items()})
