"""Recordings: spike trains, weights and the run's provenance in one Neo/NIX file.

A recording is a :class:`neo.Block` with one :class:`neo.Segment` holding

- one :class:`neo.SpikeTrain` per neuron (times in ms, annotated with its ``neuron`` index),
- optional :class:`neo.AnalogSignal` objects (e.g. membrane potentials),
- weight matrices and bias vectors as :class:`neo.IrregularlySampledSignal` snapshots named
  ``weights:<name>`` and ``biases:<name>``: one row per snapshot time, the matrix flattened
  row-major, its shape in the ``shape`` annotation.  ``W[k, j]`` is the weight of the
  connection ``j -> k`` (``u = b + W z``); a single matrix is stored as one snapshot at
  ``t_stop``.

The block's annotations carry the full configuration, its hash, the seeds, the recording span
and :func:`salpynn.results.provenance`.  NIX stores only scalars and flat lists, so nested
values are JSON-encoded into strings; their keys are listed in the ``json_annotations``
annotation and decoded again by :func:`read_recording`.

Files are written through :func:`salpynn.results.atomic_write` (temporary name in the same
folder, then :func:`os.replace`), so an interrupted write never leaves a partial
``recording.nix``.  A run folder holds its recording as :data:`RECORDING_FILENAME`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import neo
import numpy as np
import quantities as pq
from numpy.typing import ArrayLike, NDArray

from salpynn.analysis.spiketrains import SpikeTrainLike, TimeLike, _span, as_spiketrains
from salpynn.results import atomic_write, config_hash, provenance, to_jsonable

__all__ = [
    "FORMAT",
    "RECORDING_FILENAME",
    "Recording",
    "Snapshots",
    "build_block",
    "load_recording",
    "read_recording",
    "write_block",
    "write_recording",
]

#: Value of the block annotation ``salpynn_format``.
FORMAT = "salpynn-recording/1"
#: File name of the recording inside a run folder.
RECORDING_FILENAME = "recording.nix"
#: Orientation note stored with every weight matrix.
ORIENTATION = "W[k, j] is the weight of the connection j -> k (u = b + W z)"

_NIX_SCALARS = (str, bool, int, float, np.integer, np.floating, np.bool_)


@dataclass(frozen=True)
class Snapshots:
    """Values of a weight matrix or bias vector at a few times.

    Attributes
    ----------
    times : numpy.ndarray
        Snapshot times in ms, shape ``(n_times,)``.
    values : numpy.ndarray
        Shape ``(n_times, *shape)``, e.g. ``(n_times, N_post, N_pre)`` for weights.
    """

    times: NDArray[np.float64]
    values: NDArray[np.float64]

    def __post_init__(self) -> None:
        times = np.atleast_1d(np.asarray(self.times, dtype=float))
        values = np.asarray(self.values, dtype=float)
        if times.ndim != 1 or values.ndim < 2 or values.shape[0] != times.size:
            raise ValueError(
                f"snapshots need times (n,) and values (n, ...), got {times.shape} and "
                f"{values.shape}"
            )
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "values", values)

    @property
    def final(self) -> NDArray[np.float64]:
        """The last snapshot."""
        return self.values[-1]

    @property
    def mean(self) -> NDArray[np.float64]:
        """The mean over snapshots (the weights the spikes saw, if they changed slowly)."""
        return self.values.mean(axis=0)


def _as_snapshots(value: ArrayLike | Snapshots, t_stop: float, name: str) -> Snapshots:
    if isinstance(value, Snapshots):
        return value
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        raise ValueError(f"{name} must be an array or Snapshots, got a scalar")
    return Snapshots(np.array([t_stop]), array[None, ...])


def _snapshot_signal(kind: str, name: str, snapshots: Snapshots) -> neo.IrregularlySampledSignal:
    shape = list(snapshots.values.shape[1:])
    flat = snapshots.values.reshape(snapshots.values.shape[0], -1)
    annotations: dict[str, Any] = {"kind": kind, "matrix_name": name, "shape": shape}
    if kind == "weights":
        annotations["orientation"] = ORIENTATION
    return neo.IrregularlySampledSignal(
        snapshots.times * pq.ms,
        flat * pq.dimensionless,
        name=f"{kind}:{name}",
        **annotations,
    )


def _nix_annotations(values: Mapping[str, Any]) -> dict[str, Any]:
    """Scalars stay as they are; everything else becomes a JSON string (listed by key)."""
    out: dict[str, Any] = {}
    encoded = []
    for key, value in values.items():
        if isinstance(value, _NIX_SCALARS):
            out[key] = value.item() if isinstance(value, np.generic) else value
        else:
            out[key] = json.dumps(to_jsonable(value), sort_keys=True)
            encoded.append(key)
    out["json_annotations"] = encoded
    return out


def build_block(
    spiketrains: Sequence[SpikeTrainLike],
    t_start: TimeLike | None = None,
    t_stop: TimeLike | None = None,
    config: Mapping[str, Any] | Any | None = None,
    seeds: Any = None,
    weights: Mapping[str, ArrayLike | Snapshots] | None = None,
    biases: Mapping[str, ArrayLike | Snapshots] | None = None,
    analogsignals: Sequence[neo.AnalogSignal] = (),
    annotations: Mapping[str, Any] | None = None,
    name: str = "salpynn recording",
) -> neo.Block:
    """Put spike trains, weights and provenance into a Neo block (see the module docs).

    Parameters
    ----------
    spiketrains : sequence of neo.SpikeTrain or array_like
        One train per neuron (plain arrays in ms).
    t_start, t_stop : quantities.Quantity or float, optional
        Recording span (floats in ms); defaults as in
        :func:`salpynn.analysis.as_spiketrains` (``t_stop`` is required for plain arrays).
    config : mapping or dataclass, optional
        Full configuration of the run; stored with its :func:`salpynn.results.config_hash`.
    seeds : int, list or mapping, optional
        Random seeds of the run.
    weights : mapping, optional
        ``name -> matrix`` (one snapshot at ``t_stop``) or ``name -> Snapshots``;
        ``W[k, j]`` is ``j -> k``.  Use ``"W"`` for the recurrent matrix analysed by
        ``salpynn analyse`` and ``"W_target"`` for a target Boltzmann machine.
    biases : mapping, optional
        ``name -> vector`` or ``name -> Snapshots``; ``"b"`` and ``"b_target"`` as above.
    analogsignals : sequence of neo.AnalogSignal
        Extra signals for the segment.
    annotations : mapping, optional
        Further block annotations (nested values are JSON-encoded).
    name : str
        Block name.

    Returns
    -------
    neo.Block

    Raises
    ------
    ValueError
        If the span is missing or empty, or a snapshot array is malformed.

    Examples
    --------
    >>> block = build_block([[1.0, 4.0], [2.0]], t_stop=10.0, config={"tau_ref": 10.0},
    ...                     weights={"W": [[0.0, 1.0], [0.5, 0.0]]})
    >>> len(block.segments[0].spiketrains), block.annotations["salpynn_format"]
    (2, 'salpynn-recording/1')
    """
    start, stop = _span(spiketrains, t_start, t_stop)
    trains = as_spiketrains(spiketrains, start, stop)
    for index, train in enumerate(trains):
        if train.name is None:
            train.name = f"neuron {index}"
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    config = dict(config or {})
    info = provenance()
    metadata: dict[str, Any] = {
        "salpynn_format": FORMAT,
        "salpynn_version": info["salpynn_version"],
        "t_start_ms": start,
        "t_stop_ms": stop,
        "n_neurons": len(trains),
        "config": config,
        "config_hash": config_hash(config),
        "seeds": seeds,
        "provenance": info,
    }
    for key, value in (annotations or {}).items():
        if key in metadata:
            raise ValueError(f"annotation {key!r} is reserved")
        metadata[key] = value
    block = neo.Block(name=name, **_nix_annotations(metadata))
    segment = neo.Segment(name="recording")
    block.segments.append(segment)
    segment.spiketrains.extend(trains)
    segment.analogsignals.extend(analogsignals)
    for kind, matrices in (("weights", weights or {}), ("biases", biases or {})):
        for key, value in matrices.items():
            snapshots = _as_snapshots(value, stop, f"{kind}[{key!r}]")
            segment.irregularlysampledsignals.append(_snapshot_signal(kind, key, snapshots))
    return block


def write_block(path: str | os.PathLike, block: neo.Block) -> Path:
    """Write a Neo block as a NIX file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its folder is created.
    block : neo.Block
        The block (annotations must be NIX-storable; see :func:`build_block`).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    Exception
        Whatever the NIX backend raises; the target is then left untouched and no temporary
        file remains.
    """
    from neo.io import NixIO

    # HDF5 does not survive a full disk (it crashes the interpreter at exit), so the file is
    # staged in the system's temporary folder and copied into place with plain writes; if the
    # copy fails, atomic_write keeps the result in a rescue folder.
    fd, staged = tempfile.mkstemp(prefix="salpynn-", suffix=".nix")
    os.close(fd)
    try:
        io = NixIO(staged, mode="ow")
        try:
            io.write_block(block)
        finally:
            io.close()
        return atomic_write(path, lambda tmp: shutil.copyfile(staged, tmp))
    finally:
        os.unlink(staged)


def write_recording(
    path: str | os.PathLike,
    spiketrains: Sequence[SpikeTrainLike],
    t_start: TimeLike | None = None,
    t_stop: TimeLike | None = None,
    config: Mapping[str, Any] | Any | None = None,
    seeds: Any = None,
    weights: Mapping[str, ArrayLike | Snapshots] | None = None,
    biases: Mapping[str, ArrayLike | Snapshots] | None = None,
    analogsignals: Sequence[neo.AnalogSignal] = (),
    annotations: Mapping[str, Any] | None = None,
) -> Path:
    """Build a recording block (:func:`build_block`) and write it atomically as NIX.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.nix`` file, or an existing run folder (the file is then
        ``<folder>/recording.nix``).
    spiketrains, t_start, t_stop, config, seeds, weights, biases, analogsignals, annotations
        As in :func:`build_block`.

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_recording(folder, [[1.0], [2.0]], t_stop=10.0, seeds=[1]).name
    'recording.nix'
    """
    target = Path(path)
    if target.is_dir():
        target = target / RECORDING_FILENAME
    block = build_block(
        spiketrains,
        t_start=t_start,
        t_stop=t_stop,
        config=config,
        seeds=seeds,
        weights=weights,
        biases=biases,
        analogsignals=analogsignals,
        annotations=annotations,
    )
    return write_block(target, block)


@dataclass
class Recording:
    """A recording read back: the Neo block and its decoded metadata.

    Attributes
    ----------
    block : neo.Block
        As stored (NIX bookkeeping annotations included).
    metadata : dict
        Block annotations with JSON values decoded: ``config``, ``config_hash``, ``seeds``,
        ``provenance``, ``salpynn_version``, ``t_start_ms``, ``t_stop_ms``, ``n_neurons`` and
        any extra annotations.
    path : pathlib.Path or None
        File it was read from.
    """

    block: neo.Block
    metadata: dict[str, Any]
    path: Path | None = None

    @property
    def segment(self) -> neo.Segment:
        """The recording's segment."""
        return self.block.segments[0]

    @property
    def spiketrains(self) -> list[neo.SpikeTrain]:
        """Spike trains in neuron order."""
        return list(self.segment.spiketrains)

    @property
    def analogsignals(self) -> list[neo.AnalogSignal]:
        """Analog signals of the segment."""
        return list(self.segment.analogsignals)

    @property
    def t_start(self) -> pq.Quantity:
        """Start of the recording."""
        return self.metadata["t_start_ms"] * pq.ms

    @property
    def t_stop(self) -> pq.Quantity:
        """End of the recording."""
        return self.metadata["t_stop_ms"] * pq.ms

    @property
    def config(self) -> dict[str, Any]:
        """The run's configuration."""
        return self.metadata.get("config") or {}

    @property
    def seeds(self) -> Any:
        """The run's seeds."""
        return self.metadata.get("seeds")

    def _snapshots(self, kind: str) -> dict[str, Snapshots]:
        out = {}
        for signal in self.segment.irregularlysampledsignals:
            if signal.annotations.get("kind") != kind:
                continue
            # NIX reads a one-element list back as a scalar
            shape = tuple(int(n) for n in np.atleast_1d(signal.annotations["shape"]))
            values = np.asarray(signal.magnitude, dtype=float).reshape(-1, *shape)
            times = np.asarray(signal.times.rescale(pq.ms).magnitude, dtype=float)
            out[str(signal.annotations["matrix_name"])] = Snapshots(times, values)
        return out

    @property
    def weights(self) -> dict[str, Snapshots]:
        """Weight matrices by name (``W[k, j]`` is ``j -> k``)."""
        return self._snapshots("weights")

    @property
    def biases(self) -> dict[str, Snapshots]:
        """Bias vectors by name."""
        return self._snapshots("biases")


