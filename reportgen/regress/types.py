"""The regression check's records: what it tolerates, how each file of an artifact moved, and the
outcome of a whole check. The bottom of the ``regress`` package: it imports none of its siblings."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Iterable

import numpy as np

from reportgen.core.artifacts import Artifact

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
    # Optimisations (a technique's ``optimises``) that moved beyond those are judged by their outcome:
    similarity: float = 0.8  # structural similarity of the low-passed grayscale pictures, at least
    features: float = 0.35  # cosine similarity of the model's features of the final picture, at least
    outcome: float = 0.2  # objective reached (relative to its peak), class probability reached, at most
    # Chaotic optimisations (a technique's ``chaotic_styles``) are judged as sets (regress/outcome.py): their mean
    # objective (relative to its mean magnitude), mean class probability, share of runs seen as their
    # class and their pictures' mean contrast and colourfulness (relative) may move by at most this.
    chaotic: float = 0.2
    # Embeddings (a technique's ``neighbourhoods``): how many of each point's nearest neighbours are
    # still near it, 1 all, 0 no more than chance, at least (``embedding_map.neighbours_kept``).
    # Measured: maps of features moved by 1e-6 keep 0.96-1 where the inputs form groups, 0.4 where a
    # model sees only noise; shuffled maps keep at most 0.17.
    neighbours: float = 0.3

    def __post_init__(self) -> None:
        for item in fields(self):
            problem = _tolerance_problem(getattr(self, item.name))
            if problem:
                raise RegressionError(f"tolerance {item.name}={getattr(self, item.name)!r}: {problem}")

    @classmethod
    def parse(cls, texts: Iterable[str], source: str = "--tolerance") -> "Tolerance":
        """``["pixel=2", "raw=1e-4"]`` -> Tolerance; unknown names list the valid ones. Errors name
        ``source`` (the flag, or the Python argument) and the text given."""
        names = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for text in texts:
            name, equals, value = (part.strip() for part in text.partition("="))
            if not equals or name not in names:
                raise RegressionError(f"{source} {text!r}: expected NAME=VALUE with NAME one of {', '.join(names)}")
            whole = names[name] in (int, "int")
            try:
                values[name] = int(value) if whole else float(value)
            except ValueError:
                raise RegressionError(f"{source} {text!r}: {value!r} is not a {'whole ' if whole else ''}number") from None
            problem = _tolerance_problem(values[name])
            if problem:
                raise RegressionError(f"{source} {text!r}: {problem}")
        return replace(cls(), **values)


def _tolerance_problem(value: float) -> str | None:
    """Why ``value`` cannot be a tolerance (an infinite or NaN one would switch its check off)."""
    if not math.isfinite(value):
        return "must be a finite number"
    if value < 0:
        return "must not be negative"
    return None


# What an outcome's difference is relative to, by role.
RELATIVE_TO = {"objective": " of the baseline's peak", "mean objective": " of the baseline's mean magnitude",
               "mean contrast": " of the baseline's", "mean colourfulness": " of the baseline's"}


@dataclass
class RoleDifference:
    """How one file (picture, animation or raw array) of an artifact moved."""

    role: str
    kind: str  # "picture", "raw", "neighbours", or for an optimisation's outcome "similarity", "features", "reached"
    within: bool
    largest: float  # picture: levels; raw, reached: relative to the baseline's peak; similarity: SSIM; features: cosine;
    # neighbours: the nearest neighbours kept above chance
    changed: float = 0.0  # picture: fraction of pixels beyond the pixel tolerance
    note: str = ""  # a loss: why it cannot be compared value by value (missing, shape, frames, NaN)
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
        if self.kind == "neighbours":
            return f"{self.role}: nearest neighbours kept {self.largest:.2f} (1: all, 0: no more than chance)"
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
    # What it is judged by instead of every file, where that applies (None: every file): an
    # optimisation by what it reached, an embedding map by its points and features, not its pictures
    outcome: list[RoleDifference] | None = None

    @property
    def losses(self) -> list[RoleDifference]:
        """Files gone, new, reshaped, with other frame counts or non-finite values: no outcome excuses them."""
        return [d for d in self.differences if d.note]

    @property
    def failures(self) -> list[RoleDifference]:
        """Why it fails, if it does: every loss, then what an optimisation failed to reach (when it
        is judged by its outcome) or else every file beyond the tolerances."""
        judged = self.differences if self.outcome is None else self.outcome
        return self.losses + [d for d in judged if not d.within and not d.note]

    @property
    def moved(self) -> bool:
        return bool(self.failures)


@dataclass
class SetCheck:
    """The chaotic runs of one technique, model and style, judged by their means."""

    technique: str
    model: str
    style: str
    count: int
    differences: list["RoleDifference"] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        return not all(d.within for d in self.differences)

    def describe(self) -> str:
        return f"{self.technique} · {self.style} · {self.model} ({self.count} runs)"


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
        found = [f"moved: {c.current.describe()}: " + "; ".join(d.describe() for d in c.failures) for c in self.moved]
        found += [f"appeared: {a.describe()}" for a in self.appeared]
        found += [f"vanished: {a.describe()}" for a in self.vanished]
        found += [f"moved as a set: {s.describe()}: " + "; ".join(d.describe() for d in s.differences if not d.within)
                  for s in self.sets if s.moved]
        return found

