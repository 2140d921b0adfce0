"""Pre-flight resource check: refuse a run that would not fit in memory (or GPU memory)."""

from __future__ import annotations

import psutil

from ..config.data import CH_NAMES, N_TIMES, SFREQ
from ..config.names import BACKBONE_MODELS, CLASSICAL_MODELS, MODEL_FOOTPRINT, native_signal
from ..config.training import TrainingConfig
from ..errors import ResourceError

__all__ = ["ResourceError", "check_gpu_memory", "check_resources", "estimate_memory_mb"]

_MB = 1024**2
_SYNTHETIC_S = N_TIMES / SFREQ  # synthetic windows: 4 s at the model's native rate


def _data_mb(config: TrainingConfig) -> float:
    """Synthetic windows in float32 at the model's native rate, with the generator's temporaries
    (about 3x)."""
    n_times = _SYNTHETIC_S * native_signal(config.model).sfreq
    return 2 * config.n_samples_per_class * len(CH_NAMES) * n_times * 4 / _MB * 3.0


def _compute_mb(config: TrainingConfig) -> float:
    """Model, optimizer state and activations of ``config.model`` (what must sit on the GPU)."""
    footprint = MODEL_FOOTPRINT[config.model]
    weights = footprint.parameters * 4 / _MB  # fp32
    if config.model in CLASSICAL_MODELS:  # a scikit-learn pipeline: its data is the cost
        return 0.0
    if config.freeze_backbone and config.model in BACKBONE_MODELS:
        # the backbone's features under inference_mode, a batch of at least 64 windows at a time
        return weights + max(config.batch_size, 64) * footprint.activation_mb / 3
    # weights, gradients and AdamW's two moments; a training batch's activations
    return weights * 4 + config.batch_size * footprint.activation_mb


def estimate_memory_mb(config: TrainingConfig) -> float:
    """Rough peak host memory of a run in MB: data, model, activations (per model,
    :data:`~..config.names.MODEL_FOOTPRINT`)."""
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
