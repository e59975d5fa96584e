"""Input constraints and layer layouts found by probing tiny models with a known answer: a ViT-like
token model (class token + row-major grid, fixed size, no convolution), a Swin-like channels-last
model, one with a minimum size and one whose windows need a size multiple."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from layout_models import DIM, GRID, PATCH, SIZE, ChannelsLastNet, TokenNet, WindowNet, minimum_net
from reportgen import models
from reportgen.models.hooks import capture
from reportgen.models.layout import convert, to_maps
from reportgen.models.probe import input_constraints, probe_layers


def _frozen(net):
    torch.manual_seed(0)
    return net.eval().requires_grad_(False)


def test_input_constraints_minimum_size_window_multiple_and_fixed_size():
    assert input_constraints(_frozen(minimum_net()), SIZE) == (9, 1, None)
    assert input_constraints(_frozen(WindowNet()), SIZE) == (8, 8, None)
    assert input_constraints(_frozen(TokenNet()), SIZE) == (SIZE, 1, SIZE)


def test_fit_size_gives_the_nearest_valid_size_never_below_the_minimum(tiny_card):
    windows = dataclasses.replace(tiny_card, min_size=8, size_multiple=8)
    assert windows.fit_size(30, 45) == (32, 48)
    assert windows.fit_size(3, 100) == (8, 104)  # 100 is 8 + 11.5 steps: halves round up
    assert windows.accepts(32, 48) and not windows.accepts(30, 48)
    minimum = dataclasses.replace(tiny_card, min_size=63)
    assert minimum.fit_size(20, 500) == (63, 500)
    fixed = dataclasses.replace(tiny_card, min_size=224, fixed_size=224)
    assert fixed.fit_size(400, 600) == (224, 224)
    assert "exactly 224" in fixed.constraints and "steps of 8" in windows.constraints


def test_token_layers_drop_the_class_token_and_restore_the_grid_row_by_row(cache):
    card = models.card_for("tiny_tokens", "pretrained", cache)
    assert (card.fixed_size, card.min_size) == (SIZE, SIZE)
    tokens = card.layer("tokens")
    assert (tokens.layout, tokens.prefix, tokens.channels, tokens.spatial) == ("tokens", 1, DIM, (GRID, GRID))
    assert card.layer("embed").prefix == 0 and card.layer("head").layout is None
    # Known answer: token 1 + i * GRID + j holds the embedding of patch (i, j).
    net = _frozen(TokenNet())
    image = torch.rand(1, 3, SIZE, SIZE)
    changed = image.clone()
    changed[:, :, 1 * PATCH : 2 * PATCH, 2 * PATCH : 3 * PATCH] += 1  # patch row 1, column 2
    with capture(net, ["tokens"]) as first:
        net(image)
    with capture(net, ["tokens"]) as second:
        net(changed)
    before, after = to_maps(first["tokens"], tokens), to_maps(second["tokens"], tokens)
    assert before.shape == (1, DIM, GRID, GRID)
    moved = (after - before).abs().amax(dim=(0, 1)) > 0
    assert moved.nonzero().tolist() == [[1, 2]]
    numbered = torch.arange(1 + GRID * GRID, dtype=torch.float32).view(1, -1, 1).expand(1, -1, DIM)
    grid = convert(numbered, "tokens", prefix=1, grid=(GRID, GRID))
    assert grid[0, 0].tolist() == [[1 + i * GRID + j for j in range(GRID)] for i in range(GRID)]


def test_token_grid_at_another_size_follows_the_inputs_aspect():
    numbered = torch.arange(1 + 2 * 6, dtype=torch.float32).view(1, -1, 1)
    grid = convert(numbered, "tokens", prefix=1, grid=(4, 4), input_size=(32, 96))
    assert grid.shape == (1, 1, 2, 6) and grid[0, 0, 1, 0] == 7


def test_channels_last_layers_are_read_as_maps_at_their_stages_resolution(cache):
    card = models.card_for("tiny_channels_last", "pretrained", cache)
    assert (card.min_size, card.size_multiple, card.fixed_size) == (1, 1, None)
    stem, last = card.layer("stem"), card.layer("to_last")
    assert (stem.layout, stem.channels, stem.spatial) == ("nchw", 8, (16, 16))
    assert (last.layout, last.channels, last.spatial) == ("nhwc", 8, (16, 16))
    gelu = card.layer("stage.1.mlp.1")
    assert (gelu.layout, gelu.channels, gelu.spatial) == ("nhwc", 12, (16, 16))
    net = _frozen(ChannelsLastNet())
    with capture(net, ["stem", "to_last"]) as outputs:
        net(torch.rand(2, 3, 32, 48))
    assert torch.equal(to_maps(outputs["to_last"], last), outputs["stem"])
    assert card.layer("stage").relays and not card.layer("stage.1").relays


def test_gradients_and_the_transformer_cam_layer_come_from_the_probe(cache):
    from reportgen.techniques.cam_layers import cam_layer_for
    from reportgen.techniques.saliency import Params

    tokens = models.card_for("tiny_tokens", "pretrained", cache)
    # The last block passes only its class token on: its input norm is the last map with a gradient.
    assert tokens.layer("blocks.1.ln_1").gradient and not tokens.layer("blocks.1.mlp.2").gradient
    assert cam_layer_for(Params(), tokens) == "blocks.1.ln_1"
    channels_last = models.card_for("tiny_channels_last", "pretrained", cache)
    assert cam_layer_for(Params(), channels_last) == "stage.1"  # the last stage's last block


def test_probe_layers_at_a_fixed_size_keeps_partitions_out_of_the_maps():
    class Partition(nn.Module):
        def forward(self, x):  # N x C x 16 x 16 -> N x 4 windows x 64 cells x C
            n, c = x.shape[:2]
            return x.view(n, c, 2, 8, 2, 8).permute(0, 2, 4, 3, 5, 1).reshape(n, 4, 64, c)

    class Fixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.partition, self.head = nn.Conv2d(3, 8, 3, stride=2, padding=1), Partition(), nn.Linear(8, 3)

        def forward(self, x):
            assert x.shape[-1] == SIZE
            return self.head(self.partition(self.conv(x)).mean(dim=(1, 2)))

    layers = {info.name: info for info in probe_layers(_frozen(Fixed()), SIZE, fixed=True)}
    assert layers["conv"].layout == "nchw" and layers["conv"].gradient
    assert layers["partition"].layout is None and layers["partition"].channels is None


def test_a_layer_without_a_map_says_so():
    card_layer = models.LayerInfo("head", "Linear", None, None)
    with pytest.raises(models.ModelError, match="no feature map"):
        to_maps(torch.zeros(1, 5), card_layer)


def test_an_output_that_does_not_depend_on_the_input_is_no_map():
    class WithTable(nn.Module):
        """A 4-D table made from a buffer (Swin V2's relative-position bias), added to the maps."""

        def __init__(self):
            super().__init__()
            self.conv, self.table, self.head = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(2, 4), nn.Linear(4, 3)
            self.register_buffer("coords", torch.rand(1, 5, 5, 2))

        def forward(self, x):
            bias = self.table(self.coords).mean(dim=(1, 2)).view(1, 4, 1, 1)
            return self.head((self.conv(x) + bias).mean(dim=(2, 3)))

    layers = {info.name: info for info in probe_layers(_frozen(WithTable()), SIZE)}
    assert layers["conv"].layout == "nchw" and layers["table"].layout is None


def test_default_picks_can_leave_out_one_by_one_gates(tiny_card):
    gate = models.LayerInfo("features.se", "ReLU", 16, (1, 1), "nchw")
    card = dataclasses.replace(tiny_card, layers=(*tiny_card.layers, gate))
    assert "features.se" in card.pick(8, ("ReLU", "ReLU6"))
    assert "features.se" not in card.pick(8, ("ReLU", "ReLU6"), min_side=2)
