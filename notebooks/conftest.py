"""nbval set-up for the example notebooks: one real Jupyter server with the extension.

Run::

    pytest --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg notebooks/

Before any kernel starts, this starts ``jupyter server --allow-root`` (loopback, random
token, temp root) and exports ``EEGTRAIN_SERVER_URL``/``EEGTRAIN_TOKEN`` so that each
notebook kernel's :func:`eegtrain_jupyter.client.connect` uses it, as a kernel launched by
JupyterLab would find its own server. ``EEGTRAIN_ROOT`` (the in-kernel fallback's root)
points at the same temp folder, so nothing is written into ``notebooks/``.

* ``EEGTRAIN_SERVER_URL`` already set: that server is used and none is started.
* ``EEGTRAIN_NBVAL_SERVER=0``: no server; notebooks 01 and 03 then run on the in-kernel
  fallback (02 needs a server and fails).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_server = None
_tmp = None
_saved_env: dict[str, str | None] = {}


def _setenv(key: str, value: str) -> None:
    _saved_env.setdefault(key, os.environ.get(key))
    os.environ[key] = value


def pytest_configure(config):
    global _server, _tmp
    if not getattr(config.option, "nbval", False) and not getattr(config.option, "nbval_lax", False):
        return
    _tmp = Path(tempfile.mkdtemp(prefix="eegtrain-nbval-"))
    root = _tmp / "root"
    root.mkdir()
    _setenv("EEGTRAIN_ROOT", str(root))
    _setenv("MPLBACKEND", "Agg")
    # third-party deprecation notices (braindecode/mne) would make stderr outputs differ by version
    _setenv("PYTHONWARNINGS", "ignore::FutureWarning,ignore::DeprecationWarning")
    if os.environ.get("EEGTRAIN_SERVER_URL") or os.environ.get("EEGTRAIN_NBVAL_SERVER") == "0":
        return
    from eegtrain_jupyter.testing import ServerProcess

    _server = ServerProcess(root, runtime_dir=_tmp / "runtime", log_path=_tmp / "jupyter-server.log")
    _server.start()
    for key, value in _server.env().items():
        _setenv(key, value)


def pytest_report_header(config):
    if _server is not None:
        return f"eegtrain: notebooks use jupyter server {_server.url} (root {_server.root_dir})"
    if _tmp is not None:
        return f"eegtrain: notebooks without a started server (root {os.environ.get('EEGTRAIN_ROOT')})"
    return None


def pytest_unconfigure(config):
    global _server, _tmp
    if _server is not None:
        _server.stop()
        _server = None
    for key, value in _saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _saved_env.clear()
    if _tmp is not None:
        shutil.rmtree(_tmp, ignore_errors=True)
        _tmp = None
