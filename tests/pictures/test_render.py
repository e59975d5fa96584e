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


def full_colour_frames(count=4, seed=0):
    """Smooth gradients plus noise: each frame has far more than a GIF's 256 colours."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, 40)
    base = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], ramp[::-1][None, :]), axis=-1)
    return [np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8) for _ in range(count)]


def decoded(data):
    """Every frame as RGB, with its duration (ms)."""
    frames = []
    with Image.open(io.BytesIO(data)) as picture:
        for index in range(picture.n_frames):
            picture.seek(index)
            picture.load()
            frames.append((np.asarray(picture.convert("RGB")), picture.info.get("duration")))
        return frames, picture.info.get("loop")


def pillow_gif(frames, duration_ms=100, final_hold_ms=1000):
    """The GIF encoding reportgen wrote before imageio: Pillow directly, each frame reduced to 256
    colours by fast octree. The reference imageio's GIFs must show pixel for pixel."""
    pictures = [Image.fromarray(frame).quantize(256, method=Image.Quantize.FASTOCTREE) for frame in frames]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], loop=0,
                     duration=[duration_ms] * (len(frames) - 1) + [final_hold_ms])
    return buffer.getvalue()


def test_gifs_written_by_imageio_show_what_pillows_fast_octree_gifs_showed():
    frames = full_colour_frames()
    frames.insert(2, frames[1])  # equal neighbours merge, as before
    (ours, loop), (reference, reference_loop) = decoded(render.gif_bytes(frames)), decoded(pillow_gif(frames))
    assert loop == reference_loop == 0
    assert [duration for _, duration in ours] == [duration for _, duration in reference] == [100, 200, 100, 1000]
    for (mine, _), (theirs, _) in zip(ours, reference):
        np.testing.assert_array_equal(mine, theirs)


def test_webp_round_trip_keeps_every_frame_in_full_colour():
    frames = full_colour_frames()
    data = render.animation_bytes(frames, "webp")
    assert data == render.animation_bytes(frames, "webp")  # deterministic, like every picture
    with Image.open(io.BytesIO(data)) as webp:
        assert webp.format == "WEBP" and webp.mode != "P" and webp.n_frames == len(frames)
    shown, loop = decoded(data)
    assert loop == 0 and [duration for _, duration in shown] == [100, 100, 100, 1000]
    gif_shown, _ = decoded(render.animation_bytes(frames, "gif"))
    for (picture, _), (gif_picture, _), frame in zip(shown, gif_shown, frames):
        assert len(np.unique(picture.reshape(-1, 3), axis=0)) > 256  # no palette
        webp_error, gif_error = (np.abs(shown.astype(int) - frame).mean() for shown in (picture, gif_picture))
        assert webp_error < 6 and webp_error < gif_error  # closer to the frame than 256 colours get


def test_an_unknown_animation_format_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown animation format 'mp4'; valid: gif, webp"):
        render.animation_bytes(full_colour_frames(1), "mp4")


def test_fit_within_keeps_aspect_ratio():
    assert render.fit_within(np.zeros((100, 300, 3), np.uint8), 150).shape == (50, 150, 3)
