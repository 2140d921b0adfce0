"""The Jupyter server extension: owns the server's one TrainingManager and adds the REST routes.

One :class:`~eegtrain_jupyter.service.manager.TrainingManager` per server process, rooted at the
server's ``root_dir`` with every user path confined to it. Training runs in the manager's
thread, so it outlives kernels and browser tabs; when the server stops, a running training is
stopped (finished epochs, history and checkpoint kept) before the process exits.

Configuration (``jupyter_server_config.py`` or the command line); the thread knobs default to
the ``EEGTRAIN_*`` environment variables of :mod:`~eegtrain_jupyter.runtime.tuning`::

    c.TrainingExtension.min_free_memory_mb = 512
    c.TrainingExtension.shutdown_timeout = 30
    c.TrainingExtension.max_body_bytes = 65536
    c.TrainingExtension.max_predict_body_bytes = 16777216
    c.TrainingExtension.num_threads = 1  # EEGTRAIN_NUM_THREADS
    c.TrainingExtension.nice = 5  # EEGTRAIN_NICE
    c.TrainingExtension.switch_interval_ms = 1  # EEGTRAIN_SWITCH_INTERVAL_MS
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Int, default

from ..config import env
from ..service.benchmark import BenchmarkManager
from ..service.manager import TrainingManager
from ..service.search import SearchManager

__all__ = ["TrainingExtension"]


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
        64 * 1024, help="Largest accepted request body in bytes (larger gets HTTP 413 before it is read)."
    ).tag(config=True)
    max_predict_body_bytes = Int(
        16 * 1024 * 1024,
        help="Largest accepted body of POST /training/runs/{run_id}/predict, whose windows come as "
        "JSON (16 MiB: about 100 windows of 8 channels x 4 s at 200 Hz).",
    ).tag(config=True)
    num_threads = Int(
        help="Torch threads for training (0: torch's choice). Default: "
        "$EEGTRAIN_NUM_THREADS, else the usable cores minus one."
    ).tag(config=True)
    nice = Int(help="Niceness added to the training thread. Default: $EEGTRAIN_NICE, else 5.").tag(
        config=True
    )
    switch_interval_ms = Int(
        help="Upper bound of the GIL switch interval while training (0: unchanged). "
        "Default: $EEGTRAIN_SWITCH_INTERVAL_MS, else 1."
    ).tag(config=True)

    data_timeout_s = Float(
        help="Seconds one read of user data (a scan, config/validate, a prediction, an export) may "
        "take in the data worker before it is killed and answered 400. "
        "Default: $EEGTRAIN_DATA_TIMEOUT_S, else 120."
    ).tag(config=True)
    data_memory_mb = Float(
        help="Memory (MB) a data-worker process may add to what it holds at its start; a read past it "
        "answers 400. Default: $EEGTRAIN_DATA_MEMORY_MB, else 4096."
    ).tag(config=True)
    data_workers = Int(
        help="Data-worker processes (reads of user data at once). Default: $EEGTRAIN_DATA_WORKERS, else 2."
    ).tag(config=True)

    @default("data_timeout_s")
    def _default_data_timeout_s(self) -> float:
        return env.default_data_timeout_s()

    @default("data_memory_mb")
    def _default_data_memory_mb(self) -> float:
        return env.default_data_memory_mb()

    @default("data_workers")
    def _default_data_workers(self) -> int:
        return env.default_data_workers()

    @default("num_threads")
    def _default_num_threads(self) -> int:
        return env.default_num_threads()

    @default("nice")
    def _default_nice(self) -> int:
        return env.default_nice()

    @default("switch_interval_ms")
    def _default_switch_interval_ms(self) -> int:
        return env.default_switch_interval_ms()

    manager: TrainingManager | None = None
    data_executor: ThreadPoolExecutor | None = None
    search: SearchManager | None = None
    benchmark: BenchmarkManager | None = None

    def initialize_settings(self) -> None:
        assert self.serverapp is not None
        self.manager = TrainingManager(
            self.serverapp.root_dir,
            confine_to_root=True,
            min_free_memory_mb=self.min_free_memory_mb,
            data_timeout_s=self.data_timeout_s,
            data_memory_mb=self.data_memory_mb,
            data_workers=self.data_workers,
            thread_settings={
                "num_threads": self.num_threads,
                "nice": self.nice,
                "switch_interval_ms": self.switch_interval_ms,
            },
        )
        self.search = SearchManager(self.manager)
        self.benchmark = BenchmarkManager(self.manager)
        self.data_executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="rest-data-call")
        self.log.info(
            "eegtrain: training REST API at %straining/ (root %s)",
            self.serverapp.base_url,
            self.manager.root_dir,
        )

    def initialize_handlers(self) -> None:
        from .handlers import route_table

        self.handlers.extend(route_table())

    def current_activity(self) -> list[dict[str, Any]] | None:
        """A running training counts as activity (so idle shutdown waits for it)."""
        if self.manager is not None and self.manager.is_active():
            status = self.manager.status()
            return [{"run_id": status.run_id, "state": status.state.value}]
        if self.search is not None and self.search.is_active():  # between two trials
            search = self.search.status()
            return [{"search_id": search.search_id, "state": search.state.value}]
        if self.benchmark is not None and self.benchmark.is_active():  # between two runs
            bench = self.benchmark.status()
            return [{"benchmark_id": bench.benchmark_id, "state": bench.state.value}]
        return None

    async def stop_extension(self) -> None:
        """Stop a running training and wait for its thread, off the IO loop."""
        manager = self.manager
        if manager is None:
            return
        if manager.is_active():
            self.log.info("eegtrain: server stopping; stopping training run %s", manager.status().run_id)
        if self.search is not None:
            await asyncio.to_thread(self.search.shutdown, self.shutdown_timeout)
        if self.benchmark is not None:
            await asyncio.to_thread(self.benchmark.shutdown, self.shutdown_timeout)
        await asyncio.to_thread(manager.shutdown, self.shutdown_timeout)
        if self.data_executor is not None:
            self.data_executor.shutdown(wait=False, cancel_futures=True)
        if manager.is_active():
            self.log.warning("eegtrain: training did not stop within %.0fs", self.shutdown_timeout)
