"""What a model cannot do is skipped at plan time with one line naming the reason: reported in the
build summary and on the technique's page, never an error exit or a traceback. Also: token and
channels-last models end to end through feature maps and Grad-CAM."""
from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

import layout_models  # noqa: F401  registers tiny_tokens and tiny_channels_last
from helpers import config, write_inputs
from reportgen.core.artifacts import Manifest, Skip
from reportgen.interface.cli import main
from reportgen.core.pipeline import build
from reportgen.core.progress import Progress
from reportgen.gallery.site import write_site
from reportgen.techniques.feature_maps import MAX_PICTURE_PX, _render

SALIENCY = "saliency.methods=vanilla,gradcam,guided_gradcam"


def test_a_model_without_convolutions_skips_filters_with_one_line_and_exit_code_0(tmp_path):
    write_inputs(tmp_path / "inputs", names=("a.png",))
    result = CliRunner().invoke(main, [
        "build", str(tmp_path / "inputs"), "--models", "tiny_tokens", "--techniques", "feature_maps,filters,saliency",
        "--preset", "quick", "--set", SALIENCY, "--out", str(tmp_path / "site"), "--cache-dir", str(tmp_path / "cache"),
        "--device", "cpu"])
    assert result.exit_code == 0, result.output
    line = "skipped filters on tiny_tokens: the model has no convolution weights"
    assert result.stderr.count(line) >= 1 and "Traceback" not in result.output
    assert result.stdout.strip().splitlines()[-1].endswith("; 1 skipped (not supported by the model)")
    page = (tmp_path / "site" / "filters.html").read_text()
    assert "Not shown" in page and "tiny_tokens" in page and "no convolution weights" in page
    site = json.loads((tmp_path / "site" / "manifest.json").read_text())
    assert site["skips"] == [{"technique": "filters", "model": "tiny_tokens", "variant": "",
                              "reason": "the model has no convolution weights"}]


def test_token_and_channels_last_models_give_maps_at_their_grid_and_a_late_cam_layer(tmp_path):
    write_inputs(tmp_path / "inputs", names=("a.png",))
    cfg = config(tmp_path, models=("tiny_tokens", "tiny_channels_last"), techniques=("feature_maps", "saliency"),
                 overrides={"saliency": {"methods": ("gradcam", "guided_gradcam")},
                            "feature_maps": {"layers": ()}})
    report = build(cfg, Progress(interactive=False))
    assert not report.errors and not report.unsupported
    manifest = report.manifest
    for artifact in manifest.of("feature_maps"):
        expected = (4, 4) if artifact.model == "tiny_tokens" else (16, 16)
        assert artifact.meta.size == expected and artifact.meta.layout in ("tokens", "nhwc")
    cams = {a.model: a for a in manifest.select(technique="saliency", variant="gradcam")}
    assert cams["tiny_tokens"].meta.cam_layer == "blocks.1.ln_1" and cams["tiny_tokens"].meta.cam_layout == "tokens"
    assert cams["tiny_channels_last"].meta.cam_layer == "stage.1"
    raw = np.load(cfg.cache_dir / cams["tiny_tokens"].cache_files["cam"])
    assert raw.shape == (4, 4) and raw.max() > 0
    write_site(manifest, cfg.cache_dir, report.images, cfg.out)
    assert "read from tokens, as a grid" in (cfg.out / "feature_maps.html").read_text()
    assert "tokens read as a grid" in (cfg.out / "saliency.html").read_text()


def test_a_chosen_layer_without_a_map_is_skipped_and_the_others_built(tmp_path):
    write_inputs(tmp_path / "inputs", names=("a.png",))
    cfg = config(tmp_path, models=("tiny_tokens",), techniques=("feature_maps",),
                 overrides={"feature_maps": {"layers": ("head", "tokens")}})
    report = build(cfg, Progress(interactive=False))
    assert [str(s) for s in report.unsupported] == [
        "skipped feature_maps head on tiny_tokens: its output (Linear) is not a feature map"]
    assert [a.variant for a in report.manifest.of("feature_maps")] == ["tokens"]


def test_skips_round_trip_through_the_manifest_and_old_manifests_have_none(tmp_path):
    write_inputs(tmp_path / "inputs", names=("a.png",))
    report = build(config(tmp_path, models=("tiny_tokens",), techniques=("filters",)), Progress(interactive=False))
    data = report.manifest.to_json()
    assert Manifest.from_json(data).skips == (Skip("filters", "tiny_tokens", "", "the model has no convolution weights"),)
    del data["skips"]
    assert Manifest.from_json(data).skips == ()


def test_no_feature_map_grid_is_wider_than_the_limit():
    wide = np.random.default_rng(0).random((16, 4, 3000)).astype(np.float32)
    picture = _render(wide, columns=8).images["grid"]
    assert max(picture.shape[:2]) <= MAX_PICTURE_PX
    small = _render(np.ones((4, 7, 7), np.float32), columns=2).images["grid"]
    assert small.shape[:2] == (2 * 49 + 1, 2 * 49 + 1)  # small maps still enlarged pixel-exact
