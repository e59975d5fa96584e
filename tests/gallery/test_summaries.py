from reportgen.core.meta import Prediction
from reportgen.gallery.summaries import is_label


def test_a_label_is_an_index_a_string_of_digits_or_a_category_name_in_any_case():
    espresso = Prediction(967, "espresso", 0.9)
    assert is_label(967, espresso) and is_label("967", espresso) and is_label(" Espresso ", espresso)
    assert not is_label(968, espresso) and not is_label("cup", espresso) and not is_label("96", espresso)
