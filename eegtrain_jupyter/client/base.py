"""What every client is: the :class:`TrainingClient` protocol and its environment variables.

Clients raise :mod:`~eegtrain_jupyter.errors`' classes (:class:`~eegtrain_jupyter.errors.EegtrainError`
and its subclasses), the same ones the service raises."""

from __future__ import annotations

import time
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "ROOT_ENV",
    "TOKEN_ENV",
    "URL_ENV",
    "TrainingClient",
    "Waiting",
    "evaluate_body",
    "predict_body",
]

URL_ENV = "EEGTRAIN_SERVER_URL"
"""Base URL of a Jupyter server with the extension (e.g. ``http://127.0.0.1:8888/``)."""
TOKEN_ENV = "EEGTRAIN_TOKEN"
"""Its token."""
ROOT_ENV = "EEGTRAIN_ROOT"
"""Root folder of the in-kernel trainer (default: the kernel's working directory)."""


@runtime_checkable
class TrainingClient(Protocol):
    """What the panel needs from a trainer: :class:`RemoteClient` or :class:`LocalClient`.

    Every method returns the REST shapes as plain dicts (:mod:`~eegtrain_jupyter.schemas`)
    and raises :class:`~eegtrain_jupyter.errors.EegtrainError` subclasses.

    Attributes
    ----------
    backend : str
        ``"server"`` or ``"local"``.
    survives_kernel : bool
        Whether training goes on when this kernel ends.
    notice : str or None
        Why :func:`connect` chose this backend when it was not the first choice.
    """

    backend: str
    survives_kernel: bool
    notice: str | None

    def start(self, config: dict[str, Any] | None = None) -> dict[str, Any]: ...
    def stop(self) -> dict[str, Any]: ...
    def status(self) -> dict[str, Any]: ...
    def history(self) -> dict[str, Any]: ...
    def runs(self, **query: Any) -> list[dict[str, Any]]:
        """Recorded runs, newest first; ``query``: ``state``, ``model``, ``sort``, ``order``, ``limit``."""
        ...

    def compare(self, run_ids: list[str] | str) -> dict[str, Any]:
        """Runs side by side: aligned histories and config differences (``Comparison``)."""
        ...

    def start_search(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def search_status(self) -> dict[str, Any]: ...

    def start_benchmark(
        self,
        models: list[str | dict[str, Any]] | None = None,
        config: dict[str, Any] | None = None,
        *,
        resume: str | None = None,
    ) -> dict[str, Any]:
        """Start a benchmark of ``models`` (names, or ``{label, config}`` entries) on every fold of
        ``config``'s evaluation protocol, or ``resume`` one; returns ``BenchmarkStatus``."""
        ...

    def benchmark_status(self) -> dict[str, Any]:
        """The current/last benchmark: its runs, scores and summary (``BenchmarkStatus``)."""
        ...

    def default_config(self) -> dict[str, Any]: ...
    def schema(self) -> dict[str, Any]: ...

    def validate(self, config: dict[str, Any]) -> dict[str, Any]:
        """``{valid, errors: [{field, message}], config}``; never raises for an invalid config."""
        ...

    def describe(self) -> str:
        """One line for humans: where training runs and whether it outlives the kernel."""
        ...

    # using a recorded run
    def run(self, run_id: str) -> dict[str, Any]: ...
    def run_file(self, run_id: str, name: str) -> bytes: ...
    def predict(
        self,
        run_id: str,
        windows: Any = None,
        *,
        path: str | None = None,
        ch_names: list[str] | None = None,
        step_s: float | None = None,
    ) -> dict[str, Any]: ...
    def evaluate(self, run_id: str, files: list[str] | str, **overrides: Any) -> dict[str, Any]:
        """The run's model scored on labelled recordings inside the root (the test report's
        shape); ``overrides``: ``labels``, ``subject_pattern``, ``subjects``, ``channel_map``,
        ``sliding``, ``step_s`` (:class:`~eegtrain_jupyter.schemas.EvaluateRequest`)."""
        ...

    def export(self, run_id: str, format: str = "onnx") -> dict[str, Any]: ...
    def delete_run(self, run_id: str) -> dict[str, Any]: ...

    def wait(self, timeout: float | None = None, poll: float = 0.5) -> dict[str, Any]:
        """Poll until no run is active (or ``timeout`` seconds pass); return the last status."""
        ...


class Waiting:
    """``wait()`` by polling ``status()``."""

    def status(self) -> dict[str, Any]:
        raise NotImplementedError

    def wait(self, timeout: float | None = None, poll: float = 0.5) -> dict[str, Any]:
        """Poll until no run is active (or ``timeout`` seconds pass); return the last status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status()
            if not status["is_training"]:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                return status
            time.sleep(poll)


def benchmark_body(
    models: list[str | dict[str, Any]] | None, config: dict[str, Any] | None, resume: str | None
) -> dict[str, Any]:
    """The ``POST /training/benchmark`` body from the client methods' arguments."""
    if resume is not None:
        return {"resume": resume}
    return {"config": dict(config or {}), "models": list(models or [])}


def evaluate_body(files: list[str] | str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The ``POST /training/runs/{run_id}/evaluate`` body from the client methods' arguments."""
    return {"files": [files] if isinstance(files, str) else [str(f) for f in files], **overrides}


def predict_body(
    windows: Any, path: str | None, ch_names: list[str] | None, step_s: float | None
) -> dict[str, Any]:
    """The ``POST /training/runs/{run_id}/predict`` body from the client methods' arguments."""
    body: dict[str, Any] = {}
    if windows is not None:
        body["windows"] = windows.tolist() if hasattr(windows, "tolist") else windows
    if ch_names is not None:
        body["ch_names"] = [str(n) for n in ch_names]
    if path is not None:
        body["path"] = str(path)
    if step_s is not None:
        body["step_s"] = step_s
    return body
