"""Which numeric precision a run computes in, and why.

``precision="auto"`` picks bf16 autocast where the hardware runs it natively and fp32 elsewhere:

- CUDA: bf16 (as before).
- CPU, frozen backbone: bf16 when torch's oneDNN (mkldnn) supports bf16 *and* the CPU has native
  bf16 matrix instructions (``amx_bf16`` or ``avx512_bf16``, as torch's own CPU feature probe
  reports them); measured on an AMD EPYC with ``avx512_bf16`` (1-2 threads, LaBraM 8 ch x 800
  samples): no-grad forwards ~1.4x faster than fp32. Without those instructions oneDNN emulates
  bf16 (AVX-512 without ``avx512_bf16``), which is no faster, so fp32 is kept.
- CPU, fine-tuning: the same rule as frozen runs (bf16 on native-bf16 CPUs). bf16 steps are
  ~1.5-2x faster there, and a paired comparison over 5 seeds (bench row 10: the ``fine-tune``
  preset, 3 epochs, 2x300 synthetic windows per seed, balanced accuracy on 2x300 fresh windows)
  put the bf16 - fp32 difference at -0.1 points (95 % CI -0.7 ... +0.5), inside the +-1.5 points
  the rule allows (``bench.run.FT_PARITY_BOUND``).
- anything else (MPS, ...): fp32.

``fp32`` and ``bf16`` are explicit choices and are used as given. Parameters, optimizer state,
cached features and checkpoints stay fp32 under bf16 autocast; only the matrix products and
convolutions inside the autocast region run in bf16.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["NATIVE_BF16_FEATURES", "Precision", "cpu_bf16_feature", "resolve_precision"]

NATIVE_BF16_FEATURES = ("amx_bf16", "avx512_bf16")
"""CPU features that give oneDNN native bf16 matrix products, best first (torch's names)."""


@dataclass(frozen=True)
class Precision:
    """The precision a run uses (``fp32`` or ``bf16``) and a short reason shown to the user.

    ``reason`` reads like ``bf16 (cpu: avx512_bf16)``, ``fp32 (cpu: no native bf16)`` or
    ``fp32 (requested)``.
    """

    name: str
    reason: str


def cpu_bf16_feature() -> str | None:
    """The CPU feature that makes bf16 native for torch's oneDNN, or ``None``.

    Asks torch rather than parsing ``/proc/cpuinfo``: oneDNN must be built in and report bf16
    support (``torch.ops.mkldnn._is_mkldnn_bf16_supported``), and torch's CPU feature probe
    (``torch._C._cpu._get_cpu_capability``, torch >= 2.3) must list ``amx_bf16`` or
    ``avx512_bf16``. Any probe that is missing or fails counts as "no".
    """
    try:
        if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
            return None
        capability = torch._C._cpu._get_cpu_capability()
    except (AttributeError, RuntimeError):
        return None
    return next((f for f in NATIVE_BF16_FEATURES if capability.get(f)), None)


def resolve_precision(
    requested: str,
    device: torch.device,
    *,
    fine_tune: bool = False,
    cpu_bf16: Callable[[], str | None] = cpu_bf16_feature,
) -> Precision:
    """Resolve ``auto`` for ``device``; ``fp32``/``bf16`` are returned as requested.

    Parameters
    ----------
    requested : {"auto", "fp32", "bf16"}
        The config's ``precision``.
    device : torch.device
        Where the run computes.
    fine_tune : bool
        The backbone trains (``freeze_backbone=False``). ``auto`` resolves the same either way
        (bench row 10 found bf16 fine-tuning within the accuracy bound of fp32); kept so callers
        need not change when a device needs a different rule for fine-tuning.
    cpu_bf16 : callable
        Returns the native bf16 CPU feature's name or ``None``; defaults to torch's report
        (:func:`cpu_bf16_feature`). Pass another to decide for a different machine.

    Returns
    -------
    Precision
    """
    if requested != "auto":
        return Precision(requested, f"{requested} (requested)")
    if device.type == "cuda":
        return Precision("bf16", "bf16 (cuda)")
    if device.type == "cpu":
        feature = cpu_bf16()
        if feature:
            return Precision("bf16", f"bf16 (cpu: {feature})")
        return Precision("fp32", "fp32 (cpu: no native bf16)")
    return Precision("fp32", f"fp32 ({device.type})")
