"""Which models exist and where their weights are: torchvision's classifiers, read from its source
without importing it, the embedded models, and the weights files torch.hub keeps."""
from __future__ import annotations

import ast
import functools
import importlib.util
import os
from pathlib import Path

from reportgen.core.choices import ChoiceError, ParamError
from reportgen.models.embedded import LOCAL
from reportgen.models.timm_models import check as check_timm, is_timm


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
        if spec is None or spec.origin is None:
            return {}
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
    return [*sorted(LOCAL), *[n for n in torchvision_names() if n not in LOCAL]]


def check_name(name: str) -> None:
    if is_timm(name):
        check_timm(name)
    elif name not in LOCAL and name not in torchvision_names():
        if any(mark in name for mark in ("/", "\\", ".pt", ".pth", ".py")):  # a file of the user's
            raise ParamError(f"unknown model {name!r}: to explain a model of yours, declare it as [model.NAME] "
                             "in reportgen.toml with its factory and state-dict weights (README, Explain your own "
                             "model); `timm:NAME` takes any timm model; `reportgen list models` lists the others")
        raise ChoiceError("model", (name,), available_models())


def checkpoints_dir() -> Path:
    """Where torch.hub keeps downloaded weights ($TORCH_HOME/hub/checkpoints)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return Path(home) / "hub" / "checkpoints"


def is_embedded(name: str) -> bool:
    """A model that ships with its weights (no download)."""
    return name in LOCAL
