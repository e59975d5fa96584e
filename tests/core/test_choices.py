import dataclasses

import pytest

from reportgen.core import choices
from reportgen.core.choices import ChoiceError, ParamError, check_choice, check_choices
from reportgen.interface.config import check_preset
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
    with pytest.raises(ChoiceError, match="did you mean gradcam.*`reportgen list params saliency` lists all"):
        saliency.plan(dataclasses.replace(saliency.Params(), methods=("guided", "gradcan")), tiny_card, images)
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


def test_a_long_list_is_not_printed_but_its_closest_names_and_the_command_that_lists_them():
    names = [f"layer{i}" for i in range(40)] + ["resnet50"]
    with pytest.raises(ChoiceError, match=r"^unknown model 'resnet05'; did you mean resnet50\? "
                                          r"`reportgen list models` lists all 41$"):
        check_choice("model", "resnet05", names)
    with pytest.raises(ChoiceError, match=r"^unknown widget 'zzz'; 41 valid names$") as raised:
        check_choice("widget", "zzz", names)
    assert raised.value.valid == tuple(names)


def test_devices_by_kind_and_number():
    assert [choices.check_device(d) for d in ("auto", "cpu", "cuda", "cuda:3", "mps")] == ["auto", "cpu", "cuda", "cuda:3", "mps"]
    for bad in ("tpu", "cuda:", "cuda:x", "mps:0"):
        with pytest.raises(ChoiceError, match="valid: auto, cpu, cuda, cuda:N, mps"):
            choices.check_device(bad)
