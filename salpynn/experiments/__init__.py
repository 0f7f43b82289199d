"""The experiments, one module each, and the registry that ``salpynn run|sweep|plot`` use.

An experiment module defines a configuration dataclass (fields declared with
:func:`salpynn.config.param`, a ``validate()`` method that raises
:class:`~salpynn.config.ConfigError`) and ``EXPERIMENT = Experiment(...)``.  Adding an experiment
is adding such a module and one line to :data:`REGISTRY`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "REGISTRY",
    "Experiment",
    "angle_changes",
    "convention_param",
    "get",
    "names",
    "report_steps",
]

#: Experiment name -> module defining ``EXPERIMENT`` (imported when used).
REGISTRY: dict[str, str] = {
    "two-neuron": "salpynn.experiments.two_neuron",
    "recurrent": "salpynn.experiments.recurrent",
    "sampling": "salpynn.experiments.sampling",
    "ei-system": "salpynn.experiments.ei_system",
    "psp-shapes": "salpynn.experiments.psp_shapes",
    "lif-sampling": "salpynn.experiments.lif_sampling",
    "salnet": "salpynn.experiments.salnet",
    "deepnet": "salpynn.experiments.deepnet",
    "align-rules": "salpynn.experiments.align_rules",
    "microcircuit": "salpynn.experiments.microcircuit",
}


@dataclass(frozen=True)
class Experiment:
    """What the command line, sweeps and figures need to know about an experiment.

    ``run(config, out, progress)`` validates, simulates and writes the run folder ``out``
    (on MPI rank 0) and returns the summary that it wrote to ``out/summary.json`` (``None`` on
    other ranks).  ``figures(runs, out, **options)`` draws figures from finished runs (pairs of
    folder and summary) into ``out`` and returns the paths.  ``announce(config, out)`` and
    ``report(summary)`` are the lines the command line prints before and after a run.
    ``memory(config)`` estimates the bytes a run holds in memory, checked against the machine
    before it starts.
    """

    name: str
    description: str
    config: type
    run: Callable[[Any, Path, bool], dict[str, Any] | None]
    outputs: Sequence[str] = ()
    figures: Callable[..., list[Path]] | None = None
    announce: Callable[[Any, Path], str] | None = None
    report: Callable[[dict[str, Any]], list[str]] | None = None
    memory: Callable[[Any], int] | None = None


def get(name: str) -> Experiment:
    """The registered experiment ``name``; :class:`ValueError` lists the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(REGISTRY)}")
    return importlib.import_module(REGISTRY[name]).EXPERIMENT


def names() -> list[str]:
    """Registered experiment names, in registry order."""
    return list(REGISTRY)


def report_steps(duration: float, resolution: float, n_reports: int) -> np.ndarray:
    """``n_reports + 1`` read-out times from 0 to ``duration``, in whole time steps.

    Simulators only run whole multiples of the time step; keeping integers avoids float
    differences such as 0.30000000000000004 ms between read-outs.
    """
    n_steps = round(duration / resolution)
    return np.linspace(0, n_steps, n_reports + 1).round().astype(int)


def convention_param(default: str = "authors") -> Any:
    """The ``convention`` field of an experiment of sampling neurons (the discrete-time
    conventions of :data:`salpynn.networks.sampling.CONVENTIONS`)."""
    from salpynn.config import param

    return param(
        default,
        "",
        "discrete-time neuron: authors (dead time tau_ref + step, PSP tau_ref - step), "
        "reversible (PSP tau_ref: SAL's fixed point W = W^T exactly), marginals (dead time = "
        "PSP = tau_ref: exact rates)",
    )


def sal_pairing_param() -> Any:
    """The spike-pairing field of an experiment whose SALNet feedback learns under SAL."""
    from salpynn.config import param

    return param(
        "all",
        "",
        "spike pairing of the SAL window: all (the authors' SALNet: every pair in the window) "
        "or nearest (each spike with the partner's latest; biased by unequal rates)",
    )


def angle_changes(summary: dict[str, Any], digits: int = 1) -> str:
    """``"a0 -> b0, a1 -> b1, ..."`` from a summary's per-layer ``angle_initial`` and
    ``angle_final`` (the report line of the layered experiments)."""
    return ", ".join(
        f"{a:.{digits}f} -> {b:.{digits}f}"
        for a, b in zip(summary["angle_initial"], summary["angle_final"], strict=True)
    )
