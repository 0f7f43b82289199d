"""Finding, checking and loading the compiled module (loading runs in fresh interpreters, so a
module that would kill NEST shows up as a failed test, not as a dead pytest)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from salpynn.build import (
    MODULE_NAME,
    ModuleNotBuiltError,
    _read_manifest,
    _rebuild_reason,
    _toolchain,
    build_key,
    build_module,
    find_nest,
    mechanisms_dir,
    module_dir,
)
from tests.conftest import require

INSTALL = (
    "import salpynn.nest as s\n"
    "try:\n"
    "    s.install()\n"
    "except s.ModuleNotBuiltError as err:\n"
    "    print('ERROR', err)\n"
    "else:\n"
    "    print('LOADED', 'sal_synapse' in s.import_nest().synapse_models)\n"
)


@pytest.fixture(scope="module")
def built() -> Path:
    """The build folder of the module for the imported NEST (made by scripts/setup.sh)."""
    try:
        return module_dir()
    except ModuleNotBuiltError as err:
        require(False, str(err))
        raise


def run_install(cache: Path | None, **env: str) -> str:
    environ = dict(os.environ, **env)
    if cache is not None:
        environ["SALPYNN_CACHE"] = str(cache)
    proc = subprocess.run(
        [sys.executable, "-c", INSTALL], capture_output=True, text=True, env=environ, timeout=120
    )
    # A clear Python error, never a dead interpreter (e.g. SIGSEGV at nest.Install).
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-3000:]}"
    return proc.stdout


def copy_build(built: Path, cache: Path, key: str | None = None) -> Path:
    folder = cache / "modules" / (key or built.name)
    shutil.copytree(built, folder)
    return folder


def edit_manifest(folder: Path, change) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def test_install_loads_the_cached_build_and_is_idempotent(built):
    code = INSTALL + "s.install(); n = s.import_nest(); n.ResetKernel(); s.install(); print('OK')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED True" in proc.stdout and "OK" in proc.stdout


def test_manifest_records_compiler_and_library(built):
    manifest = json.loads((built / "manifest.json").read_text())
    library = built / f"{MODULE_NAME}.so"
    assert manifest["key"] == built.name == build_key(find_nest())
    assert manifest["library"]["size"] == library.stat().st_size
    assert len(manifest["library"]["sha256"]) == 64
    compiler = manifest["compiler"]
    assert compiler["path"] and compiler["version"] and isinstance(compiler["mpi_flags"], list)
    sources = {p.name for p in mechanisms_dir().iterdir() if p.suffix in {".h", ".cpp"}}
    assert set(manifest["sources"]) == sources and f"{MODULE_NAME}.cpp" in sources


def test_key_depends_on_source_contents_not_their_location(tmp_path):
    nest_inst = find_nest()
    copy = tmp_path / "elsewhere" / "mechanisms"
    shutil.copytree(mechanisms_dir(), copy)
    assert build_key(nest_inst, copy) == build_key(nest_inst)
    with open(copy / "sal_synapse.h", "a") as handle:
        handle.write("\n// an edit\n")
    assert build_key(nest_inst, copy) != build_key(nest_inst)


def test_loading_runs_no_compiler(built, tmp_path):
    """Every compiler name on PATH and $CXX records its calls: loading must make none."""
    fake_bin, calls = tmp_path / "bin", tmp_path / "compiler-calls.txt"
    fake_bin.mkdir()
    for name in ("g++", "c++", "gcc", "cc", "clang++", "mpicxx", "mpic++", "mpiCC"):
        fake = fake_bin / name
        fake.write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\nexit 1\n')
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    out = run_install(
        None, CXX=str(fake_bin / "g++"), PATH=f"{fake_bin}{os.pathsep}{os.environ['PATH']}"
    )
    assert out.strip() == "LOADED True", out
    assert not calls.exists(), calls.read_text()


def test_missing_build_is_a_clear_error(tmp_path):
    out = run_install(tmp_path)
    assert out.startswith("ERROR") and "salpynn build" in out and "not built" in out


def test_truncated_library_is_refused_not_loaded(built, tmp_path):
    folder = copy_build(built, tmp_path)
    library = folder / f"{MODULE_NAME}.so"
    with open(library, "r+b") as handle:
        handle.truncate(library.stat().st_size // 2)
    out = run_install(tmp_path)
    assert out.startswith("ERROR") and "salpynn build --force" in out and "bytes" in out, out


def test_build_for_another_nest_is_listed(built, tmp_path):
    other = copy_build(built, tmp_path, key="0123456789abcdef0123")
    edit_manifest(other, lambda m: m["nest"].update(package_dir="/opt/some-other-nest"))
    out = run_install(tmp_path)
    assert "another NEST" in out and "/opt/some-other-nest" in out


def test_mismatched_fingerprint_refused_before_loading(built, tmp_path):
    folder = copy_build(built, tmp_path, key=build_key(find_nest()))
    edit_manifest(folder, lambda m: m["nest"].update(fingerprint="0" * 64))
    out = run_install(tmp_path)
    assert out.startswith("ERROR") and "was built for NEST" in out


def test_rebuild_decision(built, tmp_path):
    """Reused only with the recorded compiler and a library of the recorded size."""
    toolchain = _toolchain(find_nest())  # the real compiler, as build_module asks it
    folder = copy_build(built, tmp_path)
    assert _rebuild_reason(folder, _read_manifest(folder), toolchain) is None

    for item, value in (("version", "g++ (Debian 11.3.0-12) 11.3.0"), ("path", "/opt/gcc/g++")):
        manifest = _read_manifest(folder)
        manifest["compiler"][item] = value
        assert "another compiler" in _rebuild_reason(folder, manifest, toolchain)
    manifest = _read_manifest(folder)
    manifest["compiler"] = "/usr/bin/g++"  # the old manifest layout
    assert _rebuild_reason(folder, manifest, toolchain)

    manifest = _read_manifest(folder)
    manifest["library"]["size"] += 1
    assert "bytes" in _rebuild_reason(folder, manifest, toolchain)
    library = folder / f"{MODULE_NAME}.so"
    data = bytearray(library.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    library.write_bytes(bytes(data))
    assert "sha256" in _rebuild_reason(folder, _read_manifest(folder), toolchain)
    (folder / f"{MODULE_NAME}.so").unlink()
    assert "missing" in _rebuild_reason(folder, _read_manifest(folder), toolchain)
    assert _rebuild_reason(tmp_path / "nothing", None, toolchain) == "not built"


def test_truncated_library_is_rebuilt(built, tmp_path, monkeypatch):
    """build_module() treats a library of the wrong size as not built and replaces it."""
    folder = copy_build(built, tmp_path)
    library = folder / f"{MODULE_NAME}.so"
    with open(library, "r+b") as handle:
        handle.truncate(1000)
    monkeypatch.setenv("SALPYNN_CACHE", str(tmp_path))
    assert build_module(verbose=False) == folder
    manifest = _read_manifest(folder)
    assert manifest["library"]["size"] == library.stat().st_size > 1000
    assert not list((tmp_path / "modules").glob(".*"))  # no staging or retired folders left
    assert run_install(tmp_path).strip() == "LOADED True"
