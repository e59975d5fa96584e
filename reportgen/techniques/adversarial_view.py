"""What the fooling images page shows: per input, each model's perturbed photo and amplified
perturbation per goal, with the class it now gets and the budget it took. Torch-free (``shared_view``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from markupsafe import Markup

from reportgen.gallery import formats
from reportgen.core.artifacts import Artifact, Manifest
from reportgen.core.meta import AdversarialMeta, AdversarialRoles
from reportgen.techniques.shared_view import Grid, meta_of

GOALS = {"untargeted": "any other class", "targeted": "a chosen class"}  # goal -> what it aims at, in the pages' order
ATTACKS = {"pgd": "PGD", "fgsm": "FGSM"}


def goal_title(artifact: Artifact) -> str:
    """A goal's row: what it aims at, and the attack."""
    meta = meta_of(artifact, AdversarialMeta)
    return f"{GOALS.get(meta.goal, meta.goal)} ({ATTACKS.get(meta.attack, meta.attack)})"


def epsilon(levels: int) -> Markup:
    return Markup("&epsilon; = {}/255").format(levels)


def outcome(artifact: Artifact) -> Markup:
    """The class the perturbed photo gets, its probability and the budget; or where it held."""
    meta = meta_of(artifact, AdversarialMeta)
    seen = Markup("<strong>{}</strong> (p = {})").format(meta.top1_name, formats.probability(meta.top1_probability))
    if meta.fooled and meta.epsilon == 0:
        return Markup("already {} without a change").format(seen)
    if meta.fooled:
        return Markup("&rarr; {} at {}").format(seen, epsilon(meta.epsilon))
    aim = Markup(" into {}").format(meta.target_name) if meta.goal == "targeted" else ""
    return Markup("not fooled{} up to {}; top-1 there: {}").format(aim, epsilon(meta.epsilon), seen)


def original(artifact: Artifact) -> Markup:
    """The class the model gives the unperturbed photo at its input size (and the target)."""
    meta = meta_of(artifact, AdversarialMeta)
    text = Markup("photo: {} (p = {})").format(meta.original_name, formats.probability(meta.original_probability))
    if meta.target_name is not None:
        text += Markup(" &middot; target: {}").format(meta.target_name)
    return text


@dataclass(frozen=True)
class AdversarialView:
    attacks: Grid
    goals: list[str]  # the goals shown, in the pages' order
    roles: type[AdversarialRoles]

    def of(self, model: str, image: str, goal: str) -> Artifact | None:
        return next((a for a in self.attacks.every(model, image) if a.variant == goal), None)

    def title(self, artifact: Artifact) -> str:
        return goal_title(artifact)

    def caption(self, artifact: Artifact) -> Markup:
        return outcome(artifact)

    def original(self, artifact: Artifact) -> Markup:
        return original(artifact)


def view(manifest: Manifest, artifacts: Sequence[Artifact]) -> AdversarialView:
    """A block per input: per model, a row per goal (perturbed photo, amplified perturbation)."""
    shown = {a.variant for a in artifacts}
    return AdversarialView(Grid(artifacts), [goal for goal in GOALS if goal in shown], AdversarialRoles)
