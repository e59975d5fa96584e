import pytest
import torch

from reportgen.models.hooks import capture, hooks_left
from reportgen.optim.objectives import class_logit, layer_activation, norm_regulariser


def test_class_logit_takes_each_images_own_class(tiny):
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    values = class_logit(tiny.module, [2, 7, 2])(images)
    logits = tiny.module(images)
    torch.testing.assert_close(values["score"], logits[[0, 1, 2], [2, 7, 2]])
    torch.testing.assert_close(values["probability"], logits.softmax(1)[[0, 1, 2], [2, 7, 2]])
    assert values["top1"].tolist() == logits.argmax(1).tolist()


def test_layer_activation_runs_each_image_only_up_to_its_own_layer(tiny):
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with capture(tiny.module, ["features.0", "features.2", "classifier"]) as seen:
        values = layer_activation(tiny.module, ["features.0", "features.2"], [3, 11])(images)
    assert "classifier" not in seen  # truncated after features.2
    # features.0 is read before its in-place ReLU runs: the raw convolution output
    with torch.no_grad():
        first = tiny.module.features[0](images)
        second = tiny.module.features[2](torch.relu(first))
    torch.testing.assert_close(values["score"], torch.stack([first[0, 3].mean(), second[1, 11].mean()]))
    assert hooks_left(tiny.module) == 0


def test_layer_activation_norm_of_one_channel_or_all():
    """Deep Dream's objective on hand-made maps: an identity "network" whose layer is its input."""
    identity = torch.nn.Sequential(torch.nn.Identity())
    maps = torch.tensor([[[[3.0, 0.0]], [[0.0, 4.0]]], [[[1.0, 1.0]], [[1.0, 1.0]]]])  # 2 images x 2 channels x 1 x 2
    norm = layer_activation(identity, ["0", "0"], [None, 1], "norm")(maps)["score"]
    torch.testing.assert_close(norm, torch.tensor([5.0, 2.0 ** 0.5]))  # all of image 0; channel 1 of image 1
    mean = layer_activation(identity, ["0", "0"], [0, None], "mean")(maps)["score"]
    torch.testing.assert_close(mean, torch.tensor([1.5, 1.0]))
    with pytest.raises(ValueError, match="valid: mean, norm"):
        layer_activation(identity, ["0"], [0], "max")


def test_regularisers_are_per_image_means():
    images = torch.tensor([[1.0, -3.0], [1.0, -3.0], [1.0, -3.0]]).view(3, 2, 1, 1)
    regulariser = norm_regulariser(["none", "l1", "l2"], [9.0, 0.5, 0.5])(images)
    torch.testing.assert_close(regulariser, torch.tensor([0.0, 0.5 * 2.0, 0.5 * 5.0]))
    with pytest.raises(ValueError, match="valid: none, l1, l2"):
        norm_regulariser(["l3"], [1.0])
