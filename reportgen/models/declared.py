"""A user's own model: declared in the config file (``[model.NAME]``: a factory, a state dict, class
names, input size, channels, normalisation) or passed from Python as a module (``ModelSpec``, or a
bare module: ``module_spec``).

Either becomes a ``LocalModel`` registered under its name, so it is used like any catalogue model.
Its identity is what it computes with, never a file name: the sha256 of its weights' content, the
factory's qualified name and the hash of the factory's source file (a module passed from Python:
its state dict's hash and its class's qualified name). Weights are read with ``weights_only=True``:
a pickled whole model is refused, never unpickled. Every error is one line naming the file and key.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import importlib
import importlib.util
import inspect
import marshal
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, Union

from reportgen.core.digests import file_sha256
from reportgen.core.errors import first_line
from reportgen.core.lazy import torch
from reportgen.models.card import RANDOM_SEED, ModelError
from reportgen.models.embedded import LocalModel, register_local

GRAY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma: how a 1-channel model sees a colour input
# A user's model name goes into file names, page links and the manifest: a plain word, never a path.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Declaration:
    """One ``[model.NAME]`` table, checked and with its paths resolved: plain data (it pickles, so
    Ray workers rebuild the model from it)."""

    name: str
    where: str  # "FILE: model.NAME", the start of every error message
    factory: str  # "module:function"
    folder: Path  # where a factory module beside the config file is looked for
    weights: Path | None
    classes: tuple[str, ...]
    input_size: int
    channels: int = 3
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)

    def local_model(self) -> LocalModel:
        weights = self.weights
        return LocalModel(
            build=self._build, load_weights=functools.partial(self._load_weights, weights=weights) if weights else None,
            weights_file=(lambda: str(weights)) if weights else None, input_size=self.input_size,
            categories=lambda: self.classes, mean=_three(self.mean), std=_three(self.std),
            identity=self.identity, untrained=self.weights is None)

    def identity(self) -> str:
        """The factory, the sources it runs (its module and the modules that one imports from the
        user's folder or package), the weights' content and the channels; the card holds the rest of
        the declaration (classes, input size, mean, std)."""
        function = self._factory()
        source = inspect.getsourcefile(function)
        code = _sources_hash(_user_sources(Path(source), function.__module__, self.folder)) if source else "no source"
        parts = [f"{function.__module__}:{function.__qualname__}", code,
                 file_sha256(self.weights) if self.weights else f"random(seed={RANDOM_SEED})",
                 f"channels={self.channels}"]
        return " ".join(parts)

    def _factory(self) -> Callable[[], Any]:
        module_name, _, function_name = self.factory.partition(":")
        beside = self.folder / f"{module_name.replace('.', '/')}.py"
        try:
            if beside.is_file():
                module = _module_from_file(beside, self.folder)
            else:
                module = importlib.import_module(module_name)
        except Exception as error:  # noqa: BLE001 - a user's module may fail in any way
            raise ModelError(f"{self.where}.factory: cannot import {module_name!r} ({first_line(error)})") from None
        function = getattr(module, function_name, None)
        if not callable(function):
            raise ModelError(f"{self.where}.factory: {module_name} has no function {function_name!r}")
        return function

    def _build(self) -> torch.nn.Module:
        try:
            net = self._factory()()
        except ModelError:
            raise
        except Exception as error:  # noqa: BLE001
            raise ModelError(f"{self.where}.factory: {self.factory}() raised {type(error).__name__}: "
                             f"{first_line(error)}") from None
        if not isinstance(net, torch.nn.Module):
            raise ModelError(f"{self.where}.factory: {self.factory}() returned a {type(net).__name__}, "
                             "not a torch.nn.Module")
        return adapt(net, self.channels, self.input_size, len(self.classes), self.where)

    def _load_weights(self, net: torch.nn.Module, weights: Path) -> str:
        load_state(net, read_state(weights, f"{self.where}.weights"), f"{self.where}.weights ({weights})",
                   self.channels)
        return self.identity()


@dataclass(frozen=True)
class ModelSpec:
    """A model passed from Python: ``reportgen.build(folder, models={"mine": ModelSpec(module=net,
    classes=[...], input_size=64)})``. Its weights are the module's own (trained)."""

    module: torch.nn.Module
    classes: Sequence[str] = ()
    input_size: int = 224
    mean: Sequence[float] = (0.485, 0.456, 0.406)
    std: Sequence[float] = (0.229, 0.224, 0.225)
    channels: int = 3

    def local_model(self, name: str) -> LocalModel:
        import copy

        where = f"models[{name!r}]"
        check_normalisation(where, self.channels, self.mean, self.std)
        identity = (f"{type(self.module).__module__}.{type(self.module).__qualname__} {state_hash(self.module)} "
                    f"{classes_hash(self.module)} channels={self.channels}")
        classes = tuple(self.classes)

        def build() -> Any:
            return adapt(copy.deepcopy(self.module), self.channels, self.input_size, len(classes) or None, where)

        names = classes or tuple(f"class {i}" for i in range(_head_size(build(), self.input_size, where)))
        return LocalModel(build=build, load_weights=None, weights_file=None, input_size=self.input_size,
                          categories=lambda: names, mean=_three(self.mean), std=_three(self.std),
                          identity=lambda: identity)


def module_spec(module: torch.nn.Module, where: str, remedy: str, input_size: int | None = None,
                mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                classes: Sequence[str] | None = None) -> ModelSpec:
    """A bare torch module as a ``ModelSpec``: the input size, mean and std given, else read from
    timm's ``pretrained_cfg`` where the module has one (a timm model); a value neither gives is a
    ModelError naming it and ``remedy`` (its ``{keywords}`` filled with them). A timm model with ImageNet's 1000 outputs gets its class
    names."""
    from reportgen.models.embedded import imagenet_categories
    from reportgen.models.timm_models import IMAGENET_CLASSES

    config: dict[str, Any] = {}
    if isinstance(getattr(module, "pretrained_cfg", None), dict):
        from timm.data import resolve_model_data_config

        config = resolve_model_data_config(module)
    given: dict[str, Any] = {"input_size": input_size if input_size is not None else config.get("input_size", (None,))[-1],
             "mean": mean if mean is not None else config.get("mean"),
             "std": std if std is not None else config.get("std")}
    missing = [key for key, value in given.items() if value is None]
    if missing:
        keywords = ", ".join(f"{key}=..." for key in missing)
        raise ModelError(f"{where}: a {type(module).__name__} has no timm pretrained_cfg to read "
                         f"{', '.join(missing)} from; {remedy.format(keywords=keywords)}")
    if classes is None:
        classes = imagenet_categories() if config and getattr(module, "num_classes", None) == IMAGENET_CLASSES else ()
    return ModelSpec(module=module, classes=tuple(classes), input_size=int(given["input_size"]),
                     mean=tuple(given["mean"]), std=tuple(given["std"]))


def own_model(name: str, model: UserModel) -> Declaration | ModelSpec:
    """A model passed from Python by ``name``, as declared: a bare torch module becomes a
    ``ModelSpec`` (``module_spec``); anything else is returned as it is."""
    if isinstance(model, torch.nn.Module):
        return module_spec(model, f"models[{name!r}]", "pass reportgen.ModelSpec(module=..., input_size=..., "
                           "mean=..., std=...) instead")
    return model


def check_model_name(where: str, name: object) -> None:
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name) or ".." in name:
        raise ModelError(f"{where}: the model name {name!r} may hold only letters, digits, '_', '.' and '-' "
                         "(at most 64, starting with a letter or digit, no '..')")


