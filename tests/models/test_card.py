import pytest

from reportgen import models
from reportgen.models import ModelError


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
