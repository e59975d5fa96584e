"""Error text for people: one line out of an exception, for a skip reason, a log line or an error."""
from __future__ import annotations


def first_line(error: BaseException) -> str:
    """The exception's first line of text, or its type's name when it has none."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
