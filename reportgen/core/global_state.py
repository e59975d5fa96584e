"""Process-wide settings a build changes (torch's deterministic algorithms, its global random
generators, its thread count and TF32 flags; numpy's and Python's global generators), put back as
they were when the build ends, also when it raises: the Python API runs inside a user's process.

Torch is not imported for this: when a build imports it, its settings are recorded the moment the
import finishes, before the build changes any.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import os
import random
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

CUBLAS = "CUBLAS_WORKSPACE_CONFIG"  # set for CUDA builds (models/device.py)


@contextmanager
def kept_global_state() -> Iterator[None]:
    """Run the body, then restore the global state it changed."""
    numpy_state, python_state, cublas = np.random.get_state(), random.getstate(), os.environ.get(CUBLAS)
    saved: list[TorchState] = []
    hook = None
    if "torch" in sys.modules:
        saved.append(TorchState.save(sys.modules["torch"]))
    else:
        hook = _AfterImport("torch", lambda torch: saved.append(TorchState.save(torch)))
        sys.meta_path.insert(0, hook)
    try:
        yield
    finally:
        if hook in sys.meta_path:
            sys.meta_path.remove(hook)
        if saved:
            saved[0].restore(sys.modules["torch"])
        np.random.set_state(numpy_state)
        random.setstate(python_state)
        if cublas is None:
            os.environ.pop(CUBLAS, None)
        else:
            os.environ[CUBLAS] = cublas


@dataclass(frozen=True)
class TorchState:
    deterministic: bool
    warn_only: bool
    threads: int
    cpu_rng: Any
    cuda_rng: list[Any] | None  # None: CUDA not started yet; its generators will start from
    cuda_seed: int  # the CPU generator's seed then (torch.manual_seed and torch.seed set both)
    cudnn_tf32: bool
    matmul_tf32: bool

    @classmethod
    def save(cls, torch: Any) -> "TorchState":
        started = torch.cuda.is_initialized()
        return cls(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
                   torch.get_num_threads(), torch.get_rng_state(), torch.cuda.get_rng_state_all() if started else None,
                   torch.initial_seed(), torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)

    def restore(self, torch: Any) -> None:
        torch.use_deterministic_algorithms(self.deterministic, warn_only=self.warn_only)
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        torch.set_rng_state(self.cpu_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        elif torch.cuda.is_initialized():
            torch.cuda.manual_seed_all(self.cuda_seed)
        torch.backends.cudnn.allow_tf32 = self.cudnn_tf32
        torch.backends.cuda.matmul.allow_tf32 = self.matmul_tf32


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls ``then(module)`` once the module ``name`` is imported, before its importer goes on."""

    def __init__(self, name: str, then: Callable[[Any], None]):
        self.name, self.then = name, then

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenLoader(spec.loader, self.then)
        return spec


class _ThenLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, then: Callable[[Any], None]):
        self.loader, self.then = loader, then

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__spec__.loader = module.__loader__ = self.loader  # the module sees its own loader
        self.loader.exec_module(module)
        self.then(module)
