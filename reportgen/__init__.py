"""reportgen: every classic CNN visualisation over a folder of images, as a static gallery."""

__version__ = "0.1.0"  # the single source: pyproject.toml reads it ([tool.setuptools.dynamic])

import logging as _logging

# A library stays quiet unless its user configures logging; the command line shows these messages.
_logging.getLogger("reportgen").addHandler(_logging.NullHandler())

__all__ = ["BuildError", "Gallery", "ModelSpec", "ParamError", "build", "check"]


def __getattr__(name: str):
    """``reportgen.build`` and friends, imported on first use so that ``import reportgen`` stays light."""
    if name in ("build", "check", "Gallery"):
        from reportgen import api

        return getattr(api, name)
    if name == "ModelSpec":
        from reportgen.models.declared import ModelSpec

        return ModelSpec
    if name == "BuildError":
        from reportgen.pipeline import BuildError

        return BuildError
    if name == "ParamError":
        from reportgen.choices import ParamError

        return ParamError
    raise AttributeError(f"module 'reportgen' has no attribute {name!r}")
