"""Real recordings through REST: the data scan in ``config/validate``, a run on EDF/BrainVision/
EEGLAB/FIF files to its test report, and every bad-data case refused with a 400 naming the
problem, no run started and nothing written."""

from __future__ import annotations

from pathlib import Path

import mne
import numpy as np
import torch
from configs import TINY
from recordings import LABELS, make_raw, write, write_set
from support import wait_for_async

from eegtrain_jupyter.schemas import RESPONSE_MODELS

O2_MAP = {"EEG O2-REF": "O2"}


def files_config(**data) -> dict:
    return {
        **TINY,
        "n_epochs": 2,
        "save_dir": "models",
        "test_split": 0.25,
        "data": {
            "source": "files",
            "paths": ["rec/*"],
            "labels": LABELS,
            "sliding": True,
            "subject_pattern": r"sub-(?P<subject>\d+)",
            "channel_map": O2_MAP,
            **data,
        },
    }


async def test_validate_scans_the_files(api, jp_root_dir):
    root = Path(jp_root_dir)
    write_set(root / "rec")
    code, body = await api("POST", "config/validate", files_config())
    assert code == 200 and body["valid"], body
    RESPONSE_MODELS["ValidationBody"].model_validate(body)
    summary = body["data_summary"]
    assert summary["subjects"] == ["01", "02", "03", "04"]
    assert summary["windows_per_class"] == {"relaxed": 16, "anxious": 16}  # 2 blocks x 2 windows x 4 files
    assert summary["windows_per_subject"] == dict.fromkeys(["01", "02", "03", "04"], 8)
    assert summary["ch_names"] == ["FP1", "FP2", "C3", "C4", "P7", "P8", "O1", "O2"]
    assert summary["renamed"]["EEG O2-REF"] == "O2"
    assert sorted(f["sfreq"] for f in summary["files"]) == [200.0, 200.0, 200.0, 250.0]
    assert [Path(f["path"]).suffix for f in summary["files"]] == [".edf", ".vhdr", ".set", ".fif"]  # by name
    assert not (root / "models").exists()  # validating writes no run


async def test_files_run_reports_on_held_out_subjects(api, manager, jp_root_dir):
    root = Path(jp_root_dir)
    write_set(root / "rec")
    code, started = await api("POST", "start", files_config())
    assert code == 200, started

    async def ended() -> bool:
        _, status = await api("GET", "status")
        return status["state"] in ("completed", "failed", "stopped")

    await wait_for_async(ended, timeout=300, what="the run to end")
    code, status = await api("GET", "status")
    assert status["state"] == "completed", status["error"]
    # trained in a worker process (its log is in the run folder), as every config's run is
    assert (Path(status["run_dir"]) / "worker.log").exists()
    assert status["split"].startswith("by subject: 2 / 1 / 1 subjects"), status["split"]
    report = status["test_report"]
    assert report["n"] == 8 and sum(map(sum, report["confusion_matrix"])) == 8
    assert report["class_names"] == ["relaxed", "anxious"] and len(report["subjects"]) == 1
    assert set(report["per_class"]) == {"relaxed", "anxious"}
    assert len(status["history"]["val_balanced_accs"]) == 2
    ckpt = torch.load(root / "models" / "best_model.pth", weights_only=False)  # not synthetic data
    assert ckpt["preprocessing"]["channel_map"] == O2_MAP and ckpt["preprocessing"]["sfreq"] == 200.0
    assert ckpt["test_report"] == report
    _, runs = await api("GET", "runs")
    assert runs["runs"][0]["test_report"] == report


def _nan_recording(folder: Path) -> None:
    raw = make_raw(9)
    data = raw.get_data()
    data[3, 500:520] = np.nan
    raw = mne.io.RawArray(data, raw.info, verbose="error").set_annotations(raw.annotations)
    write(raw, folder, "sub-09_task-rest", "fif")


BAD = {
    # name: (data overrides, top-level overrides, files to make, field, words in the message)
    "missing file": ({"paths": ["rec/nope.edf"]}, {}, None, "data.paths[0]", "no such file"),
    "outside the root": (
        {"paths": ["../elsewhere/*.edf"]},
        {},
        None,
        "data.paths[0]",
        "inside the server root",
    ),
    "unreadable file": (
        {"paths": ["bad/sub-01.edf"]},
        {},
        "garbage",
        "data.paths[0]",
        "cannot read sub-01.edf",
    ),
    "no matching annotation": (
        {"labels": {"blink": "relaxed", "task": "anxious"}},
        {},
        None,
        "data.labels",
        "'blink'",
    ),
    "class without windows": ({"window_s": 10}, {}, None, "data.labels", "has no windows"),
    "unknown channels": (
        {"channel_map": {}},
        {},
        None,
        "data.ch_names",
        'suggested channel_map: {"EEG O2-REF": "O2"}',
    ),
    "window under 1 s": ({"window_s": 0.5}, {}, None, "data.window_s", "1 s"),
    "NaN samples": ({"paths": ["nan/*.fif"]}, {}, "nan", "data.paths[0]", "NaN or inf"),
    "one subject": (
        {"paths": ["rec/sub-01*"]},
        {"split_by": "subject"},
        None,
        "split_by",
        "at least 3 subjects",
    ),
}


async def test_bad_data_is_refused_before_any_run(api, jp_root_dir):
    root = Path(jp_root_dir)
    write_set(root / "rec")
    (root / "bad").mkdir()
    (root / "bad" / "sub-01.edf").write_bytes(b"not an EDF file at all" * 20)
    _nan_recording(root / "nan")
    for name, (data, top, _, field, words) in BAD.items():
        config = files_config(**data)
        config.update(top)
        for endpoint in ("start", "config/validate"):
            code, body = await api("POST", endpoint, config)
            if endpoint == "start":
                assert code == 400, (name, code, body)
                RESPONSE_MODELS["ErrorBody"].model_validate(body)
                assert body["type"] == "ConfigError"
            else:
                assert code == 200 and body["valid"] is False, (name, body)
            fields = {e["field"]: e["message"] for e in body["errors"]}
            assert field in fields, (name, body)
            assert words in fields[field], (name, fields[field])
    _, status = await api("GET", "status")
    assert status["state"] == "idle" and status["run_id"] is None
    _, runs = await api("GET", "runs")
    assert runs["runs"] == []
    assert not (root / "models").exists()
