"""salpynn.analysis.report and ``salpynn analyse`` on a synthetic recording with known weights."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest

from salpynn.analysis import report
from salpynn.analysis.recording import write_recording
from salpynn.analysis.report import analyse
from salpynn.cli import build_parser
from salpynn.cli import main as salpynn_main


def main(argv: list[str]) -> int:
    return salpynn_main(["analyse", *argv])


DURATION = 20_000.0  # ms
TAU_REF = 10.0


def driven_trains(weights: np.ndarray, seed: int) -> list[np.ndarray]:
    """Poisson trains (10 Hz) where each spike of ``j`` adds, with probability
    ``0.25 * W[k, j]``, a spike of ``k`` 2 ms later: ``j`` drives ``k`` as strongly as
    ``W[k, j]`` says (``W[k, j]`` is ``j -> k``)."""
    rng = np.random.default_rng(seed)
    n = weights.shape[0]
    base = [rng.uniform(0.0, DURATION, rng.poisson(10.0 * DURATION / 1000.0)) for _ in range(n)]
    trains = [list(t) for t in base]
    for k in range(n):
        for j in range(n):
            if k != j and weights[k, j] > 0:
                keep = rng.random(base[j].size) < 0.25 * weights[k, j]
                trains[k].extend(base[j][keep] + 2.0)
    return [np.sort(np.asarray(t)[np.asarray(t) < DURATION]) for t in trains]


@pytest.fixture
def run_folder(tmp_path):
    weights = np.array(
        [
            [0.0, 1.5, 0.2, 1.0],
            [0.3, 0.0, 1.2, 0.6],
            [1.4, 0.1, 0.0, 0.9],
            [0.2, 1.1, 0.5, 0.0],
        ]
    )
    folder = tmp_path / "run"
    folder.mkdir()
    write_recording(
        folder,
        driven_trains(weights, seed=3),
        t_stop=DURATION,
        config={"tau_ref": TAU_REF, "window": "exp", "pairing": "nearest", "delay": 0.0},
        seeds={"numpy": 3},
        weights={"W": weights},
        biases={"b": np.full(4, -1.0)},
    )
    return folder, weights


class TestDocstringExamples:
    def test_examples_run(self):
        result = doctest.testmod(report)
        assert result.attempted > 0
        assert result.failed == 0


class TestBuildParser:
    def test_options(self):
        args = build_parser().parse_args(["analyse", "run", "--out", "x", "--tau-ref", "5"])
        assert args.tau_ref == 5.0
        assert str(args.out) == "x"


class TestAnalyse:
    def test_json_content(self, run_folder):
        folder, _ = run_folder
        result = analyse(folder)
        written = json.loads((folder / "analysis" / "analysis.json").read_text())
        assert written["n_neurons"] == 4
        assert written["tau_ref_ms"] == TAU_REF
        assert len(written["rates_hz"]) == 4
        assert written["correlation"]["bin_size_ms"] == TAU_REF
        assert np.asarray(written["correlation"]["matrix"]).shape == (4, 4)
        asym = written["asymmetry"]
        assert asym["n_reciprocal_pairs"] == 6
        # The drift opposes the asymmetry: strongly negative correlation, every pair.
        assert asym["asymmetry_correlation"] < -0.8
        assert asym["fraction_drift_opposes_asymmetry"] == 1.0
        sampling = written["sampling"]
        assert sampling["n_samples"] == int(DURATION / (TAU_REF / 2))
        assert 0.0 < sampling["kl_divergence_nats"] < 10.0
        assert sorted(written["plots"]) == ["asymmetry.png", "distributions.png", "stdd.png"]
        for name in written["plots"]:
            assert (folder / "analysis" / name).read_bytes()[:4] == b"\x89PNG"
        assert written["provenance"]["salpynn_version"]
        assert result["out"] == str(folder / "analysis")

    def test_spikes_only_recording(self, tmp_path):
        rng = np.random.default_rng(0)
        trains = [np.sort(rng.uniform(0, 5000.0, 50)) for _ in range(3)]
        path = write_recording(tmp_path / "r.nix", trains, t_stop=5000.0)
        result = analyse(path, out=tmp_path / "out", tau_ref=20.0)
        assert "asymmetry" not in result and "sampling" not in result
        assert result["plots"] == ["stdd.png"]
        assert (tmp_path / "out" / "analysis.json").is_file()


class TestMain:
    def test_prints_summary(self, run_folder, capsys, tmp_path):
        folder, _ = run_folder
        assert main([str(folder / "recording.nix"), "--out", str(tmp_path / "o")]) == 0
        out = capsys.readouterr().out
        assert "4 neurons" in out
        assert "D_KL" in out
        assert "SAL: negative" in out

    def test_tau_ref_override(self, run_folder, tmp_path):
        folder, _ = run_folder
        assert main([str(folder), "--tau-ref", "5", "--out", str(tmp_path / "o")]) == 0
        written = json.loads((tmp_path / "o" / "analysis.json").read_text())
        assert written["tau_ref_ms"] == 5.0

    def test_missing_tau_ref(self, tmp_path, capsys):
        write_recording(tmp_path, [[1.0], [2.0]], t_stop=100.0)
        assert main([str(tmp_path)]) == 2
        assert "--tau-ref" in capsys.readouterr().err

    def test_missing_recording(self, tmp_path, capsys):
        assert main([str(tmp_path / "nope")]) == 2
        assert "no recording" in capsys.readouterr().err
