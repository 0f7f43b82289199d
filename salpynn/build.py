"""Build and locate ``salpynnmodule``, salpynn's NEST extension module.

The module is compiled from ``mechanisms/`` against the NEST that Python imports, into a cache
folder keyed by a hash of everything the binary depends on (sources, compiler, flags, the NEST
kernel library and its ``config.h``).  A changed source or a different NEST gives a new key and
therefore a rebuild; an unchanged one is reused.  Each build folder carries ``manifest.json``
describing what it was built from.

Run ``python -m salpynn.build`` (or ``salpynn build``) to build; ``scripts/setup.sh`` does it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

__all__ = [
    "MODULE_NAME",
    "ModuleNotBuiltError",
    "NestInstallation",
    "build_module",
    "cache_root",
    "find_nest",
    "module_dir",
]

MODULE_NAME = "salpynnmodule"
MECHANISMS_DIR = Path(__file__).resolve().parent.parent / "mechanisms"


class ModuleNotBuiltError(RuntimeError):
    """``salpynnmodule`` has not been built for the NEST that is imported."""


def cache_root() -> Path:
    """Where compiled modules live: ``$SALPYNN_CACHE`` or ``~/.cache/salpynn``."""
    return Path(os.environ.get("SALPYNN_CACHE", Path.home() / ".cache" / "salpynn"))


@cache
def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class NestInstallation:
    """A NEST installation as far as building a module against it is concerned."""

    version: str
    package_dir: str
    include_dir: str
    kernel_library: str
    kind: str  # "wheel" (PyPI manylinux wheel) or "source" (built here with CMake)
    have_mpi: bool
    cxx_flags: tuple[str, ...] = field(default=())

    @property
    def fingerprint(self) -> str:
        """Hash of the kernel library and its configuration header."""
        digest = hashlib.sha256()
        digest.update(_sha256_file(Path(self.kernel_library)).encode())
        digest.update(_sha256_file(Path(self.include_dir) / "config.h").encode())
        return digest.hexdigest()


def _mpi_compile_flags() -> list[str]:
    mpicxx = shutil.which("mpicxx") or shutil.which("mpic++")
    if mpicxx is None:
        raise ModuleNotBuiltError(
            "this NEST was built with MPI but mpicxx is not on PATH; "
            "install OpenMPI's development files (Debian: apt-get install libopenmpi-dev)"
        )
    out = subprocess.run([mpicxx, "--showme:compile"], capture_output=True, text=True, check=True)
    return out.stdout.split()


def find_nest() -> NestInstallation:
    """Locate the NEST that ``import nest`` would load, without importing it.

    Raises
    ------
    ModuleNotBuiltError
        If NEST is not importable or its headers are missing.
    """
    spec = importlib.util.find_spec("nest")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotBuiltError(
            "NEST is not importable from this Python; run scripts/setup.sh to create .venv"
        )
    package_dir = Path(next(iter(spec.submodule_search_locations))).resolve()
    kernel = package_dir / "nestkernel_api.so"
    wheel_headers = package_dir / "include" / "nest"
    if wheel_headers.is_dir():
        # The PyPI wheel's kernel was compiled by GCC 10 with the old libstdc++ ABI; a module
        # built without _GLIBCXX_USE_CXX11_ABI=0 kills the interpreter at nest.Install.
        include_dir, kind = wheel_headers, "wheel"
        flags = ("-D_GLIBCXX_USE_CXX11_ABI=0",)
    else:
        # A CMake install: <prefix>/lib/python3.X/site-packages/nest and <prefix>/include/nest.
        prefix = package_dir.parents[3]
        include_dir, kind, flags = prefix / "include" / "nest", "source", ()
    config_h = include_dir / "config.h"
    if not config_h.is_file():
        raise ModuleNotBuiltError(f"NEST headers not found at {include_dir} (no config.h)")
    config = config_h.read_text()
    match = re.search(r'#define NEST_VERSION "([^"]+)"', config)
    version = match.group(1) if match else "unknown"
    have_mpi = re.search(r"^#define HAVE_MPI\b", config, re.MULTILINE) is not None
    if have_mpi:
        flags = (*flags, *_mpi_compile_flags())
    return NestInstallation(
        version=version,
        package_dir=str(package_dir),
        include_dir=str(include_dir),
        kernel_library=str(kernel),
        kind=kind,
        have_mpi=have_mpi,
        cxx_flags=flags,
    )


def _compiler() -> str:
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise ModuleNotBuiltError(
            "no C++ compiler found; install one (Debian: apt-get install g++) or set CXX"
        )
    return cxx


def _compile_command(nest_inst: NestInstallation, cxx: str, output: Path) -> list[str]:
    # -fopenmp is required: without it the module runs single-threaded and segfaults
    # with two threads.  The kernel symbols resolve at load time from nestkernel_api.so.
    return [
        cxx,
        "-std=c++20",
        "-O2",
        "-DNDEBUG",
        "-fPIC",
        "-fopenmp",
        *nest_inst.cxx_flags,
        f"-I{MECHANISMS_DIR}",
        f"-I{nest_inst.include_dir}",
        "-shared",
        "-o",
        str(output),
        str(MECHANISMS_DIR / f"{MODULE_NAME}.cpp"),
    ]


def _source_files() -> list[Path]:
    return sorted(p for p in MECHANISMS_DIR.iterdir() if p.suffix in {".h", ".cpp"})


def build_key(nest_inst: NestInstallation, cxx: str) -> str:
    """Hash of everything the compiled module depends on."""
    digest = hashlib.sha256()
    for path in _source_files():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    digest.update(version.encode())
    digest.update(" ".join(_compile_command(nest_inst, "CXX", Path("out"))).encode())
    digest.update(nest_inst.fingerprint.encode())
    return digest.hexdigest()[:20]


def module_dir(nest_inst: NestInstallation | None = None) -> Path:
    """The folder holding the module built for ``nest_inst`` (the imported NEST by default).

    Raises
    ------
    ModuleNotBuiltError
        If no build for this NEST and these sources exists.  The message lists builds that
        exist for other NEST installations or older sources.
    """
    nest_inst = nest_inst or find_nest()
    key = build_key(nest_inst, _compiler())
    folder = cache_root() / "modules" / key
    if (folder / f"{MODULE_NAME}.so").is_file() and (folder / "manifest.json").is_file():
        return folder
    others = []
    for manifest in sorted((cache_root() / "modules").glob("*/manifest.json")):
        try:
            info = json.loads(manifest.read_text())
            nest_info = info["nest"]
            others.append(
                f"  {manifest.parent}: NEST {nest_info['version']} at {nest_info['package_dir']}"
            )
        except (OSError, ValueError, KeyError):
            continue
    hint = (
        "\nBuilds exist only for another NEST or older sources:\n" + "\n".join(others)
        if others
        else ""
    )
    raise ModuleNotBuiltError(
        f"{MODULE_NAME} is not built for NEST {nest_inst.version} at {nest_inst.package_dir} "
        f"with the current sources (expected {folder}). Build it with `salpynn build` "
        f"(or scripts/setup.sh).{hint}"
    )


def build_module(force: bool = False, verbose: bool = True) -> Path:
    """Compile ``salpynnmodule`` for the imported NEST unless an identical build exists.

    Returns
    -------
    pathlib.Path
        The build folder containing ``salpynnmodule.so`` and ``manifest.json``.
    """
    nest_inst = find_nest()
    cxx = _compiler()
    key = build_key(nest_inst, cxx)
    folder = cache_root() / "modules" / key
    if not force and (folder / "manifest.json").is_file():
        if verbose:
            print(f"salpynn: {MODULE_NAME} up to date ({folder})")
        return folder

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=folder.parent))
    command = _compile_command(nest_inst, cxx, staging / f"{MODULE_NAME}.so")
    if verbose:
        print(f"salpynn: building {MODULE_NAME} for NEST {nest_inst.version} ({nest_inst.kind})")
        print("  " + " ".join(command), flush=True)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        missing = re.search(r"fatal error: (\S+): No such file", result.stderr)
        hint = ""
        if missing and "boost" in missing.group(1):
            hint = "\nNEST's headers need Boost: install it (Debian: apt-get install libboost-dev)."
        raise ModuleNotBuiltError(f"compiling {MODULE_NAME} failed:\n{result.stderr[-4000:]}{hint}")
    manifest = {
        "module": MODULE_NAME,
        "key": key,
        "nest": asdict(nest_inst) | {"fingerprint": nest_inst.fingerprint},
        "compiler": cxx,
        "command": command,
        "sources": {p.name: _sha256_file(p) for p in _source_files()},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.perf_counter() - start, 1),
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    # Publish atomically: concurrent builders (e.g. several ranks) never see half a module.
    if folder.exists():
        shutil.rmtree(folder)
    try:
        staging.rename(folder)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    if verbose:
        print(f"salpynn: built {folder} in {manifest['seconds']} s", flush=True)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="salpynn build", description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if a build exists")
    args = parser.parse_args(argv)
    try:
        build_module(force=args.force)
    except ModuleNotBuiltError as err:
        print(f"salpynn build: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
