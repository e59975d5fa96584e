"""HiResCAM and LayerCAM by hand, the note for heads that read a map by position, and attention
rollout as saliency variants on a tiny ViT (skipped, in one line, where there is no attention)."""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models import VisionTransformer

from reportgen import models
from reportgen.core.artifacts import Skip
from reportgen.attribution import cam
from reportgen.models.hooks import hooks_left
from reportgen.core.progress import Silent
from reportgen.techniques.base import registry
from reportgen.techniques.cam_layers import cam_head_note, cam_layer_for

SALIENCY = registry()["saliency"]


def test_positional_cams_match_a_hand_computation():
    activation = torch.tensor([[[[1.0, 2.0], [0.0, 3.0]], [[2.0, 0.0], [1.0, 1.0]]]])
    gradient = torch.tensor([[[[1.0, -1.0], [2.0, 0.5]], [[-2.0, 1.0], [0.0, 1.0]]]])
    # cell by cell: sum_k g * a, then ReLU
    assert torch.equal(cam.hires_cam(activation, gradient), torch.tensor([[[0.0, 0.0], [0.0, 2.5]]]))
    # cell by cell: sum_k ReLU(g) * a, then ReLU
    assert torch.equal(cam.layer_cam(activation, gradient), torch.tensor([[[1.0, 0.0], [0.0, 2.5]]]))
    # Grad-CAM weighs each channel by its mean gradient (0.625 and 0): every cell of channel 0 alike
    assert torch.allclose(cam.grad_cam(activation, gradient), torch.tensor([[[0.625, 1.25], [0.0, 1.875]]]))


class FlattenHead(nn.Module):
    """A VGG-like head: the last map is flattened into a linear layer, read by position."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.avgpool = nn.AdaptiveAvgPool2d((4, 4))  # as VGG's (7, 7): any input size, a map kept
        self.classifier = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def tiny_vit():
    torch.manual_seed(0)
    model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32,
                              num_classes=4)
    nn.init.normal_(model.heads.head.weight, std=0.5)
    return model


models.register_local("flatten_head", models.LocalModel(build=FlattenHead, load_weights=None, weights_file=None,
                                                        input_size=32, categories=lambda: ["a", "b", "c"]))
models.register_local("tiny_vit", models.LocalModel(build=tiny_vit, load_weights=None, weights_file=None,
                                                    input_size=32, categories=lambda: ["a", "b", "c", "d"]))


def test_grad_cam_is_flagged_where_the_head_reads_by_position(cache, tiny_card):
    params = SALIENCY.params_for("quick")
    flatten = models.card_for("flatten_head", "pretrained", cache)
    note = cam_head_note(flatten, cam_layer_for(params, flatten))
    assert note and "by position" in note and "Linear" in note
    assert cam_head_note(tiny_card, cam_layer_for(params, tiny_card)) is None  # global average pooling


def test_rollout_variants_on_a_vit_and_one_line_elsewhere(cache, tiny_card, images):
    params = SALIENCY.Params(methods=("gradcam", "rollout", "gradient_rollout"), sanity=False)
    card = models.card_for("tiny_vit", "pretrained", cache)
    model = models.load(card, "cpu")
    requests = SALIENCY.plan(params, card, images)
    assert not [r for r in requests if isinstance(r, Skip)]
    results = {(r.image.name, r.variant): result for r, result in SALIENCY.compute(params, model, requests, Silent())}
    assert hooks_left(model.module) == 0
    for (_, method), result in results.items():
        if method in ("rollout", "gradient_rollout"):
            raw = result.arrays["attribution"]
            assert raw.shape == (1, 32, 32) and raw.max() > raw.min() and set(result.images) == {"overlay"}
        else:
            assert "class token" in result.meta.cam_note
    skips = [r for r in SALIENCY.plan(params, tiny_card, images) if isinstance(r, Skip)]
    assert [s.variant for s in skips] == ["rollout", "gradient_rollout"]
    assert all("no global self-attention" in s.reason and "\n" not in s.reason for s in skips)
