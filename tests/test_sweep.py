"""Sweeps: serially in one process and over ranks with real mpirun + mpi4py.futures.

Every sweep runs in a subprocess: OpenMPI 4.1 misbehaves when mpirun is started from a
process that has initialised MPI itself, so the test process never imports mpi4py.MPI.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from salpynn import sweep
from salpynn.config import ConfigError
from tests.conftest import require

SPEC = {
    "experiment": "two-neuron",
    "base": {"duration": 2000, "n_reports": 2},
    "grid": {"seed": [11, 12]},
    "conditions": {"both": {}, "frozen": {"plastic": "w_21"}},
}
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def write_spec(tmp_path: Path, **changes) -> Path:
    data = {**SPEC, "out": str(tmp_path / "out"), **changes}
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(data))
    return path


def run_cli(args: list[str], ranks: int = 1) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "salpynn", "sweep", *args, "--no-progress"]
    if ranks > 1:
        mpirun = shutil.which("mpirun")
        require(mpirun is not None, "mpirun (OpenMPI) is not installed")
        cmd = [mpirun, "-n", str(ranks), "--oversubscribe", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=600)


def read_table(path: Path) -> dict[str, dict[str, str]]:
    with open(path) as handle:
        return {row["run_id"]: row for row in csv.DictReader(handle)}


class TestSerialSweep:
    def test_runs_then_skips_finished_runs(self, tmp_path):
        path = write_spec(tmp_path)
        proc = run_cli([str(path)])
        assert proc.returncode == 0, proc.stderr
        out = tmp_path / "out"
        table = read_table(out / "summary.csv")
        assert len(table) == 4 and {r["status"] for r in table.values()} == {"done"}
        frozen = [r for r in table.values() if r["condition"] == "frozen"]
        assert all(float(r["w_12_final"]) == 1.5 for r in frozen)
        assert json.loads((out / "sweep.json").read_text())["provenance"]["salpynn_version"]

        marker = out / "runs" / next(iter(table)) / "summary.json"
        before = marker.stat().st_mtime_ns
        proc = run_cli([str(path)])
        assert proc.returncode == 0 and "4 already finished, 0 to run" in proc.stdout
        assert marker.stat().st_mtime_ns == before
        assert read_table(out / "summary.csv") == table

    def test_failed_run_is_reported_not_dropped(self, tmp_path):
        path = write_spec(tmp_path)
        victim = sweep.load_sweep(path).runs()[0].run_id
        # A directory where the run must write its summary: the run fails at the very end.
        (tmp_path / "out" / "runs" / victim / "summary.json").mkdir(parents=True)
        proc = run_cli([str(path)])
        assert proc.returncode == 1
        assert f"FAILED {victim}" in proc.stdout + proc.stderr
        table = read_table(tmp_path / "out" / "summary.csv")
        assert table[victim]["status"] == "failed" and "Error" in table[victim]["error"]
        assert sum(r["status"] == "done" for r in table.values()) == 3
        error = json.loads((tmp_path / "out" / "runs" / victim / "error.json").read_text())
        assert "Traceback" in error["traceback"]

    def test_selected_conditions_keep_run_ids_and_fill_the_same_folder(self, tmp_path):
        path = write_spec(tmp_path)
        full = sweep.load_sweep(path).runs()
        part = sweep.load_sweep(path).select(["frozen"]).runs()
        assert [r.run_id for r in part] == [r.run_id for r in full if r.condition == "frozen"]
        reordered = sweep.load_sweep(path).select(["frozen", "both"]).runs()
        assert [r.condition for r in reordered] == ["frozen", "frozen", "both", "both"]
        assert sorted(r.run_id for r in reordered) == sorted(r.run_id for r in full)

        proc = run_cli([str(path), "--conditions", "frozen"])
        assert proc.returncode == 0, proc.stderr
        assert set(read_table(tmp_path / "out" / "summary.csv")) == {r.run_id for r in part}
        proc = run_cli([str(path)])
        assert proc.returncode == 0 and "2 already finished, 2 to run" in proc.stdout

    @pytest.mark.parametrize("names", ["frozen,colour", "frozen,frozen"])
    def test_cli_refuses_bad_condition_selection(self, tmp_path, names):
        proc = run_cli([str(write_spec(tmp_path)), "--conditions", names])
        assert proc.returncode == 2 and "['both', 'frozen']" in proc.stderr
        assert not (tmp_path / "out").exists()

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"experiment": "three-neuron"}, "experiment"),
            ({"grid": {"seed": []}}, "grid.seed"),
            ({"grid": {"rule.eta": [2.0]}}, "rule.eta"),
            ({"grid": {"colour": ["red"]}}, "colour"),
            ({"extra": 1}, "unknown sweep keys"),
        ],
    )
    def test_bad_files_are_refused_before_running(self, tmp_path, changes, message):
        with pytest.raises(ConfigError, match=message):
            sweep.load_sweep(write_spec(tmp_path, **changes)).runs()

    def test_cli_reports_bad_file(self, tmp_path):
        proc = run_cli([str(write_spec(tmp_path, grid={"rule.eta": [-1.0]}))])
        assert proc.returncode == 2 and "rule.eta" in proc.stderr
        assert not (tmp_path / "out").exists()


class TestMpiSweep:
    def test_three_ranks_match_serial_results(self, tmp_path):
        path = write_spec(tmp_path)
        proc = run_cli([str(path), "--out", str(tmp_path / "mpi")], ranks=3)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "on 2 worker rank(s)" in proc.stdout
        assert proc.stdout.count("sweep: 4 runs") == 1  # only rank 0 reports
        assert run_cli([str(path)]).returncode == 0
        mpi = read_table(tmp_path / "mpi" / "summary.csv")
        serial = read_table(tmp_path / "out" / "summary.csv")
        assert mpi.keys() == serial.keys() and len(mpi) == 4
        for run_id, row in serial.items():
            # Same seed, same result, whichever rank ran it.
            assert mpi[run_id]["w_12_final"] == row["w_12_final"]
            assert mpi[run_id]["w_21_final"] == row["w_21_final"]


class TestNoiseSweep:
    def test_recurrent_sweep_over_noise_levels(self, tmp_path):
        spec = {
            "experiment": "recurrent",
            "out": str(tmp_path / "out"),
            "base": {"n": 8, "duration": 2000, "n_reports": 1, "seed": 3},
            "grid": {"asymmetry_sigma": [0.1, 0.8]},
        }
        path = tmp_path / "noise.json"
        path.write_text(json.dumps(spec))
        proc = run_cli([str(path)])
        assert proc.returncode == 0, proc.stderr
        rows = sorted(
            read_table(tmp_path / "out" / "summary.csv").values(),
            key=lambda r: float(r["asymmetry_sigma"]),
        )
        # Same seed: W - W^T = sigma (A - A^T) exactly, so the variance scales with sigma^2.
        low, high = (float(r["asymmetry_initial"]) for r in rows)
        assert high / low == pytest.approx(64.0, rel=1e-9)


def test_lists_in_a_condition_are_its_own_grid(tmp_path):
    spec = sweep.SweepSpec(
        "sampling",
        tmp_path,
        base={"iterations": 10, "validate_every": 5},
        grid={"seed": [1, 2]},
        conditions={
            "clean": {"noise": "none"},
            "noisy": {"noise": "synaptic", "sigma": [0.4, 0.8], "sal": True},
        },
    )
    runs = spec.runs()
    clean = [r for r in runs if r.condition == "clean"]
    noisy = [r for r in runs if r.condition == "noisy"]
    assert len(clean) == 2 and all("sigma" not in r.overrides for r in clean)
    assert sorted((r.overrides["seed"], r.overrides["sigma"]) for r in noisy) == [
        (1, 0.4),
        (1, 0.8),
        (2, 0.4),
        (2, 0.8),
    ]
    assert all(r.overrides["sal"] is True for r in noisy)
