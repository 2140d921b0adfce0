"""Pre-flight resource check: refuse a run that would not fit in memory (or GPU memory)."""

from __future__ import annotations

import psutil

from ..config.data import CH_NAMES, N_TIMES
from ..config.training import TrainingConfig
from ..errors import ResourceError

__all__ = ["ResourceError", "check_gpu_memory", "check_resources", "estimate_memory_mb"]

_MB = 1024**2
_MODEL_MB = 24.0  # LaBraM-base parameters in fp32 (5.8 M)
_ACTIVATION_MB_PER_SAMPLE = (
    10.0  # fine-tune step: peak RSS growth per window, measured on CPU at batch 16-64 (fp32)
)


def _data_mb(config: TrainingConfig) -> float:
    """Synthetic windows in float32, with the generator's temporaries (about 3x)."""
    return 2 * config.n_samples_per_class * len(CH_NAMES) * N_TIMES * 4 / _MB * 3.0


def _compute_mb(config: TrainingConfig) -> float:
    """Model, optimizer state and activations (what must sit on the GPU)."""
    if config.freeze_backbone:
        model = _MODEL_MB
        activations = max(config.batch_size, 64) * _ACTIVATION_MB_PER_SAMPLE / 3
    else:
        model = _MODEL_MB * 4  # weights, grads, AdamW moments
        activations = config.batch_size * _ACTIVATION_MB_PER_SAMPLE
    return model + activations


def estimate_memory_mb(config: TrainingConfig) -> float:
    """Rough peak host memory of a run in MB: data, model, activations."""
    return _data_mb(config) + _compute_mb(config)


def check_resources(config: TrainingConfig, *, min_free_memory_mb: float = 256.0) -> None:
    """Raise :class:`ResourceError` when this run would leave under ``min_free_memory_mb`` free."""
    need = estimate_memory_mb(config)
    free = psutil.virtual_memory().available / _MB
    if free - need < min_free_memory_mb:
        raise ResourceError(
            f"not enough memory: this run needs about {need:.0f} MB and {min_free_memory_mb:.0f} MB "
            f"must stay free, but only {free:.0f} MB is available; lower n_samples_per_class or batch_size"
        )
    if config.device == "cuda":
        import torch

        if not torch.cuda.is_available():  # asks the driver; creates no CUDA context
            raise ResourceError("device='cuda' requested but no CUDA GPU is available")


def check_gpu_memory(config: TrainingConfig) -> None:
    """Raise :class:`ResourceError` when the GPU this run would use lacks the memory for it.

    Called in the training worker, never in the server: ``mem_get_info`` creates a CUDA context,
    which would stay in the server's process for its lifetime.
    """
    if config.device in ("auto", "cuda"):
        import torch

        if torch.cuda.is_available():
            gpu_free, _ = torch.cuda.mem_get_info()
            gpu_need = _compute_mb(config)  # data stays on the host, streamed per batch
            if gpu_free / _MB < gpu_need:
                raise ResourceError(
                    f"not enough GPU memory: about {gpu_need:.0f} MB needed, {gpu_free / _MB:.0f} MB free"
                )
