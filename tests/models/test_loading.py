import numpy as np
import pytest
import torch

from reportgen import models
from reportgen.models.hooks import hooks_left
from reportgen.models import LoadedModel, ModelError


def test_loaded_model_is_frozen_and_in_eval_mode(tiny):
    assert not any(p.requires_grad for p in tiny.module.parameters())
    assert not tiny.module.training


def test_inputs_resize_the_whole_image_and_normalise(tiny):
    pixels = np.full((40, 60, 3), 255, np.uint8)
    batch = tiny.inputs([pixels, pixels])
    assert batch.shape == (2, 3, 32, 32)
    expected = (1 - torch.tensor(tiny.card.mean)) / torch.tensor(tiny.card.std)
    torch.testing.assert_close(batch[0, :, 5, 5], expected)
    torch.testing.assert_close(tiny.denormalise(batch), torch.ones_like(batch))


def test_random_weights_are_deterministic(cache):
    card = models.card_for("tiny", "random", cache)
    first, second = models.load(card), models.load(card)
    for a, b in zip(first.module.parameters(), second.module.parameters()):
        assert torch.equal(a, b)


def test_corrupt_torchvision_weights_name_the_file(cache, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    target = tmp_path / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ModelError, match=f"{target} does not match the sha256 prefix 7be5be79"):
        models.card_for("alexnet", "pretrained", cache)


def test_features_are_what_the_head_reads_or_the_output_without_one(tiny):
    inputs = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    net = tiny.module
    with torch.no_grad():
        pooled = net.pool(net.features(inputs)).flatten(1)
        assert np.allclose(tiny.features(inputs), pooled.numpy(), atol=1e-6)
        headless = LoadedModel(tiny.card, torch.nn.Sequential(net.features, net.pool, torch.nn.Flatten()), tiny.device)
        assert np.allclose(headless.features(inputs), pooled.numpy(), atol=1e-6)  # no linear layer: its output
    assert not hooks_left(net)
