import os

import pytest
import torch

from reportgen import models
from reportgen.models import ModelError


def test_select_device_refuses_cuda_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert models.select_device("auto") == "cpu"
    with pytest.raises(ModelError, match="no CUDA GPU"):
        models.select_device("cuda")


def test_prepare_device_turns_tf32_off_and_fixes_the_cublas_workspace_on_cuda(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.allow_tf32,
              torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        models.prepare_device("cuda")  # only settings: no GPU is needed to apply them
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before[1:]


def test_cuda_n_and_mps_are_understood_and_an_absent_one_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert models.select_device("auto") == "cuda" and models.select_device("cuda:0") == "cuda:0"
    with pytest.raises(ModelError, match=r"^--device cuda:1 was asked for, but this machine has 1 CUDA GPU \(cuda:0\)$"):
        models.select_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert models.select_device("cuda:1") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelError, match="^--device cuda:1 was asked for, but no CUDA GPU is available$"):
        models.select_device("cuda:1")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ModelError, match="MPS. is not available here$"):
        models.select_device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert models.select_device("mps") == "mps"
