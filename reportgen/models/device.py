"""The device a build runs on, and the settings that make its results reproducible."""
from __future__ import annotations

import os

from reportgen.core.choices import check_device
from reportgen.core.lazy import torch
from reportgen.models.card import ModelError


def select_device(requested: str) -> str:
    """The torch device for ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``. 'auto' picks CUDA
    when present; a device that is asked for but not there is an error, not a silent fallback."""
    check_device(requested)
    if requested == "cpu":
        return "cpu"
    if requested == "mps":
        backend = getattr(torch.backends, "mps", None)
        if backend is None or not backend.is_available():
            raise ModelError("--device mps was asked for, but Apple's Metal (MPS) is not available here")
        return "mps"
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if requested == "auto":
        return "cuda" if gpus else "cpu"
    if not gpus:
        raise ModelError(f"--device {requested} was asked for, but no CUDA GPU is available")
    index = int(requested.partition(":")[2] or 0)
    if index >= gpus:
        raise ModelError(f"--device {requested} was asked for, but this machine has {gpus} CUDA GPU"
                         f"{'s' if gpus > 1 else ''} (cuda:0{f'..cuda:{gpus - 1}' if gpus > 1 else ''})")
    return requested


def prepare_device(device: str) -> None:
    """Settings that make results reproducible, and a GPU's results comparable with a CPU's within
    the regression tolerances: deterministic algorithms everywhere; on CUDA a fixed cuBLAS
    workspace (read when its first handle is made) and no TF32, whose rounding makes gradient
    ascents drift apart step by step. Both cost speed on a GPU (benchmarks/README.md,
    GPU)."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    if device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
