"""NEST backend of salpynn: load ``salpynnmodule`` into the running NEST kernel.

Order under PyNN: ``sim.setup()`` (which resets the kernel and so unloads every module), then
:func:`install`, then ``sim.native_synapse_type("sal_synapse")``, then populations.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from salpynn.build import MODULE_NAME, ModuleNotBuiltError, verified_library
from salpynn.rule import PairRule, check_synapse_values

__all__ = [
    "MODULE_NAME",
    "ModuleNotBuiltError",
    "disable_buffer_resize_log",
    "import_nest",
    "install",
    "module_models",
    "sal_syn_spec",
    "sal_synapse_model",
]

#: Models that salpynnmodule registers; their presence tells that it is loaded.
module_models = ("sal_synapse", "sampling_neuron")


def import_nest():
    """Import PyNEST without its banner."""
    os.environ.setdefault("PYNEST_QUIET", "1")
    import nest

    nest.verbosity = nest.VerbosityLevel.ERROR
    return nest


def _loaded(nest) -> bool:
    return all(model in nest.synapse_models or model in nest.node_models for model in module_models)


def disable_buffer_resize_log(nest: Any) -> None:
    """Stop NEST 3.10's spike-buffer resize log from growing by one entry per time slice.

    With few spikes per slice the kernel shrinks its (already minimal) MPI spike buffer at
    every communication step and appends to ``spike_buffer_resize_log``: about 26 MB and a
    0.3 s ``GetKernelStatus`` (hence every ``SynapseCollection.get``) per 100 s of model time at
    0.1 ms min_delay.  A shrink limit of 0 never shrinks, so nothing is logged; the buffers
    still grow when needed.  ``ResetKernel`` restores the default, so call this after it.
    """
    nest.SetKernelStatus({"spike_buffer_shrink_limit": 0.0})


def install() -> Path:
    """Load ``salpynnmodule`` into the current NEST kernel (idempotent).

    Call it again after ``nest.ResetKernel()`` (and after PyNN's ``sim.setup()``), which unload
    every dynamic module.  It also applies :func:`disable_buffer_resize_log`.

    Returns
    -------
    pathlib.Path
        The loaded shared library.

    Raises
    ------
    ModuleNotBuiltError
        If the module is not built for the imported NEST, was built for another one, or its
        library does not have the size recorded at build time (checked before loading: a module
        of the wrong ABI or a truncated one would kill the interpreter).  Loading never runs a
        compiler.
    RuntimeError
        If the kernel already holds nodes, which NEST refuses to combine with loading a module.
    """
    nest = import_nest()
    disable_buffer_resize_log(nest)
    if _loaded(nest):
        return verified_library()
    # Checked before loading, without a compiler: the build for this NEST and these sources,
    # its recorded NEST fingerprint and the library's recorded size.
    library = verified_library()
    if nest.GetKernelStatus("network_size") > 0:
        raise RuntimeError(
            "salpynn.nest.install() must run before any node is created (NEST refuses to load "
            "modules into a populated kernel); under PyNN call it right after sim.setup()"
        )
    nest.Install(str(library))
    return library


def sal_synapse_model(
    rule: PairRule, weight_recorder: Any = None, base: str = "sal_synapse"
) -> str:
    """Name of a ``sal_synapse`` copy whose defaults carry ``rule``'s window and pairing.

    NEST's ``Connect`` takes only numbers in ``syn_spec``, so the string parameters are set
    once per model with ``CopyModel``.  Copies are reused within a kernel.

    Raises
    ------
    ValueError
        If ``base`` is not ``sal_synapse`` or a copy of it, or ``weight_recorder`` is not one
        ``weight_recorder`` node.  Checked before copying: NEST's ``CopyModel`` creates the
        copy before it sets the parameters and keeps it when they are refused (for every
        model), and a half-made copy would be reused here.
    """
    nest = import_nest()
    if base not in nest.synapse_models or "window" not in nest.GetDefaults(base):
        raise ValueError(
            f"base must be sal_synapse or a copy of it; {base!r} is not a sal_synapse model"
        )
    if weight_recorder is not None and not _is_weight_recorder(nest, weight_recorder):
        raise ValueError(
            "weight_recorder must be one weight_recorder node (a NodeCollection of size 1); "
            f"got {weight_recorder!r}"
        )
    name = f"{base}__{rule.window}__{rule.pairing}"
    if weight_recorder is not None:
        name += f"__wr{weight_recorder.global_id}"
    if name not in nest.synapse_models:
        params: dict[str, Any] = dict(rule.model_defaults())
        if weight_recorder is not None:
            params["weight_recorder"] = weight_recorder
        nest.CopyModel(base, name, params)
    return name


def _is_weight_recorder(nest: Any, node: Any) -> bool:
    if not isinstance(node, nest.NodeCollection) or len(node) != 1:
        return False
    # A copy of weight_recorder keeps the original model's name as its type_id.
    return nest.GetDefaults(node.get("model")).get("type_id") == "weight_recorder"


def sal_syn_spec(
    rule: PairRule,
    weight: float,
    delay: float | None = None,
    weight_recorder: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    """A complete ``syn_spec`` for ``nest.Connect`` with a ``sal_synapse`` following ``rule``.

    Raises
    ------
    ValueError
        If a number (or array) given as ``weight`` is not finite or lies outside ``[w_min,
        w_max]``, or ``rule.dendritic_delay`` exceeds ``delay``.  NEST's ``Connect`` cannot
        refuse a NaN weight: it reads NaN as "no weight given" and stores the model's default.
    """
    values: dict[str, Any] = {
        "w_min": rule.w_min,
        "w_max": rule.w_max,
        "dendritic_delay": rule.dendritic_delay,
    }
    given = {"weight": weight, "delay": delay, **extra}
    for name in ("weight", "w_min", "w_max", "delay", "dendritic_delay"):
        if given.get(name) is None:
            continue
        try:  # numbers and arrays; NEST parameters (random weights) are NEST's to check
            values[name] = np.asarray(given[name], dtype=float)
        except (TypeError, ValueError):
            continue
    check_synapse_values("sal_syn_spec", values)
    spec: dict[str, Any] = {
        "synapse_model": sal_synapse_model(rule, weight_recorder),
        "weight": weight,
        **rule.to_nest(),
        **extra,
    }
    if delay is not None:
        spec["delay"] = delay
    return spec
