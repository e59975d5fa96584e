"""Image parameterisations: what the optimiser actually changes, and how it becomes an image.

Each returns the model's *normalised* input (zero = the dataset's mean colour), batched NCHW, so
that objectives, regularisers and rendering all work in one space:

- ``PixelImage``: the input values themselves (the naive method).
- ``PhotoImage``: a photo's values, kept between black and white after every update (Deep Dream).
- ``FourierImage``: a spectrum scaled by 1/frequency with colours decorrelated, squashed by a
  sigmoid into [0, 1] pixels (Olah et al., Distill 2017; lucent's ``fft_image`` + ``to_valid_rgb``).
  High frequencies start and stay small, which removes most of the adversarial noise.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import numpy as np
import torch

# ImageNet colour correlation, square root of its covariance (from lucid / lucent).
COLOUR_CORRELATION_SQRT = np.asarray(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32
)
COLOUR_CORRELATION = COLOUR_CORRELATION_SQRT / np.max(np.linalg.norm(COLOUR_CORRELATION_SQRT, axis=0))

Normalise = Callable[[torch.Tensor], torch.Tensor]


class Parameterisation(ABC):
    """What the ascent loop changes: ``parameters()`` for the optimiser, ``()`` for the image."""

    @abstractmethod
    def parameters(self) -> list[torch.Tensor]: ...

    @abstractmethod
    def __call__(self) -> torch.Tensor: ...

    def constrain(self) -> None:
        """Bring the parameters back into their valid set after an update; most have none."""

    @abstractmethod
    def narrow(self, keep: list[int]) -> None:
        """Keep only the images ``keep`` (batch indices), as fresh parameters: images that have
        finished leave the batch (optim.ascent moves the optimiser's state along)."""


class PixelImage(Parameterisation):
    """The normalised input is the parameter; it starts from ``start`` (NCHW, normalised)."""

    def __init__(self, start: torch.Tensor):
        self.values = start.detach().clone().requires_grad_(True)

    def parameters(self) -> list[torch.Tensor]:
        return [self.values]

    def __call__(self) -> torch.Tensor:
        return self.values

    def narrow(self, keep: list[int]) -> None:
        self.values = self.values.detach()[keep].requires_grad_(True)


class PhotoImage(PixelImage):
    """A photo's normalised values, clipped between ``low`` and ``high`` (the normalised black and
    white, per channel) at the start and after every update: a dream stays a valid picture."""

    def __init__(self, start: torch.Tensor, low: torch.Tensor, high: torch.Tensor):
        self.low, self.high = low, high
        super().__init__(self._clipped(start))

    def constrain(self) -> None:
        with torch.no_grad():
            self.values.copy_(self._clipped(self.values))

    def _clipped(self, values: torch.Tensor) -> torch.Tensor:
        return torch.maximum(torch.minimum(values, self.high), self.low)


class FourierImage(Parameterisation):
    """A decorrelated, frequency-scaled spectrum per image; all images start from one spectrum."""

    def __init__(self, count: int, height: int, width: int, normalise: Normalise, generator: torch.Generator,
                 device: torch.device, start_sd: float = 0.01, decay_power: float = 1.0):
        self.height, self.width = height, width
        self.normalise = normalise
        frequencies = np.sqrt(np.fft.fftfreq(height)[:, None] ** 2 + np.fft.rfftfreq(width)[None, :] ** 2)
        side = max(height, width)
        # 1 / f ** decay_power, equal to lucent's 1 / f at the lowest frequency whatever the power:
        # a steeper decay then damps the high frequencies without inflating the low ones.
        scale = side / np.maximum(frequencies * side, 1.0) ** decay_power
        self.scale = torch.tensor(scale, dtype=torch.float32, device=device)[None, None, :, :, None]
        start = torch.randn((1, 3, *frequencies.shape, 2), generator=generator) * start_sd
        self.spectrum = start.expand(count, -1, -1, -1, -1).clone().to(device).requires_grad_(True)
        self.colours = torch.tensor(COLOUR_CORRELATION.T, device=device)

    def parameters(self) -> list[torch.Tensor]:
        return [self.spectrum]

    def narrow(self, keep: list[int]) -> None:
        self.spectrum = self.spectrum.detach()[keep].requires_grad_(True)

    def __call__(self) -> torch.Tensor:
        spectrum = torch.view_as_complex((self.scale * self.spectrum).contiguous())
        image = torch.fft.irfftn(spectrum, s=(self.height, self.width), norm="ortho") / 4.0
        image = (image.permute(0, 2, 3, 1) @ self.colours).permute(0, 3, 1, 2)
        return self.normalise(torch.sigmoid(image))

