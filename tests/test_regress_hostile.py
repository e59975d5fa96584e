"""`reportgen check` against crafted or damaged baselines and builds: every case stops with exit 2
and one line naming the manifest and its entry (or the file), reads nothing outside the folders a
manifest belongs to, and with --update writes nothing outside the baseline folder."""
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from reportgen.pictures import render
from reportgen.interface.cli import main
from reportgen.regress import MARKER, promote

KEY = "0123456789abcdef" * 4


def write_site(root, cache, key=KEY):
    """A site folder of one artifact (a picture ``still`` and a raw array ``weights``) and its cache."""
    (root / "a").mkdir(parents=True)
    pixels = np.kron(np.arange(12, dtype=np.uint8).reshape(3, 4, 1) * 20, np.ones((4, 4, 3), np.uint8))
    (root / "a" / "still.png").write_bytes(render.png_bytes(pixels))
    (cache / "x").mkdir(parents=True, exist_ok=True)
    np.save(cache / "x" / "weights.npy", np.linspace(-1, 1, 27, dtype=np.float32).reshape(1, 3, 3, 3))
    entry = {"technique": "filters", "variant": "v", "model": "m", "image": None, "image_id": None, "spec": {},
             "key": key, "cache_files": {"still": "x/still.png", "weights": "x/weights.npy"},
             "files": {"still": {"path": "a/still.png", "width": 16, "height": 12}},
             "meta": {"shape": [1, 3, 3, 3]}, "anchor": "t"}
    manifest = {"reportgen": "0", "preset": "quick", "overrides": {}, "weights": "random", "versions": {},
                "techniques": ["filters"], "sections": [], "models": [], "images": [], "artifacts": [entry]}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def edit(folder, change):
    """Apply ``change`` to the manifest's one artifact entry."""
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest["artifacts"][0])
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def sides(tmp_path):
    """(baseline, build, cache): a baseline promoted from a build, and that build."""
    cache = tmp_path / "cache"
    build = write_site(tmp_path / "site", cache)
    promote(tmp_path / "baseline", build, cache)
    return tmp_path / "baseline", build, cache


def run_check(sides, *extra):
    baseline, build, cache = sides
    return CliRunner().invoke(main, ["check", str(baseline), "--out", str(build), "--cache-dir", str(cache), *extra])


