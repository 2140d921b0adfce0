"""Preprocessing that turns a recording into model-ready windows, and the record of it.

A :class:`Preprocessing` says what was done to the signal (channels and their order, band-pass,
sampling rate, window length, unit scaling). It is stored in every checkpoint
(``checkpoint["preprocessing"] = prep.model_dump()``) so prediction applies exactly the same steps
to new data: :func:`apply_to_raw` then :func:`raw_to_windows` for continuous recordings,
:func:`epochs_to_windows` for :class:`mne.Epochs`. :func:`check_windows` refuses arrays that do
not fit the model (shape, NaN/inf) with a :class:`~eegtrain_jupyter.errors.ConfigError`.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..config.names import native_signal
from ..errors import ConfigError, FieldError

if TYPE_CHECKING:
    import mne

__all__ = [
    "PATCH_SIZE",
    "Preprocessing",
    "apply_to_raw",
    "channel_map_hint",
    "check_model_channels",
    "check_windows",
    "epochs_to_windows",
    "labram_channel_names",
    "model_channel_names",
    "processed_grid",
    "raw_to_windows",
    "resolve_channels",
    "span_padding",
    "suggest_channel_map",
]

PATCH_SIZE = 200
"""Samples per LaBraM patch: a window is a whole number of them (1 s at 200 Hz)."""


_import_lock = threading.Lock()


@functools.cache
def labram_channel_names() -> tuple[str, ...]:
    """The channel names LaBraM has position embeddings for (upper case, 10-20/10-10)."""
    with _import_lock:  # braindecode's first import is not safe from two threads at once
        from braindecode.models.labram import LABRAM_CHANNEL_ORDER

    return tuple(LABRAM_CHANNEL_ORDER)


@functools.cache
def model_channel_names(model: str) -> tuple[str, ...]:
    """The channel names ``model`` can place (upper case): its vocabulary
    (:attr:`~eegtrain_jupyter.config.names.NativeSignal.vocabulary`)."""
    if native_signal(model).vocabulary == "eegpt":
        with _import_lock:
            from braindecode.models.eegpt import EEGPT_CHANNELS

        return tuple(name.upper() for name in EEGPT_CHANNELS)
    return tuple(name.upper() for name in labram_channel_names())


def check_model_channels(
    ch_names: list[str] | tuple[str, ...], model: str, field: str = "data.ch_names"
) -> None:
    """Refuse channels ``model`` cannot place, naming them.

    Raises
    ------
    ConfigError
        On ``field``: the channels outside the model's vocabulary (:func:`model_channel_names`).
    """
    known = set(model_channel_names(model))
    unplaced = [name for name in ch_names if name.upper() not in known]
    if unplaced:
        raise ConfigError.field(
            field,
            f"model {model} cannot place channels {', '.join(unplaced)} (it knows "
            f"{len(known)} 10-10 names, e.g. T7/T8/P7/P8 for T3/T4/T5/T6); leave them out of "
            "data.ch_names or rename them with data.channel_map",
        )


class Preprocessing(BaseModel):
    """The steps from a recording to model input, in the order they are applied.

    Attributes
    ----------
    ch_names : list of str
        Channel names (braindecode's LaBraM vocabulary, which holds every model's) in model-input
        order (the windows' channel axis).
    channel_map : dict of str to str
        Recording channel name -> LaBraM name, applied before picking (e.g. ``{"EEG Fp1-REF": "FP1"}``).
        Names already matching a LaBraM name (any case) need no entry.
    l_freq, h_freq : float or None
        Band-pass edges in Hz for ``mne.io.Raw.filter``; ``None`` leaves that side open.
    sfreq : float
        Target sampling rate in Hz (the recording is resampled to it): the model's native rate.
    window_s : float
        Window length in seconds; ``window_s * sfreq`` must be a whole number of patches.
    patch : int
        Samples per model patch (200 for LaBraM, CBraMod and BIOT; 64 for EEGPT).
    scale : float
        Factor from the recording's unit to microvolts (MNE holds volts, so ``1e6``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ch_names: list[str] = Field(min_length=1)
    channel_map: dict[str, str] = Field(default_factory=dict)
    l_freq: float | None = Field(None, gt=0)
    h_freq: float | None = Field(None, gt=0)
    sfreq: float = Field(200.0, gt=0)
    window_s: float
    scale: float = Field(1e6, gt=0)
    patch: int = Field(PATCH_SIZE, ge=1)

    @field_validator("ch_names")
    @classmethod
    def _known_channels(cls, names: list[str]) -> list[str]:
        known = {n.upper(): n for n in labram_channel_names()}
        unknown = [n for n in names if n.upper() not in known]
        if unknown:
            raise ValueError(f"not LaBraM channel names: {', '.join(unknown)}")
        upper = [n.upper() for n in names]
        dupes = sorted({n for n in upper if upper.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate channels: {', '.join(dupes)}")
        return names

    @model_validator(mode="after")
    def _whole_patches(self) -> Preprocessing:
        if self.window_s < 1.0:
            raise ValueError(f"window_s is {self.window_s} s; the models need windows of at least 1 s")
        n_times = self.window_s * self.sfreq
        if abs(n_times - round(n_times)) > 1e-6 or round(n_times) % self.patch:
            raise ValueError(
                f"window_s * sfreq = {n_times:g} samples is not a whole number of {self.patch}-sample patches"
            )
        if self.l_freq is not None and self.h_freq is not None and self.l_freq >= self.h_freq:
            raise ValueError(f"l_freq ({self.l_freq}) must be below h_freq ({self.h_freq})")
        if self.h_freq is not None and self.h_freq >= self.sfreq / 2:
            raise ValueError(f"h_freq ({self.h_freq}) must be below Nyquist ({self.sfreq / 2} Hz)")
        return self

    @property
    def n_times(self) -> int:
        """Samples per window: ``window_s * sfreq``."""
        return round(self.window_s * self.sfreq)

    def resamples(self, sfreq: float) -> bool:
        """Whether a recording at ``sfreq`` Hz is resampled (its rate is not ``self.sfreq``)."""
        return abs(sfreq - self.sfreq) > 1e-6


_PREFIX = re.compile(r"^(EEG|EOG|ECG)[\s_:-]+", re.IGNORECASE)
_SUFFIX = re.compile(r"[\s_-]+(REF|LE|AR|AVG|A1|A2|M1|M2|CZ)$", re.IGNORECASE)


_ROWS = ("FP", "AF", "F", "FC", "C", "CP", "P", "PO", "O")
"""The 10-10 electrode rows, front to back."""
_BETWEEN = re.compile(r"^(FP|AF|FC|CP|PO|F|C|P|O|T)(\d{1,2}|Z)([AFP])$")
"""A row name with a letter for a position in front of (``a``/``f``) or behind (``p``) it: ``C3f``."""


def _closest_labram(name: str, known: dict[str, str]) -> str | None:
    """The LaBraM channel ``name`` most likely means: after stripping prefixes and reference
    suffixes, the name itself, a 10-10 neighbour row for a ``f``/``a``/``p`` suffix (``C3f`` ->
    ``FC3``, ``C3p`` -> ``CP3``), else the closest name by :func:`difflib.get_close_matches`."""
    stripped = _SUFFIX.sub("", _PREFIX.sub("", name.strip())).replace(" ", "").upper()
    if stripped in known:
        return known[stripped]
    between = _BETWEEN.match(stripped)
    if between:
        row, number, side = between.groups()
        if row in _ROWS:
            index = _ROWS.index(row) + (1 if side == "P" else -1)
            if 0 <= index < len(_ROWS) and f"{_ROWS[index]}{number}" in known:
                return known[f"{_ROWS[index]}{number}"]
    close = difflib.get_close_matches(stripped, list(known), n=1, cutoff=0.6)
    return known[close[0]] if close else None


def suggest_channel_map(names: list[str] | tuple[str, ...]) -> dict[str, str]:
    """A ``channel_map`` guess for every recording channel LaBraM does not know as it is named.

    Strips common prefixes/suffixes (``"EEG Fp1-REF"`` -> ``FP1``, ``"A1-Cz"`` -> ``A1``), reads a
    letter after a 10-10 name as the neighbouring row (``C3f`` -> ``FC3``, ``C3p`` -> ``CP3``), and
    otherwise takes the closest LaBraM name by spelling. A name no LaBraM channel resembles gets no
    entry; no two channels are given the same LaBraM name, nor one a recording channel already has.
    """
    known = {n.upper(): n for n in labram_channel_names()}
    taken = {n.upper() for n in names if n.upper() in known}
    out: dict[str, str] = {}
    for name in names:
        if name.upper() in known:
            continue
        target = _closest_labram(name, known)
        if target is not None and target.upper() not in taken:
            out[name] = target
            taken.add(target.upper())
    return out


def channel_map_hint(names: list[str] | tuple[str, ...]) -> str:
    """``"; suggested channel_map: {...}"`` (JSON, to paste into the config) for ``names``, or ``""``."""
    hint = suggest_channel_map(names)
    return f"; suggested channel_map: {json.dumps(hint)}" if hint else ""


def resolve_channels(rec_names: list[str] | tuple[str, ...], prep: Preprocessing) -> dict[str, str]:
    """Which recording channel feeds each model channel: ``{recording name: prep name}``, in prep order.

    Raises
    ------
    ConfigError
        ``data.ch_names`` names the channels the recording lacks, with a suggested ``channel_map``.
    """
    renamed = {prep.channel_map.get(n, n).upper(): n for n in rec_names}
    picks: dict[str, str] = {}
    missing = []
    for target in prep.ch_names:
        source = renamed.get(target.upper())
        if source is None:
            missing.append(target)
        else:
            picks[source] = target
    if missing:
        message = f"channels {', '.join(missing)} not found in the recording (it has {', '.join(rec_names)})"
        message += channel_map_hint([n for n in rec_names if n not in prep.channel_map])
        raise ConfigError([FieldError("data.ch_names", message)])
    return picks


def _apply(inst: Any, prep: Preprocessing, span: _Span | None = None) -> Any:
    """Rename/pick/order, band-pass and resample an MNE Raw or Epochs copy (volts stay volts).

    Picks before loading, so only the model's channels are read and copied; with ``span`` (a
    Raw only) only the source samples ``[span.start, span.stop)`` are read. The FFT resampler
    pads with :func:`_resample_npad` samples, so its output samples fall on the ``prep.sfreq``
    grid."""
    import mne

    picks = resolve_channels(list(inst.ch_names), prep)
    if isinstance(inst, mne.io.BaseRaw):  # a Raw picks before loading: only these channels are read
        inst = inst.copy().pick(list(picks))
        if span is not None:
            sfreq = inst.info["sfreq"]
            inst.crop(span.start / sfreq, (span.stop - 1) / sfreq, verbose="error")
        inst.load_data(verbose="error")
    else:  # Epochs must be loaded to drop channels
        inst = inst.copy().load_data().pick(list(picks))
    inst.rename_channels(picks)
    inst.reorder_channels(list(prep.ch_names))
    if prep.l_freq is not None or prep.h_freq is not None:
        inst.filter(prep.l_freq, prep.h_freq, verbose="error")
    if prep.resamples(inst.info["sfreq"]):
        npad = _resample_npad(prep.sfreq / inst.info["sfreq"])
        inst.resample(prep.sfreq, npad=npad, verbose="error")
    return inst


def apply_to_raw(
    raw: mne.io.BaseRaw, prep: Preprocessing, start: int | None = None, stop: int | None = None
) -> mne.io.BaseRaw:
    """A preprocessed copy of ``raw``: channels renamed, picked in ``prep.ch_names`` order,
    filtered and resampled.

    Loads the data (``raw.load_data`` on the copy); ``raw`` itself is left as it was.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        Preloaded or not; a recording opened with ``preload=False`` is read only where needed.
    prep : Preprocessing
    start, stop : int, optional
        Only the preprocessed samples ``[start, stop)`` (on the grid of :func:`processed_grid`),
        both given or neither. Just the source samples they come from are read, with
        :func:`span_padding` samples on each side (clipped at the recording's ends) so the
        band-pass and the resampling see the same neighbourhood as on the whole recording; the
        segment starts on a source sample that falls on the output grid. The samples match those
        of the whole recording's preprocessing exactly without resampling (up to floating-point
        rounding) and up to the resampler's edge effects with it (``tests/test_recordings.py``
        measures both).

    Returns
    -------
    mne.io.BaseRaw
        Preloaded; with ``start``/``stop``, exactly ``stop - start`` samples.
    """
    if start is None and stop is None:
        return _apply(raw, prep)
    if start is None or stop is None or not 0 <= start < stop:
        raise ValueError(f"start and stop must be given together, 0 <= start < stop (got {start}, {stop})")
    span = _source_span(raw, prep, start, stop)
    out = _apply(raw, prep, span)
    sfreq = out.info["sfreq"]
    first = start - span.offset
    if first < 0 or first + (stop - start) > out.n_times:
        raise ValueError(f"samples [{start}, {stop}) are past the end of the preprocessed recording")
    return out.crop(first / sfreq, (first + stop - start - 1) / sfreq, verbose="error")


def processed_grid(raw: mne.io.BaseRaw, prep: Preprocessing) -> tuple[float, int, int]:
    """``(sfreq, first_samp, n_times)`` that :func:`apply_to_raw` gives ``raw``, without reading samples.

    ``raw.resample``'s: the rate becomes ``prep.sfreq``, ``first_samp`` and the length scale by
    the ratio of the rates, rounded (a recording MNE holds as several pieces may end a sample or
    two apart: its pieces are resampled one by one).
    """
    sfreq = float(raw.info["sfreq"])
    if not prep.resamples(sfreq):
        return sfreq, int(raw.first_samp), int(raw.n_times)
    ratio = prep.sfreq / sfreq
    return prep.sfreq, int(np.round(raw.first_samp * ratio)), max(round(raw.n_times * ratio), 1)


def span_padding(sfreq: float, prep: Preprocessing) -> int:
    """Source samples read on each side of a span (:func:`apply_to_raw` with ``start``/``stop``).

    The band-pass's FIR length (``mne.filter.create_filter`` with ``raw.filter``'s defaults:
    each output sample depends on half of it on either side) plus, when resampling,
    :data:`RESAMPLE_PADDING_S` seconds: the FFT resampler acts on the whole segment, so its edge
    effects fade with distance instead of stopping.
    """
    import mne

    pad = 0
    if prep.l_freq is not None or prep.h_freq is not None:
        h = mne.filter.create_filter(None, sfreq, prep.l_freq, prep.h_freq, verbose="error")
        pad += len(h)
    if prep.resamples(sfreq):
        pad += int(np.ceil(RESAMPLE_PADDING_S * sfreq))
    return pad


RESAMPLE_PADDING_S = 10.0
"""Seconds of recording read on each side of a span that is resampled (:func:`span_padding`)."""

_ALIGN_SEARCH = 1000
"""How many source samples :func:`_on_grid` looks through for one that falls on the output grid."""


@dataclass(frozen=True)
class _Span:
    """Source samples ``[start, stop)`` to preprocess, and the output sample
    (:func:`processed_grid`) the first of them becomes."""

    start: int
    stop: int
    offset: int


def _on_grid(n: int, ratio: float, direction: int) -> int:
    """The source sample count nearest ``n`` (going ``direction``, -1 or +1) whose multiple by
    ``ratio`` is closest to a whole number: a segment starting (or as long as) that falls
    exactly on the output grid (for 250 -> 200 Hz every 5th, 256 -> 200 Hz every 32nd)."""
    cand = n + direction * np.arange(_ALIGN_SEARCH)
    cand = cand[cand >= 0]
    frac = np.abs(cand * ratio - np.round(cand * ratio))
    return int(cand[np.flatnonzero(frac <= frac.min() + 1e-6)[0]])


def _source_span(raw: mne.io.BaseRaw, prep: Preprocessing, start: int, stop: int) -> _Span:
    """The padded, grid-aligned source samples that preprocessed samples ``[start, stop)`` come from."""
    sfreq = float(raw.info["sfreq"])
    n = int(raw.n_times)
    pad = span_padding(sfreq, prep)
    if not prep.resamples(sfreq):
        lo, hi = max(0, start - pad), min(n, stop + pad)
        return _Span(lo, hi, lo)
    ratio = prep.sfreq / sfreq
    lo = max(0, int(np.floor(start / ratio)) - pad)
    lo = _on_grid(lo, ratio, -1) if lo > 0 else 0
    length = _on_grid(int(np.ceil(stop / ratio)) + pad - lo, ratio, +1)
    hi = min(n, lo + length)  # at the recording's end: its last sample, on the grid or not
    return _Span(lo, hi, int(np.round(lo * ratio)))


def _resample_npad(ratio: float) -> int:
    """Samples the FFT resampler pads each side with: at least 100 (``mne.filter.resample``'s
    default) and on the grid. MNE's ``npad="auto"`` pads to a power of two, which puts the
    resampled samples up to half a sample off the output grid unless ``ratio`` times that power
    of two is whole (at 250, 500 or 1000 Hz to 200 Hz it never is: a 10 Hz sine came out 5 %
    of its amplitude off, 1e-9 with this padding)."""
    return _on_grid(100, ratio, +1)


def raw_to_windows(
    raw: mne.io.BaseRaw, prep: Preprocessing, step_s: float | None = None, *, preprocessed: bool = False
) -> np.ndarray:
    """Sliding windows over a whole recording.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording (any rate and channel naming that ``prep`` can map).
    prep : Preprocessing
    step_s : float, optional
        Hop between window starts in seconds; default ``prep.window_s`` (no overlap).
    preprocessed : bool
        ``raw`` already went through :func:`apply_to_raw` (skip it).

    Returns
    -------
    ndarray, shape (n_windows, n_chans, n_times), float32, microvolts
        ``n_windows`` may be 0 when the recording is shorter than one window.
    """
    if not preprocessed:
        raw = apply_to_raw(raw, prep)
    data = raw.get_data()
    return _slide(data, prep, step_s)


def _slide(data: np.ndarray, prep: Preprocessing, step_s: float | None) -> np.ndarray:
    """``(n_chans, n_samples)`` volts -> ``(n_windows, n_chans, n_times)`` float32 µV."""
    n_times = prep.n_times
    step = max(1, round((step_s or prep.window_s) * prep.sfreq))
    if data.shape[-1] < n_times:
        return np.empty((0, data.shape[0], n_times), np.float32)
    starts = np.arange(0, data.shape[-1] - n_times + 1, step)
    view = np.lib.stride_tricks.sliding_window_view(data, n_times, axis=-1)  # (chans, n_pos, n_times)
    return (view[:, starts].transpose(1, 0, 2) * prep.scale).astype(np.float32)


def epochs_to_windows(epochs: mne.BaseEpochs, prep: Preprocessing) -> np.ndarray:
    """The same preprocessing for epochs; each epoch gives one window (its first ``n_times`` samples).

    Returns
    -------
    ndarray, shape (n_epochs, n_chans, n_times), float32, microvolts

    Raises
    ------
    ConfigError
        Epochs shorter than ``prep.window_s`` after resampling.
    """
    epochs = _apply(epochs, prep)
    data = epochs.get_data(copy=False)
    if data.shape[-1] < prep.n_times:
        raise ConfigError.field(
            "data.window_s",
            f"epochs are {data.shape[-1] / prep.sfreq:g} s long; windows need {prep.window_s:g} s",
        )
    return np.asarray(data[..., : prep.n_times] * prep.scale, dtype=np.float32)


def check_windows(X: np.ndarray, prep: Preprocessing) -> None:
    """Refuse windows the model cannot take.

    Parameters
    ----------
    X : ndarray, shape (n_windows, n_chans, n_times)

    Raises
    ------
    ConfigError
        Wrong number of dimensions, channels or samples per window, or NaN/inf samples
        (the message says how many windows and which channels).
    """
    if X.ndim != 3:
        raise ConfigError.field("data", f"windows must be (n_windows, n_chans, n_times), not shape {X.shape}")
    if X.shape[1] != len(prep.ch_names):
        raise ConfigError.field(
            "data.ch_names",
            f"windows have {X.shape[1]} channels; expected {len(prep.ch_names)} ({', '.join(prep.ch_names)})",
        )
    if X.shape[2] != prep.n_times:
        raise ConfigError.field(
            "data.window_s",
            f"windows have {X.shape[2]} samples; expected {prep.n_times} "
            f"({prep.window_s:g} s at {prep.sfreq:g} Hz)",
        )
    # in chunks: X may be a memory-mapped file larger than memory
    bad = np.concatenate(
        [~np.isfinite(X[i : i + 1024]).all(axis=2) for i in range(0, len(X), 1024)]
        or [np.zeros((0, X.shape[1]), bool)]
    )  # (n_windows, n_chans)
    if bad.any():
        chans = [prep.ch_names[i] for i in np.flatnonzero(bad.any(axis=0))]
        raise ConfigError.field(
            "data",
            f"{int(bad.any(axis=1).sum())} of {len(X)} windows hold NaN or inf samples "
            f"(channels {', '.join(chans)})",
        )
