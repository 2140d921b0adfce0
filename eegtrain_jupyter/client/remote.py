"""The trainer of a Jupyter server with the extension, over REST."""

from __future__ import annotations

import threading
from typing import Any

from ..errors import ConnectionFailed, from_response
from .base import Waiting, benchmark_body, evaluate_body, predict_body

__all__ = ["RemoteClient"]


class RemoteClient(Waiting):
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

    def start_benchmark(
        self,
        models: list[str | dict[str, Any]] | None = None,
        config: dict[str, Any] | None = None,
        *,
        resume: str | None = None,
    ) -> dict[str, Any]:
        """Start (or resume) a benchmark (``BenchmarkRequest`` body); returns ``BenchmarkStatus``.

        The server checks every model's config against the data (all folds) before answering: on
        recordings not read before that is a scan of the files, so the call may take longer than
        the client's ``timeout`` (at least 120 s are allowed)."""
        return self._request(
            "POST", "benchmark", benchmark_body(models, config, resume), timeout=max(self.timeout, 120)
        )

    def benchmark_status(self) -> dict[str, Any]:
        return self._request("GET", "benchmark")

    def default_config(self):
        return self._request("GET", "config")

    def schema(self):
        return self._request("GET", "config/schema")

    def validate(self, config):
        """The server's verdict on ``config``; a ``files``/``epochs`` source is scanned (recordings
        read by the data worker, started on first use), so that call may take as long as a prediction."""
        data = config.get("data") if isinstance(config, dict) else None
        scanned = isinstance(data, dict) and data.get("source", "synthetic") != "synthetic"
        return self._request(
            "POST", "config/validate", config, timeout=max(self.timeout, 120) if scanned else None
        )

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
            predict_body(windows, path, ch_names, step_s),
            timeout=max(self.timeout, 120),
        )

    def evaluate(self, run_id, files, **overrides):
        """The run's model scored on labelled recordings inside the server root (read in the
        server's data worker): the test report's shape."""
        return self._request(
            "POST",
            f"runs/{_quote(run_id)}/evaluate",
            evaluate_body(files, overrides),
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
