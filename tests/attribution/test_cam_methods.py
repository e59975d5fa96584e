"""Grad-CAM++, XGrad-CAM, Eigen-CAM, Score-CAM and Ablation-CAM against pytorch-grad-cam on the
small float64 CNN of test_methods and on the embedded EfficientNet-Lite0 (unfolded, in float64).

What is compared: the reference's raw map, its ``get_cam_image`` on the activations (and gradients)
its own hooks record, ReLU'd as its ``BaseCAM`` does, before its min-max scaling and cv2 resize;
upsampled with ``cam.upsample`` (linear) and set beside our map at the input's size. Where the
reference departs from its paper, the test says how it is brought back to the paper's definition:

- Grad-CAM++: pytorch-grad-cam adds 1e-6 to alpha's denominator, as large as the squared gradient
  of a real network's last layer (about 1e-3 per cell in EfficientNet-Lite0): its map moves by
  2 to 8 % of its maximum here. The reference is given the activations divided by c and the
  gradients times c: the paper's map is the same function of them, the epsilon's share c^2 smaller.
  (XGrad-CAM's 1e-7 beside a channel's summed activation moves nothing measurable: compared as is.)
- Eigen-CAM: a principal component's sign is whatever the SVD routine returns; the reference's
  projection is turned by our rule (growing with the summed activation) before its ReLU.
- Score-CAM: the reference upsamples the channel maps into masks with ``align_corners=True``, which
  places them half a cell off the heat map shown; here it is given ours (``align_corners=False``, as
  the Score-CAM authors' code).
- Ablation-CAM: the reference sets a channel to zero where the layer's minimum is 0, as the paper
  does: the layers compared end with a ReLU.
"""
from __future__ import annotations

import copy

import layout_models  # noqa: F401  registers tiny_tokens and tiny_channels_last
import numpy as np
import pytest
import torch
from pytorch_grad_cam import AblationCAM, EigenCAM, GradCAMPlusPlus, ScoreCAM, XGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from test_methods import TARGETS, close, inputs, net  # noqa: F401  the small float64 CNN and its inputs
from torch.nn import functional as F

from reportgen import models
from reportgen.attribution import cam, maps
from reportgen.models.hooks import forward_until, hooks_left, module_at
from reportgen.core.progress import Silent
from reportgen.techniques.base import registry

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SCALE = 1e4  # Grad-CAM++: the reference's epsilon 1e8 times smaller


def reference_map(cam_class, model, layer: str, inputs, targets, rescale=(1.0, 1.0), **options):
    """pytorch-grad-cam's map at the layer's resolution, before its scaling: ``rescale`` multiplies
    the activations and gradients given to its ``get_cam_image``."""
    module = module_at(model, layer)
    chosen = [ClassifierOutputTarget(int(t)) for t in targets]
    with cam_class(model, [module], **options) as reference:
        probe = inputs.clone().requires_grad_(True)
        outputs = reference.activations_and_grads(probe)
        if reference.uses_gradients:
            sum(target(output) for target, output in zip(chosen, outputs)).backward()
        activations = reference.activations_and_grads.activations[0].cpu().numpy() * rescale[0]
        gradients = [g.cpu().numpy() * rescale[1] for g in reference.activations_and_grads.gradients]
        raw = reference.get_cam_image(probe, module, chosen, activations, gradients[0] if gradients else None, False)
    return torch.from_numpy(np.asarray(raw, dtype=np.float64))


def oriented(projection: torch.Tensor, activation: torch.Tensor) -> torch.Tensor:
    """The reference's Eigen-CAM projection turned so that it grows with the summed activation."""
    summed = activation.sum(dim=1)
    centred = summed - summed.mean(dim=(1, 2), keepdim=True)
    signs = torch.where((projection * centred).sum(dim=(1, 2)) < 0, -1.0, 1.0).to(projection.dtype)
    return projection * signs[:, None, None]


def ours(model, inputs, targets, layer: str, method: str, batch_size: int) -> torch.Tensor:
    settings = maps.Settings(cam_layer=layer, batch_size=batch_size)
    result = maps.compute(model, inputs, targets, [method], settings, inputs * 0, list(range(len(inputs))))
    assert hooks_left(model) == 0
    return result.attributions[method][:, 0]


