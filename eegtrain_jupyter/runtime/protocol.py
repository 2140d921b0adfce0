"""What crosses between the supervisor and a training worker: the run, its events, the answers.

Every message is one JSON object over a :class:`multiprocessing.connection.Connection` (a pipe
to a forked worker, a Unix socket to a torchrun job's rank 0). This module is the one place that
says what each message holds:

* :class:`WorkerSpec`: the run a worker trains (its config, run folder, environment, where its
  caches are, how it relays). The first run of a forked worker gets it as the process's argument;
  a torchrun job's rank 0 and the next run of a session's worker (:class:`Train`) get it as JSON.
* :data:`EVENTS`: the engine events, worker -> supervisor, one entry each. An entry names its
  :class:`~.events.TrainingListener` method; the payload is that method's parameters (their type
  hints are the schema, so an :class:`~.events.EpochResult`, a :class:`~.events.TrainingResult`
  or a :class:`~.info.BackboneInfo` is rebuilt from its JSON by pydantic), less the ``local`` ones,
  which the supervisor rebuilds from the run folder (``on_best``'s checkpoint is the file the
  worker wrote). :class:`~.relay.Relay` encodes with an entry, :class:`~.supervisor._Dispatch`
  decodes with it: adding an event is a listener method and one entry here. Besides the events,
  the worker may send one unanswered :class:`WorkerError` (the run failed there) before it ends.
* Messages to the worker: each event is answered with :class:`Ack` (with the stop flags) or
  :class:`Abort` (a listener here raised); :class:`Stop` may come at any time; :class:`Train` and
  :class:`Close` come between two runs of a session's worker.

Anything else is refused with a :class:`ProtocolError` naming what was wrong.
"""

from __future__ import annotations

import inspect
import json
import os
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from ..config.training import TrainingConfig
from ..engine.artifacts import CHECKPOINT_NAME, find_checkpoint
from ..engine.events import TrainingListener

if TYPE_CHECKING:
    from .launcher import WorkerSession

__all__ = [
    "EVENTS",
    "FAULT_ENV",
    "LOG_NAME",
    "PLAIN",
    "Abort",
    "Ack",
    "Close",
    "Delivery",
    "Event",
    "LazyCheckpoint",
    "ProtocolError",
    "RunMode",
    "Stop",
    "ToWorker",
    "Train",
    "WorkerError",
    "WorkerSpec",
    "decode_event",
    "decode_to_worker",
    "encode",
]

LOG_NAME = "worker.log"
"""The worker's stdout and stderr, in the run folder."""

FAULT_ENV = "EEGTRAIN_WORKER_FAULT"
"""Test-only fault injection, read by the supervisor's side (see :mod:`.worker`)."""


class ProtocolError(ValueError):
    """A message that is not part of the protocol (unknown kind, missing or mistyped field)."""


# -- how a run behaves ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunMode:
    """How a run trains and what it leaves: a plain run (:data:`PLAIN`) or a job's trial.

    Attributes
    ----------
    batch_interval : float
        Least seconds between two batch events the worker relays (0: every batch; the run's
        first always goes). On cached features a batch takes a fraction of a millisecond, a
        relayed event (a round trip between two processes) about as much or more.
    light_outputs : bool
        No curves PNG, the checkpoint throttled from the start (:func:`~.engine.train`) and the
        run record saved at most once per second.
    publish : bool
        A completed run replaces the top-level files in ``save_dir`` (read by the service).
    session : WorkerSession or None
        The job's worker: the run trains in it (forked on the job's first run), relays its events
        pipelined (:mod:`.relay`) and leaves it running for the job's next run.
    """

    batch_interval: float = 0.0
    light_outputs: bool = False
    publish: bool = True
    session: WorkerSession | None = None

    @classmethod
    def trial(cls, session: WorkerSession, batch_interval: float) -> RunMode:
        """One trial of a job (a search): throttled batch events, light outputs, nothing
        published, trained in the job's worker."""
        return cls(batch_interval=batch_interval, light_outputs=True, publish=False, session=session)


PLAIN = RunMode()
"""A plain run: every batch relayed, full outputs, published when it completes, its own worker."""


# -- the run ---------------------------------------------------------------------------------------


