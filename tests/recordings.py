"""Test recordings written with MNE's own writers (EDF via edfio, BrainVision via pybv, EEGLAB via
eeglabio, FIF): several subjects, annotated blocks, one non-200 Hz rate, one non-standard name."""

from __future__ import annotations

from pathlib import Path

import mne
import numpy as np

CHANNELS = ["Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2"]
LABELS = {"eyes_closed": "relaxed", "task": "anxious"}
FORMATS = {"edf": ".edf", "brainvision": ".vhdr", "eeglab": ".set", "fif": "_raw.fif"}


def make_raw(
    subject: int,
    *,
    sfreq: float = 200.0,
    n_blocks: int = 4,
    block_s: float = 8.0,
    names: list[str] | None = None,
    seed: int = 0,
) -> mne.io.RawArray:
    """Alternating ``eyes_closed`` (posterior alpha) / ``task`` (frontal 21 Hz beta) blocks, volts."""
    rng = np.random.default_rng(seed * 1000 + subject)
    n = int(n_blocks * block_s * sfreq)
    t = np.arange(n) / sfreq
    data = rng.normal(0, 10e-6, (len(CHANNELS), n))
    for b in range(n_blocks):
        sl = slice(int(b * block_s * sfreq), int((b + 1) * block_s * sfreq))
        if b % 2 == 0:
            data[4:, sl] += 20e-6 * np.sin(2 * np.pi * (9.5 + 0.2 * subject) * t[sl])
        else:
            data[:2, sl] += 12e-6 * np.sin(2 * np.pi * 21 * t[sl])
    info = mne.create_info(names or CHANNELS, sfreq, "eeg")
    raw = mne.io.RawArray(data, info, verbose="error")
    raw.set_annotations(
        mne.Annotations(
            onset=[b * block_s for b in range(n_blocks)],
            duration=[block_s] * n_blocks,
            description=["eyes_closed" if b % 2 == 0 else "task" for b in range(n_blocks)],
        )
    )
    return raw


def write(raw: mne.io.BaseRaw, folder: Path, stem: str, fmt: str) -> Path:
    """Write ``raw`` as ``fmt`` (edf, brainvision, eeglab, fif) with MNE's writers; returns the file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}{FORMATS[fmt]}"
    if fmt == "fif":
        raw.save(path, overwrite=True, verbose="error")
    else:
        mne.export.export_raw(path, raw, fmt=fmt, overwrite=True, verbose="error")
    return path


def write_set(folder: Path, formats=("edf", "brainvision", "eeglab", "fif"), **kw) -> list[Path]:
    """One recording per format, one subject each (``sub-01``...); the second at 250 Hz, the third
    with ``EEG O2-REF`` for ``O2``."""
    paths = []
    for i, fmt in enumerate(formats):
        names = [*CHANNELS[:-1], "EEG O2-REF"] if i == 2 else None
        raw = make_raw(i + 1, sfreq=250.0 if i == 1 else 200.0, names=names, **kw)
        paths.append(write(raw, folder, f"sub-{i + 1:02d}_task-rest", fmt))
    return paths


def write_relabelled(
    folder: Path, subject: int, fmt: str, swapped: tuple[int, ...], n_blocks: int = 6
) -> Path:
    """A recording of ``subject`` (``sub-NN_eval``) whose blocks ``swapped`` carry the other block
    kind's label: a model that learnt the two kinds gets those windows wrong."""
    raw = make_raw(subject, n_blocks=n_blocks, seed=5)
    names = [
        ("task" if d == "eyes_closed" else "eyes_closed") if b in swapped else d
        for b, d in enumerate(raw.annotations.description)
    ]
    raw.set_annotations(mne.Annotations(raw.annotations.onset, raw.annotations.duration, names))
    return write(raw, folder, f"sub-{subject:02d}_eval", fmt)


def labelled_windows(
    path: Path, labels: dict[str, str], window_s: float = 4.0
) -> tuple[np.ndarray, list[str]]:
    """Back-to-back windows of every labelled annotation of a 200 Hz recording, read with MNE
    (µV, the file's channel order), and their classes: the windows a sliding 4 s run cuts."""
    raw = mne.io.read_raw(path, preload=True, verbose="error")
    sfreq = raw.info["sfreq"]
    n = round(window_s * sfreq)
    data = raw.get_data() * 1e6
    X, y = [], []
    ann = raw.annotations
    for onset, duration, desc in zip(ann.onset, ann.duration, ann.description, strict=True):
        if desc not in labels:
            continue
        first = round(onset * sfreq)
        for start in range(first, first + round(duration * sfreq) - n + 1, n):
            X.append(data[:, start : start + n])
            y.append(labels[desc])
    return np.asarray(X, np.float32), y
