"""The optimiser recipe: AdamW with layer-wise learning-rate decay (LLRD) for the backbone and an
optional linear-warmup + cosine schedule, as LaBraM's own fine-tuning uses.

With ``layer_decay`` ``d`` < 1 a transformer block ``i`` of ``L`` (``blocks.i``: LaBraM, EEGPT;
``layers.i``: CBraMod, BIOT) gets ``lr * d ** (L - i)``, the embeddings and tokens
``lr * d ** (L + 1)``; the final norm and the head keep ``lr``.
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn

from ..config.training import TrainingConfig

__all__ = ["make_optimizer", "make_schedule", "param_groups"]

_BLOCK = re.compile(r"(?:^|\.)(?:blocks|layers)\.(\d+)\.")


def param_groups(module: nn.Module, lr: float, layer_decay: float) -> list[dict[str, object]]:
    """AdamW parameter groups of the trainable parameters, one per depth, with decayed rates."""
    params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    if layer_decay >= 1.0:
        return [{"params": [p for _, p in params], "lr": lr}]
    n_blocks = 1 + max((int(m.group(1)) for n, _ in params if (m := _BLOCK.search(n))), default=-1)
    groups: dict[int, list[nn.Parameter]] = {}
    for name, p in params:
        match = _BLOCK.search(name)
        if match:
            depth = int(match.group(1)) + 1
        elif any(k in name for k in ("embed", "token", "position", "temporal")):
            depth = 0
        else:  # final norm, head
            depth = n_blocks + 1
        groups.setdefault(depth, []).append(p)
    return [
        {"params": ps, "lr": lr * layer_decay ** (n_blocks + 1 - depth)}
        for depth, ps in sorted(groups.items())
    ]


def make_optimizer(module: nn.Module, config: TrainingConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW over ``module``'s trainable parameters (LLRD when ``config.layer_decay`` < 1)."""
    groups = param_groups(module, config.learning_rate, config.layer_decay)
    # fused: one kernel over all tensors (CPU and CUDA); ~3x faster steps than the per-tensor loop
    return torch.optim.AdamW(
        groups,
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
        fused=device.type in ("cpu", "cuda"),
    )


def make_schedule(
    optimizer: torch.optim.Optimizer, config: TrainingConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR | None:
    """Per-step linear warmup over ``warmup_epochs`` then cosine decay to 0; None for ``constant``."""
    if config.lr_schedule == "constant":
        return None
    total = max(1, config.n_epochs * steps_per_epoch)
    warmup = min(total - 1, config.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
