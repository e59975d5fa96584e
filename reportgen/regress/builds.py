"""The two sides of a check: a build (its site folder and the cache holding its raw arrays) and a
baseline (a folder written by ``promote``), and ``promote`` itself.

Both sides' manifests are read by ``_read_manifest``, which refuses a key that is not a cache key
and a file that is not inside its folder (``..``, an absolute path, a link that leads out), so a
crafted manifest can neither read nor, through ``promote``, write anywhere else.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from pathlib import Path, PureWindowsPath
from typing import Mapping

import numpy as np

from reportgen.core.artifacts import Artifact, Manifest
from reportgen.regress.types import MARKER, RegressionError
from reportgen.core.staging import replace_folder, replaceable
from reportgen.techniques.base import registry


class Build:
    """A build's site folder (pictures, manifest.json) and the cache holding its raw arrays."""

    def __init__(self, site_dir: Path, cache_dir: Path):
        self.root, self.cache_dir = Path(site_dir), Path(cache_dir)
        self.manifest = _read_manifest(self.root, f"no build in {self.root} (no manifest.json); run reportgen build first",
                                       self.cache_dir)

    def picture(self, artifact: Artifact, role: str) -> Path:
        """The file of one of ``artifact``'s pictures (its path was checked when the manifest was read)."""
        path = self.root / artifact.files[role].path
        if not path.is_file():
            raise RegressionError(f"{self.root / MANIFEST}: {artifact.describe()!r}: picture {role!r} is missing "
                                  f"({str(path)!r})")
        return path

    def raw(self, artifact: Artifact) -> dict[str, np.ndarray]:
        arrays = {}
        for role in artifact.raw_roles():
            path = self.cache_dir / artifact.cache_files[role]
            try:
                arrays[role] = np.load(path, allow_pickle=False)
            except FileNotFoundError:
                raise RegressionError(
                    f"raw array {str(path)!r} is missing: pass the --cache-dir the build used, or rebuild") from None
            except (OSError, ValueError) as error:
                raise RegressionError(f"cannot read raw array {str(path)!r}: {one_line(error)}") from None
        return arrays


