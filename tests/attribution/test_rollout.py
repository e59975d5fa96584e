"""Attention rollout on a tiny torchvision ViT, checked against a forward written out by hand."""
import math

import pytest
import torch
from torch.nn import functional as F
from torchvision.models import VisionTransformer

from reportgen.attribution.rollout import gradient_rollout, patch_grid, rollout
from reportgen.models.hooks import attention_weights, hooks_left


def tiny_vit() -> VisionTransformer:
    torch.manual_seed(0)
    model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32,
                              num_classes=5).eval()
    torch.nn.init.normal_(model.heads.head.weight, std=0.5)  # torchvision starts the head at zero
    return model


def by_hand(model: VisionTransformer, images: torch.Tensor, target: int):
    """The same forward, every attention softmax written out, each kept with its gradient."""
    n = len(images)
    x = model.conv_proj(images).flatten(2).transpose(1, 2)
    x = torch.cat([model.class_token.expand(n, -1, -1), x], dim=1) + model.encoder.pos_embedding
    attentions = []
    for block in model.encoder.layers:
        attention_module = block.self_attention
        heads, width = attention_module.num_heads, x.shape[-1]
        y = block.ln_1(x)
        q, k, v = (y @ attention_module.in_proj_weight.T + attention_module.in_proj_bias).split(width, dim=-1)
        split = lambda t: t.view(n, -1, heads, width // heads).transpose(1, 2)
        q, k, v = split(q), split(k), split(v)
        weights = (q @ k.transpose(-2, -1) / math.sqrt(width // heads)).softmax(dim=-1)
        weights.retain_grad()
        attentions.append(weights)
        mixed = (weights @ v).transpose(1, 2).reshape(n, -1, width)
        x = x + attention_module.out_proj(mixed)
        x = x + block.mlp(block.ln_2(x))
    logits = model.heads(model.encoder.ln(x)[:, 0])
    logits[:, target].sum().backward()
    return logits, attentions


def manual_rollout(attentions):
    result = torch.eye(attentions[0].shape[-1], dtype=torch.float64)
    for attention in attentions:
        a = attention.detach().double().mean(dim=1)[0]
        a = (a + torch.eye(len(a), dtype=torch.float64)) / 2
        result = (a / a.sum(dim=-1, keepdim=True)) @ result
    return result[0, 1:]


def test_rollout_and_gradient_rollout_match_a_hand_written_forward():
    model = tiny_vit()
    images = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    expected_logits, expected = by_hand(model, images, target=2)
    with torch.no_grad():
        torch.testing.assert_close(model(images), expected_logits, atol=1e-5, rtol=1e-4)
    with attention_weights(model) as captured:
        logits = model(images)
        logits[:, 2].sum().backward()
    assert hooks_left(model) == 0
    assert len(captured) == 2 and captured[0].shape == (1, 2, 17, 17)
    torch.testing.assert_close(logits, expected_logits, atol=1e-5, rtol=1e-4)
    for mine, theirs in zip(captured, expected):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(mine.grad, theirs.grad, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(rollout(captured)[0].double(), manual_rollout(expected), atol=1e-5, rtol=1e-4)
    relevance = torch.eye(17, dtype=torch.float64)
    for attention in expected:
        relevance = relevance + (attention.grad * attention.detach()).double().clamp(min=0).mean(dim=1)[0] @ relevance
    torch.testing.assert_close(gradient_rollout(captured)[0].double(), relevance[0, 1:], atol=1e-5, rtol=1e-4)
    assert patch_grid(rollout(captured), 4, 4).shape == (1, 4, 4)


def test_rollout_rows_stay_a_distribution():
    attentions = [torch.rand(3, 2, 5, 5).softmax(dim=-1) for _ in range(4)]
    shares = rollout(attentions, prefix=0)
    torch.testing.assert_close(shares.sum(dim=1), torch.ones(3), atol=1e-5, rtol=0)


def test_gradient_rollout_needs_a_backward_and_grids_must_fit():
    attention = torch.rand(1, 2, 5, 5, requires_grad=True)
    with pytest.raises(ValueError, match="backward"):
        gradient_rollout([attention])
    with pytest.raises(ValueError, match="grid"):
        patch_grid(torch.zeros(1, 5), 2, 2)


def test_models_without_attention_are_refused_and_left_clean():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    with pytest.raises(ValueError, match="self-attention"):
        with attention_weights(model):
            pass
    assert hooks_left(model) == 0


def test_timm_attention_is_read_unfused_and_restored():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=2,
                              num_classes=5).eval()
    fused = [m.fused_attn for m in model.modules() if hasattr(m, "fused_attn")]
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        plain = model(images)
    with attention_weights(model) as captured:
        logits = model(images)
        logits[:, 1].sum().backward()
    torch.testing.assert_close(logits, plain, atol=1e-5, rtol=1e-4)
    assert [m.fused_attn for m in model.modules() if hasattr(m, "fused_attn")] == fused
    assert hooks_left(model) == 0
    assert len(captured) == 2 and captured[0].shape == (2, 3, 17, 17)
    torch.testing.assert_close(captured[0].sum(dim=-1), torch.ones(2, 3, 17), atol=1e-5, rtol=0)
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in captured)
    assert gradient_rollout(captured).shape == (2, 16)
