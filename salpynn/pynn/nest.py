"""pyNN.nest translations of salpynn's models onto ``salpynnmodule``.

PyNN's NEST layer multiplies weights by 1000 on the way in (NEST's currents are in pA where
PyNN's are in nA) and by 0.001 on the way out, for every synapse model.  We keep that
convention, so ``Projection.get("weight")`` returns what was set: the synapse stores
``1000 * w`` (and ``1000 * eta``, ``1000 * w_min``, ``1000 * w_max``), and the neuron multiplies
every incoming weight by ``weight_scale = 0.001``.  Native NEST users of ``sampling_neuron``
keep ``weight_scale = 1``.
"""

from __future__ import annotations

from typing import Any

import nest
from pyNN.nest.synapses import NESTSynapseMixin
from pyNN.standardmodels import build_translations

from salpynn.pynn import models

__all__ = ["SALSynapse", "SamplingNeuron", "SignedStaticSynapse"]

#: PyNN's NEST weight scale (nA -> pA), undone by the neuron's ``weight_scale``.
WEIGHT_SCALE = 1000.0


class SamplingNeuron(models.SamplingNeuron):
    __doc__ = models.SamplingNeuron.__doc__

    translations = build_translations(
        ("bias", "b"),
        ("tau_refrac", "tau_ref"),
        ("tau_syn", "tau_syn"),
        ("lambda_apical", "lambda_apical"),
    )
    variable_map = {"u": "u", "z": "z"}
    scale_factors = {"u": 1.0, "z": 1.0}
    nest_name = {"on_grid": "sampling_neuron", "off_grid": "sampling_neuron"}
    standard_receptor_type = False
    receptor_ports = {"basal": 1, "apical": 2}

    def __init__(self, escape: str = "exp", **parameters: Any) -> None:
        super().__init__(escape=escape, **parameters)
        self.extra_parameters = {"escape": escape, "weight_scale": 1.0 / WEIGHT_SCALE}

    def get_receptor_type(self, name: str) -> int:
        return self.receptor_ports[name]


_SYNAPSE_TRANSLATIONS = (
    ("weight", "weight", WEIGHT_SCALE),
    ("delay", "delay"),
)


class SALSynapse(models.SALSynapse, NESTSynapseMixin):
    __doc__ = models.SALSynapse.__doc__

    translations = build_translations(
        *_SYNAPSE_TRANSLATIONS,
        ("eta", "eta", WEIGHT_SCALE),  # eta * K is a weight change
        ("a_causal", "a_causal"),
        ("a_anticausal", "a_anticausal"),
        ("tau_causal", "tau_causal"),
        ("tau_anticausal", "tau_anticausal"),
        ("w_min", "w_min", WEIGHT_SCALE),
        ("w_max", "w_max", WEIGHT_SCALE),
    )
    nest_name = "sal_synapse"

    def _get_nest_synapse_model(self) -> str:
        # String parameters cannot go through Connect's syn_spec: they are set on the label
        # model's defaults right before this projection's connections are created.
        nest.SetDefaults(self.nest_name + "_lbl", {"window": self.window, "pairing": self.pairing})
        return super()._get_nest_synapse_model()


class SignedStaticSynapse(models.SignedStaticSynapse, NESTSynapseMixin):
    __doc__ = models.SignedStaticSynapse.__doc__

    translations = build_translations(*_SYNAPSE_TRANSLATIONS)
    nest_name = "static_synapse"
