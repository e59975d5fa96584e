import math

import torch

from reportgen.optim.transforms import RandomAffine, affine


def _ramp(height=16, width=16):
    y, x = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    return torch.stack([x, y, x * y])[None]


def test_identity_leaves_the_image_unchanged():
    image = _ramp(12, 20)
    torch.testing.assert_close(affine(image, 0.0, 0.0, 1.0, 0.0), image, atol=1e-4, rtol=0)


def test_quarter_turn_is_a_pixel_exact_rotation_also_on_a_square_image():
    image = _ramp(16, 16)
    turned = affine(image, 0.0, 0.0, 1.0, math.pi / 2)
    expected = torch.rot90(image, k=1, dims=(2, 3))
    assert torch.allclose(turned, expected, atol=1e-3) or torch.allclose(turned, torch.rot90(image, k=-1, dims=(2, 3)), atol=1e-3)


def test_shift_moves_content_by_the_fraction_of_the_side():
    image = _ramp(16, 32)
    shifted = affine(image, 0.125, 0.0, 1.0, 0.0)  # 1/8 of 32 px = 4 px
    torch.testing.assert_close(shifted[..., :, :-4], image[..., :, 4:], atol=1e-4, rtol=0)


def test_random_affine_is_seeded_and_keeps_the_size():
    image = torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    transform = RandomAffine()
    first = transform(image, torch.Generator().manual_seed(5))
    again = transform(image, torch.Generator().manual_seed(5))
    other = transform(image, torch.Generator().manual_seed(6))
    assert first.shape == image.shape
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    shift_x, shift_y, zoom, angle = transform.draw(torch.Generator().manual_seed(5))
    assert abs(shift_x) <= transform.jitter and abs(shift_y) <= transform.jitter
    assert transform.scale[0] <= zoom <= transform.scale[1] and abs(math.degrees(angle)) <= transform.degrees
