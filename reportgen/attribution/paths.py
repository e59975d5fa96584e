"""Attributions that average many vanilla gradients: SmoothGrad (Smilkov et al. 2017) over noisy
copies of the input, and Integrated Gradients (Sundararajan et al. 2017) along the straight path
from a baseline. Every copy of every image goes through the model in batches of ``batch_size``."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from reportgen.attribution.gradients import class_scores


def batched_gradients(module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Vanilla input gradients of each row's target logit, computed ``batch_size`` rows at a time."""
    pieces = []
    for start in range(0, len(inputs), batch_size):
        x = inputs[start : start + batch_size].detach().clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(class_scores(module(x), targets[start : start + batch_size]), [x])
        pieces.append(gradient)
    return torch.cat(pieces)


def noise_spread(inputs: torch.Tensor, fraction: float) -> list[float]:
    """Per image, ``fraction`` of its value range: the noise's standard deviation (Smilkov et al.)."""
    return ((inputs.flatten(1).amax(dim=1) - inputs.flatten(1).amin(dim=1)) * fraction).tolist()


def smoothgrad_noise(inputs: torch.Tensor, stdevs: Sequence[float], samples: int, seeds: Sequence[int]) -> torch.Tensor:
    """(N * samples) x C x H x W Gaussian noise, image-major, each image from its own seeded generator
    (so an image's map does not depend on the batch it is in). Drawn in float32 like Captum's, by
    the CPU's generator on every device: a GPU's draws other numbers from the same seed."""
    draws = []
    for stdev, seed in zip(stdevs, seeds):
        generator = torch.Generator().manual_seed(int(seed))
        noise = torch.randn((samples, *inputs.shape[1:]), generator=generator)
        draws.append(noise * torch.tensor(float(stdev)))
    return torch.cat(draws).to(inputs.device, inputs.dtype)


def smoothgrad(
    module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, noise: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """Mean vanilla gradient over the noisy copies ``inputs`` + ``noise`` (image-major noise rows)."""
    samples = len(noise) // len(inputs)
    noisy = inputs.repeat_interleave(samples, dim=0) + noise
    gradients = batched_gradients(module, noisy, targets.repeat_interleave(samples), batch_size)
    return gradients.view(len(inputs), samples, *inputs.shape[1:]).mean(dim=1)


def gauss_legendre(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points in [0, 1] and their weights: exact for polynomials of degree < 2 * steps (Captum's default)."""
    points, weights = np.polynomial.legendre.leggauss(steps)
    return 0.5 * (points + 1), 0.5 * weights


def integrated_gradients(
    module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, baseline: torch.Tensor, steps: int, batch_size: int
) -> torch.Tensor:
    """(inputs - baseline) x the path integral of the gradient, by Gauss-Legendre quadrature."""
    baseline = baseline.expand_as(inputs)
    alphas, weights = gauss_legendre(steps)
    alpha = torch.tensor(alphas, dtype=inputs.dtype, device=inputs.device).view(-1, 1, 1, 1, 1)
    path = (baseline[None] + alpha * (inputs - baseline)[None]).flatten(0, 1)  # step-major
    gradients = batched_gradients(module, path, targets.repeat(steps), batch_size).view(steps, *inputs.shape)
    weight = torch.tensor(weights, dtype=inputs.dtype, device=inputs.device).view(-1, 1, 1, 1, 1)
    return (gradients * weight).sum(dim=0) * (inputs - baseline)


def completeness_gap(
    module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, baseline: torch.Tensor, attribution: torch.Tensor
) -> torch.Tensor:
    """|sum(attribution) - (f(x) - f(baseline))| per image: IG's completeness axiom, as a check on steps."""
    with torch.inference_mode():
        gain = module(inputs).gather(1, targets[:, None])[:, 0] - module(baseline.expand_as(inputs)).gather(1, targets[:, None])[:, 0]
    return (attribution.flatten(1).sum(dim=1) - gain).abs()
