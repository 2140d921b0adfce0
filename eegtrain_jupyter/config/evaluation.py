"""The ``evaluation`` section of the training config: how a run's test windows are chosen.

* ``holdout`` (default): one train / validation / test split (``val_split``, ``test_split``,
  ``split_by``), as a run always made;
* ``cross_subject``: ``n_folds``-fold cross-validation by subject (scikit-learn's ``GroupKFold``;
  leave-one-subject-out when ``n_folds`` is at least the number of subjects);
* ``within_subject``: stratified ``n_folds``-fold cross-validation inside each subject (fold ``k``
  tests every subject's ``k``-th part);
* ``cross_session``: leave one session out within each subject (fold ``k`` tests every subject's
  ``k``-th session, in sorted order; sessions from ``data.session_pattern`` or ``data.sessions``).

A run trains one fold (``fold``); its test split is that fold's held-out part, and its validation
split (epoch choice, early stopping) is carved from the fold's training part, never from the test
part. A benchmark (``POST /training/benchmark``) runs every fold ``n_repeats`` times, repeat ``r``
with seed ``seed + r``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

__all__ = ["FOLD_PROTOCOLS", "PROTOCOLS", "EvaluationConfig", "Protocol"]

Protocol = Literal["holdout", "cross_subject", "within_subject", "cross_session"]
PROTOCOLS: tuple[str, ...] = ("holdout", "cross_subject", "within_subject", "cross_session")
"""Every protocol, the default first."""
FOLD_PROTOCOLS: tuple[str, ...] = PROTOCOLS[1:]
"""The cross-validation protocols: a run of one trains one of their folds."""


class EvaluationConfig(BaseModel):
    """How a run is evaluated: the protocol, and which of its folds this run trains."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: Protocol = Field(
        "holdout",
        description="holdout: one train/val/test split; cross_subject: k-fold by subject; "
        "within_subject: stratified k-fold inside each subject; cross_session: leave one session "
        "out within each subject",
    )
    n_folds: int = Field(
        5,
        ge=2,
        le=100,
        description="Folds of cross_subject and within_subject (cross_subject: leave-one-subject-out "
        "when at least the number of subjects); cross_session has one fold per session",
    )
    fold: int = Field(0, ge=0, le=99, description="The fold this run trains (0-based); holdout: 0")
    n_repeats: int = Field(
        1, ge=1, le=20, description="A benchmark's repetitions of every fold, repeat r with seed + r"
    )

    @field_validator("fold")
    @classmethod
    def _fold_in_range(cls, value: int, info: ValidationInfo) -> int:
        protocol, n_folds = info.data.get("protocol"), info.data.get("n_folds")
        if protocol == "holdout" and value != 0:
            raise ValueError("applies to the cross-validation protocols; holdout has fold 0 only")
        if protocol in ("cross_subject", "within_subject") and n_folds is not None and value >= n_folds:
            raise ValueError(f"fold {value} is not below n_folds ({n_folds})")
        return value

    @property
    def folded(self) -> bool:
        """A cross-validation protocol (not ``holdout``)."""
        return self.protocol != "holdout"
