"""salpynn.analysis.recording: NIX round trips, metadata and atomic writes."""

from __future__ import annotations

import doctest
import tempfile
from pathlib import Path

import neo
import numpy as np
import pytest
import quantities as pq
from neo.io import NixIO

from salpynn.analysis import recording
from salpynn.analysis.recording import (
    RECORDING_FILENAME,
    Snapshots,
    build_block,
    load_recording,
    read_recording,
    write_block,
    write_recording,
)
from salpynn.results import config_hash

CONFIG = {"tau_ref": 10.0, "network": {"n": 3, "weights": [[0.0, 1.0], [0.5, 0.0]]}}


def example_trains() -> list[np.ndarray]:
    rng = np.random.default_rng(17)
    return [np.sort(rng.uniform(0.0, 1000.0, n)) for n in (30, 0, 7)]


class TestDocstringExamples:
    def test_examples_run(self):
        result = doctest.testmod(recording)
        assert result.attempted > 0
        assert result.failed == 0


class TestSnapshots:
    def test_final_and_mean(self):
        s = Snapshots([0.0, 10.0], [[[1.0]], [[3.0]]])
        assert s.final.tolist() == [[3.0]]
        assert s.mean.tolist() == [[2.0]]

    def test_shape_mismatch(self):
        with pytest.raises(ValueError, match="snapshots"):
            Snapshots([0.0, 1.0], [[1.0, 2.0]])


class TestBuildBlock:
    def test_structure(self):
        block = build_block(
            example_trains(),
            t_stop=1000.0,
            config=CONFIG,
            weights={"W": np.eye(3)},
            biases={"b": [0.1, 0.2, 0.3]},
        )
        segment = block.segments[0]
        assert [st.annotations["neuron"] for st in segment.spiketrains] == [0, 1, 2]
        assert {s.name for s in segment.irregularlysampledsignals} == {"weights:W", "biases:b"}
        # nested values are JSON strings, so NIX can store them
        assert isinstance(block.annotations["config"], str)
        assert "config" in block.annotations["json_annotations"]

    def test_reserved_annotation(self):
        with pytest.raises(ValueError, match="reserved"):
            build_block([[1.0]], t_stop=10.0, annotations={"config": 1})


class TestWriteRecording:
    def test_into_run_folder(self, tmp_path):
        path = write_recording(tmp_path, [[1.0]], t_stop=10.0)
        assert path == tmp_path / RECORDING_FILENAME
        assert path.is_file()
        assert [p.name for p in tmp_path.iterdir()] == [RECORDING_FILENAME]


class TestWriteBlock:
    def test_failure_leaves_no_partial_file(self, tmp_path, monkeypatch):
        def write_then_fail(self, block, **kwargs):
            self.nix_file.create_block("partial", "neo.block")  # something is on disk...
            raise RuntimeError("disk full")  # ...when the write fails

        monkeypatch.setattr(NixIO, "write_block", write_then_fail)
        staging = tmp_path / "tmp"  # the file is staged in the temporary folder first
        staging.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(staging))
        target = tmp_path / "run" / "recording.nix"
        with pytest.raises(RuntimeError, match="disk full"):
            write_block(target, build_block([[1.0]], t_stop=10.0))
        assert not target.exists()
        assert not target.parent.exists() or list(target.parent.iterdir()) == []
        assert list(staging.iterdir()) == []

    def test_failure_keeps_the_previous_file(self, tmp_path, monkeypatch):
        target = write_recording(tmp_path / "r.nix", [[1.0, 2.0]], t_stop=10.0)
        before = target.read_bytes()

        def fail(self, block, **kwargs):
            raise RuntimeError("interrupted")

        monkeypatch.setattr(NixIO, "write_block", fail)
        with pytest.raises(RuntimeError):
            write_recording(target, [[5.0]], t_stop=10.0)
        assert target.read_bytes() == before
        assert [p.name for p in tmp_path.iterdir()] == ["r.nix"]


class TestReadRecording:
    def test_round_trip_preserves_spikes_and_annotations(self, tmp_path):
        trains = example_trains()
        w_history = Snapshots([0.0, 500.0, 1000.0], np.random.default_rng(1).normal(size=(3, 3, 3)))
        signal = neo.AnalogSignal(
            np.arange(20.0).reshape(10, 2) * pq.mV, sampling_period=0.1 * pq.ms, name="V_m"
        )
        path = write_recording(
            tmp_path / "rec.nix",
            trains,
            t_stop=1000.0,
            config=CONFIG,
            seeds={"numpy": 17, "nest": [1, 2]},
            weights={"W": w_history, "W_target": np.ones((3, 3))},
            biases={"b": [0.1, -0.2, 0.3]},
            analogsignals=[signal],
            annotations={"experiment": "test", "n_layers": 2, "phases": ["wake", "sleep"]},
        )
        rec = read_recording(path)
        assert rec.path == path
        for original, stored in zip(trains, rec.spiketrains, strict=True):
            assert stored.units == pq.ms
            np.testing.assert_array_equal(stored.magnitude, original)  # bit for bit
        assert rec.t_start == 0.0 * pq.ms and rec.t_stop == 1000.0 * pq.ms
        assert rec.config == CONFIG
        assert rec.metadata["config_hash"] == config_hash(CONFIG)
        assert rec.seeds == {"numpy": 17, "nest": [1, 2]}
        assert rec.metadata["provenance"]["neo"] == neo.__version__
        assert rec.metadata["salpynn_version"] == rec.metadata["provenance"]["salpynn_version"]
        assert rec.metadata["experiment"] == "test"
        assert rec.metadata["n_layers"] == 2
        assert rec.metadata["phases"] == ["wake", "sleep"]
        assert rec.metadata["n_neurons"] == 3
        np.testing.assert_array_equal(rec.weights["W"].values, w_history.values)
        np.testing.assert_array_equal(rec.weights["W"].times, w_history.times)
        np.testing.assert_array_equal(rec.weights["W_target"].final, np.ones((3, 3)))
        np.testing.assert_array_equal(rec.weights["W_target"].times, [1000.0])
        np.testing.assert_allclose(rec.biases["b"].final, [0.1, -0.2, 0.3])
        (stored_signal,) = rec.analogsignals
        np.testing.assert_array_equal(stored_signal.magnitude, signal.magnitude)

    def test_neo_trains_in_seconds(self, tmp_path):
        train = neo.SpikeTrain([0.25, 0.5] * pq.s, t_stop=1.0 * pq.s, population="exc")
        rec = read_recording(write_recording(tmp_path / "s.nix", [train]))
        (stored,) = rec.spiketrains
        np.testing.assert_allclose(stored.magnitude, [250.0, 500.0])
        assert stored.annotations["population"] == "exc"
        assert rec.t_stop == 1000.0 * pq.ms

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            read_recording(tmp_path / "nothing.nix")


class TestLoadRecording:
    def test_file_or_folder(self, tmp_path):
        path = write_recording(tmp_path, example_trains(), t_stop=1000.0, config=CONFIG)
        assert load_recording(tmp_path).config == load_recording(path).config == CONFIG

    def test_folder_without_recording(self, tmp_path):
        with pytest.raises(FileNotFoundError, match=r"recording\.nix"):
            load_recording(tmp_path)

    def test_accepts_strings(self, tmp_path):
        write_recording(tmp_path, [[1.0]], t_stop=5.0)
        assert isinstance(load_recording(str(tmp_path)).path, Path)
