"""A layer's output read as an N x C x H x W feature map, whatever its layout.

Convolutional networks give maps channels first already. Swin's stages run channels last
(N x H x W x C); ViT's encoder gives a token sequence (N x T x C: a class token, then the patches
of a square grid, row by row). pytorch-grad-cam asks its users to write a ``reshape_transform`` for
these; reportgen reads the layout from the model's probe (``LayerInfo.layout``, models/probe.py)
and converts for them. The conversion is a permute / slice / reshape, so it keeps the autograd
graph, and the same call converts a layer's gradient. Needs no torch import of its own.
"""
from __future__ import annotations

import math
from typing import Any

from reportgen.core.choices import LAYOUTS, check_choice
from reportgen.models.card import LayerInfo, ModelError


def to_maps(output: Any, layer: LayerInfo, input_size: tuple[int, int] | None = None) -> Any:
    """``layer``'s output (or its gradient) as an N x C x H x W tensor.

    ``input_size`` (height, width) of the input that made it: only needed for a token layer at a
    size other than the model's own, to find the grid's aspect when it is not square."""
    if layer.layout is None:
        raise ModelError(f"layer {layer.name!r} ({layer.type}) has no feature map; its output is "
                         f"not a channels-first, channels-last or token map")
    return convert(output, layer.layout, layer.prefix, layer.spatial, input_size)


def convert(output: Any, layout: str, prefix: int = 0, grid: tuple[int, int] | None = None,
            input_size: tuple[int, int] | None = None) -> Any:
    """The conversion itself: ``nchw`` as it is, ``nhwc`` permuted, ``tokens`` with the first
    ``prefix`` tokens dropped and the rest laid out row by row on ``grid`` (height, width)."""
    check_choice("layout", layout, LAYOUTS)
    if layout == "nchw":
        return output
    if layout == "nhwc":
        return output.permute(0, 3, 1, 2)
    patches = output[:, prefix:]
    rows, columns = token_grid(patches.shape[1], grid, input_size)
    return patches.reshape(patches.shape[0], rows, columns, patches.shape[2]).permute(0, 3, 1, 2)


def token_grid(count: int, grid: tuple[int, int] | None = None,
               input_size: tuple[int, int] | None = None) -> tuple[int, int]:
    """(rows, columns) of ``count`` patch tokens: ``grid`` when it holds them, else at the
    input's aspect ratio, else square."""
    if grid is not None and grid[0] * grid[1] == count:
        return grid[0], grid[1]
    if input_size is not None:
        rows = max(1, round(math.sqrt(count * input_size[0] / input_size[1])))
        if count % rows == 0:
            return rows, count // rows
    side = math.isqrt(count)
    if side * side != count:
        raise ModelError(f"{count} tokens do not form a grid; give the input size to find its aspect")
    return side, side
