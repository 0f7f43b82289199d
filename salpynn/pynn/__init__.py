"""PyNN layer: one network definition, any backend (``"nest"`` or ``"brian2"``).

>>> backend = load_backend("nest")              # doctest: +SKIP
>>> sim = backend.sim
>>> backend.setup(timestep=0.1, seed=1)         # doctest: +SKIP
>>> cells = sim.Population(2, backend.SamplingNeuron(bias=-0.5))   # doctest: +SKIP

:func:`load_backend` imports ``pyNN.<name>`` and salpynn's translations for it; ``setup``
calls ``sim.setup`` and, on NEST, loads ``salpynnmodule`` (which ``sim.setup`` unloads).
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from salpynn.pynn.models import ESCAPES, SALSynapse, SamplingNeuron, SignedStaticSynapse

__all__ = [
    "BACKENDS",
    "ESCAPES",
    "Backend",
    "SALSynapse",
    "SamplingNeuron",
    "SignedStaticSynapse",
    "load_backend",
]

BACKENDS = ("nest", "brian2")


@dataclass(frozen=True)
class Backend:
    """A PyNN simulator module with salpynn's model classes for it."""

    name: str
    sim: ModuleType
    SamplingNeuron: type
    SALSynapse: type
    SignedStaticSynapse: type

    def setup(self, timestep: float = 0.1, seed: int = 1, threads: int = 1, **extra: Any) -> None:
        """``sim.setup`` with a fixed seed; on NEST also load ``salpynnmodule``.

        ``threads`` is per MPI rank on NEST (virtual processes = ranks x threads) and ignored
        by Brian2.  ``min_delay`` defaults to ``timestep``.
        """
        extra.setdefault("min_delay", timestep)
        if self.name == "nest":
            self.sim.setup(timestep=timestep, threads=threads, rng_seed=seed, **extra)
            import salpynn.nest

            salpynn.nest.install()
        else:
            import numpy as np

            np.random.seed(seed)  # noqa: NPY002 - PyNN's Brian2 backend draws from numpy's global state
            self.sim.setup(timestep=timestep, **extra)
            import brian2

            brian2.seed(seed)


def load_backend(name: str) -> Backend:
    """Import ``pyNN.<name>`` and salpynn's model translations for it.

    Raises
    ------
    ValueError
        For an unknown backend name.
    ImportError
        If the simulator is not installed.
    """
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    if name == "nest":
        import salpynn.nest

        salpynn.nest.import_nest()  # quiet import before pyNN.nest imports it
        # PyNN 0.13 calls NEST's deprecated GetStatus/SetStatus on every read and write.
        warnings.filterwarnings("ignore", category=UserWarning, module="nest.lib.hl_api_helper")
    with warnings.catch_warnings():
        # pyNN.nest tries to compile optional extensions through nest-config, which the PyPI
        # wheel lacks; salpynn does not use those extensions.
        warnings.filterwarnings("ignore", message="Cannot find nest-config")
        warnings.filterwarnings("ignore", message="Unable to compile NEST extensions")
        sim = importlib.import_module(f"pyNN.{name}")
    impl = importlib.import_module(f"salpynn.pynn.{name}")
    return Backend(
        name=name,
        sim=sim,
        SamplingNeuron=impl.SamplingNeuron,
        SALSynapse=impl.SALSynapse,
        SignedStaticSynapse=impl.SignedStaticSynapse,
    )
