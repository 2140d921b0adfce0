"""A real ``jupyter server`` with the extension in a subprocess, for tests and CI.

:class:`ServerProcess` serves a temp root on 127.0.0.1 with a random token and its own
runtime folder. :meth:`ServerProcess.env` gives the variables that make
:func:`eegtrain_jupyter.client.connect` (in this process or a kernel) use it.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from .client import TOKEN_ENV, URL_ENV

__all__ = ["ServerProcess", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m jupyter_server --allow-root`` serving ``root_dir``.

    Parameters
    ----------
    root_dir : path
        Server root (the extension's runs and ``save_dir`` live under it).
    runtime_dir : path or None
        ``JUPYTER_RUNTIME_DIR`` of the server (default ``<root_dir>/.runtime``).
    extra_args : list of str
        More command-line options.
    """

    def __init__(self, root_dir, *, runtime_dir=None, extra_args=(), log_path=None):
        self.root_dir = Path(root_dir).resolve()
        self.runtime_dir = Path(runtime_dir or self.root_dir / ".runtime")
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}/"
        self.extra_args = list(extra_args)
        self.log_path = Path(log_path or self.root_dir / ".jupyter-server.log")
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def env(self) -> dict[str, str]:
        """Variables under which :func:`~eegtrain_jupyter.client.connect` picks this server."""
        return {URL_ENV: self.url, TOKEN_ENV: self.token}

    def start(self, timeout: float = 120.0) -> ServerProcess:
        """Launch and wait until ``GET training/config`` answers."""
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(self.runtime_dir)}
        for key in (URL_ENV, TOKEN_ENV):
            env.pop(key, None)
        cmd = [
            sys.executable, "-m", "jupyter_server", "--allow-root", "--no-browser",
            "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root_dir}",
            *self.extra_args,
        ]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=self.root_dir, start_new_session=True)
        deadline = time.monotonic() + timeout
        headers = {"Authorization": f"token {self.token}"}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited ({self.proc.returncode}); see {self.log_path}")
            try:
                if requests.get(f"{self.url}training/config", headers=headers, timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"jupyter server not ready after {timeout}s; see {self.log_path}")

    def stop(self, timeout: float = 40.0) -> int | None:
        """SIGINT-free shutdown: SIGTERM (the extension stops a running training), then SIGKILL."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
