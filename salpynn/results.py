"""Run folders and atomic result files.

Every run writes its full configuration, a hash of it, the package version and the seeds next
to its results, so a result can always be traced and rerun.  Files are written to a temporary
name in the same folder and renamed into place, so a crash never leaves half a file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import platform
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from salpynn import __version__, safety

__all__ = [
    "atomic_write",
    "atomic_write_csv",
    "atomic_write_json",
    "atomic_write_npz",
    "config_hash",
    "finished_runs",
    "provenance",
    "read_json",
    "run_record",
    "to_jsonable",
]


def to_jsonable(value: Any) -> Any:
    """Convert NumPy scalars/arrays and non-finite floats into JSON-safe values."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "inf", "-inf", "nan": JSON has no literal for them
    if isinstance(value, Path):
        return str(value)
    return value


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_replace(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_umask())  # as open() would; mkstemp makes 0600
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the result to ``path`` atomically (file mode from
    the umask).

    If the machine refuses the write (disk full, read-only, folder gone), the file is written
    to :func:`salpynn.safety.rescue_folder` instead and its path returned; the command reports
    every rescued file (:func:`salpynn.safety.rescued`) and exits with an error.
    """
    path = Path(path)
    try:
        _write_replace(path, write)
    except OSError as err:
        if not safety.rescuable(err):
            raise
        target = safety.rescue_folder(path, err)
        _write_replace(target, write)
        return target
    return path


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_write_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``rows`` (dicts with the keys of the first) as CSV with a header, floats with 6
    significant digits, ``\\n`` line ends, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})
    text = buffer.getvalue()
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_write_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """Write ``arrays`` as an uncompressed ``.npz`` file, atomically (the name is kept as given:
    no ``.npz`` is appended)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    return atomic_write(path, write)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


def config_hash(config: Mapping[str, Any]) -> str:
    """A short, stable hash of a configuration (key order does not matter)."""
    text = json.dumps(to_jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def finished_runs(
    folders: Iterable[str | os.PathLike], experiment: str
) -> list[tuple[Path, dict[str, Any]]]:
    """Finished runs of ``experiment`` under ``folders`` (run folders, or sweeps' ``runs/*``),
    with their summaries; a run is finished when its ``summary.json`` exists."""
    found = []
    for folder in map(Path, folders):
        candidates = [folder] if (folder / "summary.json").exists() else []
        candidates += sorted(p.parent for p in folder.glob("runs/*/summary.json"))
        for candidate in candidates:
            summary = safety.read_json_object(
                candidate / "summary.json",
                "summary",
                "rerun that run (run the same command or sweep again after deleting the file)",
            )
            if summary.get("experiment") == experiment:
                found.append((candidate, summary))
    return found


def run_record(config: Any) -> dict[str, Any]:
    """The block every result carries: its seed, full configuration, the configuration's hash
    and :func:`provenance` (``config`` is a dataclass)."""
    import dataclasses

    values = dataclasses.asdict(config)
    return {
        "seed": values.get("seed"),
        "config": values,
        "config_hash": config_hash(values),
        "provenance": provenance(),
    }


def _git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def provenance() -> dict[str, Any]:
    """Versions of salpynn and the simulation stack, for a result's metadata."""
    info: dict[str, Any] = {
        "salpynn_version": __version__,
        "git_revision": _git_revision(),
        "python": platform.python_version(),
        "host": platform.node(),
    }
    from importlib.metadata import PackageNotFoundError, version

    for package in ("nest-simulator", "PyNN", "numpy", "neo", "elephant", "brian2"):
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            info[package] = None
    return info
