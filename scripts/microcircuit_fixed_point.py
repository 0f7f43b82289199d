"""Where SAL puts the microcircuit's feedback weight: the drift of B_12 at B_12 = W_21.

A [1, 1, 1] microcircuit with B = W_21 = 2 (many copies, random hidden input weights and input
values, a nudged output) runs one symmetrisation pattern with B fixed (eta_b = 0) in NEST; the
SAL update that B would receive is then computed from the recorded spikes with the reference
rule (salpynn.rule.weight_trajectory, lags between spike times) for each pairing:

- ``nearest``: each spike pairs with the partner's latest strictly earlier spike (sal_synapse);
- ``latest``: each spike pairs with the partner's latest spike up to its own step, and a
  simultaneous one gives 0 (the authors' code with ``n_last_spks = 1``; computed here);
- ``all``: every pair in the window.

A drift that is negative at B = W means B settles below W.

    .venv/bin/python scripts/microcircuit_fixed_point.py [--copies 20] [--seconds 20]
"""

from __future__ import annotations

import argparse

import numpy as np

from salpynn.rule import SIMULTANEITY_EPS, PairRule, weight_trajectory


def latest_pairing_change(pre: np.ndarray, post: np.ndarray, tau: float) -> float:
    """Summed SAL window (a_c = -1, a_a = +1) when every spike pairs with the partner's latest
    spike up to its own time and a simultaneous latest one contributes 0."""
    total = 0.0
    for t in post:  # causal: the latest pre at or before t
        k = np.searchsorted(pre, t + SIMULTANEITY_EPS, side="right")
        if k and t - pre[k - 1] > SIMULTANEITY_EPS:
            total -= np.exp(-(t - pre[k - 1]) / tau)
    for t in pre:  # anticausal: the latest post at or before t
        k = np.searchsorted(post, t + SIMULTANEITY_EPS, side="right")
        if k and t - post[k - 1] > SIMULTANEITY_EPS:
            total += np.exp(-(t - post[k - 1]) / tau)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0, help="model time of the pattern")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    from salpynn.networks.microcircuit import Microcircuit, MicrocircuitParameters

    from salpynn.pynn import load_backend

    backend = load_backend("nest")
    backend.setup(timestep=0.1, seed=args.seed)
    c = args.copies
    rng = np.random.default_rng(args.seed)
    params = MicrocircuitParameters(dims=(1, 1, 1), copies=c, record_spikes=True, eta_b=0.0)
    w = [rng.uniform(3.0, 6.0, (c, 1, 1)), np.full((c, 1, 1), 2.0)]
    net = Microcircuit(backend, params, w, [np.full((c, 1, 1), 2.0)], [np.full((c, 1), -1.0)] * 2)
    net.build()
    net.sync()
    net.set_inputs(rng.choice([-3.0, -2.5, -2.0, -0.8, 0.8, 2.0, 2.5, 3.0], c)[:, None])
    net.set_targets(rng.uniform(-0.4, 0.45, (c, 1)))
    net.set_symmetrisation(True, eta_b=0.0)
    backend.sim.run(args.seconds * 1000.0)
    hidden = backend.spike_times(net.pyramidal[0])  # postsynaptic to B
    output = backend.spike_times(net.pyramidal[1])  # presynaptic to B
    tau = params.tau_ref
    print(f"[1, 1, 1], B = W_21 = 2, {c} copies x {args.seconds:g} s of symmetrisation; rates "
          f"hidden {np.mean([len(x) for x in hidden]) / args.seconds:.0f}/s, output "
          f"{np.mean([len(x) for x in output]) / args.seconds:.0f}/s (at most 1000/s)")  # fmt: skip
    for pairing in ("nearest", "latest", "all"):
        if pairing == "latest":
            drift = [latest_pairing_change(output[k], hidden[k], tau) for k in range(c)]
        else:
            rule = PairRule.sal(tau=tau, eta=1.0, pairing=pairing, dendritic_delay=0.0)
            drift = [weight_trajectory(output[k], hidden[k], 0.0, rule).weights[-1]
                     for k in range(c)]  # fmt: skip
        d = np.asarray(drift) / args.seconds
        se = d.std(ddof=1) / np.sqrt(c)
        print(f"  {pairing:8s} drift of B at B = W: {d.mean():+8.2f} +- {se:5.2f} "
              "(eta per s; mean +- standard error over copies)")  # fmt: skip
    backend.sim.end()


if __name__ == "__main__":
    main()
