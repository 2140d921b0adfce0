"""The worker's side of the supervisor protocol: engine events out, answers (stop, abort) back.

Each event is one JSON object over a :class:`multiprocessing.connection.Connection`, sent by
:class:`Relay` (a :class:`~.events.TrainingListener` in the worker), which then waits for the
supervisor's answer: lock-step, so a stop lands before the next batch and a listener that raises
on the supervisor's side fails the run (:class:`Aborted`). :mod:`.worker` describes the messages.

A **pipelined** relay (a search's trials) does not wait: it keeps at most :data:`WINDOW` events
unanswered and reads the answers as they come (before every batch, and after each event), so the
supervisor's listeners (run record, TensorBoard, Optuna's report) run on the other core while the
worker trains on. A user's stop still lands within one batch of reaching the worker; a listener's
abort or stop lands within :data:`WINDOW` events; the run's ``end`` waits for every answer.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

from ..engine.events import EpochResult, StopRequested, TrainingListener, TrainingResult

__all__ = ["WINDOW", "Aborted", "Relay", "decode", "encode"]

WINDOW = 4
"""Events a pipelined relay may have unanswered (with head epochs of a few milliseconds, about
one epoch: a trial the pruner stops runs at most about one epoch more)."""


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()


def decode(raw: bytes) -> dict[str, Any]:
    message = json.loads(raw)
    if not isinstance(message, dict):
        raise ValueError(f"not a message: {raw[:80]!r}")
    return message


class Aborted(Exception):
    """The supervisor ended the run (a listener on its side raised)."""


class Relay(TrainingListener):
    """Sends each engine event to the supervisor and waits for its answer.

    Parameters
    ----------
    conn : multiprocessing.connection.Connection
        Duplex connection to the supervisor.
    """

    def __init__(self, conn: Any):
        self.conn = conn
        self.stop = False
        self.batch_interval = 0.0
        """Least seconds between two relayed batch events (0: every batch; the run's first batch
        always goes). Stops still land within one batch (:meth:`should_stop`)."""
        self._batch_sent = -float("inf")
        self.pipelined = False
        """Do not wait for each answer (see the module docstring); set before the first event."""
        self._unanswered = 0
        self._stop_now = False

    def _receive(self) -> None:
        """Read one message from the supervisor (blocking) and act on it."""
        message = decode(self.conn.recv_bytes())
        if message.get("ack") or message.get("abort"):
            self._unanswered -= 1  # every event gets exactly one answer: an ack or an abort
        self._note(message)

    def _note(self, message: dict[str, Any]) -> None:
        if message.get("stop"):
            self.stop = True
        if message.get("abort"):
            raise Aborted(message["abort"])
        if message.get("stop_now") and _single_process():
            # a listener there raised StopRequested (a search pruning its trial): end the run
            # here as it would in process (pipelined: before the next batch, not inside another
            # event's fan-out); under torchrun the stop lands at the next batch instead, where
            # every rank agrees on it
            self._stop_now = True
            if not self.pipelined:
                raise StopRequested

    def send(self, message: dict[str, Any]) -> None:
        self.conn.send_bytes(encode(message))

    def emit(self, event: str, **payload: Any) -> None:
        """Send one event; return once the supervisor has handled it (pipelined: once at most
        :data:`WINDOW` events are unanswered; the run's ``end``: once every event is answered)."""
        self.send({"event": event, **payload})
        self._unanswered += 1
        limit = WINDOW if self.pipelined and event != "end" else 0
        while self._unanswered > limit or (self._unanswered and self.conn.poll(0)):
            self._receive()

    def should_stop(self) -> bool:
        """The engine's ``should_stop``: true once a stop arrived (read without blocking)."""
        while self.conn.poll(0) and (self._unanswered or not self.stop):
            self._receive()
        if self._stop_now:  # pipelined: a listener's stop, answered to an earlier event
            raise StopRequested
        return self.stop

    def on_phase(self, phase: str) -> None:
        self.emit("phase", phase=phase)

    def on_model(self, *, name: str, n_parameters: int, n_trainable: int) -> None:
        self.emit("model", name=name, n_parameters=n_parameters, n_trainable=n_trainable)

    def on_setup(
        self,
        *,
        device: str,
        precision: str,
        backbone: Any,
        n_train: int,
        n_val: int,
        precision_reason: str = "",
    ) -> None:
        self.emit(
            "setup",
            device=device,
            precision=precision,
            backbone=asdict(backbone),
            n_train=n_train,
            n_val=n_val,
            precision_reason=precision_reason,
        )

    def on_batch(self, **batch: Any) -> None:
        now = time.monotonic()
        if now - self._batch_sent < self.batch_interval:
            return
        self._batch_sent = now
        self.emit("batch", **batch)

    def on_best(self, result: EpochResult, checkpoint: dict[str, Any]) -> None:
        self.emit("best", result=asdict(result))  # the checkpoint is on disk (ArtifactWriter)

    def on_epoch_end(self, result: EpochResult, history: dict[str, list[float]]) -> None:
        self.emit("epoch_end", result=asdict(result), history=history)

    def on_split(self, split: str) -> None:
        self.emit("split", split=split)

    def on_test(self, report: dict[str, Any]) -> None:
        self.emit("test", report=report)

    def on_end(self, result: TrainingResult) -> None:
        self.emit("end", result=asdict(result))


def _single_process() -> bool:
    from ..engine.distributed import current

    return current().world == 1
