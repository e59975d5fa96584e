"""Faithfulness metrics of saliency maps, scored beside two maps that know nothing of the model.

- Insertion and deletion (Petsiuk et al. 2018, RISE): pixels move, most important first, from one
  picture to another (deletion: the photo towards a blurred copy; insertion: the blurred copy
  towards the photo) and the class probability is read at evenly spaced fractions. Deletion's area
  under the curve is better low, insertion's better high.
- ROAD (Rong et al. 2022): a fraction of the pixels, most relevant first (MoRF) or least relevant
  first (LeRF), is removed and filled by noisy linear imputation, so the shape of the removed region
  does not tell the class. MoRF is better low, LeRF better high.
- Pointing game (Zhang et al. 2016, as TorchRay scores it): a hit when the map's maximum lies
  within a tolerance of a known box around the object.
- Baselines (as Quantus and TorchRay score them): ``random`` (seeded uniform noise) and ``centre``
  (a centred Gaussian). A metric that does not rank a method above them says little about it.

All functions take importance maps N x H x W at the model's input size (higher: more important).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

BLUR_SIGMA = 5.0  # RISE's blurred substrate: Gaussian kernel of 11 px, sigma 5
BLUR_SIZE = 11
ROAD_FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)
ROAD_NOISE = 0.01  # imputation noise, as a fraction of each channel's spread (ROAD's default 0.01)
POINTING_TOLERANCE = 15 / 224  # TorchRay's 15 px tolerance at 224 px, as a fraction of the longer side


def blurred(inputs: torch.Tensor, sigma: float = BLUR_SIGMA, size: int = BLUR_SIZE) -> torch.Tensor:
    """N x C x H x W blurred per channel by a separable Gaussian, borders reflected."""
    offsets = torch.arange(size, dtype=inputs.dtype, device=inputs.device) - (size - 1) / 2
    kernel = torch.exp(-offsets**2 / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = inputs.shape[1]
    pad = size // 2
    mode = "reflect" if min(inputs.shape[2:]) > pad else "replicate"
    rows = F.conv2d(F.pad(inputs, (pad, pad, 0, 0), mode=mode), kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(F.pad(rows, (0, 0, pad, pad), mode=mode), kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def importance_ranks(importance: torch.Tensor) -> torch.Tensor:
    """N x H x W -> N x H x W: each pixel's place when sorted most important first (ties keep
    reading order, so equal maps give equal curves)."""
    flat = importance.flatten(1)
    order = torch.argsort(flat, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order).contiguous())
    return ranks.view_as(importance)


def target_probabilities(model: nn.Module, batch: torch.Tensor, targets: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """The probability of each picture's target class, the pictures through the model
    ``batch_size`` at a time."""
    if not len(batch):
        return batch.new_zeros(0)
    with torch.inference_mode():
        return torch.cat([model(batch[start:start + batch_size]).softmax(dim=1).gather(1, targets[start:start + batch_size, None])[:, 0]
                          for start in range(0, len(batch), batch_size)])


class Forwards:
    """Pictures queued from many maps and curves, through the model ``batch_size`` at a time, so that
    only the last batch is partial; ``results`` gives the target probabilities in queue order."""

    def __init__(self, model: nn.Module, batch_size: int):
        self.model, self.batch_size = model, batch_size
        self.pending: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.waiting = self.queued = 0
        self.done: list[torch.Tensor] = []

    def add(self, pictures: torch.Tensor, targets: torch.Tensor) -> slice:
        """Queue N pictures and their N target classes; the slice their probabilities will take."""
        self.pending.append((pictures, targets))
        self.waiting += len(pictures)
        self.queued += len(pictures)
        while self.waiting >= self.batch_size:
            self._run(self.batch_size)
        return slice(self.queued - len(pictures), self.queued)

    def _run(self, count: int) -> None:
        pictures = torch.cat([p for p, _ in self.pending])
        targets = torch.cat([t for _, t in self.pending])
        self.done.append(target_probabilities(self.model, pictures[:count], targets[:count], count))
        self.pending = [(pictures[count:], targets[count:])]
        self.waiting -= count

    def results(self) -> torch.Tensor:
        if self.waiting:
            self._run(self.waiting)
        return torch.cat(self.done) if self.done else torch.zeros(0)


def moved_counts(pixels: int, steps: int) -> torch.Tensor:
    """How many pixels have moved at fractions 0, 1/steps, ..., 1 of ``pixels``."""
    return torch.tensor(np.round(np.linspace(0, pixels, steps + 1)))


def transfer_frames(start: torch.Tensor, end: torch.Tensor, ranks: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
    """(N x S) x C x H x W pictures, image-major: ``moved[s]`` pixels of ``end``, the first ones by
    ``ranks`` (``importance_ranks``), over ``start``."""
    mask = (ranks[:, None] < moved.to(ranks.device).view(1, -1, 1, 1))[:, :, None]  # N x S x 1 x H x W
    return torch.where(mask, end[:, None], start[:, None]).flatten(0, 1)


def transfer_curves(
    model: nn.Module,
    start: torch.Tensor,
    end: torch.Tensor,
    importance: torch.Tensor,
    targets: torch.Tensor,
    steps: int,
    batch_size: int = 32,
    ends: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """N x (steps + 1) target probabilities as pixels pass from ``start`` to ``end``, most
    important first, at fractions 0, 1/steps, ..., 1 of the picture; every step of every image goes
    through the model in batches of ``batch_size``. ``ends``: the probabilities of ``start`` and
    ``end`` themselves (N each) where already measured: they are the same whatever the map, so
    scoring many maps measures them once and only the steps between go through the model."""
    moved = moved_counts(importance.shape[1] * importance.shape[2], steps)
    if ends is not None:
        moved = moved[1:-1]
    frames = transfer_frames(start, end, importance_ranks(importance), moved)
    curves = target_probabilities(model, frames, targets.repeat_interleave(len(moved)), batch_size).view(len(start), len(moved))
    if ends is None:
        return curves
    return torch.cat([ends[0][:, None].to(curves), curves, ends[1][:, None].to(curves)], dim=1)


def deletion_curves(model, inputs, importance, targets, steps, batch_size=32, ends=None, blur=None):
    """Deletion: the photo's pixels replaced by its blurred copy's (``blur``, made when not
    given), most important first; ``ends``: the photo's and the blurred copy's probabilities."""
    blur = blurred(inputs) if blur is None else blur
    return transfer_curves(model, inputs, blur, importance, targets, steps, batch_size, ends)


def insertion_curves(model, inputs, importance, targets, steps, batch_size=32, ends=None, blur=None):
    """Insertion: the blurred copy's pixels replaced by the photo's, most important first;
    ``ends``: the photo's and the blurred copy's probabilities (the curve runs backwards)."""
    blur = blurred(inputs) if blur is None else blur
    return transfer_curves(model, blur, inputs, importance, targets, steps, batch_size, ends and ends[::-1])


def area_under(curves: torch.Tensor) -> torch.Tensor:
    """N curves sampled at evenly spaced fractions of [0, 1] -> N trapezoidal areas."""
    values = curves.double()
    return (values[:, :-1] + values[:, 1:]).sum(dim=1) / 2 / (values.shape[1] - 1)


# ROAD's imputation: every removed pixel is the weighted mean of its 8 neighbours (direct ones
# weigh 1/6, diagonal ones 1/12, as in the paper), kept pixels fixed; solved by conjugate gradients
# on the graph Laplacian restricted to the removed pixels, which is symmetric positive definite
# wherever each removed region touches a kept pixel.


def _neighbour_sum(values: torch.Tensor, padded: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted sum over the 8 neighbours inside the picture, per channel (zero padding). The
    weights are (1/12) ([1 2 1]^T [1 2 1] - 4 delta), so the sum is taken separably, by shifted
    adds: four times faster than a grouped float64 convolution, which conjugate gradients call
    at every step. ``padded``: ``values`` with a zero border of 1 px around them, when the caller
    keeps them so (``values`` is then its inside)."""
    if padded is None:
        padded = F.pad(values, (1, 1, 1, 1))
    rows = padded[..., :-2] + padded[..., 2:]
    rows.add_(padded[..., 1:-1], alpha=2)
    total = rows[..., :-2, :] + rows[..., 2:, :]
    total.add_(rows[..., 1:-1, :], alpha=2)
    return total.sub_(values, alpha=4).div_(12)


