"""Compare a build's artifacts with a baseline build: exact match first, then per-pixel tolerances.

Artifacts are matched through the two manifests by what they are (technique, variant, model, image
and spec), not by cache key, so a changed technique version or model still lines up with its old
self and is compared picture by picture; a changed parameter shows up as one artifact vanished
and one appeared. Never imports torch.

A baseline is a folder written by ``promote`` (``reportgen check BASELINE --update``):

    manifest.json         the site's manifest of the build it was made from
    a/...                 every picture that manifest names (the site's copies)
    raw/<key>.npz         the raw arrays, stored as float16 of array / peak plus the peak, so any
                          scale keeps 1/2048 of its peak (8x finer than one level of a picture);
                          ``--raw-limit`` leaves out big ones, whose artifacts are then checked
                          through their pictures only (a small baseline that can live in a repository)
    .reportgen-baseline   marker: only such folders are ever replaced

The report, ``regressions.html`` with its pictures under ``regressions/``, is written into the
build's site folder (``--out``) beside the gallery by ``regress_report``.
"""
from __future__ import annotations

import io
import json
import shutil
import zipfile
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
from PIL import Image, ImageSequence

from reportgen.artifacts import Artifact, Manifest
from reportgen.choices import OPTIMISATIONS
from reportgen.regress_outcome import SetCheck, compare_outcome, compare_sets
from reportgen.staging import replace_folder, replaceable

MARKER = ".reportgen-baseline"
REPORT = "regressions.html"
REPORT_PICTURES = "regressions"


class RegressionError(Exception):
    """The check cannot run; the message is for a person."""


@dataclass(frozen=True)
class Tolerance:
    """How far an artifact may move and still pass (cross-machine floating-point noise)."""

    pixel: int = 8  # a channel differing by at most this many levels (of 255) counts as unchanged
    animation: int = 32  # the same for GIF frames: a 256-colour palette chosen per frame jumps by steps
    pixels: float = 0.005  # fraction of a picture's pixels allowed beyond ``pixel`` / ``animation``
    raw: float = 0.05  # largest |new - baseline| of a raw array, relative to the baseline's peak |value|
    # Optimisations (choices.OPTIMISATIONS) that moved beyond those are judged by their outcome:
    similarity: float = 0.8  # structural similarity of the low-passed grayscale pictures, at least
    features: float = 0.35  # cosine similarity of the model's features of the final picture, at least
    outcome: float = 0.2  # objective reached (relative to its peak), class probability reached, at most
    # Chaotic optimisations (choices.CHAOTIC) are judged as sets (regress_outcome.py): their mean
    # objective (relative to its mean magnitude), mean class probability, share of runs seen as their
    # class and their pictures' mean contrast and colourfulness (relative) may move by at most this.
    chaotic: float = 0.2

    @classmethod
    def parse(cls, texts: Iterable[str]) -> "Tolerance":
        """``["pixel=2", "raw=1e-3"]`` -> Tolerance; unknown names list the valid ones."""
        names = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for text in texts:
            name, equals, value = (part.strip() for part in text.partition("="))
            if not equals or name not in names:
                raise RegressionError(f"--tolerance {text!r}: expected NAME=VALUE with NAME one of {', '.join(names)}")
            try:
                values[name] = int(value) if names[name] in (int, "int") else float(value)
            except ValueError:
                raise RegressionError(f"--tolerance {text!r}: {value!r} is not a number") from None
            if values[name] < 0:
                raise RegressionError(f"--tolerance {text!r}: must not be negative")
        return replace(cls(), **values)


# What an outcome's difference is relative to, by role.
RELATIVE_TO = {"objective": " of the baseline's peak", "mean objective": " of the baseline's mean magnitude",
               "mean contrast": " of the baseline's", "mean colourfulness": " of the baseline's"}


