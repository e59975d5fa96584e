"""reportgen: every classic CNN visualisation over a folder of images, as a static gallery."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reportgen")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
