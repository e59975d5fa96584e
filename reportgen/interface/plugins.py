"""Techniques and saliency methods of other packages, found through entry points.

An installed package adds one by naming its class in its ``pyproject.toml``::

    [project.entry-points."reportgen.techniques"]
    occlusion = "reportgen_example.occlusion:Occlusion"

    [project.entry-points."reportgen.saliency_methods"]
    squared_gradient = "reportgen_example.squared_gradient:SquaredGradient"

Each group is read once per process, the first time the technique registry is asked for (every
command, the Python API, the site and the regression check ask for it before they read a manifest).
The class is registered as ``@register`` would (it may carry the decorator as well). A plugin that
cannot be added (its import fails, it names no such class, its name is taken) is left out with one
line on stderr naming it, and the rest goes on: a broken package in the environment does not stop
builds that do not use it, and a build that asks for its technique stops at the unknown name.
"""
from __future__ import annotations

import sys
from importlib import metadata
from typing import Callable, ClassVar, Mapping, Protocol, TypeVar

from reportgen.core.errors import first_line

TECHNIQUES = "reportgen.techniques"
SALIENCY_METHODS = "reportgen.saliency_methods"


class Named(Protocol):
    name: ClassVar[str]


Registered = TypeVar("Registered", bound=Named)

_READ: set[str] = set()  # the groups read in this process


def add(group: str, kind: type[Registered], register: Callable[[type[Registered]], object],
        registered: Mapping[str, Registered]) -> None:
    """Register the class of each entry point of ``group`` (a subclass of ``kind``) with ``register``,
    unless ``registered`` (name -> instance) already holds it; once per process and group."""
    if group in _READ:
        return
    _READ.add(group)
    for point in metadata.entry_points(group=group):
        try:
            found = point.load()
            if not (isinstance(found, type) and issubclass(found, kind)):
                raise TypeError(f"{point.value} is not a {kind.__name__} subclass")
            if type(registered.get(found.name)) is not found:
                register(found)
        except Exception as error:  # whatever a plugin's import raises, the build goes on without it
            print(f"warning: plugin {point.name} ({point.value}, entry point group {group}) left out: "
                  f"{type(error).__name__}: {first_line(error)}", file=sys.stderr)
