"""Train / validation / test splits: by subject when subjects are known, else by window.

A subject-wise split keeps every window of a subject in one split, so the validation and test
scores say how the model does on people it never saw. A window-wise split (subjects unknown, or
``split_by: window``) is stratified by class; the status says which one a run used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError
from .windows import Windows

if TYPE_CHECKING:
    from ..config.training import TrainingConfig

__all__ = ["Split", "check_split", "split_for", "split_windows"]


@dataclass(frozen=True)
class Split:
    """Window indices of each split and how they were drawn.

    Attributes
    ----------
    train, val, test : ndarray of int64
        Shuffled indices into the windows; ``test`` may be empty (``test_split`` 0).
    by : str
        ``"subject"`` or ``"window"``.
    subjects : dict of str to list of str
        The subjects of each split (empty lists for a window split).
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    by: str
    subjects: dict[str, list[str]]

    def describe(self) -> str:
        """One line for the status, e.g. ``by subject: 16 / 4 / 4 subjects, 130 / 34 / 36 windows``."""
        counts = f"{len(self.train)} / {len(self.val)} / {len(self.test)} windows (train / val / test)"
        if self.by == "subject":
            s = self.subjects
            return f"by subject: {len(s['train'])} / {len(s['val'])} / {len(s['test'])} subjects, {counts}"
        return f"by window (stratified): {counts}"


def _needed(test_split: float) -> int:
    return 3 if test_split > 0 else 2


def _by_subject(split_by: str, data: Windows) -> bool:
    if split_by == "window":
        return False
    known = data.subjects is not None and len(np.unique(data.subjects)) > 1
    return split_by == "subject" or known


def check_split(data: Windows, *, split_by: str, test_split: float) -> None:
    """Refuse a subject-wise split that cannot be made (a :class:`ConfigError` naming ``split_by``)."""
    if split_by != "subject":
        return
    n = 0 if data.subjects is None else len(np.unique(data.subjects))
    need = _needed(test_split)
    if n < need:
        what = (
            "no subject ids (set data.subject_pattern or data.subjects)"
            if data.subjects is None
            else f"{n} subject{'s' * (n != 1)}"
        )
        raise ConfigError.field(
            "split_by",
            f"a subject-wise split needs at least {need} subjects "
            f"(train, val{', test' if need == 3 else ''}); "
            f"the data has {what}",
        )


def split_windows(
    data: Windows, *, val_split: float, test_split: float, split_by: str = "auto", seed: int = 0
) -> Split:
    """Split ``data`` into train/val/test.

    Parameters
    ----------
    data : Windows
    val_split, test_split : float
        Fractions of subjects (subject split) or of each class's windows (window split).
    split_by : {"auto", "subject", "window"}
        ``auto``: by subject when ``data.subjects`` has enough distinct ids.
    seed : int

    Returns
    -------
    Split
    """
    check_split(data, split_by=split_by, test_split=test_split)
    rng = np.random.default_rng(seed)
    if _by_subject(split_by, data):
        assert data.subjects is not None
        ids = np.unique(data.subjects)
        if len(ids) >= _needed(test_split):
            return _subject_split(data, ids, val_split, test_split, rng)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for label in np.unique(data.y):
        idx = rng.permutation(np.flatnonzero(data.y == label))
        n_test = round(len(idx) * test_split) if test_split > 0 else 0
        n_val = max(1, round(len(idx) * val_split))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    out = {k: rng.permutation(np.concatenate(v)).astype(np.int64) for k, v in parts.items()}
    return Split(out["train"], out["val"], out["test"], "window", {"train": [], "val": [], "test": []})


def _subject_split(
    data: Windows, ids: np.ndarray, val_split: float, test_split: float, rng: np.random.Generator
) -> Split:
    assert data.subjects is not None
    n = len(ids)
    n_test = max(1, round(n * test_split)) if test_split > 0 else 0
    n_val = max(1, round(n * val_split))
    while n - n_test - n_val < 1:  # keep at least one training subject
        if n_val > 1:
            n_val -= 1
        else:
            n_test -= 1
    best = None
    for _ in range(50):  # prefer a draw where every split holds every class
        order = rng.permutation(ids)
        groups = {
            "test": order[:n_test],
            "val": order[n_test : n_test + n_val],
            "train": order[n_test + n_val :],
        }
        idx = {k: np.flatnonzero(np.isin(data.subjects, g)) for k, g in groups.items()}
        missing = sum(len(np.setdiff1d(np.unique(data.y), data.y[i])) for k, i in idx.items() if len(i))
        if best is None or missing < best[0]:
            best = (missing, groups, idx)
        if missing == 0:
            break
    assert best is not None
    _, groups, idx = best
    return Split(
        rng.permutation(idx["train"]),
        rng.permutation(idx["val"]),
        rng.permutation(idx["test"]),
        "subject",
        {k: [str(s) for s in sorted(g.tolist())] for k, g in groups.items()},
    )


def split_for(data: Windows, config: TrainingConfig) -> Split:
    """The split a run of ``config`` makes of ``data`` (its fractions, ``split_by`` and ``seed``)."""
    return split_windows(
        data,
        val_split=config.val_split,
        test_split=config.test_split,
        split_by=config.split_by,
        seed=config.seed,
    )
