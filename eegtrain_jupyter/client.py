"""Clients for the one trainer: over REST (:class:`RemoteClient`) or in this process (:class:`LocalClient`).

Both speak the REST shapes (plain dicts: status, history, schema, validation result)
and raise the same typed errors, so the notebook panel works against either.
:func:`connect` finds the Jupyter server that launched this kernel and falls back to
an in-kernel trainer, saying why, when there is none with the extension.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Any, Protocol, runtime_checkable

from .config import default_config, json_schema
from .errors import (
    AlreadyTrainingError,
    ConfigError,
    ConnectionFailed,
    EegtrainError,
    ResourceError,
    from_response,
)

__all__ = [
    "ROOT_ENV",
    "TOKEN_ENV",
    "URL_ENV",
    "AlreadyTraining",
    "ClientError",
    "ConnectionFailed",
    "LocalClient",
    "RemoteClient",
    "ResourceUnavailable",
    "TrainingClient",
    "ValidationFailed",
    "connect",
    "find_server",
    "local_manager",
]

URL_ENV = "EEGTRAIN_SERVER_URL"
"""Base URL of a Jupyter server with the extension (e.g. ``http://127.0.0.1:8888/``)."""
TOKEN_ENV = "EEGTRAIN_TOKEN"
"""Its token."""
ROOT_ENV = "EEGTRAIN_ROOT"
"""Root folder of the in-kernel trainer (default: the kernel's working directory)."""


ClientError = EegtrainError
"""Any failure a client reports (the product's one error family)."""
ValidationFailed = ConfigError
"""The config was refused (400); ``errors`` names each bad field."""
AlreadyTraining = AlreadyTrainingError
"""A run is already active (409); ``run_id`` is that run."""
ResourceUnavailable = ResourceError
"""Not enough memory (or GPU memory) for this config (503)."""


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
    def runs(self) -> list[dict[str, Any]]: ...
    def default_config(self) -> dict[str, Any]: ...
    def schema(self) -> dict[str, Any]: ...

    def validate(self, config: dict[str, Any]) -> dict[str, Any]:
        """``{valid, errors: [{field, message}], config}``; never raises for an invalid config."""
        ...

    def describe(self) -> str:
        """One line for humans: where training runs and whether it outlives the kernel."""
        ...

    # using a recorded run (issue 12)
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
    def export(self, run_id: str, format: str = "onnx") -> dict[str, Any]: ...
    def delete_run(self, run_id: str) -> dict[str, Any]: ...

    def wait(self, timeout: float | None = None, poll: float = 0.5) -> dict[str, Any]:
        """Poll until no run is active (or ``timeout`` seconds pass); return the last status."""
        ...


class _WaitMixin:
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


class RemoteClient(_WaitMixin):
    """The REST API under ``{url}training/`` of a Jupyter server with the extension.

    Parameters
    ----------
    url : str
        The server's base URL including its ``base_url`` (``http://host:port/base/``).
    token : str or None
        Jupyter token, sent as ``Authorization: token <token>``.
    timeout : float
        Seconds per request.
    """

    backend = "server"
    survives_kernel = True
    notice: str | None = None

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 10.0):
        self.url = url if url.endswith("/") else url + "/"
        self.token = token or None
        self.timeout = timeout
        self._local = threading.local()  # one requests.Session per thread

    def __repr__(self) -> str:
        return f"RemoteClient({self.url!r})"

    def _session(self):
        import requests

        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            if self.token:
                session.headers["Authorization"] = f"token {self.token}"
        return session

    def _request(
        self, method: str, path: str, body: Any = None, *, timeout: float | None = None, binary: bool = False
    ) -> Any:
        import requests

        url = f"{self.url}training/{path}"
        try:
            resp = self._session().request(method, url, json=body, timeout=timeout or self.timeout)
        except requests.RequestException as exc:
            raise ConnectionFailed(f"cannot reach {self.url}: {type(exc).__name__}") from exc
        if binary and resp.status_code == 200:
            return resp.content
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.status_code == 200 and data is not None:
            return data
        if resp.status_code in (401, 403):
            raise ConnectionFailed(f"{self.url} refused the token ({resp.status_code})")
        if resp.status_code == 404 and not (isinstance(data, dict) and data.get("type")):
            raise ConnectionFailed(f"{self.url} has no eegtrain extension ({url} answered 404)")
        if not isinstance(data, dict) or "error" not in data:
            data = {"error": f"{method} {url}: HTTP {resp.status_code} {resp.reason}"}
        raise from_response(resp.status_code, data)

    def start(self, config=None):
        return self._request("POST", "start", config or {})

    def stop(self):
        return self._request("POST", "stop", {})

    def status(self):
        return self._request("GET", "status")

    def history(self):
        return self._request("GET", "history")

    def runs(self, **query: Any) -> list[dict[str, Any]]:
        """Recorded runs; ``query``: ``state``, ``model``, ``sort``, ``order``, ``limit``."""
        from urllib.parse import urlencode

        suffix = "?" + urlencode({k: v for k, v in query.items() if v is not None}) if query else ""
        return self._request("GET", "runs" + suffix)["runs"]

    def compare(self, run_ids: list[str] | str) -> dict[str, Any]:
        """Runs side by side (the ``Comparison`` shape)."""
        from urllib.parse import quote

        ids = run_ids if isinstance(run_ids, str) else ",".join(run_ids)
        return self._request("GET", "compare?runs=" + quote(ids, safe=","))

    def start_search(self, request: dict[str, Any]) -> dict[str, Any]:
        """Start a hyper-parameter search (``SearchRequest`` body); returns ``SearchStatus``."""
        return self._request("POST", "search", request)

    def search_status(self) -> dict[str, Any]:
        return self._request("GET", "search")

    def default_config(self):
        return self._request("GET", "config")

    def schema(self):
        return self._request("GET", "config/schema")

    def validate(self, config):
        return self._request("POST", "config/validate", config)

    def describe(self) -> str:
        return f"server {self.url} (survives kernel restarts)"

    def run(self, run_id):
        return self._request("GET", f"runs/{_quote(run_id)}")

    def run_file(self, run_id, name):
        """The file's bytes (checkpoint, history, curves, model card, exports)."""
        return self._request(
            "GET", f"runs/{_quote(run_id)}/files/{_quote(name)}", binary=True, timeout=max(self.timeout, 120)
        )

    def predict(self, run_id, windows=None, *, path=None, ch_names=None, step_s=None):
        """Per-window ``probabilities`` and ``labels``: ``windows`` (n, n_chans, n_times) µV, or a ``path``
        inside the server root. The body must fit the server's ``max_body_bytes``."""
        return self._request(
            "POST",
            f"runs/{_quote(run_id)}/predict",
            _predict_body(windows, path, ch_names, step_s),
            timeout=max(self.timeout, 120),
        )

    def export(self, run_id, format="onnx"):
        """Export the run's model on the server (takes tens of seconds on a CPU); the file and its parity."""
        return self._request(
            "POST", f"runs/{_quote(run_id)}/export", {"format": format}, timeout=max(self.timeout, 600)
        )

    def delete_run(self, run_id):
        return self._request("DELETE", f"runs/{_quote(run_id)}")


