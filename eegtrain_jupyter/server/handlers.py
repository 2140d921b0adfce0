"""REST handlers for ``{base_url}training/``: parse the request, make one service call, write JSON.

Every handler requires an authenticated Jupyter user (token header or login cookie plus
XSRF) and is authorized against the ``eegtrain`` resource. Errors are translated in one
place (:meth:`TrainingAPIHandler.send_error`): an :class:`~eegtrain_jupyter.errors.EegtrainError`
goes out with its own status and body, anything unexpected as a bare 500 (its traceback only
in the server log). Request bodies are streamed, so one over the limit is refused from its
``Content-Length`` (or as it arrives) without being buffered. Service calls run in a worker
thread so the IO loop never waits on the manager's lock.
"""

from __future__ import annotations

import asyncio
import json
import math
import mimetypes
import os
import re
from collections.abc import Callable
from http.client import responses
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from pydantic import BaseModel
from tornado import web

from ..config.training import TrainingConfig, json_schema
from ..errors import ConfigError, EegtrainError, FieldError, NotFound, PayloadTooLarge, UnsupportedMediaType
from ..schemas import Runs
from ..service.benchmark import BenchmarkManager
from ..service.manager import TrainingManager
from ..service.search import SearchManager
from .openapi import openapi_document

__all__ = ["AUTH_RESOURCE", "route_table"]

AUTH_RESOURCE = "eegtrain"


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


def _root_relative(value: Any, roots: list[str]) -> Any:
    """``value`` (an error body) with every path under one of ``roots`` made root-relative
    (``<root>/models/x`` becomes ``models/x``, the root itself ``.``)."""
    if isinstance(value, str):
        for root in roots:
            value = re.sub(re.escape(root) + r"(?![\w.-])", ".", value.replace(root + os.sep, ""))
        return value
    if isinstance(value, dict):
        return {k: _root_relative(v, roots) for k, v in value.items()}
    if isinstance(value, list):
        return [_root_relative(v, roots) for v in value]
    return value


def _body_error(cls: type[ConfigError], message: str) -> ConfigError:
    """A request-body error (400, 413 or 415) naming the field ``body``."""
    return cls([FieldError("body", message)], message)


@web.stream_request_body
class TrainingAPIHandler(ExtensionHandlerMixin, APIHandler):
    """Base: the manager, a bounded streamed body, JSON responses and errors."""

    auth_resource = AUTH_RESOURCE

    @property
    def manager(self) -> TrainingManager:
        return self.extensionapp.manager  # type: ignore[attr-defined]

    @property
    def search(self) -> SearchManager:
        return self.extensionapp.search  # type: ignore[attr-defined]

    @property
    def benchmark(self) -> BenchmarkManager:
        return self.extensionapp.benchmark  # type: ignore[attr-defined]

    @property
    def max_body_bytes(self) -> int:
        return int(self.extensionapp.max_body_bytes)  # type: ignore[attr-defined]

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        self._chunks: list[bytes] = []
        self._size = 0
        length = self.request.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > self.max_body_bytes:
            raise _body_error(
                PayloadTooLarge, f"request body is {length} bytes; the limit is {self.max_body_bytes}"
            )

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size <= self.max_body_bytes:  # beyond it, counted and dropped
            self._chunks.append(chunk)

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a service call in a worker thread (it may take the manager's lock)."""
        return await asyncio.to_thread(fn, *args)

    async def call_data(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a service call that waits on the data worker (a scan, a prediction) in a thread of
        the extension's own pool, so that many of them never delay the other endpoints."""
        executor = self.extensionapp.data_executor  # type: ignore[attr-defined]
        return await asyncio.get_running_loop().run_in_executor(executor, lambda: fn(*args))

    def query(self) -> dict[str, str]:
        """The query arguments (the last value of each), for the service to validate."""
        return {name: self.get_query_argument(name) for name in self.request.query_arguments}

    def send(self, body: Any) -> None:
        if isinstance(body, BaseModel):
            body = body.model_dump(mode="json")
        self.finish(json.dumps(_finite(body), allow_nan=False))

    def json_object(self) -> dict[str, Any] | None:
        """The request body as a JSON object; ``None`` when empty.

        Raises 413 (too large), 415 (not ``application/json``) or 400 (not UTF-8, malformed
        JSON, or not an object), each naming the field ``body``.
        """
        if self._size > self.max_body_bytes:
            raise _body_error(
                PayloadTooLarge, f"request body is {self._size} bytes; the limit is {self.max_body_bytes}"
            )
        raw = b"".join(self._chunks)
        if not raw.strip():
            return None
        ctype = self.request.headers.get("Content-Type", "")
        media, _, params = ctype.partition(";")
        if media.strip().lower() != "application/json":
            raise _body_error(
                UnsupportedMediaType, f"Content-Type must be application/json, not {ctype or 'missing'!r}"
            )
        charset = params.partition("charset=")[2].strip().strip('"').lower()
        if charset and charset not in ("utf-8", "utf8"):
            raise _body_error(UnsupportedMediaType, f"charset must be utf-8, not {charset!r}")
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError:
            raise _body_error(ConfigError, "request body is not valid UTF-8") from None
        except (ValueError, RecursionError) as exc:
            raise _body_error(ConfigError, f"malformed JSON: {exc}") from None
        if not isinstance(data, dict):
            raise _body_error(ConfigError, f"body must be a JSON object, not {type(data).__name__}")
        return data

    # -- the one place errors are translated ---------------------------------------------
    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, EegtrainError):
            status_code = exc.status
        super().send_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, EegtrainError):  # the caller's mistake: one line, no traceback
            self.log.info("%s %s: %d %s", self.request.method, self.request.path, value.status, value.message)
            return
        super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, EegtrainError):
            body = exc.body()
        elif isinstance(exc, web.HTTPError):
            message = exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
            body = {"error": message or exc.reason or responses.get(status_code, "Error"), "errors": []}
        else:  # unexpected: logged with its traceback by tornado, never sent
            body = {"error": "Internal server error; see the server log", "errors": []}
        self.finish(json.dumps(_root_relative(body, self._roots())))

    def _roots(self) -> list[str]:
        """The server root as error bodies must not show it: resolved, and as configured."""
        roots = {str(self.manager.root_dir)}
        configured = self.settings.get("server_root_dir")
        if configured:
            roots |= {os.path.abspath(os.path.expanduser(configured)), os.path.realpath(configured)}
        return sorted(roots, key=len, reverse=True)  # the longest first: one may contain another


class StartHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.send(await self.call_data(self.manager.start, self.json_object()))


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
        self.send(Runs(runs=await self.call(self.manager.runs, self.query())))


class CompareHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send(await self.call(self.manager.compare, self.get_query_argument("runs", None)))


class SearchHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send(await self.call(self.search.status))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.send(await self.call_data(self.search.start, self.json_object()))


class BenchmarkHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send(await self.call(self.benchmark.status))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.send(await self.call_data(self.benchmark.start, self.json_object()))


class ConfigHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send(TrainingConfig())


class SchemaHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send(json_schema())


class ValidateHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = (await self.call_data(self.manager.validate, self.json_object())).model_dump(mode="json")
        body["errors"] = _root_relative(body["errors"], self._roots())  # as in an error body
        self.send(body)


class OpenAPIHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send(openapi_document(self.base_url))


class RunHandler(TrainingAPIHandler):
    """``GET`` one run in full; ``DELETE`` it (409 while it is active)."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        self.send(await self.call(self.manager.run, run_id))

    @web.authenticated
    @authorized
    async def delete(self, run_id: str) -> None:
        self.send(await self.call(self.manager.delete_run, run_id))


class RunFileHandler(TrainingAPIHandler):
    """Download one of a run's own files (checkpoint, history, curves, model card, exports);
    the file is opened and read in a worker thread, a MiB at a time."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str, name: str) -> None:
        fh = await self.call_data(self.manager.open_run_file, run_id, name)
        try:
            self.set_header("Content-Type", mimetypes.guess_type(name)[0] or "application/octet-stream")
            self.set_header("Content-Disposition", f'attachment; filename="{name}"')
            while chunk := await self.call(fh.read, 1 << 20):
                self.write(chunk)
                await self.flush()
        finally:
            await self.call(fh.close)
        self.finish()


class PredictHandler(TrainingAPIHandler):
    @property
    def benchmark(self) -> BenchmarkManager:
        return self.extensionapp.benchmark  # type: ignore[attr-defined]

    @property
    def max_body_bytes(self) -> int:  # windows as JSON: a limit of their own
        return int(self.extensionapp.max_predict_body_bytes)  # type: ignore[attr-defined]

    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        self.send(await self.call_data(self.manager.predict, run_id, self.json_object()))


class EvaluateHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        self.send(await self.call_data(self.manager.evaluate, run_id, self.json_object()))


class ExportHandler(TrainingAPIHandler):
    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        self.send(await self.call_data(self.manager.export, run_id, self.json_object()))


class NotFoundHandler(TrainingAPIHandler):
    """Unknown ``training/...`` paths: a JSON 404 (after authentication).

    One decorated method per verb: ``@authorized`` caches the action of the method it wraps.
    """

    def _missing(self, path: str | None) -> None:
        raise NotFound(f"no such endpoint: training/{path or ''}")

    @web.authenticated
    @authorized
    async def get(self, path: str | None = None) -> None:
        self._missing(path)

    @web.authenticated
    @authorized
    async def post(self, path: str | None = None) -> None:
        self._missing(path)

    @web.authenticated
    @authorized
    async def put(self, path: str | None = None) -> None:
        self._missing(path)

    @web.authenticated
    @authorized
    async def patch(self, path: str | None = None) -> None:
        self._missing(path)

    @web.authenticated
    @authorized
    async def delete(self, path: str | None = None) -> None:
        self._missing(path)


def route_table() -> list[tuple[str, type[TrainingAPIHandler]]]:
    """URL patterns relative to ``base_url``."""
    return [
        (r"/training/start", StartHandler),
        (r"/training/stop", StopHandler),
        (r"/training/status", StatusHandler),
        (r"/training/history", HistoryHandler),
        (r"/training/runs", RunsHandler),
        (r"/training/compare", CompareHandler),
        (r"/training/search", SearchHandler),
        (r"/training/benchmark", BenchmarkHandler),
        (r"/training/runs/([^/]+)", RunHandler),
        (r"/training/runs/([^/]+)/files/([^/]+)", RunFileHandler),
        (r"/training/runs/([^/]+)/predict", PredictHandler),
        (r"/training/runs/([^/]+)/evaluate", EvaluateHandler),
        (r"/training/runs/([^/]+)/export", ExportHandler),
        (r"/training/config", ConfigHandler),
        (r"/training/config/schema", SchemaHandler),
        (r"/training/config/validate", ValidateHandler),
        (r"/training/openapi.json", OpenAPIHandler),
        (r"/training(?:/(.*))?", NotFoundHandler),
    ]