def _pyramid_fill(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Unknown pixels filled from ever coarser averages of the known ones (push-pull): a smooth
    first guess that leaves conjugate gradients only local corrections to make."""
    if bool(known.all()) or min(values.shape[2:]) <= 1:
        mean = (values * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp_min(1)
        return torch.where(known.bool(), values, mean.expand_as(values))
    total = F.avg_pool2d(values * known, 2, ceil_mode=True)
    weight = F.avg_pool2d(known, 2, ceil_mode=True)
    coarse = _pyramid_fill(total / weight.clamp_min(1e-12), (weight > 0).to(values.dtype))
    up = F.interpolate(coarse, size=values.shape[2:], mode="bilinear", align_corners=False)
    return values * known + up * (1 - known)


def impute_linear(images: torch.Tensor, removed: torch.Tensor, iterations: int = 30, tolerance: float = 1e-5) -> torch.Tensor:
    """N x C x H x W with the pixels where ``removed`` (N x H x W, bool) is set replaced by the
    harmonic interpolation of their kept neighbours (ROAD's linear imputation, without noise);
    ``iterations`` bounds the refinement of the pyramid's first guess."""
    work = images.double()
    hole = removed[:, None].to(work.dtype)
    degree = _neighbour_sum(torch.ones_like(work[:, :1]))
    kept = work * (1 - hole)
    rhs = _neighbour_sum(kept).mul_(hole)

    def apply(x, padded=None):  # (D - W) x on the removed pixels, x zero elsewhere
        return (degree * x).sub_(_neighbour_sum(x, padded)).mul_(hole)

    x = _pyramid_fill(work, 1 - hole) * hole
    residual = rhs - apply(x)
    # The search direction lives inside a zero border, so its neighbour sums need no padding.
    bordered = F.pad(residual, (1, 1, 1, 1))
    direction = bordered[..., 1:-1, 1:-1]
    dims = tuple(range(1, work.dim()))
    norm = (residual * residual).sum(dims, keepdim=True)
    scale = (rhs * rhs).sum(dims, keepdim=True).clamp_min(1e-30)
    for _ in range(iterations):
        if bool((norm / scale <= tolerance**2).all()):
            break
        product = apply(direction, bordered)
        step = norm / (direction * product).sum(dims, keepdim=True).clamp_min(1e-30)
        x.add_(step * direction)
        residual.sub_(step * product)
        new_norm = (residual * residual).sum(dims, keepdim=True)
        direction.mul_(new_norm / norm.clamp_min(1e-30)).add_(residual)
        norm = new_norm
    return (kept + x * hole).to(images.dtype)


def road_curves(
    model: nn.Module,
    inputs: torch.Tensor,
    importance: torch.Tensor,
    targets: torch.Tensor,
    most_relevant_first: bool,
    seeds: Sequence[int],
    fractions: Sequence[float] = ROAD_FRACTIONS,
    noise: float = ROAD_NOISE,
    batch_size: int = 32,
) -> torch.Tensor:
    """N x len(fractions) target probabilities with that fraction of pixels removed (most or least
    relevant first) and imputed with noise; ``seeds`` (one per image) make the noise repeatable
    whatever the batch."""
    batch = road_frames(inputs, importance_ranks(importance if most_relevant_first else -importance),
                        road_noise(inputs, seeds, fractions, noise), fractions)
    return target_probabilities(model, batch, targets.repeat_interleave(len(fractions)), batch_size).view(len(inputs), len(fractions))


def road_noise(inputs: torch.Tensor, seeds: Sequence[int], fractions: Sequence[float], noise: float = ROAD_NOISE) -> list[torch.Tensor]:
    """Per fraction, N x C x H x W imputation noise (``noise`` times each channel's spread), seeded
    per image and fraction: the same for every map, drawn once."""
    spread = inputs.flatten(2).std(dim=2)[:, :, None, None]
    return [noise * spread * torch.stack([
        torch.randn(inputs.shape[1:], generator=torch.Generator().manual_seed(seed + round(fraction * 1000)),
                    dtype=torch.float64) for seed in seeds]).to(inputs) for fraction in fractions]


def road_frames(inputs: torch.Tensor, ranks: torch.Tensor, jitter: Sequence[torch.Tensor], fractions: Sequence[float]) -> torch.Tensor:
    """(N x F) x C x H x W pictures, image-major: per fraction, the pixels first by ``ranks`` removed
    and imputed, plus that fraction's ``jitter`` (``road_noise``) where removed."""
    count = ranks.shape[1] * ranks.shape[2]
    frames = []
    for fraction, noise in zip(fractions, jitter):
        removed = ranks < round(fraction * count)
        frames.append(impute_linear(inputs, removed) + noise * removed[:, None])
    return torch.stack(frames, dim=1).flatten(0, 1)


def proportional_groups(maps: dict[str, torch.Tensor], tolerance: float = 1e-5) -> list[list[str]]:
    """The names of ``maps`` (each N x H x W, not negative) grouped where they are equal up to a
    positive factor on every image (each image's map scaled to a maximum of 1, equal within
    ``tolerance``): such maps order the pixels alike, so every metric scores them alike."""
    scaled = {name: m / m.flatten(1).amax(dim=1).clamp_min(1e-30).view(-1, 1, 1) for name, m in maps.items()}
    groups: list[list[str]] = []
    for name in maps:
        group = next((g for g in groups if torch.allclose(scaled[g[0]], scaled[name], rtol=0, atol=tolerance)), None)
        if group is None:
            groups.append([name])
        else:
            group.append(name)
    return groups


def pointing_hit(importance: np.ndarray, boxes: Sequence[Sequence[float]], tolerance: float) -> bool:
    """Whether the map's maximum (the first in reading order on ties) lies within ``tolerance``
    pixels of any box ``(x0, y0, x1, y1)`` given in the map's own pixel coordinates."""
    row, column = np.unravel_index(int(np.argmax(importance)), importance.shape)
    x, y = column + 0.5, row + 0.5  # the pixel's centre
    for x0, y0, x1, y1 in boxes:
        dx = max(x0 - x, 0.0, x - x1)
        dy = max(y0 - y, 0.0, y - y1)
        if math.hypot(dx, dy) <= tolerance:
            return True
    return False


def random_map(height: int, width: int, seed: int) -> torch.Tensor:
    """A seeded uniform-noise map: what any metric should score worse than a real method."""
    return torch.rand(height, width, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).float()


def centre_map(height: int, width: int) -> torch.Tensor:
    """A centred Gaussian (spread a quarter of each side): the photographer's prior, no model involved."""
    y = (torch.arange(height, dtype=torch.float64) + 0.5 - height / 2) / (height / 4)
    x = (torch.arange(width, dtype=torch.float64) + 0.5 - width / 2) / (width / 4)
    return torch.exp(-(y[:, None] ** 2 + x[None] ** 2) / 2).float()
