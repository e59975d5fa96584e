"""Grad-CAM (Selvaraju et al. 2017) and guided Grad-CAM from a layer's activation and gradient."""
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
