"""Finding, checking and loading the compiled module (run in fresh interpreters)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from salpynn.build import _compiler, build_key, find_nest, module_dir

INSTALL = (
    "import salpynn.nest as s\n"
    "try:\n"
    "    s.install()\n"
    "except s.ModuleNotBuiltError as err:\n"
    "    print('ERROR', err)\n"
    "else:\n"
    "    print('LOADED', 'sal_synapse' in s.import_nest().synapse_models)\n"
)


def run_install(cache: Path) -> str:
    env = dict(os.environ, SALPYNN_CACHE=str(cache))
    proc = subprocess.run(
        [sys.executable, "-c", INSTALL], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr  # a clear Python error, never a dead interpreter
    return proc.stdout


def test_install_loads_the_cached_build_and_is_idempotent():
    code = INSTALL + "s.install(); n = s.import_nest(); n.ResetKernel(); s.install(); print('OK')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED True" in proc.stdout and "OK" in proc.stdout


def test_missing_build_is_a_clear_error(tmp_path):
    out = run_install(tmp_path)
    assert out.startswith("ERROR") and "salpynn build" in out and "not built" in out


def test_build_for_another_nest_is_listed(tmp_path):
    real = module_dir()
    other = tmp_path / "modules" / "0123456789abcdef0123"
    shutil.copytree(real, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["nest"]["package_dir"] = "/opt/some-other-nest"
    (other / "manifest.json").write_text(json.dumps(manifest))
    out = run_install(tmp_path)
    assert "another NEST" in out and "/opt/some-other-nest" in out


def test_mismatched_fingerprint_refused_before_loading(tmp_path):
    key = build_key(find_nest(), _compiler())
    folder = tmp_path / "modules" / key
    shutil.copytree(module_dir(), folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["nest"]["fingerprint"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    out = run_install(tmp_path)
    assert out.startswith("ERROR") and "was built for NEST" in out
