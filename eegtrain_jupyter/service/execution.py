"""One run, from its first event to its end state: the body of the service's trainer thread.

:class:`Execution` trains a run in a worker process (:func:`~.supervisor.supervise`), or in
this thread for windows handed over in Python, with the run's listeners (its progress record,
TensorBoard, the caller's), then publishes a completed run's files. It never raises: every end,
failures included, comes back as an :class:`~..runtime.outcome.Outcome` for
:class:`~.service.TrainingManager` to record.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..engine import tensorboard as tensorboard_writer
from ..engine.events import TrainingListener, TrainingResult
from ..runtime.outcome import Outcome, Runtime
from ..runtime.protocol import PLAIN, RunMode, WorkerSpec
from ..runtime.supervisor import supervise
from ..runtime.tuning import configure_training_thread, resolve_thread_settings
from ..schemas import TrainingState
from ..serving.model_card import ModelCardWriter
from .progress import RECORD_SAVE_INTERVAL, RunProgress
from .publishing import publish
from .runs import Run, RunStore

if TYPE_CHECKING:
    from ..data.windows import Windows

__all__ = ["Execution"]

log = logging.getLogger(__name__)


@dataclass
class Execution:
    """What every run of one :class:`~.service.TrainingManager` is executed with.

    ``lock`` guards the run record (the progress listener writes it under the lock);
    ``stop_event`` stops the run in flight; ``on_worker`` is told the worker's pid (``None``
    when it is gone); ``runtime`` trains a run of a config's data source.
    """

    lock: threading.RLock
    stop_event: threading.Event
    store: RunStore
    root_dir: Path
    confine: bool
    listeners: Sequence[TrainingListener] = ()
    thread_settings: Mapping[str, int | None] | None = None
    stop_grace: tuple[float, float] = (10.0, 5.0)
    feature_cache: Path | None = None
    """The frozen-backbone feature cache's folder (:class:`~..engine.feature_cache.FeatureCache`)."""
    windows_cache: Path | None = None
    """Preprocessed windows of ``files``/``epochs`` sources (:mod:`.windows_cache`), shared with the workers."""
    on_worker: Callable[[int | None], None] = lambda pid: None
    runtime: Runtime = supervise
    """What executes a run of a config's data source (:func:`~..runtime.supervisor.supervise`:
    a worker process)."""

    def __call__(
        self,
        run: Run,
        run_listeners: Sequence[TrainingListener] = (),
        data: Windows | None = None,
        mode: RunMode = PLAIN,
    ) -> Outcome:
        """Train ``run`` to its end; ``data``: windows given in Python (else the config's source);
        ``mode``: a plain run or a job's trial (:class:`~.protocol.RunMode`: relayed batch
        events, light outputs, publishing, the job's worker)."""
        try:
            listeners: list[TrainingListener] = [
                RunProgress(self.lock, run, RECORD_SAVE_INTERVAL if mode.light_outputs else 0.0),
                *self.listeners,
                *run_listeners,
            ]
            if data is not None:
                # windows handed over in Python (numpy, mne.Epochs) train in this thread: only a
                # config's data source can be loaded by a worker process
                outcome = Outcome.ended(self._train_here(run, data, listeners), run.run_dir)
            else:
                # the engine (data loading, precision, feature cache) runs in the worker; these
                # listeners run here, one event at a time
                outcome = self.runtime(
                    self._spec(run, mode),
                    listeners,
                    self.stop_event,
                    session=mode.session,
                    grace=self.stop_grace,
                    on_start=self.on_worker,
                )
            if outcome.state is TrainingState.COMPLETED and mode.publish:
                outcome = self._publish(run, outcome)
            return outcome
        except Exception as exc:  # captured into status; the process lives on
            log.exception("training run %s failed", run.run_id)
            return Outcome.failed(f"{type(exc).__name__}: {exc}", run.run_dir)
        finally:
            self.on_worker(None)

    def _spec(self, run: Run, mode: RunMode) -> WorkerSpec:
        """What the worker needs to train ``run`` in ``mode``."""
        return WorkerSpec(
            config=run.config,
            run_dir=run.run_dir,
            thread_settings=resolve_thread_settings(self.thread_settings),
            feature_cache=self.feature_cache,
            windows_cache=self.windows_cache,
            root_dir=self.root_dir,
            confine=self.confine,
            tensorboard_dir=Path(tensorboard_writer.run_dir(run.save_dir, run.run_id)),
            batch_interval=mode.batch_interval,
            light_outputs=mode.light_outputs,
        )

    def _publish(self, run: Run, outcome: Outcome) -> Outcome:
        """A completed run with the top-level files it replaced in ``save_dir``; failed when they
        could not be copied there."""
        try:  # outside the lock: status() stays responsive while the checkpoint copies
            return replace(outcome, published=publish(run))
        except OSError as exc:
            log.exception("could not publish the outputs of run %s", run.run_id)
            error = (
                f"training finished but its outputs could not be copied into "
                f"{run.save_dir} ({type(exc).__name__}: {exc}); they are in {run.run_dir}"
            )
            return replace(outcome, state=TrainingState.FAILED, error=error)

    def _train_here(self, run: Run, data: Windows, listeners: list[TrainingListener]) -> TrainingResult:
        """Train windows given in Python in this thread (a worker process cannot receive them)."""
        from ..engine.feature_cache import FeatureCache
        from ..engine.training import train

        if self.thread_settings is not None:
            configure_training_thread(**self.thread_settings)
        card = ModelCardWriter(run.run_dir, data, run.run_id)
        board = tensorboard_writer.for_run(run.save_dir, run.run_id, run.config)
        try:
            return train(
                run.config,
                data,
                run.run_dir,
                listeners=[card, *([board] if board is not None else []), *listeners],
                should_stop=self.stop_event.is_set,
                feature_cache=FeatureCache(self.feature_cache) if self.feature_cache else None,
            )
        finally:
            if board is not None:
                board.close()
