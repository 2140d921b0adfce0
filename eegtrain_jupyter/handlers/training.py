"""REST handlers for ``{base_url}training/``: parse the request, make one service call, write JSON.

Every handler requires an authenticated Jupyter user (token header or login cookie plus
XSRF) and is authorized against the ``eegtrain`` resource. Every error, including an
unexpected one, is a JSON body ``{"error": ..., "errors": [{"field", "message"}]}``.
Service calls run in a worker thread so the IO loop never waits on the manager's lock.
"""

from __future__ import annotations

import asyncio
import json
import math
from http.client import responses
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..config import TrainingConfig, json_schema
from ..service import AlreadyTrainingError, ConfigError, ResourceError, TrainingManager
from .openapi import openapi_document

__all__ = ["AUTH_RESOURCE", "MANAGER_KEY", "MAX_BODY_KEY", "ApiError", "route_table"]

AUTH_RESOURCE = "eegtrain"
MANAGER_KEY = "eegtrain_manager"
MAX_BODY_KEY = "eegtrain_max_body_bytes"
_DEFAULT_MAX_BODY = 64 * 1024


class ApiError(web.HTTPError):
    """An HTTP error whose JSON body is given in full."""

    def __init__(self, status_code: int, error: str, errors: list[dict[str, str]] | None = None,
                 **extra: Any):
        super().__init__(status_code, log_message=error.replace("%", "%%"))
        self.body = {"error": error, "errors": list(errors or []), **extra}


def _body_error(status: int, message: str) -> ApiError:
    return ApiError(status, message, [{"field": "body", "message": message}])


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _finite(value: Any) -> Any:
    """``value`` with NaN/Infinity floats replaced by ``None`` (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class TrainingAPIHandler(APIHandler):
    """Base: JSON errors without tracebacks, body parsing, the manager."""

    auth_resource = AUTH_RESOURCE

    @property
    def manager(self) -> TrainingManager:
        return self.settings[MANAGER_KEY]

    async def call(self, fn, *args):
        """Run a service call in a worker thread (it may take the manager's lock)."""
        return await asyncio.to_thread(fn, *args)

    def send(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(_finite(body), allow_nan=False))

    def json_object(self) -> dict[str, Any] | None:
        """The request body as a JSON object; ``None`` when empty.

        Raises ``ApiError`` 413 (too large), 415 (not ``application/json``) or
        400 (not UTF-8, malformed JSON, or not an object).
        """
        raw = self.request.body or b""
        limit = self.settings.get(MAX_BODY_KEY, _DEFAULT_MAX_BODY)
        if len(raw) > limit:
            raise _body_error(413, f"request body is {len(raw)} bytes; the limit is {limit}")
        if not raw.strip():
            return None
        ctype = self.request.headers.get("Content-Type", "")
        media, _, params = ctype.partition(";")
        if media.strip().lower() != "application/json":
            raise _body_error(415, f"Content-Type must be application/json, not {ctype or 'missing'!r}")
        charset = params.partition("charset=")[2].strip().strip('"').lower()
        if charset and charset not in ("utf-8", "utf8"):
            raise _body_error(415, f"charset must be utf-8, not {charset!r}")
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError:
            raise _body_error(400, "request body is not valid UTF-8") from None
        except (ValueError, RecursionError) as exc:
            raise _body_error(400, f"malformed JSON: {exc}") from None
        if not isinstance(data, dict):
            raise _body_error(400, f"body must be a JSON object, not {type(data).__name__}")
        return data

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, ApiError):
            body = exc.body
        elif isinstance(exc, web.HTTPError):
            message = exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
            body = {"error": message or exc.reason or responses.get(status_code, "Error"), "errors": []}
        else:  # unexpected: logged with its traceback by tornado, never sent
            body = {"error": "Internal server error; see the server log", "errors": []}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))


class StartHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_object()
        try:
            status = await self.call(self.manager.start, body)
        except ConfigError as exc:
            raise ApiError(400, f"Invalid training configuration: {exc}",
                           [e.to_dict() for e in exc.errors]) from None
        except AlreadyTrainingError as exc:
            raise ApiError(409, "Training already in progress", run_id=exc.run_id) from None
        except ResourceError as exc:
            raise ApiError(503, str(exc)) from None
        self.send(status)


class StopHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.send(await self.call(self.manager.stop))


class StatusHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send(await self.call(self.manager.status))


class HistoryHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send(await self.call(self.manager.history))


class RunsHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send({"runs": await self.call(self.manager.runs)})


class ConfigHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send(TrainingConfig().model_dump())


class SchemaHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send(json_schema())


class ValidateHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_object()
        result = await self.call(self.manager.validate, body)
        self.send(result.to_dict())


class OpenAPIHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send(openapi_document(self.base_url))


class NotFoundHandler(TrainingAPIHandler):
    """Unknown ``training/...`` paths: a JSON 404 (after authentication)."""

    @web.authenticated
    @authorized
    async def get(self, path: str | None = None) -> None:
        raise ApiError(404, f"no such endpoint: training/{path or ''}")

    post = put = patch = delete = get


def route_table() -> list[tuple[str, type[TrainingAPIHandler]]]:
    """URL patterns relative to ``base_url``."""
    return [
        (r"/training/start", StartHandler),
        (r"/training/stop", StopHandler),
        (r"/training/status", StatusHandler),
        (r"/training/history", HistoryHandler),
        (r"/training/runs", RunsHandler),
        (r"/training/config", ConfigHandler),
        (r"/training/config/schema", SchemaHandler),
        (r"/training/config/validate", ValidateHandler),
        (r"/training/openapi.json", OpenAPIHandler),
        (r"/training(?:/(.*))?", NotFoundHandler),
    ]
