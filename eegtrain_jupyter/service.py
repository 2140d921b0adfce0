"""TrainingManager: one background training thread, its state, and its runs on disk.

Every surface (REST handlers, notebook panel, CLI) drives training through this class
and reads :meth:`TrainingManager.status` (a snapshot copy, safe from any thread).

Runs on disk: ``<save_dir>/runs/<run_id>/`` holds ``run.json`` (config, state, times),
the history (rewritten atomically each epoch), the best checkpoint and the curves; when a
run ends, the seed's three files in ``save_dir`` are replaced atomically by that run's. An
index in ``<root_dir>/.eegtrain/runs.json`` lets a restarted process show the last run,
marking one that was killed mid-training as ``interrupted``.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from . import artifacts
from .config import (
    ConfigError,
    FieldError,
    TrainingConfig,
    ValidationResult,
    parse_config,
    validate_config,
)
from .engine import EpochResult, TrainingListener, empty_history, train
from .model import BackboneInfo
from .resources import ResourceError, check_resources
from .tuning import configure_training_thread

__all__ = [
    "TrainingState",
    "TrainingManager",
    "AlreadyTrainingError",
    "ResourceError",
    "ConfigError",
    "format_duration",
    "TrainingListener",  # re-exported: surfaces subscribe to engine events through the service
]

log = logging.getLogger(__name__)


class TrainingState(str, Enum):
    IDLE = "idle"
    PREPARING = "preparing"
    TRAINING = "training"
    STOPPING = "stopping"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def active(self) -> bool:
        return self in (TrainingState.PREPARING, TrainingState.TRAINING, TrainingState.STOPPING)


class AlreadyTrainingError(RuntimeError):
    """``start`` while a run is active."""

    def __init__(self, run_id: str | None = None):
        self.run_id = run_id
        super().__init__("Training already in progress")


def format_duration(seconds: float | None) -> str | None:
    """The seed's compact form: ``45.3s``, ``2.1m``, ``1.5h``."""
    if seconds is None:
        return None
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class _Run:
    """Mutable record of one run; only touched under the manager's lock."""

    def __init__(self, run_id: str, config: TrainingConfig, save_dir: Path):
        self.run_id = run_id
        self.config = config
        self.save_dir = save_dir
        self.run_dir = save_dir / "runs" / run_id
        self.state = TrainingState.PREPARING
        self.phase: str | None = None
        self.error: str | None = None
        self.history = empty_history()
        self.epoch_times: list[float] = []
        self.best_val_acc: float | None = None
        self.best_epoch: int | None = None
        self.batch: dict[str, Any] | None = None
        self.device: str | None = None
        self.precision: str | None = None
        self.backbone: dict[str, Any] | None = None
        self.started_at = _now_iso()
        self.finished_at: str | None = None
        self.t_start = time.monotonic()
        self.t_epoch_start: float | None = None  # when the current epoch began (for the ETA)
        self.duration: float | None = None  # set when the run ends (or from disk)
        self.files: dict[str, str] = {}
        self.owner: dict[str, Any] | None = None  # the process training it (kept in run.json only)

    # -- persistence -------------------------------------------------------------------
    def record(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "state": self.state.value,
            "config": self.config.model_dump(),
            "save_dir": str(self.save_dir),
            "run_dir": str(self.run_dir),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.elapsed(),
            "epochs_completed": len(self.history["train_losses"]),
            "best_val_acc": self.best_val_acc,
            "best_epoch": self.best_epoch,
            "error": self.error,
            "device": self.device,
            "precision": self.precision,
            "backbone": self.backbone,
            "epoch_times": self.epoch_times,
        }

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> _Run:
        run = cls(rec["run_id"], TrainingConfig.model_validate(rec["config"]), Path(rec["save_dir"]))
        run.state = TrainingState(rec["state"])
        for key in ("started_at", "finished_at", "error", "device", "precision", "backbone",
                    "best_val_acc", "best_epoch", "duration"):
            setattr(run, key, rec.get(key))
        run.epoch_times = list(rec.get("epoch_times") or [])
        run.owner = rec.get("owner")
        hist_path = run.run_dir / artifacts.HISTORY_NAME
        if hist_path.exists():
            doc = artifacts.read_json(hist_path)
            run.history = {k: list(doc.get(k, [])) for k in empty_history()}
        return run

    def save(self) -> None:
        artifacts.write_json(self.run_dir / "run.json", {**self.record(), "owner": self.owner})

    # -- derived values ------------------------------------------------------------------
    def elapsed(self) -> float | None:
        if self.state.active:
            return time.monotonic() - self.t_start
        return self.duration

    def eta(self) -> float | None:
        """Seconds left, from epoch durations only (set-up time excluded)."""
        if self.state not in (TrainingState.TRAINING, TrainingState.STOPPING):
            return None
        total = self.config.n_epochs
        done = len(self.epoch_times)
        if done:
            per_epoch = sum(self.epoch_times) / done
            in_epoch = time.monotonic() - (self.t_epoch_start or time.monotonic())
            return max(0.0, per_epoch * (total - done) - min(in_epoch, per_epoch))
        b = self.batch
        if b and b["phase"] == "train" and b["batch"] and self.t_epoch_start is not None:
            spent = time.monotonic() - self.t_epoch_start
            per_epoch = spent * b["n_batches"] / b["batch"]
            return max(0.0, per_epoch * total - spent)
        return None


