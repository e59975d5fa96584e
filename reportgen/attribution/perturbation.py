"""Attributions that perturb the input and watch the class score: Gradient SHAP (expected
gradients, Erion et al. 2021, as Captum's ``GradientShap``), RISE (Petsiuk et al. 2018) and
occlusion (Zeiler & Fergus 2014, as Captum's ``Occlusion``). RISE and occlusion only run
forwards, ``batch_size`` masked copies of an image at a time, in ``inference_mode``. Every random
draw comes from a CPU generator seeded per image, so an image's map does not depend on the
batch it is in or on the device. Torch is imported on first use: the plan counts occlusion's
squares with ``window_starts``."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Sequence

from reportgen.core.lazy import F, torch

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ShapDraws:
    """Per sample (image-major rows, ``samples`` per image): its baseline, the noise added to the
    input, and where on the straight line from the baseline to the noisy input the gradient is taken."""

    baselines: torch.Tensor  # (N * samples) x C x H x W
    noise: torch.Tensor  # (N * samples) x C x H x W
    alphas: torch.Tensor  # N * samples, in [0, 1)


def shap_draws(inputs: torch.Tensor, black: torch.Tensor, white: torch.Tensor, stdevs: Sequence[float], samples: int,
               seeds: Sequence[int]) -> ShapDraws:
    """Each image's draws from its own seeded generator: baselines of uniform random pixels
    (between the inputs' ``black`` and ``white``, 1 x C x 1 x 1: every colour equally likely, as
    no training set is at hand to draw from), Gaussian noise of spread ``stdevs`` (one per image)
    and the path positions."""
    baselines, noise, alphas = [], [], []
    shape = (samples, *inputs.shape[1:])
    for stdev, seed in zip(stdevs, seeds):
        generator = torch.Generator().manual_seed(int(seed))
        baselines.append(torch.rand(shape, generator=generator))
        noise.append(torch.randn(shape, generator=generator) * torch.tensor(float(stdev)))
        alphas.append(torch.rand(samples, generator=generator))
    pixels = torch.cat(baselines).to(inputs.device, inputs.dtype)
    return ShapDraws(black + pixels * (white - black), torch.cat(noise).to(inputs.device, inputs.dtype),
                     torch.cat(alphas).to(inputs.device, inputs.dtype))


def gradient_shap(module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, draws: ShapDraws,
                  batch_size: int) -> torch.Tensor:
    """Mean over each image's samples of (noisy input - baseline) x the gradient at a random point
    between them: an Integrated Gradients whose baseline and path position are sampled."""
    from reportgen.attribution.paths import batched_gradients

    samples = len(draws.alphas) // len(inputs)
    noisy = inputs.repeat_interleave(samples, dim=0) + draws.noise
    alpha = draws.alphas.view(-1, *[1] * (inputs.dim() - 1))
    points = alpha * noisy + (1 - alpha) * draws.baselines
    gradients = batched_gradients(module, points, targets.repeat_interleave(samples), batch_size)
    return ((noisy - draws.baselines) * gradients).view(len(inputs), samples, *inputs.shape[1:]).mean(dim=1)


@dataclass(frozen=True)
class RiseMasks:
    """Petsiuk et al.'s masks before upsampling: a ``cells`` x ``cells`` grid of kept (1) and
    hidden (0) cells per mask, and the shift of its upsampled copy (pixels, below one cell)."""

    grids: torch.Tensor  # masks x cells x cells, 0. or 1.
    shifts: torch.Tensor  # masks x 2, (down, right)
    keep: float  # the probability of a cell being kept


def rise_masks(count: int, cells: int, keep: float, size: tuple[int, int], seed: int) -> RiseMasks:
    """``count`` masks for an input of ``size`` (height, width) from one seeded generator."""
    generator = torch.Generator().manual_seed(int(seed))
    grids = (torch.rand((count, cells, cells), generator=generator) < keep).float()
    cell = [math.ceil(side / cells) for side in size]
    shifts = torch.stack([torch.randint(0, side, (count,), generator=generator) for side in cell], dim=1)
    return RiseMasks(grids, shifts, keep)


def upsampled(masks: RiseMasks, rows: slice, size: tuple[int, int]) -> torch.Tensor:
    """Masks ``rows`` at ``size``: each grid upsampled bilinearly to one cell more than ``size``
    covers, then cropped at its shift, so that cell borders fall anywhere (the paper's smooth masks)."""
    height, width = size
    cells = masks.grids.shape[1]
    cell_h, cell_w = math.ceil(height / cells), math.ceil(width / cells)
    grown = F.interpolate(masks.grids[rows, None], size=((cells + 1) * cell_h, (cells + 1) * cell_w),
                          mode="bilinear", align_corners=False)[:, 0]
    return torch.stack([grid[down : down + height, right : right + width]
                        for grid, (down, right) in zip(grown, masks.shifts[rows].tolist())])


def rise(module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, masks: Sequence[RiseMasks],
         batch_size: int) -> torch.Tensor:
    """N x 1 x H x W: per image, the masks weighted by the explained class's probability on the
    input times each mask, summed, over (number of masks x ``keep``): the expected probability
    given that a pixel is kept. Masked pixels are 0, the dataset's mean colour."""
    size = (inputs.shape[2], inputs.shape[3])
    maps = []
    with torch.inference_mode():
        for image, target, mine in zip(inputs, targets.tolist(), masks):
            total = torch.zeros(size, dtype=inputs.dtype, device=inputs.device)
            count = len(mine.grids)
            for start in range(0, count, batch_size):
                chunk = upsampled(mine, slice(start, start + batch_size), size).to(inputs.device, inputs.dtype)
                probability = module(image[None] * chunk[:, None]).softmax(dim=1)[:, target]
                total += (probability[:, None, None] * chunk).sum(dim=0)
            maps.append(total / (count * mine.keep))
    return torch.stack(maps)[:, None]


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Where a window starts along one side, as Captum's ``Occlusion`` places it: every ``stride``
    pixels until one reaches the end (the last one may be cut by the border)."""
    return [step * stride for step in range(math.ceil((length - window) / stride) + 1)]


def windows(size: tuple[int, int], window: int, stride: int) -> list[tuple[int, int]]:
    """(top, left) of every occluding square over an input of ``size``, row-major."""
    return [(top, left) for top in window_starts(size[0], window, stride) for left in window_starts(size[1], window, stride)]


def occluded(image: torch.Tensor, places: Sequence[tuple[int, int]], window: int) -> Iterator[torch.Tensor]:
    """Copies of ``image`` (C x H x W), each with one square set to 0 (the dataset's mean colour)."""
    for top, left in places:
        copy = image.clone()
        copy[:, top : top + window, left : left + window] = 0
        yield copy


def occlusion(module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, window: int, stride: int,
              batch_size: int) -> torch.Tensor:
    """N x 1 x H x W: per pixel, the mean drop of the explained class's probability over the
    squares covering it (negative where hiding it raised the probability)."""
    size = (inputs.shape[2], inputs.shape[3])
    places = windows(size, window, stride)
    maps = []
    with torch.inference_mode():
        whole = module(inputs).softmax(dim=1).gather(1, targets[:, None])[:, 0]
        for image, target, reference in zip(inputs, targets.tolist(), whole):
            total = torch.zeros(size, dtype=inputs.dtype, device=inputs.device)
            covered = torch.zeros(size, dtype=inputs.dtype, device=inputs.device)
            for start in range(0, len(places), batch_size):
                chunk = places[start : start + batch_size]
                drops = reference - module(torch.stack(list(occluded(image, chunk, window)))).softmax(dim=1)[:, target]
                for (top, left), drop in zip(chunk, drops):
                    total[top : top + window, left : left + window] += drop
                    covered[top : top + window, left : left + window] += 1
            maps.append(total / covered)
    return torch.stack(maps)[:, None]
