"""Torch modules that are imported on first use.

Technique files plan work without torch (a warm rebuild must not pay torch's import time) but
compute with it. They import ``torch`` and ``F`` from here; the real import happens the first
time an attribute is read, which is inside ``compute``.
"""
from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING, Any


class LazyModule(types.ModuleType):
    def __init__(self, name: str):
        super().__init__(name)
        self._target: types.ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        if self._target is None:
            self._target = importlib.import_module(self.__name__)
        return getattr(self._target, attribute)


if TYPE_CHECKING:  # type checkers see the real modules
    import torch
    from torch.nn import functional as F
else:
    torch = LazyModule("torch")
    F = LazyModule("torch.nn.functional")
