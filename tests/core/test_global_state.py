"""The Python API leaves the caller's process as it found it: torch's deterministic algorithms,
its global generator and thread count, numpy's and Python's generators."""
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

import reportgen
from helpers import write_inputs
from reportgen.core.global_state import kept_global_state


def snapshot() -> dict:
    return {"deterministic": torch.are_deterministic_algorithms_enabled(),
            "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
            "threads": torch.get_num_threads(), "torch": torch.get_rng_state(), "seed": torch.initial_seed(),
            "numpy": np.random.get_state()[1].copy(), "python": random.getstate()}


def same(first: dict, second: dict) -> bool:
    return all(np.array_equal(np.asarray(first[k]), np.asarray(second[k])) if k in ("torch", "numpy")
               else first[k] == second[k] for k in first)


@pytest.fixture
def callers_state():
    """A caller's own settings, unlike a build's; torch's defaults again afterwards."""
    threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(False)
    torch.manual_seed(123)
    np.random.seed(7)
    random.seed(7)
    yield snapshot()
    torch.use_deterministic_algorithms(False)
    torch.set_num_threads(threads)


def test_a_build_and_a_check_leave_torch_as_they_found_it(tmp_path, callers_state, monkeypatch):
    from reportgen.gallery import site

    during, write_site = [], site.write_site

    def recording(*args, **kwargs):  # the state inside the build, once its techniques ran
        during.append(snapshot())
        return write_site(*args, **kwargs)

    monkeypatch.setattr(site, "write_site", recording)
    write_inputs(tmp_path / "in")
    gallery = reportgen.build(tmp_path / "in", models="tiny", techniques="filters", preset="quick",
                              out=tmp_path / "site", cache_dir=tmp_path / "cache", device="cpu")
    assert gallery.computed and during and not same(during[0], callers_state)  # the build did change them
    assert during[0]["deterministic"] and during[0]["seed"] == 0
    assert same(snapshot(), callers_state)
    reportgen.update_baseline(tmp_path / "baseline", out=gallery.out, cache_dir=gallery.cache_dir)
    assert reportgen.check(tmp_path / "baseline", out=gallery.out, cache_dir=gallery.cache_dir).passed
    assert same(snapshot(), callers_state)


def test_the_state_comes_back_also_when_the_body_raises(callers_state):
    torch.use_deterministic_algorithms(True, warn_only=True)
    before = snapshot()
    with pytest.raises(RuntimeError, match="broken"):
        with kept_global_state():
            torch.use_deterministic_algorithms(False)
            torch.manual_seed(0)
            torch.set_num_threads(1 if before["threads"] > 1 else 2)
            np.random.seed(0)
            random.seed(0)
            assert not same(snapshot(), before)
            raise RuntimeError("broken")
    assert same(snapshot(), before)


def test_a_build_that_imports_torch_leaves_it_as_a_fresh_import_is(tmp_path):
    """Torch not imported by the caller: its settings are recorded when the build imports it."""
    write_inputs(tmp_path / "in")
    script = f"""
import sys
from reportgen import models

def tiny():
    from torch import nn
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

models.register_local("tiny", models.LocalModel(build=tiny, load_weights=None, weights_file=None, input_size=32,
                                                categories=lambda: ["a", "b", "c"]))
import reportgen
assert "torch" not in sys.modules
gallery = reportgen.build({str(tmp_path / "in")!r}, models="tiny", techniques="filters", preset="quick",
                          out={str(tmp_path / "site")!r}, cache_dir={str(tmp_path / "cache")!r}, device="cpu")
assert gallery.computed and "torch" in sys.modules
import torch
assert not torch.are_deterministic_algorithms_enabled()
assert torch.initial_seed() != 0, "the build's seed was left behind"
assert torch.__spec__.loader is torch.__loader__ and type(torch.__loader__).__name__ == "SourceFileLoader"
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)
