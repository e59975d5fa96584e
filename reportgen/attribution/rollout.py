"""Attention rollout (Abnar & Zuidema 2020) and gradient-weighted attention rollout (Chefer et
al. 2021, "Generic attention-model explainability"): how much the class token, after the last
layer, draws on each image patch, by composing every layer's token-to-token attention.

Both need one global attention over all tokens with a class token first (ViT, DeiT). Windowed
attention (Swin, MaxViT's blocks) mixes tokens only inside windows and has no class token, so no
product of its layers says what the class token read: those models are left to Grad-CAM.
"""
from __future__ import annotations

from typing import Sequence

import torch


def rollout(attentions: Sequence[torch.Tensor], prefix: int = 1) -> torch.Tensor:
    """Layers' N x heads x T x T attentions -> N x (T - prefix): the class token's (the first
    token's) share of each patch; ``prefix`` tokens (class, distillation, registers) come first.

    Each layer's heads are averaged and the residual connection added as an identity of equal
    weight, rows renormalised, and the layers multiplied from the first to the last."""
    tokens = attentions[0].shape[-1]
    eye = torch.eye(tokens, dtype=torch.float64, device=attentions[0].device)
    result = eye.expand(attentions[0].shape[0], tokens, tokens)
    for attention in attentions:
        mixed = 0.5 * attention.detach().double().mean(dim=1) + 0.5 * eye
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        result = mixed @ result
    return result[:, 0, prefix:].float()


def gradient_rollout(attentions: Sequence[torch.Tensor], prefix: int = 1) -> torch.Tensor:
    """Chefer et al.'s rule: each layer's attention weighted by its gradient (``.grad`` of the
    captured tensors, after a backward of the class score), positive part averaged over heads,
    accumulated as R <- R + A R from the identity; the class token's row over the patches."""
    tokens = attentions[0].shape[-1]
    eye = torch.eye(tokens, dtype=torch.float64, device=attentions[0].device)
    relevance = eye.expand(attentions[0].shape[0], tokens, tokens)
    for attention in attentions:
        if attention.grad is None:
            raise ValueError("gradient rollout needs the attentions' gradients: run a backward first")
        weighted = (attention.grad.double() * attention.detach().double()).clamp(min=0).mean(dim=1)
        relevance = relevance + weighted @ relevance
    return relevance[:, 0, prefix:].float()


def patch_grid(values: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """N x P patch values -> N x height x width (patches in row-major order, as ViT lays them out)."""
    if values.shape[1] != height * width:
        raise ValueError(f"{values.shape[1]} patch tokens do not make a {height} x {width} grid")
    return values.view(len(values), height, width)
