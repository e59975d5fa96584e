"""Batch norms folded into the convolutions before them, for the gradient loops.

A frozen batch norm is an affine map per channel. On its own it is a memory-bound pass over the
activations, forward and back, a large share of a small network's gradient step on a CPU
(benchmarks/README.md). Merged into the preceding convolution's weights and bias it costs nothing, and the network
computes the same function up to float rounding. Folding renames nothing: a folded norm stays
in place as ``FoldedNorm``, which runs only what the norm held besides normalising (timm's
BatchNormAct2d keeps its activation, so guided backprop still finds it, and a hook on the norm
still sees the norm's output). A convolution the caller needs to observe is kept as it is, since
after folding its output would be the norm's.
"""
from __future__ import annotations

import copy
from typing import Any, Iterable

from reportgen.models.hooks import module_calls
from reportgen.core.lazy import torch

# The folded network must give the same logits as the original, up to float rounding, or the
# fold is refused: a convolution whose output also went elsewhere would fail here.
AGREEMENT = 1e-3


class FoldedNorm(torch.nn.Module):
    """What is left of a batch norm folded into its convolution: its child modules, in order."""

    def __init__(self, norm: Any):
        super().__init__()
        for name, child in norm.named_children():
            self.add_module(name, child)

    def forward(self, x: Any) -> Any:
        for child in self.children():
            x = child(x)
        return x


def conv_norm_pairs(module: Any, probe: Any) -> tuple[list[tuple[str, str]], Any]:
    """(convolution, batch norm) names where the norm normalises that convolution's output, as a
    forward pass of ``probe`` shows it (the norm's input is the very tensor the conv returned),
    and the module's output on ``probe``: what a folded copy must agree with."""
    convs, pairs = {}, []
    calls, reference = module_calls(module, probe, (torch.nn.Conv2d, torch.nn.BatchNorm2d))
    for name, layer, inputs, output in calls:
        if isinstance(layer, torch.nn.Conv2d):
            convs[id(output)] = (name, layer)
        elif layer.track_running_stats and id(inputs[0]) in convs:
            conv_name, conv = convs[id(inputs[0])]
            if conv.out_channels == layer.num_features:
                pairs.append((conv_name, name))
    return pairs, reference


def fold_batch_norms(module: Any, probe: Any, keep: Iterable[str] = ()) -> Any:
    """A copy of ``module`` with every batch norm folded into its convolution, except where the
    convolution is named in ``keep``; ``module`` itself when there is nothing to fold or the
    folded copy does not agree with it on ``probe``."""
    kept = set(keep)
    found, reference = conv_norm_pairs(module, probe)
    pairs = [(conv, norm) for conv, norm in found if conv not in kept]
    if not pairs:
        return module
    folded = copy.deepcopy(module)
    with torch.no_grad():
        for conv_name, norm_name in pairs:
            conv, norm = folded.get_submodule(conv_name), folded.get_submodule(norm_name)
            scale = torch.rsqrt(norm.running_var + norm.eps)
            shift = -norm.running_mean * scale
            if norm.affine:
                scale, shift = scale * norm.weight, shift * norm.weight + norm.bias
            bias = shift if conv.bias is None else conv.bias * scale + shift
            conv.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
            conv.bias = torch.nn.Parameter(bias.to(conv.weight.dtype), requires_grad=False)
            parent_name, _, child = norm_name.rpartition(".")
            setattr(folded.get_submodule(parent_name), child, FoldedNorm(norm))
        result = folded(probe)
    if (result - reference).abs().max() > AGREEMENT * reference.abs().max().clamp_min(1e-12):
        return module
    return folded
