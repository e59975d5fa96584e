"""Input x Gradient, Gradient SHAP and occlusion against Captum, RISE against the paper's formula
written out here, on the same small float64 model as test_methods.py and once on the embedded
EfficientNet-Lite0 (float32, its unfolded network)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import GradientShap, InputXGradient, Occlusion
from torch.nn import functional as F

from reportgen.attribution import maps, perturbation
from reportgen.models.hooks import hooks_left
from test_methods import RTOL, TARGETS, SmallNet, close, inputs, net  # noqa: F401  (fixtures)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:captum")


def probabilities(module):
    """The forward Captum attributes for occlusion: our drop is in the class's probability."""
    return lambda x: module(x).softmax(dim=1)


def test_input_x_gradient_matches_captum(net, inputs):
    ours = maps.compute(net, inputs, TARGETS, ["input_x_gradient"], maps.Settings(), inputs[:1] * 0, [0, 1])
    close(ours.attributions["input_x_gradient"], InputXGradient(net).attribute(inputs, target=TARGETS))
    assert hooks_left(net) == 0


def captum_shap_draws(inputs, pool, samples, stdev, seed):
    """The draws Captum's GradientShap makes after ``seed`` (its order: baseline indices and path
    positions from NumPy's global generator, the noise from torch's)."""
    np.random.seed(seed)
    torch.manual_seed(seed)
    rows = len(inputs) * samples
    indices = np.random.choice(len(pool), rows).tolist()
    noise = torch.normal(0, torch.tensor(stdev).repeat((rows, *inputs.shape[1:])))
    alphas = torch.tensor(np.random.uniform(0.0, 1.0, rows), dtype=inputs.dtype)
    return perturbation.ShapDraws(pool[indices], noise.to(inputs.dtype), alphas)


@pytest.mark.parametrize("stdev", [0.0, 0.3])
def test_gradient_shap_matches_captum_with_the_same_draws(net, inputs, stdev):
    pool = torch.randn(4, *inputs.shape[1:], generator=torch.Generator().manual_seed(9), dtype=inputs.dtype)
    samples, seed = 5, 21
    np.random.seed(seed)
    torch.manual_seed(seed)
    theirs = GradientShap(net).attribute(inputs, baselines=pool, n_samples=samples, stdevs=stdev, target=TARGETS)
    draws = captum_shap_draws(inputs, pool, samples, stdev, seed)
    ours = perturbation.gradient_shap(net, inputs, torch.tensor(TARGETS), draws, batch_size=3)
    close(ours, theirs)


def test_gradient_shap_draws_are_each_images_own_and_in_the_pixel_range(inputs):
    black, white = torch.full((1, 3, 1, 1), -2.0, dtype=inputs.dtype), torch.full((1, 3, 1, 1), 2.0, dtype=inputs.dtype)
    both = perturbation.shap_draws(inputs, black, white, [0.1, 0.1], 3, [7, 8])
    alone = perturbation.shap_draws(inputs[1:], black, white, [0.1], 3, [8])
    assert torch.equal(both.baselines[3:], alone.baselines) and torch.equal(both.noise[3:], alone.noise)
    assert not torch.equal(both.baselines[:3], both.baselines[3:])
    assert both.baselines.min() >= -2 and both.baselines.max() <= 2 and both.baselines.std() > 0.5
    assert ((both.alphas >= 0) & (both.alphas < 1)).all()


@pytest.mark.parametrize("window, stride", [(5, 3), (4, 4), (16, 16)])
def test_occlusion_matches_captum_on_the_probability(net, inputs, window, stride):
    """(5, 3) on 16 px: the last square is cut by the border, pixels are covered 1 to 4 times."""
    ours = perturbation.occlusion(net, inputs, torch.tensor(TARGETS), window, stride, batch_size=7)
    theirs = Occlusion(probabilities(net)).attribute(inputs, sliding_window_shapes=(3, window, window),
                                                     strides=(3, stride, stride), baselines=0, target=TARGETS,
                                                     perturbations_per_eval=5)
    assert torch.equal(theirs[:, :1].expand_as(theirs), theirs)  # one square hides every channel
    close(ours, theirs[:, :1].to(ours.dtype))