def layer_activation(model, inputs, layer: str) -> torch.Tensor:
    with torch.no_grad():
        return forward_until(model, inputs, [layer])[layer]


def compare(model, inputs, targets, layer: str, method: str, monkeypatch, batch_size: int = 5) -> float:
    """Our map and the reference's (see the module's docstring), asserted within 1e-5 relative max;
    returns the relative max difference."""
    size = tuple(inputs.shape[2:])
    if method == "gradcam_plus_plus":
        theirs = reference_map(GradCAMPlusPlus, model, layer, inputs, targets, rescale=(1 / SCALE, SCALE))
    elif method == "xgradcam":
        theirs = reference_map(XGradCAM, model, layer, inputs, targets)
    elif method == "eigencam":
        theirs = oriented(reference_map(EigenCAM, model, layer, inputs, targets), layer_activation(model, inputs, layer))
    elif method == "scorecam":
        monkeypatch.setattr(torch.nn, "UpsamplingBilinear2d",
                            lambda size: torch.nn.Upsample(size=size, mode="bilinear", align_corners=False))
        theirs = reference_map(ScoreCAM, model, layer, inputs, targets)
    else:
        theirs = reference_map(AblationCAM, model, layer, inputs, targets, batch_size=16)
    expected = cam.upsample(F.relu(theirs), size)
    mine = ours(model, inputs, targets, layer, method, batch_size)
    close(mine, expected)
    return float((mine - expected).abs().max() / expected.abs().max())


FIVE = ["gradcam_plus_plus", "xgradcam", "eigencam", "scorecam", "ablationcam"]


@pytest.mark.parametrize("method", FIVE)
def test_matches_pytorch_grad_cam_on_a_small_cnn(net, inputs, method, monkeypatch):
    compare(net, inputs, TARGETS, "features.4", method, monkeypatch)  # batches of 5: both images' channels mixed


@pytest.fixture(scope="module")
def lite0_double(lite0, samples):
    """The embedded model unfolded in float64, and the cat photo as it would see it."""
    model = copy.deepcopy(lite0.module).double().eval()
    model.requires_grad_(False)
    return model, lite0.inputs([samples["cat"].pixels]).double()


@pytest.mark.parametrize("method, layer, side", [
    # the default CAM layer at 96 px (a 3 x 3 map)
    ("gradcam_plus_plus", "bn2", 96), ("xgradcam", "bn2", 96), ("eigencam", "bn2", 96),
    # one forward per channel: the first block's ReLU6 layer, of 32 channels (24 x 24 cells at 48 px)
    ("scorecam", "blocks.0.0.bn1", 48), ("ablationcam", "blocks.0.0.bn1", 48),
])
def test_matches_pytorch_grad_cam_on_the_embedded_model(lite0_double, method, layer, side, monkeypatch):
    model, photo = lite0_double
    photo = F.interpolate(photo, size=(side, side), mode="area")
    with torch.no_grad():
        target = int(model(photo).argmax())
    compare(model, photo, [target], layer, method, monkeypatch, batch_size=16)


def test_grad_cam_plus_plus_and_xgrad_cam_by_hand():
    activation = torch.tensor([[[[1.0, 3.0]], [[2.0, 0.0]]]])  # 2 channels, 1 x 2 cells
    gradient = torch.tensor([[[[1.0, -1.0]], [[0.5, 2.0]]]])
    # XGrad-CAM: sum(A g) / sum(A): (1 - 3) / 4 and (1 + 0) / 2
    assert torch.allclose(cam.xgrad_cam_weights(activation, gradient), torch.tensor([[-0.5, 0.5]]))
    # Grad-CAM++: alpha = g^2 / (2 g^2 + sum(A) g^3) times ReLU(g), summed over cells:
    # channel 0: 1 / (2 + 4) * 1 + 0; channel 1: 0.25 / (0.5 + 2 * 0.125) * 0.5 + 4 / (8 + 2 * 8) * 2
    expected = torch.tensor([[1 / 6, 0.25 / 0.75 * 0.5 + 4 / 24 * 2]])
    assert torch.allclose(cam.grad_cam_plus_plus_weights(activation, gradient), expected)


