"""Shell completion of the values click cannot know by itself: model names (the config file's
declared ones too), technique ids, ``--set TECHNIQUE.FIELD=`` names and a model's layers, read from
its card in the cache. Completion runs on every <TAB>: it reads names and files only, and never
imports torch or a user's model factory (a model nobody built has no card, so no layers complete)."""
from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, Iterable

from click.shell_completion import CompletionItem

# --set fields that name layers of the model (a layer, or a comma-separated list of them)
LAYER_FIELDS = ("layer", "layers", "cam_layer", "units")


def models(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    """The last name of a comma-separated --models: embedded, torchvision's and the config file's."""
    from reportgen.models import available_models

    return _last_of_list(incomplete, [*_declared(ctx), *available_models()])


def techniques(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    from reportgen.techniques.base import registry

    return _last_of_list(incomplete, [name for name, technique in registry().items() if technique.gallery])


def model_name(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    """One model name (``list layers MODEL``, ``weights list``)."""
    return models(ctx, param, incomplete) if "," not in incomplete else []


def settings(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    """``--set``: a technique, then its fields, then (for a layer field) the layers of the models
    whose cards are cached."""
    from reportgen.techniques.base import registry

    found = registry()
    target, equals, value = incomplete.partition("=")
    technique, dot, field = target.partition(".")
    if not dot:
        return [CompletionItem(f"{name}.", type="plain") for name in found if name.startswith(technique)]
    if technique not in found:
        return []
    params = found[technique].Params
    if not equals:
        return [CompletionItem(f"{technique}.{f.name}=", help=_type_name(params, f.name))
                for f in dataclasses.fields(params) if f.name.startswith(field)]
    if field not in LAYER_FIELDS:
        return []
    return [CompletionItem(f"{target}={item.value}") for item in _last_of_list(value, _layers(ctx))]


def _layers(ctx: Any) -> list[str]:
    """The layers of the chosen models (--models, else the settings' models) whose card is cached."""
    from reportgen.core.cache import Cache
    from reportgen.interface.config import split_names

    cache = Cache(Path(_setting(ctx, "cache_dir")))
    names: list[str] = []
    for model in split_names(_setting(ctx, "models")):
        names += [layer for layer in _card_layers(cache, model) if layer not in names]
    return names


def _card_layers(cache: Any, model: str) -> list[str]:
    """The layer names on the most recently used cached card of ``model`` (none when no card is cached)."""
    stem = cache.card_file(f"card-{model}-").name.removesuffix(".json")
    cards = sorted(cache.card_file("x").parent.glob(f"{stem}*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for card in cards:
        try:
            return [layer["name"] for layer in json.loads(card.read_text())["layers"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return []


def _setting(ctx: Any, key: str) -> Any:
    """A setting as a build resolves it: the flag or its environment variable, the config file, the default."""
    from reportgen.interface.config import setting

    return setting(key, ctx.params, _config(ctx))


def _declared(ctx: Any) -> list[str]:
    """The names of the models declared in the config file (their factories are not imported)."""
    return list(_config(ctx).declared)


def _config(ctx: Any) -> Any:
    """The config file's settings; none where it cannot be read (a completion shows no error)."""
    from reportgen.core.choices import ParamError
    from reportgen.interface.config import FileSettings, find_config, load_config

    try:
        return load_config(find_config(ctx.params.get("config_file")))
    except (ParamError, OSError, ValueError):
        return FileSettings()


def _last_of_list(incomplete: str, names: Iterable[str]) -> list[CompletionItem]:
    """Complete the last item of a comma-separated list, keeping the ones before it."""
    head, comma, last = incomplete.rpartition(",")
    before = f"{head}," if comma else ""
    taken = set(head.split(",")) if comma else set()
    return [CompletionItem(before + name) for name in dict.fromkeys(names) if name.startswith(last) and name not in taken]


def _type_name(params: type, name: str) -> str:
    kind = typing.get_type_hints(params)[name]
    return getattr(kind, "__name__", None) or str(kind).replace("typing.", "")


def list_name(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    """``list layers MODEL`` takes a model, ``list params TECHNIQUE`` a technique."""
    from reportgen.techniques.base import registry

    what = ctx.params.get("what")
    if what == "layers":
        return model_name(ctx, param, incomplete)
    if what == "params":
        return [CompletionItem(name) for name in registry() if name.startswith(incomplete)]
    return []