class Baseline(Build):
    """A folder written by ``promote``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.manifest = _read_manifest(
            self.root, f"no baseline in {self.root}; create one with: reportgen check {self.root} --update")

    def raw(self, artifact: Artifact) -> dict[str, np.ndarray]:
        """The raw arrays kept for ``artifact`` (those over the baseline's --raw-limit are not)."""
        if not artifact.raw_roles():
            return {}
        relative = f"raw/{artifact.key}.npz"
        path, problem = self.root / relative, _outside(self.root, relative)
        if problem:
            raise RegressionError(f"{path} {problem}")
        if not path.is_file():
            raise RegressionError(f"the baseline lacks {path}; recreate it with: reportgen check {self.root} --update")
        try:
            with np.load(path, allow_pickle=False) as stored:
                return {role: _unpack(stored[role], stored[f"{role}__peak"]) for role in artifact.raw_roles()
                        if role in stored.files}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            raise RegressionError(f"cannot read {path}: {one_line(error)}") from None


MANIFEST = "manifest.json"
CACHE_KEY = re.compile(r"[0-9a-f]{64}")


def _read_manifest(root: Path, missing: str, cache_dir: Path | None = None) -> Manifest:
    """The manifest in ``root``, its entries checked (``_check_entries``); errors in one line."""
    path = root / MANIFEST
    registry()  # its techniques declare the types of the manifest's meta
    try:
        manifest = Manifest.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        raise RegressionError(missing) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise RegressionError(f"cannot read {path}: {one_line(error)}") from None
    _check_entries(manifest, path, root, cache_dir)
    return manifest


def _check_entries(manifest: Manifest, path: Path, root: Path, cache_dir: Path | None) -> None:
    """Every artifact's key is a cache key, each is there once, and every file it names lies inside
    its folder: pictures inside ``root``, cached files inside ``cache_dir`` (a baseline has none:
    its cached paths are only checked to be relative and without ``..``)."""
    seen = set()
    for number, artifact in enumerate(manifest.artifacts):
        entry = f"{path}: artifacts[{number}] ({artifact.describe()!r})"
        if not isinstance(artifact.key, str) or not CACHE_KEY.fullmatch(artifact.key):
            raise RegressionError(f"{entry}: key {artifact.key!r} is not 64 lowercase hexadecimal digits")
        named: list[tuple[str, str, str, Path | None]] = [("files", role, file.path, root)
                                                          for role, file in artifact.files.items()]
        named += [("cache_files", role, relative, cache_dir) for role, relative in artifact.cache_files.items()]
        for kind, role, relative, folder in named:
            problem = _outside(folder, relative)
            if problem:
                raise RegressionError(f"{entry}: {kind}[{role!r}] {relative!r} {problem}")
        if artifact.identity() in seen:
            raise RegressionError(f"{entry}: the same artifact is listed twice")
        seen.add(artifact.identity())


def _outside(folder: Path | None, relative: object) -> str | None:
    """Why ``relative`` is not a file inside ``folder`` (None when it is). Without a folder, only
    its form is checked: relative, no ``..``, under either platform's separators."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        return "is not a relative path"
    form = PureWindowsPath(relative)  # reads both / and \\ as separators, and drive letters
    if form.anchor or ".." in form.parts:
        return "is not a relative path without '..'"
    if folder is None:
        return None
    try:
        inside = (folder / relative).resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError) as error:  # a loop of links
        return f"cannot be resolved: {one_line(error)}"
    return None if inside else f"leads out of {folder} through a link"


def one_line(error: BaseException) -> str:
    """An error's text on one line: messages for a person, and a crafted file name may hold newlines."""
    return " ".join(str(error).split())


def _pack(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float arrays -> float16 of array / peak and the peak (a float32 0-d array); others unchanged."""
    if not np.issubdtype(array.dtype, np.floating):
        return array, np.ones((), np.float32)
    finite = np.abs(array[np.isfinite(array)])
    peak = np.asarray(finite.max() if finite.size and finite.max() > 0 else 1, np.float32)
    return (array / peak).astype(np.float16), peak


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """A compressed .npz without timestamps, so an unchanged baseline is rewritten byte for byte."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.save(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, member.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buffer.getvalue()


def _unpack(stored: np.ndarray, peak: np.ndarray) -> np.ndarray:
    return stored.astype(np.float32) * peak if stored.dtype == np.float16 else stored


def stored_precision(array: np.ndarray) -> np.ndarray:
    """What ``array`` reads back as after a trip through the baseline."""
    return _unpack(*_pack(array))



def promote(baseline_dir: Path, site_dir: Path, cache_dir: Path, raw_limit_kb: float | None = None) -> int:
    """Make the build in ``site_dir`` (raw arrays from ``cache_dir``) the baseline; returns its artifact count.

    Raw arrays over ``raw_limit_kb`` (as float16) are left out; their pictures are still kept.
    """
    baseline_dir = Path(baseline_dir)
    build = Build(site_dir, cache_dir)
    if not replaceable(baseline_dir, MARKER):
        raise RegressionError(f"{baseline_dir} exists and is not a reportgen baseline (no {MARKER} inside); "
                              "choose another folder or empty it first")

    def fill(staging: Path) -> None:
        shutil.copyfile(build.root / MANIFEST, staging / MANIFEST)
        for artifact in build.manifest.artifacts:
            for role in artifact.files:
                target = staging / artifact.files[role].path
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(build.picture(artifact, role), target)
            arrays = build.raw(artifact)
            if arrays:
                packed: dict[str, np.ndarray] = {}
                for role, array in arrays.items():
                    stored, peak = _pack(array)
                    if raw_limit_kb is None or stored.nbytes <= raw_limit_kb * 1024:
                        packed[role], packed[f"{role}__peak"] = stored, peak
                (staging / "raw").mkdir(exist_ok=True)
                (staging / "raw" / f"{artifact.key}.npz").write_bytes(_npz_bytes(packed))
        (staging / MARKER).write_text("a reportgen baseline; `reportgen check DIR --update` replaces it whole\n")

    try:
        replace_folder(baseline_dir, fill, RegressionError)
    except OSError as error:
        raise RegressionError(f"cannot write the baseline {baseline_dir}: {one_line(error)}") from None
    return len(build.manifest.artifacts)
