"""The embedding map on a folder whose grouping is known: three visually distinct classes (red, green and
blue squares on noise, a cross, a stripe pattern) that even an untrained tiny CNN describes apart."""
from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import config
from reportgen.core.artifacts import Manifest
from reportgen.core.meta import EmbeddingMapMeta
from reportgen.core.pipeline import build
from reportgen.core.progress import Silent
from reportgen.regress import Tolerance, check, promote
from reportgen.gallery.site import write_site
from reportgen.techniques import embedding_map
from reportgen.techniques.embedding_map import grid_shape, neighbours_kept, sized_perplexity, snap_to_grid

PER_CLASS = 8
SIDE = 40


def picture(kind: int, seed: int) -> np.ndarray:
    """Class 0: a reddish field; 1: a green cross on dark; 2: blue and white stripes; each with noise."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(-25, 26, (SIDE, SIDE, 3))
    if kind == 0:
        base = np.full((SIDE, SIDE, 3), (200, 40, 40))
    elif kind == 1:
        base = np.full((SIDE, SIDE, 3), (20, 20, 20))
        base[SIDE // 2 - 4:SIDE // 2 + 4, :] = base[:, SIDE // 2 - 4:SIDE // 2 + 4] = (30, 220, 60)
    else:
        base = np.full((SIDE, SIDE, 3), 240)
        base[(np.arange(SIDE) // 4) % 2 == 0] = (30, 60, 200)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def labelled_folder(folder: Path, per_class: int = PER_CLASS, classes: int = 3) -> dict[str, int]:
    folder.mkdir(parents=True, exist_ok=True)
    labels = {}
    for kind in range(classes):
        for number in range(per_class):
            name = f"c{kind}_{number}.png"
            Image.fromarray(picture(kind, 100 * kind + number)).save(folder / name)
            labels[name] = kind
    (folder / "labels.json").write_text(json.dumps(labels))
    return labels


def built(tmp_path, name="site", cache="cache"):
    cfg = config(tmp_path, techniques=("embedding_map",), out=tmp_path / name, cache_dir=tmp_path / cache)
    report = build(cfg, Silent())
    write_site(report.manifest, cfg.cache_dir, report.images, cfg.out)
    return cfg, report


def the_map(report):
    (artifact,) = report.manifest.of("embedding_map")
    return artifact


def knn_agreement(points: np.ndarray, labels: list[int], k: int = 5) -> float:
    """Leave-one-out k-NN vote in the 2-D map: the share of points whose neighbours' majority is their label."""
    distance = ((points[:, None] - points[None]) ** 2).sum(-1)
    np.fill_diagonal(distance, np.inf)
    near = np.argsort(distance, axis=1)[:, :k]
    votes = np.array(labels)[near]
    return float(np.mean([np.bincount(row).argmax() == label for row, label in zip(votes, labels)]))


def test_the_map_groups_the_labelled_classes_far_above_chance(tmp_path):
    labelled_folder(tmp_path / "inputs")
    cfg, report = built(tmp_path)
    artifact = the_map(report)
    meta = artifact.meta
    assert isinstance(meta, EmbeddingMapMeta) and meta.coloured_by == "labels.json"
    points = np.load(cfg.cache_dir / artifact.cache_files["points"])
    assert points.shape == (3 * PER_CLASS, 2) and np.isfinite(points).all()
    ids = {image.id: image.name for image in report.manifest.images}
    labels = [int(ids[p.image_id][1]) for p in meta.points]  # c<class>_<n>.png
    assert [p.label_index for p in meta.points] == labels
    assert knn_agreement(points, labels) >= 0.9  # chance: about 1/3
    assert meta.label_agreement is not None and meta.label_agreement >= 0.9
    assert meta.perplexity == sized_perplexity(30.0, 3 * PER_CLASS)
    assert len({(p.column, p.row) for p in meta.points}) == len(meta.points)  # one thumbnail per cell
    assert sorted(entry.inputs for entry in meta.legend) == [PER_CLASS] * 3


def test_adding_changing_or_relabelling_an_input_makes_the_map_again(tmp_path):
    labels = labelled_folder(tmp_path / "inputs")
    first = the_map(built(tmp_path)[1]).key
    again = built(tmp_path)[1]
    assert the_map(again).key == first and again.computed == 0
    Image.fromarray(picture(0, 999)).save(tmp_path / "inputs" / "new.png")
    added = the_map(built(tmp_path)[1]).key
    assert added != first
    pixels = np.asarray(Image.open(tmp_path / "inputs" / "c1_0.png")).copy()
    pixels[0, 0] = 255 - pixels[0, 0]
    Image.fromarray(pixels).save(tmp_path / "inputs" / "c1_0.png")
    changed = the_map(built(tmp_path)[1]).key
    assert changed not in (first, added)
    (tmp_path / "inputs" / "labels.json").write_text(json.dumps({**labels, "c1_0.png": 2}))
    assert the_map(built(tmp_path)[1]).key not in (first, added, changed)


def test_fewer_than_five_inputs_are_not_shown_with_one_line(tmp_path):
    labelled_folder(tmp_path / "inputs", per_class=1, classes=3)
    cfg, report = built(tmp_path)
    assert report.manifest.of("embedding_map") == [] and not report.errors
    (skip,) = [s for s in report.unsupported if s.technique == "embedding_map"]
    assert str(skip) == "skipped embedding_map on tiny: 3 inputs; a map of the folder needs at least 5"
    page = (cfg.out / "embedding_map.html").read_text()
    assert "Not shown" in page and "3 inputs; a map of the folder needs at least 5" in page


