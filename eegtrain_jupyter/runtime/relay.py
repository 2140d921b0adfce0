"""The worker's side of the supervisor protocol: engine events out, answers (stop, abort) back.

Each event is one JSON object over a :class:`multiprocessing.connection.Connection`, sent by
:class:`Relay` (a :class:`~.events.TrainingListener` in the worker), which then waits for the
supervisor's answer: lock-step, so a stop lands before the next batch and a listener that raises
on the supervisor's side fails the run (:class:`Aborted`). :mod:`.protocol` defines the messages.

A **pipelined** relay (a search's trials) does not wait: it keeps at most :data:`WINDOW` events
unanswered and reads the answers as they come (before every batch, and after each event), so the
supervisor's listeners (run record, TensorBoard, Optuna's report) run on the other core while the
worker trains on. A user's stop still lands within one batch of reaching the worker; a listener's
abort or stop lands within :data:`WINDOW` events; the run's ``end`` waits for every answer.
"""

from __future__ import annotations

import time
from typing import Any

from ..engine.events import StopRequested, TrainingListener
from .protocol import EVENTS, Abort, Ack, Event, ProtocolError, Stop, WorkerError, decode_to_worker, encode

__all__ = ["WINDOW", "Aborted", "Relay"]

WINDOW = 4
"""Events a pipelined relay may have unanswered (with head epochs of a few milliseconds, about
one epoch: a trial the pruner stops runs at most about one epoch more)."""


class Aborted(Exception):
    """The supervisor ended the run (a listener on its side raised)."""


class Relay(TrainingListener):
    """Sends each engine event to the supervisor and waits for its answer.

    Every listener method is encoded with its :data:`~.protocol.EVENTS` entry (see the end of
    this module); the answers are :class:`~.protocol.Ack`, :class:`~.protocol.Abort` and
    :class:`~.protocol.Stop`.

    Parameters
    ----------
    conn : multiprocessing.connection.Connection
        Duplex connection to the supervisor.
    batch_interval : float
        Least seconds between two relayed batch events (0: every batch; the run's first batch
        always goes). Stops still land within one batch (:meth:`should_stop`).
    pipelined : bool
        Do not wait for each answer (see the module docstring).
    """

    def __init__(self, conn: Any, *, batch_interval: float = 0.0, pipelined: bool = False):
        self.conn = conn
        self.stop = False
        self.batch_interval = batch_interval
        self._batch_sent = -float("inf")
        self.pipelined = pipelined
        self._unanswered = 0
        self._stop_now = False

    def _receive(self) -> None:
        """Read one message from the supervisor (blocking) and act on it."""
        message = decode_to_worker(self.conn.recv_bytes())
        if not isinstance(message, Ack | Abort | Stop):  # a Train or a Close comes between runs only
            raise ProtocolError(f"a {message.kind!r} message arrived during a run")
        if isinstance(message, Ack | Abort):
            self._unanswered -= 1  # every event gets exactly one answer: an ack or an abort
        if isinstance(message, Stop) or (isinstance(message, Ack) and message.stop):
            self.stop = True
        if isinstance(message, Abort):
            raise Aborted(message.error)
        if isinstance(message, Ack) and message.stop_now and _single_process():
            # a listener there raised StopRequested (a search pruning its trial): end the run
            # here as it would in process (pipelined: before the next batch, not inside another
            # event's fan-out); under torchrun the stop lands at the next batch instead, where
            # every rank agrees on it
            self._stop_now = True
            if not self.pipelined:
                raise StopRequested

    def fail(self, error: WorkerError) -> None:
        """Report the run's failure (unanswered: the worker ends after it)."""
        self.conn.send_bytes(encode(error))

    def forward(self, event: Event, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Send the listener call ``event.method(*args, **kwargs)``; return once the supervisor
        has handled it (pipelined: once at most :data:`WINDOW` events are unanswered; the run's
        last event: once every event is answered). A throttled event (a batch) within
        ``batch_interval`` of the last one sent is left out."""
        if event.throttled:
            now = time.monotonic()
            if now - self._batch_sent < self.batch_interval:
                return
            self._batch_sent = now
        self.conn.send_bytes(event.encode(args, kwargs))
        self._unanswered += 1
        limit = WINDOW if self.pipelined and not event.last else 0
        while self._unanswered > limit or (self._unanswered and self.conn.poll(0)):
            self._receive()

    def should_stop(self) -> bool:
        """The engine's ``should_stop``: true once a stop arrived (read without blocking)."""
        while self.conn.poll(0) and (self._unanswered or not self.stop):
            self._receive()
        if self._stop_now:  # pipelined: a listener's stop, answered to an earlier event
            raise StopRequested
        return self.stop


def _forwarder(event: Event) -> Any:
    def forward(self: Relay, *args: Any, **kwargs: Any) -> None:
        self.forward(event, args, kwargs)

    forward.__name__ = forward.__qualname__ = event.method
    forward.__doc__ = f"Relays ``{event.name}`` (:data:`~.protocol.EVENTS`)."
    return forward


for _event in EVENTS.values():  # every listener method, encoded by its entry
    setattr(Relay, _event.method, _forwarder(_event))
del _event


def _single_process() -> bool:
    from ..engine.distributed import current

    return current().world == 1