def one_line_error(result, *fragments):
    """The check stopped with exit 2 and one line holding every fragment; nothing else was said."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and all(fragment in line for fragment in fragments), line
    return line


def test_the_untouched_sides_pass(sides):
    result = run_check(sides)
    assert result.exit_code == 0 and "1 identical" in result.stdout, result.output


@pytest.mark.parametrize("side", ["baseline", "build"])
@pytest.mark.parametrize("key", ["k" * 64, KEY.upper(), KEY[:-1], KEY + "0", KEY + "\n", f"../{KEY[3:]}", 7, None])
def test_a_key_that_is_not_64_lowercase_hex_stops_the_check(sides, side, key):
    folder = sides[0] if side == "baseline" else sides[1]
    edit(folder, lambda entry: entry.update(key=key))
    one_line_error(run_check(sides), str(folder / "manifest.json"), "artifacts[0]", "key", "64 lowercase")


ESCAPES = ["../outside.png", "/etc/passwd", "a/../../outside.png", "C:/outside.png", "a\\..\\..\\outside.png",
           "a/\x00.png", "", 5]


@pytest.mark.parametrize("side", ["baseline", "build"])
@pytest.mark.parametrize("path", ESCAPES)
def test_a_picture_path_that_leaves_its_folder_stops_the_check(sides, side, path):
    folder = sides[0] if side == "baseline" else sides[1]
    edit(folder, lambda entry: entry["files"]["still"].update(path=path))
    one_line_error(run_check(sides), str(folder / "manifest.json"), "artifacts[0]", "files['still']", repr(path))


@pytest.mark.parametrize("side", ["baseline", "build"])
@pytest.mark.parametrize("path", ESCAPES)
def test_a_cached_path_that_leaves_its_folder_stops_the_check(sides, side, path):
    folder = sides[0] if side == "baseline" else sides[1]
    edit(folder, lambda entry: entry["cache_files"].update(weights=path))
    one_line_error(run_check(sides), str(folder / "manifest.json"), "artifacts[0]", "cache_files['weights']")


@pytest.mark.parametrize("side", ["baseline", "build"])
def test_a_link_out_of_the_folder_is_not_followed(sides, tmp_path, side):
    folder = sides[0] if side == "baseline" else sides[1]
    outside = tmp_path / "elsewhere"
    shutil.move(folder / "a", outside)
    (folder / "a").symlink_to(outside, target_is_directory=True)
    one_line_error(run_check(sides), str(folder / "manifest.json"), "files['still']", "leads out of")


def test_a_cache_link_out_of_the_cache_is_not_followed(sides, tmp_path):
    cache = sides[2]
    shutil.move(cache / "x", tmp_path / "elsewhere")
    (cache / "x").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    one_line_error(run_check(sides), str(sides[1] / "manifest.json"), "cache_files[", "leads out of")


def test_a_baseline_whose_raw_folder_leads_out_is_not_read(sides, tmp_path):
    baseline = sides[0]
    shutil.move(baseline / "raw", tmp_path / "elsewhere")
    (baseline / "raw").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    one_line_error(run_check(sides), f"{KEY}.npz", "leads out of")


@pytest.mark.parametrize("path", ["../escape.png", "../../escape.png", "a/../../escape.png"])
def test_update_never_writes_outside_the_baseline_folder(sides, tmp_path, path):
    baseline, build, _ = sides
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    shutil.copyfile(build / "a" / "still.png", tmp_path / "escape.png")  # a picture where the path points
    edit(build, lambda entry: entry["files"]["still"].update(path=path))
    one_line_error(run_check(sides, "--update"), "files['still']", repr(path))
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert {name: data for name, data in after.items() if name.parts[0] == "baseline"} == {
        name: data for name, data in before.items() if name.parts[0] == "baseline"}
    assert sorted(set(after) - set(before)) == [tmp_path.joinpath("escape.png").relative_to(tmp_path)]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left
    assert not (tmp_path.parent / "escape.png").exists()


def test_update_through_a_build_whose_folder_links_out_is_refused(sides, tmp_path):
    baseline, build, _ = sides
    shutil.move(build / "a", tmp_path / "elsewhere")
    (build / "a").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    one_line_error(run_check(sides, "--update"), "leads out of")
    assert (baseline / MARKER).exists() and sorted(p.name for p in (baseline / "a").iterdir()) == ["still.png"]


@pytest.mark.parametrize("side", ["baseline", "build"])
def test_a_missing_picture_stops_the_check(sides, side):
    folder = sides[0] if side == "baseline" else sides[1]
    (folder / "a" / "still.png").unlink()
    one_line_error(run_check(sides), str(folder / "manifest.json"), "picture 'still' is missing")


def test_a_missing_picture_with_a_newline_in_its_name_is_still_one_line(sides):
    build = sides[1]
    edit(build, lambda entry: entry["files"]["still"].update(path="a/still\nerror: forged.png"))
    one_line_error(run_check(sides), "picture 'still' is missing", "still\\nerror: forged.png")


@pytest.mark.parametrize("content", [b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 12\nshowpage\n",
                                     b"not a picture", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_a_picture_that_is_not_a_png_or_gif_stops_the_check(sides, content):
    build = sides[1]
    (build / "a" / "still.png").write_bytes(content)
    one_line_error(run_check(sides), "cannot read picture", str(build / "a" / "still.png"))


def test_damaged_raw_arrays_stop_the_check(sides):
    baseline, build, cache = sides
    (cache / "x" / "weights.npy").write_bytes(b"\x93NUMPY garbage")
    one_line_error(run_check(sides), "cannot read raw array", "weights.npy")
    np.save(cache / "x" / "weights.npy", np.array([object()], dtype=object))
    one_line_error(run_check(sides), "cannot read raw array", "weights.npy")
    np.save(cache / "x" / "weights.npy", np.zeros(27, np.float32))
    (baseline / "raw" / f"{KEY}.npz").write_bytes(b"PK not a zip")
    one_line_error(run_check(sides), "cannot read", f"{KEY}.npz")


@pytest.mark.parametrize("text", ["[" * 100_000, "{", '{"artifacts": 5}', "[]", '"text"',
                                  json.dumps({"reportgen": "0", "preset": "quick", "overrides": [], "weights": "random"})])
@pytest.mark.parametrize("side", ["baseline", "build"])
def test_a_manifest_that_is_not_one_stops_the_check(sides, side, text):
    folder = sides[0] if side == "baseline" else sides[1]
    (folder / "manifest.json").write_text(text)
    one_line_error(run_check(sides), "cannot read", str(folder / "manifest.json"))


@pytest.mark.parametrize("side", ["baseline", "build"])
def test_an_artifact_listed_twice_stops_the_check(sides, side):
    folder = sides[0] if side == "baseline" else sides[1]
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["artifacts"] *= 2
    (folder / "manifest.json").write_text(json.dumps(manifest))
    one_line_error(run_check(sides), str(folder / "manifest.json"), "artifacts[1]", "listed twice")
