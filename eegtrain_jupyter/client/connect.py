"""Which trainer a notebook drives: the Jupyter server that launched the kernel, or this kernel."""

from __future__ import annotations

import os
from typing import Any

from ..errors import ConnectionFailed, EegtrainError
from .base import TOKEN_ENV, URL_ENV, TrainingClient
from .local import LocalClient
from .remote import RemoteClient

__all__ = ["connect", "find_server"]


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
        except EegtrainError as exc:
            reasons.append(f"${URL_ENV}: {exc}")
    info = find_server()
    if info is not None:
        try:
            return _probe(RemoteClient(info["url"], token or info.get("token"), timeout=timeout))
        except EegtrainError as exc:
            reasons.append(f"parent server: {exc}")
    else:
        reasons.append("this kernel was not launched by a running Jupyter server")
    why = "no Jupyter server with the eegtrain extension: " + "; ".join(reasons)
    if require_server:
        raise ConnectionFailed(why)
    return LocalClient(notice=why + " — training runs in this kernel instead")
