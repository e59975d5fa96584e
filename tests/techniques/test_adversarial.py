import io

import numpy as np
import pytest
from PIL import Image

from reportgen.pictures import render
from reportgen.core.artifacts import Request, Skip
from reportgen.core.lazy import torch
from reportgen.core.progress import Silent
from reportgen.techniques.adversarial import classify
from reportgen.techniques.base import ParamError, registry

from conftest import make_image

TECHNIQUE = registry()["adversarial"]


def reloaded_class(model, picture):
    """The top-1 class of a picture saved as PNG, read back and normalised as any input is."""
    pixels = np.asarray(Image.open(io.BytesIO(render.png_bytes(picture))).convert("RGB"))
    with torch.inference_mode():
        return int(model.module(model.inputs([pixels])).argmax())


def attacked(model, images, **changes):
    params = TECHNIQUE.params_for(changes.pop("preset", "standard"), changes)
    requests = [r for r in TECHNIQUE.plan(params, model.card, images) if isinstance(r, Request)]
    return list(TECHNIQUE.compute(params, model, requests, Silent()))


def check_as_shown(model, request, result):
    """The saved picture is classified as the meta says, within epsilon of the photo, and fooled as stated."""
    meta = result.meta
    picture = result.images["perturbed"]
    assert picture.shape == (model.card.input_size, model.card.input_size, 3)
    assert reloaded_class(model, picture) == meta.top1_index
    photo = (model.to_tensor([request.image.pixels]).mul(255).round()[0].permute(1, 2, 0).numpy()).astype(np.int16)
    assert reloaded_class(model, photo.astype(np.uint8)) == meta.original_index
    assert np.abs(picture.astype(np.int16) - photo).max() <= meta.epsilon
    if meta.fooled and meta.goal == "untargeted":
        assert meta.top1_index != meta.original_index
    if meta.fooled and meta.goal == "targeted":
        assert meta.top1_index == meta.target_index
    unchanged = picture.astype(np.int16) == photo
    # judged as a chaotic optimisation by the regression check, grouped by its attack
    assert TECHNIQUE.chaotic(meta) and meta.style == meta.attack
    assert (result.images["perturbation"][unchanged] == 128).all()


@pytest.mark.parametrize("attack", ["pgd", "fgsm"])
def test_the_saved_picture_is_classified_as_the_meta_says(tiny, images, attack):
    results = attacked(tiny, images, attack=attack, steps=4, epsilons=(2, 8, 32, 64))
    assert {r.variant for r, _ in results} == {"untargeted", "targeted"}
    for request, result in results:
        check_as_shown(tiny, request, result)
    fooled = [result.meta for _, result in results if result.meta.fooled]
    assert fooled and all(meta.epsilon <= 64 for meta in fooled)
    assert {meta.target_index for _, r in results if (meta := r.meta).goal == "targeted"} == {9}  # its last class


def test_on_the_embedded_model_at_its_input_size(lite0, samples):
    results = attacked(lite0, [samples["cat"]], steps=2, epsilons=(1, 2, 4, 8))
    for request, result in results:
        check_as_shown(lite0, request, result)
    untargeted = next(result.meta for request, result in results if request.variant == "untargeted")
    assert untargeted.fooled and untargeted.top1_index != untargeted.original_index == 285  # Egyptian cat
    targeted = next(result.meta for request, result in results if request.variant == "targeted")
    assert targeted.target_index == 52 and targeted.target_name == lite0.card.category(52)


def test_a_class_the_model_lacks_skips_the_targeted_goal_with_one_line(tiny_card, images):
    planned = TECHNIQUE.plan(TECHNIQUE.params_for("quick", {"target": "500"}), tiny_card, images)
    skips = [p for p in planned if isinstance(p, Skip)]
    assert len(skips) == 1 and skips[0].variant == "targeted"
    assert "adversarial.target" in skips[0].reason and "class 500 is out of range" in skips[0].reason
    assert "\n" not in skips[0].reason
    assert {p.variant for p in planned if isinstance(p, Request)} == {"untargeted"}
    named = TECHNIQUE.plan(TECHNIQUE.params_for("quick", {"target": "thing 3"}), tiny_card, images)
    assert {p.spec.get("target") for p in named} == {None, 3}
    with pytest.raises(ParamError, match="grey levels from 1 to 255"):
        TECHNIQUE.plan(TECHNIQUE.params_for("quick", {"epsilons": (0, 300)}), tiny_card, images)


def test_classify_is_one_forward_per_picture(tiny):
    pictures = np.stack([make_image(seed=seed).pixels[:32, :32] for seed in range(3)])
    one_by_one = np.concatenate([classify(tiny, pictures[i:i + 1]) for i in range(3)])
    assert np.array_equal(classify(tiny, pictures), one_by_one)


def test_a_build_shows_both_on_their_pages_the_input_pages_and_the_overview(tmp_path):
    """A tiny build: the sections, per-input rows, the classics on the overview; a target the model
    lacks is one line under Not shown (the build goes on); a layer without a map stops it (exit 2)."""
    from click.testing import CliRunner

    from helpers import write_inputs
    from reportgen.interface.cli import main

    write_inputs(tmp_path / "inputs")
    args = ["build", str(tmp_path / "inputs"), "--models", "tiny", "--techniques", "feature_inversion,adversarial",
            "--preset", "quick", "--out", str(tmp_path / "site"), "--cache-dir", str(tmp_path / "cache"), "--device", "cpu"]
    built = CliRunner().invoke(main, [*args, "--set", "adversarial.target=500"])
    assert built.exit_code == 0, built.output
    site = tmp_path / "site"
    index = (site / "index.html").read_text()
    assert "Mahendran &amp; Vedaldi 2015" in index and "Madry et al. 2018 (PGD)" in index
    fooling = (site / "adversarial.html").read_text()
    assert "Not shown" in fooling and "adversarial.target: class 500 is out of range for tiny (0..9)" in fooling
    assert "perturbation, amplified" in fooling and "/255" in fooling
    assert "distance" in (site / "feature_inversion.html").read_text()
    page = next((site / "images").glob("*.html")).read_text()
    assert "Feature inversion" in page and "Fooling images" in page and "any other class (FGSM)" in page
    stopped = CliRunner().invoke(main, [*args, "--set", "feature_inversion.layers=classifier"])
    assert stopped.exit_code == 2 and "gives no feature map to invert" in stopped.stderr
    assert "Traceback" not in stopped.output and len(stopped.stderr.strip().splitlines()) == 1
