"""Fixtures for every test module: tiny configs, and a real Jupyter server (pytest-jupyter's
``jp_serverapp``) with the extension enabled, its TrainingManager and a REST client.

Tests that need a real server, a browser, a notebook kernel or minutes of training are marked
``slow`` (the server ones automatically); ``make test-fast`` runs the rest.
"""

from __future__ import annotations

from typing import Any

import pytest
from configs import TINY
from support import Api
from traitlets.config import Config

# jp_serverapp, jp_fetch, ...: a real Jupyter server in the test process
pytest_plugins = ["pytest_jupyter.jupyter_server"]

_SLOW_FIXTURES = {"jp_serverapp", "api", "manager", "server"}
_SLOW_MODULES = (
    "test_server_",
    "test_reliability_server",
    "test_reliability_rest",
    "test_browser_",
    "test_bench_",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark as ``slow`` every test that starts a server (in-process, as a subprocess, or as the
    ``remote`` backend), drives a browser, runs a notebook or the benchmarks."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (
            fixtures & _SLOW_FIXTURES
            or "remote" in params.values()
            or item.path.name.startswith(_SLOW_MODULES)
            or item.get_closest_marker("browser")
            or type(item).__name__ == "IPyNbCell"
        ):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny() -> dict[str, Any]:
    """A copy of :data:`configs.TINY`."""
    return dict(TINY)


@pytest.fixture
def server_config_extra() -> dict[str, Any]:
    """Extra server config for one test (override with ``pytest.mark.parametrize``)."""
    return {}


@pytest.fixture
def jp_server_config(server_config_extra):
    config = Config({"ServerApp": {"jpserver_extensions": {"eegtrain_jupyter": True}}})
    config.merge(Config(server_config_extra))
    return config


@pytest.fixture
def manager(jp_serverapp):
    """The server's one TrainingManager."""
    return jp_serverapp.web_app.settings["eegtrain_jupyter"].manager


@pytest.fixture
def api(jp_serverapp, http_server_client, http_server_port, jp_base_url, manager):
    client = Api(http_server_port[1], jp_base_url, jp_serverapp.identity_provider.token)
    yield client
    manager.shutdown(60)  # never leave a training thread to the next test
    client.client.close()


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``):
    its models are small, and on a shared CPU more threads only contend."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