@dataclass
class RoleDifference:
    """How one file (picture, animation or raw array) of an artifact moved."""

    role: str
    kind: str  # "picture", "raw", or for an optimisation's outcome "similarity", "features", "reached"
    within: bool
    largest: float  # picture: levels; raw, reached: relative to the baseline's peak; similarity: SSIM; features: cosine
    changed: float = 0.0  # picture: fraction of pixels beyond the pixel tolerance
    note: str = ""  # why it cannot be compared value by value (shape, frames, missing)
    frames: tuple[np.ndarray, np.ndarray] | None = None  # baseline and new frame where they differ most

    def describe(self) -> str:
        if self.note:
            return f"{self.role} {self.note}"
        if self.kind == "similarity":
            return f"{self.role}: structural similarity {self.largest:.3f} to the baseline (low-passed)"
        if self.kind == "features":
            return f"the model's features of the final picture: cosine similarity {self.largest:.3f} to the baseline's"
        if self.kind == "reached":
            scale = RELATIVE_TO.get(self.role, "")  # probabilities and shares: absolute
            return f"{self.role} reached {self.changed:.4g}, off by {self.largest:.3g}{scale}"
        if self.kind == "raw":
            return f"{self.role} off by {self.largest:.3g} of its peak"
        return (f"{self.role}: {100 * self.changed:.2f}% of pixels off by more than the tolerance, "
                f"at most {self.largest:.0f} levels")


@dataclass
class Comparison:
    baseline: Artifact
    current: Artifact
    identical: bool
    differences: list[RoleDifference] = field(default_factory=list)
    unkept: list[str] = field(default_factory=list)  # raw roles the baseline left out (--raw-limit)
    outcome: list[RoleDifference] = field(default_factory=list)  # an optimisation judged by what it reached

    @property
    def moved(self) -> bool:
        if self.outcome:
            return not all(d.within for d in self.outcome)
        return not all(d.within for d in self.differences)


@dataclass
class Outcome:
    tolerance: Tolerance
    compared: list[Comparison]
    appeared: list[Artifact]
    vanished: list[Artifact]
    sets: list[SetCheck] = field(default_factory=list)  # chaotic optimisations, judged by their means

    @property
    def moved(self) -> list[Comparison]:
        return [c for c in self.compared if c.moved]

    @property
    def passed(self) -> bool:
        return not (self.moved or self.appeared or self.vanished or any(s.moved for s in self.sets))

    @property
    def unkept(self) -> int:
        return sum(len(c.unkept) for c in self.compared)

    def counts(self) -> str:
        identical = sum(c.identical for c in self.compared)
        within = len(self.compared) - identical - len(self.moved)
        sets = f", {sum(not s.moved for s in self.sets)} of {len(self.sets)} chaotic sets within" if self.sets else ""
        return (f"{len(self.compared)} compared, {identical} identical, {within} within tolerance, "
                f"{len(self.moved)} moved, {len(self.appeared)} appeared, {len(self.vanished)} vanished{sets}")

    def summary(self) -> str:
        return f"check {'passed' if self.passed else 'FAILED'}: {self.counts()}"

    def lines(self) -> list[str]:
        """One line per artifact that fails the check."""
        found = [f"moved: {c.current.describe()}: " + "; ".join(d.describe() for d in c.outcome or c.differences
                                                                 if not d.within)
                 for c in self.moved]
        found += [f"appeared: {a.describe()}" for a in self.appeared]
        found += [f"vanished: {a.describe()}" for a in self.vanished]
        found += [f"moved as a set: {s.describe()}: " + "; ".join(d.describe() for d in s.differences if not d.within)
                  for s in self.sets if s.moved]
        return found


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


def _stored_precision(array: np.ndarray) -> np.ndarray:
    """What ``array`` reads back as after a trip through the baseline."""
    return _unpack(*_pack(array))


def compare(baseline: Baseline, build: Build, tolerance: Tolerance) -> Outcome:
    """Match every artifact of ``build`` with ``baseline`` and measure how far each moved."""
    old = {a.identity(): a for a in baseline.manifest.artifacts}
    new = {a.identity(): a for a in build.manifest.artifacts}
    compared = [_compare_artifact(baseline, build, old[k], new[k], tolerance) for k in new if k in old]
    sets = compare_sets(compared, lambda c: (baseline.raw(c.baseline), build.raw(c.current)),
                        lambda c: _finals(baseline, build, c), tolerance)
    return Outcome(tolerance, compared,
                   appeared=[a for k, a in new.items() if k not in old],
                   vanished=[a for k, a in old.items() if k not in new], sets=sets)


