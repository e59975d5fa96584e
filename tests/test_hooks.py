"""activation_override's report of the activations it cannot guide."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from reportgen.hooks import activation_override, hooks_left


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
