"""What a worker process keeps between the runs it trains: a search's trials share one worker.

A search's trials differ in a few hyper-parameters (learning rate, weight decay, batch size...)
and usually agree on the data and the model. A worker that trains them one after another
(:class:`~.launcher.WorkerSession`) keeps here:

* the **windows** of a synthetic source (regenerating 3000 windows costs ~0.1 s per trial;
  ``files``/``epochs`` sources are memory-mapped from the windows cache anyway, and re-read so a
  changed recording is noticed);
* each **built model** (LaBraM's build costs ~0.1 s), keyed by :func:`~.models.build_key`; every
  run gets a copy of it, so a trial never sees another trial's training. Building is
  deterministic (seeded, the global RNG untouched), so the copy is the model a fresh build gives.
  Subtrees that training cannot change (every parameter frozen, no running statistics: a frozen
  LaBraM backbone) are shared rather than copied (copying LaBraM's modules costs ~20 ms);
* the **feature-cache keys** (hashing the windows and the backbone costs ~0.07 s): a run on
  windows and a backbone copy that came from here reuses the key computed for them the first time.

Nothing here outlives the worker: the session ends with the search.
"""

from __future__ import annotations

import copy
import os
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch import nn

from ..config.data import SyntheticData
from ..config.training import TrainingConfig
from ..data.paths import PathPolicy
from ..data.windows import Windows, load_windows
from ..engine.feature_cache import FeatureCache
from ..models import registry as models
from ..models.info import BackboneInfo

__all__ = ["Workbench"]


class Workbench:
    """Windows, built models and feature keys kept across the runs of one worker process.

    Parameters
    ----------
    max_models : int
        Built models kept (least recently used dropped first); a LaBraM is ~23 MB.
    max_windows : int
        Synthetic window sets kept.
    """

    def __init__(self, max_models: int = 4, max_windows: int = 2):
        self.max_models, self.max_windows = max_models, max_windows
        self._windows: OrderedDict[str, Windows] = OrderedDict()
        self._models: OrderedDict[tuple[Any, ...], tuple[nn.Module, BackboneInfo]] = OrderedDict()
        self._x_keys: dict[int, str] = {}  # id(Windows.X) of a kept window set -> its key
        self._origin: weakref.WeakKeyDictionary[nn.Module, tuple[Any, ...]] = weakref.WeakKeyDictionary()
        self._feature_keys: dict[tuple[Any, ...], str] = {}

    def windows(
        self, config: TrainingConfig, paths: PathPolicy | None, cache_dir: str | os.PathLike[str] | None
    ) -> Windows:
        """The windows ``config.data`` asks for (:func:`~.data.load_windows`), kept when synthetic."""
        if not isinstance(config.data, SyntheticData):
            return load_windows(config, paths, cache_dir)
        key = repr((config.data.model_dump(), config.n_samples_per_class, config.seed))
        if key in self._windows:
            self._windows.move_to_end(key)
            return self._windows[key]
        windows = load_windows(config, paths, cache_dir)
        self._windows[key] = windows
        self._x_keys[id(windows.X)] = key
        while len(self._windows) > self.max_windows:
            _, old = self._windows.popitem(last=False)
            self._x_keys.pop(id(old.X), None)
        return windows

    def build(
        self, config: TrainingConfig, ch_names: Sequence[str], n_times: int, sfreq: float, n_outputs: int
    ) -> tuple[nn.Module, BackboneInfo]:
        """:func:`~.models.build`'s result for these arguments, as a fresh deep copy."""
        key = models.build_key(config, ch_names, n_times, sfreq, n_outputs)
        if key in self._models:
            self._models.move_to_end(key)
        else:
            self._models[key] = models.build(config, ch_names, n_times, sfreq, n_outputs)
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
        model, info = self._models[key]
        fresh = copy.deepcopy(model, memo={id(m): m for m in _unchangeable(model)})
        for module in fresh.modules():
            self._origin[module] = key
        return fresh, copy.deepcopy(info)

    def feature_cache(self, folder: str | os.PathLike[str]) -> FeatureCache:
        """A :class:`~.feature_cache.FeatureCache` on ``folder`` whose keys are computed once for
        windows and backbones that came from here."""
        return _KeyMemo(folder, self)

    def feature_key(
        self, X: np.ndarray, backbone: nn.Module, extra: tuple[Any, ...], compute: Callable[[], str]
    ) -> str:
        """``compute()``'s feature-cache key for ``X`` through ``backbone``, computed once when both
        came from here (else every time)."""
        x_key = self._x_keys.get(id(X))
        kept = x_key is not None and x_key in self._windows and self._windows[x_key].X is X
        origin = self._origin.get(backbone)
        if not kept or origin is None:
            return compute()
        memo = (x_key, origin, *extra)
        if memo not in self._feature_keys:
            self._feature_keys[memo] = compute()
        return self._feature_keys[memo]


def _unchangeable(model: nn.Module) -> list[nn.Module]:
    """The largest subtrees of ``model`` that training leaves as they are: every parameter frozen
    and no normalisation layer with running statistics (which change in training mode)."""
    out: list[nn.Module] = []

    def visit(module: nn.Module) -> None:
        params = list(module.parameters())
        stats = any(isinstance(m, nn.modules.batchnorm._NormBase) for m in module.modules())
        if params and not stats and not any(p.requires_grad for p in params):
            out.append(module)
            return
        for child in module.children():
            visit(child)

    visit(model)
    return out


class _KeyMemo(FeatureCache):
    """:class:`~.feature_cache.FeatureCache` whose :meth:`key` remembers digests through a :class:`Workbench`."""

    def __init__(self, folder: str | os.PathLike[str], bench: Workbench):
        super().__init__(folder)
        self.bench = bench

    def key(self, X: np.ndarray, backbone: nn.Module, *, head: str, precision: str, device: str) -> str:
        def compute() -> str:
            return super(_KeyMemo, self).key(X, backbone, head=head, precision=precision, device=device)

        return self.bench.feature_key(X, backbone, (head, precision, device), compute)
