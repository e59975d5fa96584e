import numpy as np
import pytest
import torch

from reportgen import models
from reportgen.models import ModelCard, ModelError


def test_card_lists_layers_with_channels_and_parameters(tiny_card):
    assert tiny_card.input_size == 32 and len(tiny_card.categories) == 10
    assert tiny_card.layer("features.2").channels == 16
    assert tiny_card.layer("features.2").spatial == (16, 16)
    assert [p for p, _ in tiny_card.parameters][0] == "features.0.weight"
    assert tiny_card.pick(2) == ["features.0", "features.4"]


def test_unknown_layer_lists_the_valid_ones(tiny_card):
    with pytest.raises(ModelError, match="features.0, features.1"):
        tiny_card.layer("features.99")


def test_class_index_accepts_indices_and_names(tiny_card):
    assert tiny_card.class_index(3) == 3 and tiny_card.class_index("7") == 7
    assert tiny_card.class_index("Thing 4") == 4
    with pytest.raises(ModelError, match="out of range"):
        tiny_card.class_index(10)
    with pytest.raises(ModelError, match="no category"):
        tiny_card.class_index("dragon")


def test_card_round_trips_through_json_and_is_read_from_the_cache(cache, tiny_card, monkeypatch):
    assert ModelCard.from_json(tiny_card.to_json()) == tiny_card
    monkeypatch.setattr(models, "_build_card", lambda *a: pytest.fail("the cached card must be used"))
    assert models.card_for("tiny", "pretrained", cache) == tiny_card


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


def test_unknown_model_error_lists_valid_names(cache):
    with pytest.raises(ModelError, match="valid models: .*efficientnet_lite0.*resnet50"):
        models.card_for("resnet5000", "pretrained", cache)


def test_missing_torchvision_weights_offline_name_the_file(cache, monkeypatch, tmp_path, offline):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    built = []
    monkeypatch.setattr(models, "_build_card", lambda *a: built.append(a))
    with pytest.raises(ModelError) as raised:  # before the (slow) card is built
        models.card_for("alexnet", "pretrained", cache)
    message = str(raised.value)
    assert "alexnet-owt-7be5be79.pth" in message and str(tmp_path / "torch" / "hub" / "checkpoints") in message
    assert "--weights random" in message and not built


def test_a_cached_card_meets_the_same_weights_check_before_any_work(cache, monkeypatch, tmp_path, offline):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    target = tmp_path / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"present when the card was made")
    card = models.card_for("alexnet", "pretrained", cache)
    target.unlink()
    assert models.card_for("alexnet", "pretrained", cache) == card  # from the cache: no check, no torch
    with pytest.raises(ModelError, match="Place alexnet-owt-7be5be79.pth in"):
        models.require_weights(card)
    assert models.card_for("alexnet", "random", cache).untrained


def test_random_weights_are_deterministic(cache):
    card = models.card_for("tiny", "random", cache)
    first, second = models.load(card), models.load(card)
    for a, b in zip(first.module.parameters(), second.module.parameters()):
        assert torch.equal(a, b)


def test_embedded_model_loads_real_weights_by_shape(lite0):
    assert lite0.card.weights_id == "efficientnet-lite0-57934424.pth"
    assert lite0.card.input_size == 224
    assert lite0.card.layer("conv_stem").channels == 32


def test_select_device_refuses_cuda_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert models.select_device("auto") == "cpu"
    with pytest.raises(ModelError, match="no CUDA GPU"):
        models.select_device("cuda")


def test_corrupt_torchvision_weights_name_the_file(cache, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    target = tmp_path / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"this is not a checkpoint")
    card = models.card_for("alexnet", "pretrained", cache)
    models.require_weights(card)  # present: nothing to download
    with pytest.raises(ModelError, match=f"cannot load alexnet weights from {target}"):
        models.load(card)


def test_prepare_device_turns_tf32_off_and_fixes_the_cublas_workspace_on_cuda(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.allow_tf32,
              torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        models.prepare_device("cuda")  # only settings: no GPU is needed to apply them
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert models.os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before[1:]


def test_the_catalogue_read_from_torchvision_source_matches_torchvision():
    import torchvision

    catalogue = models.torchvision_catalogue()
    names = sorted(torchvision.models.list_models(module=torchvision.models))
    assert sorted(catalogue) == names
    for name in names:
        assert catalogue[name] == torchvision.models.get_model_weights(name).DEFAULT.url, name
