"""A real ``jupyter server`` with the extension in a subprocess, for tests and CI.

:class:`ServerProcess` serves a temp root on 127.0.0.1 with a random token and its own
runtime folder. :meth:`ServerProcess.env` gives the variables that make
:func:`eegtrain_jupyter.client.connect` (in this process or a kernel) use it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from .client import ROOT_ENV, TOKEN_ENV, URL_ENV

__all__ = ["ServerProcess", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m jupyter_server --allow-root`` (or ``jupyterlab``) serving ``root_dir``.

    Parameters
    ----------
    root_dir : path
        Server root (the extension's runs and ``save_dir`` live under it).
    runtime_dir : path or None
        ``JUPYTER_RUNTIME_DIR`` of the server (default ``<root_dir>/.runtime``).
    extra_args : list of str
        More command-line options.
    env : dict, optional
        More environment variables for the server (and the kernels it starts).
    module : str
        ``jupyter_server`` or ``jupyterlab``.
    """

    def __init__(
        self, root_dir, *, runtime_dir=None, extra_args=(), log_path=None, env=None, module="jupyter_server"
    ):
        self.root_dir = Path(root_dir).resolve()
        self.runtime_dir = Path(runtime_dir or self.root_dir / ".runtime")
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}/"
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.module = module
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
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(self.runtime_dir), **self.extra_env}
        # its kernels must find THIS server, not one named by the environment
        for key in (URL_ENV, TOKEN_ENV, ROOT_ENV, "JUPYTER_TOKEN"):
            env.pop(key, None)
        cmd = [
            sys.executable,
            "-m",
            self.module,
            "--allow-root",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            *self.extra_args,
        ]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (open for the process's lifetime; closed in stop())
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.root_dir,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        headers = {"Authorization": f"token {self.token}"}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}training/config", headers=headers, timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"{self.module} not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 40.0) -> int | None:
        """SIGINT-free shutdown of the server's process group: SIGTERM (the extension stops a
        running training), then SIGKILL."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            _signal_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal the server and whatever it started in its session (kernels, terminals)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
