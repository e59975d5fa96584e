"""Streaming dataset-example mining (reportgen/techniques/dataset_examples.py) on the tiny CNN and a folder of
small generated images."""
import json
import weakref
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reportgen.techniques import dataset_examples
from reportgen.techniques.dataset_examples import ExamplesError, example_folder, mine, patch_box
from reportgen.pictures.images import FORMAT_NAMES, InputImage
from reportgen.core.progress import Silent
from reportgen.techniques.base import registry
from reportgen.techniques.layer_ascent import channel_maps

UNITS = [("features.2", 5), ("features.2", 11), ("features.4", 3), ("features.4", 9)]
LAYER_ASCENT = registry()["layer_ascent"]


def write_folder(folder, count=30, seed=0):
    """``count`` noisy pictures of varied sizes with a bright square somewhere, some in a subfolder."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        height, width = int(rng.integers(24, 72)), int(rng.integers(24, 72))
        pixels = rng.integers(0, 200, (height, width, 3), dtype=np.uint8)
        top, left = int(rng.integers(0, height - 8)), int(rng.integers(0, width - 8))
        pixels[top:top + 8, left:left + 8] = rng.integers(150, 256, 3, dtype=np.uint8)
        path = folder / ("sub" if index % 3 == 0 else "") / f"ex{index:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
    return folder


def brute_force(model, images, units, examples, patch_strides):
    """Every map of every image kept at once (one image a forward), then the greedy pick."""
    picked = {}
    for layer, filter_index in units:
        maps = channel_maps(model, [image.pixels for image in images], layer, filter_index, model.card.input_size)
        picked[(layer, filter_index)] = (greedy(maps, examples, patch_strides / 2), max(float(m.max()) for m in maps))
    return picked


def loaded(folder):
    return list(example_folder(folder).images(on_skip=lambda skipped: pytest.fail(str(skipped))))


@pytest.mark.parametrize("batch_size", [1, 4, 7])
def test_streaming_top_k_equals_the_brute_force_pick_over_all_maps(tiny, tmp_path, batch_size):
    images = loaded(write_folder(tmp_path / "examples"))
    by_name = {image.name: image for image in images}
    mined = mine(tiny, UNITS, iter(images), 5, 4.0, by_name.__getitem__, batch_size=batch_size)
    expected = brute_force(tiny, images, UNITS, 5, 4.0)
    for unit in UNITS:
        chosen, peak = expected[unit]
        found = mined[unit]
        assert [(p.index, p.cell) for p in found.peaks] == [(index, (y, x)) for _, index, y, x in chosen], unit
        assert [p.value for p in found.peaks] == pytest.approx([c[0] for c in chosen], rel=1e-4, abs=1e-6)
        assert found.peak == pytest.approx(peak, rel=1e-4) and found.images == len(images)
        grid = channel_maps(tiny, [images[0].pixels], unit[0], unit[1], tiny.card.input_size)[0].shape
        for p in found.peaks:
            image = images[p.index]
            top, left, bottom, right = patch_box(image.pixels.shape[:2], grid, p.cell, 4.0)
            assert p.image == image.name and p.box == (left, top, right, bottom)
        assert [tile.shape for tile in found.tiles] == [(64, 64, 3)] * len(found.peaks)


def greedy(maps, examples, reach):
    """The brute-force rule over maps already computed: every position sorted, then the greedy pick."""
    candidates = sorted(((float(value), index, y, x) for index, activation in enumerate(maps)
                         for (y, x), value in np.ndenumerate(activation)), reverse=True)
    chosen = []
    for value, index, y, x in candidates:
        if all(other != index or max(abs(y - oy), abs(x - ox)) >= reach for _, other, oy, ox in chosen):
            chosen.append((value, index, y, x))
        if len(chosen) == examples:
            break
    return chosen


@pytest.mark.parametrize("seed", range(6))
def test_the_running_top_k_equals_the_greedy_pick_exactly_also_among_ties(seed):
    """Maps of a few integer levels tie everywhere: the ties go to the later image and then the
    lower-right cell, one per neighbourhood, exactly as a descending sort of every position does."""
    import torch

    rng = np.random.default_rng(seed)
    count, filters, side = int(rng.integers(5, 30)), [0, 3, 4], int(rng.integers(3, 12))
    maps = rng.integers(0, 4, (count, len(filters), side, side)).astype(np.float32)
    images = [InputImage(f"i{n}.png", np.zeros((side * 2, side * 3, 3), np.uint8), str(n)) for n in range(count)]
    running = dataset_examples.RunningExamples(filters, examples=7, patch_strides=float(rng.choice([2.0, 3.0, 5.0])))
    start = 0
    while start < count:
        stop = min(count, start + int(rng.integers(1, 8)))
        running.add(torch.from_numpy(maps[start:stop]), images[start:stop], start)
        start = stop
    for column, filter_index in enumerate(filters):
        expected = greedy(list(maps[:, column]), 7, running.patch_strides / 2)
        found = running.mined[filter_index]
        assert [p.order for p in found.peaks] == expected
        assert found.peak == maps[:, column].max() and found.images == count


def test_a_pass_holds_no_more_images_than_one_batch(tiny, tmp_path, monkeypatch):
    folder = example_folder(write_folder(tmp_path / "examples", count=40))
    alive, most, calls = [0], [0], [0]

    def counted(path, name):
        image = real_load(path, name)
        if isinstance(image, InputImage):
            calls[0] += 1
            alive[0] += 1
            most[0] = max(most[0], alive[0])
            weakref.finalize(image, lambda: alive.__setitem__(0, alive[0] - 1))
        return image

    real_load = dataset_examples.load_image
    monkeypatch.setattr(dataset_examples, "load_image", counted)
    mined = mine(tiny, UNITS, folder.images(on_skip=print), 4, 6.0, folder.reload, batch_size=5)
    winners = {peak.image for unit in mined.values() for peak in unit.peaks}
    assert calls[0] == 40 + len(winners) and mined[UNITS[0]].images == 40  # the pass, then each winner once
    assert most[0] <= 5
    assert alive[0] <= 1  # at most the generator's last image, until it is collected


def test_the_folder_digest_follows_names_and_contents_not_times(tmp_path):
    folder = write_folder(tmp_path / "examples", count=5)
    first = example_folder(folder).digest
    path = folder / "ex001.png"
    path.touch()  # a new time, the same content
    assert example_folder(folder).digest == first
    path.rename(folder / "renamed.png")
    renamed = example_folder(folder).digest
    assert renamed != first
    pixels = np.asarray(Image.open(folder / "renamed.png")).copy()
    pixels[0, 0] ^= 1
    Image.fromarray(pixels).save(folder / "renamed.png")
    assert example_folder(folder).digest not in (first, renamed)


def test_a_missing_or_unusable_folder_is_refused_in_one_line(tmp_path):
    with pytest.raises(ExamplesError, match="does not exist"):
        example_folder(tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.jpg").write_bytes(b"\xff\xd8 nope")
    (tmp_path / "bad" / "notes.txt").write_text("hello")
    with pytest.raises(ExamplesError, match="has no usable image"):
        example_folder(tmp_path / "bad")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExamplesError, match="has no usable image"):
        example_folder(tmp_path / "empty")


def test_unreadable_files_are_skipped_one_line_each(tiny, tmp_path):
    folder = write_folder(tmp_path / "examples", count=6)
    (folder / "broken.png").write_bytes(b"\x89PNG nope")
    (folder / "copy.png").write_bytes((folder / "ex001.png").read_bytes())
    skipped = []
    folder = example_folder(folder)
    mined = mine(tiny, UNITS[:1], folder.images(skipped.append), 2, 6.0, folder.reload)
    assert sorted(str(s) for s in skipped) == [f"skipped broken.png: not an image reportgen reads ({FORMAT_NAMES})",
                                               "skipped ex001.png: same pixels as copy.png"]
    assert mined[UNITS[0]].images == 6


def _plan(folder, tiny_card, images, **changes):
    params = LAYER_ASCENT.params_for("quick", {"examples_dir": str(folder), **changes})
    return params, [r for r in LAYER_ASCENT.plan(params, tiny_card, images) if r.variant.endswith("/examples")]


def test_layer_ascent_keys_folder_examples_by_the_folder_not_the_inputs(tiny_card, images, tmp_path):
    folder = write_folder(tmp_path / "examples", count=4)
    _, requests = _plan(folder, tiny_card, images)
    assert len(requests) == 2 and all(not r.inputs and r.spec["folder"] == example_folder(folder).digest
                                      for r in requests)
    _, other_inputs = _plan(folder, tiny_card, images[:1])
    assert [r.spec for r in other_inputs] == [r.spec for r in requests]
    plain = [r for r in LAYER_ASCENT.plan(LAYER_ASCENT.params_for("quick"), tiny_card, images) if "style" in r.spec]
    with_folder = [r for r in LAYER_ASCENT.plan(_plan(folder, tiny_card, images)[0], tiny_card, images) if "style" in r.spec]
    assert [r.spec for r in plain] == [r.spec for r in with_folder]  # the visualisations' keys do not move


def test_layer_ascent_names_each_example_by_its_file_in_the_folder(tiny, images, tmp_path):
    folder = write_folder(tmp_path / "examples", count=12)
    params, requests = _plan(folder, tiny.card, images, styles=())
    results = {request.variant: result for request, result in LAYER_ASCENT.compute(params, tiny, requests, Silent())}
    names = {name for name, _ in example_folder(folder).files}
    assert any(name.startswith("sub/") for name in names)
    assert sorted(results) == sorted(request.variant for request in requests)
    for result in results.values():
        meta = result.meta
        assert meta.images == 12 and len(meta.examples) == params.examples
        assert all(example.image in names for example in meta.examples)
        assert result.images["examples"].shape == (64, params.examples * 64 + (params.examples - 1) * 2, 3)


def test_a_changed_folder_recomputes_and_an_unchanged_one_is_a_cache_hit(tmp_path):
    from helpers import config, write_inputs

    from reportgen.core.pipeline import build

    write_inputs(tmp_path / "inputs")
    folder = write_folder(tmp_path / "examples", count=8)
    overrides = {"layer_ascent": {"steps": 2, "frames": 2, "styles": ("naive",), "examples": 2,
                                  "examples_dir": str(folder)}}
    settings = config(tmp_path, techniques=("layer_ascent",), overrides=overrides)
    first = build(settings, Silent())
    examples = [a for a in first.manifest.artifacts if a.variant.endswith("/examples")]
    assert len(examples) == 2 and all(a.meta.images == 8 for a in examples)
    assert {e.image for a in examples for e in a.meta.examples} <= {name for name, _ in example_folder(folder).files}
    again = build(settings, Silent())
    assert again.computed == 0
    Image.fromarray(np.full((40, 40, 3), 255, np.uint8)).save(folder / "sub" / "white.png")
    changed = build(settings, Silent())
    assert changed.computed == 2  # the examples, not the visualisations
    assert all(a.meta.images == 9 for a in changed.manifest.artifacts if a.variant.endswith("/examples"))


def test_links_leaving_the_examples_folder_are_skipped_and_named(tmp_path):
    folder = write_folder(tmp_path / "examples", count=3)
    private = write_folder(tmp_path / "private", count=2, seed=1)
    (folder / "home").symlink_to(private)
    scanned = example_folder(folder)
    assert not any(name.startswith("home/") for name, _ in scanned.files)
    skipped = []
    assert len(list(scanned.images(skipped.append))) == 3
    assert [str(s) for s in skipped] == ["skipped home: link to outside the folder, not followed"]


def test_pages_and_manifest_name_the_examples_folder_not_its_path(tmp_path):
    import reportgen
    from helpers import write_inputs

    write_inputs(tmp_path / "inputs")
    folder = write_folder(tmp_path / "private-place" / "examples", count=4)
    gallery = reportgen.build(tmp_path / "inputs", models="tiny", techniques="layer_ascent", preset="quick",
                              device="cpu", out=tmp_path / "site", cache_dir=tmp_path / "cache", examples=folder,
                              overrides={"layer_ascent": {"steps": 2, "frames": 2, "styles": ["naive"]}})
    manifest = json.loads((tmp_path / "site" / "manifest.json").read_text())
    assert manifest["overrides"]["layer_ascent"]["examples_dir"] == "examples"
    assert all(not Path(image["name"]).is_absolute() for image in manifest["images"])
    assert any(a["variant"].endswith("/examples") for a in manifest["artifacts"])
    written = [p for p in (tmp_path / "site").rglob("*") if p.suffix in (".html", ".json")]
    assert written and not [p for p in written if str(tmp_path) in p.read_text()]
    assert gallery.report.computed > 0


def test_follow_links_reaches_the_examples_folder(tmp_path):
    from reportgen.interface.config import FileSettings, build_config
    from reportgen.techniques.base import registry

    folder = write_folder(tmp_path / "examples", count=3)
    private = write_folder(tmp_path / "private", count=2, seed=1)
    (folder / "home").symlink_to(private)
    followed = example_folder(folder, follow_links=True)
    assert sum(name.startswith("home/") for name, _ in followed.files) == 2
    skipped = []
    assert len(list(followed.images(skipped.append))) == 5 and not skipped
    assert followed.digest != example_folder(folder).digest  # what was read is keyed
    (tmp_path / "in").mkdir()
    given = {"input": str(tmp_path / "in"), "examples": str(folder)}
    plain = build_config(given, FileSettings(), registry())
    linked = build_config({**given, "follow_links": True}, FileSettings(), registry())
    assert "examples_follow_links" not in plain.overrides["layer_ascent"]
    assert linked.overrides["layer_ascent"]["examples_follow_links"] is True
