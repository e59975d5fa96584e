"""Random transforms applied before each forward of the robust style (Olah et al., 2017).

A picture that still excites the unit after being shifted, zoomed and turned a little cannot
rely on pixel-exact adversarial noise. Jitter, scale and rotation are fused into one affine
resampling (reflection at the borders, so the size never changes). One transform is drawn per
step from a seeded generator and shared by the whole batch, so an image's result does not depend
on which other images share its batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class RandomAffine:
    jitter: float = 0.05  # largest shift, as a fraction of the image side
    scale: tuple[float, float] = (0.9, 1.1)
    degrees: float = 10.0

    def draw(self, generator: torch.Generator) -> tuple[float, float, float, float]:
        """(shift x, shift y as fractions of the side, zoom, angle in radians), uniformly."""
        u = torch.rand(4, generator=generator, dtype=torch.float64).tolist()
        low, high = self.scale
        return ((2 * u[0] - 1) * self.jitter, (2 * u[1] - 1) * self.jitter,
                low + u[2] * (high - low), math.radians((2 * u[3] - 1) * self.degrees))

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return affine(images, *self.draw(generator))


def affine(images: torch.Tensor, shift_x: float, shift_y: float, zoom: float, angle: float) -> torch.Tensor:
    """Shift (fractions of the side), zoom and rotate NCHW images about their centre, size kept."""
    height, width = images.shape[-2:]
    cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
    # affine_grid works in [-1, 1] on both axes; the aspect terms keep the rotation rigid in pixels.
    theta = torch.tensor(
        [[cos, -sin * height / width, 2 * shift_x], [sin * width / height, cos, 2 * shift_y]],
        dtype=images.dtype, device=images.device,
    )
    grid = F.affine_grid(theta.expand(images.shape[0], 2, 3), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
