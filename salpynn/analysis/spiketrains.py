"""Spike trains as Neo objects or plain arrays: one conversion used by every analysis.

Every analysis function of :mod:`salpynn.analysis` accepts spike trains either as
:class:`neo.SpikeTrain` objects (any time unit; their ``t_start`` and ``t_stop`` are used) or
as plain arrays of spike times in **milliseconds**, NEST's time unit.  Plain arrays carry no
recording span, so ``t_stop`` must then be given; ``t_start`` defaults to 0 ms.  Times passed
as parameters may be :class:`quantities.Quantity` objects or plain floats in ms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import neo
import numpy as np
import quantities as pq
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "SpikeTrainLike",
    "TimeLike",
    "as_spiketrains",
    "firing_rates",
    "spike_times_ms",
    "time_ms",
]

#: A spike train: a :class:`neo.SpikeTrain` or an array of spike times in ms.
SpikeTrainLike = neo.SpikeTrain | ArrayLike
#: A time: a :class:`quantities.Quantity` or a float in ms.
TimeLike = pq.Quantity | float


def time_ms(value: TimeLike, name: str = "time") -> float:
    """A time as a float in ms.

    Parameters
    ----------
    value : quantities.Quantity or float
        A scalar time; a plain number is taken to be in ms.
    name : str
        Parameter name used in the error message.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``value`` is not a scalar time or not finite.

    Examples
    --------
    >>> import quantities as pq
    >>> time_ms(0.25 * pq.s), time_ms(5.0)
    (250.0, 5.0)
    """
    if isinstance(value, pq.Quantity):
        try:
            value = value.rescale(pq.ms).magnitude
        except ValueError as err:
            raise ValueError(f"{name} must be a time, got units {value.dimensionality}") from err
    array = np.asarray(value, dtype=float)
    if array.ndim != 0 or not np.isfinite(array):
        raise ValueError(f"{name} must be a finite scalar time, got {value!r}")
    return float(array)


def spike_times_ms(train: SpikeTrainLike) -> NDArray[np.float64]:
    """The spike times of one train as a sorted float array in ms.

    Parameters
    ----------
    train : neo.SpikeTrain or array_like
        A Neo spike train (any time unit) or spike times in ms.

    Returns
    -------
    numpy.ndarray
        Sorted spike times in ms (a copy).

    Raises
    ------
    ValueError
        If the times are not one-dimensional or not finite.

    Examples
    --------
    >>> import neo, quantities as pq
    >>> spike_times_ms(neo.SpikeTrain([0.002, 0.001] * pq.s, t_stop=1 * pq.s)).tolist()
    [1.0, 2.0]
    """
    if isinstance(train, pq.Quantity):
        times = np.asarray(train.rescale(pq.ms).magnitude, dtype=float)
    else:
        times = np.asarray(train, dtype=float)
    if times.ndim != 1:
        raise ValueError(f"a spike train must be one-dimensional, got shape {times.shape}")
    if not np.all(np.isfinite(times)):
        raise ValueError("spike times must be finite")
    return np.sort(times)


def _span(
    trains: Sequence[SpikeTrainLike], t_start: TimeLike | None, t_stop: TimeLike | None
) -> tuple[float, float]:
    """Recording span in ms: explicit values first, then the Neo trains' own."""
    neo_trains = [t for t in trains if isinstance(t, neo.SpikeTrain)]
    if t_start is None:
        starts = [time_ms(t.t_start) for t in neo_trains]
        start = min(starts) if starts else 0.0
    else:
        start = time_ms(t_start, "t_start")
    if t_stop is None:
        if not neo_trains:
            raise ValueError("t_stop must be given when the spike trains are plain arrays (ms)")
        stop = max(time_ms(t.t_stop) for t in neo_trains)
    else:
        stop = time_ms(t_stop, "t_stop")
    if not stop > start:
        raise ValueError(f"t_stop ({stop} ms) must be later than t_start ({start} ms)")
    return start, stop


def as_spiketrains(
    trains: Sequence[SpikeTrainLike],
    t_start: TimeLike | None = None,
    t_stop: TimeLike | None = None,
) -> list[neo.SpikeTrain]:
    """Neo spike trains in ms sharing one recording span.

    Parameters
    ----------
    trains : sequence of neo.SpikeTrain or array_like
        Spike trains; plain arrays are spike times in ms.
    t_start, t_stop : quantities.Quantity or float, optional
        Recording span (floats in ms).  Defaults: the earliest ``t_start`` and latest
        ``t_stop`` of the Neo trains; for plain arrays ``t_start = 0 ms`` and ``t_stop`` is
        required.  Spikes outside ``[t_start, t_stop]`` are dropped.

    Returns
    -------
    list of neo.SpikeTrain
        One train per input, times in ms, annotated with ``neuron`` (its index) unless the
        input already carried that annotation.

    Raises
    ------
    ValueError
        If ``t_stop`` is missing for plain arrays or the span is empty.

    Examples
    --------
    >>> trains = as_spiketrains([[1.0, 5.0], [2.0]], t_stop=10.0)
    >>> trains[0].t_stop, trains[1].annotations["neuron"]
    (array(10.) * ms, 1)
    """
    start, stop = _span(trains, t_start, t_stop)
    out = []
    for index, train in enumerate(trains):
        times = spike_times_ms(train)
        times = times[(times >= start) & (times <= stop)]
        annotations: dict[str, Any] = {"neuron": index}
        name = None
        if isinstance(train, neo.SpikeTrain):
            annotations |= {k: v for k, v in train.annotations.items() if k != "nix_name"}
            name = train.name
        out.append(
            neo.SpikeTrain(
                times * pq.ms, t_start=start * pq.ms, t_stop=stop * pq.ms, name=name, **annotations
            )
        )
    return out


def firing_rates(
    trains: Sequence[SpikeTrainLike],
    t_start: TimeLike | None = None,
    t_stop: TimeLike | None = None,
) -> pq.Quantity:
    """Mean firing rate of each train over the recording span.

    Parameters
    ----------
    trains : sequence of neo.SpikeTrain or array_like
        Spike trains (plain arrays in ms).
    t_start, t_stop : quantities.Quantity or float, optional
        Span as in :func:`as_spiketrains`.

    Returns
    -------
    quantities.Quantity
        Rates in Hz, shape ``(len(trains),)``.

    Examples
    --------
    >>> firing_rates([[1.0, 2.0, 3.0], []], t_stop=1000.0)
    array([3., 0.]) * Hz
    """
    start, stop = _span(trains, t_start, t_stop)
    counts = [np.count_nonzero((t >= start) & (t <= stop)) for t in map(spike_times_ms, trains)]
    return (np.asarray(counts, dtype=float) / ((stop - start) / 1000.0)) * pq.Hz
