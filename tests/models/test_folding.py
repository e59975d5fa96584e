import pytest
import torch
from torch import nn

from reportgen.models.folding import FoldedNorm, conv_norm_pairs, fold_batch_norms
from reportgen.models.hooks import forward_until, hooks_left


class NormAct(nn.BatchNorm2d):
    """Like timm's BatchNormAct2d: a batch norm that owns its activation."""

    def __init__(self, channels):
        super().__init__(channels)
        self.act = nn.ReLU6()

    def forward(self, x):
        return self.act(super().forward(x))


class Net(nn.Module):
    def __init__(self, leak_conv_output=False):
        super().__init__()
        self.leak = leak_conv_output
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1, bias=False), NormAct(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        x = self.bn1(self.conv1(x))
        raw = self.conv2(x)
        x = self.bn2(raw) + (raw if self.leak else 0)  # a second use of the conv's output
        return self.head(x.mean(dim=(2, 3)))


def trained(net):
    """Non-trivial norm statistics and affine parameters, frozen, in eval mode."""
    generator = torch.Generator().manual_seed(0)
    for norm in (net.bn1, net.bn2):
        norm.running_mean.copy_(torch.randn(8, generator=generator))
        norm.running_var.copy_(torch.rand(8, generator=generator) + 0.5)
        norm.weight.data.copy_(torch.randn(8, generator=generator))
        norm.bias.data.copy_(torch.randn(8, generator=generator))
    return net.eval().requires_grad_(False)


@pytest.fixture
def probe():
    return torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def test_each_norm_is_paired_with_the_convolution_it_normalises(probe):
    net = trained(Net())
    pairs, reference = conv_norm_pairs(net, probe)
    assert pairs == [("conv1", "bn1"), ("conv2", "bn2")]
    torch.testing.assert_close(reference, net(probe))
    assert hooks_left(net) == 0


def test_folding_keeps_the_function_its_gradients_and_every_name(probe):
    net = trained(Net())
    folded = fold_batch_norms(net, probe)
    assert isinstance(folded.bn1, FoldedNorm) and isinstance(folded.bn1.act, nn.ReLU6)
    assert isinstance(folded.bn2, FoldedNorm) and not isinstance(net.bn2, FoldedNorm)  # the original is untouched
    assert {n for n, _ in folded.named_modules()} == {n for n, _ in net.named_modules()}
    x = probe.clone().requires_grad_(True)
    y = probe.clone().requires_grad_(True)
    torch.testing.assert_close(folded(y), net(x), rtol=1e-5, atol=1e-5)
    (mine,) = torch.autograd.grad(folded(y)[:, 1].sum(), [y])
    (theirs,) = torch.autograd.grad(net(x)[:, 1].sum(), [x])
    torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)
    # a hook on a folded norm sees the norm's output
    torch.testing.assert_close(forward_until(folded, probe, ["bn1"])["bn1"], forward_until(net, probe, ["bn1"])["bn1"],
                               rtol=1e-5, atol=1e-5)


def test_a_convolution_the_caller_observes_is_not_folded(probe):
    net = trained(Net())
    folded = fold_batch_norms(net, probe, keep=["conv2"])
    assert isinstance(folded.bn1, FoldedNorm) and isinstance(folded.bn2, nn.BatchNorm2d)
    torch.testing.assert_close(forward_until(folded, probe, ["conv2"])["conv2"], forward_until(net, probe, ["conv2"])["conv2"],
                               rtol=1e-5, atol=1e-5)


def test_a_fold_that_would_change_the_function_is_refused(probe):
    net = trained(Net(leak_conv_output=True))
    assert fold_batch_norms(net, probe) is net


def test_nothing_to_fold_returns_the_model_itself(tiny, probe):
    assert fold_batch_norms(tiny.module, probe) is tiny.module


def test_the_gradient_network_is_a_channels_last_copy_on_a_cpu(tiny):
    network = tiny.for_gradients()
    assert network is not tiny.module and network is tiny.for_gradients()
    assert network.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert tiny.module.features[0].weight.is_contiguous()  # the model itself is left as it was
    inputs = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(network(inputs), tiny.module(inputs), rtol=1e-5, atol=1e-5)


def test_one_gradient_copy_serves_every_kept_layer_when_nothing_is_folded_and_release_frees_it(tiny):
    """The tiny CNN has no batch norms: keeping a convolution changes nothing, so one copy of the
    weights serves every technique's layers; after ``release`` the next loop makes a new one."""
    network = tiny.for_gradients()
    assert tiny.for_gradients(["features.0"]) is network
    tiny.release()
    assert tiny.for_gradients(["features.0"]) is not network


def test_the_embedded_model_folds_every_norm_and_agrees(lite0):
    folded = lite0.for_gradients()
    assert folded is not lite0.module and lite0.for_gradients() is folded  # made once
    assert sum(isinstance(m, FoldedNorm) for m in folded.modules()) == 49
    kept = lite0.for_gradients(["blocks.3.1.conv_pwl"])
    assert isinstance(kept.get_submodule("blocks.3.1.bn3"), nn.BatchNorm2d)
    probe = lite0.sample_input()
    torch.testing.assert_close(folded(probe), lite0.module(probe), rtol=1e-4, atol=1e-4)
