"""The hooks module: capture and truncated forwards, and activation_override's gradient rules."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from reportgen.models.hooks import activation_override, capture, forward_until, hooks_left


class Mixed(nn.Module):
    """A guided ReLU module, an unguidable SiLU module, and two functional ReLUs (as DenseNet's)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.relu = nn.ReLU(inplace=True)
        self.silu = nn.SiLU()

    def forward(self, x):
        x = F.relu(self.silu(self.relu(self.conv(x))), inplace=True)
        return x.relu().mean(dim=(2, 3))


def test_functional_activations_are_counted_and_modules_are_not_counted_twice():
    model = Mixed().requires_grad_(False)
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    with activation_override(model) as override:
        assert override.guided == 1 and override.unguided == ["silu"]
        output = model(x)
        assert override.functional_calls == 2  # F.relu and Tensor.relu; SiLU's own F.silu is not
        override.rule = "guided"
        output[:, 0].sum().backward()
        assert override.functional_calls == 2  # backward calls nothing functional
    assert hooks_left(model) == 0 and torch._C._len_torch_function_stack() == 0
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_counter_and_hooks_are_removed_when_the_block_raises():
    model = Mixed()
    with pytest.raises(RuntimeError, match="boom"):
        with activation_override(model):
            model(torch.randn(1, 3, 8, 8))
            raise RuntimeError("boom")
    assert hooks_left(model) == 0 and torch._C._len_torch_function_stack() == 0
    with torch.no_grad():
        F.relu(torch.ones(1))  # and nothing counts outside the block


def test_capture_keeps_outputs_that_a_later_in_place_relu_would_overwrite():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Conv2d(4, 4, 3))
    x = torch.randn(1, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    expected = net[0](x)
    with torch.no_grad():
        outputs = forward_until(net, x, ["0", "2"])
    assert (outputs["0"] < 0).any()
    torch.testing.assert_close(outputs["0"], expected.detach())
    assert hooks_left(net) == 0


def test_captured_outputs_keep_their_gradient_path():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Conv2d(4, 2, 3))
    x = torch.randn(1, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    with capture(net, ["0"]) as outputs:
        score = net(x).sum()
    (gradient,) = torch.autograd.grad(score, outputs["0"])
    assert gradient.abs().sum() > 0


def test_truncated_forward_stops_at_the_last_wanted_layer():
    calls = []
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3))
    net[2].register_forward_pre_hook(lambda module, args: calls.append("ran"))
    forward_until(net, torch.zeros(1, 3, 8, 8), ["1"])
    assert calls == []
