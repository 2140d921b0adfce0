"""Warnings from third-party libraries that say nothing a user of this package can act on.

braindecode builds EEGNet with an argument it has deprecated, and its models call MNE's
``make_standard_montage("standard_1020")`` when they are imported, which MNE now warns about;
BIOT's spectrogram uses torch's default rectangular window (as its pretraining did), which torch
warns about on every call.
The command line (:mod:`~eegtrain_jupyter.cli`) and the training worker filter exactly these
messages; a library user's own warning filters are left alone.
"""

from __future__ import annotations

import warnings
from collections.abc import MutableMapping

__all__ = ["THIRD_PARTY_WARNINGS", "quiet_third_party_warnings"]

THIRD_PARTY_WARNINGS: tuple[tuple[str, type[Warning]], ...] = (
    ("Parameter 'final_layer_with_constraint=False' is deprecated", DeprecationWarning),
    ("Montage name 'standard_1020' is deprecated", FutureWarning),
    ("A window was not provided", UserWarning),  # BIOT's STFT: a rectangular window, as pretrained
)
"""``(start of the message, category)`` of each warning filtered."""


def quiet_third_party_warnings(environ: MutableMapping[str, str] | None = None) -> None:
    """Ignore :data:`THIRD_PARTY_WARNINGS` in this process; with ``environ`` (e.g. ``os.environ``),
    also in the Python processes started with it (``PYTHONWARNINGS``: multiprocessing's fork
    server, which imports braindecode, and torchrun's workers)."""
    for message, category in THIRD_PARTY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    if environ is not None:
        ours = [f"ignore:{message}:{category.__name__}" for message, category in THIRD_PARTY_WARNINGS]
        present = [part for part in environ.get("PYTHONWARNINGS", "").split(",") if part]
        environ["PYTHONWARNINGS"] = ",".join([*present, *(o for o in ours if o not in present)])
