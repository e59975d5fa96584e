import math

import torch

from reportgen.optim.transforms import Draw, Roll, TransformStack

STILL = Draw(offset=(0.0, 0.0), zoom=1.0, angle=0.0, offset_after=(0.0, 0.0))
PLAIN = TransformStack(pad=0, jitter=0, scale=(1.0, 1.0), degrees=0.0, jitter_after=0)


def _ramp(height=16, width=16):
    y, x = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    return torch.stack([x, y, x * y])[None]


def test_no_transform_leaves_the_image_unchanged():
    image = _ramp(12, 20)
    torch.testing.assert_close(PLAIN.apply(image, STILL), image, atol=1e-4, rtol=0)


def test_quarter_turn_is_a_pixel_exact_rotation_also_on_a_square_image():
    image = _ramp(16, 16)
    turned = PLAIN.apply(image, Draw((0.0, 0.0), 1.0, math.pi / 2, (0.0, 0.0)))
    assert any(torch.allclose(turned, torch.rot90(image, k=k, dims=(2, 3)), atol=1e-3) for k in (1, -1))


def test_jitter_moves_content_by_whole_pixels():
    image = _ramp(16, 16)
    stack = TransformStack(pad=0, jitter=4, scale=(1.0, 1.0), degrees=0.0, jitter_after=0, view=12)
    # the first crop keeps 12 x 12 px from (y, x) = (0, 4): a view of 12 px is that crop, unresampled
    shifted = stack.apply(image, Draw((0.0, 4.0), 1.0, 0.0, (0.0, 0.0)))
    assert shifted.shape[-2:] == (12, 12)
    torch.testing.assert_close(shifted, image[..., :12, 4:], atol=1e-4, rtol=0)


def test_padding_shows_the_fill_colour_and_view_sets_the_model_side():
    image = torch.zeros(1, 3, 20, 30)
    stack = TransformStack(pad=10, jitter=0, scale=(1.0, 1.0), degrees=0.0, jitter_after=0, view=40,
                           fill=(0.5, -1.0, 2.0))
    seen = stack.apply(image, STILL)
    assert seen.shape[-2:] == (40, 60)  # the shorter side at 40, the canvas's aspect kept
    torch.testing.assert_close(seen[0, :, 0, 0], torch.tensor([0.5, -1.0, 2.0]))
    assert seen[0, :, 20, 30].abs().max() < 1e-5  # the centre is the image


def test_colour_shift_scales_and_offsets_each_channel():
    image = torch.ones(1, 3, 8, 8)
    shifted = PLAIN.apply(image, Draw((0.0, 0.0), 1.0, 0.0, (0.0, 0.0), gain=(2.0, 1.0, 0.5), shift=(0.0, 1.0, -1.0)))
    torch.testing.assert_close(shifted[0, :, 4, 4], torch.tensor([2.0, 2.0, -0.5]))


def test_random_stack_is_seeded_and_draws_within_its_ranges():
    image = torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    stack = TransformStack(view=32, colour=0.3)
    first = stack(image, torch.Generator().manual_seed(5))
    again = stack(image, torch.Generator().manual_seed(5))
    other = stack(image, torch.Generator().manual_seed(6))
    assert first.shape[-2:] == (32, 38)
    assert torch.equal(first, again) and not torch.equal(first, other)
    for seed in range(20):
        draw = stack.draw(torch.Generator().manual_seed(seed))
        assert all(0 <= v <= stack.jitter for v in draw.offset) and all(0 <= v <= stack.jitter_after for v in draw.offset_after)
        assert stack.scale[0] <= draw.zoom <= stack.scale[1] and abs(math.degrees(draw.angle)) <= stack.degrees
        assert all(abs(g - 1) <= 0.3 for g in draw.gain) and all(abs(s) <= 0.3 for s in draw.shift)


def test_roll_wraps_the_image_by_seeded_offsets_within_the_jitter():
    image = torch.arange(20.0).view(1, 1, 4, 5)
    assert Roll(0)(image, torch.Generator()) is image
    within = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    seen = []
    generator = torch.Generator().manual_seed(0)
    for _ in range(60):
        rolled = Roll(1)(image, generator)
        seen += [offset for offset in within if torch.equal(rolled, torch.roll(image, offset, dims=(2, 3)))]
    assert len(seen) == 60 and set(seen) == set(within)  # each a roll of at most 1 px; every such roll drawn
    again, other = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert all(torch.equal(Roll(3)(image, again), Roll(3)(image, other)) for _ in range(5))
