"""Evaluation protocols: the folds of cross_subject, within_subject and cross_session against
scikit-learn's splitters, each fold's validation carved from its training part, sessions read from
file names, and every bad combination refused naming its field."""

from __future__ import annotations

import numpy as np
import pytest
from recordings import LABELS, make_raw, write
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, StratifiedKFold

from eegtrain_jupyter.config import EvaluationConfig, parse_config, validate_config
from eegtrain_jupyter.data.paths import PathPolicy
from eegtrain_jupyter.data.splits import check_evaluation, fold_split, fold_tests, split_for
from eegtrain_jupyter.data.windows import Windows, scan
from eegtrain_jupyter.errors import ConfigError


def windows(n_subjects: int = 5, per_subject: int = 12, sessions: int = 0, seed: int = 0) -> Windows:
    """Random labelled windows of ``n_subjects`` subjects (both classes each), optionally split into
    ``sessions`` sessions per subject, named alike across subjects."""
    rng = np.random.default_rng(seed)
    n = n_subjects * per_subject
    subjects = np.repeat([f"s{i}" for i in range(n_subjects)], per_subject)
    y = np.tile(np.arange(per_subject) % 2, n_subjects)
    ses = None
    if sessions:
        ses = np.tile(np.repeat([f"ses-{k}" for k in range(sessions)], per_subject // sessions), n_subjects)
    return Windows(
        X=rng.normal(size=(n, 2, 8)).astype(np.float32),
        y=y.astype(np.int64),
        ch_names=("C3", "C4"),
        sfreq=2.0,
        class_names=("a", "b"),
        subjects=subjects,
        sessions=ses,
    )


def as_sets(folds) -> list[frozenset[int]]:
    return sorted(frozenset(np.asarray(f).tolist()) for f in folds)


@pytest.mark.parametrize("n_folds", [2, 3, 5, 9])
def test_cross_subject_folds_are_scikit_learns(n_folds):
    data = windows(n_subjects=5)
    ev = EvaluationConfig(protocol="cross_subject", n_folds=n_folds)
    ours = fold_tests(data, ev, seed=7)
    if n_folds >= 5:  # leave one subject out, in sorted subject order
        theirs = [t for _, t in LeaveOneGroupOut().split(data.X, data.y, data.subjects)]
        assert [np.unique(data.subjects[t]).tolist() for t in ours] == [[f"s{i}"] for i in range(5)]
    else:
        splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=7)
        theirs = [t for _, t in splitter.split(data.X, data.y, data.subjects)]
    assert [t.tolist() for t in ours] == [np.sort(t).tolist() for t in theirs]
    # a partition of the windows, no subject in two folds
    assert sorted(np.concatenate(ours).tolist()) == list(range(len(data)))
    owners = [set(data.subjects[t]) for t in ours]
    assert all(not (a & b) for i, a in enumerate(owners) for b in owners[i + 1 :])


def test_within_subject_folds_are_stratified_k_fold_per_subject():
    data = windows(n_subjects=3, per_subject=10)
    ev = EvaluationConfig(protocol="within_subject", n_folds=5)
    ours = fold_tests(data, ev, seed=3)
    assert len(ours) == 5
    for subject in np.unique(data.subjects):
        own = np.flatnonzero(data.subjects == subject)
        kfold = StratifiedKFold(n_splits=5, shuffle=True, random_state=3)
        theirs = [own[t] for _, t in kfold.split(own, data.y[own])]
        for k in range(5):
            assert np.intersect1d(ours[k], own).tolist() == np.sort(theirs[k]).tolist()
    assert sorted(np.concatenate(ours).tolist()) == list(range(len(data)))
    # every fold tests every subject, with both classes
    for test in ours:
        assert set(data.subjects[test]) == set(data.subjects) and set(data.y[test]) == {0, 1}


def test_cross_session_leaves_one_session_out_within_each_subject():
    data = windows(n_subjects=3, per_subject=12, sessions=3)
    ours = fold_tests(data, EvaluationConfig(protocol="cross_session"), seed=0)
    theirs = [t for _, t in LeaveOneGroupOut().split(data.X, data.y, data.sessions)]
    assert [t.tolist() for t in ours] == [np.sort(t).tolist() for t in theirs]
    for k, test in enumerate(ours):
        assert set(data.sessions[test]) == {f"ses-{k}"} and set(data.subjects[test]) == set(data.subjects)


def test_cross_session_ranks_sessions_per_subject():
    """Sessions named differently per subject: fold k holds each subject's k-th (sorted) session."""
    data = windows(n_subjects=2, per_subject=8, sessions=2)
    renamed = np.array([f"{s}-{x}" for s, x in zip(data.subjects, data.sessions, strict=True)])
    data = Windows(**{**data.__dict__, "sessions": renamed})
    folds = fold_tests(data, EvaluationConfig(protocol="cross_session"), seed=0)
    assert [sorted(set(data.sessions[t])) for t in folds] == [
        ["s0-ses-0", "s1-ses-0"],
        ["s0-ses-1", "s1-ses-1"],
    ]
    split = fold_split(data, EvaluationConfig(protocol="cross_session", fold=1), val_split=0.2)
    assert split.sessions == ["s0/s0-ses-1", "s1/s1-ses-1"]
    assert "cross_session fold 2 of 2" in split.describe()


@pytest.mark.parametrize("protocol", ["cross_subject", "within_subject", "cross_session"])
def test_a_fold_validates_inside_its_training_part(protocol):
    data = windows(n_subjects=6, per_subject=12, sessions=2)
    n = len(fold_tests(data, EvaluationConfig(protocol=protocol, n_folds=3), seed=1))
    tests = []
    for fold in range(n):
        ev = EvaluationConfig(protocol=protocol, n_folds=3, fold=fold)
        split = fold_split(data, ev, val_split=0.2, seed=1)
        parts = [set(split.train.tolist()), set(split.val.tolist()), set(split.test.tolist())]
        assert all(parts) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert len(split.train) + len(split.val) + len(split.test) == len(data)
        assert set(data.y[split.train]) == {0, 1}
        if protocol == "cross_subject":  # validation by subject: no subject in two parts
            s = split.subjects
            assert not (set(s["train"]) & set(s["val"])) and not (set(s["val"]) & set(s["test"]))
        tests.append(split.test)
        # deterministic from the seed
        again = fold_split(data, ev, val_split=0.2, seed=1)
        assert again.train.tolist() == split.train.tolist() and again.val.tolist() == split.val.tolist()
    assert sorted(np.concatenate(tests).tolist()) == list(range(len(data)))


def test_split_for_follows_the_config():
    config = parse_config(
        {
            "model": "csp_lda",
            "data": {"n_subjects": 4},
            "evaluation": {"protocol": "cross_subject", "fold": 2},
        }
    )
    data = windows(n_subjects=4)
    split = split_for(data, config)
    assert split.by == "cross_subject" and split.fold == 2 and split.n_folds == 4
    assert split.subjects["test"] == ["s2"]  # leave one subject out, sorted
    holdout = split_for(data, parse_config({"model": "csp_lda", "test_split": 0.25}))
    assert holdout.by == "subject" and holdout.fold is None


@pytest.mark.parametrize(
    ("data", "ev", "field", "words"),
    [
        ({"n_subjects": 1}, {"protocol": "cross_subject"}, "evaluation.protocol", "at least 2 subjects"),
        ("no subjects", {"protocol": "within_subject"}, "evaluation.protocol", "no subject ids"),
        ({"n_subjects": 3}, {"protocol": "cross_session"}, "evaluation.protocol", "data.session_pattern"),
        (
            {"n_subjects": 3, "sessions": 1},
            {"protocol": "cross_session"},
            "evaluation.protocol",
            "one session",
        ),
        (
            {"n_subjects": 3},
            {"protocol": "cross_subject", "n_folds": 9, "fold": 4},
            "evaluation.fold",
            "3 folds",
        ),
        (
            {"n_subjects": 3, "sessions": 2},
            {"protocol": "cross_session", "fold": 2},
            "evaluation.fold",
            "past",
        ),
        (
            {"n_subjects": 2, "per_subject": 4},
            {"protocol": "within_subject", "n_folds": 5},
            "evaluation.n_folds",
            "has 4",
        ),
        (
            "one class per subject",
            {"protocol": "cross_subject", "n_folds": 2},
            "evaluation.protocol",
            "class",
        ),
    ],
)
def test_bad_protocols_name_their_field(data, ev, field, words):
    if data == "no subjects":
        made = Windows(**{**windows().__dict__, "subjects": None})
    elif data == "one class per subject":  # s0 holds every 'b': a fold testing s0 trains on 'a' only
        made = windows(n_subjects=2, per_subject=4)
        made = Windows(**{**made.__dict__, "y": np.repeat([1, 0], 4).astype(np.int64)})
    else:
        made = windows(**data)
    with pytest.raises(ConfigError) as info:
        check_evaluation(made, EvaluationConfig(**ev), seed=0)
    errors = {e.field: e.message for e in info.value.errors}
    assert field in errors and words in errors[field], errors


def test_config_refuses_what_it_can_know():
    cases = {
        "evaluation.fold": [
            {"evaluation": {"protocol": "holdout", "fold": 1}},
            {"evaluation": {"protocol": "cross_subject", "n_folds": 3, "fold": 3}},
            {
                "data": {"n_subjects": 4},
                "evaluation": {"protocol": "cross_subject", "n_folds": 10, "fold": 4},
            },
        ],
        "evaluation.protocol": [
            {"evaluation": {"protocol": "cross_session"}},
            {"evaluation": {"protocol": "leave_one_out"}},
            {"data": {"n_subjects": 1}, "evaluation": {"protocol": "within_subject"}},
        ],
        "evaluation.n_folds": [{"evaluation": {"protocol": "cross_subject", "n_folds": 1}}],
    }
    for field, bodies in cases.items():
        for body in bodies:
            result = validate_config(body)
            assert not result.valid and field in {e.field for e in result.errors}, (body, result.errors)
    assert validate_config({}).config.evaluation == EvaluationConfig()  # holdout, the default


def test_sessions_come_from_file_names(tmp_path):
    """Two subjects x two sessions written as EDF; ``session_pattern`` names each file's session
    and ``cross_session`` folds hold one session of each subject out."""
    for subject in (1, 2):
        for session in (1, 2):
            raw = make_raw(subject, n_blocks=2, seed=session)
            write(raw, tmp_path / "rec", f"sub-{subject:02d}_ses-{session}", "edf")
    data = {
        "source": "files",
        "paths": ["rec/*.edf"],
        "labels": LABELS,
        "subject_pattern": r"sub-(?P<subject>\d+)",
        "session_pattern": r"ses-(?P<session>\d+)",
    }
    config = parse_config(
        {"model": "csp_lda", "data": data, "evaluation": {"protocol": "cross_session", "fold": 1}}
    )
    found, summary = scan(config, PathPolicy(tmp_path))
    assert summary.sessions == ["1", "2"] and {f.session for f in summary.files} == {"1", "2"}
    split = split_for(found, config)
    assert split.sessions == ["01/2", "02/2"]
    assert set(found.sessions[split.test]) == {"2"} and set(found.sessions[split.train]) == {"1"}
    bad = {**data, "session_pattern": r"run-(\d+)"}
    with pytest.raises(ConfigError) as info:
        scan(parse_config({"model": "csp_lda", "data": bad}), PathPolicy(tmp_path))
    assert info.value.errors[0].field == "data.session_pattern"
