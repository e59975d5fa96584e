"""The CAM family's maps from a layer's activation and gradient (N x K x h x w each): Grad-CAM
(Selvaraju et al. 2017) and guided Grad-CAM, HiResCAM, LayerCAM, and the channel weightings of
Grad-CAM++, XGrad-CAM, Eigen-CAM, Score-CAM and Ablation-CAM (their forwards: cam_methods.py)."""
from __future__ import annotations

import torch
from torch.nn import functional as F


def grad_cam(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """N x K x h x w -> N x h x w: channels weighted by their mean gradient, summed, ReLU'd."""
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    return F.relu((weights * activation).sum(dim=1))


def hires_cam(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """HiResCAM (Draelos & Carin 2020): the gradient times the activation element by element,
    summed over channels, ReLU'd: no averaging over the map, so each cell keeps its own weight."""
    return F.relu((gradient * activation).sum(dim=1))


def layer_cam(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """LayerCAM (Jiang et al. 2021): each cell's activation weighted by its own positive gradient."""
    return F.relu((F.relu(gradient) * activation).sum(dim=1))


def upsample(cam: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """N x h x w -> N x H x W, bilinear (smooth heat maps; Captum's ``interpolate_mode='bilinear'``)."""
    return F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def guided_grad_cam(guided_gradient: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """Guided backprop's fine detail, masked by the class-discriminative Grad-CAM map."""
    height, width = guided_gradient.shape[2:]
    return guided_gradient * upsample(cam, (height, width))[:, None]


def weighted_channels(weights: torch.Tensor, activation: torch.Tensor) -> torch.Tensor:
    """N x K weights, N x K x h x w activation -> N x h x w: the weighted sum of channels, ReLU'd
    (every CAM that weights whole channels, as pytorch-grad-cam's ``get_cam_image``)."""
    return F.relu((weights[:, :, None, None] * activation).sum(dim=1))


def divided(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator``, 0 where the denominator is 0 (the papers' formulas leave those
    cases out; pytorch-grad-cam adds an epsilon instead, which swamps a small gradient's terms)."""
    nonzero = denominator != 0
    return torch.where(nonzero, numerator / torch.where(nonzero, denominator, torch.ones_like(denominator)),
                       torch.zeros_like(numerator))


def grad_cam_plus_plus_weights(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ (Chattopadhay et al. 2018, eq. 19): each cell's positive gradient weighted by
    alpha = g^2 / (2 g^2 + sum(A) g^3), summed over the map (the exponential's factor, the same
    for every channel, left out as pytorch-grad-cam does)."""
    squared = gradient**2
    total = activation.sum(dim=(2, 3), keepdim=True)
    alpha = divided(squared, 2 * squared + total * squared * gradient)
    return (alpha * F.relu(gradient)).sum(dim=(2, 3))


def xgrad_cam_weights(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """XGrad-CAM (Fu et al. 2020): the gradient averaged over the map weighted by the activation,
    sum(A * g) / sum(A) per channel."""
    total = activation.sum(dim=(2, 3), keepdim=True)
    return divided(gradient * activation, total).sum(dim=(2, 3))


def eigen_cam(activation: torch.Tensor) -> torch.Tensor:
    """Eigen-CAM (Muhammad & Yeasin 2020): the cells' (channel-centred) activations projected on
    their first principal component, ReLU'd; no class, no gradient. A component's sign is
    arbitrary: it is turned so that the map grows with the layer's summed activation (sum of the
    component's loadings positive), not left to the SVD routine."""
    count, _, height, width = activation.shape
    cells = activation.flatten(2).transpose(1, 2)  # N x hw x K
    centred = cells - cells.mean(dim=1, keepdim=True)
    first = torch.linalg.svd(centred, full_matrices=False).Vh[:, 0]  # N x K
    first = torch.where(first.sum(dim=1, keepdim=True) < 0, -first, first)
    return F.relu((centred @ first[:, :, None]).reshape(count, height, width))


def strongest_channels(activation: torch.Tensor, count: int) -> torch.Tensor:
    """N x ``count`` channel indices per image, largest total |activation| first (ties: lower
    index): the channels whose terms can weigh most in a CAM's weighted sum."""
    totals = activation.abs().sum(dim=(2, 3))
    return torch.argsort(totals, dim=1, descending=True, stable=True)[:, :count]


def score_masks(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """M x h x w channel maps -> M x H x W masks: upsampled as the heat maps are, scaled to [0, 1]
    by their own minimum and maximum (Score-CAM's s(.)); a constant map masks everything out."""
    masks = upsample(maps, size)
    low = masks.flatten(1).amin(dim=1)[:, None, None]
    high = masks.flatten(1).amax(dim=1)[:, None, None]
    return divided(masks - low, high - low)


def ablated(output: torch.Tensor, view, channels: torch.Tensor) -> torch.Tensor:
    """The layer's ``output`` with row r's map of channel ``channels[r]`` set to zero, in the
    layer's own layout: ``view`` (the output as N x K x h x w maps) locates those cells, so a token
    layer's class token and a channels-last layer's order are left as they are."""
    positions = view(torch.arange(output.numel(), device=output.device).reshape(output.shape))
    cells = positions[torch.arange(len(channels), device=output.device), channels].flatten()
    return output.flatten().index_fill(0, cells, 0).reshape(output.shape)
