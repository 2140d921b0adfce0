"""On-disk cache of preprocessed windows, memory-mapped on reuse.

A set of windows is keyed by the content hash of every input file and everything that shapes
the windows (the ``data`` section, minus the paths themselves, and a format version). An entry
is a folder with ``X.npy`` (opened with ``mmap_mode="r"``, so a large set is not read whole),
``y.npy``, ``subjects.npy``, ``sessions.npy`` and ``meta.json`` (class and channel names, the preprocessing, the
data summary); it is written into a temporary folder and renamed into place, so a reader never
sees half an entry. At most ``max_entries`` entries are kept: storing one more removes the least
recently used (a reader that has an entry memory-mapped keeps its mapping; a later load of a
removed entry builds it again).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..schemas import DataSummary
from .preprocess import Preprocessing
from .windows import Windows

__all__ = ["WindowsCache", "file_digest"]

FORMAT_VERSION = 3
_digests: dict[tuple[str, int, int], str] = {}
_digest_lock = threading.Lock()


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes (remembered per path, size and mtime within the process)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _digest_lock:
        if key in _digests:
            return _digests[key]
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    with _digest_lock:
        _digests[key] = digest
    return digest


class WindowsCache:
    """Preprocessed windows under ``folder`` (one sub-folder per key), at most ``max_entries``."""

    def __init__(self, folder: str | os.PathLike[str], max_entries: int = 8):
        self.folder = Path(folder)
        self.max_entries = max_entries

    def key(self, files: list[Path], params: dict[str, Any]) -> str:
        """The entry's name: a hash of the files' contents (and names) and the parameters.

        ``files`` is every input, the files a recording's header points at included (a
        BrainVision ``DataFile``, an EEGLAB ``.fdt``: :attr:`.recordings.Recording.inputs`).
        """
        h = hashlib.sha256(json.dumps({"v": FORMAT_VERSION, "params": params}, sort_keys=True).encode())
        for path in files:
            h.update(path.name.encode() + b"\0" + file_digest(path).encode())
        return h.hexdigest()[:32]

    def get(self, key: str) -> tuple[Windows, DataSummary] | None:
        """The cached windows (``X`` memory-mapped, read-only) and summary, or None."""
        entry = self.folder / key
        try:
            meta = json.loads((entry / "meta.json").read_text())
            X = np.load(entry / "X.npy", mmap_mode="r")
            y = np.load(entry / "y.npy")
            subjects = np.load(entry / "subjects.npy") if (entry / "subjects.npy").exists() else None
            sessions = np.load(entry / "sessions.npy") if (entry / "sessions.npy").exists() else None
            os.utime(entry)  # recently used
        except (OSError, ValueError):
            return None
        windows = Windows(
            X=X,
            y=y,
            ch_names=tuple(meta["ch_names"]),
            sfreq=meta["sfreq"],
            class_names=tuple(meta["class_names"]),
            subjects=subjects,
            sessions=sessions,
            preprocessing=Preprocessing.model_validate(meta["preprocessing"]),
        )
        summary = DataSummary.model_validate({**meta["summary"], "cached": True})
        return windows, summary

    def put(self, key: str, windows: Windows, summary: DataSummary) -> tuple[Windows, DataSummary]:
        """Store and return the entry as :meth:`get` would (memory-mapped); on a write error, the input."""
        entry = self.folder / key
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.folder))
            try:
                np.save(tmp / "X.npy", np.ascontiguousarray(windows.X, dtype=np.float32))
                np.save(tmp / "y.npy", windows.y)
                if windows.subjects is not None:
                    np.save(tmp / "subjects.npy", np.asarray(windows.subjects).astype(str))
                if windows.sessions is not None:
                    np.save(tmp / "sessions.npy", np.asarray(windows.sessions).astype(str))
                meta = {
                    "ch_names": list(windows.ch_names),
                    "sfreq": windows.sfreq,
                    "class_names": list(windows.class_names),
                    "preprocessing": windows.prep().model_dump(),
                    "summary": summary.to_json(),
                }
                (tmp / "meta.json").write_text(json.dumps(meta))
                try:
                    os.replace(tmp, entry)
                except OSError:  # another run stored the same key first: theirs is as good
                    shutil.rmtree(tmp, ignore_errors=True)
                self._evict(keep=entry)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        except OSError:
            return windows, summary
        return self.get(key) or (windows, summary)

    def _evict(self, keep: Path) -> None:
        """Remove the least recently used entries beyond ``max_entries`` (never ``keep``)."""

        def used(path: Path) -> float:
            try:
                return path.stat().st_mtime
            except OSError:  # removed meanwhile (another process evicting too)
                return -1.0

        entries = [p for p in self.folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
        entries.sort(key=lambda p: (p == keep, used(p)), reverse=True)
        for old in entries[self.max_entries :]:
            shutil.rmtree(old, ignore_errors=True)

    def load(
        self, files: list[Path], params: dict[str, Any], build: Callable[[], tuple[Windows, DataSummary]]
    ) -> tuple[Windows, DataSummary]:
        """The cached entry for ``files`` + ``params``, or ``build()`` stored under that key."""
        key = self.key(files, params)
        hit = self.get(key)
        if hit is not None:
            return hit
        windows, summary = self.put(key, *build())
        return windows, summary.model_copy(update={"cached": False})
