"""Data a Python caller already holds, as :class:`~eegtrain_jupyter.data.windows.Windows`.

``LocalClient.start(config, data=...)`` and ``TrainingManager.start(config, data=...)`` take what
:func:`as_windows` accepts: ``Windows``, an :class:`mne.Epochs` (classes from its event names,
subjects from ``metadata["subject"]``), a braindecode windows dataset (``WindowsDataset`` or
``BaseConcatDataset``) or numpy arrays ``(X, y)``. Each gets the same preprocessing as files
(:mod:`.preprocess`: channel names/map, band-pass, resampling to 200 Hz, window length).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

import numpy as np

from ..config.data import EpochsData
from .epochs import load_epochs_object
from .windows import Windows

__all__ = ["as_windows", "save_npz"]


def as_windows(
    data: Any,
    *,
    ch_names: Sequence[str] | None = None,
    sfreq: float | None = None,
    class_names: Sequence[str] | None = None,
    subjects: Sequence[Any] | None = None,
    scale: float = 1e6,
    **signal: Any,
) -> Windows:
    """``data`` as model-ready windows.

    Parameters
    ----------
    data : Windows | mne.BaseEpochs | braindecode dataset | tuple (X, y)
        ``X`` of shape ``(n_windows, n_chans, n_times)`` in the unit ``scale`` turns into
        microvolts (volts, as MNE and braindecode hold them: ``1e6``); ``y`` class indices or names.
    ch_names, sfreq : for numpy input (braindecode datasets and Epochs carry their own)
    class_names : names of ``y``'s indices (numpy/braindecode); default ``"0"``, ``"1"``...
    subjects : subject id per window (numpy/braindecode), for a subject-wise split
    **signal
        ``ch_names``/``channel_map``/``l_freq``/``h_freq``/``window_s`` of the ``epochs`` source
        (:class:`~eegtrain_jupyter.config.data.EpochsData`); ``window_s`` defaults to the
        whole seconds in one window.
    """
    import mne

    if isinstance(data, Windows):
        return data
    if _is_braindecode(data):
        X, y, ch_names, sfreq, subjects = _from_braindecode(data, subjects)
        data = (X, y)
    if isinstance(data, tuple) and len(data) == 2:
        X, y = np.asarray(data[0]), np.asarray(data[1])
        if ch_names is None or sfreq is None:
            raise TypeError("numpy windows need ch_names and sfreq")
        names = [str(c) for c in (class_names or np.unique(y))]
        codes = y.astype(int) if y.dtype.kind in "iu" else np.array([names.index(str(v)) for v in y])
        if class_names is None and y.dtype.kind in "iu":
            names = [str(i) for i in range(int(codes.max()) + 1)]
        info = mne.create_info(list(ch_names), float(sfreq), "eeg")
        events = np.column_stack([np.arange(len(y)), np.zeros(len(y), int), codes + 1]).astype(int)
        present = sorted(set(codes.tolist()))
        data = mne.EpochsArray(
            X.astype(np.float64) * (scale * 1e-6),
            info,
            events,
            event_id={names[c]: c + 1 for c in present},
            verbose="error",
        )
        if subjects is not None:
            import pandas as pd

            data.metadata = pd.DataFrame({"subject": [str(s) for s in subjects]})
    if not isinstance(data, mne.BaseEpochs):
        raise TypeError(
            f"cannot train on {type(data).__name__}: pass Windows, mne.Epochs, a braindecode "
            "windows dataset or (X, y) arrays"
        )
    signal.setdefault("window_s", float(max(1, int(len(data.times) / data.info["sfreq"]))))
    cfg = EpochsData(source="epochs", path="<memory>", **signal)
    return load_epochs_object(cfg, data, "<memory>")[0]


def save_npz(data: Any, path: str | IO[bytes], **options: Any) -> str | IO[bytes]:
    """Write ``data`` (anything :func:`as_windows` takes) as an ``.npz`` an ``epochs`` source reads.

    The windows are stored preprocessed (LaBraM channel names, 200 Hz, in volts), so the server
    applies nothing further; ``path`` may be an open binary file; returns ``path``.
    """
    w = as_windows(data, **options)
    arrays: dict[str, Any] = {
        "X": np.asarray(w.X, np.float32) * 1e-6,
        "y": w.y,
        "ch_names": list(w.ch_names),
        "sfreq": w.sfreq,
        "class_names": list(w.class_names),
    }
    if w.subjects is not None:
        arrays["subjects"] = np.asarray(w.subjects).astype(str)
    np.savez(path, **arrays)
    return path


def _is_braindecode(data: Any) -> bool:
    return type(data).__module__.startswith("braindecode.")


def _from_braindecode(ds: Any, subjects: Sequence[Any] | None) -> tuple[Any, ...]:
    """``(X volts, y, ch_names, sfreq, subjects)`` of a braindecode windows dataset."""
    parts = getattr(ds, "datasets", [ds])
    first = getattr(parts[0], "windows", None) or parts[0].raw  # WindowsDataset | EEGWindowsDataset
    X = np.stack([ds[i][0] for i in range(len(ds))])
    y = np.asarray([ds[i][1] for i in range(len(ds))])
    if subjects is None and "subject" in getattr(ds, "description", {}):
        subjects = [str(p.description["subject"]) for p in parts for _ in range(len(p))]
    return X, y, list(first.ch_names), float(first.info["sfreq"]), subjects