def test_eigen_cam_orientation_and_score_masks():
    torch.manual_seed(0)
    activation = torch.rand(1, 4, 3, 3) + torch.linspace(0, 2, 9).view(1, 1, 3, 3)  # every channel grows to the corner
    projection = cam.eigen_cam(activation)
    assert projection[0, 2, 2] == projection.max() and projection[0, 0, 0] == 0  # turned towards the activation
    reversed_ = cam.eigen_cam(-activation)  # the same component, turned the other way
    assert reversed_[0, 0, 0] == reversed_.max() and reversed_[0, 2, 2] == 0
    masks = cam.score_masks(torch.stack([activation[0, 0], torch.full((3, 3), 2.0)]), (6, 6))
    assert masks[0].min() == 0 and masks[0].max() == 1 and torch.equal(masks[1], torch.zeros(6, 6))


def test_ablation_removes_one_channel_of_each_row_in_the_layers_own_layout():
    tokens = torch.arange(2 * 5 * 3, dtype=torch.float64).view(2, 5, 3) + 1  # N x (class + 2 x 2 patches) x C

    def view(output):  # tokens after one class token, on a 2 x 2 grid, as models.layout reads them
        return output[:, 1:].reshape(2, 2, 2, 3).permute(0, 3, 1, 2)

    ablated = cam.ablated(tokens, view, torch.tensor([2, 0]))
    assert torch.equal(ablated[0, 1:, 2], torch.zeros(4)) and torch.equal(ablated[1, 1:, 0], torch.zeros(4))
    assert ablated[0, 0, 2] == tokens[0, 0, 2] and ablated[1, 0, 0] == tokens[1, 0, 0]  # class tokens kept
    assert (ablated == 0).sum() == 8 and torch.equal(ablated[ablated != 0], tokens[ablated != 0])


def test_the_channel_cap_evaluates_the_strongest_channels(net, inputs):
    """With every channel evaluated the cap changes nothing; with fewer, only the channels with the
    largest total activation weigh, and the map stays a sum of those."""
    everything = maps.compute(net, inputs, TARGETS, ["scorecam", "ablationcam"],
                              maps.Settings(cam_layer="features.4", batch_size=3), inputs * 0, [0, 1])
    capped = maps.compute(net, inputs, TARGETS, ["scorecam", "ablationcam"],
                          maps.Settings(cam_layer="features.4", batch_size=3, cam_channels=8), inputs * 0, [0, 1])
    few = maps.compute(net, inputs, TARGETS, ["scorecam", "ablationcam"],
                       maps.Settings(cam_layer="features.4", batch_size=3, cam_channels=2), inputs * 0, [0, 1])
    for method in ("scorecam", "ablationcam"):
        assert torch.equal(everything.attributions[method], capped.attributions[method])
        assert not torch.allclose(everything.attributions[method], few.attributions[method])
    activation = layer_activation(net, inputs, "features.4")
    strongest = cam.strongest_channels(activation, 2)
    totals = activation.abs().sum(dim=(2, 3))
    assert (totals.gather(1, strongest).min(dim=1).values >= totals.sort(dim=1, descending=True).values[:, 2]).all()


def test_every_layout_gets_maps_and_no_hook_stays(cache, images):
    """A ViT-like token layer (its class token left out of the maps) and a Swin-like channels-last
    one, read as maps as Grad-CAM reads them."""
    saliency = registry()["saliency"]
    params = saliency.Params(methods=tuple(FIVE), sanity=False, batch_size=3)
    for name in ("tiny_tokens", "tiny_channels_last"):
        card = models.card_for(name, "pretrained", cache)
        model = models.load(card, "cpu")
        requests = saliency.plan(params, card, images)
        assert sorted({r.variant for r in requests}) == sorted(FIVE)  # none skipped
        for request, result in saliency.compute(params, model, requests, Silent()):
            raw = result.arrays["attribution"]
            assert raw.shape == (1, 32, 32) and np.isfinite(raw).all() and raw.min() >= 0 and raw.max() > 0, request.variant
        assert hooks_left(model.module) == 0
