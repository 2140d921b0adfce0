"""Train / validation / test splits: by subject when subjects are known, else by window; or one
fold of a cross-validation protocol (``evaluation``).

A subject-wise split keeps every window of a subject in one split, so the validation and test
scores say how the model does on people it never saw. A window-wise split (subjects unknown, or
``split_by: window``) is stratified by class; the status says which one a run used.

A cross-validation fold (:func:`fold_split`) tests the fold's held-out windows (scikit-learn's
``GroupKFold``, ``LeaveOneGroupOut`` and ``StratifiedKFold`` assign them, seeded by ``seed``) and
carves its validation split from the rest: by subject for ``cross_subject`` (unless ``split_by:
window``, or one training subject only), else stratified by class.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from .windows import Windows

if TYPE_CHECKING:
    from ..config.evaluation import EvaluationConfig
    from ..config.training import TrainingConfig

__all__ = [
    "Split",
    "check_data_split",
    "check_evaluation",
    "check_split",
    "fold_split",
    "fold_tests",
    "split_for",
    "split_windows",
]


@dataclass(frozen=True)
class Split:
    """Window indices of each split and how they were drawn.

    Attributes
    ----------
    train, val, test : ndarray of int64
        Shuffled indices into the windows; ``test`` may be empty (``test_split`` 0).
    by : str
        ``"subject"`` or ``"window"``; a cross-validation fold: its protocol (``"cross_subject"``...).
    subjects : dict of str to list of str
        The subjects of each split (empty lists for a window split).
    fold, n_folds : int or None
        A cross-validation fold: which one, of how many.
    sessions : list of str
        A ``cross_session`` fold: the sessions it tests (``subject/session``, or the session alone
        when subjects are unknown).
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    by: str
    subjects: dict[str, list[str]]
    fold: int | None = None
    n_folds: int | None = None
    sessions: list[str] = dataclasses.field(default_factory=list)

    def describe(self) -> str:
        """One line for the status, e.g. ``by subject: 16 / 4 / 4 subjects, 130 / 34 / 36 windows``."""
        counts = f"{len(self.train)} / {len(self.val)} / {len(self.test)} windows (train / val / test)"
        if self.fold is not None:
            s = self.subjects
            held = (
                f"sessions {', '.join(self.sessions)}"
                if self.sessions
                else f"subjects {', '.join(s['test'])}"
                if self.by == "cross_subject"
                else "part of every subject"
            )
            return f"{self.by} fold {self.fold + 1} of {self.n_folds} (tests {held}): {counts}"
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


def check_data_split(data: Windows, config: TrainingConfig) -> None:
    """Refuse a config whose split ``data`` cannot serve (before a run starts): its ``evaluation``
    folds (:func:`check_evaluation`) or its holdout split (:func:`check_split`)."""
    if config.evaluation.folded:
        check_evaluation(data, config.evaluation, config.seed)
    else:
        check_split(data, split_by=config.split_by, test_split=config.test_split)


def split_for(data: Windows, config: TrainingConfig) -> Split:
    """The split a run of ``config`` makes of ``data``: its ``evaluation`` fold, or the holdout
    split of its fractions, ``split_by`` and ``seed``."""
    if config.evaluation.folded:
        return fold_split(
            data, config.evaluation, val_split=config.val_split, split_by=config.split_by, seed=config.seed
        )
    return split_windows(
        data,
        val_split=config.val_split,
        test_split=config.test_split,
        split_by=config.split_by,
        seed=config.seed,
    )


# -- cross-validation folds -------------------------------------------------------------------


def _ids(values: np.ndarray | None) -> np.ndarray | None:
    return None if values is None else np.asarray(values).astype(str)


