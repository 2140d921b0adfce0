"""Benchmark 5: ``GET {base}training/status`` latency through a real ``jupyter server``.

The server runs as a subprocess (the extension is enabled by the installed jupyter-config);
latencies are measured first with the server idle, then while a fine-tune runs in it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

import numpy as np
import requests

TOKEN = "eegtrain-bench"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyter_server(env: dict[str, str] | None = None, startup_timeout: float = 90.0):
    """Start ``jupyter server`` in a temporary root; yield ``(base_url, session)``."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as root:
        cmd = [sys.executable, "-m", "jupyter_server", "--allow-root", "--no-browser",
               f"--port={port}", "--ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}",
               f"--ServerApp.root_dir={root}"]
        log = open(os.path.join(root, "server.log"), "wb")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=root,
                                env={**os.environ, **(env or {})})
        base = f"http://127.0.0.1:{port}/"
        session = requests.Session()
        session.headers["Authorization"] = f"token {TOKEN}"
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"jupyter server exited: {_tail(root)}")
                try:
                    if session.get(base + "training/status", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter server did not answer in {startup_timeout}s: {_tail(root)}")
                time.sleep(0.25)
            yield base, session
        finally:
            try:
                session.post(base + "training/stop", timeout=5)
            except requests.RequestException:
                pass
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def _tail(root: str) -> str:
    try:
        with open(os.path.join(root, "server.log"), "rb") as fh:
            return fh.read()[-2000:].decode(errors="replace")
    except OSError:
        return ""


def _latencies(session: requests.Session, url: str, n: int, gap: float) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        r = session.get(url, timeout=30)
        out[i] = time.perf_counter() - t0
        r.raise_for_status()
        time.sleep(gap)
    return out * 1000.0


def status_latency(n: int = 300, gap: float = 0.02, n_per_class: int = 100,
                   env: dict[str, str] | None = None, busy_timeout: float = 120.0) -> dict[str, float]:
    """p50/p99 (ms) of ``GET training/status`` idle, then during a fine-tune in the same server."""
    with jupyter_server(env) as (base, session):
        url = base + "training/status"
        _latencies(session, url, 10, 0.0)  # warm-up: connection, first-call imports
        idle = _latencies(session, url, n, gap)
        config = {"freeze_backbone": False, "n_samples_per_class": n_per_class, "n_epochs": 100,
                  "learning_rate": 0.0003, "save_dir": "bench_runs", "device": "cpu"}
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
    return {"idle_p50": pct(idle, 50), "idle_p99": pct(idle, 99),
            "busy_p50": pct(busy, 50), "busy_p99": pct(busy, 99),
            "n": n, "busy_state_after": still}


if __name__ == "__main__":
    print(status_latency(n=int(sys.argv[1]) if len(sys.argv) > 1 else 100))
