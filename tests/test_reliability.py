"""Faults a user or a machine causes: bad files, bad output folders, two runs in one folder,
Ctrl-C, a full disk.  Every case ends in one sentence (exit status 2, 4 or 130) and loses
nothing already computed.  File-system faults use real read-only and full tmpfs mounts (root
only, which CI is)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from salpynn import safety
from salpynn.cli import main
from salpynn.config import ConfigError, apply_overrides, load_config
from salpynn.experiments.sampling import SamplingConfig
from salpynn.experiments.two_neuron import TwoNeuronConfig
from salpynn.results import atomic_write_json
from tests.conftest import IN_CI, require

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
#: A two-neuron run of a few seconds.
QUICK = ["--set", "duration=2000", "--set", "n_reports=2", "--no-progress"]
#: A sampling run of a few seconds with two checkpoints per batch.
SAMPLING = [
    *("--set n=4 --set seeds=2 --set batch=1 --set iterations=6 --set validate_every=2".split()),
    *("--set validation_factor=2 --set sleep_tau=100 --no-progress".split()),
]


def salpynn(
    *args: str, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "salpynn", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env or ENV, timeout=timeout)


def refused(capsys, argv: list[str], *words: str, status: int = 2) -> str:
    """Run the command in this process; it must exit with ``status`` and one sentence
    containing ``words`` (no traceback)."""
    assert main(argv) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    return err


@pytest.fixture
def mount(tmp_path):
    """``mount(size_mb, readonly)``: a fresh tmpfs (root only; CI runs as root)."""
    mounted = []

    def make(size_mb: int, readonly: bool = False) -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        options = f"size={size_mb}m" + (",ro" if readonly else "")
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True
        )
        if proc.returncode != 0:
            require(not IN_CI, f"cannot mount a tmpfs: {proc.stderr.decode().strip()}")
            pytest.skip("mounting a tmpfs needs root")
        mounted.append(point)
        return point

    yield make
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` until ``leave`` bytes are free."""
    free = shutil.disk_usage(folder).free
    with open(folder / "ballast", "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))
    assert abs(shutil.disk_usage(folder).free - leave) < 64 * 1024


# --- configuration files and values ---------------------------------------------------------


class TestConfigFiles:
    @pytest.mark.parametrize(
        "content, words",
        [
            (None, ["does not exist"]),
            ("", ["is empty"]),
            ("{ not json", ["not valid JSON", "line 1"]),
            ("[1, 2]", ["must hold a JSON object", "list"]),
            ('{"n_reports": 2.5}', ["n_reports must be a whole number", "2.5"]),
            ('{"seed": "one"}', ["seed: cannot read 'one' as int"]),
            ('{"record_states": 1}', ["record_states must be true or false"]),
            ('{"escape": "tanh"}', ["escape: cannot read 'tanh'", "'logistic'"]),
        ],
    )
    def test_bad_config_file_is_a_sentence(self, tmp_path, capsys, content, words):
        path = tmp_path / "config.json"
        if content is not None:
            path.write_text(content)
        refused(capsys, ["run", "two-neuron", "--config", str(path)], "--config", *words[:1])
        for word in words[1:]:
            assert main(["run", "two-neuron", "--config", str(path)]) == 2
            assert word in capsys.readouterr().err

    def test_whole_floats_become_integers(self, tmp_path):
        path = tmp_path / "config.json"
        path.write_text('{"seed": 7.0, "n_reports": 3}')
        config = load_config(TwoNeuronConfig, path)
        assert config.seed == 7 and type(config.seed) is int  # recorded as 7, not 7.0
        assert load_config(TwoNeuronConfig, None, ["n_reports=1e2"]).n_reports == 100
        with pytest.raises(ConfigError, match="n_reports"):
            load_config(TwoNeuronConfig, None, ["n_reports=2.5"])
        with pytest.raises(ConfigError, match="iterations must be a whole number"):
            apply_overrides(SamplingConfig(), {"iterations": True})

    def test_off_grid_delay_is_refused(self, capsys):
        refused(capsys, ["run", "two-neuron", "--set", "delay=0.15"], "whole number of time steps")
        refused(capsys, ["run", "sampling", "--set", "tau_ref=5.05"], "tau_ref", "nearest")

    @pytest.mark.parametrize(
        "spec, words",
        [
            ({"experiment": "two-neuron", "conditions": ["a", "b"]}, ["conditions must be"]),
            ({"experiment": "two-neuron", "grid": "seed"}, ["grid must be"]),
            ({"experiment": "two-neuron", "conditions": {"a": 3}}, ["conditions.a must be"]),
            ({"experiment": "two-neuron", "base": {"seed": 1.5}}, ["seed must be a whole"]),
        ],
    )
    def test_bad_sweep_file_is_a_sentence(self, tmp_path, capsys, spec, words):
        path = tmp_path / "sweep.json"
        path.write_text(json.dumps(spec))
        proc = salpynn("sweep", str(path), timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        for word in words:
            assert word in proc.stderr

    def test_memory_is_checked_up_front(self, capsys):
        refused(
            capsys,
            ["run", "sampling", "--set", "iterations=10000000", "--set", "seeds=200"],
            "needs about",
            "GiB",
        )


# --- output folders -------------------------------------------------------------------------


class TestOutputFolder:
    def test_a_file_or_under_a_file(self, tmp_path, capsys):
        blocker = tmp_path / "a-file"
        blocker.write_text("x")
        refused(capsys, ["run", "two-neuron", "--out", str(blocker), *QUICK], "is a file")
        under = blocker / "run"
        refused(capsys, ["run", "recurrent", "--out", str(under)], "is under the file")

    def test_read_only(self, mount, capsys):
        folder = mount(1, readonly=True)
        refused(capsys, ["run", "two-neuron", "--out", str(folder / "x")], "not writable")

    def test_no_space_is_refused_up_front(self, mount, capsys):
        folder = mount(4)
        refused(capsys, ["run", "sampling", "--out", str(folder / "run")], "MiB free")

    def test_disk_full_during_the_run_keeps_the_results(self, mount, tmp_path):
        """The disk fills up after the up-front check (another process, here the test): the
        results that do not fit go to a rescue folder, and the command says where."""
        folder = mount(32)
        out = folder / "run"
        rescue_parent = tmp_path / "tmp"
        rescue_parent.mkdir()
        cmd = [sys.executable, "-m", "salpynn", "run", "two-neuron", "--out", str(out)]
        cmd += ["--set", "duration=60000", "--set", "n_reports=2", "--no-progress"]
        env = {**ENV, "TMPDIR": str(rescue_parent)}
        run = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while not (out / safety.LOCK_NAME).exists() and time.time() < deadline:
            time.sleep(0.01)
        fill(folder, 60_000)  # room for the small files, not for the NIX recording
        stdout, stderr = run.communicate(timeout=300)
        proc = subprocess.CompletedProcess(cmd, run.returncode, stdout.decode(), stderr.decode())
        assert proc.returncode == 4, proc.stderr
        assert "Traceback" not in proc.stderr
        (kept,) = list(rescue_parent.glob("salpynn-rescue-*/recording.nix"))
        assert f"kept it as {kept}" in proc.stderr
        from salpynn.analysis.recording import read_recording

        recording = read_recording(kept)  # a complete, readable recording
        assert recording.metadata["config"]["duration"] == 60000.0
        assert len(recording.spiketrains) == 2

    def test_result_files_follow_the_umask(self, tmp_path):
        old = os.umask(0o022)
        try:
            path = atomic_write_json(tmp_path / "x.json", {"a": 1})
        finally:
            os.umask(old)
        assert stat.S_IMODE(path.stat().st_mode) == 0o644


# --- one run per folder ---------------------------------------------------------------------


class TestLock:
    def test_a_live_owner_refuses_the_folder(self, tmp_path, capsys):
        out = tmp_path / "run"
        out.mkdir()
        (out / safety.LOCK_NAME).write_text(
            json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "started": "now"})
        )
        refused(capsys, ["run", "two-neuron", "--out", str(out), *QUICK], "is in use by process")
        assert (out / safety.LOCK_NAME).exists()  # someone else's lock is never removed
        assert not (out / "summary.json").exists()

    def test_a_sweep_folder_has_one_owner(self, tmp_path):
        out = tmp_path / "sweep"
        out.mkdir()
        (out / safety.LOCK_NAME).write_text(
            json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "started": "now"})
        )
        spec = tmp_path / "sweep.json"
        spec.write_text(json.dumps({"experiment": "two-neuron", "out": str(out)}))
        proc = salpynn("sweep", str(spec), "--no-progress")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert "is in use by process" in proc.stderr
        assert not (out / "runs").exists()

    def test_a_dead_owner_is_taken_over(self, tmp_path):
        dead = subprocess.Popen(["true"])
        dead.wait()
        lock = safety.RunLock(tmp_path)
        (tmp_path / safety.LOCK_NAME).write_text(
            json.dumps({"pid": dead.pid, "host": os.uname().nodename, "started": "then"})
        )
        with lock:
            assert "no longer runs" in lock.note
            assert json.loads(lock.path.read_text())["pid"] == os.getpid()
        assert not lock.path.exists()

    def test_racing_processes_always_see_a_complete_lock(self, tmp_path):
        """Eight processes released together at one folder, five times: exactly one owns it
        each time and every other is told the owner's pid (never an empty or partial lock,
        which is what a lock created first and written second shows a fast competitor)."""
        script = (
            "import os, sys, time\n"
            "from salpynn import safety\n"
            "go = sys.argv[2]\n"
            "while not os.path.exists(go): time.sleep(0.001)\n"
            "try:\n"
            "    with safety.RunLock(sys.argv[1]):\n"
            "        time.sleep(1.5); print('owner')\n"
            "except safety.ConfigError as err:\n"
            "    print(err)\n"
        )
        for round_ in range(5):
            folder, go = tmp_path / f"r{round_}", tmp_path / f"go{round_}"
            folder.mkdir()
            procs = [
                subprocess.Popen(
                    [sys.executable, "-c", script, str(folder), str(go)],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                )
                for _ in range(8)
            ]  # fmt: skip
            time.sleep(1.0)  # all eight are waiting (imports done) before the gate opens
            go.touch()
            outs = [p.communicate(timeout=60) for p in procs]
            lines = [out.strip() for out, _ in outs]
            assert lines.count("owner") == 1, outs
            pids = {str(p.pid) for p in procs}
            for line in lines:
                if line != "owner":
                    assert "is in use by process" in line, outs
                    assert line.split("is in use by process ")[1].split()[0] in pids
            assert not (folder / safety.LOCK_NAME).exists()
            assert not list(folder.glob(".salpynn-lock-*"))

    def test_two_runs_into_one_folder(self, tmp_path):
        """Started together with different seeds: one run owns the folder, the other is refused
        before simulating, and the summary holds exactly the owner's seeds."""
        out = tmp_path / "shared"
        cmds = [
            [sys.executable, "-m", "salpynn", "run", "sampling", *SAMPLING, "--seed", str(seed),
             "--out", str(out)]
            for seed in (1, 50)
        ]  # fmt: skip
        procs = [
            subprocess.Popen(
                cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for cmd in cmds
        ]
        results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
        codes = sorted(code for code, _ in results)
        assert codes == [0, 2], results
        loser = next(err for code, err in results if code == 2)
        assert "is in use by process" in loser and "Traceback" not in loser
        summary = json.loads((out / "summary.json").read_text())
        assert summary["seeds"] == list(range(summary["seed"], summary["seed"] + 2))
        assert not (out / safety.LOCK_NAME).exists()


# --- damaged files --------------------------------------------------------------------------


class TestDamagedFiles:
    def test_truncated_checkpoint_is_named(self, tmp_path):
        out = tmp_path / "run"
        first = salpynn("run", "sampling", *SAMPLING, "--out", str(out))
        assert first.returncode == 0, first.stderr
        (out / "summary.json").unlink()
        checkpoint = out / "checkpoints" / "batch-0000.npz"
        checkpoint.write_bytes(checkpoint.read_bytes()[:300])
        again = salpynn("run", "sampling", *SAMPLING, "--out", str(out))
        assert again.returncode == 2 and "Traceback" not in again.stderr, again.stderr
        assert f"checkpoint {checkpoint} is corrupt or truncated" in again.stderr
        assert "delete it" in again.stderr
        checkpoint.unlink()  # as the message says: that batch starts again, the other resumes
        third = salpynn("run", "sampling", *SAMPLING, "--out", str(out))
        assert third.returncode == 0, third.stderr
        summary = json.loads((out / "summary.json").read_text())
        assert summary["seeds"] == [1, 2]
        assert summary["run_iterations_this_invocation"] == 6  # only the deleted batch

    @pytest.mark.parametrize("kind", ["text", "truncated", "foreign"])
    def test_analyse_refuses_what_is_not_a_recording(self, tmp_path, capsys, kind):
        path = tmp_path / "x.nix"
        if kind == "text":
            path.write_text("hello")
        else:
            import neo
            import quantities as pq
            from neo.io import NixIO

            block = neo.Block()
            block.segments.append(neo.Segment())
            block.segments[0].spiketrains.append(neo.SpikeTrain([1, 2] * pq.ms, t_stop=5 * pq.ms))
            io = NixIO(str(path), mode="ow")
            io.write_block(block)
            io.close()
            if kind == "truncated":
                path.write_bytes(path.read_bytes()[:2000])
        words = {"foreign": "not a salpynn recording"}.get(kind, "not a readable Neo NIX file")
        refused(capsys, ["analyse", str(path), "--tau-ref", "10"], words)

    def test_corrupt_member_summary_reruns_that_member(self, tmp_path):
        spec = tmp_path / "sweep.json"
        spec.write_text(
            json.dumps(
                {
                    "experiment": "two-neuron",
                    "out": str(tmp_path / "sweep"),
                    "base": {"duration": 1000, "n_reports": 1},
                    "grid": {"seed": [1, 2]},
                }
            )
        )
        first = salpynn("sweep", str(spec), "--no-progress")
        assert first.returncode == 0, first.stderr
        (damaged, intact) = sorted((tmp_path / "sweep" / "runs").glob("*/summary.json"))
        before = intact.stat().st_mtime_ns
        damaged.write_text('{"experiment": "two-n')
        second = salpynn("sweep", str(spec), "--no-progress")
        assert second.returncode == 0, second.stderr
        assert f"summary {damaged} is not valid JSON" in second.stdout
        assert "1 already finished, 1 to run" in second.stdout
        assert json.loads(damaged.read_text())["experiment"] == "two-neuron"
        assert intact.stat().st_mtime_ns == before

    def test_recurrent_without_a_reciprocal_pair(self, capsys, tmp_path):
        refused(
            capsys,
            ["run", "recurrent", "--set", "n=2", "--set", "connectivity=0.001",
             "--out", str(tmp_path / "r")],
            "no reciprocal pair",
        )  # fmt: skip


# --- Ctrl-C -----------------------------------------------------------------------------------


class TestInterrupt:
    def _interrupt(self, args: list[str], ready) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "salpynn", *args]
        proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 300
        while not ready() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        return subprocess.CompletedProcess(cmd, proc.returncode, out.decode(), err.decode())

    def test_one_line_and_what_was_kept(self, tmp_path):
        out = tmp_path / "run"
        args = ["run", "sampling", *SAMPLING, "--set", "iterations=400", "--out", str(out)]
        proc = self._interrupt(args, lambda: any(out.glob("checkpoints/*.npz")))
        assert proc.returncode == 130, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "interrupted; checkpoints are kept" in lines[0]
        assert not (out / safety.LOCK_NAME).exists()  # the folder is free again

    def test_nothing_kept_is_said(self, tmp_path):
        out = tmp_path / "run"
        args = ["run", "two-neuron", "--set", "duration=1e7", "--no-progress", "--out", str(out)]
        proc = self._interrupt(args, lambda: (out / safety.LOCK_NAME).exists())
        assert proc.returncode == 130, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            "salpynn run: interrupted; nothing of this run was written (results are written "
            "only when it finishes)"
        ]


def test_safety_reads_npz_without_pickles(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.array([object()], dtype=object))
    with pytest.raises(safety.CorruptFileError, match="corrupt"):
        safety.load_npz(path, "checkpoint", "delete it")
