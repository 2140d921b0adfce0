"""Benchmark 5: ``GET {base}training/status`` latency through a real ``jupyter server``.

The server runs as a subprocess (the extension is enabled by the installed jupyter-config);
latencies are measured first with the server idle, then while a fine-tune runs in it.
"""

from __future__ import annotations

import sys
import tempfile
import time
from contextlib import contextmanager, suppress

import numpy as np
import requests

from eegtrain_jupyter.testing import ServerProcess


@contextmanager
def jupyter_server(env: dict[str, str] | None = None):
    """Start ``jupyter server`` in a temporary root; yield ``(base_url, session)``."""
    with tempfile.TemporaryDirectory() as root, ServerProcess(root, env=env) as server:
        session = requests.Session()
        session.headers["Authorization"] = f"token {server.token}"
        try:
            yield server.url, session
        finally:
            with suppress(requests.RequestException):
                session.post(server.url + "training/stop", timeout=5)


def _latencies(session: requests.Session, url: str, n: int, gap: float) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        r = session.get(url, timeout=30)
        out[i] = time.perf_counter() - t0
        r.raise_for_status()
        time.sleep(gap)
    return out * 1000.0


def status_latency(
    n: int = 300,
    gap: float = 0.02,
    n_per_class: int = 100,
    env: dict[str, str] | None = None,
    busy_timeout: float = 120.0,
) -> dict[str, float]:
    """p50/p99 (ms) of ``GET training/status`` idle, then during a fine-tune in the same server."""
    with jupyter_server(env) as (base, session):
        url = base + "training/status"
        _latencies(session, url, 10, 0.0)  # warm-up: connection, first-call imports
        idle = _latencies(session, url, n, gap)
        config = {
            "freeze_backbone": False,
            "n_samples_per_class": n_per_class,
            "n_epochs": 100,
            "learning_rate": 0.0003,
            "save_dir": "bench_runs",
            "device": "cpu",
        }
        r = session.post(base + "training/start", json=config, timeout=30)
        r.raise_for_status()
        deadline = time.monotonic() + busy_timeout
        while True:  # wait until batches are running (not just data generation)
            status = session.get(url, timeout=30).json()
            if status["state"] == "training" and status.get("batch"):
                break
            if not status["is_training"] or time.monotonic() > deadline:
                raise RuntimeError(f"training did not start: {status.get('state')} {status.get('error')}")
            time.sleep(0.2)
        busy = _latencies(session, url, n, gap)
        still = session.get(url, timeout=30).json()["state"]
    pct = lambda a, q: float(np.percentile(a, q))  # noqa: E731
    return {
        "idle_p50": pct(idle, 50),
        "idle_p99": pct(idle, 99),
        "busy_p50": pct(busy, 50),
        "busy_p99": pct(busy, 99),
        "n": n,
        "busy_state_after": still,
    }


if __name__ == "__main__":
    print(status_latency(n=int(sys.argv[1]) if len(sys.argv) > 1 else 100))
