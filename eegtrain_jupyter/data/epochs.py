"""Windows from epochs: the ``epochs`` data source (an MNE ``-epo.fif`` file or an ``.npz``) and
``mne.Epochs`` handed over in Python. Preprocessing and the data summary are shared with the
``files`` source (:mod:`.recordings`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config.data import EpochsData
from ..errors import ConfigError
from ..schemas import DataSummary, FileSummary
from .preprocess import check_windows, epochs_to_windows
from .recordings import make_preprocessing, renames, require_every_class, summarize
from .windows import Windows

if TYPE_CHECKING:
    import mne

__all__ = ["load_epochs", "load_epochs_object"]


def load_epochs(
    cfg: EpochsData, path: Path, name: str | None = None, model: str = "labram"
) -> tuple[Windows, DataSummary]:
    """Windows from an MNE ``-epo.fif`` file or an ``.npz`` (``name``: the path the summary shows).

    ``path`` must be a regular file (:meth:`.PathPolicy.file` checks it). The ``.npz`` holds ``X`` (volts), ``y``, ``ch_names``, ``sfreq`` and optionally ``class_names``
    and ``subjects`` and ``sessions``; an ``-epo.fif`` file's come from ``metadata["subject"]`` and
    ``metadata["session"]``.
    """
    import mne

    field = "data.path"
    subjects = sessions = None
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                missing = [k for k in ("X", "y", "ch_names", "sfreq") if k not in npz]
                if missing:
                    raise ConfigError.field(
                        field, f"{path.name} lacks {', '.join(missing)} (needs X, y, ch_names, sfreq)"
                    )
                arrays: dict[str, Any] = {k: npz[k] for k in npz.files}
            y_raw = arrays["y"]
            names = [str(c) for c in arrays.get("class_names", np.unique(y_raw))]
            by_index = y_raw.dtype.kind in "iu" and "class_names" in arrays
            codes = np.array([names.index(names[int(v)] if by_index else str(v)) + 1 for v in y_raw], int)
            events = np.column_stack([np.arange(len(y_raw)), np.zeros(len(y_raw), int), codes])
            info = mne.create_info([str(c) for c in arrays["ch_names"]], float(arrays["sfreq"]), "eeg")
            epochs = mne.EpochsArray(
                np.asarray(arrays["X"], np.float64),
                info,
                events,
                event_id={n: i + 1 for i, n in enumerate(names)},
                verbose="error",
            )
            if "subjects" in arrays:
                subjects = arrays["subjects"].astype(str)
            if "sessions" in arrays:
                sessions = arrays["sessions"].astype(str)
        else:
            epochs = mne.read_epochs(path, preload=True, verbose="error")
    except ConfigError:
        raise
    except MemoryError:  # the reader's limit, not the file's fault: the caller names it
        raise
    except Exception as exc:
        raise ConfigError.field(
            field, f"cannot read {path.name} as epochs: {type(exc).__name__}: {exc}"
        ) from None
    return load_epochs_object(cfg, epochs, path.name, subjects, name or path.name, model, sessions)


def load_epochs_object(
    cfg: EpochsData,
    epochs: mne.BaseEpochs,
    name: str,
    subjects: np.ndarray | None = None,
    path: str | None = None,
    model: str = "labram",
    sessions: np.ndarray | None = None,
) -> tuple[Windows, DataSummary]:
    """Windows from in-memory epochs (classes from event names through ``cfg.labels``), for
    ``model`` (its native rate and channel names).

    ``subjects`` and ``sessions`` (one per epoch) default to ``epochs.metadata["subject"]`` and
    ``["session"]`` when there are such columns.
    """
    if subjects is None and epochs.metadata is not None and "subject" in epochs.metadata:
        subjects = epochs.metadata["subject"].astype(str).to_numpy()
    if sessions is None and epochs.metadata is not None and "session" in epochs.metadata:
        sessions = epochs.metadata["session"].astype(str).to_numpy()
    code_to_name = {code: name for name, code in epochs.event_id.items()}
    labels = cfg.labels or {name: name for name in epochs.event_id}
    event_names = [code_to_name[c] for c in epochs.events[:, 2]]
    keep = np.array([n in labels for n in event_names])
    if not keep.any():
        raise ConfigError.field(
            "data.labels",
            f"no event named in labels ({', '.join(labels)}); {name} has: {', '.join(epochs.event_id)}",
        )
    classes = list(dict.fromkeys(labels.values()))
    prep = make_preprocessing(list(epochs.ch_names), cfg, model=model)
    X = epochs_to_windows(epochs[np.flatnonzero(keep)], prep)
    check_windows(X, prep)
    y = np.array([classes.index(labels[n]) for n, k in zip(event_names, keep, strict=True) if k], np.int64)
    require_every_class(y, classes, cfg)
    windows = Windows(
        X=X,
        y=y,
        ch_names=tuple(prep.ch_names),
        sfreq=prep.sfreq,
        class_names=tuple(classes),
        subjects=None if subjects is None else subjects[keep],
        sessions=None if sessions is None else sessions[keep],
        preprocessing=prep,
    )
    info_ = FileSummary(
        path=path or name,
        subject=None,
        sfreq=float(epochs.info["sfreq"]),
        n_channels=len(epochs.ch_names),
        duration_s=len(epochs) * len(epochs.times) / float(epochs.info["sfreq"]),
        n_windows=len(y),
        annotations=dict(Counter(event_names)),
    )
    picks = renames(epochs.ch_names, prep)
    renamed = {s: d for s, d in picks.items() if s != d}
    dropped = [n for n in epochs.ch_names if n not in picks]
    return windows, summarize(windows, "epochs", [info_], renamed, dropped=dropped)
