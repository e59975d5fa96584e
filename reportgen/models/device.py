"""The device a build runs on, and the settings that make its results reproducible."""
from __future__ import annotations

import os

from reportgen.choices import DEVICES, check_choice
from reportgen.lazy import torch
from reportgen.models.card import ModelError


def select_device(requested: str) -> str:
    """'auto' picks CUDA when present; 'cuda' without a GPU is an error, not a silent fallback."""
    check_choice("device", requested, DEVICES)
    if requested == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        raise ModelError("--device cuda was asked for, but no CUDA GPU is available")
    return "cuda" if available else "cpu"


def prepare_device(device: str) -> None:
    """Settings that make results reproducible, and a GPU's results comparable with a CPU's within
    the regression tolerances: deterministic algorithms everywhere; on CUDA a fixed cuBLAS
    workspace (read when its first handle is made) and no TF32, whose rounding makes gradient
    ascents drift apart step by step. Both cost speed on a GPU (benchmarks/README.md,
    GPU)."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    if device == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
