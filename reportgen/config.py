"""The frozen configuration of one build, and the parsing of ``--set technique.param=value``."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from reportgen.choices import PRESETS, ParamError, check_choice, check_choices
from reportgen.techniques.base import Technique, parse_param


class ConfigError(ParamError):
    """A configuration a person got wrong; the message lists the valid choices."""


@dataclass(frozen=True)
class BuildConfig:
    input_dir: Path
    models: tuple[str, ...]
    techniques: tuple[str, ...]
    out: Path = Path("site")
    cache_dir: Path = Path(".reportgen-cache")
    preset: str = "standard"
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    device: str = "auto"
    weights: str = "pretrained"
    strict: bool = False


def split_names(text: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n.strip() for n in (text or "").split(",") if n.strip()))


def choose_techniques(text: str | None, registry: Mapping[str, Technique]) -> tuple[str, ...]:
    """The techniques named on the command line (all gallery techniques by default), in gallery order."""
    shown = [name for name, technique in registry.items() if technique.gallery]
    names = split_names(text)
    if not names:
        return tuple(shown)
    check_choices("technique", names, shown)
    return tuple(n for n in shown if n in names)


def check_preset(preset: str) -> str:
    return check_choice("preset", preset, PRESETS)


def parse_overrides(texts: Iterable[str], registry: Mapping[str, Technique]) -> dict[str, dict[str, Any]]:
    """``["saliency.steps=20", ...]`` -> {"saliency": {"steps": 20}}, typed by each Params field."""
    overrides: dict[str, dict[str, Any]] = {}
    for text in texts:
        target, equals, value = text.partition("=")
        technique, dot, param = target.strip().partition(".")
        if not equals or not dot or not param:
            raise ConfigError(f"--set {text!r}: expected TECHNIQUE.PARAM=VALUE")
        try:
            check_choice("technique", technique, registry)
            typed = parse_param(registry[technique].Params, param.strip(), value)
        except ParamError as error:
            raise ConfigError(f"--set {text!r}: {error}") from None
        overrides.setdefault(technique, {})[param.strip()] = typed
    return overrides
