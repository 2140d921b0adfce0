"""The data layer against a hostile REST caller (real files, no server): companion files outside
the root or not regular, FIFOs, endless globs, catastrophic regexes, lying EDF headers, absolute
paths in messages, and the per-file progress hook. Every attack here hung, leaked or raised a 500
before the data layer checked for it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from recordings import LABELS, make_raw, write

from eegtrain_jupyter.config.training import parse_config
from eegtrain_jupyter.data import paths as paths_module
from eegtrain_jupyter.data.paths import PathPolicy
from eegtrain_jupyter.data.windows import scan
from eegtrain_jupyter.errors import ConfigError

pytestmark = pytest.mark.timeout(120)  # an attack that works hangs: fail instead


def _config(paths: list[str], **data):
    return parse_config({"data": {"source": "files", "paths": paths, "labels": LABELS, **data}})


def _refused(root: Path, config, cache: bool = True) -> dict[str, str]:
    """The field -> message of the ConfigError the scan raises; no message holds an absolute path."""
    with pytest.raises(ConfigError) as info:
        scan(config, PathPolicy(root, confine=True), root / "cache" if cache else None)
    fields = {e.field: e.message for e in info.value.errors}
    for message in fields.values():
        assert str(root) not in message and str(root.parent) not in message, message
    return fields


def _set_header(vhdr: Path, key: str, value: str) -> None:
    lines = vhdr.read_text().splitlines()
    lines = [f"{key}={value}" if line.startswith(f"{key}=") else line for line in lines]
    vhdr.write_text("\n".join(lines) + "\n")


@pytest.fixture
def root(tmp_path) -> Path:
    (tmp_path / "root").mkdir()
    return tmp_path / "root"


def _brainvision(root: Path) -> Path:
    return write(make_raw(1), root / "rec", "sub-01", "brainvision")


def test_brainvision_companions_outside_the_root_are_refused(root):
    """Absolute, ``../`` and symlinked ``DataFile``/``MarkerFile`` names that leave the root are
    refused before MNE opens them (MNE would read them: their bytes would reach the cache)."""
    vhdr = _brainvision(root)
    outside = root.parent / "outside"
    outside.mkdir()
    for name in ("sub-01.eeg", "sub-01.vmrk"):
        (outside / name).write_bytes((vhdr.parent / name).read_bytes())
    (vhdr.parent / "link.eeg").symlink_to(outside / "sub-01.eeg")
    original = vhdr.read_text()
    for key, value in [
        ("DataFile", str(outside / "sub-01.eeg")),
        ("DataFile", "../../outside/sub-01.eeg"),
        ("DataFile", "link.eeg"),
        ("MarkerFile", str(outside / "sub-01.vmrk")),
        ("MarkerFile", "../../outside/sub-01.vmrk"),
    ]:
        vhdr.write_text(original)
        _set_header(vhdr, key, value)
        fields = _refused(root, _config(["rec/*.vhdr"]))
        assert list(fields) == ["data.paths[0]"], (key, value, fields)
        assert fields["data.paths[0]"] == f"sub-01.vhdr's {key} must stay inside the server root"
    assert not (root / "cache").exists() or not any((root / "cache").iterdir())
    vhdr.write_text(original)
    _set_header(vhdr, "DataFile", "bad\0name.eeg")
    assert _refused(root, _config(["rec/*.vhdr"])) == {
        "data.paths[0]": "sub-01.vhdr's DataFile is not a usable path: embedded null byte"
    }
    vhdr.write_text(original)  # the untouched recording scans
    assert scan(_config(["rec/*.vhdr"]), PathPolicy(root, confine=True))[0].X.shape[0] == 4


def test_fifos_and_folders_are_never_opened(root):
    """A FIFO as a recording, as a BrainVision ``DataFile``/``MarkerFile`` or as an epochs file is
    refused from ``os.stat`` (opening it would block forever)."""
    vhdr = _brainvision(root)
    os.mkfifo(root / "rec" / "pipe.eeg")
    os.mkfifo(root / "rec" / "pipe.vmrk")
    os.mkfifo(root / "rec" / "pipe.edf")
    os.mkfifo(root / "pipe.npz")
    (root / "rec" / "folder.eeg").mkdir()
    original = vhdr.read_text()
    for key, value in [("DataFile", "pipe.eeg"), ("MarkerFile", "pipe.vmrk"), ("DataFile", "folder.eeg")]:
        vhdr.write_text(original)
        _set_header(vhdr, key, value)
        t0 = time.perf_counter()
        fields = _refused(root, _config(["rec/sub-01.vhdr"]))
        assert fields["data.paths[0]"] == f"sub-01.vhdr's {key} rec/{value} is not a regular file"
        assert time.perf_counter() - t0 < 5
    fields = _refused(root, _config(["rec/pipe.edf"]))
    assert fields["data.paths[0]"] == "rec/pipe.edf is not a regular file"
    fields = _refused(root, parse_config({"data": {"source": "epochs", "path": "pipe.npz"}}))
    assert fields["data.path"] == "pipe.npz is not a regular file"
    vhdr.write_text(original)  # a glob skips the FIFOs and the folder: only the recording is read
    _, summary = scan(_config(["rec/*"]), PathPolicy(root, confine=True))
    assert [f.path for f in summary.files] == ["rec/sub-01.vhdr"]


def _eeglab_with_fdt(root: Path, fdt_name: str, fdt_path: Path) -> Path:
    """An EEGLAB ``.set`` whose samples are in a separate ``.fdt`` it names ``fdt_name``."""
    embedded = write(make_raw(1), root / "tmp", "embedded", "eeglab")
    mat = {k: v for k, v in scipy.io.loadmat(embedded).items() if not k.startswith("__")}
    fdt_path.parent.mkdir(parents=True, exist_ok=True)
    mat["data"].T.astype("<f4").tofile(
        fdt_path
    )  # EEGLAB's .fdt: float32, one sample of every channel at a time
    mat["data"] = fdt_name
    (root / "eeg").mkdir(exist_ok=True)
    scipy.io.savemat(root / "eeg" / "sub-01.set", mat)
    return root / "eeg" / "sub-01.set"


def test_eeglab_fdt_is_resolved_as_mne_does_and_confined(root):
    """MNE joins the ``.fdt`` name stored in the ``.set`` (``EEG.data``) to the ``.set``'s folder,
    not only its basename: ``../`` leaves the folder. Such a file outside the root is refused
    before a sample is read; one inside is read, and is part of the cache key."""
    outside = root.parent / "outside" / "x.fdt"
    _eeglab_with_fdt(root, "../../outside/x.fdt", outside)
    fields = _refused(root, _config(["eeg/*.set"]))
    assert fields == {"data.paths[0]": "sub-01.set's data file must stay inside the server root"}
    _eeglab_with_fdt(root, "../data/other.fdt", root / "data" / "other.fdt")  # inside: fine
    config, policy = _config(["eeg/*.set"]), PathPolicy(root, confine=True)
    first, summary = scan(config, policy, root / "cache")
    assert first.X.shape[0] == 4 and not summary.cached
    assert scan(config, policy, root / "cache")[1].cached
    data = np.fromfile(root / "data" / "other.fdt", "<f4")
    (data * 2).tofile(root / "data" / "other.fdt")  # new samples, same .set
    second, summary = scan(config, policy, root / "cache")
    assert not summary.cached
    np.testing.assert_allclose(np.asarray(second.X), 2 * np.asarray(first.X), rtol=1e-4, atol=1e-3)


def test_a_brainvision_data_file_is_part_of_the_cache_key(root):
    """Changing the file a ``.vhdr`` names as ``DataFile`` (under another name than the header's)
    makes a new cache entry."""
    vhdr = _brainvision(root)
    (vhdr.parent / "sub-01.eeg").rename(vhdr.parent / "samples.bin")
    _set_header(vhdr, "DataFile", "samples.bin")
    config, policy = _config(["rec/*.vhdr"]), PathPolicy(root, confine=True)
    first, summary = scan(config, policy, root / "cache")
    assert not summary.cached and scan(config, policy, root / "cache")[1].cached
    data = np.fromfile(vhdr.parent / "samples.bin", "<f4")  # pybv writes float32
    (data * 2).tofile(vhdr.parent / "samples.bin")
    second, summary = scan(config, policy, root / "cache")
    assert not summary.cached
    np.testing.assert_allclose(np.asarray(second.X), 2 * np.asarray(first.X), rtol=1e-4, atol=1e-3)


def test_globs_do_not_follow_symlinked_folders_and_are_bounded(root, monkeypatch):
    loop = root / "loop"
    (loop / "sub").mkdir(parents=True)
    write(make_raw(1), loop, "sub-01", "edf")
    (loop / "self").symlink_to(".")
    (loop / "sub" / "up").symlink_to("..")
    t0 = time.perf_counter()
    _, summary = scan(_config(["loop/**/*.edf"]), PathPolicy(root, confine=True))
    assert [f.path for f in summary.files] == ["loop/sub-01.edf"]
    assert time.perf_counter() - t0 < 30
    policy = PathPolicy(root, confine=True)
    many = root / "many"
    many.mkdir()
    for i in range(60):
        (many / f"f{i:03d}.edf").touch()
    monkeypatch.setattr(paths_module, "MAX_GLOB_MATCHES", 50)
    with pytest.raises(ConfigError) as info:
        policy.files(["loop/*.edf", "many/*.edf"], "data.paths")
    assert info.value.errors[0].field == "data.paths[1]"
    assert "matches more than 50 files" in info.value.errors[0].message
    monkeypatch.setattr(paths_module, "MAX_GLOB_SCANNED", 40)
    with pytest.raises(ConfigError, match="looks at more than 40 entries") as info:
        policy.files(["many/**/nothing.edf"], "data.paths")
    assert info.value.errors[0].field == "data.paths[0]"


def test_errors_name_the_pattern_not_the_matched_file(root):
    """The third file is bad, but it came from the second pattern: the error names ``data.paths[1]``."""
    write(make_raw(1), root / "rec", "sub-01", "edf")
    write(make_raw(2), root / "rec", "sub-02", "edf")
    (root / "bad").mkdir()
    (root / "bad" / "sub-03.edf").write_bytes(b"not an EDF file at all" * 20)
    fields = _refused(root, _config(["rec/*.edf", "bad/sub-03.edf"]))
    assert list(fields) == ["data.paths[1]"] and "cannot read sub-03.edf" in fields["data.paths[1]"]


def test_catastrophic_and_nested_subject_patterns(root):
    """A backtracking pattern stops at the time limit (an error naming the file and the limit);
    a pattern too deep or too big to compile is a field error, not a RecursionError (a 500)."""
    name = "a" * 40
    write(make_raw(1), root / "slow", name, "edf")
    t0 = time.perf_counter()
    fields = _refused(root, _config(["slow/*.edf"], subject_pattern="(a|aa)+$"), cache=False)
    assert time.perf_counter() - t0 < 10
    assert fields["data.subject_pattern"] == (
        f"matching the file name {name}.edf took longer than 1 s; simplify the pattern"
    )
    for pattern in ("(" * 5000 + ")" * 5000, "a{99999999999999999999}", "(?P<subject>x"):
        with pytest.raises(ConfigError) as info:
            _config(["rec/*.edf"], subject_pattern=pattern)
        assert [e.field for e in info.value.errors] == ["data.subject_pattern"], pattern
    # the re-compatible groups: 'subject', else group 1, else the whole match
    write(make_raw(1), root / "rec", "sub-01_run-1", "edf")
    write(make_raw(2), root / "rec", "sub-02_run-1", "edf")
    policy = PathPolicy(root, confine=True)
    for pattern, subjects in [
        (r"(?P<run>run-\d)|sub-(?P<subject>\d+)", ["01", "02"]),
        (r"(\d+)_run", ["01", "02"]),
        (r"sub-\d+", ["sub-01", "sub-02"]),
    ]:
        _, summary = scan(_config(["rec/*.edf"], subject_pattern=pattern), policy)
        assert [f.subject for f in summary.files] == subjects, pattern


def _edf_with(root: Path, signals: bytes) -> Path:
    path = write(make_raw(1), root / "rec", "sub-01", "edf")
    with open(path, "r+b") as f:
        f.seek(252)
        f.write(signals)
    return path


def test_a_lying_edf_header_is_refused_at_once(root):
    """An EDF whose header claims 9999 signals is refused from its first 256 bytes (MNE took
    seconds to fail with ``could not convert string to float``)."""
    _edf_with(root, b"9999")
    t0 = time.perf_counter()
    fields = _refused(root, _config(["rec/*.edf"]))
    assert time.perf_counter() - t0 < 2
    assert fields["data.paths[0]"] == (
        "cannot read sub-01.edf as an EEG recording: the EDF/BDF header claims 9999 signals "
        "and 2560 header bytes (that many signals take 2560000)"
    )
    _edf_with(root, b"x   ")
    assert "signal count (252-256) is not a number" in _refused(root, _config(["rec/*.edf"]))["data.paths[0]"]
    (root / "rec" / "short.edf").write_bytes(b"0" * 100)
    fields = _refused(root, _config(["rec/short.edf"]))
    assert fields["data.paths[0]"].endswith("100 bytes, shorter than the 256-byte EDF/BDF header")


def test_the_header_is_checked_before_a_large_file_is_hashed(root):
    """A 16 GB sparse file with a bad header is refused without reading it whole (the cache
    hashes the files only after every header passed)."""
    path = root / "big.edf"
    with open(path, "wb") as f:
        f.write(b"0" * 256)
        f.truncate(16 * 1024**3)
    t0 = time.perf_counter()
    fields = _refused(root, _config(["big.edf"]))
    assert time.perf_counter() - t0 < 2
    assert "cannot read big.edf as an EEG recording" in fields["data.paths[0]"]


def test_messages_and_summaries_show_root_relative_paths(root):
    write(make_raw(1), root / "rec", "sub-01", "edf")
    write(make_raw(2), root / "rec", "sub-02", "fif")
    assert _refused(root, _config(["rec/nope.edf"])) == {"data.paths[0]": "no such file: rec/nope.edf"}
    assert _refused(root, _config(["../x.edf"])) == {"data.paths[0]": "must stay inside the server root"}
    policy = PathPolicy(root, confine=True)
    with pytest.raises(ConfigError) as info:
        policy.directory("rec/sub-01.edf", "save_dir")
    assert info.value.errors[0].message == "rec/sub-01.edf exists and is not a directory"
    names = []
    _, summary = scan(_config(["rec/*"]), policy, root / "cache", on_file=names.append)
    assert [f.path for f in summary.files] == ["rec/sub-01.edf", "rec/sub-02_raw.fif"]
    # the hook: each header, then each file's samples
    assert names == ["rec/sub-01.edf", "rec/sub-02_raw.fif"] * 2
    names.clear()
    _, summary = scan(_config(["rec/*"]), policy, root / "cache", on_file=names.append)
    assert summary.cached and names == ["rec/sub-01.edf", "rec/sub-02_raw.fif"]  # headers only
