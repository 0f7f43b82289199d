"""STDWI (salpynn.stdwi) against a step-by-step loop, chunking invariance and named errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from salpynn.stdwi import STDWI, STDWIRule


def loop_reference(rule, b, in_spikes, out_spikes, dt):
    """Step by step, as the rule is written: traces first (this step's spikes included), then
    every output spike of the step moves its row."""
    b = np.array(b, dtype=float)
    fast = np.zeros(in_spikes.shape[1])
    slow = np.zeros(in_spikes.shape[1])
    ef, es = math.exp(-dt / rule.tau_fast), math.exp(-dt / rule.tau_slow)
    for t in range(in_spikes.shape[0]):
        fast = ef * fast + rule.a_fast * in_spikes[t]
        slow = es * slow + rule.a_fast * rule.tau_fast / rule.tau_slow * in_spikes[t]
        for i in np.flatnonzero(out_spikes[t]):
            b[i] = b[i] + rule.lr * (fast - slow) - rule.lr * rule.decay * b[i]
    return b


def random_raster(rng, steps, n, p):
    return (rng.random((steps, n)) < p).astype(float)


@pytest.mark.parametrize("cuts", [[400], [1, 399], [137, 200, 63]])
def test_chunked_update_matches_the_loop(cuts):
    rng = np.random.default_rng(3)
    rule = STDWIRule(lr=0.05, tau_fast=1.0, tau_slow=7.0, decay=0.3)
    dt, n_in, n_out = 0.1, 6, 4
    steps = sum(cuts)
    inp = random_raster(rng, steps, n_in, 0.08)
    out = random_raster(rng, steps, n_out, 0.1)
    b0 = rng.normal(size=(n_out, n_in))
    expected = loop_reference(rule, b0, inp, out, dt)

    stdwi = STDWI(rule, n_in, dt)
    b, start = b0, 0
    for length in cuts:
        t_in, i_in = np.nonzero(inp[start : start + length])
        t_out, i_out = np.nonzero(out[start : start + length])
        b = stdwi.update(b, t_in, i_in, t_out, i_out, length)
        start += length
    np.testing.assert_allclose(b, expected, rtol=0, atol=1e-12)


def test_causal_inputs_are_inferred_with_their_sign():
    """Outputs that fire more (or less) right after input j: the estimate takes W's sign."""
    rng = np.random.default_rng(11)
    dt, steps, n_in, n_out = 0.1, 60_000, 8, 8
    w = rng.choice([-1.0, 1.0], size=(n_out, n_in))
    inp = random_raster(rng, steps, n_in, 0.05)
    # Output drive: inputs of the last 10 steps through W (a rectangular PSP of 1 ms).
    psp = np.cumsum(inp, axis=0)
    psp[10:] -= psp[:-10].copy()
    p_out = 0.05 * np.exp(0.8 * psp @ w.T) / (1 + 0.05 * np.exp(0.8 * psp @ w.T))
    out = (rng.random((steps, n_out)) < p_out).astype(float)
    stdwi = STDWI(STDWIRule(lr=0.01, tau_fast=1.0, tau_slow=20.0), n_in, dt)
    t_in, i_in = np.nonzero(inp)
    t_out, i_out = np.nonzero(out)
    b = stdwi.update(np.zeros((n_out, n_in)), t_in, i_in, t_out, i_out, steps)
    assert np.mean(np.sign(b) == w) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": 0.0}, "lr must be"),
        ({"tau_fast": -1.0}, "tau_fast must be"),
        ({"tau_slow": 5.0, "tau_fast": 10.0}, "tau_slow must be larger"),
        ({"decay": -0.1}, "decay must be"),
        ({"lr": 20.0, "decay": 0.1}, "lr \\* decay must be < 1"),
    ],
)
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        STDWIRule(**kwargs)


def test_bad_spikes_are_named():
    stdwi = STDWI(STDWIRule(), 3, 0.1)
    with pytest.raises(ValueError, match="in_ids must lie in"):
        stdwi.update(np.zeros((2, 3)), [0], [3], [], [], 10)
    with pytest.raises(ValueError, match="out_steps must lie in"):
        stdwi.update(np.zeros((2, 3)), [], [], [10], [0], 10)
    with pytest.raises(ValueError, match="b must have shape"):
        stdwi.update(np.zeros((2, 4)), [], [], [], [], 10)
