"""Random transforms applied to the image before each forward of the ascent loop.

Every transform maps (images, generator) to what the model sees, drawing from the seeded
generator: ``Roll`` (Deep Dream's jitter) and ``TransformStack`` (the robust style's).

``Roll`` wraps the image around by a few pixels, a fresh offset every step, so the network's
stride grid falls on a different place each time instead of printing itself on the dream as a
fine checkerboard.

``TransformStack`` follows Olah et al., Distill 2017. A picture that still excites the unit after
being padded, shifted, zoomed and turned a little cannot rely on pixel-exact adversarial noise, so
only what survives every transform grows: shapes, not grain. The stack is lucent's
``standard_transforms`` (pad with grey, jitter, a set of scales, small rotations, a second
jitter) followed by a resize to the size the model was trained at, so that a small canvas is
seen at the scale the network's units expect.

Each transform of the stack is an affine map of pixel coordinates, so the whole stack is composed
into one matrix and applied as one bilinear resampling: one pass instead of five, and no blur
accumulated by resampling five times. One draw per step, from a seeded generator, is shared by the
whole batch, so an image's result does not depend on which other images share its batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Roll:
    """Roll the batch by a random (y, x) offset of up to ``jitter`` px each way; 0: unchanged."""

    jitter: int

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.jitter <= 0:
            return images
        offsets = torch.randint(-self.jitter, self.jitter + 1, (2,), generator=generator)
        return torch.roll(images, (int(offsets[0]), int(offsets[1])), dims=(2, 3))


@dataclass(frozen=True)
class Draw:
    """One step's random choices."""

    offset: tuple[float, float]  # first jitter: (y, x) px cropped from the padded canvas's top-left
    zoom: float
    angle: float  # radians
    offset_after: tuple[float, float]  # second jitter, px
    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)  # colour shift: per-channel factor ...
    shift: tuple[float, float, float] = (0.0, 0.0, 0.0)  # ... and offset, in normalised units


@dataclass(frozen=True)
class TransformStack:
    """Pad ``pad`` px of ``fill`` (normalised value per channel, set by the caller), crop ``jitter``
    px at a random offset, zoom by a factor in ``scale``, rotate by up to ``degrees``, crop
    ``jitter_after`` px again, resample to ``view`` px on the shorter side (None: keep the size),
    then scale and shift each colour channel by up to ``colour`` (Ghiasi et al., 2022, "Plug-In
    Inversion": a picture whose class survives any colour cast cannot win by saturating colours).

    EfficientNet-Lite's depthwise convolutions respond to fine texture so readily that lucent's
    milder defaults (8 px jitter, 0.9-1.1 zoom, 10 degrees, no colour shift) leave its class
    models grainy: the defaults here are stronger."""

    pad: int = 12
    jitter: int = 8
    scale: tuple[float, float] = (0.9, 1.1)
    degrees: float = 10.0
    jitter_after: int = 4
    view: int | None = None
    colour: float = 0.0
    fill: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def draw(self, generator: torch.Generator) -> Draw:
        u = torch.rand(12, generator=generator, dtype=torch.float64).tolist()
        low, high = self.scale
        return Draw((u[0] * self.jitter, u[1] * self.jitter), low + u[2] * (high - low),
                    math.radians((2 * u[3] - 1) * self.degrees),
                    (u[4] * self.jitter_after, u[5] * self.jitter_after),
                    tuple(1 + (2 * v - 1) * self.colour for v in u[6:9]),
                    tuple((2 * v - 1) * self.colour for v in u[9:12]))

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        if self.view is None:
            return height, width
        shorter = min(height, width)
        return round(height * self.view / shorter), round(width * self.view / shorter)

    def matrix(self, draw: Draw, height: int, width: int) -> np.ndarray:
        """3x3 map from output pixel coordinates (x, y) to canvas pixel coordinates."""
        out_h, out_w = self.output_size(height, width)
        crop = np.array([width + 2 * self.pad - self.jitter, height + 2 * self.pad - self.jitter], dtype=np.float64)
        zoomed = crop * draw.zoom
        seen = zoomed - self.jitter_after
        cos, sin = math.cos(draw.angle), math.sin(draw.angle)
        centre = zoomed / 2
        steps = [
            _affine(np.diag([seen[0] / out_w, seen[1] / out_h]), draw.offset_after[::-1]),  # output -> rotated
            _affine(np.eye(2), centre) @ _affine(np.array([[cos, sin], [-sin, cos]]), (0, 0))
            @ _affine(np.eye(2), -centre),  # rotated -> zoomed (the inverse rotation)
            _affine(np.eye(2) / draw.zoom, (0, 0)),  # zoomed -> cropped
            _affine(np.eye(2), np.array(draw.offset[::-1]) - self.pad),  # cropped -> canvas
        ]
        total = np.eye(3)
        for step in steps:
            total = step @ total
        return total

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply(images, self.draw(generator))

    def apply(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        height, width = images.shape[-2:]
        out_h, out_w = self.output_size(height, width)
        to_canvas = self.matrix(draw, height, width)
        # affine_grid's normalised coordinates (align_corners=False): pixel = (q + 1) / 2 * size
        from_unit = np.array([[out_w / 2, 0, out_w / 2], [0, out_h / 2, out_h / 2], [0, 0, 1]])
        to_unit = np.array([[2 / width, 0, -1], [0, 2 / height, -1], [0, 0, 1]])
        theta = torch.tensor((to_unit @ to_canvas @ from_unit)[:2], dtype=images.dtype, device=images.device)
        grid = F.affine_grid(theta.expand(images.shape[0], 2, 3), [images.shape[0], images.shape[1], out_h, out_w],
                             align_corners=False)
        fill = torch.tensor(self.fill, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
        # zeros padding around (image - fill), plus fill: the border is the fill colour
        moved = F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill
        if draw.gain == (1.0, 1.0, 1.0) and draw.shift == (0.0, 0.0, 0.0):
            return moved
        gain = torch.tensor(draw.gain, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
        shift = torch.tensor(draw.shift, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
        return moved * gain + shift


def _affine(linear: np.ndarray, shift) -> np.ndarray:
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = shift
    return matrix
