"""A trained model scored on new labelled recordings: ``TrainedModel.score`` and ``eegtrain evaluate``
give the held-out test report's scores, checked against scikit-learn's metrics on the windows MNE
reads from the same files; bad input is refused naming the field and the file. And the checkpoint's
name: ``best_model.pth`` for recordings, ``best_synthetic_model.pth`` for synthetic data, both found.

Two small real runs on recordings written with MNE's writers are trained once for the module: a
neural one (real LaBraM, frozen, 1 epoch) and a classical baseline (``bandpower_lda``).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from recordings import CHANNELS, LABELS, labelled_windows, make_raw, write, write_relabelled
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)
from support import train_tiny

from eegtrain_jupyter import load_model, schemas
from eegtrain_jupyter.cli.main import main
from eegtrain_jupyter.engine import artifacts
from eegtrain_jupyter.errors import ConfigError, Conflict, NotFound
from eegtrain_jupyter.service.publishing import complete_publish
from eegtrain_jupyter.service.serving import resolve_checkpoint

pytestmark = pytest.mark.slow  # trains two small real models once: ~40 s on 2 busy cores

FILES_DATA = {
    "source": "files",
    "paths": ["rec/*"],
    "labels": LABELS,
    "sliding": True,
    "subject_pattern": r"sub-(?P<subject>\d+)",
}
EVAL = {7: ("fif", (1,)), 8: ("edf", (0, 3, 4))}
"""Evaluation subjects: the format of each one's recording and its blocks labelled as the other kind."""


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate-root")
    for subject in range(1, 5):
        write(make_raw(subject), root / "rec", f"sub-{subject:02d}_task-rest", "fif")
    for subject, (fmt, swapped) in EVAL.items():
        write_relabelled(root / "new", subject, fmt, swapped)
    return root


@pytest.fixture(scope="module")
def baseline(root):
    """A completed run of the classical baseline on ``rec/*`` (seconds to train)."""
    return train_tiny(root, model="bandpower_lda", test_split=0.25, data=FILES_DATA)


@pytest.fixture(scope="module")
def neural(root, baseline):
    """A completed run of LaBraM (frozen, 1 epoch) on ``rec/*``, after the baseline's."""
    return train_tiny(root, model="labram", test_split=0.25, data=FILES_DATA)


@pytest.fixture(params=["neural", "baseline"])
def run(request):
    """The neural run, then the baseline's."""
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def loaded(root):
    """``load_model(run_id, root)``, each run's model loaded once for the module."""
    cache = {}

    def load(run_id):
        if run_id not in cache:
            cache[run_id] = load_model(run_id, root)
        return cache[run_id]

    return load


def _expected(model, root) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The evaluation files' windows as MNE reads them: true class indices, the model's
    probabilities and each window's subject."""
    ys, probas, subjects = [], [], []
    for path in sorted((root / "new").iterdir()):
        X, names = labelled_windows(path, LABELS)
        ys += [model.classes_.tolist().index(n) for n in names]
        probas.append(model.predict_proba(X, ch_names=CHANNELS))
        subjects += [path.name[4:6]] * len(X)
    return np.asarray(ys), np.concatenate(probas), np.asarray(subjects)


def _check_against_sklearn(report, y, proba, subjects, classes):
    pred = proba.argmax(1)
    assert report.n == len(y) == 24  # 6 blocks of 8 s: 12 windows of 4 s per file
    assert report.accuracy == pytest.approx(100 * accuracy_score(y, pred))
    assert report.balanced_accuracy == pytest.approx(100 * balanced_accuracy_score(y, pred))
    assert report.cohen_kappa == pytest.approx(cohen_kappa_score(y, pred))
    assert report.macro_f1 == pytest.approx(100 * f1_score(y, pred, average="macro", zero_division=0))
    assert report.weighted_f1 == pytest.approx(100 * f1_score(y, pred, average="weighted", zero_division=0))
    assert report.roc_auc == pytest.approx(100 * roc_auc_score(y, proba[:, 1]))
    assert report.confusion_matrix == confusion_matrix(y, pred, labels=[0, 1]).tolist()
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=[0, 1], zero_division=0)
    for i, name in enumerate(classes):
        scores = report.per_class[name]
        assert (scores.precision, scores.recall, scores.f1, scores.support) == pytest.approx(
            (100 * p[i], 100 * r[i], 100 * f[i], s[i])
        )
    assert sorted(report.per_subject) == report.subjects == ["07", "08"]
    for subject, scores in report.per_subject.items():
        mask = subjects == subject
        assert scores.n == mask.sum() == 12
        assert scores.balanced_accuracy == pytest.approx(100 * balanced_accuracy_score(y[mask], pred[mask]))
        assert scores.accuracy == pytest.approx(100 * accuracy_score(y[mask], pred[mask]))


