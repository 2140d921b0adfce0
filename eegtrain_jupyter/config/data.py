"""The ``data`` section of the training config: where the windows come from.

One nested model per source, told apart by ``source`` (a pydantic discriminated union), so the
REST schema, the panel and the CLI get every field, default and range from here:

* ``synthetic`` (default): the built-in generator (``n_samples_per_class`` stays at the top level);
* ``files``: recordings MNE reads (EDF/BDF, FIF, BrainVision, EEGLAB, GDF), labelled by their
  annotations (or stim events) through ``labels``;
* ``epochs``: an MNE ``-epo.fif`` file or an ``.npz`` with ``X``, ``y``, ``ch_names``, ``sfreq``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

__all__ = [
    "CH_NAMES",
    "CLASS_NAMES",
    "N_TIMES",
    "SFREQ",
    "SUBJECT_PATTERN_TIMEOUT_S",
    "DataSource",
    "EpochsData",
    "FilesData",
    "SignalOptions",
    "SyntheticData",
]

# the synthetic source's fixed window shape (data.synthetic generates it; resources estimate it)
SFREQ = 200.0
"""Sampling rate in Hz (LaBraM's native rate)."""
N_TIMES = 800
"""Samples per window: 4 s, i.e. four 200-sample LaBraM patches."""
CH_NAMES = ("FP1", "FP2", "C3", "C4", "P7", "P8", "O1", "O2")
"""Channel names, all in braindecode's ``LABRAM_CHANNEL_ORDER``."""
CLASS_NAMES = ("relaxed", "anxious")
"""Label ``i`` means ``CLASS_NAMES[i]``."""
SUBJECT_PATTERN_TIMEOUT_S = 1.0
"""Longest ``subject_pattern`` match on one file name, in seconds (the ``regex`` package's ``timeout``)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyntheticData(_Section):
    """The built-in generator: 2 classes at 200 Hz, 8 channels, 4 s windows."""

    source: Literal["synthetic"] = "synthetic"
    n_subjects: int = Field(24, ge=1, le=1000, description="Simulated subjects (ids 0..n-1)")


class SignalOptions(_Section):
    """What the model needs from a recording: channels, band-pass, window length (resampled to the
    model's native rate: 200 Hz, 256 for EEGPT)."""

    ch_names: list[str] | None = Field(
        None,
        description="LaBraM channel names to use, in this order; unset: every channel of the "
        "first file that LaBraM knows (after channel_map)",
    )
    channel_map: dict[str, str] = Field(
        default_factory=dict, description="Recording channel name -> LaBraM name (e.g. 'EEG Fp1-REF': 'FP1')"
    )
    l_freq: float | None = Field(None, gt=0, le=100, description="High-pass edge in Hz (unset: off)")
    h_freq: float | None = Field(None, gt=0, lt=100, description="Low-pass edge in Hz (unset: off)")
    window_s: float = Field(
        4.0, gt=0, le=60, description="Window length in seconds (whole seconds: LaBraM reads 1 s patches)"
    )

    @field_validator("window_s")
    @classmethod
    def _whole_seconds(cls, value: float) -> float:
        if value < 1:
            raise ValueError(f"window_s is {value} s; LaBraM needs windows of at least 1 s (one patch)")
        if not float(value).is_integer():
            raise ValueError(f"window_s is {value} s; LaBraM reads whole 1 s patches (use 1, 2, 3 ...)")
        return value


class FilesData(SignalOptions):
    """Continuous recordings labelled by annotation (or stim event) names."""

    source: Literal["files"]
    paths: list[str] = Field(min_length=1, description="Files or globs (inside the server root over REST)")
    labels: dict[str, str] = Field(
        min_length=1, description="Annotation/event name -> class name, e.g. {'eyes_closed': 'relaxed'}"
    )
    tmin: float = Field(0.0, ge=-60, le=60, description="Window start relative to the annotation onset (s)")
    sliding: bool = Field(
        False, description="Slide windows over each annotation's span instead of one window per annotation"
    )
    step_s: float | None = Field(
        None, gt=0, le=60, description="Hop between sliding windows (s); unset: window_s"
    )
    subject_pattern: str | None = Field(
        None,
        description="Regex on the file name (Python syntax, matched by the regex package, at most "
        f"{SUBJECT_PATTERN_TIMEOUT_S:g} s per name); its group 'subject' (or first group, or the "
        "whole match) is the subject",
    )
    subjects: dict[str, str] = Field(
        default_factory=dict, description="File name -> subject id (instead of subject_pattern)"
    )
    session_pattern: str | None = Field(
        None,
        description="Regex on the file name, as subject_pattern; its group 'session' (or first "
        "group, or the whole match) is the recording session (for evaluation.protocol cross_session)",
    )
    sessions: dict[str, str] = Field(
        default_factory=dict, description="File name -> session id (instead of session_pattern)"
    )

    @field_validator("subject_pattern", "session_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            import regex

            try:
                regex.compile(value)
            except regex.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
            except (RecursionError, OverflowError, MemoryError, ValueError) as exc:  # too deep, too big
                raise ValueError(f"not a usable regular expression ({type(exc).__name__})") from None
        return value


class EpochsData(SignalOptions):
    """Already-cut epochs: MNE ``-epo.fif`` (classes from its event names) or ``.npz``."""

    source: Literal["epochs"]
    path: str = Field(
        min_length=1,
        description="An -epo.fif or .npz file (X, y, ch_names, sfreq; optional class_names, subjects)",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Event name -> class name; unset: every event name is a class"
    )


def _source(value: Any) -> str | None:
    """The tag of a data section; a missing ``source`` means ``synthetic`` (its default, as the
    JSON Schema says)."""
    if isinstance(value, dict):
        return str(value.get("source", "synthetic"))
    return getattr(value, "source", None)


DataSource = Annotated[
    Annotated[SyntheticData, Tag("synthetic")]
    | Annotated[FilesData, Tag("files")]
    | Annotated[EpochsData, Tag("epochs")],
    Discriminator(
        _source,
        custom_error_type="invalid_source",
        custom_error_message="source must be one of synthetic, files, epochs",
    ),
]
"""One of the sources, chosen by its ``source`` field (default ``synthetic``)."""
