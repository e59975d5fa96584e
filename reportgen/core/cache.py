"""Content-addressed artifact store with atomic writes; the only module that knows the cache
folder's layout:

    objects/<k[:2]>/<key>/   an entry: the rendered files, the raw arrays and ``entry.json``
    json/<name>.json         model cards (``card_file``)
    logs/<stem>-*.log        a build's logs: its failed techniques' tracebacks, Ray's output (``new_log``)
    .ray-shared-check-*      a Ray build's shared-cache check, while it runs (``leave_shared_check``)
    .reportgen-cache         the marker: reportgen made this folder

A cache folder is made by reportgen (``claim``: a missing or empty folder, then marked) and
``clear`` and ``prune`` remove only files and folders named as reportgen names them above, never
anything else someone put there.

Every entry and card records its last use in the modification time of its ``entry.json`` (or its
card file): a hit touches it (one ``utime``, atomic, nothing rewritten), so ``prune`` can drop the
least recently used first while builds run. An entry is pruned by renaming it to a staging name
first, so a build never sees half of one.

An entry is written in a temporary folder beside it and renamed into place in one step,
so an entry either exists whole or not at all: a killed build leaves nothing half-written, and two
builds racing on the same key both end with one complete entry.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Mapping

import numpy as np

from reportgen.core.artifacts import Result
from reportgen.core.code_identity import code_identity
from reportgen.core.entry_files import fsync_folder, write_result
from reportgen.core.staging import sweep_abandoned, temporary_prefix

ENTRY_FILE = "entry.json"
MARKER = ".reportgen-cache"  # written when reportgen creates a cache; ``clear`` needs it
OBJECTS, CARDS, LOGS = "objects", "json", "logs"  # the cards' folder is named from when it held any JSON
SHARED_CHECK = "ray-shared-check"  # the stem of a Ray build's shared-cache check file, a temporary
# The names reportgen gives what it writes, the only names ``clear`` removes. A temporary is
# ``staging.temporary_prefix(stem)`` (its writer's 12-hex owner and pid) and a random tail.
_TEMPORARY = r"-[0-9a-f]{12}-[0-9]+-[a-z0-9_]+"
SHARD = re.compile(r"[0-9a-f]{2}")  # objects/<key[:2]>/
ENTRY = re.compile(r"[0-9a-f]{64}|\.tmp" + _TEMPORARY)  # objects/<key[:2]>/<key>/, or its staging folder
CARD = re.compile(r"card-[\w.-]+\.json|\.tmp" + _TEMPORARY, re.ASCII)  # json/: a card, or its temporary
LOG = re.compile(r"\w+-[0-9]{8}-[0-9]{6}-[0-9]+\.log", re.ASCII)  # logs/, as ``new_log`` names them
SHARED_CHECK_FILE = re.compile(re.escape(f".{SHARED_CHECK}") + _TEMPORARY)
UNSAFE_IN_NAME = re.compile(r"[^\w.-]", re.ASCII)  # replaced in a card's file name


class CacheError(Exception):
    """The cache folder cannot be used or removed as asked; the message is for a person."""


def cache_key(
    technique: str,
    version: int,
    spec: Mapping[str, Any],
    model_identity: Mapping[str, Any] | None,
    image_hash: str | None,
    reads: Mapping[str, Any] | None = None,
    code: str | None = None,
    animation: str | None = None,
) -> str:
    """sha256 over sorted JSON of everything an artifact depends on: the technique's request, the
    model's full identity (``ModelCard.identity``), the input's pixels, the keys of the artifacts it
    is computed from (``Request.reads``), the code that computes it (``code``: ``code_identity``, of
    reportgen's own modules unless the build passes the one that counts its plugins too) and, for
    an artifact that holds an animation, the format it is written in (``animation``: None for the
    others, whose keys then do not change with it).
    ``version`` documents a technique's changes; correctness does not rest on it."""
    payload = {
        "code": code or code_identity(),
        "technique": technique,
        "version": version,
        "spec": spec,
        "model": model_identity,
        "image": image_hash,
        "reads": reads or {},
        **({"animation": animation} if animation is not None else {}),
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
    """The store under ``root``; ``animation``: the format (``choices.ANIMATIONS``) ``put`` writes
    animations in, which the keys of artifacts holding one carry (``cache_key``)."""

    def __init__(self, root: Path, animation: str = "gif"):
        self.root = Path(root)
        self.animation = animation

    def _folder(self, key: str) -> Path:
        return self.root / OBJECTS / key[:2] / key

    def relative_files(self, entry: Entry) -> dict[str, str]:
        """Role -> the entry's file as a path relative to the cache folder (the manifest's ``cache_files``)."""
        folder = entry.folder.relative_to(self.root).as_posix()
        return {role: f"{folder}/{name}" for role, name in entry.files.items()}

    def card_file(self, name: str) -> Path:
        """Where the model card cached as ``name`` is kept: a file directly in json/, whatever the
        name holds (a timm name's ':' or '/', a declared name's '..'); callers make names unique."""
        return self.root / CARDS / f"{UNSAFE_IN_NAME.sub('_', name)}.json"

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

    def get(self, key: str, use: bool = True) -> Entry | None:
        """The entry of ``key``, None when it is not (wholly) there; ``use``: record this as its last
        use (a dry run only looks)."""
        folder = self._folder(key)
        try:
            record = json.loads((folder / ENTRY_FILE).read_text())
        except (OSError, ValueError):
            return None
        if not all((folder / name).is_file() for name in record["files"].values()):
            return None
        if use:
            _touch(folder / ENTRY_FILE)
        return Entry(key, folder, record["files"], record["meta"])

    def read_card(self, name: str) -> dict[str, Any] | None:
        """The card cached as ``name`` (its JSON), its use recorded; None when there is none."""
        path = self.card_file(name)
        try:
            card = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        _touch(path)
        return card

    def put(self, key: str, result: Result, about: Mapping[str, str] | None = None) -> Entry:
        """Store a result under ``key``; the entry appears whole or not at all. ``about``: what
        ``info`` reports of it (its model and technique)."""
        final = self._folder(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=temporary_prefix("tmp"), dir=final.parent))
        try:
            files = write_result(staging, result, self.animation)
            record = {"key": key, "files": files, "meta": result.meta.to_json() if result.meta else {},
                      "about": dict(about or {})}
            (staging / ENTRY_FILE).write_text(json.dumps(record, sort_keys=True, indent=1))
            fsync_folder(staging)
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
        """Make ``root`` a reportgen cache: a missing or empty folder is created and marked; any
        other folder must carry the marker already (``clear`` is trusted only with folders
        reportgen made, so a user's folder, even one holding a json/ or logs/, is refused)."""
        if (self.root / MARKER).is_file():
            return
        if self.root.is_dir():
            held = sorted(p.name for p in self.root.iterdir() if p.name != MARKER)  # a racing build's marker is fine
            if held:
                raise CacheError(f"{self.root} is not a reportgen cache (no {MARKER} inside, and it holds {held[0]}"
                                 f"{' and more' if len(held) > 1 else ''}); choose another --cache-dir, or an "
                                 "empty or missing folder")
        elif self.root.exists():
            raise CacheError(f"{self.root} is a file, not a folder; choose another --cache-dir")
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.root / MARKER, "x") as marker:
                marker.write("a reportgen artifact cache; `reportgen clean` removes what reportgen wrote here\n")
        except FileExistsError:  # a build racing this one marked it first
            pass

    def check_usable(self) -> None:
        """Raise ``CacheError`` where ``claim`` would refuse, without making or writing anything: a
        build checks its cache folder before any work, and makes it only once it keeps something."""
        if (self.root / MARKER).is_file() or not self.root.exists():
            return
        if not self.root.is_dir():
            raise CacheError(f"{self.root} is a file, not a folder; choose another --cache-dir")
        if any(p.name != MARKER for p in self.root.iterdir()):
            raise CacheError(f"{self.root} is not a reportgen cache (no {MARKER} inside); choose another "
                             "--cache-dir, or an empty or missing folder")

    def is_claimed(self) -> bool:
        """Whether reportgen made this folder (its marker is there)."""
        return (self.root / MARKER).is_file()

    def stored(self) -> list["Stored"]:
        """Every whole entry, with its size and last use, oldest use first (none without the marker)."""
        if not self.is_claimed():
            return []
        found = []
        for folder in self._entry_folders():
            try:
                record = json.loads((folder / ENTRY_FILE).read_text())
                last_use = (folder / ENTRY_FILE).stat().st_mtime
                size = sum(path.stat().st_size for path in folder.iterdir() if path.is_file())
            except (OSError, ValueError):  # half-written, or removed meanwhile: not an entry
                continue
            about = record.get("about") or {}
            found.append(Stored(folder.name, folder, size, last_use, about.get("model"), about.get("technique")))
        return sorted(found, key=lambda stored: stored.last_use)

    def cards(self) -> list[Path]:
        """The cached model cards."""
        return [path for path in _own(self.root / CARDS, folders=False) if CARD.fullmatch(path.name)
                and not path.name.startswith(".")]

    def prune(self, *, older_than_s: float | None = None, max_bytes: int | None = None,
              keep: Collection[str] | None = None, now: float | None = None) -> "Pruned":
        """Remove entries, least recently used first: those unused for ``older_than_s`` seconds (and
        cards and logs as old), then while the entries pass ``max_bytes``, and every entry whose key
        is not in ``keep``. Only what reportgen wrote; refuses a folder without the marker."""
        if not self.root.exists():
            return Pruned(0, 0)
        if not (self.root / MARKER).is_file():
            raise CacheError(f"{self.root} is not a reportgen cache (no {MARKER} inside); nothing was removed")
        now = time.time() if now is None else now
        entries = self.stored()
        doomed = {s.key for s in entries if older_than_s is not None and now - s.last_use > older_than_s}
        doomed |= {s.key for s in entries if keep is not None and s.key not in keep}
        if max_bytes is not None:
            total = sum(s.size for s in entries if s.key not in doomed)
            for stored in entries:  # oldest use first
                if total <= max_bytes:
                    break
                if stored.key not in doomed:
                    doomed.add(stored.key)
                    total -= stored.size
        removed = [s for s in entries if s.key in doomed and _remove_entry(s.folder)]
        if older_than_s is not None:
            for path in [*self.cards(), *(p for p in _own(self.root / LOGS, folders=False) if LOG.fullmatch(p.name))]:
                try:
                    if now - path.stat().st_mtime > older_than_s:
                        path.unlink()
                except OSError:  # removed by another prune meanwhile
                    pass
        for shard in {s.folder.parent for s in removed}:
            _remove_if_empty(shard)
        return Pruned(len(removed), sum(s.size for s in removed))

    def _entry_folders(self) -> list[Path]:
        return [entry for shard in _own(self.root / OBJECTS, folders=True) if SHARD.fullmatch(shard.name)
                for entry in _own(shard, folders=True)
                if entry.name.startswith(shard.name) and re.fullmatch(r"[0-9a-f]{64}", entry.name)]

    def clear(self) -> bool:
        """Remove what reportgen wrote under ``root`` (the names in the layout above), then the
        folders left empty, ``root`` too; any other file stays, with its folders. Returns False
        when there was no cache. Refuses a folder without the marker."""
        if not self.root.exists():
            return False
        if not (self.root / MARKER).is_file():
            raise CacheError(f"{self.root} is not a reportgen cache (no {MARKER} inside); nothing was removed")
        objects = self.root / OBJECTS
        shards = [shard for shard in _own(objects, folders=True) if SHARD.fullmatch(shard.name)]
        for shard in shards:
            for entry in _own(shard, folders=True):
                if ENTRY.fullmatch(entry.name) and entry.name.startswith((shard.name, ".tmp")):  # a key in its shard
                    shutil.rmtree(entry)
        for folder, written in ((self.root / CARDS, CARD), (self.root / LOGS, LOG), (self.root, SHARED_CHECK_FILE)):
            for path in _own(folder, folders=False):
                if written.fullmatch(path.name):
                    path.unlink()
        for folder in (*shards, objects, self.root / CARDS, self.root / LOGS):
            _remove_if_empty(folder)
        (self.root / MARKER).unlink()  # last: an interrupted clear can be run again
        _remove_if_empty(self.root)
        return True


