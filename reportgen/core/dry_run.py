"""``reportgen build --dry-run``: what a build would do, from its first phase alone (the plan, with
cards sketched where none is cached): the work per model and technique, the cache's share of it,
the counted GFLOP of the rest at the budget's rate, and what is skipped or not ready."""
from __future__ import annotations

from dataclasses import dataclass

from reportgen.core.artifacts import Skip
from reportgen.core.pipeline import make_plan
from reportgen.interface.config import BuildConfig
from reportgen.pictures.images import Skipped


@dataclass(frozen=True)
class PlannedWork:
    """One model's work of one technique: its artifacts (``jobs``), how many the cache holds, and
    the counted GFLOP of the rest (``Technique.gflop``), in seconds at the budget's rate."""

    model: str
    technique: str
    jobs: int
    cached: int
    gflop: float

    @property
    def seconds(self) -> float:
        from reportgen.core.budget import RATE_GFLOPS

        return self.gflop / RATE_GFLOPS


@dataclass(frozen=True)
class DryRun:
    """What a build would do: the work per model and technique, what it would skip and why, and
    per model what is not ready (its card only sketched, its weights still to download)."""

    work: list[PlannedWork]
    skipped: list[Skipped]
    unsupported: list[Skip]
    notes: list[str]

    def summary(self) -> str:
        jobs, cached = sum(w.jobs for w in self.work), sum(w.cached for w in self.work)
        gflop = sum(w.gflop for w in self.work)
        return (f"{jobs} artifacts: {cached} cached, {jobs - cached} to compute, {gflop:,.0f} GFLOP "
                f"(about {_duration(sum(w.seconds for w in self.work))} at the budget's rate)")


def dry_run(config: BuildConfig) -> DryRun:
    """The plan of a build, without weights, arithmetic or writes (``make_plan(dry=True)``)."""
    from reportgen.models import checkpoints_dir
    from reportgen.models.weights import Checkpoint

    plan = make_plan(config, dry=True)
    work = []
    for model in config.models:
        for technique in plan.techniques:
            mine = [item for item in plan.planned if item.model == model and item.technique is technique]
            if not mine:
                continue
            todo = [item.request for item in mine if item.key not in plan.entries]
            gflop = technique.gflop(plan.params[technique.name], plan.cards[model], todo) if todo else 0.0
            work.append(PlannedWork(model, technique.name, len(mine), len(mine) - len(todo), gflop))
    notes = [f"{name}: no card in the cache; planned from a card sketched on the meta device (the build "
             "probes the model)" for name in plan.sketched]
    for name in dict.fromkeys(item.model for item in plan.misses):
        card = plan.cards[name]
        checkpoint = Checkpoint(name, card.weights_url) if card.weights == "pretrained" and card.weights_url else None
        if checkpoint is not None and not checkpoint.present:
            notes.append(f"{name}: pretrained weights not in {checkpoints_dir()}; the build downloads "
                         f"{checkpoint.path.name} (`reportgen weights fetch {name}`)")
    return DryRun(work, plan.skipped, plan.unsupported, notes)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"