class _RunListener(TrainingListener):
    """Feeds engine events into a run record under the manager's lock."""

    def __init__(self, manager: TrainingManager, run: _Run):
        self.m, self.run = manager, run

    def on_phase(self, phase: str) -> None:
        with self.m._lock:
            self.run.phase = phase
            if phase == "training":
                if self.run.state is TrainingState.PREPARING:
                    self.run.state = TrainingState.TRAINING
                self.run.t_epoch_start = time.monotonic()
                self.run.batch = None

    def on_setup(self, *, device, precision, backbone: BackboneInfo, n_train, n_val) -> None:
        with self.m._lock:
            self.run.device, self.run.precision = device, precision
            self.run.backbone = backbone.to_dict()
            self.run.save()

    def on_batch(self, *, epoch, batch, n_batches, phase) -> None:
        with self.m._lock:
            self.run.batch = {"epoch": epoch, "batch": batch, "n_batches": n_batches, "phase": phase}

    def on_epoch_end(self, result: EpochResult, history) -> None:
        with self.m._lock:
            run = self.run
            run.history = history
            run.epoch_times.append(result.duration)
            run.t_epoch_start = time.monotonic()
            if run.best_val_acc is None or result.val_acc > run.best_val_acc:
                run.best_val_acc, run.best_epoch = result.val_acc, result.epoch
            run.save()


