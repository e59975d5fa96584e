import io
import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageSequence

from reportgen.interface.cli import main
from reportgen.core.pipeline import build
from reportgen.core.progress import Silent
from reportgen.pictures import render
from reportgen.core.artifacts import Manifest
from reportgen.regress import MARKER, REPORT, Baseline, Build, RegressionError, Tolerance, compare, promote
from reportgen.regress.builds import _npz_bytes
from reportgen.gallery.site import write_site
from helpers import config, write_inputs

HOSTILE = "<img src=x onerror=alert(1)>.png"


def make_site(tmp_path, name="site", **changes):
    cfg = config(tmp_path, out=tmp_path / name, **changes)
    report = build(cfg, Silent())
    write_site(report.manifest, cfg.cache_dir, report.images, cfg.out)
    return cfg


def check(tmp_path, cfg, *extra):
    return CliRunner().invoke(main, ["check", str(tmp_path / "baseline"), "--out", str(cfg.out),
                                     "--cache-dir", str(cfg.cache_dir), *extra])


@pytest.fixture
def baseline(tmp_path):
    write_inputs(tmp_path / "inputs", names=("a.png", HOSTILE))
    cfg = make_site(tmp_path)
    promoted = CliRunner().invoke(main, ["check", str(tmp_path / "baseline"), "--update", "--out", str(cfg.out),
                                         "--cache-dir", str(cfg.cache_dir)])
    assert promoted.exit_code == 0, promoted.output
    return cfg


def artifact(cfg, technique, image=None):
    site = Manifest.from_json(json.loads((cfg.out / "manifest.json").read_text()))
    return next(a for a in site.of(technique) if a.image in (image, None))


def test_unchanged_build_passes_with_zero_differences(baseline, tmp_path):
    rebuilt = make_site(tmp_path, name="again")
    result = check(tmp_path, rebuilt)
    assert result.exit_code == 0, result.output
    total = len(json.loads((rebuilt.out / "manifest.json").read_text())["artifacts"])
    assert result.stdout.strip() == (f"check passed: {total} compared, {total} identical, 0 within tolerance, "
                                     "0 moved, 0 appeared, 0 vanished")
    assert "Regression check: passed" in (rebuilt.out / REPORT).read_text()


