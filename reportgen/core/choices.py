"""The fixed lists of names a person can choose from, each defined once, and the one error for a
value outside them. Torch-free and dependency-free, so any module (planning, the site, optim) can
import it without a cycle."""
from __future__ import annotations

import difflib
import re
from typing import Iterable, Sequence, TypeVar


class ParamError(ValueError):
    """A parameter a person got wrong (unknown name, wrong type, out of range); the message is for them."""


class ConfigError(ParamError):
    """A configuration a person got wrong (a flag, an argument, a config file's key); the message
    names it and lists the valid choices."""


# A list longer than this is not printed in an error: the closest names are, and the command that lists all.
LISTED_AT_MOST = 12
# The command that lists every valid name of a kind, for errors about long lists.
LISTINGS = {"model": "reportgen list models", "technique": "reportgen list techniques",
            "saliency methods": "reportgen list params saliency"}


class ChoiceError(ParamError):
    """A value outside a fixed list; the message lists the valid ones, or for a long list the
    closest ones and the command that lists them all."""

    def __init__(self, what: str, chosen: Sequence[object], valid: Iterable[object], listing: str | None = None):
        self.what, self.chosen, self.valid = what, tuple(chosen), tuple(valid)
        shown = repr(self.chosen[0]) if len(self.chosen) == 1 else ", ".join(map(str, self.chosen))
        super().__init__(f"unknown {what} {shown}; {valid_text(self.chosen, self.valid, listing or LISTINGS.get(what))}")


def valid_text(chosen: Sequence[object], valid: Sequence[object], listing: str | None = None) -> str:
    """"valid: a, b, c" for a short list; else the names closest to what was chosen (difflib) and
    the command that lists them all, so that a mistyped name gets one short line."""
    names = [str(name) for name in valid]
    if len(names) <= LISTED_AT_MOST:
        return f"valid: {', '.join(names)}"
    close = dict.fromkeys(match for text in chosen for match in difflib.get_close_matches(str(text), names, n=3, cutoff=0.6))
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return f"{hint}`{listing}` lists all {len(names)}" if listing else f"{hint}{len(names)} valid names"


Chosen = TypeVar("Chosen")


def check_choice(what: str, value: Chosen, valid: Iterable[object]) -> Chosen:
    """``value`` if it is one of ``valid``, else a ChoiceError naming them."""
    valid = tuple(valid)
    if value not in valid:
        raise ChoiceError(what, (value,), valid)
    return value


def check_choices(what: str, values: Iterable[Chosen], valid: Iterable[object]) -> tuple[Chosen, ...]:
    """``values`` if each is one of ``valid``, else a ChoiceError naming the unknown ones and the valid."""
    values, valid = tuple(values), tuple(valid)
    unknown = [v for v in values if v not in valid]
    if unknown:
        raise ChoiceError(what, unknown, valid)
    return values


PRESETS = ("quick", "standard", "full")
WEIGHTS = ("pretrained", "random")
# How animations are written (``render.animation_bytes``), each also the file suffix: GIF, 256 colours
# per frame, shown everywhere; WebP, full colour, smaller.
ANIMATIONS = ("gif", "webp")
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")  # cuda = cuda:0; auto = CUDA when there is a GPU, else the CPU


def check_device(device: str) -> str:
    """``device`` if it names a kind of device (whether this machine has it is models.device's
    question), else a ChoiceError."""
    if device in ("auto", "cpu", "cuda", "mps") or re.fullmatch(r"cuda:\d+", str(device)):
        return device
    raise ChoiceError("device", (device,), DEVICES)
EXECUTORS = ("local", "ray")

# How a ReLU passes gradients back (hooks.activation_override); the saliency methods that read
# them share one forward pass (attribution/methods.py holds the methods themselves).
GRADIENT_RULES = ("vanilla", "deconvnet", "guided")

# How a layer's output reads as a (C, H, W) map (models/layout.py): channels first, channels last
# (Swin), or a token sequence (ViT: class token, then a row-major grid of patches).
LAYOUTS = ("nchw", "nhwc", "tokens")

# Module types whose output is an activation: the layers worth showing or dreaming on by default.
ACTIVATIONS = ("ReLU", "ReLU6", "SiLU", "GELU", "Hardswish", "BatchNormAct2d")

