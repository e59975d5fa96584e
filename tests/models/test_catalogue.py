import pytest

from reportgen import models
from reportgen.core.choices import ChoiceError, ParamError
from reportgen.models import ModelError, catalogue, describe


def test_unknown_model_error_lists_valid_names(cache):
    with pytest.raises(ChoiceError, match=r"^unknown model 'resnet5000'; did you mean resnet50\b.*`reportgen list models` lists all \d+$"):
        models.card_for("resnet5000", "pretrained", cache)


@pytest.mark.parametrize("name", ["./my_model.pt", "checkpoints/net.pth", "my_net.py"])
def test_a_file_given_as_a_model_says_how_to_declare_ones_own(cache, name):
    with pytest.raises(ParamError, match=r"declare it as \[model\.NAME\] in reportgen.toml") as raised:
        models.card_for(name, "pretrained", cache)
    assert "\n" not in str(raised.value)


def test_missing_torchvision_weights_offline_name_the_file(cache, monkeypatch, tmp_path, offline):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    built = []
    monkeypatch.setattr(describe, "_build_card", lambda *a: built.append(a))
    with pytest.raises(ModelError) as raised:  # before the (slow) card is built
        models.card_for("alexnet", "pretrained", cache)
    message = str(raised.value)
    assert "alexnet-owt-7be5be79.pth" in message and str(tmp_path / "torch" / "hub" / "checkpoints") in message
    assert "--weights random" in message and not built


def test_a_cached_card_meets_the_same_weights_check_before_any_work(cache, monkeypatch, tmp_path, offline):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with monkeypatch.context() as present:  # the weights were there when the card was made
        present.setattr(describe, "fetch", lambda checkpoint: checkpoint.path)
        card = models.card_for("alexnet", "pretrained", cache)
    assert models.card_for("alexnet", "pretrained", cache) == card  # from the cache: no check, no torch
    with pytest.raises(ModelError, match="Place alexnet-owt-7be5be79.pth in"):
        models.require_weights(card)
    assert models.card_for("alexnet", "random", cache).untrained


def test_the_catalogue_read_from_torchvision_source_matches_torchvision():
    import torchvision

    catalogue = models.torchvision_catalogue()
    names = sorted(torchvision.models.list_models(module=torchvision.models))
    assert sorted(catalogue) == names
    for name in names:
        assert catalogue[name] == torchvision.models.get_model_weights(name).DEFAULT.url, name
