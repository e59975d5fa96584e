"""Input gradients under the three ReLU rules (vanilla, guided, DeconvNet) and the layer gradients
Grad-CAM needs, all from ONE forward pass: the activation override reads its rule at backward time,
so the graph is kept (``retain_graph``) and backpropagated once per rule."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from reportgen.core.choices import GRADIENT_RULES, check_choices
from reportgen.models.hooks import ActivationOverride, activation_override, capture


@dataclass
class SharedPass:
    logits: torch.Tensor  # N x classes, detached
    targets: torch.Tensor  # N, the class each map explains
    gradients: dict[str, torch.Tensor] = field(default_factory=dict)  # rule -> N x C x H x W
    activation: torch.Tensor | None = None  # the CAM layer's output, N x K x h x w (detached)
    activation_gradient: torch.Tensor | None = None  # its vanilla gradient
    unguided_modules: int = 0  # activation modules the override could not guide
    functional_calls: int = 0  # functional activation calls in the forward (unguidable too)


def resolve_targets(logits: torch.Tensor, pinned: Sequence[int | None]) -> torch.Tensor:
    """The pinned class where one is given, the top-1 prediction otherwise."""
    top1 = logits.argmax(dim=1)
    return torch.tensor([top1[i].item() if c is None else c for i, c in enumerate(pinned)], device=logits.device)


def class_scores(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sum of each image's target logit: its gradient is every image's own gradient (eval mode)."""
    return logits.gather(1, targets[:, None]).sum()


def shared_pass(
    module: nn.Module,
    inputs: torch.Tensor,
    pinned: Sequence[int | None],
    rules: Sequence[str],
    cam_layer: str | None = None,
) -> SharedPass:
    """One forward, then one backward per rule; the CAM layer's vanilla gradient rides along."""
    check_choices("gradient rules", rules, GRADIENT_RULES)
    backward_rules = list(dict.fromkeys(rules))
    if cam_layer and "vanilla" not in backward_rules:
        backward_rules.append("vanilla")
    # Vanilla gradients alone (or none: a perturbation method's targets) need no override: the
    # activations' own backward is faster than its Python one.
    guiding = set(backward_rules) - {"vanilla"}
    overridden = activation_override(module) if guiding else contextlib.nullcontext(ActivationOverride())
    with overridden as override, capture(module, [cam_layer] if cam_layer else []) as captured:
        x = inputs.detach().clone().requires_grad_(True)
        logits = module(x)
        result = SharedPass(logits.detach(), resolve_targets(logits.detach(), pinned))
        result.unguided_modules = len(override.unguided)
        result.functional_calls = override.functional_calls
        score = class_scores(logits, result.targets)
        activation = captured[cam_layer] if cam_layer else None
        for position, rule in enumerate(backward_rules):
            override.rule = rule
            wanted = [x, activation] if rule == "vanilla" and activation is not None else [x]
            grads = torch.autograd.grad(score, wanted, retain_graph=position < len(backward_rules) - 1)
            if rule in rules:
                result.gradients[rule] = grads[0]
            if activation is not None and len(grads) == 2:
                result.activation, result.activation_gradient = activation.detach(), grads[1]
    return result
