"""The two sides of a check: a build (its site folder and the cache holding its raw arrays) and a
baseline (a folder written by ``promote``), and ``promote`` itself."""
from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np

from reportgen.artifacts import Artifact, Manifest
from reportgen.regress.types import MARKER, RegressionError
from reportgen.staging import replace_folder, replaceable


class Build:
    """A build's site folder (pictures, manifest.json) and the cache holding its raw arrays."""

    def __init__(self, site_dir: Path, cache_dir: Path):
        self.root, self.cache_dir = Path(site_dir), Path(cache_dir)
        self.manifest = _read_manifest(self.root, f"no build in {self.root} (no manifest.json); run reportgen build first")

    def picture(self, artifact: Artifact, role: str) -> Path:
        return self.root / artifact.files[role].path

    def raw(self, artifact: Artifact) -> dict[str, np.ndarray]:
        arrays = {}
        for role in artifact.raw_roles():
            path = self.cache_dir / artifact.cache_files[role]
            try:
                arrays[role] = np.load(path, allow_pickle=False)
            except OSError:
                raise RegressionError(
                    f"raw array {path} is missing: pass the --cache-dir the build used, or rebuild") from None
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
        path = self.root / "raw" / f"{artifact.key}.npz"
        if not path.is_file():
            raise RegressionError(f"the baseline lacks {path}; recreate it with: reportgen check {self.root} --update")
        with np.load(path, allow_pickle=False) as stored:
            return {role: _unpack(stored[role], stored[f"{role}__peak"]) for role in artifact.raw_roles()
                    if role in stored.files}


def _read_manifest(root: Path, missing: str) -> Manifest:
    try:
        return Manifest.from_json(json.loads((root / "manifest.json").read_text()))
    except FileNotFoundError:
        raise RegressionError(missing) from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RegressionError(f"cannot read {root / 'manifest.json'}: {error}") from None


def _pack(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float arrays -> float16 of array / peak and the peak (float32); others unchanged."""
    if not np.issubdtype(array.dtype, np.floating):
        return array, np.float32(1)
    finite = np.abs(array[np.isfinite(array)])
    peak = np.float32(finite.max() if finite.size and finite.max() > 0 else 1)
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
        shutil.copyfile(build.root / "manifest.json", staging / "manifest.json")
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

    replace_folder(baseline_dir, fill, RegressionError)
    return len(build.manifest.artifacts)
