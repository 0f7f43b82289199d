"""Block-diagonal projections: ``copies`` independent copies of one weight matrix in one
simulator, read and written in bulk as arrays with a leading copy axis.

Networks that run several independent instances in one kernel (SALNet's copies, the
microcircuits' seeds) build each layer-to-layer projection as one :class:`BlockProjection`:
neuron ``j`` of copy ``c`` in a population of blocks of size ``n`` is index ``c * n + j``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from salpynn.pynn import Backend

__all__ = ["BlockProjection"]


class BlockProjection:
    """``matrix[copy, post, pre]`` as one projection from ``pre`` to ``post`` (each a population
    of ``copies`` blocks), all-to-all within each copy, through ``backend.projection``."""

    def __init__(
        self,
        backend: Backend,
        pre: Any,
        post: Any,
        matrix: ArrayLike,
        synapse: Any,
        *,
        receptor_type: str = "basal",
        label: str = "",
    ) -> None:
        m = np.asarray(matrix, dtype=float)
        if m.ndim != 3:
            raise ValueError(f"{label or 'matrix'} must have shape (copies, post, pre)")
        self.backend = backend
        self.shape = m.shape
        n_post, n_pre = m.shape[1:]
        c, k, j = np.nonzero(np.ones(m.shape, dtype=bool))
        pre_ids, post_ids = (c * n_pre + j).tolist(), (c * n_post + k).tolist()
        rows = list(zip(pre_ids, post_ids, m[c, k, j].tolist(), strict=True))
        self.projection = backend.projection(
            pre,
            post,
            backend.sim.FromListConnector(rows, column_names=["weight"]),
            synapse,
            receptor_type=receptor_type,
            label=label,
        )
        self.connections = backend.connections(self.projection)
        post_index, pre_index = self.connections.post, self.connections.pre
        self.index = (post_index // n_post, post_index % n_post, pre_index % n_pre)

    def get(self, name: str = "weight") -> NDArray[np.float64]:
        """``(copies, post, pre)`` values of a connection parameter, identical on every rank."""
        out = np.zeros(self.shape)
        for index, values in self.backend.allgather((self.index, self.connections.get(name))):
            out[index] = values
        return out

    def set(self, matrix: ArrayLike | float, name: str = "weight") -> None:
        """Set a parameter: a scalar, one ``(post, pre)`` matrix for every copy, or
        ``(copies, post, pre)``.  Every rank sets its own connections."""
        m = np.asarray(matrix, dtype=float)
        if m.ndim == 0:
            self.connections.set(**{name: float(m)})
            return
        m = np.broadcast_to(m, self.shape)
        self.connections.set(**{name: m[self.index]})
