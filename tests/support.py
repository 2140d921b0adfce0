"""Helpers the tests import: one ``wait_for`` (sync and async fronts), a REST client for the
in-process server, and the live training threads."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tornado.httpclient import AsyncHTTPClient, HTTPResponse

__all__ = ["Api", "wait_for", "wait_for_async", "training_threads"]

T = TypeVar("T")


class _Deadline:
    def __init__(self, timeout: float, what: str):
        self.end, self.timeout, self.what = time.monotonic() + timeout, timeout, what

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise AssertionError(f"timed out after {self.timeout:.0f}s waiting for {self.what}")


def wait_for(condition: Callable[[], T], timeout: float = 180.0, what: str = "condition",
             interval: float = 0.1) -> T:
    """Call ``condition`` every ``interval`` s until it returns something truthy; return that."""
    deadline = _Deadline(timeout, what)
    while not (value := condition()):
        deadline.check()
        time.sleep(interval)
    return value


async def wait_for_async(condition: Callable[[], Awaitable[T] | T], timeout: float = 180.0,
                         what: str = "condition", interval: float = 0.2) -> T:
    """:func:`wait_for` inside a test's event loop: ``condition`` may be a coroutine function."""
    deadline = _Deadline(timeout, what)
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        deadline.check()
        await asyncio.sleep(interval)


def training_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("eegtrain-") and t.is_alive()]


class Api:
    """REST client for ``{base_url}training/`` that returns ``(code, json_body)``, never raises."""

    def __init__(self, port: int, base_url: str, token: str):
        self.root = f"http://127.0.0.1:{port}{base_url}"
        self.token = token
        self.client = AsyncHTTPClient(force_instance=True, max_clients=64)

    async def raw(self, method: str, path: str, body: bytes | str | None = None, *,
                  headers: dict[str, str] | None = None, token: str | None | bool = True,
                  prefix: str = "training/") -> HTTPResponse:
        hdrs = dict(headers or {})
        if token is True:
            hdrs.setdefault("Authorization", f"token {self.token}")
        elif isinstance(token, str):
            hdrs["Authorization"] = f"token {token}"
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        return await self.client.fetch(
            self.root + prefix + path, method=method, body=body, headers=hdrs,
            raise_error=False, request_timeout=60, follow_redirects=False,
        )

    async def __call__(self, method: str, path: str, payload: Any = None, **kw: Any) -> tuple[int, Any]:
        body = None
        if payload is not None:
            body = json.dumps(payload)
            kw.setdefault("headers", {}).setdefault("Content-Type", "application/json")
        resp = await self.raw(method, path, body, **kw)
        text = resp.body.decode() if resp.body else ""
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = text
        return resp.code, data


def require(module: str):
    """Import ``module``; skip the calling test module when it is missing, but fail under CI
    (``$CI`` set): there a missing test dependency is a broken install, not a reason to skip."""
    import importlib
    import os

    import pytest

    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


def train_tiny(root, **overrides: Any):
    """Train :data:`configs.TINY` (saved under ``root/models``) to completion with a
    :class:`~eegtrain_jupyter.service.TrainingManager` on ``root``; return its final status.

    For module-scoped fixtures: one real run that every test of a module reads (predict, export...).
    """
    from configs import TINY
    from eegtrain_jupyter.service import TrainingManager

    manager = TrainingManager(root, thread_settings=None)
    manager.start({**TINY, "save_dir": "models", **overrides})
    assert manager.wait(600), "the tiny run did not finish in 10 minutes"
    status = manager.status()
    assert status.state.value == "completed", status.error
    return status
