"""The data layer on real files (no server): sources, subjects, stim events, epochs files and the
windows cache (a second load is memory-mapped and at least 5x faster: it still reads
and checks every header)."""

from __future__ import annotations

import time

import mne
import numpy as np
import pytest
from recordings import CHANNELS, LABELS, make_raw, write, write_set

from eegtrain_jupyter.config.training import parse_config
from eegtrain_jupyter.data.paths import PathPolicy
from eegtrain_jupyter.data.splits import split_windows
from eegtrain_jupyter.data.windows import scan
from eegtrain_jupyter.errors import ConfigError
from eegtrain_jupyter.schemas import DataSummary


def _files(**data):
    return parse_config(
        {
            "data": {
                "source": "files",
                "paths": ["rec/*"],
                "labels": LABELS,
                "channel_map": {"EEG O2-REF": "O2"},
                **data,
            }
        }
    )


def test_windows_cache_is_memory_mapped_and_five_times_faster(tmp_path):
    paths = write_set(tmp_path / "rec", n_blocks=64, block_s=8.0)  # 4 x 512 s, one at 250 Hz
    cfg = _files(sliding=True, step_s=1.0, l_freq=1.0, h_freq=40.0, subject_pattern=r"sub-(\d+)")
    policy, cache = PathPolicy(tmp_path, confine=True), tmp_path / "cache"
    scan(cfg, policy)  # no cache: warms the imports (braindecode, MNE's readers) out of the timing
    t0 = time.perf_counter()
    first, s1 = scan(cfg, policy, cache)
    t1 = time.perf_counter()
    second, s2 = scan(cfg, policy, cache)
    t2 = time.perf_counter()
    assert not s1.cached and s2.cached
    assert isinstance(second.X, np.memmap)
    assert second.X.shape == first.X.shape == (4 * 64 * 5, 8, 800)  # 64 blocks of 5 windows per file
    np.testing.assert_array_equal(np.asarray(second.X), np.asarray(first.X))
    np.testing.assert_array_equal(second.subjects, first.subjects)
    print(f"first load {t1 - t0:.3f} s, cached {t2 - t1:.4f} s")
    assert (t1 - t0) >= 5 * (t2 - t1), (t1 - t0, t2 - t1)
    # a changed file (same name) or changed preprocessing is a new entry
    write(make_raw(1, seed=7, n_blocks=64), tmp_path / "rec", paths[0].name.removesuffix(".edf"), "edf")
    assert not scan(cfg, policy, cache)[1].cached
    assert not scan(
        _files(sliding=True, step_s=2.0, l_freq=1.0, h_freq=40.0, subject_pattern=r"sub-(\d+)"), policy, cache
    )[1].cached


def test_subjects_from_a_table_and_stim_events(tmp_path):
    raw = make_raw(1)
    events = mne.events_from_annotations(raw, {"eyes_closed": 1, "task": 2}, verbose="error")[0]
    stim = np.zeros((1, raw.n_times))
    stim[0, events[:, 0] + 1] = events[:, 2]  # MNE finds no event at the very first sample
    raw.add_channels(
        [mne.io.RawArray(stim, mne.create_info(["STI"], raw.info["sfreq"], "stim"), verbose="error")],
        force_update_info=True,
    )
    raw.set_annotations(None)
    write(raw, tmp_path / "rec", "a", "fif")
    write(make_raw(2), tmp_path / "rec", "b", "fif")
    cfg = parse_config(
        {
            "split_by": "window",
            "data": {
                "source": "files",
                "paths": ["rec/a_raw.fif", "rec/b_raw.fif"],
                "sliding": False,
                "labels": {"1": "relaxed", "eyes_closed": "relaxed", "2": "anxious", "task": "anxious"},
                "subjects": {"a_raw.fif": "alice", "b_raw.fif": "bob"},
            },
        }
    )
    windows, summary = scan(cfg, PathPolicy(tmp_path))
    assert summary.windows_per_subject == {"alice": 4, "bob": 4}
    assert summary.files[0].annotations == {"1": 2, "2": 2}  # from the stim channel
    assert windows.ch_names == tuple(c.upper() for c in CHANNELS)  # STI is not a LaBraM channel


def test_epochs_sources_fif_and_npz(tmp_path):
    raw = make_raw(1, sfreq=250.0)
    epochs = mne.make_fixed_length_epochs(raw, 4.0, verbose="error")
    epochs.event_id = {"relaxed": 1}
    epochs.events[1::2, 2] = 2
    epochs.event_id = {"relaxed": 1, "anxious": 2}
    epochs.save(tmp_path / "x-epo.fif", verbose="error")
    w, summary = scan(parse_config({"data": {"source": "epochs", "path": "x-epo.fif"}}), PathPolicy(tmp_path))
    assert w.X.shape == (8, 8, 800) and w.sfreq == 200.0
    assert summary.windows_per_class == {"relaxed": 4, "anxious": 4}
    np.savez(
        tmp_path / "x.npz",
        X=epochs.get_data(),
        y=np.array(["a", "b"] * 4),
        ch_names=CHANNELS,
        sfreq=250.0,
        subjects=np.repeat(["s1", "s2", "s3", "s4"], 2),
    )
    w2, s2 = scan(parse_config({"data": {"source": "epochs", "path": "x.npz"}}), PathPolicy(tmp_path))
    assert w2.class_names == ("a", "b") and s2.subjects == ["s1", "s2", "s3", "s4"]
    np.testing.assert_allclose(w2.X, w.X, atol=1e-3)  # same preprocessing either way
    np.savez(tmp_path / "bad.npz", X=epochs.get_data())
    with pytest.raises(ConfigError, match="lacks y, ch_names, sfreq"):
        scan(parse_config({"data": {"source": "epochs", "path": "bad.npz"}}), PathPolicy(tmp_path))