def test_score_on_new_recordings_matches_sklearn(run, root, loaded):
    model = loaded(run.run_id)
    report = model.score("new/*", root=root)
    # the held-out test report's shape, with the files read and the run
    schemas.TestReport.model_validate(report.model_dump(exclude={"run_id", "files", "seen_in_training"}))
    y, proba, subjects = _expected(model, root)
    _check_against_sklearn(report, y, proba, subjects, model.classes_.tolist())
    assert report.epoch == model.checkpoint["epoch"] and report.seen_in_training == []
    assert [f.path for f in report.files] == ["new/sub-07_eval_raw.fif", "new/sub-08_eval.edf"]
    assert [f.subject for f in report.files] == ["07", "08"]
    # the run's held-out test report has the same keys, per subject included
    assert set(run.test_report.model_dump()) <= set(report.model_dump())
    assert list(run.test_report.per_subject) == run.test_report.subjects

    # windows with their labels (names or indices) give the same scores
    X = np.concatenate([labelled_windows(p, LABELS)[0] for p in sorted((root / "new").iterdir())])
    same = model.score(X, model.classes_[y], subjects=subjects, ch_names=CHANNELS)
    assert same.model_dump(exclude={"split", "files"}) == report.model_dump(exclude={"split", "files"})
    assert model.score(X, y, ch_names=CHANNELS).balanced_accuracy == report.balanced_accuracy


def test_score_overrides_and_files_seen_in_training(run, root, loaded):
    model = loaded(run.run_id)
    # one class only, and no subjects: the scores of that class's windows
    report = model.score(
        ["new/sub-07_eval_raw.fif"], root=root, labels={"task": "anxious"}, subject_pattern=""
    )
    assert report.n == 4 and report.per_class["relaxed"].support == 0 and report.roc_auc is None
    assert report.per_subject == {} and report.subjects == []
    # not sliding: one window per annotation
    assert model.score("new/sub-08_eval.edf", root=root, sliding=False).n == 6
    # a training file is flagged: its scores are optimistic
    assert model.score("rec/sub-01_task-rest_raw.fif", root=root).seen_in_training == [
        "rec/sub-01_task-rest_raw.fif"
    ]


def _unlabelled_and_renamed(root):
    raw = make_raw(9, names=[*CHANNELS[:-1], "EEG O2-REF"])
    write(raw, root / "bad", "sub-09_renamed", "fif")
    raw.set_annotations(None)
    write(raw, root / "bad", "sub-09_unlabelled", "fif")


@pytest.mark.parametrize(
    ("files", "kwargs", "field", "words"),
    [
        (["bad/sub-09_unlabelled_raw.fif"], {}, "labels", "sub-09_unlabelled_raw.fif has no annotation"),
        (["new/*"], {"labels": {"task": "bored"}}, "labels", "'bored' is not one of the run's classes"),
        (["bad/sub-09_renamed_raw.fif"], {}, "files", "sub-09_renamed_raw.fif: channels O2 not found"),
        (["new/*"], {"subject_pattern": r"subj-(\d+)"}, "subject_pattern", "does not match the file name"),
        (["new/*"], {"subject_pattern": "("}, "subject_pattern", "not a regular expression"),
        (["new/*.bdf"], {}, "files[0]", "no file matches"),
        (["new/nothing.edf"], {}, "files[0]", "no such file"),
        (["new/*"], {"nonsense": 1}, "nonsense", "Extra inputs"),
    ],
)
def test_bad_input_names_the_field_and_file(baseline, root, files, kwargs, field, words):
    _unlabelled_and_renamed(root)
    model = load_model(baseline.run_id, root)
    with pytest.raises(ConfigError) as err:
        model.score(files, root=root, **kwargs)
    assert [e.field for e in err.value.errors] == [field], err.value.errors
    assert words in str(err.value)
    assert str(err.value).startswith("Invalid evaluation request")


