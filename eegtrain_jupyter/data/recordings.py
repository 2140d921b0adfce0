"""Windows from real recordings: the ``files`` data source (epochs are :mod:`.epochs_source`'s).

Reading is MNE's (``mne.io.read_raw``, ``mne.read_epochs``), preprocessing is
:mod:`.preprocess`'s; this module picks the labelled spans, cuts the windows, finds each file's
subject and says what it found (:class:`~.schemas.DataSummary`). Every problem with the data is a
:class:`~.errors.ConfigError` naming the field and the file, raised before any training starts.
"""

from __future__ import annotations

import configparser
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import regex
from pydantic import ValidationError

from ..config.data import SUBJECT_PATTERN_TIMEOUT_S, EpochsData, FilesData, SignalOptions
from ..config.names import native_signal
from ..errors import ConfigError, FieldError
from ..schemas import DataSummary, FileSummary
from .paths import os_reason
from .preprocess import (
    Preprocessing,
    apply_to_raw,
    channel_map_hint,
    check_model_channels,
    check_windows,
    model_channel_names,
    processed_grid,
    span_padding,
    suggest_channel_map,
)
from .windows import Windows

if TYPE_CHECKING:
    import mne

    from .paths import PathPolicy

__all__ = [
    "HEADER_MAX_BYTES",
    "SPAN_BYTES",
    "Recording",
    "load_files",
    "make_preprocessing",
    "open_recording",
    "read_raw",
    "renames",
    "require_every_class",
    "summarize",
]

HEADER_MAX_BYTES = 16 * 1024**2
"""Largest BrainVision ``.vhdr`` read to find its companion files."""

OnFile = Callable[[str], None]
"""Progress hook: called with a file's root-relative name just before it is read."""

_RAW_SUFFIXES = (".edf", ".bdf", ".fif", ".fif.gz", ".vhdr", ".set", ".gdf", ".cnt", ".mff", ".eeg")


def read_raw(path: Path, field: str) -> mne.io.BaseRaw:
    """``mne.io.read_raw`` (header only), any failure a 400 naming the file.

    Use :func:`open_recording` for a file a REST caller named: it checks the files the header
    points at before MNE opens them.
    """
    import mne

    try:
        return mne.io.read_raw(path, preload=False, verbose="error")
    except MemoryError:  # the reader's limit, not the file's fault: the caller names it
        raise
    except Exception as exc:  # each reader fails its own way (ValueError, OSError, KeyError...)
        raise _unreadable(path, field, f"{type(exc).__name__}: {exc}") from None


def _unreadable(path: Path, field: str, why: str) -> ConfigError:
    return ConfigError.field(field, f"cannot read {path.name} as an EEG recording: {why}")


@dataclass(frozen=True)
class Recording:
    """A recording whose header was read and checked (:func:`open_recording`); no samples yet.

    Attributes
    ----------
    path : Path
        The recording (resolved).
    field : str
        The config field that named it (``data.paths[i]``, ``i`` the pattern's index).
    name : str
        Its name relative to the root, for summaries and progress.
    raw : mne.io.BaseRaw
        Opened with ``preload=False``: the header only.
    companions : tuple of Path
        The other files its header points at (BrainVision data and marker files, EEGLAB
        ``.fdt``, FIF split parts), resolved and checked; they are windows-cache inputs too.
    """

    path: Path
    field: str
    name: str
    raw: mne.io.BaseRaw
    companions: tuple[Path, ...] = ()

    @property
    def inputs(self) -> tuple[Path, ...]:
        """Every file the windows of this recording are made from."""
        return (self.path, *self.companions)


