"""Technique parameters as given: typed (the config file, the Python API) or as ``--set
technique.param=value`` text, each kept with where it was given; both are checked against the
technique's Params types, with the same errors."""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from reportgen.core.choices import ChoiceError, ConfigError, ParamError, check_choice
from reportgen.techniques.base import Technique, parse_param


@dataclass(frozen=True)
class Override:
    """One technique parameter as given: typed (config file, Python API) or ``--set`` text, with
    where it was given, so an error can name it."""

    label: str
    technique: str
    param: str
    value: Any
    text: bool = False  # --set's text, read by the field's type


def set_override(text: str) -> Override:
    """``--set saliency.steps=20`` as an Override."""
    label = f"--set {text!r}"
    target, equals, value = text.partition("=")
    technique, dot, param = target.strip().partition(".")
    if not equals or not dot or not param.strip():
        raise ConfigError(f"{label}: expected TECHNIQUE.PARAM=VALUE")
    return Override(label, technique, param.strip(), value, text=True)


def typed_overrides(overrides: Mapping[str, Mapping[str, Any]] | None) -> list[Override]:
    """The Python API's ``{"saliency": {"methods": ("gradcam",)}}`` as Overrides."""
    return [Override(f"overrides[{technique!r}][{param!r}]", technique, param, value)
            for technique, params in (overrides or {}).items() for param, value in params.items()]


def typed_param(params_cls: type, name: str, value: Any) -> Any:
    """``value`` checked against the field's declared type (a list is taken for a tuple, an int for
    a float, and for a text, such as a class index); the errors are ``--set``'s."""
    check_choice("parameter", name, [item.name for item in dataclasses.fields(params_cls)])
    try:
        return _typed(typing.get_type_hints(params_cls)[name], value)
    except ValueError as error:
        raise ParamError(f"bad value {value!r} for {name}: {error}") from None


def _typed(kind: Any, value: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin is tuple:
        item = typing.get_args(kind)[0]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected a list of {_type_name(item)}")
        return tuple(_typed(item, part) for part in value)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return None if value is None else _typed(options[0], value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, int) and not isinstance(value, bool):  # a class index: classes = [52, 77]
        return str(value)
    if kind in (bool, int, float, str) and isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise ValueError(f"expected {_type_name(kind)}")


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))


def resolve_overrides(overrides: Iterable[Override], registry: Mapping[str, Technique]) -> dict[str, dict[str, Any]]:
    """Overrides in order (a later one wins) -> {"saliency": {"steps": 20}}, typed by each Params field."""
    resolved: dict[str, dict[str, Any]] = {}
    for given in overrides:
        try:
            check_choice("technique", given.technique, registry)
            params_cls = registry[given.technique].Params
            fields = [field.name for field in dataclasses.fields(params_cls)]
            if given.param not in fields:
                raise ChoiceError("parameter", (given.param,), fields, f"reportgen list params {given.technique}")
            value = (parse_param(params_cls, given.param, given.value) if given.text
                     else typed_param(params_cls, given.param, given.value))
        except ParamError as error:
            raise ConfigError(f"{given.label}: {error}") from None
        resolved.setdefault(given.technique, {})[given.param] = value
    return resolved


def parse_overrides(texts: Iterable[str], registry: Mapping[str, Technique]) -> dict[str, dict[str, Any]]:
    """``["saliency.steps=20", ...]`` -> {"saliency": {"steps": 20}}."""
    return resolve_overrides(map(set_override, texts), registry)
