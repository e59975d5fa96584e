"""Builds that go wrong: killed at chosen moments, interrupted, run twice at once, fed hostile files.

Each build runs as a real subprocess of the CLI. A kill point is injected by wrapping one internal
function so that the process SIGKILLs itself at the n-th call: mid cache entry, between entries,
mid site staging, and between the two renames of the site swap.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reportgen.core.cache import Cache
from helpers import write_inputs

RUNNER = r'''
import os, signal, sys
sys.path.insert(0, TESTS)
import conftest  # registers the tiny model
from reportgen.core import cache, entry_files
from reportgen.gallery import site
point, count, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
# As on a terminal, whatever launched the tests: a background job inherits SIGINT ignored
signal.signal(signal.SIGINT, signal.default_int_handler)
calls = [0]

def stop_at(module, name, sig=signal.SIGKILL):
    original = getattr(module, name)
    def wrapped(*a, **k):
        calls[0] += 1
        if calls[0] == count:
            os.kill(os.getpid(), sig)
        return original(*a, **k)
    setattr(module, name, wrapped)

def stop_after_moving_the_old_site():
    original = os.rename
    def wrapped(source, target):
        original(source, target)
        if ".site.old" in str(target):
            os.kill(os.getpid(), signal.SIGKILL)
    os.rename = wrapped

if point == "entry-file":
    stop_at(entry_files, "_write")
elif point == "entries":
    stop_at(cache.Cache, "put")
elif point == "interrupt":
    stop_at(cache.Cache, "put", sig=signal.SIGINT)
elif point == "site-page":
    stop_at(site, "_write")
elif point == "site-swap":
    stop_after_moving_the_old_site()
from reportgen.interface.cli import main
main(args, prog_name="reportgen")
'''


def cli(tmp_path: Path, name: str, point: str = "none", count: int = 0, background: bool = False, extra=()):
    args = [sys.executable, "-c", f"TESTS = {str(Path(__file__).resolve().parent)!r}\n{RUNNER}", point, str(count), "build", str(tmp_path / "inputs"), "--models", "tiny",
            "--techniques", "feature_maps,filters", "--preset", "quick", "--device", "cpu",
            "--out", str(tmp_path / name / "site"), "--cache-dir", str(tmp_path / name / "cache"), *extra]
    if background:
        return subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=120)


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_cache_whole(cache_dir: Path) -> int:
    """Every visible entry folder is complete; returns how many there are."""
    cache = Cache(cache_dir)
    entries = [p for p in (cache_dir / "objects").glob("*/*") if not p.name.startswith(".")] if cache_dir.exists() else []
    for folder in entries:
        assert cache.get(folder.name) is not None, f"half-written entry {folder}"
    return len(entries)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("reference")
    write_inputs(tmp_path / "inputs")
    result = cli(tmp_path, "clean")
    assert result.returncode == 0, result.stderr
    return tmp_path, files(tmp_path / "clean" / "site")


@pytest.mark.parametrize("point,count", [("entry-file", 3), ("entries", 4), ("site-page", 3), ("site-swap", 0)])
def test_killed_build_leaves_nothing_half_written_and_resumes(reference, point, count):
    tmp_path, expected = reference
    name = f"killed-{point}"
    if point == "site-swap":  # a previous site exists and is being replaced
        assert cli(tmp_path, name).returncode == 0
        (tmp_path / name / "cache" / "objects").rename(tmp_path / name / "cache" / "gone")
    killed = cli(tmp_path, name, point, count)
    assert killed.returncode == -9, killed.stderr
    present = assert_cache_whole(tmp_path / name / "cache")
    site = tmp_path / name / "site"
    if site.exists():
        assert files(site) == expected or not (site / "index.html").exists()
    resumed = cli(tmp_path, name)
    assert resumed.returncode == 0, resumed.stderr
    total = len(json.loads((tmp_path / "clean" / "site" / "manifest.json").read_text())["artifacts"])
    assert resumed.stdout.strip().splitlines()[-1] == f"{total} artifacts: {total - present} computed, {present} cached"
    assert files(site) == expected
    assert not [p for p in site.parent.iterdir() if p.name.startswith(".site.")]  # leftovers swept


def test_ctrl_c_is_a_clean_one_line_stop(reference):
    tmp_path, expected = reference
    interrupted = cli(tmp_path, "interrupted", "interrupt", 3)
    assert interrupted.returncode == 130
    assert "interrupted" in interrupted.stderr and "Traceback" not in interrupted.stderr
    assert assert_cache_whole(tmp_path / "interrupted" / "cache") == 2
    assert not (tmp_path / "interrupted" / "site").exists()
    assert cli(tmp_path, "interrupted").returncode == 0
    assert files(tmp_path / "interrupted" / "site") == expected


def test_two_builds_at_once_both_finish_with_the_same_site(reference):
    tmp_path, expected = reference
    builds = [cli(tmp_path, "shared", background=True) for _ in range(2)]
    for process in builds:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert files(tmp_path / "shared" / "site") == expected
    assert_cache_whole(tmp_path / "shared" / "cache")


def hostile_corpus(folder: Path) -> tuple[set[str], set[str]]:
    """Valid images under hostile names, and every kind of bad file. Returns (valid, bad) names."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    valid = {"<img src=x onerror=alert(1)>.png", "space and ünïcödé.png", "hash#q?pct%.png", "quote'\"s.png",
             "nested/deeper/rgba.png", "gray16.png", "cmyk.jpg", "palette.gif"}
    for index, name in enumerate(sorted(valid)):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (36 + index, 40, 3), dtype=np.uint8)
        image = Image.fromarray(pixels)
        if name.endswith("rgba.png"):
            image = image.convert("RGBA")
        elif name == "gray16.png":
            image = Image.fromarray((pixels[..., 0].astype(np.uint16) * 200))
        elif name == "cmyk.jpg":
            image = image.convert("CMYK")
        elif name == "palette.gif":
            image = image.convert("P")
        image.save(folder / name)
    (folder / "empty.png").write_bytes(b"")
    (folder / "readme.txt").write_text("not an image")
    (folder / "truncated.jpg").write_bytes((folder / "cmyk.jpg").read_bytes()[:200])
    Image.new("RGB", (1, 1)).save(folder / "one-pixel.png")
    (folder / ".hidden.png").write_bytes(b"ignored")
    return valid, {"empty.png", "readme.txt", "truncated.jpg", "one-pixel.png"}


