from reportgen.core.errors import first_line


def test_first_line_keeps_one_line_of_the_message():
    assert first_line(ValueError("  bad header\nat byte 12\n")) == "bad header"


def test_first_line_of_a_silent_error_is_its_type():
    assert first_line(KeyError()) == "KeyError"
    assert first_line(OSError("")) == "OSError"
