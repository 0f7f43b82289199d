"""salpynn as a user gets it: a wheel installed into a fresh virtual environment.

The wheel must carry the C++ sources (package data ``salpynn/mechanisms``) and the networks
(``salpynn.networks``), ``salpynn build`` must compile from the installed sources and the module
must load, all from outside the repository.  NEST, PyNN, numpy and the other dependencies come
from the environment running the tests, made visible through a ``.pth`` file; salpynn itself only
from the wheel (the editable install's finder is not active there, which the test checks).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
#: Not part of a source distribution: environments, caches, results, build leftovers.
IGNORE = shutil.ignore_patterns(
    ".git", ".venv*", "__pycache__", "*.egg-info", "build", "dist", "results", ".*_cache", "*.so"
)

CHECK_IMPORTS = """
import sys
import salpynn, salpynn.build, salpynn.networks.two_neuron
venv = sys.prefix
for name, path in [
    ("salpynn", salpynn.__file__),
    ("salpynn.networks.two_neuron", salpynn.networks.two_neuron.__file__),
    ("mechanisms", str(salpynn.build.mechanisms_dir())),
]:
    assert path.startswith(venv + "/"), f"{name} from {path}, not from the wheel in {venv}"
# Finders are classes or instances; the editable install's is __editable___*_finder._EditableFinder.
finders = [
    f"{getattr(finder, '__module__', '')}.{getattr(finder, '__qualname__', '')}"
    for finder in sys.meta_path
]
assert not any("editable" in name.lower() for name in finders), finders
clone = sys.argv[1]
assert not any(p.rstrip("/") == clone for p in sys.path), sys.path
print("from wheel:", salpynn.__file__)
"""

CHECK_LOAD = """
import salpynn.nest as s
n = s.import_nest()
n.ResetKernel()
library = s.install()
assert "sal_synapse" in n.synapse_models and "sampling_neuron" in n.node_models
print("loaded", library)
"""


def run(command: list, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    proc = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, (
        f"{' '.join(map(str, command))} exited with {proc.returncode}\n"
        f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
    )
    return proc.stdout


def test_wheel_builds_and_runs_outside_the_repository(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    # 1. A wheel built from a copy of the working tree (an in-tree build would write build/
    #    and *.egg-info into the clone).  Build isolation fetches setuptools from the index.
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=IGNORE)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run([*pip, "wheel", "-q", "--no-deps", "-w", wheels, source], tmp_path, env)
    (wheel,) = wheels.glob("salpynn-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for member in (
        "salpynn/mechanisms/salpynnmodule.cpp",
        "salpynn/mechanisms/sal_synapse.h",
        "salpynn/mechanisms/sampling_neuron.h",
        "salpynn/networks/__init__.py",
        "salpynn/networks/two_neuron.py",
        "salpynn/build.py",
    ):
        assert member in names, f"{member} missing from {wheel.name}"

    # 2. A fresh venv with only the wheel; the dependencies come from this environment via .pth.
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], tmp_path, env)
    python = venv / "bin" / "python"
    run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], tmp_path, env)
    site = run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, env
    ).strip()
    deps = sysconfig.get_paths()["purelib"]
    (Path(site) / "salpynn-test-dependencies.pth").write_text(deps + "\n")

    # 3. Everything below runs outside the clone, with an empty module cache.
    work = tmp_path / "work"
    work.mkdir()
    cache = tmp_path / "cache"
    env = dict(env, SALPYNN_CACHE=str(cache), PYNEST_QUIET="1")
    run([python, "-c", CHECK_IMPORTS, ROOT], work, env)

    salpynn = venv / "bin" / "salpynn"
    out = run([salpynn, "build"], work, env)
    (manifest_file,) = (cache / "modules").glob("*/manifest.json")
    manifest = json.loads(manifest_file.read_text())
    assert manifest["sources_dir"].startswith(str(venv)), manifest["sources_dir"]
    assert "up to date" in run([salpynn, "build"], work, env), out  # no second compile
    assert "loaded" in run([python, "-c", CHECK_LOAD], work, env)

    results = tmp_path / "run"
    run(
        [
            salpynn,
            "run",
            "two-neuron",
            "--set",
            "duration=2000",
            "--set",
            "n_reports=2",
            "--out",
            results,
            "--no-progress",
        ],
        work,
        env,
    )
    summary = json.loads((results / "summary.json").read_text())
    assert {"w_12_final", "w_21_final"} <= set(summary)
    assert not (work / "results").exists()  # --out was honoured