# A model of the user's: declared in the config file, or passed from Python (a ``ModelSpec`` or a bare module).
UserModel = Union[Declaration, ModelSpec, "torch.nn.Module"]


def declare(name: str, model: UserModel) -> None:
    """Make a user's model (a declaration, a ``ModelSpec`` or a bare torch module) usable by ``name``
    in this process."""
    check_model_name(model.where if isinstance(model, Declaration) else f"models[{name!r}]", name)
    model = own_model(name, model)
    if isinstance(model, Declaration):
        register_local(name, model.local_model())
    elif isinstance(model, ModelSpec):
        if not isinstance(model.module, torch.nn.Module):
            raise ModelError(f"models[{name!r}]: ModelSpec.module is a {type(model.module).__name__}, "
                             "not a torch.nn.Module")
        register_local(name, model.local_model(name))
    else:
        raise ModelError(f"models[{name!r}]: expected a reportgen.ModelSpec, a torch module or a catalogue name, "
                         f"not a {type(model).__name__}")


def check_normalisation(where: str, channels: int, mean: Sequence[float], std: Sequence[float]) -> None:
    if channels not in (1, 3):
        raise ModelError(f"{where}.channels: {channels} is not 1 or 3")
    for key, values in (("mean", mean), ("std", std)):
        if len(values) != channels:
            raise ModelError(f"{where}.{key}: {len(values)} values for a {channels}-channel model")
    if any(float(value) <= 0 for value in std):
        raise ModelError(f"{where}.std: every value must be above 0")


