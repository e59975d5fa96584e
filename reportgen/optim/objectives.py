"""Objectives: what the ascent maximises, per image of a batch.

A score maps a batch of model inputs to a dict of per-image tensors: ``"score"`` is maximised,
any other entry is recorded beside it (a class probability, the top-1 class). A regulariser maps
the same batch to the per-image amount subtracted from the score.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from reportgen.models.hooks import forward_until
from reportgen.optim import REGULARISERS

Score = Callable[[torch.Tensor], dict[str, torch.Tensor]]
Regulariser = Callable[[torch.Tensor], torch.Tensor]
REDUCTIONS = ("mean", "norm")


def class_logit(module: nn.Module, classes: Sequence[int]) -> Score:
    """S_c(I): the logit (pre-softmax score) of each image's own class c."""

    def score(images: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = module(images)
        targets = torch.as_tensor(list(classes), device=logits.device)[:, None]
        observed = logits.detach()
        return {
            "score": logits.gather(1, targets)[:, 0],
            "probability": observed.softmax(1).gather(1, targets)[:, 0],
            "top1": observed.argmax(1),
        }

    return score


AsMaps = Callable[[str, torch.Tensor, tuple[int, int]], torch.Tensor]


def layer_activation(module: nn.Module, layers: Sequence[str], channels: Sequence[int | None], reduction: str = "mean",
                     as_maps: AsMaps = lambda layer, output, size: output) -> Score:
    """The mean ("mean", M_ij(I) of filter visualisation) or L2 norm ("norm", Deep Dream's octave
    loss) of channel j of layer i, or of the whole layer where j is None: each image its own
    (layer, channel).

    The images of each layer go through the network only up to that layer, and the forward stops
    right there: a later in-place activation (VGG's ReLU(inplace=True)) would otherwise overwrite
    a recorded convolution output, making the result depend on which layers share the batch.
    ``as_maps`` turns a layer's output into N x C x H x W (channels-last and token layers).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; valid: {', '.join(REDUCTIONS)}")

    def score(images: torch.Tensor) -> dict[str, torch.Tensor]:
        values: dict[int, torch.Tensor] = {}  # row -> its score
        for layer in dict.fromkeys(layers):
            rows = [row for row, name in enumerate(layers) if name == layer]
            seen = images if len(rows) == len(images) else images[rows]
            height, width = images.shape[-2:]
            output = as_maps(layer, forward_until(module, seen, [layer])[layer], (height, width))
            for position, row in enumerate(rows):
                chosen = output[position] if channels[row] is None else output[position, channels[row]]
                values[row] = chosen.mean() if reduction == "mean" else chosen.norm()
        return {"score": torch.stack([values[row] for row in range(len(layers))])}

    return score


def feature_distance(module: nn.Module, layers: Sequence[str], targets: Sequence[torch.Tensor],
                     as_maps: AsMaps = lambda layer, output, size: output) -> Score:
    """Minus the relative L2 distance ||f_i(I) - f_i(I0)|| / ||f_i(I0)|| between each image's
    features at its layer i and its target's (C x H x W), as a score to maximise (Mahendran &
    Vedaldi, 2015); "distance" records it. Each layer's images run only up to that layer
    (``layer_activation``)."""

    def score(images: torch.Tensor) -> dict[str, torch.Tensor]:
        distances: dict[int, torch.Tensor] = {}
        for layer in dict.fromkeys(layers):
            rows = [row for row, name in enumerate(layers) if name == layer]
            seen = images if len(rows) == len(images) else images[rows]
            output = as_maps(layer, forward_until(module, seen, [layer])[layer], (images.shape[-2], images.shape[-1]))
            for position, row in enumerate(rows):
                target = targets[row]
                distances[row] = (output[position] - target).norm() / target.norm().clamp_min(1e-12)
        distance = torch.stack([distances[row] for row in range(len(layers))])
        return {"score": -distance, "distance": distance.detach()}

    return score


def total_variation(weights: Sequence[float]) -> Regulariser:
    """Per image: lambda * the mean squared difference of neighbouring values (TV with beta = 2,
    Mahendran & Vedaldi's image prior): it penalises the grain that feature matching alone grows."""
    weight = torch.tensor(list(weights))

    def regulariser(images: torch.Tensor) -> torch.Tensor:
        across = (images[..., :, 1:] - images[..., :, :-1]).square().flatten(1).mean(1)
        down = (images[..., 1:, :] - images[..., :-1, :]).square().flatten(1).mean(1)
        return weight.to(images.device) * (across + down)

    return regulariser


def norm_regulariser(kinds: Sequence[str], weights: Sequence[float]) -> Regulariser:
    """Per image: lambda * mean|I| ("l1"), lambda * mean(I^2) ("l2") or nothing ("none").

    Means, not sums, over the image's values: a class score pools over positions too, so one
    lambda then fits every image size. I is the normalised input: zero is the mean colour.
    """
    unknown = sorted(set(kinds) - set(REGULARISERS))
    if unknown:
        raise ValueError(f"unknown regulariser {', '.join(unknown)}; valid: {', '.join(REGULARISERS)}")
    l1 = torch.tensor([w if k == "l1" else 0.0 for k, w in zip(kinds, weights)])
    l2 = torch.tensor([w if k == "l2" else 0.0 for k, w in zip(kinds, weights)])

    def regulariser(images: torch.Tensor) -> torch.Tensor:
        flat = images.flatten(1)
        return l1.to(flat.device) * flat.abs().mean(1) + l2.to(flat.device) * flat.square().mean(1)

    return regulariser