@dataclass(frozen=True)
class Stored:
    """An entry as ``info`` and ``prune`` see it: its size in bytes, its last use (epoch seconds),
    and its model and technique (None for an entry written before they were recorded)."""

    key: str
    folder: Path
    size: int
    last_use: float
    model: str | None
    technique: str | None


@dataclass(frozen=True)
class Pruned:
    entries: int
    bytes: int


def _touch(path: Path) -> None:
    """Record a use: the file's modification time set to now (a concurrent prune may have taken it)."""
    try:
        os.utime(path)
    except OSError:
        pass


def _remove_entry(folder: Path) -> bool:
    """Take an entry out of its place in one rename, then delete it; False when another prune took it first."""
    doomed = folder.with_name(temporary_prefix("tmp") + secrets.token_hex(4))
    try:
        os.rename(folder, doomed)
    except OSError:
        return False
    shutil.rmtree(doomed, ignore_errors=True)
    return True


def _own(folder: Path, folders: bool) -> list[Path]:
    """``folder``'s sub-folders (or files), none reached through a link: ``clear`` removes only
    what it finds in place."""
    if folder.is_symlink() or not folder.is_dir():
        return []
    return [path for path in folder.iterdir() if not path.is_symlink() and (path.is_dir() if folders else path.is_file())]


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # not empty (a file someone put there: theirs to keep), or gone already
        pass