def test_hostile_inputs_through_the_cli(tmp_path):
    valid, bad = hostile_corpus(tmp_path / "inputs")
    result = cli(tmp_path, "hostile")
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    for name in bad:
        assert f"skipped {name}:" in result.stderr
    site = tmp_path / "hostile" / "site"
    manifest = json.loads((site / "manifest.json").read_text())
    assert {i["name"] for i in manifest["images"]} == valid
    html = "".join(p.read_text() for p in site.glob("*.html"))
    assert "<img src=x onerror" not in html and "&lt;img src=x onerror=alert(1)&gt;.png" in html


def test_links_labels_and_postscript_through_the_cli(tmp_path):
    """A link out of the folder, a PostScript file named .png and bad labels: each one line, exit 3,
    nothing of them published; --follow-links publishes the linked pictures."""
    folder = tmp_path / "inputs"
    write_inputs(folder, names=("a.png", "b.png"))
    write_inputs(tmp_path / "private", names=("photo.png",), size=(30, 30))
    (folder / "home").symlink_to(tmp_path / "private")
    (folder / "eps.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 20 20\nshowpage\n%%EOF\n")
    (folder / "labels.json").write_text(json.dumps({"a.png": True, "b.png": "zebra", "ghost.png": 1}))
    result = cli(tmp_path, "hostile-links")
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    for line in ("skipped home: link to outside the folder, not followed (--follow-links follows it)",
                 "skipped eps.png: not an image reportgen reads (PNG, JPEG, BMP, GIF, TIFF or WebP)",
                 "skipped labels.json: a.png: expected a class index or name, not true",
                 "skipped labels.json: b.png: tiny has no category named 'zebra'; explained by the top-1 prediction",
                 "skipped labels.json: names ghost.png, which is no input image"):
        assert line in result.stderr.splitlines(), line
    manifest = json.loads((tmp_path / "hostile-links" / "site" / "manifest.json").read_text())
    assert [i["name"] for i in manifest["images"]] == ["a.png", "b.png"]
    assert all("label" not in i for i in manifest["images"])
    followed = cli(tmp_path, "followed", extra=["--follow-links"])
    manifest = json.loads((tmp_path / "followed" / "site" / "manifest.json").read_text())
    assert [i["name"] for i in manifest["images"]] == ["a.png", "b.png", "home/photo.png"]
    assert "skipped home:" not in followed.stderr
    (folder / "labels.json").write_text("[" * 100_000 + "]" * 100_000)
    deep = cli(tmp_path, "deep-labels")
    assert deep.returncode == 3 and "Traceback" not in deep.stderr
    assert "skipped labels.json: nested too deeply to read" in deep.stderr.splitlines()
