"""What the saliency page shows: a row per method with its sanity metrics per model, and the class
each map explains. Torch-free (``shared_view``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from reportgen.artifacts import Artifact, Manifest
from reportgen.attribution.methods import METHODS, SaliencyMethod
from reportgen.meta import SaliencyMeta, SaliencyRoles
from reportgen.techniques.shared_view import Grid, mean


@dataclass(frozen=True)
class Stage:
    layers: int  # how many top layers were randomised
    rho: float | None  # mean Spearman correlation over the images (None: no image had one)


@dataclass(frozen=True)
class SaliencyMetrics:
    """One model's sanity metrics of one method, averaged over the images."""

    model: str
    stages: list[Stage]
    deletion: float | None
    facts: SaliencyMeta  # the first image's: cam_layer, unguided activations, IG gap

    @property
    def sanity(self) -> bool:
        return bool(self.stages) or self.deletion is not None

    @property
    def randomisation_verdict(self) -> str | None:
        """Whether the map survived the fully randomised model here: "failed" when it still ranks
        pixels much as before (mean rho at or above RANDOMISATION_FAILS), else "passed"."""
        last = self.stages[-1].rho if self.stages else None
        if last is None:
            return None
        return "failed" if last >= RANDOMISATION_FAILS else "passed"

    @property
    def unguided(self) -> int:
        return self.facts.unguided


RANDOMISATION_FAILS = 0.5  # rank correlation with the randomised model's map that counts as no change


@dataclass(frozen=True)
class SaliencyRow:
    method: SaliencyMethod  # its name, title and renderings
    metrics: list[SaliencyMetrics]
    cells: Grid


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def saliency_metrics(model: str, mine: Sequence[Artifact]) -> SaliencyMetrics:
    facts = mine[0].meta
    stages = []
    for index, stage in enumerate(facts.randomisation or ()):
        rhos = [a.meta.randomisation[index].spearman for a in mine]
        stages.append(Stage(stage.layers, mean([r for r in rhos if r is not None])))
    deletion = mean([a.meta.deletion_auc for a in mine if a.meta.deletion_auc is not None])
    return SaliencyMetrics(model, stages, deletion, facts)


def view(manifest: Manifest, artifacts: Sequence[Artifact]) -> dict[str, Any]:
    """One row per method (in the registry's order), its metrics per model; the class explained."""
    rows = []
    for method in METHODS.values():
        shown = [a for a in artifacts if a.variant == method.name]
        if not shown:
            continue
        metrics = [saliency_metrics(m.name, mine) for m in manifest.models
                   if (mine := [a for a in shown if a.model == m.name])]
        rows.append(SaliencyRow(method, metrics, Grid(shown)))
    return {"rows": rows, "explained": Grid(artifacts), "roles": SaliencyRoles}