def open_recording(path: Path, field: str, paths: PathPolicy, on_file: OnFile | None = None) -> Recording:
    """Check ``path`` and every file its header names, then read its header with MNE.

    Before MNE opens anything: ``path`` must be a regular file; an EDF/BDF's fixed header must
    agree with the file's size (:func:`_check_edf_header`); a BrainVision header's ``DataFile``
    and ``MarkerFile`` must resolve (symlinks followed) to regular files inside the root
    (:func:`_brainvision_companions`). After MNE read the header (``preload=False``), every file
    it will read samples from (``raw.filenames``: an EEGLAB ``.set``'s ``.fdt``, FIF split parts)
    is checked the same way, before any sample is read.

    Raises
    ------
    ConfigError
        On ``field``, naming the recording.
    """
    paths.check_regular(path, field)
    name = paths.shown(path)
    if on_file is not None:
        on_file(name)
    suffix = path.suffix.lower()
    companions: dict[Path, None] = {}
    if suffix in (".edf", ".bdf"):
        _check_edf_header(path, field)
    elif suffix in (".vhdr", ".ahdr"):
        companions.update(dict.fromkeys(_brainvision_companions(path, field, paths)))
    raw = read_raw(path, field)
    for filename in raw.filenames:
        if filename is None:
            continue
        part = _resolved(Path(filename), path, "data file", field)
        if part != path:
            _check_companion(part, path, "data file", field, paths)
            companions[part] = None
    return Recording(path=path, field=field, name=name, raw=raw, companions=tuple(companions))


def _resolved(part: Path, path: Path, what: str, field: str) -> Path:
    try:
        return part.resolve()
    except (ValueError, OSError) as exc:  # a NUL byte, a name too long, a symlink loop
        raise ConfigError.field(
            field, f"{path.name}'s {what} is not a usable path: {os_reason(exc)}"
        ) from None


def _check_companion(part: Path, path: Path, what: str, field: str, paths: PathPolicy) -> None:
    """A file ``path``'s header names: inside the root (when confined) and a regular file."""
    label = f"{path.name}'s {what}"
    paths.check_inside(part, field, label)
    paths.check_regular(part, field, label)


def _brainvision_companions(path: Path, field: str, paths: PathPolicy) -> list[Path]:
    """The data and marker files a BrainVision header names, resolved and checked.

    Resolved as MNE's reader does (``mne/io/brainvision/brainvision.py``): each name joined to the
    header's folder (an absolute name stays absolute), ``Common Infos`` read with
    :mod:`configparser` from the text after the first line and before ``[Comment]``; a
    ``MarkerFile`` that is not a file makes MNE fall back to the ``.vmrk`` next to the header.
    """
    size = path.stat().st_size
    if size > HEADER_MAX_BYTES:
        raise _unreadable(path, field, f"a {size} byte header is larger than {HEADER_MAX_BYTES} bytes")
    with open(path, "rb") as f:
        f.readline()  # "Brain Vision Data Exchange Header File Version 1.0"
        raw_text = f.read(HEADER_MAX_BYTES)
    try:
        text = raw_text.decode("utf-8")
    except UnicodeDecodeError:
        text = raw_text.decode("latin-1")
    cfg = configparser.ConfigParser(interpolation=None)
    try:
        cfg.read_string(text.split("[Comment]")[0])
    except configparser.Error as exc:
        raise _unreadable(path, field, f"its header is not valid: {exc.message}") from None
    section = "Common Infos" if cfg.has_section("Common Infos") else "Common infos"
    data_name = cfg.get(section, "DataFile", fallback="")
    if not data_name:
        raise _unreadable(path, field, "its header names no DataFile")
    out = []
    folder = path.parent  # the header's own folder (``path`` is resolved)
    data = _resolved(Path(os.path.join(folder, data_name)), path, "DataFile", field)
    _check_companion(data, path, "DataFile", field, paths)
    out.append(data)
    marker_name = cfg.get(section, "MarkerFile", fallback="")
    if marker_name:
        marker = _resolved(Path(os.path.join(folder, marker_name)), path, "MarkerFile", field)
        paths.check_inside(marker, field, f"{path.name}'s MarkerFile")
        if not marker.exists():
            marker = path.with_suffix(".vmrk")  # MNE's fallback
            if not marker.exists():
                return out
        _check_companion(marker, path, "MarkerFile", field, paths)
        out.append(marker)
    return out


