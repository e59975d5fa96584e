"""What the filters page shows: a row per model, a picture per weight with its shape.
Torch-free (``shared_view``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from reportgen.core.artifacts import Artifact, Manifest, ModelInfo, select
from reportgen.core.meta import FilterRoles, FiltersMeta
from reportgen.techniques.shared_view import Captioned, meta_of


def describe(artifact: Artifact) -> str:
    """The weight's shape, and which input channel a deeper layer's filters are shown through."""
    shape = "\u00d7".join(str(size) for size in meta_of(artifact, FiltersMeta).shape)
    return shape if artifact.value("rgb") else f"{shape}, input channel 0"


@dataclass(frozen=True)
class FilterRow:
    model: ModelInfo
    cells: list[Captioned]  # the caption: ``describe``


@dataclass(frozen=True)
class FiltersView:
    rows: list[FilterRow]
    roles: type[FilterRoles]


def view(manifest: Manifest, artifacts: Sequence[Artifact]) -> FiltersView:
    return FiltersView([FilterRow(model, [Captioned(a, describe(a)) for a in select(artifacts, model=model.name)])
                        for model in manifest.models], FilterRoles)
