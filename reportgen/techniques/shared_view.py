"""Building blocks of every technique's page view: artifacts by (model, image), a model's part of a
page, a row of the per-input page, anchors and number formats. Torch-free, as every ``*_view``
module: the site imports them, and they shape pages, never pictures (``code_identity``)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from reportgen.artifacts import Artifact, ModelInfo


class Grid:
    """Artifacts by (model, image): the cells of a table with models side by side per image."""

    def __init__(self, artifacts: Iterable[Artifact]):
        self._cells: dict[tuple[str, str | None], list[Artifact]] = {}
        for artifact in artifacts:
            self._cells.setdefault((artifact.model, artifact.image), []).append(artifact)

    def get(self, model: str, image: str | None) -> Artifact | None:
        """The first artifact of the cell."""
        found = self._cells.get((model, image))
        return found[0] if found else None

    def every(self, model: str, image: str | None) -> list[Artifact]:
        """Every artifact of the cell, in build order."""
        return self._cells.get((model, image), [])

    def firsts(self) -> dict[tuple[str, str | None], Artifact]:
        return {key: found[0] for key, found in self._cells.items()}


@dataclass(frozen=True)
class ModelColumn:
    """A model's part of a page: its tables (class ascent) or its units and atlases (layer ascent)."""

    model: ModelInfo
    tables: list[Any]


@dataclass(frozen=True)
class ImageRow:
    """One variant of a technique on an input's page: a cell per model."""

    title: str
    cells: list[Artifact | None]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def percent(value: float) -> str:
    """A probability as the pages write it (the templates' ``percent`` filter)."""
    return f"{100.0 * float(value):.1f}%"
