"""Every saliency method against Captum on the same small float64 model and inputs."""
from __future__ import annotations

import pytest
import torch
from captum.attr import (Deconvolution, GuidedBackprop, GuidedGradCam, IntegratedGradients, LayerAttribution,
                         LayerGradCam, NoiseTunnel, Saliency)
from torch import nn

from reportgen.attribution import cam, maps, paths
from reportgen.attribution.gradients import shared_pass
from reportgen.models.hooks import hooks_left

RTOL = 1e-5
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:captum")


class SmallNet(nn.Module):
    """nn.ReLU modules only (Captum's guided backprop and DeconvNet hook nothing else)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(6, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))

    def forward(self, x):
        return self.head(self.features(x))


@pytest.fixture
def net():
    torch.manual_seed(3)
    model = SmallNet().double().eval()
    model.requires_grad_(False)
    return model


@pytest.fixture
def inputs():
    return torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(5), dtype=torch.float64)


TARGETS = [1, 3]


def close(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == theirs.shape
    scale = theirs.abs().max()
    assert scale > 0, "a zero map proves nothing"
    assert (ours - theirs).abs().max() <= RTOL * scale


@pytest.mark.parametrize("rule, captum", [("vanilla", None), ("guided", GuidedBackprop), ("deconvnet", Deconvolution)])
def test_gradient_rules_match_captum(net, inputs, rule, captum):
    ours = shared_pass(net, inputs, TARGETS, [rule]).gradients[rule]
    if captum is None:  # Captum's Saliency takes |gradient| by default; the seed shows signed gradients
        theirs = Saliency(net).attribute(inputs, target=TARGETS, abs=False)
    else:
        theirs = captum(net).attribute(inputs, target=TARGETS)
    close(ours, theirs)
    assert hooks_left(net) == 0


def test_one_forward_serves_every_rule_like_separate_runs(net, inputs):
    together = shared_pass(net, inputs, TARGETS, ["vanilla", "guided", "deconvnet"])
    for rule in ("vanilla", "guided", "deconvnet"):
        assert torch.equal(together.gradients[rule], shared_pass(net, inputs, TARGETS, [rule]).gradients[rule])
    assert not torch.equal(together.gradients["vanilla"], together.gradients["guided"])


def test_gradcam_and_guided_gradcam_match_captum(net, inputs):
    layer = net.features[4]
    settings = maps.Settings(cam_layer="features.4")
    ours = maps.compute(net, inputs, TARGETS, ["gradcam", "guided_gradcam"], settings, inputs * 0, [0, 1])
    raw = LayerGradCam(net, layer).attribute(inputs, target=TARGETS, relu_attributions=True)
    close(ours.cam, raw[:, 0])
    close(ours.attributions["gradcam"], LayerAttribution.interpolate(raw, (16, 16), interpolate_mode="bilinear"))
    guided = GuidedGradCam(net, layer).attribute(inputs, target=TARGETS, interpolate_mode="bilinear")
    close(ours.attributions["guided_gradcam"], guided)
    assert hooks_left(net) == 0


def test_gradcam_formula_by_hand():
    activation = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[1.0, 0.0], [0.0, 1.0]]]])
    gradient = torch.tensor([[[[1.0, 1.0], [1.0, 1.0]], [[-4.0, -4.0], [-4.0, -4.0]]]])
    # channel weights 1 and -4: 1*[1,2,3,4] - 4*[1,0,0,1] = [-3, 2, 3, 0] -> ReLU
    assert torch.equal(cam.grad_cam(activation, gradient), torch.tensor([[[0.0, 2.0], [3.0, 0.0]]]))


def test_smoothgrad_matches_captum_noise_tunnel_with_the_same_draws(net, inputs):
    image, stdev, samples, seed = inputs[:1], 0.3, 6, 11
    torch.manual_seed(seed)  # Captum draws from the global generator; ours from one seeded the same way
    theirs = NoiseTunnel(Saliency(net)).attribute(image, nt_type="smoothgrad", nt_samples=samples, stdevs=stdev,
                                                  target=TARGETS[0], abs=False)
    noise = paths.smoothgrad_noise(image, [stdev], samples, [seed])
    ours = paths.smoothgrad(net, image, torch.tensor(TARGETS[:1]), noise, batch_size=4)
    close(ours, theirs)


def test_smoothgrad_of_a_batch_is_the_mean_saliency_of_its_noisy_copies(net, inputs):
    samples = 3
    noise = paths.smoothgrad_noise(inputs, [0.2, 0.5], samples, [1, 2])
    ours = paths.smoothgrad(net, inputs, torch.tensor(TARGETS), noise, batch_size=5)
    saliency = Saliency(net)
    for index, target in enumerate(TARGETS):
        copies = inputs[index : index + 1] + noise[index * samples : (index + 1) * samples]
        theirs = saliency.attribute(copies, target=target, abs=False).mean(dim=0, keepdim=True)
        close(ours[index : index + 1], theirs)


def test_smoothgrad_noise_depends_only_on_each_images_seed(inputs):
    both = paths.smoothgrad_noise(inputs, [0.2, 0.2], 4, [7, 8])
    alone = paths.smoothgrad_noise(inputs[1:], [0.2], 4, [8])
    assert torch.equal(both[4:], alone)
    assert not torch.equal(both[:4], both[4:])


@pytest.mark.parametrize("baseline_value", [0.0, -0.5])
def test_integrated_gradients_match_captum(net, inputs, baseline_value):
    baseline = torch.full((1, 3, 1, 1), baseline_value, dtype=torch.float64)
    ours = paths.integrated_gradients(net, inputs, torch.tensor(TARGETS), baseline, steps=12, batch_size=7)
    theirs = IntegratedGradients(net).attribute(inputs, baselines=baseline.expand_as(inputs), target=TARGETS,
                                               n_steps=12, method="gausslegendre")
    close(ours, theirs)


def test_integrated_gradients_are_complete(net, inputs):
    """Attributions add up to f(x) - f(baseline) (ReLU nets are piecewise linear: many steps needed)."""
    baseline = torch.zeros(1, 3, 1, 1, dtype=torch.float64)
    targets = torch.tensor(TARGETS)
    attribution = paths.integrated_gradients(net, inputs, targets, baseline, steps=64, batch_size=64)
    gap = paths.completeness_gap(net, inputs, targets, baseline, attribution)
    gain = (net(inputs) - net(baseline.expand_as(inputs))).gather(1, targets[:, None]).abs()[:, 0]
    assert (gap <= 0.02 * gain).all()


def test_top1_is_the_default_target_and_pins_override_it(net, inputs):
    pass_ = shared_pass(net, inputs, [None, 2], ["vanilla"])
    assert pass_.targets.tolist() == [int(net(inputs[:1]).argmax()), 2]
