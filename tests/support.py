"""Helpers the tests import: one ``wait_for`` (sync and async fronts), a REST client for the
in-process server, the live training threads, and :class:`FakeClient` for form/panel logic."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tornado.httpclient import AsyncHTTPClient, HTTPResponse

__all__ = ["Api", "FakeClient", "require", "status_shape", "training_threads", "wait_for", "wait_for_async"]

T = TypeVar("T")


class _Deadline:
    def __init__(self, timeout: float, what: str):
        self.end, self.timeout, self.what = time.monotonic() + timeout, timeout, what

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise AssertionError(f"timed out after {self.timeout:.0f}s waiting for {self.what}")


def wait_for(
    condition: Callable[[], T], timeout: float = 180.0, what: str = "condition", interval: float = 0.1
) -> T:
    """Call ``condition`` every ``interval`` s until it returns something truthy; return that."""
    deadline = _Deadline(timeout, what)
    while not (value := condition()):
        deadline.check()
        time.sleep(interval)
    return value


async def wait_for_async(
    condition: Callable[[], Awaitable[T] | T],
    timeout: float = 180.0,
    what: str = "condition",
    interval: float = 0.2,
) -> T:
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

    async def raw(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        *,
        headers: dict[str, str] | None = None,
        token: str | bool | None = True,
        prefix: str = "training/",
    ) -> HTTPResponse:
        hdrs = dict(headers or {})
        if token is True:
            hdrs.setdefault("Authorization", f"token {self.token}")
        elif isinstance(token, str):
            hdrs["Authorization"] = f"token {token}"
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        return await self.client.fetch(
            self.root + prefix + path,
            method=method,
            body=body,
            headers=hdrs,
            raise_error=False,
            request_timeout=60,
            follow_redirects=False,
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


def status_shape(**fields: Any) -> dict[str, Any]:
    """A status as the service sends it: :meth:`Status.idle` with ``fields`` set, validated by the
    real pydantic model (an unknown key or a wrong type fails here, not in the panel)."""
    from eegtrain_jupyter.schemas import Status

    return Status.model_validate({**Status.idle().to_json(), **fields}).to_json()


class FakeClient:
    """A :class:`~eegtrain_jupyter.client.TrainingClient` that trains nothing: for testing what the
    form and the panel do with a status, without a trainer.

    Statuses are the service's own shapes (:func:`status_shape`); configs are checked by the real
    :func:`~eegtrain_jupyter.config.training.validate_config`, and ``start`` raises the real errors.

    Parameters
    ----------
    backend : str
        ``"server"`` or ``"local"``.
    runs : list of dict
        What :meth:`runs` lists (run records, newest first).
    **status : Any
        Fields of the first status (default: idle).

    Attributes
    ----------
    started : list of dict
        The configs :meth:`start` accepted, in order.
    """

    survives_kernel = True
    notice: str | None = None

    def __init__(self, *, backend: str = "server", runs: list[dict[str, Any]] | None = None, **status: Any):
        self.backend = backend
        self._runs = list(runs or [])
        self._status = status_shape(**status)
        self.started: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return f"FakeClient(backend={self.backend!r})"

    def set_status(self, **fields: Any) -> dict[str, Any]:
        """Replace the status (fields on top of idle); returns it."""
        self._status = status_shape(**fields)
        return self.status()

    def status(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._status))  # a fresh copy, as each REST answer is

    def start(self, config: dict[str, Any] | None = None) -> dict[str, Any]:
        from eegtrain_jupyter.errors import AlreadyTrainingError, ConfigError

        if self._status["is_training"]:
            raise AlreadyTrainingError(self._status["run_id"])
        result = self._validation(config or {})
        if not result.valid:
            raise ConfigError(result.errors)
        assert result.config is not None
        self.started.append(result.config.model_dump(mode="json"))
        return self.set_status(
            is_training=True,
            state="preparing",
            phase="preparing data",
            run_id=f"20250101-000000-{len(self.started):06x}",
            config=result.config.model_dump(mode="json"),
            total_epochs=result.config.n_epochs,
        )

    def stop(self) -> dict[str, Any]:
        if self._status["is_training"]:
            self.set_status(
                **{**self._status, "is_training": False, "state": "stopped", "phase": None, "batch": None}
            )
        return self.status()

    def history(self) -> dict[str, Any]:
        from eegtrain_jupyter.schemas import History

        return History(
            run_id=self._status["run_id"],
            state=self._status["state"],
            epoch_times=[],
            best_val_acc=self._status["best_val_acc"],
            best_epoch=self._status["best_epoch"],
            **self._status["history"],
        ).to_json()

    def runs(self, **query: Any) -> list[dict[str, Any]]:
        return list(self._runs)

    def compare(self, run_ids: list[str] | str) -> dict[str, Any]:
        ids = run_ids.split(",") if isinstance(run_ids, str) else list(run_ids)
        return self._no_run(ids[0] if ids else "")  # keeps no histories: the service's 404

    def start_search(self, request: dict[str, Any]) -> dict[str, Any]:
        from eegtrain_jupyter.errors import ResourceError

        raise ResourceError("FakeClient runs no searches")

    def search_status(self) -> dict[str, Any]:
        from eegtrain_jupyter.schemas import SearchState, SearchStatus

        nothing = dict.fromkeys(("search_id", "request", "storage", "direction", "started_at", "finished_at"))
        return SearchStatus(
            **nothing,
            state=SearchState.IDLE,
            error=None,
            current_run_id=None,
            n_finished=0,
            trials=[],
            best=None,
        ).to_json()

    def start_benchmark(self, models=None, config=None, *, resume=None) -> dict[str, Any]:
        from eegtrain_jupyter.errors import ResourceError

        raise ResourceError("FakeClient runs no benchmarks")

    def benchmark_status(self) -> dict[str, Any]:
        from eegtrain_jupyter.schemas import BenchmarkState, BenchmarkStatus

        nothing = dict.fromkeys(
            ("benchmark_id", "request", "protocol", "n_folds", "folder", "started_at", "finished_at", "error")
        )
        return BenchmarkStatus(
            **nothing,
            state=BenchmarkState.IDLE,
            n_runs=0,
            n_finished=0,
            current_run_id=None,
            results=[],
            summary=None,
        ).to_json()

    def default_config(self) -> dict[str, Any]:
        from eegtrain_jupyter.config.training import default_config

        return default_config().model_dump(mode="json")

    def schema(self) -> dict[str, Any]:
        from eegtrain_jupyter.config.training import json_schema

        return json_schema()

    def validate(self, config: dict[str, Any]) -> dict[str, Any]:
        from eegtrain_jupyter.schemas import ValidationBody

        result = self._validation(config)
        return ValidationBody(
            valid=result.valid, errors=[e.to_dict() for e in result.errors], config=result.config
        ).to_json()

    # a trained run's endpoints: this client has no runs on disk, so each is the service's 404
    def _no_run(self, run_id: str) -> Any:
        from eegtrain_jupyter.errors import NotFound

        raise NotFound(f"no run {run_id!r} (FakeClient keeps no runs on disk)")

    def run(self, run_id: str) -> dict[str, Any]:
        return self._no_run(run_id)

    def run_file(self, run_id: str, name: str) -> bytes:
        return self._no_run(run_id)

    def predict(
        self, run_id: str, windows: Any = None, *, path: str | None = None, **_: Any
    ) -> dict[str, Any]:
        return self._no_run(run_id)

    def evaluate(self, run_id: str, files: Any, **_: Any) -> dict[str, Any]:
        return self._no_run(run_id)

    def export(self, run_id: str, format: str = "onnx") -> dict[str, Any]:
        return self._no_run(run_id)

    def delete_run(self, run_id: str) -> dict[str, Any]:
        return self._no_run(run_id)

    def describe(self) -> str:
        return f"{self.backend} http://example.invalid/ (survives kernel restarts)"

    def wait(self, timeout: float | None = None, poll: float = 0.5) -> dict[str, Any]:
        return self.status()  # nothing runs: the status changes only by set_status/start/stop

    @staticmethod
    def _validation(config: dict[str, Any]):
        from eegtrain_jupyter.config.training import validate_config

        return validate_config(config)


def train_tiny(root, **overrides: Any):
    """Train :data:`configs.TINY` (saved under ``root/models``) to completion with a
    :class:`~eegtrain_jupyter.service.manager.TrainingManager` on ``root``; return its final status.

    For module-scoped fixtures: one real run that every test of a module reads (predict, export...).
    """
    from configs import TINY

    from eegtrain_jupyter.service.manager import TrainingManager

    manager = TrainingManager(root, thread_settings=None)
    manager.start({**TINY, "save_dir": "models", **overrides})
    assert manager.wait(600), "the tiny run did not finish in 10 minutes"
    status = manager.status()
    assert status.state.value == "completed", status.error
    return status
