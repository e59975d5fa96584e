import numpy as np
import pytest
import torch

from reportgen.optim.optimisers import SmoothedStep, gaussian_blur


def _step(optimiser_of, start, loss_gradient):
    """One update of ``start`` (a copy) given the loss's gradient."""
    image = start.clone().requires_grad_(True)
    optimiser = optimiser_of([image])
    image.grad = loss_gradient.clone()
    optimiser.step()
    return image.detach()


def test_unsmoothed_step_is_step_size_over_the_spread_per_image_against_the_loss():
    """The gradients [1, -1] and [3, 5] have a standard deviation of sqrt(2), [4, 0] of 2 sqrt(2):
    each image moves by 0.5 / its own standard deviation times its gradient, downhill."""
    gradient = torch.tensor([[1.0, -1.0], [3.0, 5.0], [4.0, 0.0]]).view(3, 1, 1, 2)
    moved = _step(lambda p: SmoothedStep(p, step_size=0.5, smoothing=0.0, steps=1), torch.ones(3, 1, 1, 2), gradient)
    root2 = 2.0 ** 0.5
    expected = torch.tensor([[1 - 0.5 / root2, 1 + 0.5 / root2],
                             [1 - 1.5 / root2, 1 - 2.5 / root2],
                             [1 - 1.0 / root2, 1.0]]).view(3, 1, 1, 2)
    torch.testing.assert_close(moved, expected)


def test_blur_keeps_a_constant_and_flattens_a_checkerboard():
    y, x = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    grain = ((x + y) % 2 * 2 - 1).expand(1, 3, 16, 16)
    assert gaussian_blur(grain, 1.0).abs().max() < 0.1
    torch.testing.assert_close(gaussian_blur(torch.ones(1, 3, 8, 8), 2.0), torch.ones(1, 3, 8, 8))


def test_smoothed_step_moves_broad_areas_not_pixels():
    """Of a gradient that is half grain (a checkerboard), half a broad wave, the step follows the
    wave (unsmoothed, it would correlate about 0.8 with the grain); its size is fixed whatever the
    gradient's scale."""
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    grain = ((x + y) % 2 * 2 - 1).expand(1, 3, 32, 32)
    smooth = torch.sin(x / 32 * 2 * np.pi).expand(1, 3, 32, 32)
    zeros = torch.zeros(1, 3, 32, 32)

    def smoothed(params):
        return SmoothedStep(params, step_size=0.5, smoothing=1.0, steps=10)

    for gradient in (grain, smooth, 100 * (grain + smooth)):
        assert _step(smoothed, zeros, -gradient).std().item() == pytest.approx(0.5, rel=1e-3)
    moved = _step(smoothed, zeros, -(grain + smooth))  # the loss is minus the objective
    assert np.corrcoef(moved.flatten(), smooth.flatten())[0, 1] > 0.95
    assert abs(np.corrcoef(moved.flatten(), grain.flatten())[0, 1]) < 0.3


def test_blur_widens_over_the_steps():
    """The blur's sigma grows from 1x to 2x ``smoothing`` over ``steps`` updates: a single-pixel
    gradient spreads further at the last step than at the first."""
    spike = torch.zeros(1, 1, 33, 33)
    spike[0, 0, 16, 16] = 1.0
    image = torch.zeros(1, 1, 33, 33, requires_grad=True)
    optimiser = SmoothedStep([image], step_size=1.0, smoothing=1.0, steps=3)
    spreads = []
    for _ in range(3):
        before = image.detach().clone()
        image.grad = -spike
        optimiser.step()
        change = (image.detach() - before)[0, 0, 16]  # the middle row
        spreads.append(float((change > 0.01 * change.max()).sum()))
    assert spreads[0] < spreads[1] < spreads[2]
