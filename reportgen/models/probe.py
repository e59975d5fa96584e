"""What a model accepts and how its layers' outputs read as maps, found by running it (never by
its name): the model card's input constraints and layer facts.

- Input constraints: its own size must pass; then a wider input, by growing steps, finds the size
  multiple its windows need (the first step that passes); none passing means a fixed size (ViT
  checks it; MaxViT's grid partition only fits its own). A search over smaller squares finds the
  smallest size (AlexNet, Inception's pooling).
- Layouts: one forward at the model's size and one wider (same height): the dimension that grew
  is the width, so ``N x C x H x W`` (channels first) and ``N x H x W x C`` (channels last, Swin)
  tell themselves apart, and tensors whose window count grew (a partition) are not maps. A token
  sequence ``N x T x C`` is a few leading tokens (ViT's class token) plus a square grid. A model of
  fixed size cannot be widened: a 4-D output is a map when it is square where the input is, and
  when redrawing the input's top-left quarter changes all its channels and its two spatial
  dimensions alike (MaxViT's window and grid partitions fail one or the other).
- A map depends on the input (Swin V2's position-bias tables do not, though they are 4-D).
- Gradients: one backward of the summed logits says which maps the class score reaches (ViT's last
  block passes only its class token to the head, so its patch tokens get none). Parameters that
  start at zero (ViT's untrained head) are redrawn small first, or no gradient would flow at all.

A model built on the meta device (``describe.sketch_card``) holds no values: every probe then reads
shapes alone, at no cost. What needs values is read from the autograd graph instead: a map is
reached when a gradient is connected to it at all, and a module relays a child's output when it
returns that child's output (the recorded copy of it) itself; a fixed-size model's maps are taken
by their shape.
"""
from __future__ import annotations

from typing import Any

from reportgen.core.lazy import torch
from reportgen.models.card import RANDOM_SEED, LayerInfo
from reportgen.models.layout import convert

WIDTH_STEPS = (1, 2, 4, 7, 8, 14, 16, 28, 32, 56, 64, 112)  # tried in order: the first that passes is the multiple
WIDER_BY = 64  # the layout probe's extra width (in steps of the multiple): enough to grow a stride-32 map by 2
MAX_PREFIX = 4  # leading tokens (class, distillation, registers) a token grid may have
FULL = 0.75  # a dimension whose cells changed at least this much is the channels (locality probe)


def _device(net: Any) -> Any:
    """Where the model's parameters are: the probes' inputs are made there (the meta device, for a sketch)."""
    return next((parameter.device for parameter in net.parameters()), torch.device("cpu"))


def _on_meta(net: Any) -> bool:
    return _device(net).type == "meta"


def accepts(net: Any, height: int, width: int) -> bool:
    """Whether the model runs on a (height, width) input (the error, whatever it is, means no)."""
    try:
        with torch.inference_mode():
            net(torch.zeros(1, 3, height, width, device=_device(net)))
        return True
    except Exception:  # noqa: BLE001 - a model refuses a size by any error: assert, reshape, pooling
        return False


def forward_cost(net: Any, input_size: int) -> tuple[float, float]:
    """(GFLOP, MB of float32 activations) of one forward of one image at ``input_size``: the FLOPs
    torch's counter counts, and every leaf module's output (``hooks.leaf_output_elements``).
    Counted, so the same on every machine: work sized by them (reportgen/core/budget.py) gives the same
    pictures and cache keys wherever it runs."""
    from torch.utils.flop_counter import FlopCounterMode

    from reportgen.models.hooks import leaf_output_elements

    inputs = torch.zeros(1, 3, input_size, input_size, device=_device(net))
    # no_grad, not inference_mode: under inference_mode torch 2.2's counter sees no operation.
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(inputs)
    return counter.get_total_flops() / 1e9, leaf_output_elements(net, inputs) * 4 / 2**20


def input_constraints(net: Any, input_size: int) -> tuple[int, int, int | None]:
    """(min_size, size_multiple, fixed_size) of a model in eval mode whose own size is ``input_size``."""
    if not accepts(net, input_size, input_size):
        raise RuntimeError(f"the model does not run at its own input size {input_size}")
    multiple = next((step for step in WIDTH_STEPS if accepts(net, input_size, input_size + step)), None)
    if multiple is None or not accepts(net, input_size + multiple, input_size):
        return input_size, 1, input_size
    # Valid squares are input_size - k * multiple; the largest k that still passes is the minimum.
    low, high = 0, (input_size - 1) // multiple
    while low < high:
        middle = (low + high + 1) // 2
        if accepts(net, input_size - middle * multiple, input_size - middle * multiple):
            low = middle
        else:
            high = middle - 1
    return input_size - low * multiple, multiple, None


