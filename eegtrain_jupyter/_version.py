"""The installed version, read once from the package metadata (defined in pyproject.toml)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("eegtrain-jupyter")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
