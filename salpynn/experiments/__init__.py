"""Runnable experiments behind ``salpynn run <name>``."""

from __future__ import annotations

import os

import numpy as np

__all__ = ["launcher_rank_size", "report_steps"]


def launcher_rank_size() -> tuple[int, int]:
    """``(rank, size)`` of this process from the MPI launcher's environment (``(0, 1)``
    without ``mpirun``).

    Reading the environment instead of importing mpi4py keeps single-process runs from
    initialising MPI (OpenMPI dislikes ``mpirun`` started from such a process).
    """
    for rank_name, size_name in (
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        ("PMIX_RANK", "PMIX_SIZE"),
        ("PMI_RANK", "PMI_SIZE"),
    ):
        if rank_name in os.environ:
            return int(os.environ[rank_name]), int(os.environ.get(size_name, "1"))
    return 0, 1


def report_steps(duration: float, resolution: float, n_reports: int) -> np.ndarray:
    """``n_reports + 1`` read-out times from 0 to ``duration``, in whole time steps.

    Simulators only run whole multiples of the time step; keeping integers avoids float
    differences such as 0.30000000000000004 ms between read-outs.
    """
    n_steps = round(duration / resolution)
    return np.linspace(0, n_steps, n_reports + 1).round().astype(int)
