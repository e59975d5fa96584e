"""How the gallery and the notebook view write numbers: one function per kind of number, so that a
probability, a share, a score or a duration reads the same on every page. Pure Python, no torch."""
from __future__ import annotations


def percent(share: float) -> str:
    """A share of a whole (accuracy, a class's share of the inputs): ``12.5%``."""
    return f"{100.0 * float(share):.1f}%"


def probability(value: float) -> str:
    """A model's probability for a class, written as a percentage as the pages' readers expect."""
    return percent(value)


def score(value: float) -> str:
    """A faithfulness score: three decimals, so that a column's values line up."""
    return f"{float(value):.3f}"


def measure(value: float, digits: int = 3) -> str:
    """A measured quantity of any scale (an activation, a weight, a correlation): ``digits``
    significant digits."""
    return f"{float(value):.{digits}g}"


def ratio(value: float) -> str:
    """How many times one quantity is another: ``1.5×``."""
    return f"{float(value):.1f}\u00d7"


def seconds(value: float) -> str:
    """A duration: whole seconds under a minute, else minutes to a tenth."""
    return f"{value:.0f} s" if value < 60 else f"{value / 60:.1f} min"


def count(number: int, noun: str, plural: str | None = None) -> str:
    """``1 input``, ``3 inputs`` (``plural``: where adding an s is wrong)."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
