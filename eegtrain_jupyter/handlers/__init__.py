"""Jupyter server extension: the training REST API under ``{base_url}training/``.

One :class:`~eegtrain_jupyter.service.TrainingManager` per server process, rooted at the
server's ``root_dir`` with ``save_dir`` confined to it, is kept in
``serverapp.web_app.settings["eegtrain_manager"]``. Training runs in the manager's thread,
so it outlives kernels and browser tabs; when the server stops, a running training is
stopped (finished epochs, history and checkpoint kept) before the process exits.

Configuration (``jupyter_server_config.py`` or the command line)::

    c.TrainingExtension.min_free_memory_mb = 512
    c.TrainingExtension.shutdown_timeout = 30
    c.TrainingExtension.max_body_bytes = 65536
"""

from __future__ import annotations

import asyncio

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Int

from ..service import TrainingManager
from .training import AUTH_RESOURCE, MANAGER_KEY, MAX_BODY_KEY, route_table

__all__ = ["TrainingExtension", "AUTH_RESOURCE", "MANAGER_KEY"]


class TrainingExtension(ExtensionApp):
    """Adds the ``training/`` REST routes and owns the server's TrainingManager."""

    name = "eegtrain_jupyter"
    description = "LaBraM EEG training REST API"
    load_other_extensions = True

    min_free_memory_mb = Float(
        256.0, help="Refuse a run (HTTP 503) that would leave less than this much memory free (MB)."
    ).tag(config=True)
    shutdown_timeout = Float(
        30.0, help="Seconds to wait, when the server stops, for a running training to stop."
    ).tag(config=True)
    max_body_bytes = Int(
        64 * 1024, help="Largest accepted request body in bytes (larger gets HTTP 413)."
    ).tag(config=True)

    manager: TrainingManager | None = None

    def initialize_settings(self) -> None:
        root_dir = self.serverapp.root_dir
        self.manager = TrainingManager(
            root_dir, confine_to_root=True, min_free_memory_mb=self.min_free_memory_mb
        )
        self.settings.update({MANAGER_KEY: self.manager, MAX_BODY_KEY: self.max_body_bytes})
        self.log.info("eegtrain: training REST API at %straining/ (root %s)",
                      self.serverapp.base_url, self.manager.root_dir)

    def initialize_handlers(self) -> None:
        self.handlers.extend(route_table())

    def current_activity(self):
        """A running training counts as activity (so idle shutdown waits for it)."""
        if self.manager is not None and self.manager.is_active():
            status = self.manager.status()
            return [{"run_id": status["run_id"], "state": status["state"]}]
        return None

    async def stop_extension(self) -> None:
        """Stop a running training and wait for its thread, off the IO loop."""
        manager = self.manager
        if manager is None:
            return
        if manager.is_active():
            self.log.info("eegtrain: server stopping; stopping training run %s",
                          manager.status()["run_id"])
        await asyncio.to_thread(manager.shutdown, self.shutdown_timeout)
        if manager.is_active():
            self.log.warning("eegtrain: training did not stop within %.0fs", self.shutdown_timeout)


def _jupyter_server_extension_points():
    return [{"module": "eegtrain_jupyter.handlers", "app": TrainingExtension}]


_load_jupyter_server_extension = TrainingExtension._load_jupyter_server_extension