class TrainingManager:
    """Owns at most one training thread and the record of the current/last run.

    Parameters
    ----------
    root_dir : path
        Relative ``save_dir`` values resolve against it; the run index lives in ``root_dir/.eegtrain``.
    confine_to_root : bool
        Refuse a ``save_dir`` that resolves outside ``root_dir`` (the server sets this).
    min_free_memory_mb : float
        Refuse a run when available memory minus its estimate falls below this.
    listeners : sequence of TrainingListener
        Also receive every engine event (e.g. a CLI progress bar).
    share_cpu : bool
        Keep a core and priority for the rest of the process (a server's IO loop, a kernel):
        the training thread runs niced with cores - 1 torch threads (see :mod:`.tuning`).
        ``False`` (the CLI) lets training take every core.
    """

    def __init__(
        self,
        root_dir: str | os.PathLike = ".",
        *,
        confine_to_root: bool = False,
        min_free_memory_mb: float = 256.0,
        listeners: Sequence[TrainingListener] = (),
        share_cpu: bool = True,
    ):
        self.root_dir = Path(root_dir).resolve()
        self.confine_to_root = confine_to_root
        self.min_free_memory_mb = min_free_memory_mb
        self.listeners = list(listeners)
        self.share_cpu = share_cpu
        self._lock = threading.RLock()
        self._stop_event = threading.Event()
        self._done = threading.Event()  # set when the current run's thread has recorded its end
        self._thread: threading.Thread | None = None
        self._run: _Run | None = None
        self._index_path = self.root_dir / ".eegtrain" / "runs.json"
        self._recover()

    # -- public API ------------------------------------------------------------------
    def start(self, config: dict[str, Any] | TrainingConfig | None = None) -> dict[str, Any]:
        """Validate, check resources and start a run in the background; return its status.

        Raises
        ------
        ConfigError
            Invalid fields (each named), or a ``save_dir`` outside the allowed root.
        AlreadyTrainingError
            A run is active.
        ResourceError
            Not enough memory (or GPU memory) for this config.
        """
        cfg = parse_config(config)
        save_dir = self.resolve_save_dir(cfg.save_dir)
        weights = self.resolve_weights(cfg.pretrained_weights)
        if weights is not None:  # the trainer thread loads it whatever the process's cwd
            cfg = cfg.model_copy(update={"pretrained_weights": str(weights)})
        with self._lock:
            if self.is_active():
                raise AlreadyTrainingError(self._run.run_id if self._run else None)
            check_resources(cfg, min_free_memory_mb=self.min_free_memory_mb)
            run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
            run = _Run(run_id, cfg, save_dir)
            run.owner = _this_process()
            try:
                run.run_dir.mkdir(parents=True, exist_ok=True)
                run.save()
            except OSError as exc:  # read-only, a file in the way, disk full: the caller's to fix
                raise ConfigError([FieldError("save_dir", f"cannot write there: {_reason(exc)}")]) from None
            self._add_to_index(run)
            self._run = run
            self._stop_event.clear()
            self._done.clear()
            self._thread = threading.Thread(
                target=self._work, args=(run,), name=f"eegtrain-{run_id}", daemon=True
            )
            self._thread.start()
            return self._snapshot(run)

    def validate(self, config: dict[str, Any] | None = None) -> ValidationResult:
        """Per-field validation as :func:`~.config.validate_config`, plus the path rules of :meth:`start`."""
        result = validate_config(config)
        if result.valid:
            try:
                self.resolve_save_dir(result.config.save_dir)
                self.resolve_weights(result.config.pretrained_weights)
            except ConfigError as exc:
                return ValidationResult(False, exc.errors, None)
        return result

    def stop(self) -> dict[str, Any]:
        """Ask the active run to stop (it ends within one batch); a no-op when idle."""
        with self._lock:
            if self.is_active():
                self._stop_event.set()
                self._run.state = TrainingState.STOPPING
            return self.status()

    def status(self) -> dict[str, Any]:
        """The seed's status shape plus state, phase, batch progress, error, run id and device."""
        with self._lock:
            return self._snapshot(self._run)

    def history(self) -> dict[str, Any]:
        """Metrics of the current/last run."""
        with self._lock:
            run = self._run
            hist = copy.deepcopy(run.history) if run else empty_history()
            return {
                "run_id": run.run_id if run else None,
                "state": run.state.value if run else TrainingState.IDLE.value,
                **hist,
                "epoch_times": list(run.epoch_times) if run else [],
                "best_val_acc": run.best_val_acc if run else None,
                "best_epoch": run.best_epoch if run else None,
            }

    def runs(self) -> list[dict[str, Any]]:
        """Every recorded run, newest first: config, state, best val accuracy, duration."""
        out = []
        with self._lock:
            current = self._run
            for entry in reversed(self._read_index()):
                if current and entry["run_id"] == current.run_id:
                    out.append(current.record())
                    continue
                try:
                    rec = artifacts.read_json(Path(entry["run_dir"]) / "run.json")
                except (OSError, ValueError, KeyError, TypeError):
                    continue  # a run folder deleted by the user
                if isinstance(rec, dict) and _RUN_KEYS <= rec.keys():
                    rec.pop("owner", None)
                    out.append(rec)  # else a damaged run.json: skipped, never a half record
        return out

    def is_active(self) -> bool:
        with self._lock:
            return self._run is not None and self._run.state.active

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has ended (state no longer active); True if it did within ``timeout``.

        Waits on an event, not ``Thread.join``: a KeyboardInterrupt inside ``join`` can leave
        CPython believing the thread has ended (gh-90882), which would end a CLI wait too early.
        """
        thread = self._thread
        if thread is None:
            return True
        done = self._done.wait(timeout)
        if done:
            thread.join(5.0)  # only the return from _work is left
        return done

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop any run and wait for its thread (history and checkpoint are kept)."""
        self.stop()
        self.wait(timeout)

    def _resolve(self, value: str, field: str) -> Path:
        """``value`` as an absolute path: ``~`` expanded, relative to ``root_dir``, symlinks
        followed (so an escaping link is caught), inside ``root_dir`` when confined."""
        try:
            path = Path(os.path.expanduser(value))
            if not path.is_absolute():
                path = self.root_dir / path
            resolved = path.resolve()
        except (ValueError, OSError) as exc:  # NUL byte, name too long, unreadable parent...
            raise ConfigError([FieldError(field, f"not a usable path: {_reason(exc)}")]) from None
        if self.confine_to_root and not resolved.is_relative_to(self.root_dir):
            raise ConfigError([FieldError(field, f"must stay inside the server root {self.root_dir}")])
        return resolved

    def resolve_save_dir(self, save_dir: str) -> Path:
        """``save_dir`` as an absolute path; relative to ``root_dir``; confined when asked."""
        resolved = self._resolve(save_dir, "save_dir")
        try:
            if resolved.exists() and not resolved.is_dir():
                raise ConfigError([FieldError("save_dir", "exists and is not a directory")])
            existing = next(p for p in (resolved, *resolved.parents) if p.exists())
            if not existing.is_dir():
                raise ConfigError([FieldError("save_dir", f"{existing} is a file, not a directory")])
        except (ValueError, OSError) as exc:  # name too long, unreadable parent...
            raise ConfigError([FieldError("save_dir", f"not a usable path: {_reason(exc)}")]) from None
        return resolved

    def resolve_weights(self, pretrained_weights: str | None) -> Path | None:
        """``pretrained_weights`` resolved like ``save_dir`` (relative to ``root_dir``, confined
        when asked); a path that is not a file is a field error, not a failed run."""
        if pretrained_weights is None:
            return None
        resolved = self._resolve(pretrained_weights, "pretrained_weights")
        try:
            ok = resolved.is_file()
        except OSError:
            ok = False
        if not ok:
            raise ConfigError([FieldError("pretrained_weights", "no such file")])
        return resolved

    # -- internals -------------------------------------------------------------------
    def _work(self, run: _Run) -> None:
        if self.share_cpu:  # lower priority (and EEGTRAIN_NUM_THREADS) so callers stay responsive
            configure_training_thread()
        listener = _RunListener(self, run)
        # Whatever happens in here, the run leaves the active states (``finally``): a failure
        # after training (e.g. publishing into a full disk) must not leave the manager "busy".
        state, error = TrainingState.FAILED, "training ended unexpectedly"
        try:
            result = train(
                run.config, run.run_dir,
                listeners=[listener, *self.listeners],
                should_stop=self._stop_event.is_set,
            )
            state = TrainingState.STOPPED if result.stopped else TrainingState.COMPLETED
            error = None
            files = dict(result.files)
            if result.epochs_completed:
                try:  # outside the lock: status() stays responsive while the checkpoint copies
                    self._publish(run, files)
                except OSError as exc:
                    log.exception("could not publish the outputs of run %s", run.run_id)
                    state = TrainingState.FAILED
                    error = (f"training finished but its outputs could not be copied into "
                             f"{run.save_dir} ({type(exc).__name__}: {exc}); they are in {run.run_dir}")
            with self._lock:
                run.files = files
        except Exception as exc:  # captured into status; the process lives on
            log.exception("training run %s failed", run.run_id)
            state, error = TrainingState.FAILED, f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                self._finish(run, state, error=error)
            self._done.set()

    def _finish(self, run: _Run, state: TrainingState, error: str | None = None) -> None:
        run.duration = time.monotonic() - run.t_start
        run.state, run.error, run.phase = state, error, None
        run.finished_at = _now_iso()
        run.batch = None
        try:
            run.save()
        except OSError:
            log.exception("could not record run %s", run.run_id)

    def _publish(self, run: _Run, files: dict[str, str]) -> None:
        """Replace the seed's three files in ``save_dir`` by this run's, each atomically."""
        for name in artifacts.OUTPUT_NAMES:
            src = run.run_dir / name
            if src.exists():
                files[name] = str(artifacts.copy_atomic(src, run.save_dir / name))

    def _snapshot(self, run: _Run | None) -> dict[str, Any]:
        if run is None:
            return _idle_status()
        hist = copy.deepcopy(run.history)
        last = (lambda key: hist[key][-1] if hist[key] else None)
        elapsed, eta = run.elapsed(), run.eta()
        return {
            "is_training": run.state.active,
            "current_epoch": len(hist["train_losses"]),
            "total_epochs": run.config.n_epochs,
            "train_loss": last("train_losses"),
            "val_loss": last("val_losses"),
            "train_acc": last("train_accs"),
            "val_acc": last("val_accs"),
            "best_val_acc": run.best_val_acc,
            "elapsed_time": elapsed,
            "elapsed_time_formatted": format_duration(elapsed),
            "eta": eta,
            "eta_formatted": format_duration(eta),
            "config": run.config.model_dump(),
            "history": hist,
            "state": run.state.value,
            "phase": run.phase,
            "batch": dict(run.batch) if run.batch else None,
            "error": run.error,
            "run_id": run.run_id,
            "device": run.device,
            "precision": run.precision,
            "backbone": copy.deepcopy(run.backbone),
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "run_dir": str(run.run_dir),
            "save_dir": str(run.save_dir),
        }

    def _read_index(self) -> list[dict[str, str]]:
        try:
            index = artifacts.read_json(self._index_path)
        except (OSError, ValueError):
            return []
        if not isinstance(index, list):
            return []
        return [e for e in index if isinstance(e, dict)
                and isinstance(e.get("run_id"), str) and isinstance(e.get("run_dir"), str)]

    def _add_to_index(self, run: _Run) -> None:
        # read-modify-write under a file lock: a server, the CLI and a kernel may share a root
        self._index_path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(self._index_path.with_name("runs.lock")):
            index = self._read_index()
            index.append({"run_id": run.run_id, "run_dir": str(run.run_dir)})
            artifacts.write_json(self._index_path, index)

    def _recover(self) -> None:
        """Load the last run from disk as the current one.

        Every indexed run left active by a process that has gone (killed, crashed, power cut)
        becomes ``interrupted``, on disk too; one that another live process is training (a
        second server, the CLI or a kernel on the same root) is left alone and not made current.
        """
        index = self._read_index()
        for i, entry in enumerate(index):
            is_last = i == len(index) - 1
            try:
                rec = artifacts.read_json(Path(entry["run_dir"]) / "run.json")
                if not (is_last or TrainingState(rec["state"]).active):
                    continue
                run = _Run.from_record(rec)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                if is_last:
                    log.warning("could not recover the last training run: %s", exc)
                continue
            if run.state.active and _owner_alive(run.owner):
                log.info("run %s is being trained by process %s", run.run_id, run.owner.get("pid"))
                continue
            if run.state.active:
                run.state = TrainingState.INTERRUPTED
                run.error = "the process running this training ended before it finished"
                _remove_stale_temp_files(run.run_dir, run.save_dir)
                try:
                    run.save()
                except OSError as exc:  # a read-only root still shows the run
                    log.warning("could not mark run %s interrupted on disk: %s", run.run_id, exc)
            if is_last:
                self._run = run


