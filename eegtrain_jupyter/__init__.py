"""eegtrain-jupyter: train LaBraM EEG classifiers from JupyterLab.

One :class:`~eegtrain_jupyter.service.TrainingManager` per process drives training; the
Jupyter server extension (REST under ``/training``), the notebook panel and the CLI are views on it.
"""

from importlib.metadata import PackageNotFoundError, version

try:  # defined once, in pyproject.toml; read back from the installed metadata
    __version__ = version("eegtrain-jupyter")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"


def _jupyter_server_extension_points():
    from .extension import TrainingExtension  # imported only by the Jupyter server

    return [{"module": "eegtrain_jupyter.extension", "app": TrainingExtension}]
