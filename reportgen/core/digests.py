"""Content digests of files: what a model's weights, a factory's sources and an examples folder are
known by, whatever their names; and the check of a weights file against the hash in its name."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

CHUNK = 1 << 20
# torch.hub's naming rule, which torchvision's and the embedded models' files follow: the hex digits
# after the last "-" of the file's stem start the file's sha256.
HASH_IN_NAME = re.compile(r"-([a-f0-9]*)\.")
# The files whose hash matched in this process, as (path, inode, size, modification and change
# times): a file replaced or rewritten since is hashed again.
_MATCHED: set[tuple[str, int, int, int, int]] = set()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def named_hash(path: Path) -> str | None:
    """The sha256 prefix in a file's name, or None where its name has none."""
    match = HASH_IN_NAME.search(Path(path).name)
    return match.group(1) if match else None


def matches_its_name(path: Path) -> bool:
    """Whether the file's sha256 starts with the prefix in its name (True for a name without one);
    each version of a file is hashed once per process."""
    prefix, version = named_hash(path), _file_version(path)
    if not prefix or version in _MATCHED:
        return True
    if not file_sha256(path).startswith(prefix):
        return False
    _MATCHED.add(version)
    return True


def known_to_match(path: Path) -> None:
    """Record a file whose hash was checked elsewhere (torch.hub's download checks it)."""
    _MATCHED.add(_file_version(path))


def _file_version(path: Path) -> tuple[str, int, int, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns
