"""Shared fixtures.

In CI (``CI=true``) a missing component is a failure, never a skip: the fixtures below raise
instead of skipping.  Outside CI they skip with the reason, so a partial install still runs the
pure-Python tests.
"""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, reason: str) -> None:
    """Skip (locally) or fail (in CI) when a required component is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required component missing in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def nest():
    """A fresh NEST kernel with salpynnmodule loaded (resolution 0.1 ms)."""
    try:
        import salpynn.nest as snest

        nest = snest.import_nest()
    except ImportError as err:  # pragma: no cover - depends on the installation
        require(False, f"NEST is not importable: {err}")
    from salpynn.build import ModuleNotBuiltError

    nest.ResetKernel()
    try:
        snest.install()
    except ModuleNotBuiltError as err:
        require(False, str(err))
    yield nest
    nest.ResetKernel()


def pooled_chi_square(observed, expected, min_expected: float = 5.0) -> tuple[float, int]:
    """Pearson's statistic and its degrees of freedom for counts whose consecutive bins are
    pooled until each holds at least ``min_expected`` expected counts (the rest joins the
    last bin)."""
    obs, exp_, acc_o, acc_e = [], [], 0.0, 0.0
    for o, e in zip(observed, expected, strict=True):
        acc_o, acc_e = acc_o + o, acc_e + e
        if acc_e >= min_expected:
            obs.append(acc_o)
            exp_.append(acc_e)
            acc_o = acc_e = 0.0
    obs[-1] += acc_o
    exp_[-1] += acc_e
    statistic = sum((o - e) ** 2 / e for o, e in zip(obs, exp_, strict=True))
    return float(statistic), len(obs) - 1
