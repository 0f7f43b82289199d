"""MPI in one place: which rank this process is, gathers, and the per-rank NEST guard.

Two ways salpynn uses ``mpirun``:

- **one network over all ranks** (NEST built with MPI, ``.venv-mpi``): PyNN/NEST distribute
  the neurons; :func:`allgather` collects what every rank needs (weights, spikes);
- **independent work per rank** (NEST without MPI, ``.venv``): sweeps hand whole runs to ranks,
  and the sampling experiment spreads its batches; :func:`independent_nest_per_rank` makes that
  safe.

:func:`launcher_rank_size` reads the launcher's environment instead of initialising MPI, so
single-process runs never start MPI (OpenMPI dislikes ``mpirun`` started from such a process).
Inside :func:`local_only` (a sweep's worker running one run) this process counts as alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "allgather",
    "barrier",
    "independent_nest_per_rank",
    "launcher_rank_size",
    "local_only",
]

_LAUNCHER_VARIABLES = (
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    ("PMIX_RANK", "PMIX_SIZE"),
    ("PMI_RANK", "PMI_SIZE"),
)
_local_only = False


def launcher_rank_size() -> tuple[int, int]:
    """``(rank, size)`` of this process from the MPI launcher's environment; ``(0, 1)``
    without ``mpirun`` and inside :func:`local_only`."""
    if _local_only:
        return 0, 1
    for rank_name, size_name in _LAUNCHER_VARIABLES:
        if rank_name in os.environ:
            return int(os.environ[rank_name]), int(os.environ.get(size_name, "1"))
    return 0, 1


@contextmanager
def local_only() -> Iterator[None]:
    """Within the block this process works alone (a sweep's worker running one run)."""
    global _local_only
    previous, _local_only = _local_only, True
    try:
        yield
    finally:
        _local_only = previous


def allgather(value: Any, size: int | None = None) -> list[Any]:
    """Values of every rank of ``MPI.COMM_WORLD`` in rank order; ``[value]`` for one process
    (``size``, e.g. NEST's number of processes, defaults to the launcher's), without importing
    mpi4py then."""
    size = launcher_rank_size()[1] if size is None else size
    if size == 1:
        return [value]
    from mpi4py import MPI

    return MPI.COMM_WORLD.allgather(value)


def barrier() -> None:
    """Wait for every rank (nothing for one process)."""
    if launcher_rank_size()[1] > 1:
        from mpi4py import MPI

        MPI.COMM_WORLD.Barrier()


def independent_nest_per_rank() -> None:
    """Prepare this rank to run its own NEST kernel under ``mpirun``.

    Initialises MPI (mpi4py), refuses a NEST built with MPI (it would spread every run over all
    ranks: use ``.venv``), and removes the launcher variables that make a NEST without MPI exit
    at import when it sees more than one process.  MPI has read them already.
    """
    from mpi4py import MPI

    if MPI.COMM_WORLD.Get_size() > 1:
        import importlib.util

        if importlib.util.find_spec("nest") is not None:
            from salpynn.build import find_nest
            from salpynn.config import ConfigError

            if find_nest().have_mpi:
                raise ConfigError(
                    "this NEST is built with MPI and would spread every run over all ranks; "
                    "run sweeps and batched experiments with the NEST without MPI "
                    "(.venv/bin/salpynn ...)"
                )
    for name in ("PMIX_RANK", "PMI_RANK"):
        os.environ.pop(name, None)
