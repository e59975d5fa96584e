"""reportgen: every classic CNN visualisation over a folder of images, as a static gallery."""
__version__ = "0.1.0"  # the single source: pyproject.toml reads it ([tool.setuptools.dynamic])

import importlib as _importlib
import logging as _logging
import typing as _typing

if _typing.TYPE_CHECKING:  # what type checkers see; at run time each name is imported on first use
    from reportgen.interface.api import Gallery, build, check, update_baseline
    from reportgen.core.choices import ParamError
    from reportgen.interface.config import BuildConfig
    from reportgen.interface.explain import ExplainedClass, Explanation, explain
    from reportgen.models.declared import ModelSpec
    from reportgen.core.pipeline import BuildError
    from reportgen.regress import Outcome, RegressionError

# A library stays quiet unless its user configures logging; the command line shows these messages.
_logging.getLogger("reportgen").addHandler(_logging.NullHandler())

# Public name -> the module that defines it, imported on first use so that ``import reportgen``
# stays light (no torch).
_PUBLIC = {
    "build": "reportgen.interface.api", "check": "reportgen.interface.api", "update_baseline": "reportgen.interface.api",
    "Gallery": "reportgen.interface.api", "BuildConfig": "reportgen.interface.config", "ModelSpec": "reportgen.models.declared",
    "BuildError": "reportgen.core.pipeline", "ParamError": "reportgen.core.choices", "Outcome": "reportgen.regress",
    "RegressionError": "reportgen.regress", "explain": "reportgen.interface.explain",
    "Explanation": "reportgen.interface.explain", "ExplainedClass": "reportgen.interface.explain",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> object:
    if name in _PUBLIC:
        return getattr(_importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'reportgen' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
