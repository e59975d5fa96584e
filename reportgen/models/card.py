"""What planning knows of a model: its ``ModelCard`` (layers, channels, parameters, preprocessing,
category names, weights identity, input constraints, how each layer's output reads as a map).
Plain data, cached as JSON, so a warm rebuild plans without importing torch."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Sequence

import numpy as np

CARD_VERSION = 5  # 5: forward cost counted; 4: input constraints, layer layouts and gradients probed. Bump when the card's contents or the loading of a model change
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RANDOM_SEED = 0


class ModelError(Exception):
    """A model that cannot be used, with a message meant for a person (no traceback)."""


@dataclass(frozen=True)
class LayerInfo:
    """A named module, and how its output reads as a (C, H, W) feature map (``models.layout``)."""

    name: str
    type: str
    channels: int | None  # channels of its output read as a map, at the model's input size; None: no map
    spatial: tuple[int, int] | None  # the map's height, width at the model's input size
    # How the output was read (choices.LAYOUTS): "nchw", "nhwc" (channels-last, Swin) or "tokens"
    # (N x T x C: ``prefix`` leading tokens such as ViT's class token, then a row-major grid); None:
    # not a map (a tuple, a vector, windows of a partition).
    layout: str | None = None
    prefix: int = 0
    gradient: bool = False  # the class score's gradient reached some cell of its map in the probe
    relays: bool = False  # its output is one of its children's outputs, unchanged (a Sequential)
    finish: int | None = None  # its rank in the order modules finished in the probe; None: never ran


@dataclass(frozen=True)
class ModelCard:
    name: str
    weights: str  # "pretrained" or "random"
    weights_id: str  # what exactly was loaded: enum name, file name and package version, seed
    weights_file: str | None  # where pretrained weights are read from (for error messages)
    weights_url: str | None  # where torchvision downloads them from; None for embedded models
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    categories: tuple[str, ...]
    layers: tuple[LayerInfo, ...]  # every named module, in definition order
    parameters: tuple[tuple[str, tuple[int, ...]], ...]  # named_parameters(), in order
    # Input constraints, probed (models/probe.py): every side at least ``min_size``, and
    # ``min_size + k * size_multiple``; a model with ``fixed_size`` takes only that square.
    min_size: int = 1
    size_multiple: int = 1
    fixed_size: int | None = None
    # One image's forward at ``input_size``, counted (models/probe.py forward_cost): what the work
    # of a technique is sized by (reportgen/core/budget.py). 0: not counted (a card made by hand).
    gflops: float = 0.0
    activation_mb: float = 0.0

    @property
    def untrained(self) -> bool:
        return self.weights == "random"

    @functools.cached_property
    def identity(self) -> dict[str, Any]:
        """What the cache key needs to know of the model: its weights and everything on its card
        (preprocessing, input size, class names, layers, parameter shapes), so an edited declaration
        recomputes. Where the weights lie on this machine is not part of it. Computed once: every
        artifact's key reads it."""
        content = {k: v for k, v in self.to_json().items() if k not in ("weights_file", "weights_url")}
        text = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return {"name": self.name, "weights": self.weights_id, "card": hashlib.sha256(text.encode()).hexdigest()}

    def fit_size(self, height: int, width: int) -> tuple[int, int]:
        """The valid input size nearest to (height, width): the fixed size if the model has one,
        else each side rounded to the nearest ``min_size + k * size_multiple``, never below
        ``min_size``. Every technique that picks its own canvas or pyramid sizes goes through it."""
        if self.fixed_size is not None:
            return self.fixed_size, self.fixed_size
        return self._fit_side(height), self._fit_side(width)

    def _fit_side(self, side: int) -> int:
        steps = max(0, (2 * (int(side) - self.min_size) + self.size_multiple) // (2 * self.size_multiple))  # halves round up
        return self.min_size + steps * self.size_multiple

    def accepts(self, height: int, width: int) -> bool:
        return self.fit_size(height, width) == (height, width)

    @property
    def constraints(self) -> str:
        """The input constraints in words, for messages and the gallery."""
        if self.fixed_size is not None:
            return f"exactly {self.fixed_size} x {self.fixed_size} px"
        text = f"at least {self.min_size} px a side"
        return text + (f", in steps of {self.size_multiple} px" if self.size_multiple > 1 else "")

    def layer(self, name: str) -> LayerInfo:
        for info in self.layers:
            if info.name == name:
                return info
        from reportgen.core.choices import valid_text

        valid = [info.name for info in self.layers if info.channels]
        raise ModelError(f"{self.name} has no layer {name!r}; "
                         f"{valid_text((name,), valid, f'reportgen list layers {self.name}')}")

    def conv_layers(self) -> list[LayerInfo]:
        return [info for info in self.layers if info.type == "Conv2d" and info.channels]

    def feature_layers(self) -> list[LayerInfo]:
        """Modules with 4-D outputs that are not the model itself: candidates for maps and ascent."""
        return [info for info in self.layers if info.channels and info.spatial]

    def pick(self, count: int, kinds: Sequence[str] = ("Conv2d",), min_side: int = 1) -> list[str]:
        """``count`` layers of these types spread from early to late (first and last included), of
        maps at least ``min_side`` a side (squeeze-excitation gates and pooled vectors are 1 x 1)."""
        roomy = [info for info in self.feature_layers() if info.spatial and min(info.spatial) >= min_side]
        names = [info.name for info in roomy if info.type in kinds]
        if not names:
            names = [info.name for info in roomy]
        if len(names) <= count:
            return names
        positions = np.linspace(0, len(names) - 1, count).round().astype(int)
        return [names[p] for p in dict.fromkeys(positions)]

    def category(self, index: int) -> str:
        return self.categories[index] if 0 <= index < len(self.categories) else f"class {index}"

    def class_index(self, label: str | int) -> int:
        """A class given as an index or a category name (case-insensitive)."""
        if isinstance(label, int) or str(label).strip().lstrip("-").isdigit():
            index = int(label)
            if not 0 <= index < len(self.categories):
                raise ModelError(f"class {index} is out of range for {self.name} (0..{len(self.categories) - 1})")
            return index
        lowered = str(label).strip().lower()
        for index, name in enumerate(self.categories):
            if name.lower() == lowered:
                return index
        raise ModelError(f"{self.name} has no category named {label!r}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ModelCard":
        data = dict(data)
        data["layers"] = tuple(
            LayerInfo(**{**l, "spatial": tuple(l["spatial"]) if l["spatial"] else None}) for l in data["layers"]
        )
        data["parameters"] = tuple((n, tuple(s)) for n, s in data["parameters"])
        for key in ("mean", "std", "categories"):
            data[key] = tuple(data[key])
        return cls(**data)


def package_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "none"
