"""What the saliency page shows: a row per method with its sanity metrics per model, and the class
each map explains. Torch-free (``shared_view``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from markupsafe import Markup

from reportgen.gallery import formats
from reportgen.core.artifacts import Artifact, ImageInfo, Manifest
from reportgen.attribution.methods import METHODS, SaliencyMethod
from reportgen.core.meta import SaliencyMeta, SaliencyRoles
from reportgen.techniques.shared_view import Grid, mean, meta_of


@dataclass(frozen=True)
class Stage:
    layers: int  # how many top layers were randomised
    rho: float | None  # mean Spearman correlation over the images (None: no image had one)
    last: bool = False  # every layer randomised

    @property
    def rho_text(self) -> str:
        return "\u2013" if self.rho is None else formats.measure(self.rho, 2)

    @property
    def note(self) -> str:
        return f"top {self.layers} layers random" + (" (all)" if self.last else "")


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

    @property
    def deletion_text(self) -> str:
        return "" if self.deletion is None else formats.measure(self.deletion, 2)

    @property
    def completeness_gap(self) -> str:
        gap = self.facts.ig_completeness_gap
        return "" if gap is None else formats.measure(gap, 2)

    @property
    def cam_layout(self) -> str:
        """How the CAM layer's map was read where it is not channels-first."""
        layout = self.facts.cam_layout
        return "" if not layout else "tokens read as a grid" if layout == "tokens" else "channels-last"

    def warnings(self, method: SaliencyMethod) -> list[str]:
        """What may make this model's maps of ``method`` mislead."""
        facts, found = self.facts, []
        if facts.cam_note and method.averages_cam_gradient:
            found.append(f"Grad-CAM may mislead here: {facts.cam_note}")
        if self.unguided > 0 and method.modifies_relus:
            found.append(f"{facts.unguided} activation(s) left unguided ({facts.unguided_modules} module(s), "
                         f"{facts.unguided_calls} functional call(s) per forward): gradients pass them unchanged")
        return found


RANDOMISATION_FAILS = 0.5  # rank correlation with the randomised model's map that counts as no change


@dataclass(frozen=True)
class SaliencyRow:
    method: SaliencyMethod  # its name, title and renderings
    metrics: list[SaliencyMetrics]
    cells: Grid


def saliency_metrics(model: str, mine: Sequence[Artifact]) -> SaliencyMetrics:
    metas = [meta_of(a, SaliencyMeta) for a in mine]
    facts = metas[0]
    cascade = facts.randomisation or ()
    stages = []
    for index, stage in enumerate(cascade):
        rhos = [m.randomisation[index].spearman for m in metas if m.randomisation]
        stages.append(Stage(stage.layers, mean([r for r in rhos if r is not None]), index == len(cascade) - 1))
    deletion = mean([m.deletion_auc for m in metas if m.deletion_auc is not None])
    return SaliencyMetrics(model, stages, deletion, facts)


GUIDE = Markup("""Every map explains one class, named under each image: the class pinned in
<code>labels.json</code>, else the model's top-1 prediction.
<strong>&rho;</strong> is the Spearman rank correlation between a method's map and the same method's map
after the model's weights are randomised from the top layer down (Adebayo et al. 2018), averaged over
the images: a high &rho; means the map hardly depends on what the model learned &mdash; it shows the
image more than the model (guided backprop and guided Grad-CAM are known to fail this test).
A method marked <em>fails randomisation in the literature</em> was shown by Adebayo et al. to give nearly
the same map for a trained and a randomised model; the &rho; measured here says whether it did so for
this model (<em>failed here</em>: &rho; &ge; 0.5 with every layer randomised). """)
FAITHFULNESS_LINK = Markup("""The
<a href="faithfulness.html">faithfulness page</a> scores every method beside a random and a centred map. """)
GUIDE_END = Markup("""<strong>Deletion</strong> is the area under the class probability as the most salient pixels are removed
first (Petsiuk et al. 2018): lower is better.
DeconvNet passes gradients back through each ReLU by their own sign alone, never looking at the
forward pass: in a network without max-pooling (EfficientNet-Lite, for one) its map is therefore the
same for every image, a known property of the method, not a fault of the picture.""")


@dataclass(frozen=True)
class ExplainedClass:
    label: str  # "3 · thing 3"
    detail: str  # its probability and where the class came from


@dataclass(frozen=True)
class SaliencyView:
    rows: list[SaliencyRow]
    explained: Grid
    roles: type[SaliencyRoles]
    guide: Markup  # what the page's numbers mean

    def explained_class(self, model: str, image: str) -> ExplainedClass | None:
        shown = self.explained.get(model, image)
        if shown is None:
            return None
        meta = meta_of(shown, SaliencyMeta)
        return ExplainedClass(f"{meta.class_index} \u00b7 {meta.class_name}",
                              f"p = {formats.probability(meta.probability)}, {meta.class_source}")

    @staticmethod
    def boxes(image: ImageInfo) -> list[str]:
        """Each box of boxes.json as the style that places it over the picture (in percent of its size)."""
        def share(value: float, whole: int) -> float:
            return round(100 * value / whole, 2)
        return [f"left: {share(x0, image.width)}%; top: {share(y0, image.height)}%; "
                f"width: {share(x1 - x0, image.width)}%; height: {share(y1 - y0, image.height)}%"
                for x0, y0, x1, y1 in image.boxes]


def view(manifest: Manifest, artifacts: Sequence[Artifact]) -> SaliencyView:
    """One row per method (in the registry's order), its metrics per model; the class explained."""
    rows = []
    for method in METHODS.values():
        shown = [a for a in artifacts if a.variant == method.name]
        if not shown:
            continue
        metrics = [saliency_metrics(m.name, mine) for m in manifest.models
                   if (mine := [a for a in shown if a.model == m.name])]
        rows.append(SaliencyRow(method, metrics, Grid(shown)))
    faithfulness = any(s.name == "faithfulness" for s in manifest.sections)
    guide = GUIDE + (FAITHFULNESS_LINK if faithfulness else "") + GUIDE_END
    return SaliencyView(rows, Grid(artifacts), SaliencyRoles, guide)
