"""The base of every shape, the run life cycle and the error bodies."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["ErrorBody", "FieldErrorBody", "JobState", "Shape", "TrainingState"]


class TrainingState(str, Enum):
    """Life cycle of a run; ``idle`` only when no run was ever recorded."""

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


class JobState(str, Enum):
    """Life cycle of a job of several runs (a search, a benchmark); ``idle`` only when none was
    ever started."""

    IDLE = "idle"
    RUNNING = "running"
    STOPPING = "stopping"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def active(self) -> bool:
        return self in (JobState.RUNNING, JobState.STOPPING)


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, as sent over REST."""
        return self.model_dump(mode="json")


class FieldErrorBody(Shape):
    field: str
    message: str


class ErrorBody(Shape):
    """Every 4xx/5xx body (:meth:`~eegtrain_jupyter.errors.EegtrainError.body`); ``run_id`` only on 409."""

    error: str
    type: str | None = None
    errors: list[FieldErrorBody]
    run_id: str | None = None
