import io

import numpy as np
import pytest
from PIL import Image

from reportgen.pictures import render


def test_minmax_scales_to_unit_range_and_handles_constants():
    scaled = render.minmax(np.array([2.0, 4.0, 6.0]))
    np.testing.assert_allclose(scaled, [0.0, 0.5, 1.0])
    assert not render.minmax(np.full(4, 3.0)).any()


def test_grid_places_tiles_row_major_with_padding():
    tiles = [np.full((2, 3), value, np.uint8) for value in (10, 20, 30)]
    canvas = render.grid(tiles, columns=2, pad=1, fill=0)
    assert canvas.shape == (2 * 2 + 1, 2 * 3 + 1)
    assert canvas[0, 0] == 10 and canvas[0, 4] == 20 and canvas[3, 0] == 30
    assert canvas[2].max() == 0  # the padding row


def test_colourise_maps_ends_of_the_range_to_the_colour_map_ends():
    pixels = render.colourise(np.array([[0.0, 1.0]]), "viridis")
    assert pixels.shape == (1, 2, 3)
    assert tuple(pixels[0, 0]) == (68, 1, 84) and tuple(pixels[0, 1]) == (253, 231, 36)  # matplotlib truncates to bytes


@pytest.mark.parametrize("name", ["viridis", "jet"])
def test_colour_maps_are_matplotlibs_exactly(name):
    colormaps = pytest.importorskip("matplotlib").colormaps
    values = np.concatenate([np.linspace(0, 1, 1001), np.random.default_rng(0).random(5000), [-0.5, 1.5]])
    expected = colormaps[name](np.clip(values, 0, 1), bytes=True)[:, :3]
    np.testing.assert_array_equal(render.colourise(values, name), expected)


def test_overlay_keeps_the_photo_size():
    photo = np.zeros((30, 40, 3), np.uint8)
    assert render.overlay(photo, np.ones((7, 7))).shape == (30, 40, 3)


def test_png_encoding_is_deterministic_and_lossless():
    picture = np.random.default_rng(0).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    first, second = render.png_bytes(picture), render.png_bytes(picture)
    assert first == second
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(first))), picture)


def test_gif_loops_with_every_frame():
    frames = [np.full((8, 8, 3), v, np.uint8) for v in (0, 100, 200)]
    data = render.gif_bytes(frames)
    with Image.open(io.BytesIO(data)) as gif:
        assert gif.n_frames == 3
        assert gif.info.get("loop") == 0
    assert data == render.gif_bytes(frames)


def test_fit_within_keeps_aspect_ratio():
    assert render.fit_within(np.zeros((100, 300, 3), np.uint8), 150).shape == (50, 150, 3)
