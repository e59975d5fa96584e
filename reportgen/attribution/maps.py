"""Every saliency method of one model on one batch of images, sharing work where methods can: one
forward pass gives every gradient rule's input gradient and the Grad-CAM map; then each method
(``attribution.methods``) makes its map from them (SmoothGrad and Integrated Gradients run their
own batched passes, and so do attribution.perturbation's). Also the sanity metrics, which re-run the same methods."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from reportgen.attribution import cam, sanity
from reportgen.attribution.gradients import shared_pass
from reportgen.attribution.methods import Batch, chosen


@dataclass(frozen=True)
class Settings:
    cam_layer: str | None = None
    smoothgrad_noise: float = 0.15  # noise spread as a fraction of each input's value range
    smoothgrad_samples: int = 16
    ig_steps: int = 16
    batch_size: int = 8
    # The CAM layer's output (and its gradient) as N x K x h x w, when the layer is channels-last or
    # a token sequence (models.layout); None: already channels-first.
    cam_view: Callable[[torch.Tensor], torch.Tensor] | None = None
    # The most CAM-layer channels Score-CAM and Ablation-CAM evaluate per image, one forward each
    # (the strongest ones: cam.strongest_channels); 0: every channel.
    cam_channels: int = 0
    gradshap_samples: int = 16
    gradshap_noise: float = 0.0  # as smoothgrad_noise
    rise_masks: int = 1000
    rise_cells: int = 7  # a mask's grid of cells per side
    rise_keep: float = 0.5  # the probability of a cell being kept
    occlusion_window: int = 32  # the square's side, pixels of the model's input
    occlusion_stride: int = 16
    # The inputs' values of a black and of a white pixel (1 x C x 1 x 1, the model's normalisation
    # of 0 and 1); None: the inputs are pixels in [0, 1].
    pixels: tuple[torch.Tensor, torch.Tensor] | None = None

    def pixel_bounds(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(black, white) on the inputs' device and dtype."""
        black, white = self.pixels or (torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1))
        return black.to(inputs.device, inputs.dtype), white.to(inputs.device, inputs.dtype)


@dataclass
class Maps:
    logits: torch.Tensor
    targets: torch.Tensor
    attributions: dict[str, torch.Tensor] = field(default_factory=dict)  # method -> N x C x H x W
    cam: torch.Tensor | None = None  # raw Grad-CAM at the layer's resolution, N x h x w
    unguided_modules: int = 0
    functional_calls: int = 0
    facts: dict[str, list[dict]] = field(default_factory=dict)  # method -> per image, its own meta fields
    # method -> what it raised: a failing method loses only its own maps, the others are kept
    failures: dict[str, Exception] = field(default_factory=dict)

    def facts_of(self, method: str, index: int) -> dict:
        """What ``method`` reported for image ``index`` beyond the shared meta (nothing: {})."""
        return self.facts[method][index] if method in self.facts else {}

    def importance(self, method: str) -> torch.Tensor:
        """N x H x W: what the sanity metrics rank (Grad-CAM upsampled, others max |value| over channels)."""
        return sanity.importance(self.attributions[method])


def compute(
    module: nn.Module,
    inputs: torch.Tensor,
    pinned: Sequence[int | None],
    methods: Sequence[str],
    settings: Settings,
    baseline: torch.Tensor,
    noise_seeds: Sequence[int],
) -> Maps:
    """All ``methods`` (names) for a batch; ``pinned`` classes (None = top-1); ``baseline`` for IG.
    A method that raises is left out of ``attributions`` and its error kept in ``failures``."""
    selected = chosen(methods)
    wants_cam = any(method.uses_cam for method in selected)
    if wants_cam and not settings.cam_layer:
        raise ValueError("Grad-CAM needs a layer")
    rules = list(dict.fromkeys(rule for method in selected for rule in method.rules))
    shared = shared_pass(module, inputs, pinned, rules, settings.cam_layer if wants_cam else None)
    maps = Maps(shared.logits, shared.targets, unguided_modules=shared.unguided_modules,
                functional_calls=shared.functional_calls)
    if wants_cam:
        activation, gradient = shared.activation, shared.activation_gradient
        assert activation is not None and gradient is not None, "shared_pass keeps the CAM layer's when given one"
        view = settings.cam_view or (lambda tensor: tensor)
        maps.cam = cam.grad_cam(view(activation), view(gradient))
    batch = Batch(module, inputs, shared, maps.cam, settings, baseline, noise_seeds)
    for method in selected:
        try:
            attribution = method.attribute(batch)
            facts = method.facts(batch, attribution)
        except Exception as error:  # noqa: BLE001 - any method's failure is reported by its caller
            maps.failures[method.name] = error
            continue
        maps.attributions[method.name] = attribution
        maps.facts[method.name] = facts
    return maps


@dataclass
class Sanity:
    deletion_auc: dict[str, list[float]] = field(default_factory=dict)  # method -> per image
    # method -> per cascade stage -> per image Spearman correlation (None: a constant map)
    randomisation: dict[str, list[list[float | None]]] = field(default_factory=dict)
    stages: list[tuple[int, str]] = field(default_factory=list)  # (layers randomised, down to layer)
    failures: dict[str, Exception] = field(default_factory=dict)  # method -> what it raised on a randomised copy


def deletion_aucs(module: nn.Module, inputs: torch.Tensor, maps: Maps, methods: Sequence[str], steps: int,
                  fill: torch.Tensor, frames: int = 32) -> dict[str, list[float]]:
    """Per method, each image's deletion AUC: its most salient pixels replaced by ``fill`` first;
    ``frames`` of them per forward."""
    aucs = {}
    for method in methods:
        curves = sanity.deletion_curves(module, inputs, maps.importance(method), maps.targets, steps, fill, frames)
        aucs[method] = [sanity.area_under(c) for c in curves]
    return aucs


def randomisation_checks(
    randomise: nn.Module,
    inputs: torch.Tensor,
    maps: Maps,
    methods: Sequence[str],
    settings: Settings,
    baseline: torch.Tensor,
    noise_seeds: Sequence[int],
    stages: int,
    seed: int,
    prepare: Callable[[nn.Module], nn.Module] = lambda randomised: randomised,
) -> Sanity:
    """Each map's rank correlation with the same method on a copy of ``randomise`` whose weights are
    re-drawn in ``stages`` cascading steps (the classes explained stay the same); ``prepare``
    turns each randomised copy into the faster equivalent the maps were made with."""
    result = Sanity()
    if stages < 1:
        return result
    original = {m: maps.importance(m).detach().cpu().numpy() for m in methods}
    pinned = maps.targets.tolist()
    for count, down_to, randomised in sanity.cascading_randomisation(randomise, stages, seed):
        again = compute(prepare(randomised), inputs, pinned, methods, settings, baseline, noise_seeds)
        result.stages.append((count, down_to))
        for method in methods:
            if method in again.failures:
                result.failures.setdefault(method, again.failures[method])
                continue
            changed = again.importance(method).detach().cpu().numpy()
            result.randomisation.setdefault(method, []).append(
                [sanity.spearman(a, b) for a, b in zip(original[method], changed)])
    return result
