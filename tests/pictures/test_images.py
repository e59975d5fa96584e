import json
import os

import numpy as np
import pytest
from PIL import Image

from reportgen.pictures import images as images_module
from reportgen.pictures.images import InputImage, load_image
from reportgen.pictures.input_folder import load_folder


def save(path, image, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def loaded(path) -> InputImage:
    result = load_image(path, path.name)
    assert isinstance(result, InputImage), result
    return result


def test_rgba_is_composited_on_white(tmp_path):
    rgba = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    pixels = loaded(save(tmp_path / "a.png", rgba)).pixels
    assert tuple(pixels[5, 5]) == (255, 255, 255) and tuple(pixels[0, 0]) == (0, 0, 255)


@pytest.mark.parametrize("mode", ["L", "LA", "CMYK", "RGB", "1", "I"])
def test_every_mode_becomes_rgb(tmp_path, mode):
    image = Image.new(mode, (12, 10))
    extension = "tiff" if mode in ("CMYK", "I") else "png"
    pixels = loaded(save(tmp_path / f"x.{extension}", image)).pixels
    assert pixels.shape == (10, 12, 3) and pixels.dtype == np.uint8


def test_palette_transparency_is_composited(tmp_path):
    image = Image.new("P", (10, 10), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((1, 1), 1)
    image.info["transparency"] = 0
    pixels = loaded(save(tmp_path / "p.png", image, transparency=0)).pixels
    assert tuple(pixels[0, 0]) == (255, 255, 255) and tuple(pixels[1, 1]) == (255, 0, 0)


def test_sixteen_bit_gray_is_rescaled_not_clipped(tmp_path):
    ramp = np.linspace(1000, 3000, 16 * 16).reshape(16, 16).astype(np.uint16)
    pixels = loaded(save(tmp_path / "deep.png", Image.fromarray(ramp))).pixels
    assert pixels.min() == 0 and pixels.max() == 255
    assert len(np.unique(pixels[..., 0])) > 200


def test_exif_rotation_is_applied(tmp_path):
    image = Image.new("RGB", (30, 10), (0, 255, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    pixels = loaded(save(tmp_path / "rot.jpg", image, exif=exif)).pixels
    assert pixels.shape[:2] == (30, 10)


def test_animated_input_uses_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (10, 10), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    pixels = loaded(path).pixels
    assert pixels[..., 0].mean() > 200 and pixels[..., 2].mean() < 50


def test_large_images_are_capped(tmp_path):
    pixels = loaded(save(tmp_path / "big.png", Image.new("RGB", (3000, 1500)))).pixels
    assert pixels.shape == (images_module.MAX_SIDE // 2, images_module.MAX_SIDE, 3)


def test_bad_files_are_skipped_with_a_reason(tmp_path, monkeypatch):
    save(tmp_path / "good.png", Image.new("RGB", (20, 20), (1, 2, 3)))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("hello")
    whole = tmp_path / "whole.png"
    save(whole, Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    (tmp_path / "truncated.png").write_bytes(whole.read_bytes()[:300])
    whole.unlink()
    save(tmp_path / "dot.png", Image.new("RGB", (1, 1)))
    save(tmp_path / "bomb.png", Image.new("L", (200, 200)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10000)
    images, skipped = load_folder(tmp_path)
    assert [i.name for i in images] == ["good.png"]
    reasons = {s.name: s.reason for s in skipped}
    assert set(reasons) == {"empty.png", "notes.txt", "truncated.png", "dot.png", "bomb.png"}
    assert "empty" in reasons["empty.png"] and "not an image" in reasons["notes.txt"]
    assert "decompression-bomb" in reasons["bomb.png"] and "too small" in reasons["dot.png"]
    assert all("\n" not in str(s) for s in skipped)


def test_folders_nested_hidden_and_linked_inside(tmp_path):
    save(tmp_path / "a" / "b" / "deep.png", Image.new("RGB", (20, 20), (9, 9, 9)))
    save(tmp_path / ".hidden" / "secret.png", Image.new("RGB", (20, 20), (1, 1, 1)))
    save(tmp_path / ".dot.png", Image.new("RGB", (20, 20), (2, 2, 2)))
    save(tmp_path / "store" / "kept.png", Image.new("RGB", (20, 20), (3, 3, 3)))
    os.symlink(tmp_path / "store" / "kept.png", tmp_path / "a" / "file-link.png")
    os.symlink(tmp_path / "a" / "b", tmp_path / "z-folder-link")
    os.symlink(tmp_path, tmp_path / "a" / "loop")  # a cycle must not hang
    images, skipped = load_folder(tmp_path)
    assert [i.name for i in images] == ["a/b/deep.png", "a/file-link.png"]
    assert [str(s) for s in skipped] == ["skipped store/kept.png: same pixels as a/file-link.png"]


def outside_links(tmp_path):
    """An input folder with a link to a folder and one to a file, both outside it."""
    folder = tmp_path / "in"
    save(folder / "own.png", Image.new("RGB", (20, 20), (9, 9, 9)))
    outside = save(tmp_path / "private" / "photo.png", Image.new("RGB", (20, 20), (3, 3, 3)))
    save(tmp_path / "private" / "more" / "other.png", Image.new("RGB", (20, 20), (4, 4, 4)))
    os.symlink(outside.parent, folder / "home")
    os.symlink(outside, folder / "photo.png")
    return folder


def test_links_leaving_the_folder_are_skipped_and_named(tmp_path):
    images, skipped = load_folder(outside_links(tmp_path))
    assert [i.name for i in images] == ["own.png"]
    assert [str(s) for s in skipped] == [
        f"skipped {name}: link to outside the folder, not followed (--follow-links follows it)"
        for name in ("home", "photo.png")]


def test_follow_links_follows_them(tmp_path):
    folder = outside_links(tmp_path)
    os.symlink(tmp_path, folder / "home" / "more" / "up")  # a cycle through the outside
    images, skipped = load_folder(folder, follow_links=True)
    assert [i.name for i in images] == ["home/more/other.png", "home/photo.png", "own.png"]
    assert [str(s) for s in skipped] == ["skipped photo.png: same pixels as home/photo.png"]


def test_side_files_linked_from_outside_are_not_read(tmp_path):
    save(tmp_path / "in" / "cat.png", Image.new("RGB", (20, 20)))
    (tmp_path / "secret.json").write_text(json.dumps({"cat.png": 3}))
    os.symlink(tmp_path / "secret.json", tmp_path / "in" / "labels.json")
    images, skipped = load_folder(tmp_path / "in")
    assert images[0].label is None
    assert [str(s) for s in skipped] == ["skipped labels.json: link to outside the folder, not followed "
                                         "(--follow-links follows it)"]
    assert load_folder(tmp_path / "in", follow_links=True)[0][0].label == 3


def test_a_broken_link_is_named(tmp_path):
    save(tmp_path / "a.png", Image.new("RGB", (20, 20)))
    os.symlink(tmp_path / "gone.png", tmp_path / "b.png")
    images, skipped = load_folder(tmp_path)
    assert [i.name for i in images] == ["a.png"]
    assert [str(s) for s in skipped] == ["skipped b.png: link to nothing (a missing or unresolvable target)"]


def test_a_thousand_level_folder_tree_is_walked(tmp_path):
    levels = [tmp_path / "in"]
    for _ in range(1000):  # os.makedirs and shutil.rmtree recurse per level: made and removed by hand
        levels.append(levels[-1] / "d")
    try:
        for level in levels:
            level.mkdir()
        save(levels[-1] / "bottom.png", Image.new("RGB", (20, 20), (7, 7, 7)))
        images, skipped = load_folder(levels[0])
        assert [i.name for i in images] == ["d/" * 1000 + "bottom.png"] and skipped == []
    finally:
        (levels[-1] / "bottom.png").unlink(missing_ok=True)
        for level in reversed(levels):
            if level.exists():
                level.rmdir()


@pytest.mark.parametrize("side_file", ["labels.json", "boxes.json"])
def test_deeply_nested_json_is_one_line(tmp_path, side_file):
    save(tmp_path / "a.png", Image.new("RGB", (20, 20)))
    (tmp_path / side_file).write_text("[" * 100_000 + "]" * 100_000)
    images, skipped = load_folder(tmp_path)
    assert [i.name for i in images] == ["a.png"]
    assert [str(s) for s in skipped] == [f"skipped {side_file}: nested too deeply to read"]


def test_postscript_named_png_never_reaches_ghostscript(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    Image.init()  # every plugin registered, EPS among them: the list of formats alone keeps it out

    def refuse(*args, **kwargs):
        raise AssertionError("Ghostscript was run")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", refuse)
    monkeypatch.setattr(EpsImagePlugin, "gs_windows_binary", "gs")
    save(tmp_path / "good.png", Image.new("RGB", (20, 20)))
    (tmp_path / "eps.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 20 20\n"
                                       b"newpath 0 0 moveto 20 20 lineto stroke showpage\n%%EOF\n")
    (tmp_path / "boxes.json").write_text(json.dumps({"eps.png": [0, 0, 5, 5]}))
    images, skipped = load_folder(tmp_path)
    assert [i.name for i in images] == ["good.png"]
    assert str(skipped[0]) == f"skipped eps.png: not an image reportgen reads ({images_module.FORMAT_NAMES})"


@pytest.mark.parametrize("extension, options", [("png", {}), ("jpg", {}), ("bmp", {}), ("gif", {}),
                                                ("tiff", {}), ("webp", {"lossless": True})])
def test_every_documented_format_is_read(tmp_path, extension, options):
    pixels = np.full((12, 16, 3), (200, 30, 90), dtype=np.uint8)
    decoded = loaded(save(tmp_path / f"x.{extension}", Image.fromarray(pixels), **options)).pixels
    assert decoded.shape == (12, 16, 3) and np.abs(decoded.astype(int) - pixels).max() < 8


def test_duplicate_content_is_kept_once(tmp_path):
    for name in ("one.png", "two.png"):
        save(tmp_path / name, Image.new("RGB", (20, 20), (5, 6, 7)))
    images, skipped = load_folder(tmp_path)
    assert [i.name for i in images] == ["one.png"] and "same pixels" in skipped[0].reason


def test_labels_json_pins_classes(tmp_path):
    save(tmp_path / "cat.png", Image.new("RGB", (20, 20)))
    (tmp_path / "labels.json").write_text(json.dumps({"cat.png": "tabby"}))
    images, skipped = load_folder(tmp_path)
    assert images[0].label == "tabby" and not skipped


def test_bad_label_entries_are_one_line_each_and_the_rest_stay(tmp_path):
    for index, name in enumerate(("yes.png", "list.png", "index.png", "name.png")):
        save(tmp_path / name, Image.new("RGB", (20, 20), (index, 0, 0)))
    (tmp_path / "labels.json").write_text(json.dumps(
        {"yes.png": True, "list.png": [1], "index.png": 1, "name.png": "tabby", "ghost.png": 2}))
    images, skipped = load_folder(tmp_path)
    assert {i.name: i.label for i in images} == {"index.png": 1, "list.png": None, "name.png": "tabby", "yes.png": None}
    assert sorted(str(s) for s in skipped) == [
        "skipped labels.json: list.png: expected a class index or name, not [1]",
        "skipped labels.json: names ghost.png, which is no input image",
        "skipped labels.json: yes.png: expected a class index or name, not true",
    ]


def test_hash_depends_on_pixels_not_file_name(tmp_path):
    a = loaded(save(tmp_path / "a.png", Image.new("RGB", (20, 20), (1, 2, 3))))
    b = loaded(save(tmp_path / "b.bmp", Image.new("RGB", (20, 20), (1, 2, 3))))
    c = loaded(save(tmp_path / "c.png", Image.new("RGB", (20, 20), (1, 2, 4))))
    assert a.pixel_hash == b.pixel_hash != c.pixel_hash


def test_boxes_json_places_boxes_in_the_loaded_pictures_pixels(tmp_path):
    save(tmp_path / "small.png", Image.new("RGB", (40, 20)))
    save(tmp_path / "big.png", Image.new("RGB", (2048, 1024)))
    (tmp_path / "boxes.json").write_text(json.dumps({"small.png": [1, 2, 30, 18],
                                                     "big.png": [[0, 0, 1024, 512], [1024, 512, 2048, 1024]]}))
    found, skipped = load_folder(tmp_path)
    boxes = {image.name: image.boxes for image in found}
    assert skipped == []
    assert boxes["small.png"] == ((1.0, 2.0, 30.0, 18.0),)
    assert boxes["big.png"] == ((0.0, 0.0, 512.0, 256.0), (512.0, 256.0, 1024.0, 512.0))  # capped at 1024 px


@pytest.mark.parametrize("content, says", [
    ("{not json", "boxes.json: not valid JSON"),
    (json.dumps({"a.png": [0, 0, 50, 10]}), "a.png: box [0, 0, 50, 10] reaches outside the 40x20 image"),
    (json.dumps({"ghost.png": [0, 0, 5, 5]}), "names ghost.png, which is no input image"),
    (json.dumps({"a.png": [5, 5, 1, 1]}), "a.png: expected [x0, y0, x1, y1]"),
])
def test_bad_boxes_are_one_line_each_and_the_images_stay(tmp_path, content, says):
    save(tmp_path / "a.png", Image.new("RGB", (40, 20)))
    (tmp_path / "boxes.json").write_text(content)
    found, skipped = load_folder(tmp_path)
    assert [image.name for image in found] == ["a.png"] and found[0].boxes == ()
    assert len(skipped) == 1 and says in str(skipped[0]) and "\n" not in str(skipped[0])


def test_a_loaded_folder_holds_no_pixels_and_decodes_them_on_use(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    save(tmp_path / "in" / "a.png", Image.fromarray(pixels))
    (image,), _ = load_folder(tmp_path / "in")
    assert image.source == tmp_path / "in" / "a.png" and image.size == (30, 20)
    images_module.RECENT_PIXELS.clear()
    assert np.array_equal(image.pixels, pixels) and not image.pixels.flags.writeable
    assert image.pixels is image.pixels  # read twice in a row: decoded once


def test_an_input_changed_during_the_build_is_refused_in_one_line(tmp_path):
    path = save(tmp_path / "a.png", Image.new("RGB", (16, 16), (10, 20, 30)))
    image = loaded(path)
    save(path, Image.new("RGB", (16, 16), (30, 20, 10)))
    images_module.RECENT_PIXELS.clear()
    with pytest.raises(images_module.ImageChanged, match="a.png changed on disk during the build"):
        image.pixels
    path.unlink()
    with pytest.raises(images_module.ImageChanged, match="a.png can no longer be read"):
        image.pixels


def test_recent_pixels_are_bounded_in_count_and_bytes(tmp_path):
    recent = images_module.RecentPixels(count=3, max_bytes=2 * 16 * 16 * 3)
    names = [save(tmp_path / f"{n}.png", Image.new("RGB", (16, 16), (n, 0, 0))) for n in range(5)]
    for path in names:
        recent.get(loaded(path))
    assert recent.held_bytes() == 2 * 16 * 16 * 3  # the bytes bound is the tighter one here
    big = images_module.RecentPixels(count=3, max_bytes=2**30)
    for path in names:
        big.get(loaded(path))
    assert big.held_bytes() == 3 * 16 * 16 * 3


def test_sixteen_bit_decodes_in_float32_without_float64_copies(tmp_path):
    """Peak traced memory of decoding a 16-bit picture, per pixel: a copy of its uint16 values and
    one float32 copy (6 bytes) fit, float64 copies (8 bytes each) do not. Measured on a 9 Mpx
    PNG: 54 MB traced, where stretching in float64 took 225 MB."""
    import tracemalloc

    height, width = 1200, 1500  # larger than MAX_SIDE, as a 9 Mpx photo is
    ramp = np.broadcast_to(np.linspace(0, 65535, width).astype(np.uint16), (height, width)).copy()
    path = save(tmp_path / "deep.png", Image.fromarray(ramp))
    tracemalloc.start()
    try:
        pixels = images_module.decode(path, "deep.png")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert pixels.shape == (819, 1024, 3) and pixels.min() <= 1 and pixels.max() >= 254
    assert peak / (height * width) < 12


def test_deep_values_stretch_exactly_whatever_their_type():
    stretch = images_module.stretch_to_8_bit
    assert stretch(np.array([[1000, 3000], [2000, 1000]], dtype=np.uint16)).tolist() == [[0, 255], [128, 0]]
    wide = np.array([[-2**31, 2**31 - 1]], dtype=np.int32)  # a range only unsigned arithmetic holds
    assert stretch(wide).tolist() == [[0, 255]]
    narrow = np.array([[2**30, 2**30 + 2]], dtype=np.int32)  # float32 alone would not tell these apart
    assert stretch(narrow.copy()).tolist() == [[0, 255]]
    assert stretch(np.array([[np.nan, 0.5, 0.75, np.inf, 1.5]], dtype=np.float32)).tolist() == [[0, 0, 64, 0, 255]]
    assert stretch(np.array([[np.nan, np.inf]], dtype=np.float32)).tolist() == [[0, 0]]
    assert stretch(np.full((2, 2), 7, dtype=np.uint16)).tolist() == [[0, 0], [0, 0]]
