"""Benchmark salpynn's correlation analysis against a plain NumPy baseline.

1000 independent Poisson neurons at 10 Hz for 100 s (fixed seed).  Two tasks, each timed for
salpynn's path (Neo + Elephant) and for a NumPy baseline in the same run:

1. all pairwise correlation coefficients of spike counts in 5 ms bins
   (salpynn: ``correlation_matrix``; NumPy: ``np.histogram`` per train and ``np.corrcoef``);
2. cross-correlation histograms of 1000 random pairs, 1 ms bins, lags up to 50 ms
   (salpynn: ``cross_correlograms`` with ``method="elephant"`` (Elephant's
   ``cross_correlation_histogram``) and ``method="sparse"``; NumPy: bin indices,
   ``np.searchsorted`` for the partners within the lag range and ``np.histogram`` of their
   differences; plus salpynn's unbinned ``stdd`` for reference).

Both paths of each task are checked to give the same numbers.  BLAS is limited to one
thread unless the environment says otherwise, so the timings do not depend on how busy a
shared machine is.  Run with ``.venv/bin/python scripts/bench_analysis.py``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402


def poisson_trains(n: int, rate_hz: float, duration_ms: float, seed: int) -> list[np.ndarray]:
    """Independent homogeneous Poisson trains, spike times in ms."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rate_hz * duration_ms / 1000.0, size=n)
    return [np.sort(rng.uniform(0.0, duration_ms, c)) for c in counts]


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def numpy_corrcoef(trains: list[np.ndarray], bin_size: float, duration: float) -> np.ndarray:
    edges = np.arange(0.0, duration + 0.5 * bin_size, bin_size)
    counts = np.stack([np.histogram(t, bins=edges)[0] for t in trains]).astype(float)
    return np.corrcoef(counts)


def numpy_cch(
    trains: list[np.ndarray], pairs: list[tuple[int, int]], bin_size: float, half_width: int
) -> dict[tuple[int, int], np.ndarray]:
    """Cross-correlograms of bin indices: counts of (bin of j) - (bin of i) per lag."""
    bins = [np.floor(t / bin_size).astype(np.int64) for t in trains]
    edges = np.arange(-half_width, half_width + 2) - 0.5
    out = {}
    for i, j in pairs:
        bi, bj = bins[i], bins[j]
        lo = np.searchsorted(bj, bi - half_width, side="left")
        hi = np.searchsorted(bj, bi + half_width, side="right")
        n = hi - lo
        offset = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        diff = bj[np.repeat(lo, n) + offset] - np.repeat(bi, n)
        out[(i, j)] = np.histogram(diff, bins=edges)[0].astype(float)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=100.0, help="seconds")
    parser.add_argument("--rate", type=float, default=10.0, help="Hz")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--bin-size", type=float, default=5.0, help="ms, correlation bins")
    parser.add_argument("--cch-bin", type=float, default=1.0, help="ms, histogram bins")
    parser.add_argument("--max-lag", type=float, default=50.0, help="ms")
    parser.add_argument("--seed", type=int, default=20250302)
    args = parser.parse_args(argv)

    from salpynn.analysis import correlation_matrix, cross_correlograms, stdd

    duration = args.duration * 1000.0
    trains, t_make = timed(lambda: poisson_trains(args.neurons, args.rate, duration, args.seed))
    rng = np.random.default_rng(args.seed + 1)
    pairs = set()
    while len(pairs) < args.pairs:
        i, j = (int(x) for x in rng.choice(args.neurons, size=2, replace=False))
        pairs.add((i, j))
    pairs = sorted(pairs)
    half_width = round(args.max_lag / args.cch_bin)
    n_spikes = sum(t.size for t in trains)
    print(
        f"{args.neurons} neurons x {args.duration:g} s at {args.rate:g} Hz: {n_spikes} spikes "
        f"(generated in {t_make:.2f} s); BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}"
    )

    r_salpynn, t_r_salpynn = timed(
        lambda: correlation_matrix(trains, args.bin_size, t_start=0.0, t_stop=duration)
    )
    r_numpy, t_r_numpy = timed(lambda: numpy_corrcoef(trains, args.bin_size, duration))
    r_diff = float(np.nanmax(np.abs(r_salpynn - r_numpy)))

    window = {"bin_size": args.cch_bin, "max_lag": args.max_lag, "t_start": 0.0, "t_stop": duration}
    h_salpynn, t_h_salpynn = timed(lambda: cross_correlograms(trains, pairs, **window)[0])
    h_sparse, t_h_sparse = timed(
        lambda: cross_correlograms(trains, pairs, method="sparse", **window)[0]
    )
    h_numpy, t_h_numpy = timed(lambda: numpy_cch(trains, pairs, args.cch_bin, half_width))
    h_equal = all(np.array_equal(h_salpynn[p], h_numpy[p]) for p in pairs)
    h_equal_sparse = all(np.array_equal(h_sparse[p], h_numpy[p]) for p in pairs)
    _, t_stdd = timed(
        lambda: [
            stdd(trains[i], trains[j], bin_size=args.cch_bin, max_lag=args.max_lag)
            for i, j in pairs
        ]
    )

    rows = [
        (
            "correlation matrix",
            t_r_salpynn,
            "Elephant correlation_coefficient",
            t_r_numpy,
            "np.histogram + np.corrcoef",
            f"max |difference| {r_diff:.1e}",
        ),
        (
            f"{len(pairs)} CCHs, Elephant",
            t_h_salpynn,
            "Elephant cross_correlation_histogram",
            t_h_numpy,
            "searchsorted + np.histogram",
            f"identical counts: {h_equal}",
        ),
        (
            f"{len(pairs)} CCHs, sparse",
            t_h_sparse,
            'cross_correlograms(method="sparse")',
            t_h_numpy,
            "searchsorted + np.histogram",
            f"identical counts: {h_equal_sparse}",
        ),
        (
            f"{len(pairs)} STDDs, exact lags",
            t_stdd,
            "salpynn stdd (searchsorted)",
            t_h_numpy,
            "searchsorted + np.histogram (bin indices)",
            "different binning: time only",
        ),
    ]
    print(f"{'task':<28} {'salpynn s':>10} {'NumPy s':>9} {'ratio':>7}  paths")
    for task, t_s, path_s, t_n, path_n, check in rows:
        print(f"{task:<28} {t_s:10.2f} {t_n:9.2f} {t_s / t_n:7.2f}  {path_s} vs {path_n}; {check}")
    return 0 if (r_diff < 1e-9 and h_equal and h_equal_sparse) else 1


if __name__ == "__main__":
    raise SystemExit(main())
