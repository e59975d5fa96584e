"""What the deep dream page shows: a table per method, rows per objective (and per octave
animation). Torch-free (``shared_view``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from reportgen.artifacts import Artifact, Manifest, find, select
from reportgen.meta import DreamRoles
from reportgen.techniques.shared_view import Grid


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


@dataclass(frozen=True)
class DreamTable:
    method: str
    title: str
    about: str
    rows: list[DreamRow]


def view(manifest: Manifest, artifacts: Sequence[Artifact]) -> dict[str, Any]:
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
    return {"tables": tables, "roles": DreamRoles}