def test_channel_map_override_reads_renamed_channels(baseline, root):
    _unlabelled_and_renamed(root)
    model = load_model(baseline.run_id, root)
    report = model.score("bad/sub-09_renamed_raw.fif", root=root, channel_map={"EEG O2-REF": "O2"})
    assert report.n == 8 and report.subjects == ["09"]


def test_cli_evaluate(run, root, loaded, capsys):
    out = root / "evaluation.json"
    assert main(["evaluate", run.run_id, "new/*", "--root", str(root), "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    expected = loaded(run.run_id).score("new/*", root=root)
    assert written == expected.to_json()
    assert f"balanced accuracy {expected.balanced_accuracy:.1f}%" in capsys.readouterr().err
    assert main(["evaluate", run.run_id, "new/*", "--root", str(root), "--labels", '{"task": "x"}']) == 2
    assert "labels: class 'x' is not one of the run's classes" in capsys.readouterr().err
    assert main(["evaluate", run.run_id, "new/*", "--root", str(root), "--no-sliding"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 12


# -- the checkpoint's name --------------------------------------------------------------------


def test_a_run_on_recordings_writes_best_model_pth(baseline, root):
    run_dir = root / "models" / "runs" / baseline.run_id
    assert baseline.files["checkpoint"] == str(run_dir / "best_model.pth")
    assert not (run_dir / "best_synthetic_model.pth").exists()
    assert resolve_checkpoint(baseline.run_id, root) == run_dir / "best_model.pth"
    assert (root / "models" / "best_model.pth").is_file()  # published
    card = json.loads((run_dir / "model_card.json").read_text())
    assert card["run_id"] == baseline.run_id


def test_either_name_is_found_and_the_newer_wins(tmp_path, root, baseline):
    src = root / "models" / "runs" / baseline.run_id / "best_model.pth"
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(src, old / "best_synthetic_model.pth")  # a checkpoint named the old way
    assert load_model(old).path == old / "best_synthetic_model.pth"
    assert load_model(old / "best_synthetic_model.pth").classes_.tolist() == ["relaxed", "anxious"]
    shutil.copy(src, old / "best_model.pth")
    assert artifacts.find_checkpoint(old) == old / "best_model.pth"  # the newer
    (old / "best_synthetic_model.pth").touch()
    assert artifacts.find_checkpoint(old) == old / "best_synthetic_model.pth"
    assert artifacts.output_files(old) == {"checkpoint": str(old / "best_synthetic_model.pth")}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NotFound, match=r"no best_model\.pth or best_synthetic_model\.pth"):
        load_model(empty)


def test_checkpoint_name_follows_the_data_source():
    assert artifacts.checkpoint_name({"data": {"source": "files"}}) == "best_model.pth"
    assert artifacts.checkpoint_name({"data": {"source": "epochs"}}) == "best_model.pth"
    assert artifacts.checkpoint_name({}) == "best_synthetic_model.pth"
    assert artifacts.checkpoint_name({"data": {"source": "synthetic"}}) == "best_synthetic_model.pth"


def test_publishing_keeps_one_checkpoint_in_save_dir(tmp_path):
    """A save_dir that published a synthetic run, then one on recordings: one checkpoint is left."""
    (tmp_path / "best_synthetic_model.pth").write_bytes(b"old")
    (tmp_path / ".staged").write_bytes(b"new")
    (tmp_path / ".eegtrain-publish.json").write_text(json.dumps({"staged": {"best_model.pth": ".staged"}}))
    assert complete_publish(tmp_path) == {"best_model.pth": str(tmp_path / "best_model.pth")}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_model.pth"]


def test_run_without_checkpoint_is_a_conflict(baseline, root, tmp_path):
    run_dir = root / "models" / "runs" / baseline.run_id
    kept = tmp_path / "kept.pth"
    shutil.move(run_dir / "best_model.pth", kept)
    try:
        with pytest.raises(Conflict, match="has no checkpoint yet"):
            load_model(baseline.run_id, root)
    finally:
        shutil.move(kept, run_dir / "best_model.pth")
    assert torch.load(run_dir / "best_model.pth", weights_only=False)["class_names"] == ["relaxed", "anxious"]
