"""The checks every command shares, so that bad input and faulty machines give a sentence
instead of a traceback and nothing already computed is lost.

- :func:`check_writable` before anything long starts: the output folder can be created and
  written to (not a file, not under a file, not read-only, space left);
- :class:`RunLock`: a run folder belongs to one run at a time (``.salpynn.lock`` holds the
  owner's pid, host and start time; a lock whose process is gone on this host is taken over);
- :func:`rescue_folder`: when writing a result fails anyway (disk full, folder removed), the
  file goes to a rescue folder under the system's temporary folder and the command says where;
- :func:`read_json_object` and :func:`load_npz`: configuration, summary and checkpoint files
  that are missing, empty, truncated or of the wrong kind are named with what to do;
- :func:`check_memory`: a configuration whose arrays would not fit in the available memory is
  refused up front, with the estimate.

Errors are :class:`~salpynn.config.ConfigError` (the command exits with status 2) or
:class:`CorruptFileError` (a file on disk is unreadable; also a ``ConfigError``).
"""

from __future__ import annotations

import errno
import json
import os
import platform
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from salpynn.config import ConfigError, CorruptFileError, read_json_object

__all__ = [
    "ConfigError",
    "CorruptFileError",
    "RunLock",
    "check_memory",
    "check_writable",
    "load_npz",
    "read_json_object",
    "rescue_folder",
    "rescued",
]

LOCK_NAME = ".salpynn.lock"
#: Space an output folder must have left before a run starts (results are small: MB).
MIN_FREE_BYTES = 16 * 2**20


