"""Alignment of feedback to forward weights, and symmetry of recurrent weights.

Orientation
-----------
A forward matrix ``W`` of a layer has shape ``(n_out, n_in)`` (``u_out = W x_in``).  Its
feedback matrix ``B`` carries errors the other way; it is *aligned* when it equals ``W^T``.
Every metric here takes ``B`` already in ``W``'s orientation, i.e. it compares ``W`` with
``B_fw`` where perfect alignment is ``B_fw = W``.  A feedback matrix stored in the backward
orientation ``(n_in, n_out)`` is turned round with :func:`feedback_in_forward_orientation`
(a transpose).

All metrics are over the flattened matrices; variances are population variances
(``ddof = 0``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "METRIC_NAMES",
    "alignment_angle",
    "alignment_correlation",
    "alignment_metrics",
    "asymmetry_variance",
    "difference_variance",
    "feedback_in_forward_orientation",
    "layer_alignment",
    "sign_concordance",
]


#: The keys of :func:`alignment_metrics`, in its order (CSV columns of layered experiments).
METRIC_NAMES = ("angle_deg", "difference_variance", "correlation", "sign_concordance")


def _pair(forward: ArrayLike, feedback: ArrayLike) -> tuple[NDArray[np.float64], ...]:
    w = np.asarray(forward, dtype=float)
    b = np.asarray(feedback, dtype=float)
    if w.shape != b.shape:
        transposed = w.shape == b.T.shape
        hint = " (transpose B with feedback_in_forward_orientation?)" if transposed else ""
        raise ValueError(f"W and B must have the same shape, got {w.shape} and {b.shape}{hint}")
    if w.size == 0:
        raise ValueError("W and B must not be empty")
    return w.ravel(), b.ravel()


def feedback_in_forward_orientation(feedback: ArrayLike) -> NDArray[np.float64]:
    """A feedback matrix ``(n_in, n_out)`` turned into ``W``'s orientation ``(n_out, n_in)``.

    Parameters
    ----------
    feedback : array_like
        Feedback matrix in the backward orientation.

    Returns
    -------
    numpy.ndarray
        Its transpose.

    Examples
    --------
    >>> feedback_in_forward_orientation([[1.0, 2.0, 3.0]]).shape
    (3, 1)
    """
    return np.asarray(feedback, dtype=float).T.copy()


def alignment_angle(forward: ArrayLike, feedback: ArrayLike) -> float:
    """Angle between ``W`` and ``B`` in degrees, ``arccos(<W, B> / (|W| |B|))``.

    Parameters
    ----------
    forward : array_like
        Forward matrix ``W``.
    feedback : array_like
        Feedback matrix in ``W``'s orientation.

    Returns
    -------
    float
        Degrees in ``[0, 180]``; 0 when aligned, 90 when orthogonal; NaN if either matrix
        is zero.

    Raises
    ------
    ValueError
        If the shapes differ.

    Examples
    --------
    >>> w = [[1.0, -2.0], [0.5, 3.0]]
    >>> alignment_angle(w, w), alignment_angle(w, [[-1.0, 2.0], [-0.5, -3.0]])
    (0.0, 180.0)
    """
    w, b = _pair(forward, feedback)
    norm_w, norm_b = np.linalg.norm(w), np.linalg.norm(b)
    if norm_w == 0 or norm_b == 0:
        return math.nan
    # Same angle as arccos of the cosine, but accurate near 0 and 180 degrees, where the
    # arccos of a rounded cosine loses about half the digits.
    u, v = w / norm_w, b / norm_b
    return float(np.degrees(2.0 * np.arctan2(np.linalg.norm(u - v), np.linalg.norm(u + v))))


def difference_variance(forward: ArrayLike, feedback: ArrayLike) -> float:
    """``Var(W - B)`` over all entries.

    Parameters
    ----------
    forward : array_like
        Forward matrix ``W``.
    feedback : array_like
        Feedback matrix in ``W``'s orientation.

    Returns
    -------
    float

    Examples
    --------
    >>> difference_variance([[1.0, 2.0]], [[0.0, 0.0]])
    0.25
    """
    w, b = _pair(forward, feedback)
    return float(np.var(w - b))


def alignment_correlation(forward: ArrayLike, feedback: ArrayLike) -> float:
    """Pearson correlation of the entries of ``W`` and ``B``; NaN if either is constant.

    Parameters
    ----------
    forward : array_like
        Forward matrix ``W``.
    feedback : array_like
        Feedback matrix in ``W``'s orientation.

    Returns
    -------
    float

    Examples
    --------
    >>> alignment_correlation([[1.0, 2.0, 3.0]], [[2.0, 4.0, 6.5]]) > 0.99
    True
    """
    w, b = _pair(forward, feedback)
    if w.size < 2 or np.std(w) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(w, b)[0, 1])


def sign_concordance(forward: ArrayLike, feedback: ArrayLike) -> float:
    """Fraction of entries where ``W`` and ``B`` have the same sign (``numpy.sign``; 0 is
    its own sign).

    Parameters
    ----------
    forward : array_like
        Forward matrix ``W``.
    feedback : array_like
        Feedback matrix in ``W``'s orientation.

    Returns
    -------
    float
        In ``[0, 1]``.

    Examples
    --------
    >>> sign_concordance([[1.0, -1.0, 2.0, 3.0]], [[0.5, 1.0, 1.0, 1.0]])
    0.75
    """
    w, b = _pair(forward, feedback)
    return float(np.mean(np.sign(w) == np.sign(b)))


def alignment_metrics(forward: ArrayLike, feedback: ArrayLike) -> dict[str, float]:
    """All four alignment metrics of one layer.

    Parameters
    ----------
    forward : array_like
        Forward matrix ``W``.
    feedback : array_like
        Feedback matrix in ``W``'s orientation.

    Returns
    -------
    dict
        ``angle_deg``, ``difference_variance``, ``correlation``, ``sign_concordance``.

    Examples
    --------
    >>> alignment_metrics([[1.0, 2.0]], [[1.0, 2.0]])["angle_deg"]
    0.0
    """
    return {
        "angle_deg": alignment_angle(forward, feedback),
        "difference_variance": difference_variance(forward, feedback),
        "correlation": alignment_correlation(forward, feedback),
        "sign_concordance": sign_concordance(forward, feedback),
    }


def layer_alignment(
    forward: Sequence[ArrayLike], feedback: Sequence[ArrayLike]
) -> list[dict[str, float]]:
    """:func:`alignment_metrics` for each layer of a network.

    Parameters
    ----------
    forward : sequence of array_like
        Forward matrices ``W_l``, input to output.
    feedback : sequence of array_like
        Feedback matrices in the forward orientation, same order.

    Returns
    -------
    list of dict
        One metrics dictionary per layer, with its ``layer`` index.

    Raises
    ------
    ValueError
        If the numbers of layers differ.

    Examples
    --------
    >>> [m["angle_deg"] for m in layer_alignment([[[1.0]], [[1.0]]], [[[2.0]], [[-1.0]]])]
    [0.0, 180.0]
    """
    if len(forward) != len(feedback):
        raise ValueError(f"got {len(forward)} forward and {len(feedback)} feedback matrices")
    return [
        {"layer": index, **alignment_metrics(w, b)}
        for index, (w, b) in enumerate(zip(forward, feedback, strict=True))
    ]


def asymmetry_variance(
    weights: ArrayLike, mask: ArrayLike | None = None
) -> float | NDArray[np.float64]:
    """``Var(W_ij - W_ji)`` over the pairs ``i < j`` of a recurrent matrix or a stack of them.

    Parameters
    ----------
    weights : array_like
        Square matrix ``(N, N)`` with ``N >= 2``, or a stack ``(..., N, N)``.
    mask : array_like, optional
        ``(N, N)`` booleans; only pairs with ``mask[i, j]`` (``i < j``) count, e.g. the
        reciprocally connected ones.  No such pair gives NaN.

    Returns
    -------
    float or numpy.ndarray
        A float for one matrix (0 if it is symmetric), an array of shape ``(...)`` for a stack.

    Raises
    ------
    ValueError
        If the matrices are not square or have fewer than two rows.

    Examples
    --------
    >>> round(asymmetry_variance([[0.0, 1.0, 2.0], [0.0, 0.0, 1.0], [2.0, 0.0, 0.0]]), 6)
    0.222222
    >>> asymmetry_variance(np.zeros((4, 3, 3))).tolist()
    [0.0, 0.0, 0.0, 0.0]
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim < 2 or w.shape[-1] != w.shape[-2] or w.shape[-1] < 2:
        raise ValueError(f"weights must be square matrices with N >= 2, got shape {w.shape}")
    rows, cols = np.triu_indices(w.shape[-1], k=1)
    differences = w[..., rows, cols] - w[..., cols, rows]
    if mask is not None:
        keep = np.asarray(mask, dtype=bool)[rows, cols]
        if not keep.any():
            return float("nan") if w.ndim == 2 else np.full(w.shape[:-2], np.nan)
        differences = differences[..., keep]
    if w.ndim == 2:
        return float(np.var(differences))
    return np.var(differences, axis=-1)
