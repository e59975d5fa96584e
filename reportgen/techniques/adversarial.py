"""Fooling images (Szegedy et al., 2014): the smallest change to a photo that changes what the model sees.

Computed at the model's input size, the photo resized whole and rounded to 8 bits as the page shows
it. For each input, a perturbation in an L-infinity ball of epsilon grey levels, epsilon raised
through ``epsilons`` until the model's top-1 class changes (``untargeted``) or becomes the
``target`` class (``targeted``): PGD (Madry et al., 2018: signed gradient steps, projected back
into the ball and the valid pixels after each) or, one step of the whole epsilon, FGSM (Goodfellow
et al., 2015). Every candidate is rounded to 8 bits and classified as saved, one picture per
forward, by the model as loaded (the gradients come from its batch-norm-folded copy): what the
page names is what the PNG gives. A change counts only when the new top-1 leads the runner-up by
``MARGIN`` logits, so that rounding elsewhere (another batch, another CPU) cannot undo it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

from reportgen.core.batching import batched
from reportgen.core.choices import ParamError, check_choice, check_choices
from reportgen.core.lazy import F, torch
from reportgen.core.meta import AdversarialMeta, AdversarialRoles
from reportgen.models.card import ModelError
from reportgen.techniques import adversarial_view
from reportgen.techniques.base import NO_CONTEXT, Request, Result, Technique, register, not_keyed, request_of

ATTACKS = ("pgd", "fgsm")
GOALS = ("untargeted", "targeted")
DEFAULT_TARGET = 52  # the classic scripts' first class (thunder snake); else the model's last class
MARGIN = 0.01  # logits by which the new top-1 must lead the runner-up to count


@dataclass(frozen=True)
class Params:
    attack: str = "pgd"  # pgd or fgsm
    goals: tuple[str, ...] = GOALS
    target: str = ""  # the targeted goal's class: an index or a category name; empty = 52, else the last class
    epsilons: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16)  # L-infinity budgets tried in turn, in grey levels
    steps: int = 10  # pgd: gradient steps per budget
    step_ratio: float = 2.5  # pgd: step = step_ratio * epsilon / steps (Madry et al.)
    batch_size: int = not_keyed(16, "how many go through the model at once")
    # Seconds one input's attacks may take on one model (reportgen/budget.py): the PGD steps shrink
    # until their counted cost (every budget tried) fits; 0: no limit
    budget_s: float = not_keyed(10.0, "the step count it shrinks is keyed")


@dataclass(frozen=True)
class Attack:
    """One input's attack: the goal (and its target class), the attack, the budgets tried in turn,
    the steps per budget and their size relative to the budget (None: FGSM's one step of it all)."""

    goal: str
    attack: str
    epsilons: tuple[int, ...]
    steps: int
    step_ratio: float | None
    target: int | None = None


@register
class Adversarial(Technique):
    """The smallest perturbation that changes the model's class, per (input, goal).

    Params: ``attack`` (pgd, fgsm), ``goals`` (untargeted, targeted), ``target`` (index or name;
    empty: 52 where the model has it, else its last class), ``epsilons`` (grey levels, tried in
    turn), ``steps`` and ``step_ratio`` (PGD), ``batch_size``, ``budget_s``.
    Meta: ``AdversarialMeta``: ``goal``, ``attack``, the photo's class (``original_index``,
    ``original_name``, ``original_probability``), the perturbed photo's (``top1_index``,
    ``top1_name``, ``top1_probability``), ``epsilon`` (grey levels), ``fooled``, ``steps``, and
    for the targeted goal ``target_index`` and ``target_name``.
    Roles: ``perturbed`` and ``perturbation`` (pictures, at the model's input size), ``features`` (raw array).
    """
    name = "adversarial"
    title = "Fooling images (adversarial examples)"
    classic = ("Szegedy et al. 2014, \u201cIntriguing properties of neural networks\u201d; Goodfellow et al. 2015 "
               "(FGSM); Madry et al. 2018 (PGD)")
    description = (
        "The smallest change to each photo, at most epsilon grey levels per pixel, that makes the model "
        "see another class (any other, or a chosen one): the perturbed photo as the model classified it, "
        "the change amplified to be seen, the new class and its probability. The budget is raised step "
        "by step until the class changes."
    )
    version = 1
    Params: TypeAlias = Params  # an alias, so that the methods' annotations can name it
    Meta = AdversarialMeta
    Roles = AdversarialRoles
    presets = {
        "quick": {"attack": "fgsm", "epsilons": (1, 2, 4, 8, 16)},
        "full": {"epsilons": (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32), "steps": 20, "budget_s": 40.0},
    }
    optimises = True
    # Chaotic by construction: the result sits on the decision boundary, so under other CPU kernels
    # another budget may be the first to cross it, with another class at another probability.
    chaotic_styles = ATTACKS

    def view(self, manifest, artifacts):
        return adversarial_view.view(manifest, artifacts)

    def variant_title(self, artifact):
        return adversarial_view.goal_title(artifact)

    def caption(self, artifact):
        return adversarial_view.outcome(artifact)

    def target_for(self, params: Params, card) -> int:
        """The targeted goal's class (a ModelError where the model has no such class)."""
        if params.target.strip():
            return card.class_index(params.target)
        return DEFAULT_TARGET if len(card.categories) > DEFAULT_TARGET else len(card.categories) - 1

    def plan(self, params, card, images, context=NO_CONTEXT):
        check_choice("adversarial attack", params.attack, ATTACKS)
        check_choices("adversarial goal", params.goals, GOALS)
        epsilons = tuple(sorted(set(params.epsilons)))
        if not epsilons or not all(1 <= level <= 255 for level in epsilons):
            raise ParamError(f"adversarial.epsilons: grey levels from 1 to 255, got {params.epsilons!r}")
        pgd = params.attack == "pgd"
        steps = sized_steps(params, card, len(epsilons)) if pgd else 1
        requests = []
        for goal in params.goals:
            target = None
            if goal == "targeted":
                try:
                    target = self.target_for(params, card)
                except ModelError as error:
                    requests.append(self.skip(card, goal, f"adversarial.target: {error}"))
                    continue
            attack = request_of(Attack, params, goal=goal, epsilons=epsilons, steps=steps,
                                step_ratio=params.step_ratio if pgd else None, target=target)
            requests += [Request(goal, attack, image) for image in images]
        return requests

    def gflop(self, params, card, requests):
        from reportgen.core.budget import BACKWARD

        return sum(len(request.args.epsilons) * request.args.steps * BACKWARD * card.gflops for request in requests)

    def compute(self, params, model, requests, progress, context=NO_CONTEXT):
        network = model.for_gradients()
        done = 0
        for batch in batched(requests, params.batch_size, key=lambda request: request.args):
            for request, result in zip(batch, _fool(model, network, batch)):
                yield request, result
                done += 1
                progress.tick(done, len(requests))


def sized_steps(params: Params, card, budgets: int) -> int:
    """PGD's steps per budget, shrunk (to at least 3) until one input's attacks, every budget tried,
    fit ``budget_s`` (reportgen/budget.py; each step a forward and a backward)."""
    from reportgen.core.budget import BACKWARD, scaled, share

    gflop = len(params.goals) * budgets * params.steps * BACKWARD * card.gflops
    return scaled(params.steps, share(params.budget_s, gflop), 3)


@dataclass
class Found:
    """An input's perturbed picture (uint8, at the model's input size), its budget, its logits."""

    epsilon: int
    picture: np.ndarray
    logits: np.ndarray
    fooled: bool


def _fool(model, network, batch: list[Request]) -> list[Result]:
    """The attack of ``batch`` (one Attack for all): every budget in turn for the inputs not yet fooled."""
    attack: Attack = batch[0].args
    photos = _uint8(model.to_tensor([request.image.pixels for request in batch if request.image is not None]))
    before = classify(model, photos)
    originals = before.argmax(1)
    found: list[Found | None] = [None] * len(batch)
    if attack.target is not None:
        for row in range(len(batch)):
            if _fooled(before[row], int(originals[row]), attack.target):
                found[row] = Found(0, photos[row], before[row], True)
    labels = np.full(len(batch), attack.target) if attack.target is not None else originals
    start = _pixels(photos, model.device)
    for epsilon in attack.epsilons:
        pending = [row for row, item in enumerate(found) if item is None or not item.fooled]
        if not pending:
            break
        pictures = _uint8(_perturb(model, network, start[pending], labels[pending], epsilon / 255, attack))
        logits = classify(model, pictures)
        for position, row in enumerate(pending):
            fooled = _fooled(logits[position], int(originals[row]), attack.target)
            found[row] = Found(epsilon, pictures[position], logits[position], fooled)
    return [_result(model, attack, photos[row], before[row], item) for row, item in enumerate(found) if item is not None]


def _perturb(model, network, photos, labels: np.ndarray, epsilon: float, attack: Attack):
    """PGD in the L-infinity ball of ``epsilon`` around ``photos`` ([0, 1]): ``attack.steps`` signed
    gradient steps of the cross-entropy, up for the photo's class, down for a target, each
    projected into the ball and [0, 1]; FGSM is one step of the whole epsilon."""
    size = epsilon if attack.step_ratio is None else attack.step_ratio * epsilon / attack.steps
    direction = -1.0 if attack.target is not None else 1.0
    classes = torch.as_tensor(labels, device=photos.device)
    low, high = (photos - epsilon).clamp(0, 1), (photos + epsilon).clamp(0, 1)
    pixels = photos.clone()
    for _ in range(attack.steps):
        pixels.requires_grad_(True)
        loss = F.cross_entropy(network(model.normalise(pixels)), classes, reduction="sum")
        (gradient,) = torch.autograd.grad(loss, pixels)
        pixels = torch.minimum(torch.maximum(pixels.detach() + direction * size * gradient.sign(), low), high)
    return pixels.detach()


def classify(model, pictures: np.ndarray) -> np.ndarray:
    """The logits of uint8 pictures as saved, by the model as loaded, one picture per forward (a
    batch's kernels could round differently from a reload's)."""
    with torch.inference_mode():
        return np.concatenate([model.module(model.inputs([picture])).float().cpu().numpy() for picture in pictures])


def _fooled(logits: np.ndarray, original: int, target: int | None) -> bool:
    """Whether the top-1 is the target (or any class but the original), leading by ``MARGIN``."""
    runner_up, top = np.argsort(logits, kind="stable")[-2:]
    if logits[top] - logits[runner_up] < MARGIN:
        return False
    return int(top) == target if target is not None else int(top) != original


def _uint8(pixels) -> np.ndarray:
    """NCHW [0, 1] -> uint8 NHWC, rounded: the pictures as saved."""
    return pixels.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _pixels(pictures: np.ndarray, device):
    """uint8 NHWC -> NCHW [0, 1] on ``device``."""
    return torch.from_numpy(pictures).permute(0, 3, 1, 2).float().div(255).to(device)


def amplified(photo: np.ndarray, picture: np.ndarray, epsilon: int) -> np.ndarray:
    """The perturbation, +-epsilon grey levels spread over the full range; mid-grey is no change."""
    change = picture.astype(np.float32) - photo.astype(np.float32)
    scale = 127.0 / epsilon if epsilon else 0.0
    return np.clip(np.round(128 + change * scale), 0, 255).astype(np.uint8)


def _result(model, attack: Attack, photo: np.ndarray, before: np.ndarray, found: Found) -> Result:
    card = model.card
    original, top1 = int(before.argmax()), int(found.logits.argmax())
    probabilities = _softmax(found.logits)
    with torch.inference_mode():
        features = model.features(model.inputs([found.picture]))[0]
    meta = AdversarialMeta(
        goal=attack.goal, attack=attack.attack,
        original_index=original, original_name=card.category(original),
        original_probability=float(_softmax(before)[original]),
        top1_index=top1, top1_name=card.category(top1), top1_probability=float(probabilities[top1]),
        epsilon=found.epsilon, fooled=found.fooled, steps=attack.steps,
        target_index=attack.target, target_name=None if attack.target is None else card.category(attack.target),
    )
    return Result(arrays={AdversarialRoles.FEATURES: features.astype(np.float32)},
                  images={AdversarialRoles.PERTURBED: found.picture,
                          AdversarialRoles.PERTURBATION: amplified(photo, found.picture, found.epsilon)},
                  meta=meta)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits.astype(np.float64) - logits.max())
    return shifted / shifted.sum()
