"""EEGTrainClassifier: a scikit-learn estimator over the engine (clone, cross-validation, MOABB)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

from eegtrain_jupyter.data.synthetic import generate
from eegtrain_jupyter.errors import ConfigError
from eegtrain_jupyter.sklearn import CONFIG_PARAMS, EEGTrainClassifier

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def windows():
    data = generate(40, seed=5)  # 80 windows, 8 channels, 4 s at 200 Hz
    return data.X, np.array(data.class_names)[data.y], list(data.ch_names)


def test_parameters_round_trip_and_clone():
    clf = EEGTrainClassifier(model="eegnet", n_epochs=2, sfreq=200.0, ch_names=["C3", "C4"])
    params = clf.get_params()
    assert set(params) == {"sfreq", "ch_names", "scale", *CONFIG_PARAMS}
    assert params["model"] == "eegnet" and params["learning_rate"] is None
    copy = clone(clf)
    assert copy is not clf and copy.get_params() == params
    # only the parameters set are shown (scikit-learn reads the defaults from the signature)
    assert " ".join(repr(clf).split()) == (
        "EEGTrainClassifier(ch_names=['C3', 'C4'], model='eegnet', n_epochs=2, sfreq=200.0)"
    )
    clf.set_params(model="csp_lda", n_epochs=None)
    assert clf.training_config().model == "csp_lda" and clf.training_config().n_epochs == 1
    with pytest.raises(TypeError, match="unknown parameters save_dir"):
        EEGTrainClassifier(save_dir="elsewhere")
    with pytest.raises(ValueError, match="Invalid parameter"):
        clf.set_params(nonsense=1)


def test_a_baseline_fits_predicts_and_scores_with_any_labels(windows):
    X, y, names = windows
    clf = EEGTrainClassifier(model="tangent_space_lr", sfreq=200.0, ch_names=names).fit(X, y)
    assert clf.classes_.tolist() == ["anxious", "relaxed"]  # sorted, as scikit-learn's
    proba = clf.predict_proba(X[:7])
    assert proba.shape == (7, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert clf.predict(X[:7]).tolist() == clf.classes_[proba.argmax(1)].tolist()
    assert clf.score(X, y) > 0.6
    assert clf.config_.test_split == 0.0 and clf.result_.epochs_completed == 1
    assert clf.model_.path is None and clf.n_features_in_ == 8
    # windows in volts with scale=1e6: the same model and predictions
    volts = EEGTrainClassifier(model="tangent_space_lr", sfreq=200.0, ch_names=names, scale=1e6).fit(
        X / 1e6, y
    )
    assert np.allclose(volts.predict_proba(X[:7] / 1e6), proba, atol=1e-5)


def test_eegnet_trains_one_epoch_through_the_engine(windows):
    X, y, _ = windows
    clf = EEGTrainClassifier(model="eegnet", sfreq=200.0, n_epochs=1, batch_size=16, device="cpu", seed=3)
    clf.fit(X, y)
    assert clf.result_.epochs_completed == 1 and clf.model_.module is not None
    assert clf.predict_proba(X[:4]).shape == (4, 2)
    # a clone of a fitted estimator is unfitted, with the same parameters
    fresh = clone(clf)
    assert not hasattr(fresh, "model_") and fresh.get_params() == clf.get_params()


def test_cross_val_score_on_small_arrays(windows):
    X, y, names = windows
    scores = cross_val_score(
        EEGTrainClassifier(model="bandpower_lda", sfreq=200.0, ch_names=names),
        X,
        y,
        cv=3,
        scoring="balanced_accuracy",
    )
    assert scores.shape == (3,) and np.isfinite(scores).all() and scores.mean() > 0.6


def test_bad_parameters_fail_clearly(windows):
    X, y, _ = windows
    with pytest.raises(ConfigError) as err:
        EEGTrainClassifier(model="csp_lda", learning_rate=0.01, sfreq=200.0).fit(X, y)
    assert [e.field for e in err.value.errors] == ["learning_rate"]
    with pytest.raises(ValueError, match="needs sfreq"):
        EEGTrainClassifier(model="csp_lda").fit(X, y)
    with pytest.raises(ValueError, match="3 ch_names for 8 channels"):
        EEGTrainClassifier(model="csp_lda", sfreq=200.0, ch_names=["a", "b", "c"]).fit(X, y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        EEGTrainClassifier(model="csp_lda", sfreq=200.0).fit(X, np.zeros(len(X)))


def test_a_moabb_evaluation_on_its_fake_dataset(tmp_path):
    pytest.importorskip("moabb")
    from moabb.datasets.fake import FakeDataset
    from moabb.evaluations import WithinSessionEvaluation
    from moabb.paradigms import LeftRightImagery

    channels = ("C3", "Cz", "C4")
    dataset = FakeDataset(
        event_list=["left_hand", "right_hand"],
        n_sessions=1,
        n_runs=1,
        n_subjects=2,
        sfreq=128,
        duration=120,
        channels=channels,
        paradigm="imagery",
        seed=1,
    )
    evaluation = WithinSessionEvaluation(
        paradigm=LeftRightImagery(), datasets=[dataset], overwrite=True, hdf5_path=str(tmp_path), n_jobs=1
    )
    clf = EEGTrainClassifier(model="tangent_space_lr", sfreq=128.0, ch_names=list(channels))
    results = evaluation.process({"tangent_space_lr": make_pipeline(clf)})
    assert sorted(results["subject"].astype(int)) == [1, 2]
    assert set(results["pipeline"]) == {"tangent_space_lr"}
    assert results["score"].between(0, 1).all()