def probe_layers(net: Any, input_size: int, size_multiple: int = 1, fixed: bool = False) -> list[LayerInfo]:
    """Every named module with how its output reads as a map, its shape there, whether the class
    score's gradient reaches it, whether it relays a child's output, and when it finished."""
    from reportgen.models.hooks import capture

    named = [(n, m) for n, m in net.named_modules() if n]
    names = [n for n, _ in named]
    generator = torch.Generator().manual_seed(RANDOM_SEED)
    x = torch.randn((1, 3, input_size, input_size), generator=generator).to(_device(net))
    meta = _on_meta(net)
    with torch.no_grad():  # untrained heads may start at zero (ViT's), which would stop every gradient
        for parameter in net.parameters():
            if not meta and not parameter.any():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.02)
    with torch.enable_grad(), capture(net, names) as outputs:
        logits = net(x.clone().requires_grad_(True))
        finish = {name: rank for rank, name in enumerate(outputs)}
        tensors = {n: o for n, o in outputs.items() if isinstance(o, torch.Tensor) and o.requires_grad}
        found = torch.autograd.grad(logits.float().sum(), list(tensors.values()), allow_unused=True)
        gradients = dict(zip(tensors, found))
        first = {n: o.detach() for n, o in outputs.items() if isinstance(o, torch.Tensor)}
        returned = {n: _copied_from(o) for n, o in tensors.items()} if meta else {}
    other = _shapes_wider(net, names, input_size, size_multiple) if not fixed else None
    changed = _changed_cells(net, names, x, first) if fixed and not meta else None
    children = {name: [f"{name}.{child}" for child, _ in module.named_children()] for name, module in named}
    layers = []
    for name, module in named:
        output = first.get(name)
        # A map depends on the input (its output requires grad, as the input does and no weight
        # does): Swin V2's relative-position tables are 4-D, but the same for every image.
        depends = name in tensors
        read = _layout(output, other.get(name) if other else None, changed.get(name) if changed else None) if depends else None
        layout, prefix, channels, spatial = read or (None, 0, None, None)
        gradient = False
        if read is not None and gradients.get(name) is not None:
            gradient = meta or bool(convert(gradients[name], read[0], read[1], read[3]).abs().amax() > 0)
        if meta:
            relays = returned.get(name) is not None and any(
                tensors.get(c) is not None and tensors[c].grad_fn is returned[name] for c in children[name])
        else:
            relays = output is not None and any(
                isinstance(first.get(c), torch.Tensor) and first[c].shape == output.shape
                and torch.equal(first[c], output) for c in children[name])
        layers.append(LayerInfo(name, type(module).__name__, channels, spatial, layout, prefix, gradient, relays,
                                finish.get(name)))
    return layers


def _copied_from(output: Any) -> Any:
    """The autograd node of the tensor ``output`` is a copy of, when it is one: what a module returns
    unchanged from a child is the copy ``hooks.capture`` handed on of the child's output."""
    node = output.grad_fn
    if node is None or type(node).__name__ != "CloneBackward0" or not node.next_functions:
        return None
    return node.next_functions[0][0]


def _shapes_wider(net: Any, names: list[str], input_size: int, multiple: int) -> dict[str, tuple[int, ...]]:
    from reportgen.models.hooks import capture

    wider = input_size + multiple * -(-WIDER_BY // multiple)
    with torch.inference_mode(), capture(net, names) as outputs:
        net(torch.zeros(1, 3, input_size, wider, device=_device(net)))
    return {n: tuple(o.shape) for n, o in outputs.items() if isinstance(o, torch.Tensor)}


def _changed_cells(net: Any, names: list[str], x: Any, first: dict[str, Any]) -> dict[str, Any]:
    """Per layer, which cells of its output change when the input's top-left quarter is redrawn."""
    from reportgen.models.hooks import capture

    bumped = x.clone()
    half = x.shape[2] // 2, x.shape[3] // 2
    generator = torch.Generator().manual_seed(RANDOM_SEED + 1)
    bumped[:, :, : half[0], : half[1]] = torch.randn((1, 3, *half), generator=generator)
    with torch.inference_mode(), capture(net, names) as outputs:
        net(bumped)
    return {n: (o != first[n]) for n, o in outputs.items()
            if isinstance(o, torch.Tensor) and n in first and o.shape == first[n].shape}


def _layout(output: Any, wider: tuple[int, ...] | None, changed: Any) -> tuple[str, int, int, tuple[int, int]] | None:
    """(layout, prefix, channels, (height, width)) of one output at the model's size, or None."""
    if output is None or output.shape[0] != 1 or output.dim() not in (3, 4):
        return None
    shape = tuple(output.shape)
    if output.dim() == 3:
        count, channels = shape[1], shape[2]
        grid = _prefixed_square(count)
        if grid is None:
            return None
        prefix, side = grid
        if wider is not None and (wider[2] != channels or wider[1] == count or (wider[1] - prefix) % side):
            return None
        return "tokens", prefix, channels, (side, side)
    if wider is not None:
        grown = [d for d in (1, 2, 3) if shape[d] != wider[d]]
        layout = {(): "nchw", (3,): "nchw", (2,): "nhwc"}.get(tuple(grown))
    elif changed is not None:  # a fixed-size (square) input: a map is square, and a local change stays local in it
        support = [float(changed.movedim(d, 0).flatten(1).any(dim=1).float().mean()) >= FULL for d in (1, 2, 3)]
        if shape[2] == shape[3] and shape[1] > 1 and support[0] and support[1] == support[2]:
            layout = "nchw"
        elif shape[1] == shape[2] and shape[3] > 1 and support[2] and support[0] == support[1]:
            layout = "nhwc"
        else:
            layout = None
    else:
        layout = "nchw"
    if layout is None:
        return None
    if layout == "nhwc":
        return "nhwc", 0, shape[3], (shape[1], shape[2])
    return "nchw", 0, shape[1], (shape[2], shape[3])


def _prefixed_square(count: int) -> tuple[int, int] | None:
    """(prefix, side): the fewest leading tokens to drop from ``count`` tokens
    so that the rest fill a square grid, and that grid's side; None when no such prefix exists."""
    for prefix in range(min(MAX_PREFIX, count) + 1):
        side = _square(count - prefix)
        if side is not None:
            return prefix, side
    return None


def _square(count: int) -> int | None:
    """The side of a square grid of ``count`` cells (at least 2 x 2), or None."""
    import math

    side = math.isqrt(max(count, 0))
    return side if side >= 2 and side * side == count else None
