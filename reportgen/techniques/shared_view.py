"""Building blocks of every technique's page view: artifacts by (model, image), a model's part of a
page, a row of the per-input page, a picture's shown size, anchors. Torch-free, as every ``*_view``
module: the site imports them, and they shape pages, never pictures (``code_identity``). Numbers
are written by ``reportgen.gallery.formats``."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, Iterable, Protocol, Sequence, TypeVar

from reportgen.core.artifacts import Artifact, File, ModelInfo
from reportgen.core.meta import Meta

M = TypeVar("M", bound=Meta)
Table = TypeVar("Table")


def meta_of(artifact: Artifact, kind: type[M]) -> M:
    """An artifact's meta as the type its technique reports (``Artifact.meta`` is typed as any
    technique's ``Meta``): a view reads its fields checked."""
    meta = artifact.meta
    if not isinstance(meta, kind):
        raise TypeError(f"{artifact.describe()}: its meta is a {type(meta).__name__}, not a {kind.__name__}")
    return meta


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

    def having(self, model: str, image: str | None, role: str) -> Artifact | None:
        """The first artifact of the cell if it has a file of ``role`` (an animation only some have)."""
        found = self.get(model, image)
        return found if found is not None and role in found.files else None

    def firsts(self) -> dict[tuple[str, str | None], Artifact]:
        return {key: found[0] for key, found in self._cells.items()}


@dataclass(frozen=True)
class ModelColumn(Generic[Table]):
    """A model's part of a page: its tables (class ascent) or its units and atlases (layer ascent)."""

    model: ModelInfo
    tables: list[Table]


@dataclass(frozen=True)
class ImageRow:
    """One variant of a technique on an input's page: a cell per model."""

    title: str
    cells: list[Artifact | None]


def rows_by_place(shown: Sequence[Artifact], models: Sequence[ModelInfo]) -> list[ImageRow]:
    """An input page's rows of a per-layer technique: each model's layers paired by their place
    (models have layers of their own names), early to late; the cells then name their layer."""
    per_model = [[a for a in shown if a.model == model.name] for model in models]
    depth = max(len(mine) for mine in per_model)
    return [ImageRow(f"layer {place + 1} of {depth}", [mine[place] if place < len(mine) else None for mine in per_model])
            for place in range(depth)]


@dataclass(frozen=True)
class Captioned:
    """An artifact in a table cell and the line under it (empty: none)."""

    artifact: Artifact
    caption: str


@dataclass(frozen=True)
class Size:
    width: int
    height: int


def fitted(file: File, max_width: int) -> Size:
    """The size a picture is shown at: at most ``max_width`` wide, never enlarged, aspect kept
    (width and height keep the layout stable while it loads)."""
    scale = min(1.0, max_width / file.width)
    return Size(round(file.width * scale), round(file.height * scale))


def at_width(file: File, width: int) -> Size:
    """The size of a picture shown ``width`` wide, aspect kept (thumbnails of one width)."""
    return Size(width, round(width * file.height / file.width))


def at_height(file: File, height: int) -> Size:
    """The size of a picture shown ``height`` high, aspect kept (strips of one height)."""
    return Size(round(height * file.width / file.height), height)


class Stepped(Protocol):
    """The meta of an optimisation that records its steps (class and layer ascent)."""

    @property
    def steps(self) -> int | None: ...
    @property
    def step_cap(self) -> int | None: ...


def steps_taken(meta: Stepped) -> str:
    """The steps an optimisation took: the cap, or fewer where its values plateaued
    (``optim.ascent.Plateau``); empty when it did not record them."""
    if meta.steps is None or meta.step_cap is None:
        return ""
    if meta.steps < meta.step_cap:
        return f"plateau at step {meta.steps} of {meta.step_cap}"
    return f"{meta.steps} steps"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