def read_recording(path: str | os.PathLike) -> Recording:
    """Read a NIX recording written by :func:`write_recording`.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.nix`` file.

    Returns
    -------
    Recording

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file holds no block.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_recording(folder, [[1.0], [2.0]], t_stop=10.0, config={"tau_ref": 10.0})
    ...     read_recording(path).config
    {'tau_ref': 10.0}
    """
    from neo.io import NixIO

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no recording at {path}")
    try:
        io = NixIO(str(path), mode="ro")
        try:
            blocks = io.read_all_blocks()
        finally:
            io.close()
    except Exception as err:  # h5py, nixio and Neo raise many kinds for a bad file
        raise ValueError(
            f"{path} is not a readable Neo NIX file ({type(err).__name__}: {err}); give a "
            f"recording.nix written by salpynn run (a truncated file must be recorded again)"
        ) from None
    if not blocks:
        raise ValueError(f"{path} holds no Neo block")
    block = blocks[0]
    raw = {k: v for k, v in block.annotations.items() if k != "nix_name"}
    encoded = raw.pop("json_annotations", [])
    encoded = [encoded] if isinstance(encoded, str) else list(encoded)
    metadata: dict[str, Any] = {}
    for key, value in raw.items():
        if key in encoded:
            metadata[key] = json.loads(value)
        elif isinstance(value, np.generic):
            metadata[key] = value.item()
        else:
            metadata[key] = value
    missing = [k for k in ("t_start_ms", "t_stop_ms") if k not in metadata]
    if missing or not block.segments:
        raise ValueError(
            f"{path} is a Neo NIX file but not a salpynn recording (it lacks "
            f"{', '.join(missing) or 'a segment'}); salpynn analyse reads the recording.nix "
            f"that salpynn run writes"
        )
    return Recording(block=block, metadata=metadata, path=path)


def load_recording(path: str | os.PathLike) -> Recording:
    """Read a recording from a ``.nix`` file or a run folder holding ``recording.nix``.

    Parameters
    ----------
    path : str or os.PathLike
        File or folder.

    Returns
    -------
    Recording

    Raises
    ------
    FileNotFoundError
        If neither the file nor ``<folder>/recording.nix`` exists.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = write_recording(folder, [[1.0], [2.0, 3.0]], t_stop=10.0)
    ...     [len(st) for st in load_recording(folder).spiketrains]
    [1, 2]
    """
    path = Path(path)
    if path.is_dir():
        candidate = path / RECORDING_FILENAME
        if not candidate.is_file():
            raise FileNotFoundError(f"run folder {path} has no {RECORDING_FILENAME}")
        path = candidate
    return read_recording(path)
