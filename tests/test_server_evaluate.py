"""``POST /training/runs/{run_id}/evaluate`` through a real Jupyter server: a run's model scored on
new labelled recordings in the data worker, the numbers checked against scikit-learn's metrics on
the windows MNE reads from the same files and against ``TrainedModel.score``, and the clients'
``evaluate``; bad input answered 4xx naming the field and the file.

The module shares one server root holding a real classical-baseline run (``bandpower_lda``) on
recordings written with MNE's writers, trained once; each test's server finds it in the run index.
"""

from __future__ import annotations

import numpy as np
import pytest
from recordings import CHANNELS, LABELS, labelled_windows, make_raw, write, write_relabelled
from sklearn.metrics import balanced_accuracy_score, cohen_kappa_score, f1_score, roc_auc_score
from support import train_tiny

from eegtrain_jupyter import load_model
from eegtrain_jupyter.client import LocalClient, RemoteClient
from eegtrain_jupyter.errors import ConfigError
from eegtrain_jupyter.schemas import RESPONSE_MODELS
from eegtrain_jupyter.service.manager import TrainingManager

FILES_DATA = {
    "source": "files",
    "paths": ["rec/*"],
    "labels": LABELS,
    "sliding": True,
    "subject_pattern": r"sub-(?P<subject>\d+)",
}


@pytest.fixture(scope="module")
def jp_root_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("server-root")
    for subject in range(1, 5):
        write(make_raw(subject), root / "rec", f"sub-{subject:02d}_task-rest", "fif")
    write_relabelled(root / "new", 7, "edf", (1, 4))
    raw = make_raw(9)
    raw.set_annotations(None)
    write(raw, root / "bad", "sub-09_unlabelled", "fif")
    write(make_raw(9, names=[*CHANNELS[:-1], "EEG O2-REF"]), root / "bad", "sub-09_renamed", "fif")
    return root


@pytest.fixture(scope="module")
def run(jp_root_dir):
    return train_tiny(jp_root_dir, model="bandpower_lda", test_split=0.25, data=FILES_DATA)


async def test_evaluate_over_rest_matches_sklearn_and_score(api, run, jp_root_dir):
    code, report = await api("POST", f"runs/{run.run_id}/evaluate", {"files": ["new/*.edf"]})
    assert code == 200, report
    RESPONSE_MODELS["Evaluation"].model_validate(report)
    model = load_model(run.run_id, jp_root_dir)
    assert report == model.score("new/*.edf", root=jp_root_dir).to_json() | {"run_id": run.run_id}

    X, names = labelled_windows(jp_root_dir / "new" / "sub-07_eval.edf", LABELS)
    y = np.asarray([model.classes_.tolist().index(n) for n in names])
    proba = model.predict_proba(X, ch_names=CHANNELS)
    pred = proba.argmax(1)
    assert report["n"] == len(y) == 12 and report["subjects"] == ["07"]  # 6 blocks of 8 s, 4 s windows
    assert 0 < report["accuracy"] < 100  # two of six blocks carry the other kind's label
    assert report["balanced_accuracy"] == pytest.approx(100 * balanced_accuracy_score(y, pred))
    assert report["cohen_kappa"] == pytest.approx(cohen_kappa_score(y, pred))
    assert report["macro_f1"] == pytest.approx(100 * f1_score(y, pred, average="macro"))
    assert report["roc_auc"] == pytest.approx(100 * roc_auc_score(y, proba[:, 1]))
    assert report["per_subject"]["07"]["balanced_accuracy"] == report["balanced_accuracy"]
    assert report["files"][0]["path"] == "new/sub-07_eval.edf" and report["seen_in_training"] == []


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({}, "files", "Field required"),
        ({"files": []}, "files", "at least 1 item"),
        (
            {"files": ["bad/sub-09_unlabelled_raw.fif"]},
            "labels",
            "sub-09_unlabelled_raw.fif has no annotation",
        ),
        (
            {"files": ["new/*"], "labels": {"task": "bored"}},
            "labels",
            "'bored' is not one of the run's classes",
        ),
        ({"files": ["bad/sub-09_renamed_raw.fif"]}, "files", "sub-09_renamed_raw.fif: channels O2 not found"),
        ({"files": ["../outside.edf"]}, "files[0]", "inside the server root"),
        ({"files": ["new/missing.edf"]}, "files[0]", "no such file"),
        (
            {"files": ["new/*"], "subject_pattern": "x(\\d+)"},
            "subject_pattern",
            "does not match the file name",
        ),
    ],
)
async def test_bad_input_is_400_naming_the_field_and_file(api, run, body, field, words):
    code, err = await api("POST", f"runs/{run.run_id}/evaluate", body)
    assert code == 400, err
    assert [e["field"] for e in err["errors"]] == [field], err
    assert words in err["error"] or words in err["errors"][0]["message"], err


async def test_unknown_run_and_run_without_checkpoint(api, run, jp_root_dir):
    code, err = await api("POST", "runs/no-such-run/evaluate", {"files": ["new/*"]})
    assert code == 404 and "no run 'no-such-run'" in err["error"]
    checkpoint = jp_root_dir / "models" / "runs" / run.run_id / "best_model.pth"
    kept = checkpoint.read_bytes()
    checkpoint.unlink()
    try:
        code, err = await api("POST", f"runs/{run.run_id}/evaluate", {"files": ["new/*"]})
    finally:
        checkpoint.write_bytes(kept)
    assert code == 409 and "has no checkpoint yet" in err["error"], err


async def test_remote_and_local_clients_evaluate(api, run, jp_root_dir):
    import asyncio

    _, expected = await api("POST", f"runs/{run.run_id}/evaluate", {"files": ["new/*"], "sliding": False})
    assert expected["n"] == 6
    remote = RemoteClient(api.root, api.token)
    local = LocalClient(TrainingManager(jp_root_dir))
    for client in (remote, local):
        got = await asyncio.to_thread(client.evaluate, run.run_id, "new/*", sliding=False)
        assert got == expected
        with pytest.raises(ConfigError, match="labels: class 'x' is not one of the run's classes"):
            await asyncio.to_thread(client.evaluate, run.run_id, ["new/*"], labels={"task": "x"})