def test_subject_split_keeps_people_apart(tmp_path):
    write_set(tmp_path / "rec", formats=("fif",) * 4)
    windows, _ = scan(_files(subject_pattern=r"sub-(\d+)", sliding=True), PathPolicy(tmp_path))
    split = split_windows(windows, val_split=0.25, test_split=0.25, seed=0)
    assert split.by == "subject"
    sets = [set(windows.subjects[i]) for i in (split.train, split.val, split.test)]
    assert all(a.isdisjoint(b) for a, b in ((sets[0], sets[1]), (sets[0], sets[2]), (sets[1], sets[2])))
    assert sorted(np.concatenate([split.train, split.val, split.test])) == list(range(len(windows)))
    assert split.describe().startswith("by subject: 2 / 1 / 1 subjects")
    by_window = split_windows(windows, val_split=0.25, test_split=0.25, split_by="window", seed=0)
    assert by_window.by == "window" and len(by_window.test) == 8


def test_windows_cache_keeps_the_most_recently_used_entries(tmp_path):
    """Storing an entry beyond ``max_entries`` removes the least recently used one; a cache hit
    counts as a use."""
    import os

    from eegtrain_jupyter.data.cache import WindowsCache
    from eegtrain_jupyter.data.synthetic import generate

    cache = WindowsCache(tmp_path / "cache", max_entries=2)
    files = [tmp_path / f"f{i}.bin" for i in range(3)]
    for i, path in enumerate(files):
        path.write_bytes(bytes([i]) * 16)
    windows = generate(10, seed=0)
    summary = DataSummary(
        source="files",
        n_windows=len(windows),
        window_s=4.0,
        sfreq=windows.sfreq,
        ch_names=list(windows.ch_names),
        class_names=list(windows.class_names),
        windows_per_class={},
    )
    built = []

    def load(i):
        def build():
            built.append(i)
            return windows, summary

        return cache.load([files[i]], {}, build)

    load(0)
    load(1)
    entry0 = cache.folder / cache.key([files[0]], {})
    os.utime(entry0, (1, 1))  # as if long ago...
    assert load(0)[1].cached  # ...but a hit makes it recent again
    load(2)  # a third entry: the least recently used (1) goes
    assert sorted(p.name for p in cache.folder.iterdir()) == sorted(cache.key([files[i]], {}) for i in (0, 2))
    assert load(0)[1].cached and not load(1)[1].cached  # 1 is built again
    assert built == [0, 1, 2, 1]


RESEARCHER_CHANNELS = ["A1-Cz", "A2-Cz", "C3f", "C3p", "C4f", "C4p", "O1", "ECG"]
"""A montage with reference-suffixed and between-row names (``C3f`` lies between FC3 and C3)."""


def test_every_channel_gets_a_suggestion_in_json_and_the_left_out_ones_are_listed(tmp_path):
    import json

    write(make_raw(1, names=RESEARCHER_CHANNELS), tmp_path / "rec", "sub-01_task-rest", "edf")
    policy = PathPolicy(tmp_path, confine=True)
    data = {"source": "files", "paths": ["rec/*"], "labels": LABELS}
    # O1 is the one LaBraM name: the others are left out, and the summary says so with a suggestion
    windows, summary = scan(parse_config({"data": data}), policy)
    assert list(windows.ch_names) == ["O1"]
    assert summary.dropped == ["A1-Cz", "A2-Cz", "C3f", "C3p", "C4f", "C4p", "ECG"]
    suggested = {"A1-Cz": "A1", "A2-Cz": "A2", "C3f": "FC3", "C3p": "CP3", "C4f": "FC4", "C4p": "CP4"}
    assert summary.suggested_channel_map == suggested
    # naming channels the recording lacks: the error's suggestion is JSON that can be pasted back
    with pytest.raises(ConfigError) as info:
        scan(parse_config({"data": {**data, "ch_names": ["C3", "C4"]}}), policy)
    message = info.value.errors[0].message
    pasted = json.loads(message.split("suggested channel_map: ", 1)[1])
    assert pasted == suggested
    # following it: every EEG channel is used, only ECG is left out
    windows, summary = scan(parse_config({"data": {**data, "channel_map": pasted}}), policy)
    assert sorted(windows.ch_names) == sorted([*suggested.values(), "O1"])
    assert summary.dropped == ["ECG"] and summary.suggested_channel_map == {}
