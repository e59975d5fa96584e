"""Match a build's artifacts with a baseline's and measure how far each moved: bytes first, then
pictures and raw arrays within tolerances, and optimisations by what they reached (``outcome``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence

from reportgen.core.artifacts import Artifact
from reportgen.regress.builds import Baseline, Build, one_line, stored_precision
from reportgen.regress.outcome import compare_outcome, compare_sets
from reportgen.regress.types import Comparison, Outcome, RegressionError, RoleDifference, Tolerance
from reportgen.techniques.base import registry
from reportgen.techniques.embedding_map import NEIGHBOURHOODS_FROM, neighbours_kept

PICTURE_FORMATS = ("PNG", "GIF", "WEBP")


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
        if _same_bytes(before, after):
            continue
        identical = False
        # A GIF's per-frame palettes move in steps; a WebP has none, its frames move as pictures do.
        levels = tolerance.animation if ".gif" in (before.suffix, after.suffix) else tolerance.pixel
        differences.append(_compare_pictures(role, _frames(before), _frames(after), levels, tolerance.pixels))
    technique = registry()[new.technique]
    old_raw, new_raw = baseline.raw(old), build.raw(new)
    unkept = [role for role in old.raw_roles() if role not in old_raw]
    for role in sorted(set(old.raw_roles()) | set(new_raw)):  # a role the baseline left out can still be gone
        if role not in old.raw_roles() or role not in new_raw:
            differences.append(RoleDifference(role, "raw", False, 0, note="is new" if role in new_raw else "is gone"))
            identical = False
            continue
        if role in unkept:
            continue
        kept = stored_precision(new_raw[role])
        if old_raw[role].shape == kept.shape and np.array_equal(old_raw[role], kept, equal_nan=True):
            continue
        identical = False
        if role in technique.neighbourhoods and len(kept) == len(old_raw[role]) < NEIGHBOURHOODS_FROM:
            continue  # a handful of points: judged by the features they are placed from
        compared = _compare_neighbourhoods if role in technique.neighbourhoods else _compare_raw
        differences.append(compared(role, old_raw[role], kept, tolerance))
    comparison = Comparison(old, new, identical, differences, unkept)
    if comparison.moved and technique.neighbourhoods:
        # Its pictures are drawn from the points: where the neighbourhoods hold, so does the map.
        comparison.outcome = [d for d in differences if d.kind != "picture"]
    if comparison.moved and technique.optimises:
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


def _same_bytes(first: Path, second: Path) -> bool:
    try:
        return first.read_bytes() == second.read_bytes()
    except OSError as error:
        raise RegressionError(f"cannot read picture {str(error.filename)!r}: {error.strerror}") from None


def _frames(path: Path) -> list[np.ndarray]:
    """Every frame of a published picture (the site writes PNG, GIF and WebP only, and nothing else is decoded)."""
    try:
        with Image.open(path, formats=PICTURE_FORMATS) as picture:
            return [np.asarray(frame.convert("RGBA")) for frame in ImageSequence.Iterator(picture)]
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise RegressionError(f"cannot read picture {str(path)!r}: {one_line(error)}") from None


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
    # An animation is as good as its worst frame: one broken frame in forty must not average away.
    changed_by_frame = [float(np.mean(frame > levels)) for frame in moved]
    worst = max(range(len(moved)), key=lambda index: (changed_by_frame[index], moved[index].sum()))
    return RoleDifference(role, "picture", changed_by_frame[worst] <= fraction, float(max(f.max() for f in moved)),
                          changed_by_frame[worst], frames=(before[worst], after[worst]))


def _compare_neighbourhoods(role: str, before: np.ndarray, after: np.ndarray, tolerance: Tolerance) -> RoleDifference:
    """An embedding's points (N x 2) by who is near whom, not where: its layout may turn and drift."""
    if before.shape != after.shape:
        return RoleDifference(role, "neighbours", False, 0, note=f"has shape {list(after.shape)}, was {list(before.shape)}")
    if not np.isfinite(after).all():
        return RoleDifference(role, "neighbours", False, 0, note="has NaN or infinity")
    kept = neighbours_kept(before, after)
    return RoleDifference(role, "neighbours", kept >= tolerance.neighbours, kept)


def _compare_raw(role: str, before: np.ndarray, after: np.ndarray, tolerance: Tolerance) -> RoleDifference:
    if before.shape != after.shape:
        return RoleDifference(role, "raw", False, 0, note=f"has shape {list(after.shape)}, was {list(before.shape)}")
    before, after = before.astype(np.float64), after.astype(np.float64)
    finite = np.isfinite(before)
    if (~np.isfinite(after) & finite).any():
        return RoleDifference(role, "raw", False, float("inf"), note="has NaN or infinity where the baseline does not")
    if not np.array_equal(before[~finite], after[~finite], equal_nan=True):
        return RoleDifference(role, "raw", False, float("inf"), note="lost or changed the baseline's NaN or infinity")
    peak = np.abs(before[finite]).max() if finite.any() else 0.0
    largest = float(np.abs(before - after)[finite].max() / (peak or 1.0)) if finite.any() else 0.0
    return RoleDifference(role, "raw", largest <= tolerance.raw, largest)
