"""What the layer ascent page shows: per model a row per unit (its visualisations, its dataset
examples) and an atlas for every layer with many units. Torch-free (``shared_view``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from reportgen.artifacts import Artifact, Manifest, find, select
from reportgen.meta import ExamplesMeta, LayerAscentRoles, UnitMeta
from reportgen.techniques.shared_view import ModelColumn, slug


UNIT_STYLES = {"naive": "Naive pixel ascent", "robust": "Robust (Fourier, transforms)"}
ATLAS_MIN_UNITS = 8  # a layer with this many visualised units also gets an atlas of thumbnails


def unit_anchor(model: str, layer: str, filter_index: int) -> str:
    """A unit's citable address on the layer_ascent page, as Microscope's ``layer:unit`` pages."""
    return f"unit-{slug(model)}-{slug(layer)}-{filter_index}"


@dataclass(frozen=True)
class Atlas:
    """Every visualised unit of one layer of one model, as (filter, anchor, thumbnail artifact,
    its dataset examples or None)."""

    model: str
    layer: str
    units: list[tuple[int, str, Artifact, Artifact | None]]


@dataclass(frozen=True)
class UnitRow:
    """One unit: its address, its visualisation per style shown, its dataset examples."""

    anchor: str
    layer: str
    filter: int
    regulariser: str
    cells: list[Artifact | None]  # one per style shown
    examples: Artifact | None


@dataclass(frozen=True)
class UnitTable:
    styles: list[tuple[str, str]]  # (style, title) shown
    rows: list[UnitRow]
    atlases: list[Atlas]
    any_examples: bool
    folder_images: int | None = None  # images of the examples folder mined (None: the examples are the inputs')


def view(manifest: Manifest, artifacts: Sequence[Artifact]) -> dict[str, Any]:
    """Per model: a row per unit (its visualisations side by side, then its examples) and an atlas
    for every layer with many units (the robust visualisation where there is one, else the naive)."""
    columns = []
    for model in manifest.models:
        mine = select(artifacts, model=model.name)
        visualisations = [a for a in mine if isinstance(a.meta, UnitMeta)]
        if not visualisations:
            continue
        examples = {(a.meta.layer, a.meta.filter): a for a in mine if isinstance(a.meta, ExamplesMeta)}
        present = {a.meta.style for a in visualisations}
        styles = [(style, title) for style, title in UNIT_STYLES.items() if style in present]
        rows = []
        for first in (a for a in visualisations if a.meta.style == styles[0][0]):
            unit = first.meta
            cells = [find(visualisations, layer=unit.layer, filter=unit.filter, style=style) for style, _ in styles]
            rows.append(UnitRow(unit_anchor(model.name, unit.layer, unit.filter), unit.layer, unit.filter,
                                unit.regulariser, cells, examples.get((unit.layer, unit.filter))))
        folder_images = next((a.meta.images for a in examples.values() if a.meta.images is not None), None)
        columns.append(ModelColumn(model, [UnitTable(styles, rows, _atlases(model.name, visualisations, examples),
                                                     bool(examples), folder_images)]))
    return {"columns": columns, "roles": LayerAscentRoles}


def _atlases(model: str, visualisations: Sequence[Artifact], examples: dict[tuple[str, int], Artifact]) -> list[Atlas]:
    atlases = []
    for layer in dict.fromkeys(a.meta.layer for a in visualisations):
        best: dict[int, Artifact] = {}
        for artifact in (a for a in visualisations if a.meta.layer == layer):
            if artifact.meta.filter not in best or artifact.meta.style == "robust":
                best[artifact.meta.filter] = artifact
        if len(best) >= ATLAS_MIN_UNITS:
            atlases.append(Atlas(model, layer, [(f, unit_anchor(model, layer, f), a, examples.get((layer, f)))
                                                for f, a in sorted(best.items())]))
    return atlases
