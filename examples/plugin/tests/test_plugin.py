"""The plugin, installed (``pip install -e examples/plugin``), builds with reportgen: its technique
gets its page and a row on each input's page, its saliency method a row on the saliency and the
faithfulness pages."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import reportgen


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, bias=False),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3, bias=False))


@pytest.fixture
def gallery(tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for seed in range(2):
        pixels = np.random.default_rng(seed).integers(0, 256, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(inputs / f"{seed}.png")
    spec = reportgen.ModelSpec(module=small_net(), classes=["a", "b", "c"], input_size=32)
    return reportgen.build(inputs, models={"small": spec}, techniques=["occlusion", "saliency", "faithfulness"],
                           preset="quick", overrides={"saliency": {"methods": ["vanilla", "squared_gradient"]}},
                           out=tmp_path / "site", cache_dir=tmp_path / "cache")


def test_occlusion_has_its_page_and_a_row_on_each_input_page(gallery):
    shown = gallery.select(technique="occlusion")
    assert len(shown) == 2 and not gallery.errors
    for artifact in shown:
        drop = gallery.array(artifact, "drop")
        assert drop.shape == (4, 4)  # quick: a square of 8 px at 0, 8, 16 and 24 px of 32 px
        assert artifact.meta.largest_drop == pytest.approx(float(drop.max()), abs=1e-6)
        assert gallery.picture(artifact, "overlay").shape[2] == 3
    page = (gallery.out / "occlusion.html").read_text()
    assert "<h1>Occlusion sensitivity</h1>" in page and all(a.files["overlay"].path in page for a in shown)
    image = gallery.manifest.images[0]
    assert "Occlusion sensitivity" in (gallery.out / image.page).read_text()


def test_squared_gradient_is_the_vanilla_gradient_squared_and_is_scored(gallery):
    maps = gallery.select(technique="saliency", variant="squared_gradient")
    assert len(maps) == 2
    for artifact in maps:
        (vanilla,) = gallery.select(technique="saliency", variant="vanilla", image=artifact.image)
        gradient = gallery.array(vanilla, "attribution")
        assert np.abs(gradient).max() > 0
        np.testing.assert_allclose(gallery.array(artifact, "attribution"), gradient ** 2, rtol=1e-5)
    assert "Squared gradient" in (gallery.out / "saliency.html").read_text()
    (scored,) = gallery.select(technique="faithfulness")
    assert "squared_gradient" in scored.meta.methods
    assert "<td>Squared gradient</td>" in (gallery.out / "faithfulness.html").read_text()
