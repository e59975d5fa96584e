"""Deep Dream's update as a torch optimiser, so the ascent loop runs it as it runs Adam.

A raw gradient of an activation with respect to a photo is mostly pixel-level noise, and its
scale varies by orders of magnitude between layers and images. The classic DeepDream step blurs
the gradient and divides it by its spread, so every step changes the picture by the same amount,
in broad strokes.
"""
from __future__ import annotations

import math
from typing import Iterable

import torch
import torch.nn.functional as F

SMOOTHING_WIDTHS = (0.5, 1.0, 2.0)  # the Gaussians averaged, in multiples of the step's sigma


class SmoothedStep(torch.optim.Optimizer):
    """Each parameter (NCHW) moves against its gradient by ``step_size`` times the gradient blurred
    by Gaussians of 0.5, 1 and 2 x sigma px, averaged, and divided by its standard deviation per
    image. Sigma grows from 1x to 2x ``smoothing`` over ``steps`` updates (0: no blur): the first
    steps add detail at the image's scale, the last ones strengthen the larger forms instead of
    piling up grain."""

    def __init__(self, params: Iterable[torch.Tensor], step_size: float, smoothing: float, steps: int):
        super().__init__(params, {"step_size": step_size, "smoothing": smoothing, "steps": steps})

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            raise ValueError("SmoothedStep takes no closure")
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                state = self.state[parameter]
                done = state.get("step", 0)
                sigma = group["smoothing"] * (1 + done / max(1, group["steps"] - 1))
                gradient = parameter.grad
                if sigma > 0:
                    gradient = sum(gaussian_blur(gradient, sigma * width) for width in SMOOTHING_WIDTHS) / 3
                spread = gradient.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
                parameter -= group["step_size"] / spread * gradient
                state["step"] = done + 1


def gaussian_blur(batch: torch.Tensor, sigma: float) -> torch.Tensor:
    """NCHW blurred per channel by a separable Gaussian of ``sigma`` px (reflected borders)."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=batch.dtype, device=batch.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = batch.shape[1]
    padded = F.pad(batch, (radius, radius, radius, radius), mode="reflect") if min(batch.shape[-2:]) > radius \
        else F.pad(batch, (radius, radius, radius, radius), mode="replicate")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
