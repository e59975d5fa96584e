"""Content-addressed artifact store with atomic writes; the only module that knows the cache
folder's layout:

    objects/<k[:2]>/<key>/   an entry: the rendered files, the raw arrays and ``entry.json``
    json/<name>.json         model cards (``card_file``)
    logs/<stem>-*.log        a build's logs: its failed techniques' tracebacks, Ray's output (``new_log``)
    .ray-shared-check-*      a Ray build's shared-cache check, while it runs (``leave_shared_check``)
    .reportgen-cache         the marker: reportgen made this folder

An entry It is written in a temporary folder beside it and renamed into place in one step,
so an entry either exists whole or not at all: a killed build leaves nothing half-written, and two
builds racing on the same key both end with one complete entry.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from reportgen.artifacts import Result
from reportgen.code_identity import code_identity
from reportgen.staging import atomic_write_bytes, sweep_abandoned, temporary_prefix

ENTRY_FILE = "entry.json"
MARKER = ".reportgen-cache"  # written when reportgen creates a cache; ``clear`` needs it
OBJECTS, CARDS, LOGS = "objects", "json", "logs"  # the cards' folder is named from when it held any JSON
OWN = (OBJECTS, CARDS, LOGS, MARKER)  # everything reportgen puts in a cache folder, besides:
SHARED_CHECK = "ray-shared-check"  # the stem of a Ray build's shared-cache check file, a temporary


class CacheError(Exception):
    """The cache folder cannot be used or removed as asked; the message is for a person."""


def cache_key(
    technique: str,
    version: int,
    spec: Mapping[str, Any],
    model_identity: Mapping[str, Any] | None,
    image_hash: str | None,
) -> str:
    """sha256 over sorted JSON of everything an artifact depends on: the technique's request, the
    model's full identity (``ModelCard.identity``), the input's pixels and the code that computes it
    (``code_identity``). ``version`` documents a technique's changes; correctness does not rest on it."""
    payload = {
        "code": code_identity(),
        "technique": technique,
        "version": version,
        "spec": spec,
        "model": model_identity,
        "image": image_hash,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    key: str
    folder: Path
    files: dict[str, str]  # role -> file name inside ``folder``
    meta: dict[str, Any]

    def path(self, role: str) -> Path:
        return self.folder / self.files[role]

    def array(self, role: str) -> np.ndarray:
        return np.load(self.path(role), allow_pickle=False)


class Cache:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _folder(self, key: str) -> Path:
        return self.root / OBJECTS / key[:2] / key

    def relative_files(self, entry: Entry) -> dict[str, str]:
        """Role -> the entry's file as a path relative to the cache folder (the manifest's ``cache_files``)."""
        folder = entry.folder.relative_to(self.root).as_posix()
        return {role: f"{folder}/{name}" for role, name in entry.files.items()}

    def card_file(self, name: str) -> Path:
        """Where the model card cached as ``name`` is kept."""
        return self.root / CARDS / f"{name}.json"

    def new_log(self, stem: str = "build") -> Path:
        """A new log file for this build, named by ``stem`` (its folder made, the file not yet)."""
        folder = self.root / LOGS
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"

    def leave_shared_check(self) -> tuple[str, str]:
        """A file only this build knows, as (name, content), for Ray workers to read back: a cache
        folder the nodes do not share is found before any work, not as missing entries afterwards."""
        self.root.mkdir(parents=True, exist_ok=True)
        name, token = temporary_prefix(SHARED_CHECK) + secrets.token_hex(4), secrets.token_hex(16)
        (self.root / name).write_text(token)
        return name, token

    def sees_shared_check(self, name: str, token: str) -> bool:
        try:
            return (self.root / name).read_text() == token
        except OSError:
            return False

    def remove_shared_check(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    def get(self, key: str) -> Entry | None:
        folder = self._folder(key)
        try:
            record = json.loads((folder / ENTRY_FILE).read_text())
        except (OSError, ValueError):
            return None
        if not all((folder / name).is_file() for name in record["files"].values()):
            return None
        return Entry(key, folder, record["files"], record["meta"])

    def put(self, key: str, result: Result) -> Entry:
        """Store a result under ``key``; the entry appears whole or not at all."""
        final = self._folder(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=temporary_prefix("tmp"), dir=final.parent))
        try:
            files = _write_result(staging, result)
            record = {"key": key, "files": files, "meta": result.meta.to_json() if result.meta else {}}
            (staging / ENTRY_FILE).write_text(json.dumps(record, sort_keys=True, indent=1))
            _fsync_folder(staging)
            try:
                os.rename(staging, final)
            except OSError:
                if self.get(key) is None:  # a broken leftover, not a racing twin: replace it
                    shutil.rmtree(final, ignore_errors=True)
                    os.rename(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        entry = self.get(key)
        assert entry is not None
        return entry

    def sweep(self) -> int:
        """Remove staging folders and Ray shared-cache checks left by writers that died (``staging.sweep_abandoned``)."""
        objects = self.root / OBJECTS
        folders = [f for f in objects.iterdir() if f.is_dir()] if objects.is_dir() else []
        swept = sum(sweep_abandoned(folder, "tmp") for folder in folders if folder.is_dir())
        return swept + (sweep_abandoned(self.root, SHARED_CHECK) if self.root.is_dir() else 0)

    def claim(self) -> None:
        """Make ``root`` a reportgen cache, refusing a folder that holds anything reportgen did not
        write (``clear`` would otherwise be trusted with a user's files). A folder holding only
        reportgen's own sub-folders (a cache made before the marker existed) is adopted."""
        if (self.root / MARKER).is_file():
            return
        if self.root.exists():
            foreign = sorted(p.name for p in self.root.iterdir() if p.name not in OWN) if self.root.is_dir() else [""]
            if foreign:
                raise CacheError(f"{self.root} is not a reportgen cache (no {MARKER} inside, and it holds "
                                 f"{foreign[0] or 'a file'}"
                                 f"{' and more' if len(foreign) > 1 else ''}); choose another --cache-dir")
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.root / MARKER, b"a reportgen artifact cache; `reportgen clean` removes it\n")

    def clear(self) -> bool:
        """Remove what reportgen wrote under ``root`` (and ``root`` once empty); nothing else.
        Returns False when there was no cache. Refuses a folder without the marker."""
        if not self.root.exists():
            return False
        if not (self.root / MARKER).is_file():
            raise CacheError(f"{self.root} is not a reportgen cache (no {MARKER} inside); nothing was removed")
        for check in self.root.glob(f".{SHARED_CHECK}-*"):
            check.unlink(missing_ok=True)
        for name in OWN:  # the marker last: an interrupted clear can be run again
            path = self.root / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        try:
            self.root.rmdir()
        except OSError:  # a file someone put there since: theirs to keep
            pass
        return True


def _write_result(folder: Path, result: Result) -> dict[str, str]:
    from reportgen import render  # keeps cache import light for the site renderer

    roles = [*result.arrays, *result.images, *result.animations]
    if len(set(roles)) != len(roles):
        raise ValueError(f"a result names a role twice: {roles}")
    files: dict[str, str] = {}
    for role, array in result.arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
        files[role] = _write(folder, f"{role}.npy", buffer.getvalue())
    for role, picture in result.images.items():
        files[role] = _write(folder, f"{role}.png", render.png_bytes(picture))
    for role, frames in result.animations.items():
        files[role] = _write(folder, f"{role}.gif", render.gif_bytes(frames))
    return files


def _write(folder: Path, name: str, data: bytes) -> str:
    (folder / name).write_bytes(data)
    return name


def _fsync_folder(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as stream:
            os.fsync(stream.fileno())
