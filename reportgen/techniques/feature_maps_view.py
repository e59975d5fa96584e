"""What the feature maps page shows: per input, each model's layers early to late, each grid named
by its layer and what it shows. Torch-free (``shared_view``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from markupsafe import Markup

from reportgen.core.artifacts import Artifact, Manifest
from reportgen.core.meta import FeatureMapRoles, FeatureMapsMeta
from reportgen.techniques.shared_view import Grid, meta_of

LAYOUTS = {"tokens": "tokens, as a grid", "nhwc": "channels-last"}  # how a map not channels-first was read


def describe(artifact: Artifact) -> Markup:
    """Its layer, how many channels it shows and their size, and how the map was read."""
    meta = meta_of(artifact, FeatureMapsMeta)
    text = Markup("<code>{}</code> &middot; first {} channels, {}&times;{}").format(
        artifact.variant, meta.channels, meta.size[0], meta.size[1])
    if meta.layout:
        text += Markup(" &middot; read from {}").format(LAYOUTS.get(meta.layout, meta.layout))
    return text


@dataclass(frozen=True)
class FeatureMapsView:
    maps: Grid
    roles: type[FeatureMapRoles]

    def caption(self, artifact: Artifact) -> Markup:
        return describe(artifact)


def view(manifest: Manifest, artifacts: Sequence[Artifact]) -> FeatureMapsView:
    """A block per input image: each model's maps, early layers to late."""
    return FeatureMapsView(Grid(artifacts), FeatureMapRoles)
