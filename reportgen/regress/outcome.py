"""Regression checks for optimisations, by what they reached rather than pixel for pixel.

An optimisation's steps amplify rounding, so under other CPU kernels its pictures move. Most still
end at the same optimum, and are judged one by one (``compare_outcome``): the pictures' structure,
the model's features of the final picture, the objective and the class probability reached.

Some end at other optima (a technique's ``chaotic_styles``: measured, the robust class models): their single
pictures, objectives, probabilities and even their top-1 class differ between kernels as much as
two seeds make them differ. They are judged loosely one by one (the network describes the picture
much as before) and tightly as a set (``compare_sets``): each technique, model and style's mean
objective, mean probability, share of runs the model sees as their class, and its pictures' mean
contrast and colourfulness, which kernels hardly move. A change that breaks the method moves those.
Never imports torch.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable, Iterable, Mapping

import numpy as np

from reportgen.pictures import render
from reportgen.core.artifacts import Artifact
from reportgen.core.ascent_meta import ClassAscentMeta
from reportgen.regress.types import Comparison, RoleDifference, SetCheck, Tolerance
from reportgen.techniques.base import registry

Frames = Callable[[Artifact, str], np.ndarray]  # an artifact's picture (last frame) by role
Arrays = Mapping[str, np.ndarray]


def is_chaotic(artifact: Artifact) -> bool:
    return registry()[artifact.technique].chaotic(artifact.meta)


def compare_outcome(old: Artifact, new: Artifact, before: Frames, after: Frames, old_raw: Arrays, new_raw: Arrays,
                    tolerance: Tolerance) -> list[RoleDifference]:
    """What an optimisation reached, for a run whose steps amplified rounding past pixel tolerances:
    its pictures' structure (grayscale, low-passed; the last frame of an animation), the model's
    features of its final picture, the objective's final value (relative to the baseline's peak)
    and the class probability (absolute). A broken objective, another class or a washed-out picture
    fails these; the grain that rounding moves does not. Chaotic runs: the features only."""
    chaotic = is_chaotic(new)
    found = []
    if not chaotic:
        for role in sorted(set(old.files) & set(new.files)):
            first, second = before(old, role), after(new, role)
            value = render.structural_similarity(first, second) if first.shape == second.shape else 0.0
            found.append(RoleDifference(role, "similarity", value >= tolerance.similarity, value))
    if "features" in old_raw and "features" in new_raw:
        value = cosine(old_raw["features"], new_raw["features"])
        found.append(RoleDifference("features", "features", value >= tolerance.features, value))
    if chaotic:
        return found
    if "objective" in old_raw and "objective" in new_raw:  # what the optimisation maximised, per frame
        first, second = (np.asarray(raw["objective"], np.float64).reshape(-1) for raw in (old_raw, new_raw))
        if first.shape == second.shape and np.isfinite(first).all():
            moved = abs(second[-1] - first[-1]) / (float(np.abs(first).max()) or 1.0)
            found.append(RoleDifference("objective", "reached", moved <= tolerance.outcome, moved, float(second[-1])))
    if isinstance(old.meta, ClassAscentMeta) and isinstance(new.meta, ClassAscentMeta):
        moved = abs(new.meta.probability - old.meta.probability)
        found.append(RoleDifference("probability", "reached", moved <= tolerance.outcome, moved, new.meta.probability))
    return found


def cosine(first: np.ndarray, second: np.ndarray) -> float:
    """Cosine similarity of two feature vectors (0 when their shapes differ or one is all zero)."""
    a, b = (np.asarray(v, np.float64).reshape(-1) for v in (first, second))
    if a.shape != b.shape:
        return 0.0
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norms) if norms > 0 else 0.0


def compare_sets(comparisons: Iterable[Comparison], raw: Callable[[Comparison], tuple[Arrays, Arrays]],
                 finals: Callable[[Comparison], tuple[np.ndarray, np.ndarray] | None],
                 tolerance: Tolerance) -> list[SetCheck]:
    """Each chaotic set's mean final objective (relative to the baseline's mean magnitude), mean
    class probability and share of runs whose picture the model sees as their class (absolute),
    and its final pictures' mean contrast and colourfulness (relative), against the baseline's.
    ``raw(comparison)`` gives a comparison's arrays, ``finals(comparison)`` its final pictures."""
    sets: dict[tuple[str, str, str], list[Comparison]] = defaultdict(list)
    for comparison in comparisons:
        if is_chaotic(comparison.current) and is_chaotic(comparison.baseline):
            current = comparison.current
            style = getattr(current.meta, "style")  # a chaotic run's meta has one (Technique.chaotic)
            sets[current.technique, current.model, style].append(comparison)
    checks = []
    for (technique, model, style), members in sorted(sets.items()):
        check = SetCheck(technique, model, style, len(members))
        reached = [_final_objectives(*raw(member)) for member in members]
        if all(pair is not None for pair in reached):
            old_objectives, new_objectives = (np.asarray(values) for values in zip(*reached))
            moved = abs(new_objectives.mean() - old_objectives.mean()) / (np.abs(old_objectives).mean() or 1.0)
            check.differences.append(RoleDifference("mean objective", "reached", moved <= tolerance.chaotic,
                                                    float(moved), float(new_objectives.mean())))
        probabilities = [(m.baseline.meta.probability, m.current.meta.probability) for m in members
                         if isinstance(m.baseline.meta, ClassAscentMeta) and isinstance(m.current.meta, ClassAscentMeta)]
        if len(probabilities) == len(members):
            first, second = (float(np.mean(values)) for values in zip(*probabilities))
            check.differences.append(RoleDifference("mean probability", "reached",
                                                    abs(second - first) <= tolerance.chaotic, abs(second - first), second))
        seen = [[_seen_as_its_class(m.baseline), _seen_as_its_class(m.current)] for m in members]
        if all(None not in pair for pair in seen):
            first, second = (float(np.mean(values)) for values in zip(*seen))
            check.differences.append(RoleDifference("share seen as their class", "reached",
                                                    abs(second - first) <= tolerance.chaotic, abs(second - first), second))
        pictures = [finals(member) for member in members]
        if all(pair is not None for pair in pictures):
            for name, measure in (("mean contrast", contrast), ("mean colourfulness", colourfulness)):
                first, second = (float(np.mean([measure(picture) for picture in side])) for side in zip(*pictures))
                moved = abs(second - first) / (first or 1.0)
                check.differences.append(RoleDifference(name, "reached", moved <= tolerance.chaotic, moved, second))
        checks.append(check)
    return checks


def contrast(picture: np.ndarray) -> float:
    """RMS contrast: the standard deviation of the grayscale, in levels (washed-out pictures lose it)."""
    return float(np.asarray(picture, np.float64)[..., :3].mean(axis=-1).std())


def colourfulness(picture: np.ndarray) -> float:
    """The mean spread between a pixel's largest and smallest channel, in levels (0 for gray)."""
    channels = np.asarray(picture, np.float64)[..., :3]
    return float((channels.max(axis=-1) - channels.min(axis=-1)).mean())


def _seen_as_its_class(artifact: Artifact) -> bool | None:
    """Whether the model's top-1 class for a class model's picture is the class it was made for."""
    return artifact.meta.seen_as_its_class if isinstance(artifact.meta, ClassAscentMeta) else None


def _final_objectives(old_raw: Arrays, new_raw: Arrays) -> tuple[float, float] | None:
    """(baseline's, build's) final objective, or None when either lacks one."""
    if "objective" not in old_raw or "objective" not in new_raw:
        return None
    return (float(np.asarray(old_raw["objective"]).reshape(-1)[-1]),
            float(np.asarray(new_raw["objective"]).reshape(-1)[-1]))