class WorkerSpec(BaseModel):
    """The run a worker trains: everything it needs, as JSON-ready values.

    ``env`` and ``fault`` default to this process's environment when the spec is made (the
    supervisor's side); the worker applies ``env`` before it trains.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    config: TrainingConfig
    """The run's validated config (paths already resolved)."""
    run_dir: Path
    """The run folder: outputs, and the worker's :data:`LOG_NAME`."""
    env: dict[str, str] = Field(default_factory=lambda: dict(os.environ))
    fault: str | None = Field(default_factory=lambda: os.environ.get(FAULT_ENV))
    """``EEGTRAIN_WORKER_FAULT`` (tests only; see :mod:`.worker`)."""
    thread_settings: Mapping[str, int | None] | None = None
    """:func:`~.tuning.configure_training_thread` arguments (None: torch's own)."""
    feature_cache: Path | None = None
    """Folder of the :class:`~.feature_cache.FeatureCache` the engine uses."""
    windows_cache: Path | None = None
    """Folder of the :mod:`~.windows_cache` a ``files``/``epochs`` source is read through."""
    root_dir: Path | None = None
    """Root of the :class:`~.paths.PathPolicy` the config's data paths resolve against."""
    confine: bool = False
    """Refuse data paths outside ``root_dir`` (the server's policy)."""
    tensorboard_dir: Path | None = None
    """Where the run's TensorBoard events go (when ``tensorboard`` is installed)."""
    batch_interval: float = 0.0
    """See :class:`RunMode`."""
    light_outputs: bool = False
    """See :class:`RunMode`."""
    keep: bool = False
    """A session's worker: after a run that ended with ``end`` it waits for the next :class:`Train`."""
    pipelined: bool = False
    """Relay without waiting for each answer (:mod:`.relay`)."""

    @property
    def log_path(self) -> Path:
        """The worker's stdout and stderr."""
        return self.run_dir / LOG_NAME


# -- supervisor -> worker ------------------------------------------------------------------------


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ack(_Message):
    """Answers one event: it was handled. ``stop``: stop before the next batch (the user asked,
    or a listener did); ``stop_now``: a listener raised :class:`~.events.StopRequested` (a search
    pruning its trial): end the run now, as it would in process."""

    kind: Literal["ack"] = "ack"
    stop: bool = False
    stop_now: bool = False


class Abort(_Message):
    """Answers one event: a listener here raised ``error``; the run fails with it."""

    kind: Literal["abort"] = "abort"
    error: str


class Stop(_Message):
    """The user asked to stop (sent at any time, unanswered)."""

    kind: Literal["stop"] = "stop"


class Train(_Message):
    """Train ``spec`` (a torchrun job's rank 0, or a session's worker between two runs)."""

    kind: Literal["train"] = "train"
    spec: WorkerSpec


class Close(_Message):
    """A session's worker may exit (sent between two runs)."""

    kind: Literal["close"] = "close"


ToWorker = Annotated[Ack | Abort | Stop | Train | Close, Field(discriminator="kind")]
"""Every message the supervisor sends a worker."""

_TO_WORKER: TypeAdapter[Ack | Abort | Stop | Train | Close] = TypeAdapter(ToWorker)


def decode_to_worker(raw: bytes) -> Ack | Abort | Stop | Train | Close:
    """A message from the supervisor, read by the worker.

    Raises
    ------
    ProtocolError
        Not JSON, an unknown ``kind`` or fields that do not fit it.
    """
    try:
        return _TO_WORKER.validate_json(raw)
    except ValidationError as exc:
        raise ProtocolError(f"not a message to the worker ({_describe(exc)}): {raw[:80]!r}") from None


# -- worker -> supervisor ------------------------------------------------------------------------


class WorkerError(_Message):
    """The run failed in the worker (``Type: message``); unanswered, the worker's last message."""

    event: Literal["error"] = "error"
    error: str = ""
    traceback: str = ""


def _checkpoint(run_dir: Path) -> LazyCheckpoint:
    return LazyCheckpoint(find_checkpoint(run_dir) or run_dir / CHECKPOINT_NAME)


