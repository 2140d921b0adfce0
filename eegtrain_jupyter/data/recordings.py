"""Windows from real recordings: the ``files`` data source (epochs are :mod:`.epochs_source`'s).

Reading is MNE's (``mne.io.read_raw``, ``mne.read_epochs``), preprocessing is
:mod:`.preprocess`'s; this module picks the labelled spans, cuts the windows, finds each file's
subject and says what it found (:class:`~.schemas.DataSummary`). Every problem with the data is a
:class:`~.errors.ConfigError` naming the field and the file, raised before any training starts.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import ValidationError

from ..config.data import EpochsData, FilesData, SignalOptions
from ..errors import ConfigError, FieldError
from ..schemas import DataSummary, FileSummary
from .preprocess import Preprocessing, apply_to_raw, check_windows, labram_channel_names, suggest_channel_map
from .windows import Windows

if TYPE_CHECKING:
    import mne

__all__ = ["load_files", "make_preprocessing", "read_raw", "renames", "require_every_class", "summarize"]

_RAW_SUFFIXES = (".edf", ".bdf", ".fif", ".fif.gz", ".vhdr", ".set", ".gdf", ".cnt", ".mff", ".eeg")


def read_raw(path: Path, field: str) -> mne.io.BaseRaw:
    """``mne.io.read_raw`` (header only), any failure a 400 naming the file."""
    import mne

    try:
        return mne.io.read_raw(path, preload=False, verbose="error")
    except Exception as exc:  # each reader fails its own way (ValueError, OSError, KeyError...)
        raise ConfigError.field(
            field, f"cannot read {path.name} as an EEG recording: {type(exc).__name__}: {exc}"
        ) from None


def make_preprocessing(
    rec_names: list[str], opts: SignalOptions, field: str = "data.ch_names"
) -> Preprocessing:
    """The :class:`Preprocessing` for ``opts``: its ``ch_names``, or every recording channel LaBraM knows."""
    names = opts.ch_names
    if names is None:
        known = {n.upper() for n in labram_channel_names()}
        names = [opts.channel_map.get(n, n).upper() for n in rec_names]
        names = [n for n in names if n in known]
        if not names:
            hint = suggest_channel_map(rec_names)
            raise ConfigError.field(
                field,
                "no channel of the recording is a LaBraM channel name "
                f"({', '.join(rec_names)})" + (f"; suggested channel_map: {hint}" if hint else ""),
            )
    try:
        return Preprocessing(
            ch_names=names,
            channel_map=opts.channel_map,
            l_freq=opts.l_freq,
            h_freq=opts.h_freq,
            window_s=opts.window_s,
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


def _subject(path: Path, cfg: FilesData, field: str) -> str | None:
    if cfg.subjects:
        for key in (path.name, path.stem, str(path)):
            if key in cfg.subjects:
                return cfg.subjects[key]
        raise ConfigError.field("data.subjects", f"{path.name} is not in the subjects table")
    if cfg.subject_pattern:
        match = re.search(cfg.subject_pattern, path.name)
        if match is None:
            raise ConfigError.field(
                "data.subject_pattern", f"{cfg.subject_pattern!r} does not match the file name {path.name}"
            )
        groups = match.groupdict()
        return groups.get("subject") or (match.group(1) if match.groups() else match.group(0))
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


def _cut(
    raw: mne.io.BaseRaw, cfg: FilesData, prep: Preprocessing, classes: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``(n, n_chans, n_times)`` µV and class indices from a preprocessed recording."""
    data = raw.get_data()
    n_times, sfreq = prep.n_times, raw.info["sfreq"]
    step = max(1, round((cfg.step_s or cfg.window_s) * sfreq))
    ann = raw.annotations
    starts, labels = [], []
    for onset, duration, desc in zip(ann.onset, ann.duration, ann.description, strict=True):
        if desc not in cfg.labels:
            continue
        first = int(raw.time_as_index(onset + cfg.tmin, use_rounding=True, origin=ann.orig_time)[0])
        if cfg.sliding:
            last = first + round((duration - cfg.tmin) * sfreq) - n_times  # the window stays in the span
            span = list(range(first, last + 1, step))
        else:
            span = [first]
        span = [s for s in span if s >= 0 and s + n_times <= data.shape[1]]
        starts += span
        labels += [classes.index(cfg.labels[desc])] * len(span)
    if not starts:
        return np.empty((0, data.shape[0], n_times), np.float32), np.empty(0, np.int64)
    index = np.asarray(starts)[:, None] + np.arange(n_times)  # (n, n_times)
    X = (data[:, index].transpose(1, 0, 2) * prep.scale).astype(np.float32)
    return X, np.asarray(labels, np.int64)