def _check_edf_header(path: Path, field: str) -> None:
    """The fixed 256-byte EDF/BDF header against the file: the number of signals, the header
    size it implies (``256 * (signals + 1)``) and the file's size; no reader runs on a file
    whose header cannot be right."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(256)
    if len(head) < 256:
        raise _unreadable(path, field, f"{size} bytes, shorter than the 256-byte EDF/BDF header")
    try:
        header_bytes = int(head[184:192].decode("ascii").strip())
        n_signals = int(head[252:256].decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise _unreadable(
            path, field, "the EDF/BDF header's size (bytes 184-192) or signal count (252-256) is not a number"
        ) from None
    if n_signals < 1:
        raise _unreadable(path, field, f"the EDF/BDF header claims {n_signals} signals")
    if header_bytes != 256 * (n_signals + 1):
        raise _unreadable(
            path,
            field,
            f"the EDF/BDF header claims {n_signals} signals and {header_bytes} header bytes "
            f"(that many signals take {256 * (n_signals + 1)})",
        )
    if header_bytes > size:
        raise _unreadable(
            path,
            field,
            f"the EDF/BDF header claims {n_signals} signals ({header_bytes} header bytes) "
            f"but the file has {size} bytes",
        )


def make_preprocessing(
    rec_names: list[str], opts: SignalOptions, field: str = "data.ch_names", model: str = "labram"
) -> Preprocessing:
    """The :class:`Preprocessing` of ``opts`` for ``model``: its ``ch_names`` (each one the model can
    place), or every recording channel the model knows; the model's native rate and patch."""
    names = opts.ch_names
    if names is None:
        known = set(model_channel_names(model))
        names = [opts.channel_map.get(n, n).upper() for n in rec_names]
        names = [n for n in names if n in known]
        if not names:
            raise ConfigError.field(
                field,
                f"no channel of the recording is a channel name model {model} knows "
                f"({', '.join(rec_names)})" + channel_map_hint(rec_names),
            )
    native = native_signal(model)
    try:
        prep = Preprocessing(
            ch_names=names,
            channel_map=opts.channel_map,
            l_freq=opts.l_freq,
            h_freq=opts.h_freq,
            sfreq=native.sfreq,
            window_s=opts.window_s,
            patch=native.patch,
        )
    except ValidationError as exc:  # unknown channel names, l_freq >= h_freq
        raise ConfigError(
            [
                FieldError(
                    f"data.{'.'.join(map(str, e['loc']))}".rstrip("."), e["msg"].removeprefix("Value error, ")
                )
                for e in exc.errors()
            ]
        ) from None
    check_model_channels(prep.ch_names, model, field)
    return prep


def _subject(rec: Recording, cfg: FilesData) -> str | None:
    return _file_id(rec, cfg.subjects, cfg.subject_pattern, "subject")


def _session(rec: Recording, cfg: FilesData) -> str | None:
    return _file_id(rec, cfg.sessions, cfg.session_pattern, "session")


def _file_id(rec: Recording, table: dict[str, str], pattern: str | None, kind: str) -> str | None:
    """The recording's ``kind`` (subject or session) from the ``data.<kind>s`` table or the
    ``data.<kind>_pattern`` regex on its file name (group ``kind``, else the first group, else the
    whole match); None when neither is set."""
    path = rec.path
    if table:
        for key in (path.name, path.stem, rec.name, str(path)):
            if key in table:
                return table[key]
        raise ConfigError.field(f"data.{kind}s", f"{path.name} is not in the {kind}s table")
    if pattern:
        try:  # the regex package: a pattern that backtracks forever stops at the timeout
            match = regex.search(pattern, path.name, timeout=SUBJECT_PATTERN_TIMEOUT_S, concurrent=True)
        except TimeoutError:
            raise ConfigError.field(
                f"data.{kind}_pattern",
                f"matching the file name {path.name} took longer than {SUBJECT_PATTERN_TIMEOUT_S:g} s; "
                "simplify the pattern",
            ) from None
        if match is None:
            raise ConfigError.field(
                f"data.{kind}_pattern", f"{pattern!r} does not match the file name {path.name}"
            )
        groups = match.groupdict()
        return groups.get(kind) or (match.group(1) if match.groups() else match.group(0))
    return None