@dataclass(frozen=True)
class Event:
    """One engine event as it crosses: a :class:`~.events.TrainingListener` method's call.

    Attributes
    ----------
    name : str
        The event's name on the wire (``{"event": name, ...}``).
    method : str
        The listener method; its parameters (by their type hints) are the payload.
    local : mapping
        Parameters that are not sent: rebuilt on the supervisor's side from the run folder.
    throttled : bool
        A relay may leave some out (:attr:`WorkerSpec.batch_interval`).
    last : bool
        The run's last event: its ``result`` is the run's, and a pipelined relay waits for every
        answer before it returns.
    """

    name: str
    method: str
    local: Mapping[str, Callable[[Path], Any]] = field(default_factory=dict)
    throttled: bool = False
    last: bool = False

    @cached_property
    def _parameters(self) -> list[inspect.Parameter]:
        signature = inspect.signature(getattr(TrainingListener, self.method))
        return list(signature.parameters.values())[1:]  # without self

    @cached_property
    def positional(self) -> tuple[str, ...]:
        """Parameters the listener method takes by position, in order."""
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        return tuple(p.name for p in self._parameters if p.kind is kind)

    @cached_property
    def payload(self) -> type[BaseModel]:
        """The pydantic model of what is sent: the method's parameters less the local ones."""
        hints = typing.get_type_hints(getattr(TrainingListener, self.method))
        fields: dict[str, Any] = {
            p.name: (hints[p.name], ... if p.default is inspect.Parameter.empty else p.default)
            for p in self._parameters
            if p.name not in self.local
        }
        model: type[BaseModel] = create_model(
            f"{self.name}_event", __config__=ConfigDict(extra="forbid"), **fields
        )
        return model

    def encode(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bytes:
        """The message for the listener call ``method(*args, **kwargs)`` (rich values as JSON)."""
        if len(args) > len(self.positional):
            raise TypeError(f"{self.method} takes {len(self.positional)} positional arguments")
        values = {**dict(zip(self.positional, args, strict=False)), **kwargs}
        for name in self.local:
            values.pop(name, None)
        return json.dumps({"event": self.name, **values}, default=_plain).encode()

    def decode(self, data: Mapping[str, Any], run_dir: Path) -> Delivery:
        """The listener call a message (without its ``event`` key) stands for."""
        try:
            payload = self.payload.model_validate(data)
        except ValidationError as exc:
            raise ProtocolError(f"worker event {self.name!r}: {_describe(exc)}") from None
        # only what was sent: a parameter left out takes the listener's own default, as in process
        sent = payload.model_fields_set
        values = {name: getattr(payload, name) for name in type(payload).model_fields if name in sent}
        values.update({name: rebuild(run_dir) for name, rebuild in self.local.items()})
        return Delivery(self, values)


@dataclass(frozen=True)
class Delivery:
    """A decoded event: its entry and its arguments by parameter name."""

    event: Event
    values: dict[str, Any]

    def to(self, listener: TrainingListener) -> None:
        """Call ``listener``'s method: positional parameters by position, the rest by keyword."""
        keywords = dict(self.values)
        args = []
        for name in self.event.positional:
            if name not in keywords:
                break
            args.append(keywords.pop(name))
        getattr(listener, self.event.method)(*args, **keywords)


def _events(*events: Event) -> dict[str, Event]:
    table = {event.name: event for event in events}
    if "error" in table or len(table) != len(events):
        raise ValueError("event names are unique and not 'error' (the worker's failure report)")
    return table


EVENTS: dict[str, Event] = _events(
    Event("phase", "on_phase"),
    Event("model", "on_model"),
    Event("setup", "on_setup"),
    Event("batch", "on_batch", throttled=True),
    Event("best", "on_best", local={"checkpoint": _checkpoint}),  # the checkpoint is on disk
    Event("epoch_end", "on_epoch_end"),
    Event("split", "on_split"),
    Event("test", "on_test"),
    Event("end", "on_end", last=True),
)
"""Every engine event, by its name on the wire."""


def decode_event(raw: bytes, run_dir: Path) -> Delivery | WorkerError:
    """A message from the worker, read by the supervisor (``run_dir``: the run folder, for the
    ``local`` arguments).

    Raises
    ------
    ProtocolError
        Not a JSON object, an unknown event, or fields that do not fit the event.
    """
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ProtocolError(f"not a worker message: {raw[:80]!r}")
    name = data.pop("event", None)
    if name == "error":
        try:
            return WorkerError.model_validate(data)
        except ValidationError as exc:
            raise ProtocolError(f"worker event 'error': {_describe(exc)}") from None
    event = EVENTS.get(name) if isinstance(name, str) else None
    if event is None:
        raise ProtocolError(f"unknown worker event {name!r} (known: {', '.join(EVENTS)}, error)")
    return event.decode(data, run_dir)


def encode(message: BaseModel) -> bytes:
    """A typed message (:class:`Ack`, :class:`Train`, :class:`WorkerError` ...) as sent."""
    return message.model_dump_json().encode()


def _plain(value: Any) -> Any:
    """JSON for a dataclass (``EpochResult``, ``TrainingResult``, ``BackboneInfo``)."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _describe(exc: ValidationError) -> str:
    """``field: reason; ...`` of a validation error, on one line."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'message'}: {error['msg']}"
        for error in exc.errors()
    )


class LazyCheckpoint(Mapping[str, Any]):
    """``on_best``'s checkpoint for listeners here: the file the worker just wrote, read on first use."""

    def __init__(self, path: Path):
        self.path = path
        self._data: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._data is None:
            import torch

            self._data = torch.load(self.path, map_location="cpu", weights_only=True)
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())
