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

from salpynn.pynn.models import (
    ESCAPES,
    PSPS,
    DendriticPredictionSynapse,
    DendriticSamplingNeuron,
    SALSynapse,
    SamplingNeuron,
    SignedStaticSynapse,
)

__all__ = [
    "BACKENDS",
    "ESCAPES",
    "PSPS",
    "Backend",
    "DendriticPredictionSynapse",
    "DendriticSamplingNeuron",
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
    #: ``sim.Projection`` whose ``set`` checks a SAL request whole before anything changes.
    Projection: type
    #: Dendritic prediction (microcircuits); on a backend without them, calling raises
    #: :class:`NotImplementedError` with the reason.
    DendriticSamplingNeuron: Any = None
    DendriticPredictionSynapse: Any = None

    def allgather(self, value: Any) -> list[Any]:
        """Values of every MPI rank, in rank order (``[value]`` without MPI)."""
        from salpynn.mpi import allgather

        return allgather(value, self.sim.num_processes())

    @property
    def pynn_records_spikes(self) -> bool:
        """Whether :meth:`spike_reader` needs the population to record spikes through PyNN
        (Brian2); on NEST it attaches its own ``spike_recorder``."""
        return self.name != "nest"

    def connections(self, projection: Any) -> Any:
        """Bulk access to this rank's connections of ``projection`` in PyNN units:
        ``.pre``, ``.post`` (indices into the populations), ``.get(name)`` (array in that
        order) and ``.set(name=array or scalar)``."""
        return self._impl.Connections(self, projection)

    def spike_reader(self, population: Any) -> Any:
        """Spikes of ``population`` phase by phase: ``.read(since)`` returns ``(times,
        senders)`` (ms, indices into the population) of the spikes after ``since`` (ms) not read
        before.  Create it right after the network (on NEST it adds a ``spike_recorder``)."""
        return self._impl.SpikeReader(self, population)

    @property
    def has_sampling_monitor(self) -> bool:
        """Whether :meth:`sampling_monitor` is available: NEST in one process."""
        return self.name == "nest" and self.sim.num_processes() == 1

    def sampling_monitor(self, population: Any, n: int, tau: float) -> Any:
        """Phase statistics of ``population`` (networks of ``n`` consecutive neurons) computed
        in the kernel by ``salpynnmodule``'s ``sampling_monitor``: ``.read(readout_start,
        readout_stop)`` returns ``(first, counts, states)`` (see
        :class:`salpynn.networks.sampling.PhaseStatistics`) of the spikes since the last read.
        NEST in one process only (:attr:`has_sampling_monitor`)."""
        if not self.has_sampling_monitor:
            raise NotImplementedError(
                f"sampling_monitor needs NEST in one process (backend {self.name}, "
                f"{self.sim.num_processes()} processes); use spike_reader"
            )
        return self._impl.SamplingMonitor(population, n, tau)

    @property
    def has_sampling_networks(self) -> bool:
        """Whether :meth:`sampling_networks` is available: NEST in one process, one thread."""
        if self.name != "nest" or self.sim.num_processes() != 1:
            return False
        import nest

        return nest.local_num_threads == 1

    def sampling_networks(self, w: Any, b: Any, **timing: Any) -> Any:
        """Networks of sampling neurons with static weights (stacks ``w[r, k, j]`` for
        ``j -> k`` and ``b[r, k]``, PyNN units, biases as the neurons' ``bias``) in one
        ``salpynnmodule`` node, with the statistics of :meth:`sampling_monitor`:
        ``.read(...)`` as there, ``.set_weights``, ``.weights``, ``.set_biases``.  ``timing``:
        ``tau_refrac``, ``tau_syn``, ``tau`` (statistics), ``escape``, ``delay``.  NEST in
        one process with one thread only (:attr:`has_sampling_networks`)."""
        if not self.has_sampling_networks:
            raise NotImplementedError(
                f"sampling_networks needs NEST in one process (backend {self.name}, "
                f"{self.sim.num_processes()} processes); use a SamplingBatch"
            )
        return self._impl.SamplingNetworks(w, b, **timing)

    def set_cells(self, population: Any, **values: Any) -> None:
        """Set per-neuron parameters (PyNN names and units) of a whole population at once."""
        self._impl.set_cells(population, **values)

    def get_cells(self, population: Any, *names: str) -> dict[str, Any]:
        """Per-neuron values (PyNN parameter names, or the dendritic neurons' accumulators
        ``u_sum``, ``v_sum``, ``n_sum``) of a whole population, on every rank (NEST)."""
        getter = getattr(self._impl, "get_cells", None)
        if getter is None:
            raise NotImplementedError(f"get_cells is not available on {self.name}")
        return getter(self, population, *names)

    @property
    def _impl(self) -> ModuleType:
        return importlib.import_module(f"salpynn.pynn.{self.name}")

    def spike_times(self, population: Any) -> list[Any]:
        """Spike times (ms, NumPy arrays) of every neuron of ``population``, on every rank.

        Each rank reads its local recordings (``gather=False``) and one ``allgather``
        exchanges them; this avoids PyNN's own gathering, which hangs for spike sources
        under MPI.
        """
        import numpy as np

        local = {}
        if np.any(population._mask_local):  # PyNN fails on a rank without local neurons
            segment = population.get_data("spikes", gather=False, clear=False).segments[0]
            local = {
                int(st.annotations["source_index"]): np.asarray(st.rescale("ms").magnitude)
                for st in segment.spiketrains
            }
        merged: dict[int, Any] = {}
        for part in self.allgather(local):
            merged.update(part)
        return [np.sort(merged.get(i, np.empty(0))) for i in range(population.size)]

    def weight_matrix(self, projection: Any, name: str = "weight") -> Any:
        """``W[post, pre]`` of a projection (NaN where unconnected), on every rank; ``name``
        reads another connection parameter the same way.

        Local connections are read on each rank and exchanged once: PyNN's
        ``Projection.get(format="array")`` does not give every rank the full matrix.
        """
        import numpy as np

        if np.any(projection.post._mask_local):
            local = projection.get(name, format="list", gather=False, with_address=True)
        else:  # PyNN fails on a rank without local connections
            local = []
        w = np.full((projection.post.size, projection.pre.size), np.nan)
        for part in self.allgather([tuple(c) for c in local]):
            for pre, post, weight in part:
                w[int(post), int(pre)] = weight
        return w

    def projection(
        self, presynaptic: Any, postsynaptic: Any, connector: Any, synapse_type: Any, **kwargs: Any
    ) -> Any:
        """A :attr:`Projection` (``sim.Projection`` with a checked ``set``), built inside the
        synapse type's ``connecting()`` context.

        Use it for every projection: its ``set`` checks a SAL request whole, in PyNN units,
        against the values every connection would have, before anything changes; on NEST it
        keeps homogeneous plasticity parameters out of per-connection lists, which PyNN cannot
        set on MPI-enabled NEST, and it keeps ranks that own no postsynaptic neuron in step with
        the others (:func:`salpynn.pynn.nest.join_connection_collectives`).
        """
        context = getattr(synapse_type, "connecting", None)
        if context is None:
            projection = self.Projection(
                presynaptic, postsynaptic, connector, synapse_type, **kwargs
            )
        else:
            with context():
                projection = self.Projection(
                    presynaptic, postsynaptic, connector, synapse_type, **kwargs
                )
        if self.name == "nest" and self.sim.num_processes() > 1:
            from salpynn.pynn.nest import join_connection_collectives

            join_connection_collectives(projection)
        return projection

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

            # pyNN.brian2 puts SpikeSourceArray on Brian2's default clock, not on the network's:
            # without this, spike sources keep a 0.1 ms grid whatever the timestep.
            brian2.defaultclock.dt = timestep * brian2.ms
            # With the numpy target, Brian2 otherwise re-checks the units of every function
            # call at run time and formats its arguments into an error message each time
            # (1 ms per expm1/clip call); units are checked when the code is generated.
            brian2.prefs.codegen.runtime.numpy.discard_units = True
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
        Projection=impl.Projection,
        DendriticSamplingNeuron=impl.DendriticSamplingNeuron,
        DendriticPredictionSynapse=impl.DendriticPredictionSynapse,
    )
