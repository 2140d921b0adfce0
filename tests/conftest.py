"""Shared fixtures: tiny configs on the real LaBraM."""

from __future__ import annotations

import pytest

from eegtrain_jupyter.config import parse_config

# jp_serverapp, jp_fetch, ...: a real Jupyter server in the test process (server and reliability tests)
pytest_plugins = ["pytest_jupyter.jupyter_server"]

TINY = {"n_epochs": 1, "n_samples_per_class": 100, "batch_size": 32}
"""The smallest valid run: 200 windows, one epoch, frozen backbone."""


@pytest.fixture(scope="session")
def tiny():
    """The :data:`TINY` settings (a fresh dict per caller is up to the caller: ``{**tiny, ...}``)."""
    return dict(TINY)


@pytest.fixture
def tiny_config(tmp_path):
    """A tiny frozen-backbone config saving under ``tmp_path``."""
    return parse_config({**TINY, "save_dir": str(tmp_path / "out")})