def _compare_artifact(baseline: Baseline, build: Build, old: Artifact, new: Artifact, tolerance: Tolerance) -> Comparison:
    differences = []
    identical = True
    for role in sorted(set(old.files) | set(new.files)):
        if role not in old.files or role not in new.files:
            differences.append(RoleDifference(role, "picture", False, 0, note="is new" if role in new.files else "is gone"))
            identical = False
            continue
        before, after = baseline.picture(old, role), build.picture(new, role)
        if before.read_bytes() == after.read_bytes():
            continue
        identical = False
        levels = tolerance.animation if after.suffix == ".gif" else tolerance.pixel
        differences.append(_compare_pictures(role, _frames(before), _frames(after), levels, tolerance.pixels))
    old_raw, new_raw = baseline.raw(old), build.raw(new)
    unkept = [role for role in old.raw_roles() if role not in old_raw]
    for role in unkept:
        new_raw.pop(role, None)
    for role in sorted(set(old_raw) | set(new_raw)):
        if role not in old_raw or role not in new_raw:
            differences.append(RoleDifference(role, "raw", False, 0, note="is new" if role in new_raw else "is gone"))
            identical = False
            continue
        after = _stored_precision(new_raw[role])
        if old_raw[role].shape == after.shape and np.array_equal(old_raw[role], after, equal_nan=True):
            continue
        identical = False
        differences.append(_compare_raw(role, old_raw[role], after, tolerance))
    comparison = Comparison(old, new, identical, differences, unkept)
    if comparison.moved and new.technique in OPTIMISATIONS:
        comparison.outcome = compare_outcome(old, new, lambda a, role: _frames(baseline.picture(a, role))[-1],
                                             lambda a, role: _frames(build.picture(a, role))[-1], old_raw, new_raw,
                                             tolerance)
    return comparison


def _finals(baseline: Baseline, build: Build, comparison: Comparison) -> tuple[np.ndarray, np.ndarray] | None:
    """The baseline's and the build's final picture of an optimisation (None if either has none)."""
    if "final" not in comparison.baseline.files or "final" not in comparison.current.files:
        return None
    return (_frames(baseline.picture(comparison.baseline, "final"))[-1],
            _frames(build.picture(comparison.current, "final"))[-1])


def _frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as picture:
        return [np.asarray(frame.convert("RGBA")) for frame in ImageSequence.Iterator(picture)]


def _compare_pictures(role: str, before: list[np.ndarray], after: list[np.ndarray], levels: int,
                      fraction: float) -> RoleDifference:
    if len(before) != len(after):
        return RoleDifference(role, "picture", False, 0, note=f"has {len(after)} frames, was {len(before)}",
                              frames=(before[-1], after[-1]))
    if before[0].shape != after[0].shape:
        shape = lambda frame: f"{frame.shape[1]}x{frame.shape[0]}"
        return RoleDifference(role, "picture", False, 0, note=f"is {shape(after[0])} px, was {shape(before[0])}",
                              frames=(before[0], after[0]))
    moved = [np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=-1) for a, b in zip(before, after)]
    worst = int(np.argmax([frame.sum() for frame in moved]))
    changed = float(np.mean([np.mean(frame > levels) for frame in moved]))
    return RoleDifference(role, "picture", changed <= fraction, float(max(f.max() for f in moved)),
                          changed, frames=(before[worst], after[worst]))


def _compare_raw(role: str, before: np.ndarray, after: np.ndarray, tolerance: Tolerance) -> RoleDifference:
    if before.shape != after.shape:
        return RoleDifference(role, "raw", False, 0, note=f"has shape {list(after.shape)}, was {list(before.shape)}")
    before, after = before.astype(np.float64), after.astype(np.float64)
    finite = np.isfinite(before)
    if not np.array_equal(finite, np.isfinite(after)) or not np.array_equal(before[~finite], after[~finite], equal_nan=True):
        return RoleDifference(role, "raw", False, float("inf"), note="has NaN or infinity where the baseline does not")
    peak = np.abs(before[finite]).max() if finite.any() else 0.0
    largest = float(np.abs(before - after)[finite].max() / (peak or 1.0)) if finite.any() else 0.0
    return RoleDifference(role, "raw", largest <= tolerance.raw, largest)


def check(baseline_dir: Path, site_dir: Path, cache_dir: Path, tolerance: Tolerance) -> tuple[Outcome, Path]:
    """Compare the build in ``site_dir`` with the baseline and write the report; returns both."""
    from reportgen.regress_report import write_report

    baseline, build = Baseline(baseline_dir), Build(site_dir, cache_dir)
    outcome = compare(baseline, build, tolerance)
    return outcome, write_report(outcome, build, baseline_dir)


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
