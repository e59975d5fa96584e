"""reportgen: every classic CNN visualisation over a folder of images, as a static gallery."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reportgen")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

import logging as _logging

# A library stays quiet unless its user configures logging; the command line shows these messages.
_logging.getLogger("reportgen").addHandler(_logging.NullHandler())