def test_every_atlas_link_opens_the_page_of_the_input_drawn_under_it(tmp_path):
    labelled_folder(tmp_path / "inputs")
    cfg, report = built(tmp_path)
    page = (cfg.out / "embedding_map.html").read_text()
    atlas_block = page.split('class="embedding-atlas"', 1)[1].split("</div>", 1)[0]
    src = re.search(r'<img src="([^"]+)"', atlas_block).group(1)
    atlas = np.asarray(Image.open(cfg.out / src).convert("RGB")).astype(float)
    links = re.findall(r'<a href="([^"]+)" style="left: ([\d.]+)%; top: ([\d.]+)%" title="([^"]+)"', atlas_block)
    assert len(links) == 3 * PER_CLASS
    meta = the_map(report).meta
    cell_w, cell_h = atlas.shape[1] / meta.columns, atlas.shape[0] / meta.rows
    for href, left, top, name in links:
        target = cfg.out / unescape(href)
        assert target.is_file() and unescape(name) in target.read_text()
        x, y = round(float(left) / 100 * atlas.shape[1]), round(float(top) / 100 * atlas.shape[0])
        cell = atlas[y + 4:y + round(cell_h) - 4, x + 4:x + round(cell_w) - 4].reshape(-1, 3).mean(axis=0)
        photo = np.asarray(Image.open(tmp_path / "inputs" / unescape(name)).convert("RGB")).reshape(-1, 3).mean(axis=0)
        assert np.abs(cell - photo).max() < 30, name  # the thumbnail under the link is that input's


def test_the_grid_gives_every_point_its_own_cell_near_it():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(50, 2))
    columns, rows = grid_shape(len(points))
    cells = snap_to_grid(points, columns, rows)
    assert columns * rows >= len(points) and len(set(cells)) == len(points)
    left = [c for (c, _), (x, _) in zip(cells, points) if x < np.quantile(points[:, 0], 0.2)]
    right = [c for (c, _), (x, _) in zip(cells, points) if x > np.quantile(points[:, 0], 0.8)]
    assert max(left) < min(right)  # the far left of the map stays left of its far right


def test_neighbours_kept_ignores_a_turned_or_grainy_map_and_catches_a_shuffled_one():
    points = np.random.default_rng(1).normal(size=(40, 2))
    turned = points[:, ::-1] * np.array([-3.0, 3.0]) + 7.0  # rotated, mirrored, scaled and moved
    assert neighbours_kept(points, turned) == 1.0
    grainy = points + np.random.default_rng(3).normal(scale=0.02, size=points.shape)
    assert neighbours_kept(points, grainy) > 0.8
    for seed in range(3):
        shuffled = points[np.random.default_rng(seed).permutation(len(points))]
        assert neighbours_kept(points, shuffled) < Tolerance().neighbours


@pytest.mark.parametrize("layout, passes", [("turned", True), ("shuffled", False)])
def test_the_regression_check_judges_the_map_by_its_neighbourhoods(tmp_path, monkeypatch, layout, passes):
    labelled_folder(tmp_path / "inputs")
    base, _ = built(tmp_path, "site", "cache")
    promote(tmp_path / "baseline", base.out, base.cache_dir)
    same, _ = built(tmp_path, "same", "same-cache")
    outcome, _ = check(tmp_path / "baseline", same.out, same.cache_dir, Tolerance())
    assert outcome.passed and all(c.identical for c in outcome.compared)
    embed = embedding_map.embed

    def moved(*args):
        points = embed(*args)
        if layout == "turned":  # another layout with the same neighbourhoods: the pictures move, the map holds
            return (points[:, ::-1] * np.array([-1.0, 1.0])).astype(np.float32)
        return points[np.random.default_rng(0).permutation(len(points))]

    monkeypatch.setattr(embedding_map, "embed", moved)
    other, _ = built(tmp_path, "other", "other-cache")
    outcome, _ = check(tmp_path / "baseline", other.out, other.cache_dir, Tolerance())
    (comparison,) = [c for c in outcome.compared if c.current.technique == "embedding_map"]
    assert not comparison.identical
    (neighbours,) = [d for d in comparison.differences if d.kind == "neighbours"]
    assert neighbours.within == passes and outcome.passed == passes
    if not passes:
        assert any("nearest neighbours kept" in line for line in outcome.lines())


def test_a_handful_of_points_is_judged_by_the_features_they_are_placed_from(tmp_path, monkeypatch):
    """t-SNE places a few points freely (another CPU's rounding moves them): below
    NEIGHBOURHOODS_FROM the layout is not compared, the features are."""
    labelled_folder(tmp_path / "inputs", per_class=2)  # 6 inputs
    base, _ = built(tmp_path, "site", "cache")
    promote(tmp_path / "baseline", base.out, base.cache_dir)
    embed = embedding_map.embed
    monkeypatch.setattr(embedding_map, "embed", lambda *args: embed(*args)[::-1].copy())  # every point elsewhere
    other, _ = built(tmp_path, "other", "other-cache")
    outcome, _ = check(tmp_path / "baseline", other.out, other.cache_dir, Tolerance())
    (comparison,) = [c for c in outcome.compared if c.current.technique == "embedding_map"]
    assert not comparison.identical and outcome.passed
    assert not [d for d in comparison.differences if d.kind == "neighbours"]
