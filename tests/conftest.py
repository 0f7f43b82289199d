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
