"""What the engine needs to train on several processes (``torch.distributed``, launched by torchrun).

The engine asks :func:`current` for a :class:`Group` and calls it at a few points; with one
process (no process group) every call is the identity, so a single-process run computes exactly
what it did before. With several (``torchrun`` sets ``RANK``/``WORLD_SIZE``/``MASTER_ADDR`` and
:func:`init_from_env` joins the group: gloo on CPU, NCCL on CUDA):

* every rank draws the same shuffled order; each global batch is split across ranks the way
  :class:`~torch.utils.data.DistributedSampler` splits a dataset (strided, ``idx[rank::world]``),
  but without padding, so the global batch is the configured ``batch_size``;
* the trained module is wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`, and each
  rank's loss is its *sum* scaled by ``world / global_batch``: after DDP's gradient mean the
  gradient is exactly the single-process mean over the global batch;
* loss/accuracy sums are all-reduced, so every rank (and the leader's events) see global metrics;
* the stop flag (only the leader talks to the supervisor) is all-reduced before every batch, so
  a stop reaches every rank at the same batch;
* the frozen-feature pass is sharded (``windows[rank::world]``) and all-gathered;
* only the leader (rank 0) emits events and writes outputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
from torch import nn

__all__ = ["Group", "current", "device_for_rank", "init_from_env"]


@dataclass(frozen=True)
class Group:
    """This process's place among the training processes (``world == 1``: no process group)."""

    rank: int = 0
    world: int = 1

    @property
    def leader(self) -> bool:
        """Rank 0: talks to the supervisor, emits events, writes outputs."""
        return self.rank == 0

    def shard(self, idx: Any) -> Any:
        """This rank's part of a batch of indices (``idx[rank::world]``)."""
        return idx if self.world == 1 else idx[self.rank :: self.world]

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when it is true on any (the stop flag)."""
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item())

    def sum(self, values: list[float], device: torch.device) -> list[float]:
        """Element-wise sum over ranks (float64)."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=device)
        torch.distributed.all_reduce(t)
        return t.tolist()

    def scale(self, n_local: int, n_global: int) -> float:
        """Factor on a rank's summed loss so that DDP's gradient mean is the global-batch mean."""
        return self.world / n_global

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """``module`` in :class:`DistributedDataParallel` when it has trainable parameters."""
        if self.world == 1 or not any(p.requires_grad for p in module.parameters()):
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)

    def gather_rows(self, local: torch.Tensor, n: int) -> torch.Tensor:
        """Reassemble rows computed as ``rows[rank::world]`` on each rank into ``(n, ...)``."""
        if self.world == 1:
            return local
        per = -(-n // self.world)
        padded = local.new_zeros((per, *local.shape[1:]))
        padded[: len(local)] = local
        parts = [torch.empty_like(padded) for _ in range(self.world)]
        torch.distributed.all_gather(parts, padded)
        out = local.new_empty((n, *local.shape[1:]))
        for r, part in enumerate(parts):
            count = len(range(r, n, self.world))
            out[r :: self.world] = part[:count]
        return out


def current() -> Group:
    """The process group this process belongs to (a single-process :class:`Group` when none)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return Group(torch.distributed.get_rank(), torch.distributed.get_world_size())
    return Group()


def device_for_rank(device: torch.device) -> torch.device:
    """On CUDA, this rank's GPU (``LOCAL_RANK``); on CPU, the CPU."""
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        index = int(os.environ["LOCAL_RANK"])
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return device


def init_from_env(backend: str, timeout_s: float = 600.0) -> Group:
    """Join the process group torchrun describes in the environment; a no-op without ``WORLD_SIZE``>1."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Group()
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    return current()
