"""PNG figures of the analysis: correlograms, alignment, distributions, asymmetry.

Figures are drawn on :class:`matplotlib.figure.Figure` objects (Agg canvas, no pyplot state,
no display needed) and written with :func:`salpynn.results.atomic_write`, so an interrupted
run never leaves half a PNG.  Every function returns the path it wrote.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import quantities as pq
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from salpynn.analysis.alignment import alignment_angle
from salpynn.analysis.correlations import asymmetry_correlation
from salpynn.results import atomic_write
from salpynn.rule import PairRule, window_kernel

__all__ = [
    "plot_alignment_scatter",
    "plot_asymmetry",
    "plot_distributions",
    "plot_layer_scatters",
    "plot_stdd",
    "pyplot",
    "save_png",
]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed), for figures that use it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG atomically and release it (also from pyplot if it is there)."""
    written = atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)
    return written


def _ms(lags: pq.Quantity | ArrayLike) -> np.ndarray:
    if isinstance(lags, pq.Quantity):
        return np.asarray(lags.rescale(pq.ms).magnitude, dtype=float).ravel()
    return np.asarray(lags, dtype=float).ravel()


def plot_stdd(
    counts: ArrayLike,
    lags: pq.Quantity | ArrayLike,
    path: str | os.PathLike,
    pair: tuple[int, int] | None = None,
    rule: PairRule | None = None,
    title: str | None = None,
) -> Path:
    """Bar plot of a cross-correlogram or STDD, optionally with the plasticity window.

    Parameters
    ----------
    counts : array_like
        Pair counts per lag.
    lags : quantities.Quantity or array_like
        Lags ``t_j - t_i`` (plain arrays in ms), e.g. from
        :func:`salpynn.analysis.stdd`.
    path : str or os.PathLike
        PNG file to write.
    pair : (int, int), optional
        ``(i, j)``, used in the axis label.
    rule : salpynn.rule.PairRule, optional
        If given, its window ``K(dt)`` is drawn on a second axis.
    title : str, optional
        Figure title.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     plot_stdd([1, 4, 2], [-1.0, 0.0, 1.0], f"{folder}/stdd.png", (0, 1)).name
    'stdd.png'
    """
    x = _ms(lags)
    y = np.asarray(counts, dtype=float).ravel()
    width = float(np.min(np.diff(x))) if x.size > 1 else 1.0
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(x, y, width=width, color="tab:blue", alpha=0.8)
    i, j = pair if pair is not None else ("i", "j")
    ax.set_xlabel(f"lag $t_{{{j}}} - t_{{{i}}}$ (ms)  [> 0: {i} fires first]")
    ax.set_ylabel("spike pairs")
    ax.axvline(0.0, color="0.4", lw=0.8)
    if rule is not None:
        fine = np.linspace(x.min(), x.max(), 801)
        twin = ax.twinx()
        twin.plot(fine, window_kernel(fine, rule), color="tab:red", lw=1.2)
        twin.axhline(0.0, color="tab:red", lw=0.5, ls=":")
        twin.set_ylabel("window K(dt)", color="tab:red")
    ax.set_title(title or "spike-timing-difference distribution")
    return save_png(fig, path)


