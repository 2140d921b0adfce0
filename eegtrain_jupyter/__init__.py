"""eegtrain-jupyter: train LaBraM EEG classifiers from JupyterLab.

One :class:`~eegtrain_jupyter.service.manager.TrainingManager` per process drives training; the
Jupyter server extension (REST under ``/training``), the notebook panel and the CLI are views on it.
"""

from ._version import __version__

__all__ = ["TrainedModel", "__version__", "load_model"]

_LAZY = {"load_model": "service.serving", "TrainedModel": "serving.predict"}
"""Top-level names imported on first use, so ``import eegtrain_jupyter`` stays light (no torch)."""


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _jupyter_server_extension_points():
    from .server.extension import TrainingExtension  # imported only by the Jupyter server

    return [{"module": "eegtrain_jupyter.server.extension", "app": TrainingExtension}]
