"""What the class ascent page shows: per model, a table per style with a row per class and a column
per regulariser. Torch-free (``shared_view``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from reportgen.gallery import formats
from reportgen.core.artifacts import Artifact, Manifest, find, select
from reportgen.core.ascent_meta import AscentRoles, ClassAscentMeta
from reportgen.techniques.shared_view import ModelColumn, meta_of, steps_taken


STYLES = {  # style -> (title, what it does), in the pages' order
    "naive": ("Naive pixel ascent", "Adam on the pixels themselves."),
    "robust": ("Robust: Fourier image and random transforms",
               "Adam on a decorrelated Fourier spectrum whose high frequencies are damped; before every step "
               "the image is padded, randomly shifted, zoomed, turned and colour-shifted, and the model sees it "
               "at its input size."),
}
REGULARISERS = {"none": "No regulariser", "l1": "L1 regulariser", "l2": "L2 regulariser"}


@dataclass(frozen=True)
class Column:
    """A regulariser's column: its label and weight (None for no regulariser)."""

    regulariser: str
    label: str
    weight: float | None

    @property
    def weight_label(self) -> str:
        return "" if self.weight is None else formats.measure(self.weight)


@dataclass(frozen=True)
class AscentCell:
    """A class model and what the final image scored."""

    artifact: Artifact
    caption: str  # its class's probability, and the class the model sees instead where another wins
    steps: str

    @classmethod
    def of(cls, artifact: Artifact) -> "AscentCell":
        meta = meta_of(artifact, ClassAscentMeta)
        caption = f"p = {formats.probability(meta.probability)}"
        if not meta.seen_as_its_class:
            caption += f"; top-1: {meta.top1_name}"
        return cls(artifact, caption, steps_taken(meta))


@dataclass(frozen=True)
class ClassRow:
    class_index: int
    class_name: str
    cells: list[AscentCell | None]  # one per column


@dataclass(frozen=True)
class StyleTable:
    style: str
    title: str
    about: str
    columns: list[Column]
    rows: list[ClassRow]


@dataclass(frozen=True)
class ClassAscentView:
    columns: list[ModelColumn[StyleTable]]
    roles: type[AscentRoles]


def view(manifest: Manifest, artifacts: Sequence[Artifact]) -> ClassAscentView:
    """Per model, one table per style: rows are classes, columns regularisers."""
    columns = []
    for model in manifest.models:
        mine = select(artifacts, model=model.name)
        if not mine:
            continue
        firsts: dict[int, Artifact] = {}  # class index -> its first artifact
        for artifact in mine:
            firsts.setdefault(artifact.value("class_index"), artifact)
        regularisers = list(dict.fromkeys(a.value("regulariser") for a in mine))
        tables = []
        for style, (title, about) in STYLES.items():
            styled = select(mine, style=style)
            if not styled:
                continue
            heads = []
            for regulariser in regularisers:
                first = find(styled, regulariser=regulariser)
                weight = first.spec[f"{regulariser}_weight"] if first and regulariser != "none" else None
                heads.append(Column(regulariser, REGULARISERS[regulariser], weight))
            rows = [ClassRow(index, meta_of(first, ClassAscentMeta).class_name,
                             [AscentCell.of(a) if (a := find(styled, class_index=index, regulariser=r)) else None
                              for r in regularisers])
                    for index, first in firsts.items()]
            tables.append(StyleTable(style, title, about, heads, rows))
        columns.append(ModelColumn(model, tables))
    return ClassAscentView(columns, AscentRoles)