def _need(data: Windows, evaluation: EvaluationConfig) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The subject and session ids the protocol needs (a :class:`ConfigError` when the data lacks
    them)."""
    subjects, sessions = _ids(data.subjects), _ids(data.sessions)
    protocol = evaluation.protocol
    if protocol in ("cross_subject", "within_subject"):
        n = 0 if subjects is None else len(np.unique(subjects))
        if n < 2:
            has = "no subject ids" if subjects is None else "one subject only"
            raise ConfigError.field(
                "evaluation.protocol",
                f"{protocol} needs at least 2 subjects; the data has {has} "
                "(set data.subject_pattern or data.subjects)",
            )
    if protocol == "cross_session":
        if sessions is None:
            raise ConfigError.field(
                "evaluation.protocol",
                "cross_session needs the recording session of each window; the data has none "
                "(set data.session_pattern or data.sessions)",
            )
        owners = subjects if subjects is not None else np.zeros(len(sessions), dtype=str)
        for subject in np.unique(owners):
            found = np.unique(sessions[owners == subject])
            if len(found) < 2:
                who = f"subject {subject}" if subjects is not None else "the data"
                raise ConfigError.field(
                    "evaluation.protocol",
                    f"cross_session leaves one session out within each subject; {who} has one "
                    f"session only ({found[0]})",
                )
    return subjects, sessions


def fold_tests(data: Windows, evaluation: EvaluationConfig, seed: int) -> list[np.ndarray]:
    """The held-out window indices of every fold of ``evaluation.protocol``, sorted.

    * ``cross_subject``: ``GroupKFold(n_folds, shuffle=True, random_state=seed)`` over the
      subjects, or ``LeaveOneGroupOut`` (folds in sorted subject order) when ``n_folds`` is at least
      the number of subjects;
    * ``within_subject``: ``StratifiedKFold(n_folds, shuffle=True, random_state=seed)`` inside each
      subject; fold ``k`` holds every subject's ``k``-th part;
    * ``cross_session``: ``LeaveOneGroupOut`` over each window's session rank within its subject
      (sessions in sorted order); fold ``k`` holds every subject's ``k``-th session.

    Raises
    ------
    ConfigError
        The data lacks the subjects or sessions the protocol needs, or a subject has fewer windows
        than ``n_folds`` (``within_subject``).
    """
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, StratifiedKFold

    subjects, sessions = _need(data, evaluation)
    y = np.asarray(data.y)
    index = np.arange(len(y))
    if evaluation.protocol == "cross_subject":
        assert subjects is not None
        ids = np.unique(subjects)
        if evaluation.n_folds >= len(ids):
            splitter: Any = LeaveOneGroupOut()
        else:
            splitter = GroupKFold(n_splits=evaluation.n_folds, shuffle=True, random_state=seed)
        return [np.sort(test) for _, test in splitter.split(index, y, groups=subjects)]
    if evaluation.protocol == "within_subject":
        assert subjects is not None
        tests: list[list[np.ndarray]] = [[] for _ in range(evaluation.n_folds)]
        for subject in np.unique(subjects):
            own = np.flatnonzero(subjects == subject)
            if len(own) < evaluation.n_folds:
                raise ConfigError.field(
                    "evaluation.n_folds",
                    f"within_subject needs at least n_folds ({evaluation.n_folds}) windows per "
                    f"subject; subject {subject} has {len(own)}",
                )
            kfold = StratifiedKFold(n_splits=evaluation.n_folds, shuffle=True, random_state=seed)
            with warnings.catch_warnings():  # a class rarer than n_folds: some folds test none of it
                warnings.simplefilter("ignore", UserWarning)
                parts = [test for _, test in kfold.split(own, y[own])]
            for k, test in enumerate(parts):
                tests[k].append(own[test])
        return [np.sort(np.concatenate(t)) for t in tests]
    assert sessions is not None
    owners = subjects if subjects is not None else np.zeros(len(sessions), dtype=str)
    rank = np.empty(len(y), np.int64)
    for subject in np.unique(owners):
        mine = owners == subject
        _, rank[mine] = np.unique(sessions[mine], return_inverse=True)
    return [np.sort(test) for _, test in LeaveOneGroupOut().split(index, y, groups=rank)]


def check_evaluation(data: Windows, evaluation: EvaluationConfig, seed: int) -> int:
    """Refuse an ``evaluation`` that ``data`` cannot serve (a :class:`ConfigError` naming the
    field): missing subjects or sessions, a ``fold`` past the last fold, a fold whose training
    part lacks a class. Every fold is checked (a benchmark runs them all); the number of folds.
    """
    if not evaluation.folded:
        return 1
    tests = fold_tests(data, evaluation, seed)
    if evaluation.fold >= len(tests):
        raise ConfigError.field(
            "evaluation.fold",
            f"fold {evaluation.fold} is past the last fold: {evaluation.protocol} makes "
            f"{len(tests)} folds of this data (folds 0 to {len(tests) - 1})",
        )
    y = np.asarray(data.y)
    for k, test in enumerate(tests):
        train = np.ones(len(y), bool)
        train[test] = False
        missing = [data.class_names[c] for c in range(data.n_classes) if not np.any(y[train] == c)]
        if missing:
            raise ConfigError.field(
                "evaluation.protocol",
                f"fold {k}'s training part has no window of class {', '.join(map(repr, missing))} "
                f"({evaluation.protocol} holds out {_held_out(data, test)})",
            )
    return len(tests)


def _held_out(data: Windows, test: np.ndarray) -> str:
    subjects = _ids(data.subjects)
    if subjects is None:
        return f"{len(test)} windows"
    return "subject(s) " + ", ".join(np.unique(subjects[test]).tolist())


def fold_split(
    data: Windows, evaluation: EvaluationConfig, *, val_split: float, split_by: str = "auto", seed: int = 0
) -> Split:
    """Fold ``evaluation.fold`` of ``evaluation.protocol``: its held-out part is the test split, and
    the validation split is carved from the rest (see the module docstring).

    Raises
    ------
    ConfigError
        As :func:`check_evaluation`.
    """
    check_evaluation(data, evaluation, seed)
    tests = fold_tests(data, evaluation, seed)
    test = tests[evaluation.fold]
    rest = np.setdiff1d(np.arange(len(data)), test)
    rng = np.random.default_rng(seed)
    subjects = _ids(data.subjects)
    y = np.asarray(data.y)
    by_subject = (
        evaluation.protocol == "cross_subject"
        and split_by != "window"
        and subjects is not None
        and len(np.unique(subjects[rest])) >= 2
    )
    if by_subject:
        assert subjects is not None
        train, val = _val_subjects(y, subjects, rest, val_split, rng)
    else:
        train, val = _val_windows(y, rest, val_split, rng)
    named = {
        part: [] if subjects is None else np.unique(subjects[idx]).tolist()
        for part, idx in (("train", train), ("val", val), ("test", test))
    }
    sessions: list[str] = []
    if evaluation.protocol == "cross_session":
        held = _ids(data.sessions)
        assert held is not None
        pairs = zip(subjects[test], held[test], strict=True) if subjects is not None else held[test]
        sessions = sorted({f"{p[0]}/{p[1]}" if subjects is not None else str(p) for p in pairs})
    return Split(
        rng.permutation(train).astype(np.int64),
        rng.permutation(val).astype(np.int64),
        rng.permutation(test).astype(np.int64),
        evaluation.protocol,
        named,
        evaluation.fold,
        len(tests),
        sessions,
    )


def _val_subjects(
    y: np.ndarray, subjects: np.ndarray, rest: np.ndarray, val_split: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation windows of ``rest``, by subject: ``val_split`` of its subjects (at
    least one; one left to train), preferring a draw whose training part holds every class."""
    ids = np.unique(subjects[rest])
    n_val = min(len(ids) - 1, max(1, round(len(ids) * val_split)))
    classes = np.unique(y[rest])
    best: tuple[int, np.ndarray, np.ndarray] | None = None
    for _ in range(50):
        val_ids = rng.permutation(ids)[:n_val]
        in_val = np.isin(subjects[rest], val_ids)
        train, val = rest[~in_val], rest[in_val]
        missing = len(np.setdiff1d(classes, y[train])) * 2 + len(np.setdiff1d(classes, y[val]))
        if best is None or missing < best[0]:
            best = (missing, train, val)
        if missing == 0:
            break
    assert best is not None
    if best[0] >= 2:  # no draw trains on every class: validate on windows instead
        return _val_windows(y, rest, val_split, rng)
    return best[1], best[2]


def _val_windows(
    y: np.ndarray, rest: np.ndarray, val_split: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation windows of ``rest``, stratified: ``val_split`` of each class's
    windows (at least one, and one left to train)."""
    train, val = [], []
    for label in np.unique(y[rest]):
        idx = rng.permutation(rest[y[rest] == label])
        n_val = min(len(idx) - 1, max(1, round(len(idx) * val_split)))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.concatenate(train), np.concatenate(val)