def plot_alignment_scatter(
    forward: ArrayLike,
    feedback: ArrayLike,
    path: str | os.PathLike,
    title: str | None = None,
) -> Path:
    """Scatter of feedback against forward weights, with the alignment angle.

    Parameters
    ----------
    forward : array_like
        Forward matrix ``W``.
    feedback : array_like
        Feedback matrix in ``W``'s orientation (see :mod:`salpynn.analysis.alignment`).
    path : str or os.PathLike
        PNG file to write.
    title : str, optional
        Figure title; the angle is appended.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     plot_alignment_scatter([[1.0, 2.0]], [[1.1, 1.9]], f"{folder}/wb.png").name
    'wb.png'
    """
    w = np.asarray(forward, dtype=float).ravel()
    b = np.asarray(feedback, dtype=float).ravel()
    angle = alignment_angle(forward, feedback)
    fig = Figure(figsize=(4.2, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(w, b, s=8, alpha=0.6, color="tab:blue")
    low = float(min(w.min(), b.min()))
    high = float(max(w.max(), b.max()))
    ax.plot([low, high], [low, high], color="0.5", lw=0.8, ls="--")
    ax.set_xlabel("forward weight W")
    ax.set_ylabel("feedback weight B (forward orientation)")
    ax.set_title(f"{title + ', ' if title else ''}angle {angle:.1f}°")
    return save_png(fig, path)


def plot_distributions(
    p_target: ArrayLike,
    p_sampled: ArrayLike,
    path: str | os.PathLike,
    max_states: int = 32,
    kl: float | None = None,
) -> Path:
    """Bars of target and sampled probabilities over network states.

    States are labelled ``z_0 z_1 ... z_{N-1}`` (neuron 0 first; the state index is
    ``sum_k z_k 2**k``).  With more than ``max_states`` states only the most probable target
    states are shown.

    Parameters
    ----------
    p_target, p_sampled : array_like
        Probabilities over the ``2**N`` states in index order.
    path : str or os.PathLike
        PNG file to write.
    max_states : int
        Most states to draw.
    kl : float, optional
        ``D_KL(target || sampled)`` to print in the title.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     plot_distributions([0.4, 0.1, 0.1, 0.4], [0.3, 0.2, 0.2, 0.3], f"{folder}/p.png").name
    'p.png'
    """
    p = np.asarray(p_target, dtype=float)
    q = np.asarray(p_sampled, dtype=float)
    n = p.size.bit_length() - 1
    shown = np.arange(p.size) if p.size <= max_states else np.sort(np.argsort(p)[::-1][:max_states])
    labels = ["".join(str((int(s) >> k) & 1) for k in range(n)) for s in shown]
    x = np.arange(shown.size)
    fig = Figure(figsize=(max(5.0, 0.28 * shown.size + 1.5), 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(x - 0.2, p[shown], width=0.4, label="target", color="tab:gray")
    ax.bar(x + 0.2, q[shown], width=0.4, label="sampled", color="tab:blue")
    ax.set_xticks(x, labels, rotation=90, fontsize=7, family="monospace")
    ax.set_xlabel(r"state $z_0 \dots z_{N-1}$")
    ax.set_ylabel("probability")
    subset = "" if shown.size == p.size else f" ({shown.size} most probable of {p.size})"
    kl_text = f", $D_{{KL}}$ = {kl:.4f}" if kl is not None else ""
    ax.set_title(f"target vs sampled{subset}{kl_text}")
    ax.legend(frameon=False)
    return save_png(fig, path)


def plot_asymmetry(
    predicted_asymmetry: ArrayLike,
    weights: ArrayLike,
    path: str | os.PathLike,
) -> Path:
    """Predicted drift asymmetry ``D - D^T`` against the true ``W - W^T`` (upper triangle).

    Under SAL the points fall on a line of negative slope: the drift opposes the asymmetry.

    Parameters
    ----------
    predicted_asymmetry : array_like
        ``(N, N)`` from :func:`salpynn.analysis.drift_asymmetry`.
    weights : array_like
        ``(N, N)`` weights, ``W[k, j]`` for ``j -> k``.
    path : str or os.PathLike
        PNG file to write.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> w = [[0.0, 1.0, 0.2], [0.4, 0.0, 0.9], [0.5, 0.1, 0.0]]
    >>> a = [[0.0, -0.6, 0.3], [0.6, 0.0, -0.8], [-0.3, 0.8, 0.0]]
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     plot_asymmetry(a, w, f"{folder}/asymmetry.png").name
    'asymmetry.png'
    """
    a = np.asarray(predicted_asymmetry, dtype=float)
    w = np.asarray(weights, dtype=float)
    rows, cols = np.triu_indices(a.shape[0], k=1)
    x = (w - w.T)[rows, cols]
    y = a[rows, cols]
    keep = np.isfinite(x) & np.isfinite(y)
    r = asymmetry_correlation(a, w)
    fig = Figure(figsize=(4.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(x[keep], y[keep], s=10, color="tab:purple")
    ax.axhline(0.0, color="0.6", lw=0.6)
    ax.axvline(0.0, color="0.6", lw=0.6)
    ax.set_xlabel(r"true asymmetry $W_{kj} - W_{jk}$")
    ax.set_ylabel(r"predicted drift $D_{kj} - D_{jk}$ (1/s)")
    ax.set_title(f"asymmetry from spikes, r = {r:.3f}")
    return save_png(fig, path)


def plot_layer_scatters(
    rows: list[tuple[list[np.ndarray], list[np.ndarray], str]],
    path: str | os.PathLike,
    title: str | None = None,
    max_points: int = 5000,
) -> Path:
    """W against B for every layer of a layered network, one row per ``(W, B, label)`` (e.g.
    start and end of training), at most ``max_points`` random points per panel.

    ``W[l]`` and ``B[l]`` have the same shape (``B`` in the forward orientation); the dashed
    line is ``B = W`` and each panel's title carries the angle between them.
    """
    plt = pyplot()
    rng = np.random.default_rng(0)
    n_layers = len(rows[0][0])
    fig, axes = plt.subplots(
        len(rows),
        n_layers,
        figsize=(2.9 * n_layers, 2.8 * len(rows)),
        squeeze=False,
        constrained_layout=True,
    )
    for r, (ws, bs, label) in enumerate(rows):
        for i, (wl, bl) in enumerate(zip(ws, bs, strict=True)):
            pick = rng.permutation(wl.size)[:max_points]
            ax = axes[r, i]
            ax.plot(wl.ravel()[pick], bl.ravel()[pick], ".", ms=1.5, alpha=0.5)
            lim = float(max(np.abs(wl).max(), np.abs(bl).max()))
            ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.7)
            ax.set_title(
                f"layer {i} -> {i + 1}, {label}: {alignment_angle(wl, bl):.0f}°", fontsize=8
            )
            ax.set_xlabel("W")
            ax.set_ylabel("B")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_png(fig, path)