def _quote(part: str) -> str:
    from urllib.parse import quote

    return quote(str(part), safe="")


def _predict_body(
    windows: Any, path: str | None, ch_names: list[str] | None, step_s: float | None
) -> dict[str, Any]:
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


_local_lock = threading.Lock()
_local_managers: dict[str, Any] = {}
_local_searches: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # by manager


def local_manager(root_dir: str | os.PathLike | None = None):
    """This process's :class:`~.service.TrainingManager` for ``root_dir`` (created once, then shared).

    ``root_dir`` defaults to ``$EEGTRAIN_ROOT`` or the working directory.
    """
    from .service import TrainingManager

    root = os.path.abspath(root_dir or os.environ.get(ROOT_ENV) or os.getcwd())
    with _local_lock:
        if root not in _local_managers:
            _local_managers[root] = TrainingManager(root)
        return _local_managers[root]


class LocalClient(_WaitMixin):
    """A :class:`~.service.TrainingManager` in this process (training stops with the kernel).

    Parameters
    ----------
    manager : TrainingManager or None
        Defaults to :func:`local_manager`.
    """

    backend = "local"
    survives_kernel = False

    def __init__(self, manager=None, *, notice: str | None = None):
        self.manager = manager if manager is not None else local_manager()
        self.notice = notice

    def __repr__(self) -> str:
        return f"LocalClient(root_dir={str(self.manager.root_dir)!r})"

    def start(self, config=None, *, data=None, **data_options):
        """Start a run; ``data`` (``mne.Epochs``, numpy ``(X, y)``, a braindecode dataset or
        ``Windows``; see :func:`~eegtrain_jupyter.inputs.as_windows`) replaces ``config.data``."""
        if data is not None:
            from .inputs import as_windows

            data = as_windows(data, **data_options)
        return self.manager.start(config or {}, data=data).to_json()

    def stop(self):
        return self.manager.stop().to_json()

    def status(self):
        return self.manager.status().to_json()

    def history(self):
        return self.manager.history().to_json()

    def runs(self, **query: Any) -> list[dict[str, Any]]:
        """Recorded runs; ``query``: ``state``, ``model``, ``sort``, ``order``, ``limit``."""
        args = {k: str(v) for k, v in query.items() if v is not None}
        return [run.to_json() for run in self.manager.runs(args or None)]

    def compare(self, run_ids: list[str] | str) -> dict[str, Any]:
        return self.manager.compare(run_ids).to_json()

    @property
    def search(self) -> Any:
        """This manager's :class:`~.search.SearchManager` (one per manager, created on first use)."""
        from .search import SearchManager

        with _local_lock:
            if self.manager not in _local_searches:
                _local_searches[self.manager] = SearchManager(self.manager)
            return _local_searches[self.manager]

    def start_search(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.search.start(request).to_json()

    def search_status(self) -> dict[str, Any]:
        return self.search.status().to_json()

    def default_config(self):
        return default_config().model_dump()

    def schema(self):
        return json_schema()

    def validate(self, config):
        return self.manager.validate(config).to_json()

    def describe(self) -> str:
        return f"in this kernel, root {self.manager.root_dir} (stops with the kernel)"

    def run(self, run_id):
        return self.manager.run(run_id).to_json()

    def run_file(self, run_id, name):
        return self.manager.run_file(run_id, name).read_bytes()

    def predict(self, run_id, windows=None, *, path=None, ch_names=None, step_s=None):
        return self.manager.predict(run_id, _predict_body(windows, path, ch_names, step_s)).to_json()

    def export(self, run_id, format="onnx"):
        return self.manager.export(run_id, {"format": format}).to_json()

    def delete_run(self, run_id):
        return self.manager.delete_run(run_id).to_json()


def find_server(parent_pid: int | None = None, runtime_dir: str | None = None) -> dict[str, Any] | None:
    """The running Jupyter server whose pid is ``parent_pid`` (default ``$JPY_PARENT_PID``), or None.

    Returns the server's info dict (``url``, ``token``, ``root_dir``, ``pid``, ...).
    """
    if parent_pid is None:
        try:
            parent_pid = int(os.environ.get("JPY_PARENT_PID") or 0)
        except ValueError:
            return None
    if not parent_pid:
        return None
    from jupyter_server.serverapp import list_running_servers

    for info in list_running_servers(runtime_dir):
        if info.get("pid") == parent_pid:
            return info
    return None


def _probe(client: RemoteClient) -> RemoteClient:
    config = client.default_config()  # raises ConnectionFailed on any failure
    if not isinstance(config, dict) or "n_epochs" not in config:
        raise ConnectionFailed(f"{client.url}training/config did not answer a training config")
    return client


def connect(
    url: str | None = None,
    token: str | None = None,
    *,
    require_server: bool = False,
    timeout: float = 10.0,
) -> TrainingClient:
    """A client for the trainer this notebook should drive.

    Tries, in order: ``url``/``token`` given here (failure raises); ``$EEGTRAIN_SERVER_URL``
    and ``$EEGTRAIN_TOKEN``; the Jupyter server that launched this kernel
    (``$JPY_PARENT_PID`` in ``list_running_servers()``). Each candidate must answer
    ``GET training/config``. With none, returns a :class:`LocalClient` whose ``notice``
    says why, unless ``require_server`` (then raises :class:`ConnectionFailed`).
    """
    if url:
        return _probe(RemoteClient(url, token or os.environ.get(TOKEN_ENV), timeout=timeout))
    reasons = []
    env_url = os.environ.get(URL_ENV)
    if env_url:
        try:
            return _probe(RemoteClient(env_url, token or os.environ.get(TOKEN_ENV), timeout=timeout))
        except ClientError as exc:
            reasons.append(f"${URL_ENV}: {exc}")
    info = find_server()
    if info is not None:
        try:
            return _probe(RemoteClient(info["url"], token or info.get("token"), timeout=timeout))
        except ClientError as exc:
            reasons.append(f"parent server: {exc}")
    else:
        reasons.append("this kernel was not launched by a running Jupyter server")
    why = "no Jupyter server with the eegtrain extension: " + "; ".join(reasons)
    if require_server:
        raise ConnectionFailed(why)
    return LocalClient(notice=why + " — training runs in this kernel instead")
