"""What the embedding map's page shows: per model, the thumbnail atlas with a link over every cell to
its input's page (positioned in percent, so they follow the picture however wide it is shown), the
scatter and its legend. One picture and one small link per input: a folder of thousands stays one
light page. Torch-free (``shared_view``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from reportgen.gallery import formats
from reportgen.core.artifacts import Artifact, Manifest, ModelInfo, select
from reportgen.core.meta import EmbeddingMapMeta, EmbeddingMapRoles
from reportgen.techniques.shared_view import meta_of


@dataclass(frozen=True)
class AtlasLink:
    """A cell of the atlas, linked to its input's page."""

    page: str
    name: str
    left: str  # CSS percentages of the atlas's width and height
    top: str


@dataclass(frozen=True)
class LegendEntry:
    colour: str
    label: str
    inputs: int


@dataclass(frozen=True)
class ModelMap:
    model: ModelInfo
    artifact: Artifact
    about: str
    labels: str  # how the map groups the labelled classes; empty without labels.json
    cell_width: str  # a cell's share of the atlas, in CSS percentages
    cell_height: str
    links: list[AtlasLink]
    coloured_by: str
    legend: list[LegendEntry]


@dataclass(frozen=True)
class EmbeddingMapView:
    maps: list[ModelMap]
    roles: type[EmbeddingMapRoles]


def _percent(part: float, whole: int) -> str:
    return f"{100 * part / whole:.4f}%"


def describe(meta: EmbeddingMapMeta) -> str:
    """What the map is made of, in one sentence."""
    source = ("its classifier's head reads" if meta.head_input
              else "of its output (it runs no linear layer, so there is no head's input to read)")
    return (f"t-SNE of {formats.count(len(meta.points), 'input')}, each described by the {meta.features} features "
            f"{source}; perplexity {formats.measure(meta.perplexity)}. Inputs the model describes alike lie close "
            f"together; each thumbnail opens its input's page.")


def grouping(meta: EmbeddingMapMeta) -> str:
    """How the map groups the labelled classes, and how many labelled inputs the model gets wrong."""
    if meta.label_agreement is None or meta.mistakes is None or meta.neighbours is None:
        return ""
    labelled = sum(point.label_index is not None for point in meta.points)
    return (f"For {formats.percent(meta.label_agreement)} of the labelled inputs, most of their {meta.neighbours} nearest "
            f"labelled neighbours in the map share their label; {meta.mistakes} of {labelled} have another top-1 "
            f"class than their label (ringed in the scatter).")


def view(manifest: Manifest, artifacts: Sequence[Artifact]) -> EmbeddingMapView:
    pages = {image.id: image for image in manifest.images}
    maps = []
    for model in manifest.models:
        for artifact in select(artifacts, model=model.name):
            meta = meta_of(artifact, EmbeddingMapMeta)
            links = [AtlasLink(image.page, image.name, _percent(point.column, meta.columns), _percent(point.row, meta.rows))
                     for point in meta.points if (image := pages.get(point.image_id)) is not None and image.page]
            legend = [LegendEntry(entry.colour, entry.class_name if entry.class_index is None
                                  else f"{entry.class_index} · {entry.class_name}", entry.inputs) for entry in meta.legend]
            maps.append(ModelMap(model, artifact, describe(meta), grouping(meta), _percent(1, meta.columns),
                                 _percent(1, meta.rows), links, meta.coloured_by, legend))
    return EmbeddingMapView(maps, EmbeddingMapRoles)
