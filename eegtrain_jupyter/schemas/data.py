"""What ``POST /training/config/validate`` answers: per-field errors and the data scan."""

from __future__ import annotations

from ..config.training import TrainingConfig
from .base import FieldErrorBody, Shape

__all__ = ["DataSummary", "FileSummary", "ValidationBody"]


class FileSummary(Shape):
    """One recording as the data scan found it."""

    path: str
    subject: str | None
    session: str | None = None
    sfreq: float
    n_channels: int
    duration_s: float
    n_windows: int
    annotations: dict[str, int] = {}
    """Annotation/event names in the file and how often each occurs (labelled or not)."""


class DataSummary(Shape):
    """What a ``files``/``epochs`` source holds, before any training (``POST /training/config/validate``)."""

    source: str
    n_windows: int
    window_s: float
    sfreq: float
    ch_names: list[str]
    """Model-input channels, in order (LaBraM names)."""
    renamed: dict[str, str] = {}
    """Recording channel -> LaBraM name, where they differ."""
    dropped: list[str] = []
    """Recording channels left out of the model input (not LaBraM names, or not in ``ch_names``)."""
    suggested_channel_map: dict[str, str] = {}
    """A ``channel_map`` entry for each left-out channel that resembles a LaBraM name it could feed."""
    class_names: list[str]
    windows_per_class: dict[str, int]
    windows_per_subject: dict[str, int] = {}
    subjects: list[str] = []
    sessions: list[str] = []
    """The recording sessions (``data.session_pattern`` or ``data.sessions``)."""
    files: list[FileSummary] = []
    cached: bool = False
    """The windows came from the on-disk cache."""


class ValidationBody(Shape):
    valid: bool
    errors: list[FieldErrorBody]
    config: TrainingConfig | None
    data_summary: DataSummary | None = None
    """For ``files``/``epochs`` sources, the scan of the data (None when invalid or synthetic)."""
