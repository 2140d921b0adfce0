"""One exception family for every layer: each member carries its HTTP status.

The service raises them, the REST handlers send them with one ``except`` (as
:meth:`EegtrainError.body`), :class:`~eegtrain_jupyter.client.RemoteClient` rebuilds the same
class from a response (:func:`from_response`) and the in-process client lets them through.
Only :class:`ConnectionFailed` is client-specific: it has no HTTP status of its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

__all__ = [
    "ERROR_TYPES",
    "AlreadyTrainingError",
    "ConfigError",
    "Conflict",
    "ConnectionFailed",
    "EegtrainError",
    "FieldError",
    "InsufficientStorage",
    "MissingDependency",
    "NotFound",
    "PayloadTooLarge",
    "ResourceError",
    "UnsupportedMediaType",
    "from_response",
    "soft_import",
]


@dataclass(frozen=True)
class FieldError:
    """One invalid field: its name (dotted for nested) and a human-readable message."""

    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class EegtrainError(RuntimeError):
    """Base of every error the product reports; ``status`` is its HTTP status code.

    Parameters
    ----------
    message : str
        One line for humans (the body's ``error``).
    errors : iterable of FieldError
        Per-field details (the body's ``errors``), possibly empty.
    """

    status: ClassVar[int] = 500

    def __init__(self, message: str, errors: Iterable[FieldError] = ()):
        self.message = message
        self.errors = list(errors)
        super().__init__(message)

    def extra(self) -> dict[str, Any]:
        """Fields a subclass adds to the body (e.g. ``run_id`` on 409)."""
        return {}

    def body(self) -> dict[str, Any]:
        """The JSON error body (shape: :class:`~eegtrain_jupyter.schemas.ErrorBody`)."""
        return {
            "error": self.message,
            "type": type(self).__name__,
            "errors": [e.to_dict() for e in self.errors],
            **self.extra(),
        }


class ConfigError(EegtrainError, ValueError):
    """Invalid input (a config field, a path, a request body): HTTP 400, every field named."""

    status = 400

    def __init__(self, errors: Iterable[FieldError] | str, message: str | None = None):
        if isinstance(errors, str):  # ConfigError("message"): no field to name
            message, errors = errors, ()
        errors = list(errors)
        if message is None:
            detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
            message = f"Invalid training configuration: {detail}"
        super().__init__(message, errors)

    @classmethod
    def field(cls, name: str, message: str) -> ConfigError:
        """An error naming one field."""
        return cls([FieldError(name, message)])


class UnsupportedMediaType(ConfigError):
    """A body that is not ``application/json`` (UTF-8): HTTP 415."""

    status = 415


class PayloadTooLarge(ConfigError):
    """A body over the server's limit: HTTP 413."""

    status = 413


class NotFound(EegtrainError, LookupError):
    """An unknown endpoint, run or file: HTTP 404."""

    status = 404


class Conflict(EegtrainError):
    """The request clashes with the trainer's state: HTTP 409."""

    status = 409


class AlreadyTrainingError(Conflict):
    """``start`` while a run is active; ``run_id`` is that run."""

    def __init__(self, run_id: str | None = None, message: str = "Training already in progress"):
        self.run_id = run_id
        super().__init__(message)

    def extra(self) -> dict[str, Any]:
        return {"run_id": self.run_id}


class ResourceError(EegtrainError):
    """Not enough memory (or GPU memory) to start: HTTP 503; the message says how much."""

    status = 503


class InsufficientStorage(ResourceError):
    """No space left on the device (or the quota is used up) for a file: HTTP 507; the
    message names the file."""

    status = 507


class MissingDependency(EegtrainError):
    """An optional package this feature needs is not installed: HTTP 501; the message says
    what to install."""

    status = 501


def soft_import(name: str, purpose: str, extra: str) -> ModuleType:
    """Import the optional package ``name``, or raise :class:`MissingDependency` saying how to
    install it (``purpose`` needs ``name``: ``pip install 'eegtrain-jupyter[extra]'``)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MissingDependency(
            f"{purpose} needs {name.split('.')[0]}, which is not installed: "
            f"pip install 'eegtrain-jupyter[{extra}]'"
        ) from None


class ConnectionFailed(EegtrainError):
    """Client side only: the server cannot be reached, refuses the token, or lacks the extension."""

    status = 502


ERROR_TYPES: dict[str, type[EegtrainError]] = {
    cls.__name__: cls
    for cls in (
        EegtrainError,
        ConfigError,
        UnsupportedMediaType,
        PayloadTooLarge,
        NotFound,
        Conflict,
        AlreadyTrainingError,
        ResourceError,
        InsufficientStorage,
        MissingDependency,
    )
}
"""Error classes by the ``type`` a body names."""

_BY_STATUS: dict[int, type[EegtrainError]] = {
    400: ConfigError,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    501: MissingDependency,
    503: ResourceError,
    507: InsufficientStorage,
}


def from_response(status: int, body: Any) -> EegtrainError:
    """The error a REST response stands for: by the body's ``type``, else by ``status``."""
    body = body if isinstance(body, Mapping) else {}
    message = str(body.get("error") or f"HTTP {status}")
    errors = [
        FieldError(str(e.get("field", "")), str(e.get("message", "")))
        for e in body.get("errors") or ()
        if isinstance(e, Mapping)
    ]
    cls = ERROR_TYPES.get(str(body.get("type"))) or _BY_STATUS.get(status, EegtrainError)
    if issubclass(cls, AlreadyTrainingError):
        return cls(body.get("run_id"), message)
    if issubclass(cls, ConfigError):
        return cls(errors, message)
    return cls(message, errors)
