"""Windows: the one data object the engine trains on, and the choice of its source.

The engine never makes data: the service (or a script) calls :func:`load_windows` with the
config, or builds :class:`Windows` from its own arrays, and passes it in. Signal facts
(channel names, sampling rate, class names, subjects) travel with the windows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..config.data import N_TIMES, SFREQ, FilesData, SyntheticData
from ..config.names import native_signal

if TYPE_CHECKING:
    import os

    import mne

    from ..config.training import TrainingConfig
    from ..schemas import DataSummary
    from . import recordings
    from .paths import PathPolicy
    from .preprocess import Preprocessing

__all__ = ["Windows", "load_windows", "open_recordings", "scan", "stratified_split"]


@dataclass(frozen=True)
class Windows:
    """Labelled EEG windows.

    Attributes
    ----------
    X : ndarray, shape (n_windows, n_chans, n_times), float32, microvolts
        May be a ``np.memmap``: the engine reads it batch by batch.
    y : ndarray, shape (n_windows,), int64
        Index into ``class_names``.
    ch_names : tuple of str
        Channel names, in the order of ``X``'s second axis.
    sfreq : float
        Sampling rate in Hz.
    class_names : tuple of str
        Label ``i`` means ``class_names[i]``.
    subjects : ndarray, shape (n_windows,), or None
        Subject id of each window, when known.
    sessions : ndarray, shape (n_windows,), or None
        Recording session of each window, when known (its subject's session: two subjects may
        name theirs alike).
    preprocessing : Preprocessing or None
        How the windows were made from recordings (stored in the checkpoint so prediction
        repeats it); ``None`` means "nothing to apply" (see :meth:`prep`).
    """

    X: np.ndarray
    y: np.ndarray
    ch_names: tuple[str, ...]
    sfreq: float
    class_names: tuple[str, ...]
    subjects: np.ndarray | None = field(default=None)
    sessions: np.ndarray | None = field(default=None)
    preprocessing: Preprocessing | None = field(default=None)

    def __post_init__(self) -> None:
        if self.X.ndim != 3:
            raise ValueError(f"X must be (n_windows, n_chans, n_times), not shape {self.X.shape}")
        n, n_chans, _ = self.X.shape
        if self.y.shape != (n,):
            raise ValueError(f"y has shape {self.y.shape}; expected ({n},) to match X")
        if len(self.ch_names) != n_chans:
            raise ValueError(f"{len(self.ch_names)} ch_names for {n_chans} channels in X")
        if self.subjects is not None and self.subjects.shape != (n,):
            raise ValueError(f"subjects has shape {self.subjects.shape}; expected ({n},)")
        if self.sessions is not None and self.sessions.shape != (n,):
            raise ValueError(f"sessions has shape {self.sessions.shape}; expected ({n},)")
        if n and (self.y.min() < 0 or self.y.max() >= len(self.class_names)):
            raise ValueError(f"labels must index class_names ({len(self.class_names)} classes)")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_times(self) -> int:
        """Samples per window."""
        return int(self.X.shape[-1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def prep(self) -> Preprocessing:
        """``preprocessing``, or the identity one for windows already at the model's input format."""
        from .preprocess import Preprocessing

        if self.preprocessing is not None:
            return self.preprocessing
        return Preprocessing.model_construct(
            ch_names=list(self.ch_names), sfreq=self.sfreq, window_s=self.n_times / self.sfreq
        )

    def to_mne(self) -> mne.EpochsArray:
        """The windows as :class:`mne.EpochsArray` (data in volts, event ids by class name)."""
        import mne

        info = mne.create_info(list(self.ch_names), self.sfreq, ch_types="eeg")
        events = np.column_stack(
            [np.arange(len(self)) * self.n_times, np.zeros(len(self), int), self.y]
        ).astype(int)
        event_id = {name: i for i, name in enumerate(self.class_names)}
        return mne.EpochsArray(
            np.asarray(self.X, dtype=np.float64) * 1e-6, info, events, event_id=event_id, verbose="error"
        )


