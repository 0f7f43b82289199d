"""Fig. 7 (``salpynn run align-rules``): SAL and STDWI both move B towards W in NEST."""

from __future__ import annotations

import numpy as np
import pytest

from salpynn.config import ConfigError, apply_overrides
from salpynn.experiments.align_rules import AlignRulesConfig, run


def test_both_rules_align_feedback(tmp_path) -> None:
    """Ten simulated seconds per rule on a 50 -> 50 layer.  For independent random W and B
    the correlation of their entries has a standard deviation of 1 / n (n^2 = 2500 pairs):
    each rule must raise it by more than 5 of those, and lower the angle."""
    config = apply_overrides(AlignRulesConfig(), {"seconds": 10})
    summary = run(config, tmp_path, progress=False)
    table = np.loadtxt(tmp_path / "metrics.csv", delimiter=",", skiprows=1)
    assert table.shape == (11, 5)
    sd = 1.0 / config.n
    for column, rule in ((2, "sal"), (4, "stdwi")):
        assert table[-1, column] - table[0, column] > 5 * sd, (rule, table[:, column])
        assert summary[f"angle_final_{rule}"] < summary["angle_initial"] - 2.0, summary
    # The STDWI network is feedforward: its neurons fire, and its input layer's rate is
    # that of free sampling neurons at bias 0 (about half the time refractory: 1 / (2 tau_ref)).
    assert summary["rate_hz_input_stdwi"] == pytest.approx(500.0, rel=0.1)


@pytest.mark.parametrize(
    ("override", "name"),
    [
        ({"stdwi_tau_slow": 0.5}, "stdwi_tau_slow"),
        ({"stdwi_lr": 0.0}, "stdwi_lr"),
        ({"sal_copies": 0}, "sal_copies"),
        ({"n": 0}, "n"),
    ],
)
def test_bad_values_name_the_parameter(override: dict, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        apply_overrides(AlignRulesConfig(), override).validate()
