import dataclasses

import pytest

from reportgen import choices
from reportgen.choices import ChoiceError, ParamError, check_choice, check_choices
from reportgen.config import check_preset
from reportgen.techniques.base import registry


def test_a_bad_choice_names_itself_and_lists_the_valid_values():
    with pytest.raises(ChoiceError, match=r"^unknown colour 'mauve'; valid: red, green$") as raised:
        check_choice("colour", "mauve", ("red", "green"))
    assert isinstance(raised.value, ParamError) and raised.value.valid == ("red", "green")
    with pytest.raises(ChoiceError, match=r"^unknown colours mauve, teal; valid: red$"):
        check_choices("colours", ("red", "mauve", "teal"), ("red",))
    assert check_choices("colours", ["red"], ("red", "green")) == ("red",)


def test_every_bad_choice_of_planning_and_configuration_is_a_choice_error(tiny_card, images):
    saliency, filters = registry()["saliency"], registry()["filters"]
    with pytest.raises(ChoiceError, match="valid: vanilla, deconvnet, guided"):
        saliency.plan(dataclasses.replace(saliency.Params(), methods=("guided", "magic")), tiny_card, images)
    with pytest.raises(ChoiceError, match="valid: black, white, mean"):
        saliency.plan(dataclasses.replace(saliency.Params(), ig_baseline="grey"), tiny_card, images)
    with pytest.raises(ChoiceError, match="features.0.weight"):
        filters.plan(dataclasses.replace(filters.Params(), parameters=("nope.weight",)), tiny_card, [])
    with pytest.raises(ChoiceError, match="valid: quick, standard, full"):
        check_preset("huge")


def test_each_list_of_names_is_defined_once():
    from reportgen.attribution import maps, methods
    from reportgen.techniques import feature_maps, saliency

    assert saliency.METHODS is methods.METHODS and saliency.Params().methods == tuple(methods.METHODS)
    assert not hasattr(maps, "METHODS") and not hasattr(choices, "SALIENCY_METHODS")
    assert feature_maps.ACTIVATIONS is choices.ACTIVATIONS
    assert {rule for method in methods.METHODS.values() for rule in method.rules} == set(choices.GRADIENT_RULES)
