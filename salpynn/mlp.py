"""A multilayer perceptron in NumPy whose backward pass uses a feedback matrix per layer.

Layers ``sizes = [n_0, ..., n_L]``; ``W[l]`` and ``B[l]`` have the shape ``(n_{l+1}, n_l)``;
hidden layers are ReLU, the output is a softmax with cross-entropy loss.  The backward pass
sends the error through ``M[l]``, ``delta_l = (delta_{l+1} @ M[l]) * relu'(z_l)``:

- ``bp``: ``M = W`` (backpropagation; weight transport);
- ``fa``: ``M = B``, ``B`` fixed and random (feedback alignment, Lillicrap et al. 2016);
- ``kp``: ``M = B``, ``B`` gets ``W``'s update and both decay (Kolen-Pollack, Akrout et al. 2019);
- ``scfa``: ``M = |B| * sign(W)`` (sign-concordant feedback);
- ``sal``: ``M = B`` with ``B`` trained between epochs by a spiking SAL phase (``deepnet``).

Training is SGD with momentum on mini-batches; everything is seeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["METHODS", "MLP", "digits"]

METHODS = ("bp", "fa", "kp", "scfa", "sal")


def digits(
    seed: int = 0, test_fraction: float = 0.2
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """scikit-learn's 8 x 8 digits (bundled with scikit-learn: no download), scaled to
    ``[0, 1]`` and split at random (``seed``) into ``(x_train, y_train, x_test, y_test)``."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = data.data.astype(float) / 16.0
    y = data.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = round(test_fraction * len(y))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


@dataclass
class MLP:
    """Weights ``W``, feedback ``B``, biases ``b`` and the optimiser state of one network."""

    sizes: tuple[int, ...]
    method: str = "bp"
    seed: int = 0
    kp_decay: float = 1e-3
    W: list[NDArray[np.float64]] = field(default_factory=list)
    B: list[NDArray[np.float64]] = field(default_factory=list)
    b: list[NDArray[np.float64]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if len(self.sizes) < 2:
            raise ValueError(f"sizes needs at least 2 layers, got {self.sizes}")
        rng = np.random.default_rng(self.seed)
        shapes = [(self.sizes[i + 1], self.sizes[i]) for i in range(len(self.sizes) - 1)]
        if not self.W:
            self.W = [rng.uniform(-1, 1, s) * np.sqrt(6.0 / s[1]) for s in shapes]
            self.B = [rng.uniform(-1, 1, s) * np.sqrt(6.0 / s[1]) for s in shapes]
            self.b = [np.zeros(s[0]) for s in shapes]
        self._velocity: dict[str, list[NDArray[np.float64]]] = {}

    def forward(self, x: NDArray[np.float64]) -> tuple[list, list]:
        """Pre-activations ``z`` and activations ``a`` (``a[0] = x``; the last ``a`` is the
        softmax)."""
        a, z = [x], []
        for i, (w, b) in enumerate(zip(self.W, self.b, strict=True)):
            zi = a[-1] @ w.T + b
            z.append(zi)
            if i < len(self.W) - 1:
                a.append(np.maximum(zi, 0.0))
            else:
                shifted = zi - zi.max(axis=1, keepdims=True)
                e = np.exp(shifted)
                a.append(e / e.sum(axis=1, keepdims=True))
        return z, a

    def loss(self, x: NDArray[np.float64], y: NDArray[np.int64]) -> float:
        _, a = self.forward(x)
        return float(-np.mean(np.log(a[-1][np.arange(len(y)), y] + 1e-300)))

    def accuracy(self, x: NDArray[np.float64], y: NDArray[np.int64]) -> float:
        _, a = self.forward(x)
        return float(np.mean(a[-1].argmax(axis=1) == y))

    def feedback_matrix(self, layer: int) -> NDArray[np.float64]:
        """The matrix the error passes through below layer ``layer + 1``."""
        if self.method == "bp":
            return self.W[layer]
        if self.method == "scfa":
            return np.abs(self.B[layer]) * np.sign(self.W[layer])
        return self.B[layer]

    def gradients(
        self, x: NDArray[np.float64], y: NDArray[np.int64]
    ) -> tuple[list[NDArray[np.float64]], list[NDArray[np.float64]]]:
        """``(dL/dW, dL/db)`` as this method's backward pass computes them (mean loss)."""
        z, a = self.forward(x)
        delta = a[-1].copy()
        delta[np.arange(len(y)), y] -= 1.0
        delta /= len(y)
        grad_w, grad_b = [None] * len(self.W), [None] * len(self.W)
        for layer in range(len(self.W) - 1, -1, -1):
            grad_w[layer] = delta.T @ a[layer]
            grad_b[layer] = delta.sum(axis=0)
            if layer > 0:
                delta = (delta @ self.feedback_matrix(layer)) * (z[layer - 1] > 0)
        return grad_w, grad_b

    def step(
        self,
        x: NDArray[np.float64],
        y: NDArray[np.int64],
        lr: float,
        momentum: float = 0.9,
    ) -> None:
        """One SGD step with momentum.  KP: ``W`` and ``B`` take the same gradient, each with
        its own weight decay, so ``W - B`` decays by ``lr * kp_decay`` per step."""
        grad_w, grad_b = self.gradients(x, y)
        updates = [("W", self.W, grad_w), ("b", self.b, grad_b)]
        if self.method == "kp":
            updates = [
                ("W", self.W, [g + self.kp_decay * w for g, w in zip(grad_w, self.W, strict=True)]),
                ("b", self.b, grad_b),
                ("B", self.B, [g + self.kp_decay * m for g, m in zip(grad_w, self.B, strict=True)]),
            ]
        for name, params, grads in updates:
            velocity = self._velocity.setdefault(name, [np.zeros_like(p) for p in params])
            for i, g in enumerate(grads):
                velocity[i] = momentum * velocity[i] - lr * g
                params[i] += velocity[i]
