"""What ``reportgen list layers`` and ``reportgen list params`` print: a model's layers with the
ones each technique picks by default, and every ``--set`` field of a technique, read from its
Params dataclass (type, choices, value per preset, and the comment that explains it)."""
from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import typing
from typing import Any, Mapping

from reportgen.core.choices import PRESETS
from reportgen.interface.config import default
from reportgen.models.card import ModelCard
from reportgen.techniques.base import Technique

CHOICE_CHECK = re.compile(r"check_choices?\([^,]+,\s*params\.(\w+),\s*([A-Z][A-Z_]*)\)")
FIELD_LINE = re.compile(r"^\s+(\w+)\s*:[^#]*?(?:#\s*(.*))?$")


def default_picks(card: ModelCard, registry: Mapping[str, Technique], preset: str) -> dict[str, list[str]]:
    """Layer name -> the techniques that pick it when no layer is set."""
    picks: dict[str, list[str]] = {}
    for name, technique in registry.items():
        for layer in dict.fromkeys(technique.default_layers(technique.params_for(preset), card)):
            picks.setdefault(layer, []).append(name)
    return picks


def layer_lines(card: ModelCard, registry: Mapping[str, Technique], preset: str) -> list[str]:
    """One line per named module: name, kind, output (channels x height x width, at the model's
    input size) and layout, and the techniques that pick it by default."""
    picks = default_picks(card, registry, preset)
    rows = [("name", "kind", "output", "layout", "default for")]
    for info in card.layers:
        shape = f"{info.channels}x{info.spatial[0]}x{info.spatial[1]}" if info.channels and info.spatial else \
            str(info.channels or "-")
        rows.append((info.name or "(model)", info.type, shape, info.layout or "-", ", ".join(picks.get(info.name, []))))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = [f"# {card.name} at {card.input_size} x {card.input_size} px ({card.constraints}); output: "
             "channels x height x width of the layer's map"]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4] for row in rows]
    return [line.rstrip() for line in lines]


@dataclasses.dataclass(frozen=True)
class ParamInfo:
    """One ``--set`` field of a technique."""

    name: str
    type: str
    choices: tuple[str, ...]
    values: dict[str, Any]  # preset -> value
    meaning: str


def params_of(technique: Technique) -> list[ParamInfo]:
    params_cls = technique.Params
    hints = typing.get_type_hints(params_cls)
    meanings = _field_comments(params_cls)
    choices = _choices(technique)
    return [ParamInfo(field.name, _type_text(hints[field.name]), choices.get(field.name, ()),
                      {preset: getattr(technique.params_for(preset), field.name) for preset in PRESETS},
                      meanings.get(field.name, ""))
            for field in dataclasses.fields(params_cls)]


def param_lines(technique: Technique) -> list[str]:
    """A technique's fields: one line each of name, type, choices and value per preset (one value
    when the presets agree), then its meaning."""
    lines = [f"# {technique.name}: {technique.title}  (--set {technique.name}.FIELD=VALUE; "
             f"default preset: {default('preset')})"]
    for info in params_of(technique):
        values = {preset: _value_text(value) for preset, value in info.values.items()}
        shown = values[default("preset")] if len(set(values.values())) == 1 else \
            ", ".join(f"{preset} {value}" for preset, value in values.items())
        many = info.type.startswith("list")
        choices = f"  {'one or more' if many else 'one'} of: {', '.join(info.choices)}" if info.choices else ""
        lines.append(f"  {info.name} ({info.type}) = {shown}{choices}")
        if info.meaning:
            lines.append(f"      {info.meaning}")
    return lines


def _type_text(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin is tuple:
        return f"list of {_type_text(typing.get_args(kind)[0])}"
    if origin is not None and type(None) in typing.get_args(kind):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return f"{_type_text(options[0])} or none"
    return getattr(kind, "__name__", str(kind))


def _value_text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) if value else "(empty)"
    if value == "":
        return "(empty)"
    if value is None:
        return "none"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _field_comments(params_cls: type) -> dict[str, str]:
    """Each field's comment in its Params source: the one on its line, else the comment line that
    heads its group of fields. Base classes first, so a subclass's comment wins."""
    comments: dict[str, str] = {}
    for cls in reversed(params_cls.__mro__):
        if not dataclasses.is_dataclass(cls):
            continue
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        heading = ""
        for line in source.splitlines()[1:]:
            stripped = line.strip()
            if not stripped or stripped.startswith(('"""', "'''")):
                heading = ""
            elif stripped.startswith("#"):
                heading = stripped.lstrip("# ")
            elif match := FIELD_LINE.match(line):
                comments[match.group(1)] = match.group(2) or heading
    return comments


def _choices(technique: Technique) -> dict[str, tuple[str, ...]]:
    """Field -> the names it accepts, read from the technique's own checks
    (``check_choices("...", params.styles, STYLES)``), so they never drift from what it accepts."""
    module = sys.modules[type(technique).__module__]
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return {}
    found = {}
    for field, constant in CHOICE_CHECK.findall(source):
        value = getattr(module, constant, None)
        if isinstance(value, (tuple, list, dict)):
            found[field] = tuple(map(str, value))
    return found
