"""Build and locate ``salpynnmodule``, salpynn's NEST extension module.

The module is compiled from the C++ sources in ``mechanisms/`` (installed as the package data
``salpynn/mechanisms/``) against the NEST that Python imports, into a cache folder
``<cache>/modules/<key>/``.  The key is a hash of what is known without a compiler: the source
files (names and contents), the compile-command template and the NEST fingerprint (its kernel
library and ``config.h``).  Finding and loading a build therefore never runs a compiler.

Each build folder carries ``manifest.json``: the NEST it was built for, the compiler identity
(path, ``--version`` output and, for a NEST with MPI, ``mpicxx --showme:compile``), the exact
command, and the size and sha256 of ``salpynnmodule.so``.  :func:`build_module` rebuilds when
the sources, the flags or the NEST change (a new key), when the recorded compiler differs from
the current one, and when the library is missing or has the wrong size.

``salpynn build [--force]`` builds; ``scripts/setup.sh`` runs it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "MODULE_NAME",
    "ModuleNotBuiltError",
    "NestInstallation",
    "build_module",
    "cache_root",
    "find_nest",
    "mechanisms_dir",
    "module_dir",
    "verified_library",
]

MODULE_NAME = "salpynnmodule"
#: Part of every key: bump it when the meaning of a key or the manifest layout changes.
KEY_FORMAT = "salpynnmodule-key-2"
REBUILD_HINT = "rebuild with `salpynn build --force`"


class ModuleNotBuiltError(RuntimeError):
    """``salpynnmodule`` has not been built for the NEST that is imported."""


def cache_root() -> Path:
    """Where compiled modules live: ``$SALPYNN_CACHE`` or ``~/.cache/salpynn``."""
    return Path(os.environ.get("SALPYNN_CACHE", Path.home() / ".cache" / "salpynn"))


def mechanisms_dir() -> Path:
    """The folder of the C++ sources.

    An installed distribution carries them as package data in ``salpynn/mechanisms/``; a source
    tree (also an editable install) keeps them in ``<repository>/mechanisms/``.
    """
    package = Path(__file__).resolve().parent
    for candidate in (package / "mechanisms", package.parent / "mechanisms"):
        if (candidate / f"{MODULE_NAME}.cpp").is_file():
            return candidate
    raise ModuleNotBuiltError(
        f"the C++ sources of {MODULE_NAME} are missing: neither {package / 'mechanisms'} "
        f"(installed package data) nor {package.parent / 'mechanisms'} (source tree) holds "
        f"{MODULE_NAME}.cpp; reinstall salpynn"
    )


@cache
def _sha256_file(path: Path) -> str:
    """sha256 of a file that does not change while the process runs (NEST's files)."""
    return _sha256(path)


def _sha256(path: Path) -> str:
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
    #: Flags every module for this NEST needs (ABI); MPI's flags come from the toolchain.
    cxx_flags: tuple[str, ...] = field(default=())

    @property
    def fingerprint(self) -> str:
        """Hash of the kernel library and its configuration header."""
        digest = hashlib.sha256()
        digest.update(_sha256_file(Path(self.kernel_library)).encode())
        digest.update(_sha256_file(Path(self.include_dir) / "config.h").encode())
        return digest.hexdigest()


def find_nest() -> NestInstallation:
    """Locate the NEST that ``import nest`` would load, without importing it or running a
    compiler.

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
        flags: tuple[str, ...] = ("-D_GLIBCXX_USE_CXX11_ABI=0",)
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
    return NestInstallation(
        version=version,
        package_dir=str(package_dir),
        include_dir=str(include_dir),
        kernel_library=str(kernel),
        kind=kind,
        have_mpi=have_mpi,
        cxx_flags=flags,
    )


# --- the compiler: only building asks for it ---------------------------------------------------


def _compiler() -> str:
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise ModuleNotBuiltError(
            "no C++ compiler found; install one (Debian: apt-get install g++) or set CXX"
        )
    return cxx


def _mpi_compile_flags() -> list[str]:
    mpicxx = shutil.which("mpicxx") or shutil.which("mpic++")
    if mpicxx is None:
        raise ModuleNotBuiltError(
            "this NEST was built with MPI but mpicxx is not on PATH; "
            "install OpenMPI's development files (Debian: apt-get install libopenmpi-dev)"
        )
    out = subprocess.run([mpicxx, "--showme:compile"], capture_output=True, text=True, check=True)
    return out.stdout.split()


def _toolchain(nest_inst: NestInstallation) -> dict[str, Any]:
    """The compiler identity recorded in the manifest: a build made by another compiler (or
    against other MPI headers) is rebuilt."""
    cxx = _compiler()
    try:
        proc = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60)
    except OSError as err:
        raise ModuleNotBuiltError(f"the C++ compiler {cxx} does not run: {err}") from err
    if proc.returncode != 0:
        raise ModuleNotBuiltError(f"`{cxx} --version` failed:\n{proc.stderr[-2000:]}")
    return {
        "path": cxx,
        "version": proc.stdout.strip(),
        "mpi_flags": _mpi_compile_flags() if nest_inst.have_mpi else [],
    }


# --- key, command, manifest ----------------------------------------------------------------


def _source_files(sources: Path | None = None) -> list[Path]:
    sources = sources or mechanisms_dir()
    return sorted(p for p in sources.iterdir() if p.suffix in {".h", ".cpp"} and p.is_file())


def _command_template(nest_inst: NestInstallation) -> list[str]:
    """The compile command with placeholders for everything that depends on where things are
    or on which compiler runs.  -fopenmp is required: without it the module runs single-threaded
    and segfaults with two threads.  The kernel symbols resolve at load time from
    nestkernel_api.so."""
    return [
        "{cxx}",
        "-std=c++20",
        "-O2",
        "-DNDEBUG",
        "-fPIC",
        "-fopenmp",
        *nest_inst.cxx_flags,
        *(["{mpi_flags}"] if nest_inst.have_mpi else []),
        "-I{sources}",
        "-I{nest_include}",
        "-shared",
        "-o",
        "{output}",
        f"{{sources}}/{MODULE_NAME}.cpp",
    ]


def _compile_command(
    nest_inst: NestInstallation, toolchain: dict[str, Any], sources: Path, output: Path
) -> list[str]:
    values = {
        "cxx": toolchain["path"],
        "sources": str(sources),
        "nest_include": nest_inst.include_dir,
        "output": str(output),
    }
    command: list[str] = []
    for part in _command_template(nest_inst):
        if part == "{mpi_flags}":
            command += toolchain["mpi_flags"]
        else:
            command.append(part.format(**values))
    return command


def build_key(nest_inst: NestInstallation, sources: Path | None = None) -> str:
    """Hash of the sources (names and contents), the compile-command template and the NEST
    fingerprint: everything that selects a build and is known without a compiler."""
    digest = hashlib.sha256(KEY_FORMAT.encode())
    for path in _source_files(sources):
        digest.update(f"\0{path.name}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    digest.update(json.dumps(_command_template(nest_inst)).encode())
    digest.update(nest_inst.fingerprint.encode())
    return digest.hexdigest()[:20]


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _library_problem(folder: Path, manifest: dict[str, Any]) -> str | None:
    """Why ``folder``'s library does not match its manifest (size only: cheap), or None."""
    library = folder / f"{MODULE_NAME}.so"
    try:
        expected = int(manifest["library"]["size"])
    except (KeyError, TypeError, ValueError):
        return f"{folder / 'manifest.json'} does not record the size of {library.name}"
    try:
        actual = library.stat().st_size
    except OSError:
        return f"{library} is missing"
    if actual != expected:
        return (
            f"{library} has {actual} bytes but was built with {expected} (truncated or overwritten)"
        )
    return None


def _other_builds(exclude: Path) -> str:
    others = []
    for manifest in sorted((cache_root() / "modules").glob("*/manifest.json")):
        if manifest.parent == exclude:
            continue
        try:
            nest_info = json.loads(manifest.read_text())["nest"]
            others.append(
                f"  {manifest.parent}: NEST {nest_info['version']} at {nest_info['package_dir']}"
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
    if not others:
        return ""
    return "\nBuilds exist only for another NEST or older sources:\n" + "\n".join(others)


def module_dir(nest_inst: NestInstallation | None = None) -> Path:
    """The folder holding the module built for ``nest_inst`` (the imported NEST by default).

    Needs no compiler: the key depends on the sources, the flags and the NEST only.  The
    library's size is checked against the manifest (a truncated library would kill the
    interpreter at ``nest.Install``).

    Raises
    ------
    ModuleNotBuiltError
        If no build for this NEST and these sources exists (the message lists builds that
        exist for other NEST installations or older sources), or if the library does not match
        its manifest.
    """
    nest_inst = nest_inst or find_nest()
    folder = cache_root() / "modules" / build_key(nest_inst)
    manifest = _read_manifest(folder)
    if manifest is None or not (folder / f"{MODULE_NAME}.so").is_file():
        raise ModuleNotBuiltError(
            f"{MODULE_NAME} is not built for NEST {nest_inst.version} at "
            f"{nest_inst.package_dir} with the current sources (expected {folder}). Build it "
            f"with `salpynn build` (or scripts/setup.sh).{_other_builds(folder)}"
        )
    problem = _library_problem(folder, manifest)
    if problem:
        raise ModuleNotBuiltError(f"{MODULE_NAME} is damaged: {problem}; {REBUILD_HINT}")
    return folder


def verified_library(nest_inst: NestInstallation | None = None) -> Path:
    """The built ``salpynnmodule.so`` for ``nest_inst`` (the imported NEST by default), checked
    before loading: found by key, built for this NEST's fingerprint, of the recorded size.

    Raises
    ------
    ModuleNotBuiltError
        If any check fails; loading such a library could kill the interpreter.
    """
    nest_inst = nest_inst or find_nest()
    folder = module_dir(nest_inst)
    library = folder / f"{MODULE_NAME}.so"
    manifest = _read_manifest(folder) or {}
    built_for = manifest.get("nest", {})
    if built_for.get("fingerprint") != nest_inst.fingerprint:
        raise ModuleNotBuiltError(
            f"{library} was built for NEST {built_for.get('version')} at "
            f"{built_for.get('package_dir')}, not for the imported NEST {nest_inst.version} at "
            f"{nest_inst.package_dir}; {REBUILD_HINT}"
        )
    problem = _library_problem(folder, manifest)  # again: just before loading
    if problem:
        raise ModuleNotBuiltError(f"{MODULE_NAME} is damaged: {problem}; {REBUILD_HINT}")
    return library


def _rebuild_reason(
    folder: Path, manifest: dict[str, Any] | None, toolchain: dict[str, Any]
) -> str | None:
    """Why the build in ``folder`` cannot be reused with ``toolchain``, or None."""
    if manifest is None:
        return "not built"
    problem = _library_problem(folder, manifest)
    if problem:
        return problem
    library = folder / f"{MODULE_NAME}.so"
    if _sha256(library) != manifest["library"].get("sha256"):  # building may afford the hash
        return f"{library} does not have the sha256 recorded at build time (corrupted)"
    recorded = manifest.get("compiler")
    if not isinstance(recorded, dict):
        return "the manifest records no compiler"
    for item in ("path", "version", "mpi_flags"):
        if recorded.get(item) != toolchain[item]:
            return f"built with another compiler ({item}: {recorded.get(item)!r})"
    return None


def _publish(staging: Path, folder: Path) -> None:
    """Move a finished build into place with renames only, so that concurrent builders (e.g.
    several ranks) and loaders never see half a module."""
    retired = Path(tempfile.mkdtemp(prefix=f".{folder.name}-old-", dir=folder.parent))
    try:
        if folder.exists():
            try:
                folder.rename(retired / "build")
            except OSError:
                pass  # another builder moved it already
        try:
            staging.rename(folder)
        except OSError:  # another builder published first; its build is equivalent
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        shutil.rmtree(retired, ignore_errors=True)


def build_module(force: bool = False, verbose: bool = True) -> Path:
    """Compile ``salpynnmodule`` for the imported NEST unless an identical build exists.

    A build is reused when its key matches (sources, flags, NEST), its manifest records the
    current compiler and its library has the recorded size and sha256; ``force=True`` always
    compiles.

    Returns
    -------
    pathlib.Path
        The build folder containing ``salpynnmodule.so`` and ``manifest.json``.
    """
    nest_inst = find_nest()
    sources = mechanisms_dir()
    key = build_key(nest_inst, sources)
    folder = cache_root() / "modules" / key
    toolchain = _toolchain(nest_inst)
    reason = "forced" if force else _rebuild_reason(folder, _read_manifest(folder), toolchain)
    if reason is None:
        if verbose:
            print(f"salpynn: {MODULE_NAME} up to date ({folder})")
        return folder

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=folder.parent))
    # Compile a snapshot of the sources, keyed by its own contents: an edit while compiling
    # cannot produce a build whose key names other sources than it was compiled from.
    snapshot = staging / "sources"
    snapshot.mkdir()
    for path in _source_files(sources):
        shutil.copy2(path, snapshot / path.name)
    key = build_key(nest_inst, snapshot)
    folder = cache_root() / "modules" / key
    library = staging / f"{MODULE_NAME}.so"
    command = _compile_command(nest_inst, toolchain, snapshot, library)
    if verbose:
        print(
            f"salpynn: building {MODULE_NAME} for NEST {nest_inst.version} ({nest_inst.kind}; "
            f"{reason})"
        )
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
        "key_format": KEY_FORMAT,
        "nest": asdict(nest_inst) | {"fingerprint": nest_inst.fingerprint},
        "compiler": toolchain,
        "command": command,  # as run in the staging folder, renamed to the build folder after
        "sources_dir": str(sources),
        "sources": {p.name: _sha256(p) for p in _source_files(snapshot)},
        "library": {"size": library.stat().st_size, "sha256": _sha256(library)},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.perf_counter() - start, 1),
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    _publish(staging, folder)
    if verbose:
        print(f"salpynn: built {folder} in {manifest['seconds']} s", flush=True)
    return folder