@contextlib.contextmanager
def _file_lock(path: Path):
    """An exclusive advisory lock between processes (POSIX ``flock``; a no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _this_process() -> dict[str, Any]:
    """Who trains a run: host, pid and the process's start time (so a reused pid is not mistaken)."""
    import psutil

    try:
        started = psutil.Process().create_time()
    except psutil.Error:
        started = None
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": started}


def _owner_alive(owner: Any) -> bool:
    """True when ``owner`` is another process on this host that is still running."""
    import psutil

    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        return False
    pid, started = owner.get("pid"), owner.get("started")
    if not isinstance(pid, int) or pid == os.getpid() or not isinstance(started, (int, float)):
        return False
    try:
        return abs(psutil.Process(pid).create_time() - started) < 1.0
    except psutil.Error:
        return False


def _reason(exc: Exception) -> str:
    """An OS error's reason without the (possibly huge, user-supplied) path."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _remove_stale_temp_files(*folders: Path) -> None:
    """Temp files of atomic writes cut short by a killed process (never a finished output)."""
    for folder in folders:
        for name in (*artifacts.OUTPUT_NAMES, "run.json"):
            for tmp in folder.glob(f".{name}.*.tmp"):
                try:
                    tmp.unlink()
                except OSError:
                    pass


_RUN_KEYS = frozenset({"run_id", "state", "config", "best_val_acc", "duration", "started_at"})


def _idle_status() -> dict[str, Any]:
    return {
        "is_training": False, "current_epoch": 0, "total_epochs": 0,
        "train_loss": None, "val_loss": None, "train_acc": None, "val_acc": None,
        "best_val_acc": None, "elapsed_time": None, "elapsed_time_formatted": None,
        "eta": None, "eta_formatted": None, "config": TrainingConfig().model_dump(),
        "history": empty_history(),
        "state": TrainingState.IDLE.value, "phase": None, "batch": None, "error": None,
        "run_id": None, "device": None, "precision": None, "backbone": None,
        "started_at": None, "finished_at": None, "run_dir": None, "save_dir": None,
    }
