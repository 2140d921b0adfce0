"""Clients for the one trainer: over REST (:class:`RemoteClient`) or in this process (:class:`LocalClient`).

Both speak the REST shapes (plain dicts: status, history, schema, validation result)
and raise the same typed errors, so the notebook panel works against either.
:func:`connect` finds the Jupyter server that launched this kernel and falls back to
an in-kernel trainer, saying why, when there is none with the extension.
"""

from __future__ import annotations

from ..errors import AlreadyTrainingError, ConfigError, ConnectionFailed, EegtrainError, ResourceError
from .base import ROOT_ENV, TOKEN_ENV, URL_ENV, TrainingClient
from .connect import connect, find_server
from .local import LocalClient, local_manager
from .remote import RemoteClient

__all__ = [
    "ROOT_ENV",
    "TOKEN_ENV",
    "URL_ENV",
    "AlreadyTrainingError",
    "ConfigError",
    "ConnectionFailed",
    "EegtrainError",
    "LocalClient",
    "RemoteClient",
    "ResourceError",
    "TrainingClient",
    "connect",
    "find_server",
    "local_manager",
]