def test_baseline_holds_pictures_and_compact_raw_arrays_and_is_rewritten_byte_for_byte(baseline, tmp_path):
    root = tmp_path / "baseline"
    first = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert (root / MARKER).exists() and (root / "manifest.json").exists()
    entry = artifact(baseline, "feature_maps", "a.png")
    assert (root / entry.files["grid"].path).exists()
    stored = Baseline(root).raw(entry)["activations"]
    original = np.load(baseline.cache_dir / entry.cache_files["activations"])
    assert stored.shape == original.shape
    assert np.abs(stored - original).max() <= np.abs(original).max() / 2048
    promote(root, baseline.out, baseline.cache_dir)
    assert first == {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_perturbed_picture_fails_and_is_shown_with_a_heat_map(baseline, tmp_path):
    entry = artifact(baseline, "feature_maps", HOSTILE)
    path = baseline.out / entry.files["grid"].path
    pixels = np.asarray(Image.open(path).convert("RGB")).copy()
    corner = (slice(0, pixels.shape[0] // 4), slice(0, pixels.shape[1] // 4))
    pixels[corner] = 255 - pixels[corner]
    Image.fromarray(pixels).save(path)
    result = check(tmp_path, baseline)
    assert result.exit_code == 1
    assert "1 moved" in result.stdout and f"moved: feature_maps / {entry.variant} / tiny / {HOSTILE}" in result.stderr
    report = (baseline.out / REPORT).read_text()
    assert "Regression check: FAILED" in report and "&lt;img src=x onerror=alert(1)&gt;" in report
    assert "<img src=x onerror" not in report
    shown = sorted(p.name for p in (baseline.out / "regressions").iterdir())
    assert shown == ["0001-grid-baseline.png", "0001-grid-difference.png", "0001-grid-new.png"]
    heat = np.asarray(Image.open(baseline.out / "regressions" / "0001-grid-difference.png"))
    flipped = np.zeros(heat.shape[:2], bool)
    flipped[corner] = True
    assert (heat[~flipped] == heat[-1, -1]).all() and (heat[flipped] != heat[-1, -1]).any()


def test_noise_inside_the_tolerances_passes_but_is_listed(baseline, tmp_path):
    entry = artifact(baseline, "feature_maps", "a.png")
    path = baseline.out / entry.files["grid"].path
    pixels = np.asarray(Image.open(path).convert("RGB")).copy()
    pixels[0, 0] = np.clip(pixels[0, 0].astype(int) + 1, 0, 255)
    Image.fromarray(pixels).save(path)
    raw = baseline.cache_dir / entry.cache_files["activations"]
    np.save(raw, np.load(raw) * (1 + 1e-4))
    result = check(tmp_path, baseline)
    assert result.exit_code == 0, result.output
    assert "1 within tolerance" in result.stdout
    strict = check(tmp_path, baseline, "--tolerance", "pixel=0", "--tolerance", "pixels=0", "--tolerance", "raw=1e-6")
    assert strict.exit_code == 1 and "grid: " in strict.stderr and "activations off by" in strict.stderr


def test_a_raw_array_that_moved_fails_even_when_its_picture_did_not(baseline, tmp_path):
    entry = artifact(baseline, "filters")
    raw = baseline.cache_dir / entry.cache_files["weights"]
    weights = np.load(raw)
    weights.flat[0] += 0.5 * np.abs(weights).max()
    np.save(raw, weights)
    result = check(tmp_path, baseline)
    assert result.exit_code == 1 and "weights off by 0.5" in result.stderr


def test_a_changed_parameter_shows_as_vanished_and_appeared(baseline, tmp_path):
    changed = make_site(tmp_path, name="changed", overrides={"feature_maps": {"channels": 4}})
    result = check(tmp_path, changed)
    assert result.exit_code == 1
    moved = len([a for a in json.loads((changed.out / "manifest.json").read_text())["artifacts"]
                 if a["technique"] == "feature_maps"])
    assert f"{moved} appeared, {moved} vanished" in result.stdout
    report = (changed.out / REPORT).read_text()
    assert "Appeared (%d)" % moved in report and "channels=4" in report and "channels=16" in report


def test_people_get_one_line_errors(tmp_path, baseline):
    result = check(tmp_path, baseline, "--tolerance", "pixle=3")
    assert result.exit_code == 2 and "NAME one of pixel, animation, pixels, raw" in result.stderr
    missing = CliRunner().invoke(main, ["check", str(tmp_path / "nowhere"), "--out", str(baseline.out)])
    assert missing.exit_code == 2 and "--update" in missing.stderr and "Traceback" not in missing.output
    no_cache = CliRunner().invoke(main, ["check", str(tmp_path / "baseline"), "--out", str(baseline.out),
                                         "--cache-dir", str(tmp_path / "empty")])
    assert no_cache.exit_code == 2 and "--cache-dir" in no_cache.stderr
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "chapter.tex").write_text("precious")
    with pytest.raises(RegressionError, match="not a reportgen baseline"):
        promote(foreign, baseline.out, baseline.cache_dir)
    assert (foreign / "chapter.tex").read_text() == "precious"


def test_tolerances_parse_by_name():
    assert Tolerance.parse(["pixel=3", "raw=1e-4"]) == Tolerance(pixel=3, raw=1e-4)
    assert Tolerance.parse(["animation=40"]).animation == 40 and isinstance(Tolerance.parse(["pixel=3"]).pixel, int)
    with pytest.raises(RegressionError, match="not a number"):
        Tolerance.parse(["pixels=lots"])


def test_raw_archives_carry_no_timestamps():
    archive = zipfile.ZipFile(io.BytesIO(_npz_bytes({"x": np.arange(4, dtype=np.float16)})))
    assert [info.date_time for info in archive.infolist()] == [(1980, 1, 1, 0, 0, 0)]


def test_raw_arrays_over_the_limit_are_left_out_and_checked_through_their_pictures(tmp_path):
    write_inputs(tmp_path / "inputs")
    cfg = make_site(tmp_path)
    promote(tmp_path / "baseline", cfg.out, cfg.cache_dir, raw_limit_kb=1)
    entry = artifact(cfg, "feature_maps", "a.png")
    assert Baseline(tmp_path / "baseline").raw(entry) == {}
    raw = cfg.cache_dir / entry.cache_files["activations"]
    np.save(raw, np.load(raw) * 2)
    result = check(tmp_path, cfg)
    assert result.exit_code == 0, result.output
    assert "checked through their pictures only" in (cfg.out / REPORT).read_text()
    logits = artifact(cfg, "predictions", "a.png")
    assert set(Baseline(tmp_path / "baseline").raw(logits)) == {"logits"}  # 10 classes: small, kept
    manifest = json.loads((cfg.out / "manifest.json").read_text())
    next(a for a in manifest["artifacts"] if a["key"] == entry.key)["cache_files"].pop("activations")
    (cfg.out / "manifest.json").write_text(json.dumps(manifest))
    gone = check(tmp_path, cfg)  # left out of the baseline, yet a role it has: the build must have it too
    assert gone.exit_code == 1 and "activations is gone" in gone.stderr


def fake_site(root, pictures):
    """A site folder holding one artifact whose files are ``pictures`` (role -> (suffix, frames))."""
    files = {}
    for role, (suffix, frames) in pictures.items():
        path = f"a/{role}{suffix}"
        (root / "a").mkdir(parents=True, exist_ok=True)
        data = render.gif_bytes(frames) if suffix == ".gif" else render.png_bytes(frames[0])
        (root / path).write_bytes(data)
        files[role] = {"path": path, "width": frames[0].shape[1], "height": frames[0].shape[0]}
    artifact = {"technique": "filters", "variant": "v", "model": "m", "image": None, "image_id": None, "spec": {},
                "key": "0" * 64, "cache_files": {role: f"x/{role}" for role in pictures}, "files": files, "meta": {"shape": [1, 3, 3, 3]},
                "anchor": "t"}
    manifest = {"reportgen": "0", "preset": "quick", "overrides": {}, "weights": "random", "versions": {},
                "techniques": ["filters"], "sections": [], "models": [], "images": [], "artifacts": [artifact]}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_gif_frames_get_the_animation_tolerance_pictures_the_pixel_one(tmp_path):
    # Flat 4 px patches of random colours: few enough colours for a GIF's palette to keep them.
    frames = [np.kron(np.random.default_rng(seed).integers(0, 200, (6, 6, 3), dtype=np.uint8), np.ones((4, 4, 1), np.uint8))
              for seed in range(2)]
    shifted = [frame + 20 for frame in frames]  # every pixel 20 levels brighter
    before = fake_site(tmp_path / "before", {"still": (".png", frames[:1]), "film": (".gif", frames)})
    after = fake_site(tmp_path / "after", {"still": (".png", shifted[:1]), "film": (".gif", shifted)})
    moved = compare(Baseline(before), Build(after, tmp_path), Tolerance()).compared[0].differences
    assert {d.role: d.within for d in moved} == {"still": False, "film": True}
    strict = compare(Baseline(before), Build(after, tmp_path), Tolerance(animation=8)).compared[0].differences
    assert not any(d.within for d in strict)


@pytest.fixture
def optimised(tmp_path):
    """A baseline holding one class model of the tiny network (an optimisation)."""
    write_inputs(tmp_path / "inputs")
    overrides = {"class_ascent": {"classes": ("3",), "regularisers": ("none",), "styles": ("naive",), "steps": 4,
                                  "frames": 2}}
    cfg = make_site(tmp_path, techniques=("class_ascent",), overrides=overrides)
    promote(tmp_path / "baseline", cfg.out, cfg.cache_dir)
    return cfg


def _regrain(path, seed=0, amount=20, share=0.3):
    """Rounding-like grain: a share of pixels moved by up to ``amount`` levels, the picture's shapes kept."""
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    rng = np.random.default_rng(seed)
    moved = rng.random(pixels.shape[:2]) < share
    pixels[moved] += rng.integers(-amount, amount + 1, (int(moved.sum()), 3))
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)


def test_an_optimisation_that_only_moved_by_grain_passes_on_what_it_reached(optimised, tmp_path):
    entry = artifact(optimised, "class_ascent")
    _regrain(optimised.out / entry.files["final"].path)
    strict = check(tmp_path, optimised, "--tolerance", "similarity=1.01")
    assert strict.exit_code == 1 and "final: structural similarity" in strict.stderr
    result = check(tmp_path, optimised)
    assert result.exit_code == 0, result.output
    assert "1 within tolerance" in result.stdout
    report = (optimised.out / REPORT).read_text()
    assert "judged by what it reached" in report and "structural similarity 0.9" in report


def test_an_optimisation_that_reached_something_else_fails(optimised, tmp_path):
    entry = artifact(optimised, "class_ascent")
    raw = optimised.cache_dir / entry.cache_files["objective"]
    trace = np.load(raw)
    trace[-1] *= 0.5
    np.save(raw, trace)
    result = check(tmp_path, optimised)
    assert result.exit_code == 1 and "objective reached" in result.stderr
    path = optimised.out / entry.files["final"].path
    pixels = np.asarray(Image.open(path).convert("RGB"))
    np.save(raw, trace * 0 + np.load(raw))  # keep the trace moved; now also swap the picture's halves
    Image.fromarray(np.ascontiguousarray(np.roll(pixels, pixels.shape[1] // 2, axis=1)[::-1])).save(path)
    assert "final: structural similarity" in check(tmp_path, optimised).stderr


def test_structural_similarity_ignores_grain_but_not_shapes():
    from reportgen.pictures.render import structural_similarity

    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)  # shapes a few pixels wide, everywhere
    shapes = np.asarray(Image.fromarray(coarse).resize((128, 96), Image.Resampling.BICUBIC))
    grain = shapes.astype(int)
    moved = rng.random(shapes.shape[:2]) < 0.3
    grain[moved] += rng.integers(-20, 21, (int(moved.sum()), 3))
    assert structural_similarity(shapes, shapes) == pytest.approx(1.0)
    # a third of the pixels moved by up to 20 levels, as rounding moves an optimisation's grain
    assert structural_similarity(shapes, np.clip(grain, 0, 255).astype(np.uint8)) > 0.9
    assert structural_similarity(shapes, shapes[::-1, ::-1].copy()) < 0.5
    assert structural_similarity(shapes, np.full_like(shapes, 128)) < 0.2  # washed out


@pytest.fixture
def chaotic(tmp_path):
    """A baseline holding three robust class models of the tiny network (a chaotic set)."""
    write_inputs(tmp_path / "inputs")
    overrides = {"class_ascent": {"classes": ("1", "2", "3"), "regularisers": ("none",), "styles": ("robust",),
                                  "robust_steps": 3, "frames": 2}}
    cfg = make_site(tmp_path, techniques=("class_ascent",), overrides=overrides)
    promote(tmp_path / "baseline", cfg.out, cfg.cache_dir)
    return cfg


def _runs(cfg):
    """The class models' final pictures, objective traces and feature vectors (paths)."""
    site = Manifest.from_json(json.loads((cfg.out / "manifest.json").read_text()))
    return [(cfg.out / a.files["final"].path, cfg.cache_dir / a.cache_files["objective"],
             cfg.cache_dir / a.cache_files["features"]) for a in site.of("class_ascent")]


def _shift_final_objective(path, amount):
    trace = np.load(path)
    trace[-1] += amount
    np.save(path, trace)


def test_chaotic_runs_that_ended_elsewhere_pass_while_their_set_reached_the_same(chaotic, tmp_path):
    runs = _runs(chaotic)
    for picture, _, _ in runs:  # other optima: other pictures, each judged by what the model sees in it
        pixels = np.asarray(Image.open(picture).convert("RGB"))
        Image.fromarray(np.ascontiguousarray(pixels[::-1, ::-1])).save(picture)
    amount = 0.3 * abs(float(np.load(runs[0][1])[-1]))
    _shift_final_objective(runs[0][1], amount)  # one run ended higher, another lower: the set's mean stays
    _shift_final_objective(runs[1][1], -amount)
    outcome = compare(Baseline(tmp_path / "baseline"), Build(chaotic.out, chaotic.cache_dir), Tolerance())
    models = [c for c in outcome.compared if c.current.technique == "class_ascent"]
    assert [c.moved for c in models] == [False] * 3 and all(c.outcome for c in models)
    assert not any(d.kind == "similarity" for c in models for d in c.outcome)  # pixels are not judged
    assert [s.describe() for s in outcome.sets] == ["class_ascent · robust · tiny (3 runs)"]
    assert outcome.passed and "1 of 1 chaotic sets within" in outcome.summary()


def test_a_chaotic_set_that_reached_less_fails_as_a_set(chaotic, tmp_path):
    runs = _runs(chaotic)
    magnitude = np.mean([abs(float(np.load(objective)[-1])) for _, objective, _ in runs])
    for _, objective, _ in runs:  # every run ended 30 % of the set's mean magnitude lower
        _shift_final_objective(objective, -0.3 * magnitude)
    result = check(tmp_path, chaotic)
    assert result.exit_code == 1
    assert "moved as a set: class_ascent · robust · tiny (3 runs): mean objective reached" in result.stderr
    assert "0 moved" in result.stdout and "0 of 1 chaotic sets within" in result.stdout
    assert "Chaotic sets (1)" in (chaotic.out / REPORT).read_text()


def test_a_washed_out_chaotic_set_fails_as_a_set(chaotic, tmp_path):
    for picture, _, _ in _runs(chaotic):  # halfway to mid-grey: what a too-small step leaves
        pixels = np.asarray(Image.open(picture).convert("RGB")).astype(float)
        Image.fromarray(np.round((pixels + 128) / 2).astype(np.uint8)).save(picture)
    result = check(tmp_path, chaotic)
    assert result.exit_code == 1 and "0 moved" in result.stdout
    assert "mean contrast reached" in result.stderr and "mean colourfulness reached" in result.stderr


def test_contrast_and_colourfulness():
    from reportgen.regress.outcome import colourfulness, contrast

    grey = np.full((4, 4, 3), 128, np.uint8)
    halves = np.concatenate([np.zeros((2, 4, 3), np.uint8), np.full((2, 4, 3), 200, np.uint8)])
    assert contrast(grey) == 0.0 and contrast(halves) == pytest.approx(100.0)
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    assert colourfulness(grey) == 0.0 and colourfulness(halves) == 0.0 and colourfulness(red) == 255.0


def test_a_chaotic_run_the_model_sees_differently_fails(chaotic, tmp_path):
    _, _, features = _runs(chaotic)[0]
    np.save(features, -np.load(features))  # the network describes it as the opposite
    result = check(tmp_path, chaotic)
    assert result.exit_code == 1 and "the model's features of the final picture: cosine similarity -1.000" in result.stderr


def _edit_class_models(site, change):
    manifest = json.loads((site / "manifest.json").read_text())
    for number, entry in enumerate(a for a in manifest["artifacts"] if a["technique"] == "class_ascent"):
        change(number, entry["meta"])
    (site / "manifest.json").write_text(json.dumps(manifest))


def test_a_chaotic_set_whose_runs_lose_their_class_fails_as_a_set(chaotic, tmp_path):
    def seen_as_their_class(number, meta):
        meta["top1_index"] = meta["class_index"]

    _edit_class_models(chaotic.out, seen_as_their_class)
    promote(tmp_path / "baseline", chaotic.out, chaotic.cache_dir)  # a baseline whose 3 runs reached their class

    def first_run_lost(number, meta):
        meta["top1_index"] = meta["class_index"] + 1 if number == 0 else meta["class_index"]

    _edit_class_models(chaotic.out, first_run_lost)
    result = check(tmp_path, chaotic)
    assert result.exit_code == 1 and "share seen as their class reached 0.6667, off by 0.333" in result.stderr
    assert "0 moved" in result.stdout  # no single run fails for it: under other kernels one may miss


def test_cosine_of_features():
    from reportgen.regress.outcome import cosine

    assert cosine(np.array([1.0, 2.0]), np.array([2.0, 4.0])) == pytest.approx(1.0)
    assert cosine(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(0.0)
    assert cosine(np.zeros(2), np.ones(2)) == 0.0 and cosine(np.ones(2), np.ones(3)) == 0.0


def strict_json(text):
    """JSON as a strict parser reads it: NaN and Infinity are not JSON."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _edit_manifest(site, technique, change):
    """Apply ``change`` to the manifest entry of ``technique``'s first artifact."""
    manifest = json.loads((site / "manifest.json").read_text())
    change(next(a for a in manifest["artifacts"] if a["technique"] == technique))
    (site / "manifest.json").write_text(json.dumps(manifest))


def _lose_the_gif(cfg, entry):
    _edit_manifest(cfg.out, "class_ascent", lambda a: a["files"].pop("gif"))


def _add_a_picture(cfg, entry):
    _edit_manifest(cfg.out, "class_ascent", lambda a: a["files"].update(extra=a["files"]["final"]))


def _lose_a_raw_array(cfg, entry):
    _edit_manifest(cfg.out, "class_ascent", lambda a: a["cache_files"].pop("score"))


def _add_a_frame(cfg, entry):
    path = cfg.out / entry.files["gif"].path
    with Image.open(path) as animation:
        frames = [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(animation)]
    path.write_bytes(render.gif_bytes(frames + frames[:1]))  # not the last again: GIF writers merge equal neighbours


def _reshape_the_scores(cfg, entry):
    path = cfg.cache_dir / entry.cache_files["score"]
    np.save(path, np.concatenate([np.load(path).reshape(-1), [0.0]]).astype(np.float32))


def _turn_the_objective_nan(cfg, entry):
    path = cfg.cache_dir / entry.cache_files["objective"]
    trace = np.load(path)
    trace.reshape(-1)[0] = np.nan  # the final value, which the outcome judges, stays as it was
    np.save(path, trace)


LOSSES = {"role gone": (_lose_the_gif, "gif is gone"), "role new": (_add_a_picture, "extra is new"),
          "raw array gone": (_lose_a_raw_array, "score is gone"), "frames": (_add_a_frame, "gif has 3 frames, was 2"),
          "raw shape": (_reshape_the_scores, "score has shape"),
          "NaN": (_turn_the_objective_nan, "objective has NaN or infinity where the baseline does not")}


@pytest.mark.parametrize("lose", list(LOSSES))
def test_a_loss_fails_an_optimisation_whatever_it_reached(optimised, tmp_path, lose):
    entry = artifact(optimised, "class_ascent")
    _regrain(optimised.out / entry.files["final"].path)  # grain alone passes on what it reached (test above)
    change, reason = LOSSES[lose]
    change(optimised, entry)
    outcome = compare(Baseline(tmp_path / "baseline"), Build(optimised.out, optimised.cache_dir), Tolerance())
    (judged,) = [c for c in outcome.compared if c.current.technique == "class_ascent"]
    assert judged.outcome and all(d.within for d in judged.outcome)  # what it reached would have passed it
    assert judged.moved and not outcome.passed
    assert [d.describe() for d in judged.losses] == [d.describe() for d in judged.failures]

    text = check(tmp_path, optimised)
    assert text.exit_code == 1 and reason in text.stderr and "1 moved" in text.stdout
    report = (optimised.out / REPORT).read_text()
    assert reason in report and "but a loss fails it whatever it reached" in report
    document = strict_json(check(tmp_path, optimised, "--format", "json").stdout)
    (moved,) = document["moved"]
    assert document["passed"] is False and any(d["loss"] and reason in d["text"] for d in moved["differences"])
    from xml.etree import ElementTree

    junit = ElementTree.fromstring(check(tmp_path, optimised, "--format", "junit").stdout)
    (failure,) = junit.iter("failure")
    assert reason in failure.text


def test_a_vanished_artifact_fails_in_every_format(baseline, tmp_path):
    gone = artifact(baseline, "filters")
    manifest = json.loads((baseline.out / "manifest.json").read_text())
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a["key"] != gone.key]
    (baseline.out / "manifest.json").write_text(json.dumps(manifest))
    text = check(tmp_path, baseline)
    assert text.exit_code == 1 and f"vanished: {gone.describe()}" in text.stderr and "1 vanished" in text.stdout
    assert "Vanished (1)" in (baseline.out / REPORT).read_text()
    result = check(tmp_path, baseline, "--format", "json")
    document = strict_json(result.stdout)
    assert result.exit_code == 1 and document["passed"] is False
    assert [a["key"] for a in document["vanished"]] == [gone.key] and document["counts"]["vanished"] == 1
    from xml.etree import ElementTree

    junit = check(tmp_path, baseline, "--format", "junit")
    failures = [case for case in ElementTree.fromstring(junit.stdout).iter("testcase") if case.find("failure") is not None]
    assert junit.exit_code == 1 and [case.get("name") for case in failures] == [gone.describe()]
    assert failures[0].find("failure").get("message").startswith("vanished")


def test_an_animation_is_judged_by_its_worst_frame(tmp_path):
    rng = np.random.default_rng(0)
    frames = [np.kron(rng.integers(0, 200, (6, 6, 3), dtype=np.uint8), np.ones((4, 4, 1), np.uint8)) for _ in range(40)]
    broken = [frame.copy() for frame in frames]
    broken[17][:8, :8] = 255 - broken[17][:8, :8]  # a ninth of one frame in forty: 0.3 % of all pixels
    before = fake_site(tmp_path / "before", {"film": (".gif", frames)})
    after = fake_site(tmp_path / "after", {"film": (".gif", broken)})
    (difference,) = compare(Baseline(before), Build(after, tmp_path), Tolerance()).compared[0].differences
    assert not difference.within and difference.changed == pytest.approx(64 / 576)
    shown_before, shown_after = difference.frames
    assert np.array_equal(shown_after[:8, :8, :3], broken[17][:8, :8]) and not np.array_equal(shown_before, shown_after)
    assert compare(Baseline(before), Build(after, tmp_path), Tolerance(pixels=0.2)).passed


@pytest.mark.parametrize("value", ["pixels=inf", "pixels=nan", "pixels=-1", "raw=1e999", "pixel=inf", "pixel=-3",
                                   "animation=2.5", "similarity=-Infinity"])
def test_a_tolerance_that_is_not_finite_and_non_negative_stops_the_check(baseline, tmp_path, value):
    for extra in ((), ("--update",)):
        result = check(tmp_path, baseline, "--tolerance", value, *extra)
        assert result.exit_code == 2 and result.stdout == ""
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("error: --tolerance") and value in line


@pytest.mark.parametrize("tolerances", [{"pixels": float("inf")}, {"raw": float("nan")}, {"outcome": -0.1}])
def test_the_python_api_and_the_fixture_refuse_such_tolerances(tmp_path, tolerances):
    import reportgen
    from reportgen.interface.testing import ReportgenCheck

    with pytest.raises(RegressionError, match="^tolerances '[a-z]+=(inf|nan|-0.1)': must"):
        reportgen.check(tmp_path / "baseline", out=tmp_path / "site", cache_dir=tmp_path / "cache",
                        tolerances=tolerances)
    with pytest.raises(RegressionError, match="must"):
        Tolerance(**tolerances)
    fixture = ReportgenCheck(tmp_path, tmp_path / "work", tmp_path / "cache", update=False)
    with pytest.raises(pytest.fail.Exception, match="^tolerances '"):  # before any build: there are no inputs
        fixture("baseline", "no-inputs", tolerances=tolerances, models="tiny")


def test_json_output_is_strict_even_for_infinite_measures():
    from reportgen.core.artifacts import Artifact
    from reportgen.regress.machine_readable import as_json
    from reportgen.regress import Comparison, Outcome, RoleDifference

    entry = Artifact.from_json({"technique": "filters", "variant": "v", "model": "m", "image": None, "image_id": None,
                                "spec": {}, "key": "0" * 64, "cache_files": {}, "meta": {"shape": [1, 3, 3, 3]}})
    differences = [RoleDifference("weights", "raw", False, float("inf"), float("nan"), note="has NaN"),
                   RoleDifference("objective", "reached", False, float("nan"), float("-inf"))]
    document = strict_json(as_json(Outcome(Tolerance(), [Comparison(entry, entry, False, differences)], [], [])))
    assert [(d["largest"], d["changed"], d["loss"]) for d in document["moved"][0]["differences"]] == [
        (None, None, True), (None, None, False)]