def read_state(path: Path, where: str) -> dict[str, torch.Tensor]:
    """A state dict from ``path``, read without unpickling code."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"{where}: {path} does not exist") from None
    except Exception as error:  # noqa: BLE001 - UnpicklingError for a whole model, RuntimeError for garbage
        if "weights_only" in str(error) or "Unpickl" in type(error).__name__:
            raise ModelError(f"{where}: {path} holds a pickled object, not a state dict; save "
                             "torch.save(model.state_dict(), path) and point weights at that file") from None
        raise ModelError(f"{where}: cannot read {path} ({first_line(error)})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{where}: {path} is not a state dict (a mapping of tensor names to tensors); "
                         "save torch.save(model.state_dict(), path)")
    return state


def load_state(net: torch.nn.Module, state: dict[str, torch.Tensor], where: str, channels: int = 3) -> None:
    """Load ``state`` into ``net``, naming the first tensor that does not fit."""
    target = net.state_dict()
    gray = _first_conv(net) if channels == 1 else None  # adapted to colour; the file's takes 1 channel
    for name, tensor in state.items():
        if name not in target:
            raise ModelError(f"{where}: tensor {name} {tuple(tensor.shape)} is not in the model")
        expected = tuple(target[name].shape)
        if gray is not None and name == f"{gray}.weight":
            expected = (expected[0], 1, *expected[2:])
        if tuple(tensor.shape) != expected:
            raise ModelError(f"{where}: tensor {name} is {tuple(tensor.shape)} in the file, {expected} in the model")
    missing = [name for name in target if name not in state]
    if missing:
        raise ModelError(f"{where}: the file has no tensor {missing[0]} {tuple(target[missing[0]].shape)}"
                         + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    if gray is not None:
        key = f"{gray}.weight"
        state = {**state, key: _colour_weight(state[key])}
    net.load_state_dict(state, strict=True)


def adapt(net: torch.nn.Module, channels: int, input_size: int, classes: int | None, where: str) -> torch.nn.Module:
    """``net`` ready for reportgen's RGB inputs: a 1-channel model's first convolution takes the
    three channels with luma weights (exactly the grayscale conversion, folded into the layer), and
    its head must have one output per class."""
    if channels == 1:
        name = _first_conv(net)
        conv = net.get_submodule(name) if name is not None else None
        if name is None or not isinstance(conv, torch.nn.Conv2d) or conv.in_channels != 1:
            raise ModelError(f"{where}.channels: a 1-channel model must start with a Conv2d of 1 input channel")
        colour = copy.deepcopy(conv)  # same kernel, stride, padding, bias; three input channels
        colour.in_channels = 3
        with torch.no_grad():
            colour.weight = torch.nn.Parameter(_colour_weight(conv.weight), requires_grad=conv.weight.requires_grad)
        parent, _, child = name.rpartition(".")
        setattr(net.get_submodule(parent) if parent else net, child, colour)
    if classes is not None:
        outputs = _head_size(net, input_size, where)
        if outputs != classes:
            raise ModelError(f"{where}.classes: {classes} names for a head of {outputs} outputs")
    return net


def _head_size(net: torch.nn.Module, input_size: int, where: str = "model") -> int:
    try:
        with torch.inference_mode():
            logits = net.eval()(torch.zeros(1, 3, input_size, input_size))
    except Exception as error:  # noqa: BLE001
        raise ModelError(f"{where}.input_size: the model does not run on a {input_size} px input "
                         f"({first_line(error)})") from None
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise ModelError(f"{where}.factory: the model's output is not a batch of class scores (N x classes)")
    return int(logits.shape[1])


def _first_conv(net: torch.nn.Module) -> str | None:
    return next((name for name, module in net.named_modules() if isinstance(module, torch.nn.Conv2d)), None)


def _colour_weight(weight: torch.Tensor) -> torch.Tensor:
    return torch.cat([weight * share for share in GRAY], dim=1)


def _three(values: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(v) for v in values)
    return values * 3 if len(values) == 1 else values  # type: ignore[return-value]


def state_hash(module: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def classes_hash(module: torch.nn.Module) -> str:
    """sha256 over the source of every class the module is built of, beyond the libraries whose
    versions the code identity holds (a file's whole source where there is one: its helpers too)."""
    digest = hashlib.sha256()
    for cls in sorted({type(m) for m in module.modules()}, key=lambda c: f"{c.__module__}.{c.__qualname__}"):
        if cls.__module__.split(".")[0] in ("torch", "torchvision", "timm"):
            continue
        digest.update(f"{cls.__module__}.{cls.__qualname__}\n".encode())
        try:
            source = inspect.getsourcefile(cls)
            digest.update(Path(source).read_bytes() if source else inspect.getsource(cls).encode())
        except (OSError, TypeError):  # its module is gone or kept no source: its methods' compiled code
            digest.update(_compiled_methods(cls))
    return digest.hexdigest()


def _compiled_methods(cls: type) -> bytes:
    code = []
    for name, member in sorted(vars(cls).items()):
        function = getattr(member, "__func__", getattr(member, "fget", member))
        if hasattr(function, "__code__"):
            code.append(name.encode() + marshal.dumps(function.__code__))
    return b"".join(code)


def _user_sources(entry: Path, module_name: str, folder: Path) -> dict[Path, str]:
    """``entry`` and every module it imports, directly or through each other, from the user's
    ``folder`` or, for a module of an importable package, from that package: file -> module name."""
    from reportgen.core.code_identity import import_closure, module_file

    roots: list[tuple[Path, str | None]] = [(folder, None)]
    package_root = entry.parent
    while (package_root / "__init__.py").is_file():
        package_root = package_root.parent
    if package_root != entry.parent or "." in module_name:  # where Python finds its package's modules
        roots.insert(0, (package_root, module_name.split(".")[0]))

    def user_source(name: str) -> Path | None:
        found = (module_file(root, name) for root, package in roots if package in (None, name.split(".")[0]))
        return next((path for path in found if path is not None), None)

    closure = import_closure([(module_name, entry)], user_source)
    return dict(sorted({path: name for name, path in closure.items()}.items()))


def _sources_hash(paths: Iterable[Path]) -> str:
    return hashlib.sha256("".join(f"{p.name} {file_sha256(p)}\n" for p in paths).encode()).hexdigest()


def _module_from_file(path: Path, folder: Path) -> types.ModuleType:
    """A factory module beside the config file, imported under a name unique to its path and to the
    content of the sources it runs, with ``folder`` importable for its helper modules. A changed
    file, or a changed helper, is imported afresh (the folder's modules imported before are dropped)."""
    sources = _user_sources(path, path.stem, folder)
    tag = f"{path.resolve()} {_sources_hash(sources)}"
    name = f"reportgen_user_{hashlib.sha256(tag.encode()).hexdigest()[:12]}_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    for helper in [name for source, name in sources.items() if source != path]:
        sys.modules.pop(helper, None)  # imported earlier, maybe from another folder or before an edit
    where = folder.resolve()
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(where))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path.remove(str(where))
    return module

