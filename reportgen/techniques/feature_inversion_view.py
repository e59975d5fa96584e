"""What the feature inversion page shows: per input, each model's reconstructions early to late, each
named by its layer and the distance it reached. Torch-free (``shared_view``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from markupsafe import Markup

from reportgen.gallery import formats
from reportgen.core.artifacts import Artifact, Manifest
from reportgen.core.ascent_meta import InversionMeta, InversionRoles
from reportgen.techniques.shared_view import Grid, meta_of, steps_taken


def describe(artifact: Artifact) -> Markup:
    """Its layer, the relative feature distance it reached and the blurred input's, its steps."""
    meta = meta_of(artifact, InversionMeta)
    text = Markup("<code>{}</code> &middot; distance {} (blurred input: {})").format(
        meta.layer, formats.measure(meta.distance), formats.measure(meta.blurred_distance))
    steps = steps_taken(meta)
    return text + Markup(" &middot; {}").format(steps) if steps else text


@dataclass(frozen=True)
class InversionView:
    reconstructions: Grid
    roles: type[InversionRoles]

    def caption(self, artifact: Artifact) -> Markup:
        return describe(artifact)


def view(manifest: Manifest, artifacts: Sequence[Artifact]) -> InversionView:
    """A block per input image: each model's reconstructions, early layers to late."""
    return InversionView(Grid(artifacts), InversionRoles)
