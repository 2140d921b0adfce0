"""The trainer in this process (a :class:`~eegtrain_jupyter.service.manager.TrainingManager`)."""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

from ..config.training import default_config, json_schema
from .base import ROOT_ENV, Waiting, benchmark_body, evaluate_body, predict_body

__all__ = ["LocalClient", "local_manager"]

_local_lock = threading.Lock()
_local_managers: dict[str, Any] = {}
_local_searches: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # by manager
_local_benchmarks: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # by manager


def local_manager(root_dir: str | os.PathLike | None = None):
    """This process's :class:`~.service.TrainingManager` for ``root_dir`` (created once, then shared).

    ``root_dir`` defaults to ``$EEGTRAIN_ROOT`` or the working directory.
    """
    from ..service.manager import TrainingManager

    root = os.path.abspath(root_dir or os.environ.get(ROOT_ENV) or os.getcwd())
    with _local_lock:
        if root not in _local_managers:
            _local_managers[root] = TrainingManager(root)
        return _local_managers[root]


class LocalClient(Waiting):
    """A :class:`~.service.TrainingManager` in this process (training stops with the kernel).

    Parameters
    ----------
    manager : TrainingManager or None
        Defaults to :func:`local_manager`.
    """

    backend = "local"
    survives_kernel = False

    def __init__(self, manager=None, *, notice: str | None = None):
        self.manager = manager if manager is not None else local_manager()
        self.notice = notice

    def __repr__(self) -> str:
        return f"LocalClient(root_dir={str(self.manager.root_dir)!r})"

    def start(self, config=None, *, data=None, **data_options):
        """Start a run; ``data`` (``mne.Epochs``, numpy ``(X, y)``, a braindecode dataset or
        ``Windows``; see :func:`~eegtrain_jupyter.data.inputs.as_windows`) replaces ``config.data``."""
        if data is not None:
            from ..data.inputs import as_windows

            data = as_windows(data, **data_options)
        return self.manager.start(config or {}, data=data).to_json()

    def stop(self):
        return self.manager.stop().to_json()

    def status(self):
        return self.manager.status().to_json()

    def history(self):
        return self.manager.history().to_json()

    def runs(self, **query: Any) -> list[dict[str, Any]]:
        """Recorded runs; ``query``: ``state``, ``model``, ``sort``, ``order``, ``limit``."""
        args = {k: str(v) for k, v in query.items() if v is not None}
        return [run.to_json() for run in self.manager.runs(args or None)]

    def compare(self, run_ids: list[str] | str) -> dict[str, Any]:
        return self.manager.compare(run_ids).to_json()

    @property
    def search(self) -> Any:
        """This manager's :class:`~.search.SearchManager` (one per manager, created on first use)."""
        from ..service.search import SearchManager

        with _local_lock:
            if self.manager not in _local_searches:
                _local_searches[self.manager] = SearchManager(self.manager)
            return _local_searches[self.manager]

    def start_search(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.search.start(request).to_json()

    def search_status(self) -> dict[str, Any]:
        return self.search.status().to_json()

    @property
    def benchmark(self) -> Any:
        """This manager's :class:`~.benchmark.BenchmarkManager` (one per manager, created on first use)."""
        from ..service.benchmark import BenchmarkManager

        with _local_lock:
            if self.manager not in _local_benchmarks:
                _local_benchmarks[self.manager] = BenchmarkManager(self.manager)
            return _local_benchmarks[self.manager]

    def start_benchmark(
        self,
        models: list[str | dict[str, Any]] | None = None,
        config: dict[str, Any] | None = None,
        *,
        resume: str | None = None,
    ) -> dict[str, Any]:
        return self.benchmark.start(benchmark_body(models, config, resume)).to_json()

    def benchmark_status(self) -> dict[str, Any]:
        return self.benchmark.status().to_json()

    def default_config(self):
        return default_config().model_dump()

    def schema(self):
        return json_schema()

    def validate(self, config):
        return self.manager.validate(config).to_json()

    def describe(self) -> str:
        return f"in this kernel, root {self.manager.root_dir} (stops with the kernel)"

    def run(self, run_id):
        return self.manager.run(run_id).to_json()

    def run_file(self, run_id, name):
        with self.manager.open_run_file(run_id, name) as fh:
            return fh.read()

    def predict(self, run_id, windows=None, *, path=None, ch_names=None, step_s=None):
        return self.manager.predict(run_id, predict_body(windows, path, ch_names, step_s)).to_json()

    def evaluate(self, run_id, files, **overrides):
        return self.manager.evaluate(run_id, evaluate_body(files, overrides)).to_json()

    def export(self, run_id, format="onnx"):
        return self.manager.export(run_id, {"format": format}).to_json()

    def delete_run(self, run_id):
        return self.manager.delete_run(run_id).to_json()
