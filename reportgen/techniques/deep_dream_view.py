"""What the deep dream page shows: a table per method, rows per objective (and per octave
animation). Torch-free (``shared_view``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from markupsafe import Markup

from reportgen.gallery import formats
from reportgen.core.artifacts import Artifact, Manifest, find, select
from reportgen.core.ascent_meta import DeepDreamMeta, DreamRoles
from reportgen.techniques.shared_view import Grid, meta_of


DREAM_METHODS = {  # method -> (title, what it does), in the page's order
    "simple": ("Simple gradient ascent", "Adam on the image at its working size; the objective is the mean activation."),
    "octaves": ("Octave pyramid", "The image dreamed from coarse to fine over an image pyramid, the detail carried up "
                "each octave; before every step the image is rolled by a random offset, and the gradient is smoothed "
                "at several scales and normalised; the objective is the L2 norm of the activation."),
}
DREAM_OBJECTIVES = {"one_channel": "one channel", "all_channels": "all channels"}


@dataclass(frozen=True)
class DreamRow:
    """One objective's pictures of one role (the dream, or the image after each octave)."""

    objective: str
    label: str
    role: str
    first: list[Artifact]  # per model that dreamed it: its first artifact (its layer, filter, steps)
    cells: Grid

    @property
    def dream(self) -> bool:
        """The dream itself (else the animation after each octave)."""
        return self.role == DreamRoles.DREAM

    @property
    def title(self) -> str:
        return f"deep dream ({self.label}{'' if self.dream else ', after each octave'})"

    @property
    def settings(self) -> list[Markup]:
        """Per model, where it dreamed and how long: layer, filter, octaves, steps."""
        return [dream_settings(first) for first in self.first]


@dataclass(frozen=True)
class DreamTable:
    method: str
    title: str
    about: str
    rows: list[DreamRow]


def dream_settings(artifact: Artifact) -> Markup:
    meta = meta_of(artifact, DeepDreamMeta)
    text = Markup("{}: layer <code>{}</code>").format(artifact.model, meta.layer)
    if meta.filter is not None:
        text += Markup(", filter {}").format(meta.filter)
    if meta.method == "octaves":
        text += Markup(", {} octaves").format(meta.octaves)
    return text + Markup(", {} steps").format(meta.steps)


def objective_change(meta: DeepDreamMeta) -> Markup:
    """The objective before and after the dream, at the working size."""
    return Markup("{} &rarr; {}").format(formats.measure(meta.objective_before, 4), formats.measure(meta.objective_after, 4))


@dataclass(frozen=True)
class DeepDreamView:
    tables: list[DreamTable]
    roles: type[DreamRoles]

    def caption(self, artifact: Artifact) -> Markup:
        return objective_change(meta_of(artifact, DeepDreamMeta))


def view(manifest: Manifest, artifacts: Sequence[Artifact]) -> DeepDreamView:
    """One table per method; rows per objective (and, when animated, per octave animation)."""
    tables = []
    for method, (title, about) in DREAM_METHODS.items():
        shown = select(artifacts, method=method)
        if not shown:
            continue
        rows = []
        for objective, label in DREAM_OBJECTIVES.items():
            mine = select(shown, objective=objective)
            if not mine:
                continue
            firsts = [first for model in manifest.models if (first := find(mine, model=model.name))]
            animated = any(DreamRoles.OCTAVES in a.files for a in mine)
            for role in (DreamRoles.DREAM, DreamRoles.OCTAVES) if animated else (DreamRoles.DREAM,):
                rows.append(DreamRow(objective, label, role, firsts, Grid(mine)))
        tables.append(DreamTable(method, title, about, rows))
    return DeepDreamView(tables, DreamRoles)
