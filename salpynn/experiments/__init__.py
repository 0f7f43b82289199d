"""Runnable experiments behind ``salpynn run <name>``."""

from __future__ import annotations

import numpy as np

__all__ = ["report_steps"]


def report_steps(duration: float, resolution: float, n_reports: int) -> np.ndarray:
    """``n_reports + 1`` read-out times from 0 to ``duration``, in whole time steps.

    Simulators only run whole multiples of the time step; keeping integers avoids float
    differences such as 0.30000000000000004 ms between read-outs.
    """
    n_steps = round(duration / resolution)
    return np.linspace(0, n_steps, n_reports + 1).round().astype(int)