# --------------------------------------------------------------------------- output folders


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def check_writable(out: str | os.PathLike, what: str = "--out") -> Path:
    """Create ``out`` (with parents) and prove it writable; raise :class:`ConfigError` with
    the reason otherwise.  Call before anything long starts."""
    out = Path(out)
    ancestor = _existing_ancestor(out.absolute())
    if not ancestor.is_dir():
        where = "is a file" if ancestor == out.absolute() else f"is under the file {ancestor}"
        raise ConfigError(f"{what} {out} {where}; choose a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".salpynn-probe-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ConfigError(
            f"{what} {out} is not writable ({err.strerror or err}); choose another folder"
        ) from err
    free = shutil.disk_usage(out).free
    if free < MIN_FREE_BYTES:
        raise ConfigError(
            f"{what} {out} has only {free / 2**20:.1f} MiB free (at least "
            f"{MIN_FREE_BYTES // 2**20} MiB are needed); free space or choose another folder"
        )
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """Exclusive ownership of a run folder by this process (a context manager).

    The lock file is created with ``O_EXCL``, so of two runs started together exactly one gets
    the folder; the other is refused with the owner's pid, host and start time.  A lock left by
    a process that no longer exists on this host (killed with SIGKILL) is taken over, and the
    takeover is reported in :attr:`note`.
    """

    def __init__(self, folder: str | os.PathLike, command: str = "salpynn") -> None:
        self.path = Path(folder) / LOCK_NAME
        self.command = command
        self.note: str | None = None
        self._held = False

    def _owner(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _publish(self, record: dict[str, Any]) -> None:
        """Create the lock file with its content already in it, or raise FileExistsError.

        The record is written to a private file that is then hard-linked to the lock name:
        ``link`` fails if the name exists and is atomic, so a competitor never sees a lock
        without its owner.  File systems without hard links fall back to ``O_EXCL`` (whose
        empty moment :meth:`_owner_settled` waits out).
        """
        fd, private = tempfile.mkstemp(prefix=".salpynn-lock-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle)
            os.chmod(private, 0o644)
            try:
                os.link(private, self.path)
                return
            except FileExistsError:
                raise
            except OSError:
                pass  # no hard links here
        finally:
            os.unlink(private)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle)

    def _owner_settled(self, wait: float = 1.0) -> dict[str, Any] | None:
        """The owner, giving a lock that is being written (empty, partial) up to ``wait``
        seconds to complete; ``{}`` if it stays unreadable."""
        deadline = time.monotonic() + wait
        owner = self._owner()
        while owner == {} and time.monotonic() < deadline:
            time.sleep(0.02)
            owner = self._owner()
        return owner

    def acquire(self) -> RunLock:
        record = {
            "pid": os.getpid(),
            "host": platform.node(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": self.command,
        }
        for _ in range(3):
            try:
                self._publish(record)
            except FileExistsError:
                owner = self._owner()
                if owner == {}:
                    owner = self._owner_settled()
                if owner is None:
                    continue  # released in between: try again
                if (
                    owner.get("host") == record["host"]
                    and isinstance(owner.get("pid"), int)
                    and not _pid_alive(owner["pid"])
                ):
                    self.note = (
                        f"took over the lock of run {owner['pid']} (started "
                        f"{owner.get('started', '?')}), which no longer runs"
                    )
                    self.path.unlink(missing_ok=True)
                    continue
                who = (
                    f"process {owner.get('pid', '?')} on {owner.get('host', '?')} "
                    f"(started {owner.get('started', '?')})"
                    if owner
                    else "another run (its lock file is unreadable)"
                )
                raise ConfigError(
                    f"{self.path.parent} is in use by {who}; a run folder belongs to one run "
                    f"at a time: wait for it, or choose another --out (if that run is gone, "
                    f"delete {self.path})"
                ) from None
            self._held = True
            return self
        raise ConfigError(f"could not lock {self.path.parent}; try again")

    def release(self) -> None:
        if self._held:
            self.path.unlink(missing_ok=True)
            self._held = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


# --------------------------------------------------------------------------- rescue

_RESCUE: dict[str, Any] = {"root": None, "folder": None, "files": []}


def rescue_folder(path: Path, err: OSError) -> Path:
    """Where a result that could not be written to ``path`` goes instead (same name, under a
    rescue folder in the system's temporary folder, one per command); remembered for
    :func:`rescued`."""
    if _RESCUE["folder"] is None:
        _RESCUE["folder"] = Path(tempfile.mkdtemp(prefix="salpynn-rescue-"))
    root = _RESCUE["root"]
    try:
        relative = path.absolute().relative_to(root) if root is not None else Path(path.name)
    except ValueError:
        relative = Path(path.name)
    target = _RESCUE["folder"] / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    _RESCUE["files"].append((path, target, err.strerror or str(err)))
    return target


def rescued() -> list[tuple[Path, Path, str]]:
    """``(intended path, rescued path, reason)`` of every result written to the rescue folder
    by this process."""
    return list(_RESCUE["files"])


def rescuable(err: OSError) -> bool:
    """Whether a failed write is the machine's fault (full, read-only, gone, no permission)."""
    return err.errno in {
        errno.ENOSPC,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.ENOENT,
        errno.EDQUOT,
        errno.ENOTDIR,
        errno.EIO,
    }


@contextmanager
def run_folder(out: str | os.PathLike, command: str = "salpynn") -> Iterator[RunLock]:
    """``check_writable`` + :class:`RunLock` + results rescued relative to ``out``."""
    out = check_writable(out)
    previous = _RESCUE["root"]
    _RESCUE["root"] = out.absolute()
    try:
        with RunLock(out, command) as lock:
            yield lock
    finally:
        _RESCUE["root"] = previous


# --------------------------------------------------------------------------- reading files


def load_npz(path: str | os.PathLike, what: str, remedy: str) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file (never pickles); a truncated or foreign file raises
    :class:`CorruptFileError` naming it and ``remedy``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise CorruptFileError(f"{what} {path} does not exist; {remedy}") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise CorruptFileError(
            f"{what} {path} is corrupt or truncated ({type(err).__name__}); {remedy}"
        ) from None


# --------------------------------------------------------------------------- memory


def available_memory() -> int:
    """Bytes of memory available to a new allocation (``MemAvailable``, else physical)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(estimate: int, what: str, remedy: str) -> None:
    """Refuse a configuration whose estimated memory exceeds 80 % of what is available."""
    available = available_memory()
    if estimate > 0.8 * available:
        raise ConfigError(
            f"{what} needs about {estimate / 2**30:.1f} GiB of memory, but "
            f"{available / 2**30:.1f} GiB are available; {remedy}"
        )
