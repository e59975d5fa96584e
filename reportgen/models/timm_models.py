"""Any timm classifier by name, ``timm:NAME``: its own data config (input size, mean, std),
ImageNet's class names when its head has ImageNet's 1000 classes, and its pretrained weights through
timm (from the Hugging Face cache, downloaded there when there is a network)."""
from __future__ import annotations

import os
from typing import Any

from reportgen.core.choices import ChoiceError
from reportgen.core.errors import first_line
from reportgen.models.card import ModelError, package_version
from reportgen.models.embedded import LOCAL, LocalModel, imagenet_categories, register_local

PREFIX = "timm:"
IMAGENET_CLASSES = 1000
WEIGHTS_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm reads from a Hugging Face repository


def is_timm(name: str) -> bool:
    return name.startswith(PREFIX)


def check(name: str) -> None:
    import timm

    architecture = name[len(PREFIX):]
    if not timm.is_model(architecture):
        raise ChoiceError("timm model", (architecture,), timm.list_models(), "python -c 'import timm; "
                          "print(*timm.list_models(), sep=chr(10))'")


def ensure(name: str) -> None:
    """Register ``timm:NAME`` as a local model on first use (no-op for other names)."""
    if is_timm(name) and name not in LOCAL:
        check(name)
        register_local(name, _timm_model(name[len(PREFIX):]))


def _timm_model(architecture: str) -> LocalModel:
    import timm
    from timm.data import resolve_model_data_config

    def build() -> Any:
        return timm.create_model(architecture, pretrained=False)

    sample = build()
    config = resolve_model_data_config(sample)
    classes = int(getattr(sample, "num_classes", 0) or 0)
    source = sample.pretrained_cfg.get("hf_hub_id") or architecture
    tag = f"{source} (timm {package_version('timm')})"

    def load_weights(net: Any) -> str:
        try:
            trained = timm.create_model(architecture, pretrained=True)
        except Exception as error:  # noqa: BLE001 - offline: OSError, LocalEntryNotFoundError, RuntimeError...
            raise ModelError(
                f"{PREFIX}{architecture}: pretrained weights are not available offline ({first_line(error)}). "
                f"Place Hugging Face's {source} in its cache (HF_HOME, default ~/.cache/huggingface), e.g. by "
                f"running `python -c \"import timm; timm.create_model('{architecture}', pretrained=True)\"` where "
                "there is a network, or build with --weights random") from None
        net.load_state_dict(trained.state_dict())
        return tag

    def categories() -> list[str]:
        return imagenet_categories() if classes == IMAGENET_CLASSES else [f"class {i}" for i in range(classes)]

    def weights_content() -> str:
        return f"{tag} {_cached_content(source)}"

    size = int(config["input_size"][-1])
    return LocalModel(build=build, load_weights=load_weights, weights_file=lambda: tag, input_size=size,
                      categories=categories, mean=tuple(config["mean"]), std=tuple(config["std"]),
                      weights_content=weights_content)


def _cached_content(repository: str) -> str:
    """The content of a model's weights in the Hugging Face cache, without reading them: the cache
    names each file's blob by its sha256. "not downloaded" when the cache has none."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return "not downloaded"
    for filename in WEIGHTS_FILES:
        path = try_to_load_from_cache(repository, filename)
        if isinstance(path, str):
            return f"{filename} sha256:{os.path.basename(os.path.realpath(path))}"
    return "not downloaded"
