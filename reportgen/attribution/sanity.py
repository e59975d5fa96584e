"""Sanity metrics for saliency maps.

- Model-parameter randomisation (Adebayo et al. 2018): re-draw the weights from the top layer down,
  cascading, and compare each method's map before and after by Spearman rank correlation. A map that
  stays the same (high correlation) does not depend on what the model learned.
- Deletion (Petsiuk et al. 2018, RISE): remove the most salient pixels first, in steps, and take the
  area under the class-probability curve. A faithful map makes the probability drop fast: lower is better.
"""
from __future__ import annotations

import copy
from typing import Iterator

import numpy as np
import torch
from torch import nn


def importance(attribution: torch.Tensor) -> torch.Tensor:
    """N x C x H x W attribution -> N x H x W pixel importance (max |value| over channels)."""
    return attribution.abs().amax(dim=1)


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 with ties sharing their average rank (as Spearman's rho needs)."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    average = (starts + ends - 1) / 2.0
    result = np.empty(len(values), dtype=np.float64)
    result[order] = np.repeat(average, ends - starts)
    return result


def spearman(first: np.ndarray, second: np.ndarray) -> float | None:
    """Spearman's rank correlation of two maps; None when either is constant (no ranking to compare)."""
    a, b = ranks(np.ravel(first)), ranks(np.ravel(second))
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / norm) if norm > 0 else None


def parameterised_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that own parameters directly (convolutions, norms, linear layers), input to output."""
    return [(name, m) for name, m in module.named_modules() if any(True for _ in m.parameters(recurse=False))]


def cascading_randomisation(module: nn.Module, stages: int, seed: int) -> Iterator[tuple[int, str, nn.Module]]:
    """Yield (layers randomised, topmost-down-to layer name, model) after each of ``stages`` cascade
    steps; the last step has every layer randomised. Works on one deep copy: the model passed in is
    never touched. Each re-drawn tensor keeps the mean and spread of the learned one, so activations
    neither vanish nor explode and only the learned structure is lost."""
    randomised = copy.deepcopy(module)
    layers = list(reversed(parameterised_layers(randomised)))
    generator = torch.Generator().manual_seed(seed)
    done = 0
    for stage in range(1, stages + 1):
        upto = max(1, round(len(layers) * stage / stages))
        for _name, layer in layers[done:upto]:
            for parameter in layer.parameters(recurse=False):
                spread = parameter.std().item() if parameter.numel() > 1 else 0.0
                mean = parameter.mean().item()
                drawn = parameter.data if parameter.data.is_contiguous() else torch.empty_like(
                    parameter.data, memory_format=torch.contiguous_format)
                flat = drawn.view(-1)
                for start, noise in standard_normal(flat.numel(), generator):
                    flat[start:start + len(noise)] = noise.mul_(spread).add_(mean)
                if drawn is not parameter.data:
                    parameter.data.copy_(drawn)
        done = upto
        yield done, layers[done - 1][0], randomised


NOISE_PIECE = 1 << 22  # float64 values drawn at a time (32 MB; a VGG16's first linear layer is 103 M)


def standard_normal(count: int, generator: torch.Generator) -> Iterator[tuple[int, torch.Tensor]]:
    """(offset, values): the float64 values of one ``torch.randn(count, generator=generator)``,
    drawn in pieces so a large layer never needs all of them at once. Torch's CPU normal fill
    turns uniforms into normals 16 at a time and redraws a short tail's last 16; so every piece
    but the last is a multiple of 16 long and the last is at least 16, and the values come out
    the same as in one call (tests/attribution/test_sanity.py)."""
    start = 0
    while start < count:
        size = count - start if count - start < NOISE_PIECE + 16 else NOISE_PIECE
        yield start, torch.randn(size, generator=generator, dtype=torch.float64)
        start += size


def deletion_curves(
    module: nn.Module,
    inputs: torch.Tensor,
    saliency: torch.Tensor,
    targets: torch.Tensor,
    steps: int,
    fill: torch.Tensor,
    batch_size: int = 32,
) -> torch.Tensor:
    """N x (steps + 1) target probabilities as the most salient pixels are replaced by ``fill``
    (0, 1/steps, ..., all of them). The frames go through the model ``batch_size`` at a time."""
    from reportgen.attribution.faithfulness import target_probabilities

    height, width = inputs.shape[2:]
    counts = torch.tensor(np.round(np.linspace(0, height * width, steps + 1)), device=inputs.device)
    frames = []
    for image, weights in zip(inputs, saliency):
        order = torch.argsort(weights.flatten(), descending=True, stable=True)
        position = torch.empty_like(order)
        position[order] = torch.arange(len(order), device=order.device)
        removed = (position[None] < counts[:, None]).view(steps + 1, 1, height, width)
        frames.append(torch.where(removed, fill.to(inputs.dtype).view(1, -1, 1, 1), image[None]))
    probabilities = target_probabilities(module, torch.cat(frames), targets.repeat_interleave(steps + 1), batch_size)
    return probabilities.view(len(inputs), steps + 1)


def area_under(curve: torch.Tensor) -> float:
    """Trapezoidal area under a curve sampled at evenly spaced fractions of [0, 1]."""
    values = curve.double().cpu().numpy()
    return float((values[:-1] + values[1:]).sum() / 2 / (len(values) - 1))
