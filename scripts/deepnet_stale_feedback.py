#!/usr/bin/env python
"""Why SAL-trained feedback diverges at 5 hidden layers: the same MLP without spikes, its
feedback refreshed once per epoch by ``B <- B + kappa (W - B)``.

``kappa = 1`` copies ``W`` exactly before every epoch (perfect alignment, then stale during the
epoch); smaller ``kappa`` lags like a SAL phase.  ``every step`` refreshes ``B = W`` before
every mini-batch (this is BP).  Same data, batches and learning rate as ``deepnet``'s depth
sweep; prints test accuracy per epoch.  NumPy only, about a minute.

    .venv/bin/python scripts/deepnet_stale_feedback.py [--layers 64,64,64,64,64,64,10]
"""

from __future__ import annotations

import argparse

import numpy as np

from salpynn.mlp import MLP, digits


def train(sizes: tuple[int, ...], kappa: float | None, seed: int, epochs: int, lr: float):
    x, y, xt, yt = digits(seed)
    net = MLP(sizes, method="sal", seed=seed)
    rng = np.random.default_rng(seed)
    accuracies = []
    for _ in range(epochs):
        if kappa is not None:
            net.B = [b + kappa * (w - b) for w, b in zip(net.W, net.B, strict=True)]
        order = rng.permutation(len(y))
        for k in range(0, len(order), 32):
            if kappa is None:
                net.B = [w.copy() for w in net.W]
            idx = order[k : k + 32]
            net.step(x[idx], y[idx], lr, 0.9)
        accuracies.append(net.accuracy(xt, yt))
    return accuracies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default="64,64,64,64,64,64,10")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    sizes = tuple(int(n) for n in args.layers.split(","))
    print(f"layers {sizes}, lr {args.lr}, momentum 0.9, batch 32: test accuracy per epoch")
    for kappa in (None, 1.0, 0.3, 0.1):
        for seed in args.seeds:
            acc = train(sizes, kappa, seed, args.epochs, args.lr)
            label = "every step" if kappa is None else f"kappa {kappa:g}"
            print(f"{label:>11} seed {seed}: " + " ".join(f"{a:.2f}" for a in acc))


if __name__ == "__main__":
    main()
