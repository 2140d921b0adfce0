"""Fixtures for the server-extension tests: a real Jupyter server (pytest-jupyter) with
the extension enabled, its TrainingManager, and a small REST client.

Test modules import what they use: ``from server_fixtures import *``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from traitlets.config import Config

from eegtrain_jupyter.handlers import MANAGER_KEY

__all__ = [
    "QUICK", "FINETUNE", "server_config_extra", "jp_server_config", "manager", "api",
    "Api", "wait_for", "training_threads",
]

QUICK = {"n_epochs": 2, "n_samples_per_class": 100, "batch_size": 32, "save_dir": "models"}
"""A complete run in seconds: 200 windows, frozen backbone, two epochs."""

FINETUNE = {"n_epochs": 20, "n_samples_per_class": 100, "val_split": 0.5, "batch_size": 64,
            "freeze_backbone": False, "save_dir": "models"}
"""A long fine-tuning run (a few seconds per epoch) to stop part-way."""


@pytest.fixture
def server_config_extra() -> dict[str, Any]:
    """Extra server config for one test (override with ``pytest.mark.parametrize``)."""
    return {}


@pytest.fixture
def jp_server_config(server_config_extra):
    config = Config({"ServerApp": {"jpserver_extensions": {"eegtrain_jupyter": True}}})
    config.merge(Config(server_config_extra))
    return config


@pytest.fixture
def manager(jp_serverapp):
    """The server's one TrainingManager."""
    return jp_serverapp.web_app.settings[MANAGER_KEY]


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

    async def __call__(self, method: str, path: str, payload: Any = None, **kw) -> tuple[int, Any]:
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


@pytest.fixture
def api(jp_serverapp, http_server_client, http_server_port, jp_base_url, manager):
    client = Api(http_server_port[1], jp_base_url, jp_serverapp.identity_provider.token)
    yield client
    manager.shutdown(60)  # never leave a training thread to the next test
    client.client.close()


async def wait_for(predicate: Callable[[], Awaitable[bool] | bool], timeout: float = 180.0,
                   what: str = "condition") -> None:
    """Poll ``predicate`` (sync or async) every 0.2 s until true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.2)
