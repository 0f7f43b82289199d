"""Analysis of salpynn recordings with Neo and Elephant.

- :mod:`~salpynn.analysis.recording`: spike trains, weights and provenance in a NIX file.
- :mod:`~salpynn.analysis.states`: binary states ``z_k(t)``, sampled and Boltzmann
  distributions, ``D_KL``.
- :mod:`~salpynn.analysis.correlations`: correlation coefficients, cross-correlograms, the
  spike-timing-difference distribution (STDD) and the SAL drift predicted from spikes.
- :mod:`~salpynn.analysis.alignment`: angle, ``Var(W - B)``, correlation and sign
  concordance of feedback to forward weights; ``Var(W_ij - W_ji)``.
- :mod:`~salpynn.analysis.plots`: PNG figures.
- :mod:`~salpynn.analysis.cli`: ``salpynn analyse``.

Conventions shared by all modules: times are :mod:`quantities` or plain floats in ms; a pair
lag is ``t_j - t_i`` (positive when ``i`` fires first); ``W[k, j]`` is the weight of the
connection ``j -> k``; the state index is ``sum_k z_k 2**k`` (neuron 0 least significant).
"""

from salpynn.analysis.alignment import (
    alignment_angle,
    alignment_correlation,
    alignment_metrics,
    asymmetry_variance,
    difference_variance,
    feedback_in_forward_orientation,
    layer_alignment,
    sign_concordance,
)
from salpynn.analysis.correlations import (
    asymmetry_correlation,
    bin_spiketrains,
    correlation_matrix,
    covariance_matrix,
    cross_correlogram,
    cross_correlograms,
    drift_asymmetry,
    fold_with_window,
    predicted_drift,
    predicted_drift_matrix,
    reciprocal_pairs,
    spike_time_differences,
    stdd,
)
from salpynn.analysis.recording import (
    RECORDING_FILENAME,
    Recording,
    Snapshots,
    build_block,
    load_recording,
    read_recording,
    write_block,
    write_recording,
)
from salpynn.analysis.spiketrains import as_spiketrains, firing_rates, spike_times_ms
from salpynn.analysis.states import (
    all_states,
    binary_states,
    boltzmann_distribution,
    coactivation,
    distribution_moments,
    kl_divergence,
    marginals,
    read_out_times,
    sampled_distribution,
    state_indices,
)

__all__ = [
    "RECORDING_FILENAME",
    "Recording",
    "Snapshots",
    "alignment_angle",
    "alignment_correlation",
    "alignment_metrics",
    "all_states",
    "as_spiketrains",
    "asymmetry_correlation",
    "asymmetry_variance",
    "bin_spiketrains",
    "binary_states",
    "boltzmann_distribution",
    "build_block",
    "coactivation",
    "correlation_matrix",
    "covariance_matrix",
    "cross_correlogram",
    "cross_correlograms",
    "difference_variance",
    "distribution_moments",
    "drift_asymmetry",
    "feedback_in_forward_orientation",
    "firing_rates",
    "fold_with_window",
    "kl_divergence",
    "layer_alignment",
    "load_recording",
    "marginals",
    "predicted_drift",
    "predicted_drift_matrix",
    "read_out_times",
    "read_recording",
    "reciprocal_pairs",
    "sampled_distribution",
    "sign_concordance",
    "spike_time_differences",
    "spike_times_ms",
    "state_indices",
    "stdd",
    "write_block",
    "write_recording",
]
