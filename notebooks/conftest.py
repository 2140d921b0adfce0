"""nbval set-up for the example notebooks: one real Jupyter server with the extension.

Run::

    pytest --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg notebooks/

At the first notebook cell this starts ``jupyter server --allow-root`` (loopback, random
token, temp root). While nbval sets up each notebook (that is when it launches the
notebook's kernel) the environment holds ``EEGTRAIN_SERVER_URL``/``EEGTRAIN_TOKEN``, so the
kernel's :func:`eegtrain_jupyter.client.connect` uses that server, as a kernel launched by
JupyterLab finds its own server; ``EEGTRAIN_ROOT`` (the in-kernel fallback's root) is the
same temp root, so nothing is written into ``notebooks/``. The variables are restored right
after, so tests outside ``notebooks/`` in the same session never see them.

* ``EEGTRAIN_SERVER_URL`` already set: that server is used and none is started.
* ``EEGTRAIN_NBVAL_SERVER=0``: no server; notebooks 01 and 03 then run on the in-kernel
  fallback (02 needs a server and fails).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_state: dict = {}


def _kernel_env() -> dict[str, str]:
    """Start the server (once) and return the variables a notebook kernel should inherit."""
    if "env" in _state:
        return _state["env"]
    tmp = _state["tmp"] = Path(tempfile.mkdtemp(prefix="eegtrain-nbval-"))
    root = tmp / "root"
    root.mkdir()
    env = {
        "EEGTRAIN_ROOT": str(root),
        "MPLBACKEND": "Agg",
        # third-party deprecation notices (braindecode/mne) would make stderr outputs differ by version
        "PYTHONWARNINGS": "ignore::FutureWarning,ignore::DeprecationWarning",
    }
    if not os.environ.get("EEGTRAIN_SERVER_URL") and os.environ.get("EEGTRAIN_NBVAL_SERVER") != "0":
        from eegtrain_jupyter.testing import ServerProcess

        server = ServerProcess(root, runtime_dir=tmp / "runtime", log_path=tmp / "jupyter-server.log")
        _state["server"] = server.start()
        env.update(server.env())
    _state["env"] = env
    return env


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    saved = {}
    for key, value in _kernel_env().items():
        saved[key] = os.environ.get(key)
        os.environ[key] = value
    try:
        return (yield)  # nbval launches the notebook's kernel here
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def pytest_terminal_summary(terminalreporter):
    server = _state.get("server")
    if server is not None:
        terminalreporter.write_line(f"eegtrain notebooks: jupyter server {server.url}, log {server.log_path}")


def pytest_sessionfinish(session, exitstatus):
    _state["exitstatus"] = exitstatus


def pytest_unconfigure(config):
    server = _state.pop("server", None)
    if server is not None:
        server.stop()
    tmp = _state.pop("tmp", None)
    if tmp is not None and _state.get("exitstatus") == 0:  # kept (with the server log) on failure
        shutil.rmtree(tmp, ignore_errors=True)
    _state.clear()