def load_files(cfg: FilesData, files: list[Path]) -> tuple[Windows, DataSummary]:
    """Read, preprocess and window every file; labels from annotations (or stim events).

    Returns
    -------
    Windows
        ``X`` (n_windows, n_chans, n_times) float32 µV at 200 Hz; ``subjects`` when known.
    DataSummary
    """
    classes = list(dict.fromkeys(cfg.labels.values()))
    prep: Preprocessing | None = None
    Xs, ys, subjects, infos = [], [], [], []
    seen: Counter[str] = Counter()
    renamed: dict[str, str] = {}
    for i, path in enumerate(files):
        field = f"data.paths[{i}]"
        raw = _labelled(read_raw(path, field), cfg.labels)
        subject = _subject(path, cfg, field)
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
            prep = make_preprocessing(list(raw.ch_names), cfg)
        try:
            proc = apply_to_raw(raw, prep)
        except ConfigError as exc:
            raise ConfigError(
                [FieldError(e.field, f"{path.name}: {e.message}") for e in exc.errors]
            ) from None
        except Exception as exc:  # truncated data, a reader failing on load
            raise ConfigError.field(
                field, f"cannot read the samples of {path.name}: {type(exc).__name__}: {exc}"
            ) from None
        X, y = _cut(proc, cfg, prep, classes)
        try:
            check_windows(X, prep)
        except ConfigError as exc:
            raise ConfigError([FieldError(field, f"{path.name}: {e.message}") for e in exc.errors]) from None
        Xs.append(X)
        ys.append(y)
        subjects += [subject] * len(y)
        infos.append(
            FileSummary(
                path=str(path),
                subject=subject,
                sfreq=float(raw.info["sfreq"]),
                n_channels=len(raw.ch_names),
                duration_s=raw.n_times / float(raw.info["sfreq"]),
                n_windows=len(y),
                annotations=dict(counts),
            )
        )
        renamed.update({src: dst for src, dst in renames(raw.ch_names, prep).items() if src != dst})
    assert prep is not None
    for key in cfg.labels:
        if key not in seen:
            raise ConfigError.field("data.labels", f"no annotation or event named {key!r} in any file")
    y_all = np.concatenate(ys)
    require_every_class(y_all, classes, cfg)
    subj = None if subjects[0] is None else np.asarray(subjects, dtype=object).astype(str)
    windows = Windows(
        X=np.concatenate(Xs),
        y=y_all,
        ch_names=tuple(prep.ch_names),
        sfreq=prep.sfreq,
        class_names=tuple(classes),
        subjects=subj,
        preprocessing=prep,
    )
    return windows, summarize(windows, "files", infos, renamed)


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
) -> DataSummary:
    """The :class:`DataSummary` of ``windows`` (counts per class and subject)."""
    counts = np.bincount(windows.y, minlength=windows.n_classes)
    per_subject: dict[str, int] = {}
    if windows.subjects is not None:
        ids, n = np.unique(windows.subjects.astype(str), return_counts=True)
        per_subject = dict(zip(ids.tolist(), n.tolist(), strict=True))
    return DataSummary(
        source=source,
        n_windows=len(windows),
        window_s=windows.n_times / windows.sfreq,
        sfreq=windows.sfreq,
        ch_names=list(windows.ch_names),
        renamed=dict(renamed or {}),
        class_names=list(windows.class_names),
        windows_per_class=dict(zip(windows.class_names, counts.tolist(), strict=True)),
        windows_per_subject=per_subject,
        subjects=list(per_subject),
        files=list(files),
        cached=cached,
    )
