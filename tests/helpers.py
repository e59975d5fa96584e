"""Small builders shared by the pipeline, site and CLI tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from reportgen.core.artifacts import Artifact, ImageInfo, Manifest, ModelInfo, Section
from reportgen.interface.config import BuildConfig


def write_inputs(folder: Path, names=("a.png", "b.png"), size=(48, 40)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(names):
        pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name)
    return folder


def config(tmp_path: Path, **changes) -> BuildConfig:
    values = dict(
        input_dir=tmp_path / "inputs",
        models=("tiny",),
        techniques=("feature_maps", "filters"),
        out=tmp_path / "site",
        cache_dir=tmp_path / "cache",
        preset="quick",
        device="cpu",
    )
    values.update(changes)
    return BuildConfig(**values)


def fresh_urllib(monkeypatch):
    """urllib reads the proxy variables once, into the opener its first request builds: forget it,
    so this test's variables apply (as they would in a new process)."""
    import urllib.request

    monkeypatch.setattr(urllib.request, "_opener", None)


def count_computed(monkeypatch, technique: type) -> list:
    """The requests ``technique`` is asked to compute from now on, in order."""
    computed = []
    compute = technique.compute

    def counted(self, params, model, requests, progress, context):
        computed.extend(requests)
        return compute(self, params, model, requests, progress, context)

    monkeypatch.setattr(technique, "compute", counted)
    return computed


def artifact(variant="a", model="m", image=None, spec=None, **meta) -> Artifact:
    """A saliency artifact with the facts the views read."""
    facts = dict(method=variant, class_index=1, class_name="one", class_source="top-1 prediction", probability=0.5,
                 top1_index=1, top1_name="one", **meta)
    return Artifact("saliency", variant, model, image, image and f"id-{image}", spec or {}, f"key-{variant}-{image}",
                    {"color": "x/color.png", "attribution": "x/attribution.npy"}, facts)


def manifest(*artifacts) -> Manifest:
    """A one-model, one-image manifest holding ``artifacts``."""
    return Manifest("0.1.0", "quick", {"saliency": {"methods": ["guided"]}}, "pretrained", {"torch": "2"},
                    ("saliency",), (Section("saliency", "Saliency maps", "what"),),
                    (ModelInfo("m", "w", False, 32),), (ImageInfo("a.png", "id-a.png", 4, 3),), artifacts)
