"""reportgen: every classic CNN visualisation over a folder of images, as a static gallery."""
__version__ = "0.1.0"  # the single source: pyproject.toml reads it ([tool.setuptools.dynamic])

import importlib as _importlib
import logging as _logging
import typing as _typing

if _typing.TYPE_CHECKING:  # what type checkers see; at run time each name is imported on first use
    from reportgen.api import Gallery, build, check, update_baseline
    from reportgen.choices import ParamError
    from reportgen.config import BuildConfig
    from reportgen.models.declared import ModelSpec
    from reportgen.pipeline import BuildError
    from reportgen.regress import Outcome, RegressionError

# A library stays quiet unless its user configures logging; the command line shows these messages.
_logging.getLogger("reportgen").addHandler(_logging.NullHandler())

# Public name -> the module that defines it, imported on first use so that ``import reportgen``
# stays light (no torch).
_PUBLIC = {
    "build": "reportgen.api", "check": "reportgen.api", "update_baseline": "reportgen.api",
    "Gallery": "reportgen.api", "BuildConfig": "reportgen.config", "ModelSpec": "reportgen.models.declared",
    "BuildError": "reportgen.pipeline", "ParamError": "reportgen.choices", "Outcome": "reportgen.regress",
    "RegressionError": "reportgen.regress",
}
__all__ = sorted([*_PUBLIC, "explain", "Explanation", "ExplainedClass"])

# Imported now, not on first use: the module has the function's name, and importing it later would
# bind ``reportgen.explain`` to the module. It imports neither torch nor numpy.
from reportgen.explain import ExplainedClass, Explanation, explain  # noqa: E402


def __getattr__(name: str) -> object:
    if name in _PUBLIC:
        return getattr(_importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'reportgen' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
