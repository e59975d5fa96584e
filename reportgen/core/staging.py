"""Writes that appear whole or not at all, and the sweeping of what a dead writer left behind.

Every temporary is a hidden name beside its target: ``.<stem>-<owner>-<pid>-<random>``. ``owner``
names this process's pid namespace on this boot of this machine. A temporary is abandoned when its
owner is us and its process is gone, or, whoever wrote it, when nothing in it changed for
``ABANDONED_AFTER_S``: a process id means nothing on another machine or in another container
sharing the folder over a network file system, but the age of a file does. Writers finish in
minutes, so a temporary untouched for hours is dead wherever its writer ran.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Callable, TypeVar

ABANDONED_AFTER_S = 6 * 3600
T = TypeVar("T")


@functools.lru_cache(maxsize=1)
def owner() -> str:
    """This machine's boot, pid namespace and host name, hashed: where our process ids mean something."""
    parts = [socket.gethostname()]
    for read in (lambda: Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
                 lambda: os.readlink("/proc/self/ns/pid")):
        try:
            parts.append(read())
        except OSError:
            parts.append("?")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def temporary_prefix(stem: str) -> str:
    """Hidden name prefix stamped with its writer, so the leftovers of dead writers can be found."""
    return f".{stem}-{owner()}-{os.getpid()}-"


def sweep_abandoned(folder: Path, stem: str, max_age_s: float = ABANDONED_AFTER_S) -> int:
    """Delete ``folder``'s temporaries named by ``temporary_prefix(stem)`` whose writer is dead."""
    removed = 0
    for path in Path(folder).glob(f".{stem}-*"):
        writer, _, rest = path.name[len(stem) + 2 :].partition("-")
        pid = rest.split("-", 1)[0]
        ours_and_dead = writer == owner() and pid.isdigit() and not _alive(int(pid))
        if ours_and_dead or _idle_for(path) > max_age_s:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            removed += 1
    return removed


def _idle_for(path: Path) -> float:
    """Seconds since ``path`` or anything directly in it last changed (0 when it just vanished)."""
    try:
        latest = path.stat().st_mtime
        if path.is_dir():
            latest = max([latest, *(child.stat().st_mtime for child in path.iterdir())])
    except OSError:
        return 0.0
    return time.time() - latest


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` through a temporary beside it: readers see the old bytes or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=temporary_prefix("tmp"), dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def replaceable(folder: Path, marker: str) -> bool:
    """Whether reportgen may replace ``folder``: absent, empty, or holding ``marker`` (it wrote it)."""
    return not folder.exists() or (folder.is_dir() and (not any(folder.iterdir()) or (folder / marker).exists()))


def replace_folder(out: Path, write: Callable[[Path], T], error: type[Exception], attempts: int = 20) -> T:
    """Fill a staging folder beside ``out`` with ``write(staging)``, then swap it in whole with
    renames; the old folder is removed afterwards. Another process may swap its own folder in at
    the same moment: then the last one wins, whole."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for stem in (f"{out.name}.staging", f"{out.name}.old"):
        sweep_abandoned(out.parent, stem)
    staging = Path(tempfile.mkdtemp(prefix=temporary_prefix(f"{out.name}.staging"), dir=out.parent))
    try:
        written = write(staging)
        old = Path(tempfile.mkdtemp(prefix=temporary_prefix(f"{out.name}.old"), dir=out.parent))
        try:
            for attempt in range(attempts):
                try:
                    os.rename(out, old / str(attempt))
                except FileNotFoundError:
                    pass
                try:
                    os.rename(staging, out)
                    return written
                except OSError:  # a racing writer put its folder there in between: move it aside too
                    continue
            raise error(f"could not replace {out}: another process keeps writing it")
        finally:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