def load_windows(
    config: TrainingConfig, paths: PathPolicy | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> Windows:
    """The windows ``config.data`` asks for (see :func:`scan`)."""
    return scan(config, paths, cache_dir)[0]


def scan(
    config: TrainingConfig,
    paths: PathPolicy | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    on_file: Callable[[str], None] | None = None,
) -> tuple[Windows, DataSummary | None]:
    """Load the windows of ``config.data`` and say what they hold.

    Every recording's header (and the files it names) is read and checked before anything else
    (:func:`.recordings.open_recording`); only then are the files hashed for the cache key and,
    on a miss, their samples read.

    Parameters
    ----------
    config : TrainingConfig
        ``data.source`` picks the loader: ``synthetic`` (seeded by ``config.seed``, no summary),
        ``files`` or ``epochs`` (:mod:`.recordings`, :mod:`.epochs`).
    paths : PathPolicy, optional
        Resolves (and, for a server, confines) the data paths; default: relative to the cwd.
    cache_dir : path, optional
        Preprocessed windows of ``files``/``epochs`` are cached there (:mod:`.cache`)
        and memory-mapped on the next load.
    on_file : callable, optional
        Called with the root-relative name of each recording or epochs file just before it is
        read (a recording: before its header, and again before its samples), so a caller with
        a time limit can say which file was being read.

    Raises
    ------
    ConfigError
        Any problem with the data, naming the field and the file.
    """
    from . import synthetic

    source = config.data
    native = native_signal(config.model)
    if isinstance(source, SyntheticData):
        windows = synthetic.generate(
            config.n_samples_per_class,
            seed=config.seed,
            n_subjects=source.n_subjects,
            n_times=round(N_TIMES / SFREQ * native.sfreq),
            sfreq=native.sfreq,
            patch=native.patch,
        )
        return windows, None
    from . import epochs as epochs_source
    from . import recordings
    from .cache import WindowsCache
    from .paths import PathPolicy

    paths = paths or PathPolicy(".")
    if isinstance(source, FilesData):
        recs = open_recordings(paths, source.paths, "data.paths", on_file)
        inputs = [part for rec in recs for part in rec.inputs]

        def build() -> tuple[Windows, DataSummary]:
            return recordings.load_files(source, recs, on_file, config.model)
    else:
        path = paths.file(source.path, "data.path")
        name = paths.shown(path)
        inputs = [path]

        def build() -> tuple[Windows, DataSummary]:
            if on_file is not None:
                on_file(name)
            return epochs_source.load_epochs(source, path, name, config.model)

    if cache_dir is None:
        return build()
    # the model's rate, patch and channel names shape the windows: part of the cache key
    params = {**source.model_dump(exclude={"paths", "path"}), "native": dataclasses.asdict(native)}
    return WindowsCache(cache_dir).load(inputs, params, build)


def open_recordings(
    paths: PathPolicy, patterns: list[str], field: str, on_file: Callable[[str], None] | None = None
) -> list[recordings.Recording]:
    """The recordings the paths or globs ``patterns`` name (``field[i]`` in errors), each header
    read and checked (:func:`.recordings.open_recording`); the files a header points at (found by
    a glob too) are not recordings of their own."""
    from . import recordings

    found = [(f, name) for f, name in paths.files(patterns, field) if not _companion(f)]
    return [recordings.open_recording(f, name, paths, on_file) for f, name in found]


def _companion(path: Path) -> bool:
    """A file a recording's header points at (a glob like ``rec/*`` finds them too)."""
    suffix = path.suffix.lower()
    return suffix in (".vmrk", ".fdt") or (suffix == ".eeg" and path.with_suffix(".vhdr").exists())


def stratified_split(y: np.ndarray, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled train/val indices with ``val_split`` of each class in validation."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_val = max(1, round(len(idx) * val_split))
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return rng.permutation(np.concatenate(train_idx)), rng.permutation(np.concatenate(val_idx))
