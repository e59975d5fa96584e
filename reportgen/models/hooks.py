"""The only place reportgen attaches anything to a model. Every attachment is a context manager
that removes itself in ``finally``, also when the code inside raises.

- ``capture``: record the outputs of named modules during a forward pass, optionally stopping the
  forward right after the last of them (a truncated network, for early layers).
- ``activation_override``: make ReLU-family modules pass gradients back as vanilla backprop,
  guided backprop or DeconvNet do. The rule is read at backward time, so one forward pass can
  serve all three. Works with in-place activations because the override computes its own output.
- ``replaced_output``: a named module's output replaced by a function of it (Ablation-CAM's
  removed channel).
- ``module_calls``: which modules of given types ran, in order, with their inputs and outputs
  (how ``folding`` finds each batch norm's convolution); ``last_call_input``: the input of the last
  one (how ``LoadedModel.features`` reads what a classifier's head reads).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from reportgen.core.choices import GRADIENT_RULES, check_choice


class _Truncated(Exception):
    """Raised by a capture hook to stop a forward pass once every wanted output is recorded."""


def module_at(model: nn.Module, name: str) -> nn.Module:
    """The submodule with this dotted name (``features.29``, ``layer4.2``); a clear error if none."""
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        raise KeyError(f"no layer {name!r} in this model")
    return modules[name]


@contextmanager
def capture(model: nn.Module, names: Sequence[str], truncate: bool = False) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of ``names`` into the yielded dict during forwards run inside the block.

    With ``truncate=True`` the forward stops once all outputs are recorded; run it through
    ``forward_until`` so the stop is not mistaken for an error. Outputs keep their autograd graph.
    """
    outputs: dict[str, torch.Tensor] = {}
    wanted = set(names)
    handles = []

    def make_hook(name: str):
        def hook(_module, _inputs, output):
            outputs[name] = output
            if truncate and wanted.issubset(outputs):
                raise _Truncated
            # The rest of the network gets a copy: an in-place op downstream (ReLU(inplace=True),
            # a residual +=) would otherwise overwrite what we recorded. The copy derives from the
            # recorded tensor, so gradients with respect to it still flow.
            return output.clone() if isinstance(output, torch.Tensor) else output

        return hook

    try:
        for name in dict.fromkeys(names):
            handles.append(module_at(model, name).register_forward_hook(make_hook(name)))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def forward_until(model: nn.Module, inputs: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
    """Run the model only as far as needed to produce the outputs of ``names``."""
    with capture(model, names, truncate=True) as outputs:
        try:
            model(inputs)
        except _Truncated:
            pass
    missing = [n for n in names if n not in outputs]
    if missing:
        raise RuntimeError(f"layers never ran in the forward pass: {', '.join(missing)}")
    return dict(outputs)


@contextmanager
def replaced_output(model: nn.Module, name: str,
                    change: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Inside the block, every forward goes on with ``change(output)`` of layer ``name``."""
    handle = module_at(model, name).register_forward_hook(lambda _module, _inputs, output: change(output))
    try:
        yield
    finally:
        handle.remove()


def module_calls(model: nn.Module, inputs: torch.Tensor,
                 types: tuple[type, ...]) -> tuple[list[tuple[str, nn.Module, tuple, torch.Tensor]], torch.Tensor]:
    """(name, module, inputs, output) of every call of a submodule of one of ``types`` during one
    forward of ``inputs``, in call order, and the model's output. The tensors are kept, so their
    ids stay unique."""
    calls: list[tuple[str, nn.Module, tuple, torch.Tensor]] = []
    with _on_calls(model, types, lambda *call: calls.append(call)), torch.inference_mode():
        output = model(inputs)
    return calls, output


def last_call_input(model: nn.Module, inputs: torch.Tensor,
                    types: tuple[type, ...]) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The first input of the last call of a submodule of one of ``types`` during one forward of
    ``inputs`` (None if none ran), and the model's output. Only that input is kept, not every
    call's tensors: a transformer's linear layers would hold hundreds of megabytes."""
    last: list[torch.Tensor] = []

    def record(_name, _layer, args, _output):
        last[:] = [args[0]]

    with _on_calls(model, types, record), torch.inference_mode():
        output = model(inputs)
    return (last[0] if last else None), output


def leaf_output_elements(model: nn.Module, inputs: torch.Tensor) -> int:
    """Elements of the tensors every leaf module returns in one forward of ``inputs``: about what a
    backward pass keeps alive, since autograd saves most of them. Counted, not kept."""
    total = [0]

    def count(_name, layer, _args, output):
        if torch.is_tensor(output) and next(layer.children(), None) is None:
            total[0] += output.numel()

    with _on_calls(model, (nn.Module,), count), torch.inference_mode():
        model(inputs)
    return total[0]


@contextmanager
def _on_calls(model: nn.Module, types: tuple[type[nn.Module], ...], record) -> Iterator[None]:
    """Call ``record(name, module, inputs, output)`` after every call of a submodule of ``types``."""
    handles = []
    try:
        for name, module in model.named_modules():
            if isinstance(module, types):
                handles.append(module.register_forward_hook(
                    lambda layer, args, output, name=name: record(name, layer, args, output)))
        yield
    finally:
        for handle in handles:
            handle.remove()


@dataclass
class ActivationOverride:
    """Handle yielded by ``activation_override``: set ``rule`` before each backward."""

    rule: str = "vanilla"
    guided: int = 0  # activation modules whose gradient rule is overridden
    unguided: list[str] = field(default_factory=list)  # activation modules we cannot guide
    # Calls of functional activations (DenseNet's F.relu, F.silu...) made by forwards inside the
    # block, outside any activation module: they pass plain gradients, and the gallery says so.
    functional_calls: int = 0
    _inside_module: int = 0


class _RuleActivation(torch.autograd.Function):
    """ReLU / ReLU6 / Hardtanh-style clamp whose backward follows the override's current rule."""

    @staticmethod
    def forward(ctx, x, low, high, state):
        ctx.save_for_backward(x)
        ctx.low, ctx.high, ctx.state = low, high, state
        return x.clamp(min=low, max=high)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        inside = x > ctx.low
        if ctx.high is not None:
            inside = inside & (x < ctx.high)
        rule = ctx.state.rule
        if rule == "vanilla":
            return grad * inside, None, None, None
        if rule == "guided":
            return grad.clamp(min=0) * inside, None, None, None
        if rule == "deconvnet":
            return grad.clamp(min=0), None, None, None
        check_choice("gradient rule", rule, GRADIENT_RULES)


_CLAMPS: dict[type, tuple[float, float | None]] = {nn.ReLU: (0.0, None), nn.ReLU6: (0.0, 6.0)}
_UNGUIDABLE = (nn.SiLU, nn.GELU, nn.ELU, nn.LeakyReLU, nn.PReLU, nn.Hardswish, nn.Mish, nn.Sigmoid, nn.Tanh)
_FUNCTIONAL_ACTIVATIONS = frozenset({
    F.relu, F.relu_, F.relu6, F.hardtanh, F.silu, F.gelu, F.elu, F.leaky_relu, F.hardswish, F.mish,
    torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_,
})


class _FunctionalActivationCounter(torch.overrides.TorchFunctionMode):
    """Counts functional activation calls that no activation module made (those cannot be guided)."""

    def __init__(self, state: ActivationOverride):
        super().__init__()
        self.state = state

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _FUNCTIONAL_ACTIVATIONS and not self.state._inside_module:
            self.state.functional_calls += 1
        return func(*args, **(kwargs or {}))


@contextmanager
def activation_override(model: nn.Module) -> Iterator[ActivationOverride]:
    """Route the gradients of every ReLU / ReLU6 module through the yielded handle's rule.

    Activations it cannot guide are reported on the handle: modules by name (``unguided``), and
    functional calls outside modules by count (``functional_calls``, counted by a torch-function
    mode that lives only inside this block).
    """
    state = ActivationOverride()
    patched: list[nn.Module] = []
    handles = []
    counter = _FunctionalActivationCounter(state)

    def enter(_module, _inputs):
        state._inside_module += 1

    def leave(_module, _inputs, _output):
        state._inside_module -= 1

    try:
        for name, module in model.named_modules():
            clamp = _CLAMPS.get(type(module))
            if clamp is None:
                if isinstance(module, _UNGUIDABLE):
                    state.unguided.append(name)
                    handles.append(module.register_forward_pre_hook(enter))
                    handles.append(module.register_forward_hook(leave, always_call=True))
                continue
            low, high = clamp

            def forward(x, low=low, high=high):
                return _RuleActivation.apply(x, low, high, state)

            module.forward = forward  # instance attribute shadows the class method until removed
            patched.append(module)
        state.guided = len(patched)
        with counter:
            yield state
    finally:
        for handle in handles:
            handle.remove()
        for module in patched:
            del module.forward


def hooks_left(model: nn.Module) -> int:
    """How many hooks or overrides are still attached anywhere in the model (0 after any block)."""
    count = 0
    for module in model.modules():
        count += len(module._forward_hooks) + len(module._forward_pre_hooks)
        count += len(module._backward_hooks) + len(getattr(module, "_backward_pre_hooks", {}))
        count += int("forward" in vars(module))
    return count


Attention = Callable[..., tuple[torch.Tensor, "torch.Tensor | None"]]  # nn.MultiheadAttention's forward


def _explicit_attention(module: nn.MultiheadAttention, keep: Callable[[torch.Tensor], torch.Tensor]) -> Attention:
    """A forward for ``module`` that computes its softmax in the open and hands it to ``keep``
    (PyTorch's own returns a reshaped copy that the output does not depend on, so no gradient
    reaches it). Unmasked self-attention only: the kind vision transformers use."""
    if not module._qkv_same_embed_dim or module.bias_k is not None or module.add_zero_attn:
        raise ValueError("attention with separate key/value sizes or extra key/value biases is not supported")

    def forward(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None, need_weights: bool = True,
                attn_mask: torch.Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not (query is key is value) or key_padding_mask is not None or attn_mask is not None or is_causal:
            raise ValueError("only unmasked self-attention can be read")
        tokens = query if module.batch_first else query.transpose(0, 1)
        batch, length, width = tokens.shape
        heads = module.num_heads
        q, k, v = F.linear(tokens, module.in_proj_weight, module.in_proj_bias).split(width, dim=-1)
        q, k, v = (t.view(batch, length, heads, width // heads).transpose(1, 2) for t in (q, k, v))
        weights = (q @ k.transpose(-2, -1) / (width // heads) ** 0.5).softmax(dim=-1)
        keep(weights)
        mixed = (weights @ v).transpose(1, 2).reshape(batch, length, width)
        output = module.out_proj(mixed)
        if not module.batch_first:
            output = output.transpose(0, 1)
        shown = weights.mean(dim=1) if average_attn_weights else weights
        return output, (shown if need_weights else None)

    return forward


@contextmanager
def attention_weights(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Record every self-attention's weights (N x heads x tokens x tokens), in the order the
    layers run, into the yielded list; each keeps its gradient (``.grad`` after a backward), as
    gradient-weighted rollout needs.

    torchvision's ``nn.MultiheadAttention`` runs an explicit softmax while inside the block (an
    instance ``forward``, removed after); timm's ``Attention`` leaves its fused kernel for its own
    explicit softmax, and the output of its ``attn_drop`` (identity in eval mode) is recorded.
    Raises ``ValueError`` when the model has neither."""
    weights: list[torch.Tensor] = []
    handles = []
    overridden: list[nn.Module] = []
    unfused: list[nn.Module] = []

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.requires_grad:
            tensor.retain_grad()
        weights.append(tensor)
        return tensor

    def keep_copy(_module, _inputs, output):  # the copy is what the network goes on with
        return keep(output.clone())

    try:
        for module in model.modules():
            if isinstance(module, nn.MultiheadAttention):
                setattr(module, "forward", _explicit_attention(module, keep))  # an instance forward, deleted after
                overridden.append(module)
            elif hasattr(module, "fused_attn") and isinstance(drop := getattr(module, "attn_drop", None), nn.Module):
                if module.fused_attn:  # timm's flag, a bool (set through setattr: torch types attributes as tensors)
                    setattr(module, "fused_attn", False)
                    unfused.append(module)
                handles.append(drop.register_forward_hook(keep_copy))
        if not handles and not overridden:
            raise ValueError("the model has no self-attention layer whose weights can be read")
        yield weights
    finally:
        for handle in handles:
            handle.remove()
        for module in overridden:
            del module.forward
        for module in unfused:
            setattr(module, "fused_attn", True)
