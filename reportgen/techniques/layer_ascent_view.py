"""What the layer ascent page shows: per model a row per unit (its visualisations, its dataset
examples) and an atlas for every layer with many units. Torch-free (``shared_view``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from reportgen.gallery import formats
from reportgen.core.artifacts import Artifact, File, Manifest, find, select
from reportgen.core.ascent_meta import ExamplesMeta, LayerAscentRoles, UnitMeta
from reportgen.techniques.shared_view import ModelColumn, Size, at_height, at_width, meta_of, slug, steps_taken


UNIT_STYLES = {"naive": "Naive pixel ascent", "robust": "Robust (Fourier, transforms)"}
ATLAS_MIN_UNITS = 8  # a layer with this many visualised units also gets an atlas of thumbnails
ATLAS_THUMBNAIL_PX = 64  # width of a unit's picture in an atlas
ATLAS_STRIP_PX = 31  # height of its dataset examples' strip under it


def unit_anchor(model: str, layer: str, filter_index: int) -> str:
    """A unit's citable address on the layer_ascent page, as Microscope's ``layer:unit`` pages."""
    return f"unit-{slug(model)}-{slug(layer)}-{filter_index}"


@dataclass(frozen=True)
class AtlasUnit:
    """A unit's cell in its layer's atlas: its picture and its dataset examples' strip, linking to its row."""

    filter: int
    anchor: str
    artifact: Artifact
    examples: Artifact | None
    title: str  # "layer:filter", and its two strongest examples' images
    picture: File
    size: Size
    strip: File | None
    strip_size: Size | None


def atlas_unit(layer: str, filter_index: int, anchor: str, artifact: Artifact, examples: Artifact | None) -> AtlasUnit:
    picture = artifact.files[LayerAscentRoles.FINAL]
    title = f"{layer}:{filter_index}"
    strip = strip_size = None
    if examples:
        title += ": " + ", ".join(example.image for example in meta_of(examples, ExamplesMeta).examples[:2])
        strip = examples.files[LayerAscentRoles.EXAMPLES]
        strip_size = at_height(strip, ATLAS_STRIP_PX)
    return AtlasUnit(filter_index, anchor, artifact, examples, title, picture, at_width(picture, ATLAS_THUMBNAIL_PX),
                     strip, strip_size)


@dataclass(frozen=True)
class Atlas:
    """Every visualised unit of one layer of one model."""

    model: str
    layer: str
    units: list[AtlasUnit]


@dataclass(frozen=True)
class UnitCell:
    """A unit's visualisation in one style: the mean activation it reached, and its peak against
    the peak over the examples' images."""

    artifact: Artifact
    caption: str
    steps: str


def unit_cell(artifact: Artifact, examples: Artifact | None) -> UnitCell:
    meta = meta_of(artifact, UnitMeta)
    mined = meta_of(examples, ExamplesMeta) if examples else None
    caption = formats.measure(meta.final_activation)
    if mined and mined.input_peak > 0:
        against = "the examples'" if mined.images is not None else "the inputs'"
        caption += f"; peak {formats.ratio(meta.final_peak / mined.input_peak)} {against}"
    return UnitCell(artifact, caption, steps_taken(meta))


@dataclass(frozen=True)
class UnitRow:
    """One unit: its address, its visualisation per style shown, its dataset examples."""

    anchor: str
    layer: str
    filter: int
    regulariser: str
    cells: list[UnitCell | None]  # one per style shown
    examples: Artifact | None

    @property
    def regulariser_note(self) -> str:
        return "" if self.regulariser == "none" else f"({self.regulariser.upper()} regulariser)"

    @property
    def examples_caption(self) -> str:
        """Where the examples' peak was taken, its value, and the images of the patches."""
        if self.examples is None:
            return ""
        meta = meta_of(self.examples, ExamplesMeta)
        where = f"peak over {meta.images} images of the examples folder" if meta.images is not None else "peak over the inputs"
        return f"{where} {formats.measure(meta.input_peak)}: " + ", ".join(example.image for example in meta.examples)


@dataclass(frozen=True)
class UnitTable:
    styles: list[tuple[str, str]]  # (style, title) shown
    rows: list[UnitRow]
    atlases: list[Atlas]
    any_examples: bool
    folder_images: int | None = None  # images of the examples folder mined (None: the examples are the inputs')

    @property
    def examples_title(self) -> str:
        return "Dataset examples" if self.folder_images is not None else "Input patches"

    @property
    def examples_noun(self) -> str:
        """What the atlas's units lead to besides their animations."""
        return "dataset examples" if self.any_examples else "input patches"


@dataclass(frozen=True)
class LayerAscentView:
    columns: list[ModelColumn[UnitTable]]
    roles: type[LayerAscentRoles]

    @property
    def from_folder(self) -> bool:
        """Whether the examples come from an examples folder (else from the inputs)."""
        return bool(self.columns) and self.columns[0].tables[0].folder_images is not None

    @property
    def peak_over(self) -> str:
        return "examples folder's" if self.from_folder else "input"

    @property
    def patches_from(self) -> str:
        return "images of the examples folder" if self.from_folder else "input images"


def view(manifest: Manifest, artifacts: Sequence[Artifact]) -> LayerAscentView:
    """Per model: a row per unit (its visualisations side by side, then its examples) and an atlas
    for every layer with many units (the robust visualisation where there is one, else the naive)."""
    columns = []
    for model in manifest.models:
        mine = select(artifacts, model=model.name)
        visualisations = [a for a in mine if isinstance(a.meta, UnitMeta)]
        if not visualisations:
            continue
        examples = {(a.meta.layer, a.meta.filter): a for a in mine if isinstance(a.meta, ExamplesMeta)}
        present = {meta_of(a, UnitMeta).style for a in visualisations}
        styles = [(style, title) for style, title in UNIT_STYLES.items() if style in present]
        rows = []
        for unit in (meta for a in visualisations if (meta := meta_of(a, UnitMeta)).style == styles[0][0]):
            mined = examples.get((unit.layer, unit.filter))
            cells = [unit_cell(a, mined) if (a := find(visualisations, layer=unit.layer, filter=unit.filter, style=style))
                     else None for style, _ in styles]
            rows.append(UnitRow(unit_anchor(model.name, unit.layer, unit.filter), unit.layer, unit.filter,
                                unit.regulariser, cells, mined))
        folder_images = next((found.images for a in examples.values()
                              if (found := meta_of(a, ExamplesMeta)).images is not None), None)
        columns.append(ModelColumn(model, [UnitTable(styles, rows, _atlases(model.name, visualisations, examples),
                                                     bool(examples), folder_images)]))
    return LayerAscentView(columns, LayerAscentRoles)


def _atlases(model: str, visualisations: Sequence[Artifact], examples: dict[tuple[str, int], Artifact]) -> list[Atlas]:
    atlases = []
    for layer in dict.fromkeys(meta_of(a, UnitMeta).layer for a in visualisations):
        best: dict[int, Artifact] = {}
        for artifact in visualisations:
            unit = meta_of(artifact, UnitMeta)
            if unit.layer == layer and (unit.filter not in best or unit.style == "robust"):
                best[unit.filter] = artifact
        if len(best) >= ATLAS_MIN_UNITS:
            atlases.append(Atlas(model, layer, [atlas_unit(layer, f, unit_anchor(model, layer, f), a, examples.get((layer, f)))
                                                for f, a in sorted(best.items())]))
    return atlases