def _labelled(raw: mne.io.BaseRaw, labels: dict[str, str]) -> mne.io.BaseRaw:
    """``raw`` with stim events as annotations (named by code: "1", "2"...) and BrainVision's
    ``Comment/eyes_closed`` style names shortened to the name in ``labels``."""
    import mne

    ann = raw.annotations
    desc = [
        d.split("/", 1)[1] if d not in labels and "/" in d and d.split("/", 1)[1] in labels else d
        for d in ann.description
    ]
    if list(desc) != list(ann.description):
        raw = raw.copy().set_annotations(
            mne.Annotations(ann.onset, ann.duration, desc, orig_time=ann.orig_time)
        )
    if not mne.pick_types(raw.info, stim=True).size:
        return raw
    events = mne.find_events(raw, verbose="error", shortest_event=1)
    if len(events):
        ann = mne.annotations_from_events(
            events,
            raw.info["sfreq"],
            first_samp=raw.first_samp,
            orig_time=raw.annotations.orig_time,
            verbose="error",
        )
        raw = raw.copy().set_annotations(raw.annotations + ann)
    return raw


def _window_starts(
    raw: mne.io.BaseRaw, cfg: FilesData, prep: Preprocessing, classes: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Where a recording's windows start and their class indices, before any sample is read.

    Starts count preprocessed samples (the grid :func:`.preprocess.processed_grid` gives the
    recording): one window at each labelled annotation's ``onset + tmin`` or, with ``sliding``,
    one every ``step_s`` that fits inside its span; windows that would leave the recording are
    dropped. In annotation order.
    """
    sfreq, first_samp, n_total = processed_grid(raw, prep)
    n_times = prep.n_times
    step = max(1, round((cfg.step_s or cfg.window_s) * sfreq))
    ann = raw.annotations
    starts, labels = [], []
    for onset, duration, desc in zip(ann.onset, ann.duration, ann.description, strict=True):
        if desc not in cfg.labels:
            continue
        first = _as_index(raw, onset + cfg.tmin, ann.orig_time, sfreq, first_samp)
        if cfg.sliding:
            last = first + round((duration - cfg.tmin) * sfreq) - n_times  # the window stays in the span
            span = list(range(first, last + 1, step))
        else:
            span = [first]
        span = [s for s in span if s >= 0 and s + n_times <= n_total]
        starts += span
        labels += [classes.index(cfg.labels[desc])] * len(span)
    return np.asarray(starts, np.int64), np.asarray(labels, np.int64)


def _as_index(
    raw: mne.io.BaseRaw, time: float, origin: datetime | None, sfreq: float, first_samp: int
) -> int:
    """``time_as_index(time, use_rounding=True, origin=origin)`` (``mne.io.BaseRaw``'s arithmetic)
    on the preprocessed recording: rate ``sfreq``, first sample ``first_samp``."""
    delta = 0.0
    if origin is not None:
        delta = (origin - (raw.info["meas_date"] + timedelta(0, first_samp / sfreq))).total_seconds()
    return int(np.round((time + delta) * sfreq))


SPAN_BYTES = 64 * 1024**2
"""Most bytes of float64 source samples (the model's channels) preprocessed in one piece; the
padding :func:`.preprocess.span_padding` adds comes on top."""

_BATCH_BYTES = 16 * 1024**2
"""Most bytes of float64 windows copied out of a preprocessed piece at once."""


def _read_windows(raw: mne.io.BaseRaw, prep: Preprocessing, starts: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` (``(len(starts), n_chans, n_times)`` float32) with the windows at ``starts``, in µV.

    Reads only the labelled stretches: windows close together are preprocessed as one piece
    (at most :data:`SPAN_BYTES` of source samples plus padding; a gap shorter than the padding
    it would save is read too), each through :func:`.preprocess.apply_to_raw` with
    ``start``/``stop``.
    """
    n_times = prep.n_times
    src_sfreq = float(raw.info["sfreq"])
    ratio = prep.sfreq / src_sfreq if prep.resamples(src_sfreq) else 1.0
    max_len = max(n_times, int(SPAN_BYTES / (8 * len(prep.ch_names)) * ratio))
    max_gap = 2 * span_padding(src_sfreq, prep) * ratio
    batch = max(1, _BATCH_BYTES // (8 * len(prep.ch_names) * n_times))
    order = np.argsort(starts, kind="stable")
    i = 0
    while i < len(order):
        j, lo, hi = i + 1, int(starts[order[i]]), int(starts[order[i]]) + n_times
        while j < len(order):
            s = int(starts[order[j]])
            if s + n_times - lo > max_len or s - hi > max_gap:
                break
            hi = max(hi, s + n_times)
            j += 1
        data = apply_to_raw(raw, prep, lo, hi).get_data()
        view = np.lib.stride_tricks.sliding_window_view(data, n_times, axis=-1)  # (chans, positions, n_times)
        for b in range(i, j, batch):
            rows = order[b : min(j, b + batch)]
            out[rows] = (view[:, starts[rows] - lo].transpose(1, 0, 2) * prep.scale).astype(np.float32)
        del data, view
        i = j


@dataclass
class _Planned:
    """A recording checked and labelled, its windows placed; no samples read yet."""

    rec: Recording
    raw: mne.io.BaseRaw
    subject: str | None
    session: str | None
    counts: Counter[str]
    starts: np.ndarray
    y: np.ndarray


def load_files(
    cfg: FilesData,
    recordings: list[Recording],
    on_file: OnFile | None = None,
    model: str = "labram",
    *,
    prep: Preprocessing | None = None,
    every_class: bool = True,
) -> tuple[Windows, DataSummary]:
    """Read, preprocess and window every recording; labels from annotations (or stim events).

    First every recording's labels, subject, channels and window starts are found from its
    header, annotations and stim channel; then the windows' array is allocated once and filled
    file by file, reading only the labelled stretches of each (:func:`_read_windows`), so memory
    follows the windows, not the recordings.

    Parameters
    ----------
    cfg : FilesData
    recordings : list of Recording
        From :func:`open_recording` (headers read and checked).
    on_file : callable, optional
        Called with each recording's root-relative name just before its samples are read.
    model : str
        The model the windows are for: its native rate and channel names.
    prep : Preprocessing, optional
        The preprocessing to repeat (a trained model's); default: made from ``cfg`` for ``model``.
    every_class : bool
        Require windows of every class and every ``labels`` name in some file (training); else
        (scoring a trained model) at least one labelled window.

    Returns
    -------
    Windows
        ``X`` (n_windows, n_chans, n_times) float32 µV at the model's rate; ``subjects`` when known.
    DataSummary
    """
    classes = list(dict.fromkeys(cfg.labels.values()))
    plans: list[_Planned] = []
    seen: Counter[str] = Counter()
    renamed: dict[str, str] = {}
    dropped: dict[str, None] = {}  # recording channels not used, in the order first seen
    for rec in recordings:
        path = rec.path
        raw = _labelled(rec.raw, cfg.labels)
        subject, session = _subject(rec, cfg), _session(rec, cfg)
        counts = Counter(str(d) for d in raw.annotations.description)
        if not set(counts) & set(cfg.labels):
            found = ", ".join(sorted(counts)) or "none"
            raise ConfigError.field(
                "data.labels",
                f"{path.name} has no annotation or event named in "
                f"labels ({', '.join(cfg.labels)}); it has: {found}",
            )
        seen.update({k: v for k, v in counts.items() if k in cfg.labels})
        if prep is None:
            prep = make_preprocessing(list(raw.ch_names), cfg, model=model)
        try:
            picks = renames(raw.ch_names, prep)
        except ConfigError as exc:
            raise ConfigError(
                [FieldError(e.field, f"{path.name}: {e.message}") for e in exc.errors]
            ) from None
        renamed.update({src: dst for src, dst in picks.items() if src != dst})
        dropped.update(dict.fromkeys(n for n in raw.ch_names if n not in picks))
        starts, y = _window_starts(raw, cfg, prep, classes)
        plans.append(_Planned(rec, raw, subject, session, counts, starts, y))
    assert prep is not None
    y_all = np.concatenate([p.y for p in plans])
    if every_class:
        for key in cfg.labels:
            if key not in seen:
                raise ConfigError.field("data.labels", f"no annotation or event named {key!r} in any file")
        require_every_class(y_all, classes, cfg)
    elif not len(y_all):
        raise ConfigError.field(
            "data.labels",
            "no labelled window in the files (annotations shorter than window_s, or windows past the "
            "end of the recording)",
        )
    X = np.empty((len(y_all), len(prep.ch_names), prep.n_times), np.float32)
    subjects, sessions, infos = [], [], []
    offset = 0
    for plan in plans:
        rec, raw, path, field = plan.rec, plan.raw, plan.rec.path, plan.rec.field
        if on_file is not None:
            on_file(rec.name)
        out = X[offset : offset + len(plan.y)]
        offset += len(plan.y)
        try:
            _read_windows(raw, prep, plan.starts, out)
        except ConfigError as exc:
            raise ConfigError(
                [FieldError(e.field, f"{path.name}: {e.message}") for e in exc.errors]
            ) from None
        except MemoryError:  # the reader's limit, not the file's fault: the caller names it
            raise
        except Exception as exc:  # truncated data, a reader failing on load
            raise ConfigError.field(
                field, f"cannot read the samples of {path.name}: {type(exc).__name__}: {exc}"
            ) from None
        try:
            check_windows(out, prep)
        except ConfigError as exc:
            raise ConfigError([FieldError(field, f"{path.name}: {e.message}") for e in exc.errors]) from None
        subjects += [plan.subject] * len(plan.y)
        sessions += [plan.session] * len(plan.y)
        infos.append(
            FileSummary(
                path=rec.name,
                subject=plan.subject,
                session=plan.session,
                sfreq=float(raw.info["sfreq"]),
                n_channels=len(raw.ch_names),
                duration_s=raw.n_times / float(raw.info["sfreq"]),
                n_windows=len(plan.y),
                annotations=dict(plan.counts),
            )
        )
    subj = None if subjects[0] is None else np.asarray(subjects, dtype=object).astype(str)
    sess = None if sessions[0] is None else np.asarray(sessions, dtype=object).astype(str)
    windows = Windows(
        X=X,
        y=y_all,
        ch_names=tuple(prep.ch_names),
        sfreq=prep.sfreq,
        class_names=tuple(classes),
        subjects=subj,
        sessions=sess,
        preprocessing=prep,
    )
    return windows, summarize(windows, "files", infos, renamed, dropped=list(dropped))


def renames(rec_names: list[str], prep: Preprocessing) -> dict[str, str]:
    from .preprocess import resolve_channels

    return resolve_channels(list(rec_names), prep)


def require_every_class(y: np.ndarray, classes: list[str], cfg: FilesData | EpochsData) -> None:
    counts = np.bincount(y, minlength=len(classes))
    empty = [c for c, n in zip(classes, counts, strict=True) if n == 0]
    if empty:
        why = (
            " (annotations shorter than window_s, or windows past the end of the recording)"
            if isinstance(cfg, FilesData)
            else ""
        )
        raise ConfigError.field("data.labels", f"class {', '.join(map(repr, empty))} has no windows{why}")
    if len(classes) < 2:
        raise ConfigError.field("data.labels", f"one class only ({classes[0]!r}); a classifier needs two")


def summarize(
    windows: Windows,
    source: str,
    files: list[FileSummary] = (),  # type: ignore[assignment]
    renamed: dict[str, str] | None = None,
    cached: bool = False,
    dropped: list[str] | None = None,
) -> DataSummary:
    """The :class:`DataSummary` of ``windows`` (counts per class and subject); ``dropped`` recording
    channels are listed with a ``channel_map`` suggestion for those that resemble an unused LaBraM
    channel."""
    dropped = list(dropped or [])
    used = {n.upper() for n in windows.ch_names}
    suggested = {k: v for k, v in suggest_channel_map(dropped).items() if v.upper() not in used}
    counts = np.bincount(windows.y, minlength=windows.n_classes)
    per_subject: dict[str, int] = {}
    if windows.subjects is not None:
        ids, n = np.unique(windows.subjects.astype(str), return_counts=True)
        per_subject = dict(zip(ids.tolist(), n.tolist(), strict=True))
    sessions = [] if windows.sessions is None else np.unique(windows.sessions.astype(str)).tolist()
    return DataSummary(
        source=source,
        n_windows=len(windows),
        window_s=windows.n_times / windows.sfreq,
        sfreq=windows.sfreq,
        ch_names=list(windows.ch_names),
        renamed=dict(renamed or {}),
        dropped=dropped,
        suggested_channel_map=suggested,
        class_names=list(windows.class_names),
        windows_per_class=dict(zip(windows.class_names, counts.tolist(), strict=True)),
        windows_per_subject=per_subject,
        subjects=list(per_subject),
        sessions=sessions,
        files=list(files),
        cached=cached,
    )
