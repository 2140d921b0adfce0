"""Backbone features computed once and reused: trials of a search (or any runs) that keep the
LaBraM backbone frozen on the same windows skip the backbone pass.

Entries are ``.npy`` files (``(n_windows, embed_dim)`` float32) under ``<root>/.eegtrain/features``,
opened memory-mapped, so several processes (a server, the CLI, per-run workers) share them. The key
hashes what the features depend on: the windows' values, the backbone's weights (head excluded), the
precision and the device type. The inference batch size is not in the key (it changes the features
only at float rounding level).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..files import atomic_path

__all__ = ["FeatureCache"]

log = logging.getLogger(__name__)


class FeatureCache:
    """A folder of cached feature arrays, at most ``max_entries`` (the least recently used go first).

    Parameters
    ----------
    folder : path
        Where the ``<key>.npy`` files live (created on first write).
    max_entries : int
        Entries kept; each is ``n_windows × embed_dim × 4`` bytes (2.4 MB for 3000 LaBraM windows).
    """

    def __init__(self, folder: str | os.PathLike[str], max_entries: int = 16):
        self.folder = Path(folder)
        self.max_entries = max_entries

    def key(self, X: np.ndarray, backbone: nn.Module, *, head: str, precision: str, device: str) -> str:
        """Digest of the windows ``X`` ``(n, n_chans, n_times)``, the backbone's weights (parameters
        and buffers outside ``head``), the precision and the device type."""
        h = hashlib.blake2b(digest_size=20)
        h.update(repr((X.shape, str(X.dtype), precision, device)).encode())
        h.update(np.ascontiguousarray(X).data)
        for name, tensor in sorted(backbone.state_dict().items()):
            if name.startswith(head + "."):
                continue
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().data)
        return h.hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        """The cached ``(n_windows, embed_dim)`` array, memory-mapped read-only; ``None`` on a miss."""
        path = self.path(key)
        try:
            arr = np.load(path, mmap_mode="r")
            os.utime(path)  # recently used
        except (OSError, ValueError):
            return None
        return arr

    def put(self, key: str, features: np.ndarray) -> None:
        """Store ``features`` atomically (a failure is logged, never raised: the cache is optional)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.path(key)) as tmp, open(tmp, "wb") as fh:
                np.save(fh, np.ascontiguousarray(features, dtype=np.float32))
            self._evict()
        except OSError as exc:
            log.warning("could not cache backbone features in %s: %s", self.folder, exc)

    def _evict(self) -> None:
        entries = sorted(self.folder.glob("*.npy"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[self.max_entries :]:
            old.unlink(missing_ok=True)