def paper_rise(module, image, target, grids, shifts, keep):
    """Petsiuk et al.'s RISE written out mask by mask: each binary grid upsampled bilinearly to
    (cells + 1) x the cell size, cropped at its shift, the image multiplied by it; the sum of the
    masks weighted by the class probability, over the number of masks x the keep probability."""
    height, width = image.shape[1:]
    cells = grids.shape[1]
    cell_h, cell_w = -(-height // cells), -(-width // cells)
    total = torch.zeros(height, width, dtype=image.dtype)
    for grid, (down, right) in zip(grids, shifts.tolist()):
        big = F.interpolate(grid[None, None].to(image.dtype), size=((cells + 1) * cell_h, (cells + 1) * cell_w),
                            mode="bilinear", align_corners=False)[0, 0]
        mask = big[down : down + height, right : right + width]
        total += module((image * mask)[None]).softmax(dim=1)[0, target] * mask
    return total / (len(grids) * keep)


def test_rise_matches_the_papers_formula_with_the_same_masks(net, inputs):
    masks = [perturbation.rise_masks(24, 3, 0.5, (16, 16), seed) for seed in (4, 5)]
    ours = perturbation.rise(net, inputs, torch.tensor(TARGETS), masks, batch_size=5)
    for index, (mine, target) in enumerate(zip(masks, TARGETS)):
        with torch.no_grad():
            reference = paper_rise(net, inputs[index], target, mine.grids, mine.shifts, mine.keep)
        close(ours[index, 0], reference)


def test_rise_masks_are_seeded_smooth_and_keep_about_the_share_asked():
    masks = perturbation.rise_masks(400, 4, 0.3, (20, 24), seed=2)
    again = perturbation.rise_masks(400, 4, 0.3, (20, 24), seed=2)
    assert torch.equal(masks.grids, again.grids) and torch.equal(masks.shifts, again.shifts)
    assert not torch.equal(masks.grids, perturbation.rise_masks(400, 4, 0.3, (20, 24), seed=3).grids)
    pictures = perturbation.upsampled(masks, slice(0, 400), (20, 24))
    assert pictures.shape == (400, 20, 24) and pictures.min() >= 0 and pictures.max() <= 1 + 1e-6
    assert abs(float(pictures.mean()) - 0.3) < 0.03
    assert ((pictures > 0.05) & (pictures < 0.95)).float().mean() > 0.2  # bilinear: soft edges, not a hard grid
    assert (masks.shifts[:, 0] < 5).all() and (masks.shifts[:, 1] < 6).all() and len(masks.shifts.unique()) > 1


def test_on_the_embedded_efficientnet(lite0, samples):
    module = lite0.module
    inputs = lite0.inputs([samples["cat"].pixels])
    target = int(module(inputs).argmax())
    gradient_settings = maps.Settings(batch_size=4)
    ours = maps.compute(module, inputs, [target], ["input_x_gradient"], gradient_settings, inputs * 0, [0])
    close(ours.attributions["input_x_gradient"], InputXGradient(module).attribute(inputs, target=target))
    pool = torch.stack([inputs[0] * 0, inputs[0].flip(2)])
    np.random.seed(3)
    torch.manual_seed(3)
    theirs = GradientShap(module).attribute(inputs, baselines=pool, n_samples=2, stdevs=0.1, target=target)
    shap = perturbation.gradient_shap(module, inputs, torch.tensor([target]), captum_shap_draws(inputs, pool, 2, 0.1, 3),
                                      batch_size=2)
    close(shap, theirs)

    window = stride = 56
    drop = perturbation.occlusion(module, inputs, torch.tensor([target]), window, stride, batch_size=8)
    theirs = Occlusion(probabilities(module)).attribute(inputs, sliding_window_shapes=(3, window, window),
                                                        strides=(3, stride, stride), baselines=0, target=target,
                                                        perturbations_per_eval=8)
    close(drop, theirs[:, :1])
    assert float(drop[0, 0].max()) > 0.05  # hiding some part of the cat costs it probability

    masks = [perturbation.rise_masks(6, 7, 0.5, tuple(inputs.shape[2:]), seed=1)]
    ours = perturbation.rise(module, inputs, torch.tensor([target]), masks, batch_size=4)
    with torch.no_grad():
        close(ours[0, 0], paper_rise(module, inputs[0], target, masks[0].grids, masks[0].shifts, 0.5))
    assert hooks_left(module) == 0
