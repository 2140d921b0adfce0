"""eegtrain-jupyter: train LaBraM EEG classifiers from JupyterLab.

One :class:`~eegtrain_jupyter.service.TrainingManager` per process drives training; the
Jupyter server extension (REST under ``/training``), the notebook panel and the CLI are views on it.
"""

__version__ = "0.1.0"


def _jupyter_server_extension_points():
    from .extension import TrainingExtension  # imported only by the Jupyter server

    return [{"module": "eegtrain_jupyter.extension", "app": TrainingExtension}]
