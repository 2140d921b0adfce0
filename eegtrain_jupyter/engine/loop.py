"""What every pass of the training loop shares (:class:`Loop`: device, autocast, events, the
stop check, batches gathered through pinned buffers on CUDA, sharded steps under torchrun), and
the standardised head trained on cached backbone features."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..config.training import TrainingConfig
from ..models.foundation import BackboneClassifier
from . import distributed
from .events import Events, StopRequested

__all__ = ["Loop", "PinnedStaging", "StandardizedHead", "inference_batch_size"]


def _batches(n: int, batch_size: int, order: torch.Tensor | None = None) -> Iterator[Any]:
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        yield (order[start:stop] if order is not None else slice(start, stop))


class StandardizedHead(nn.Module):
    """The linear head trained on standardised cached features (a faster, better-conditioned fit).

    ``folded()`` returns the equivalent weights for raw features, so the saved checkpoint is a
    plain braindecode state_dict: ``W' = W / sd``, ``b' = b - W' @ mu``.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, linear: nn.Module, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"the head must be nn.Linear, not {type(linear).__name__}")
        self.linear = linear
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("std", std.detach().clamp_min(1e-6))

    def standardize(self, features: torch.Tensor) -> torch.Tensor:
        """The features the linear layer sees (the engine standardises them all once, then trains
        ``linear`` on them: two fewer operations per step)."""
        return (features - self.mean) / self.std

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(self.standardize(features))
        return out

    @torch.no_grad()
    def folded(self) -> dict[str, torch.Tensor]:
        weight = self.linear.weight / self.std
        return {"weight": weight.clone(), "bias": self.linear.bias - weight @ self.mean}


def inference_batch_size(config: TrainingConfig, device: torch.device) -> int:
    """Batch size of the no-grad feature pass: the training batch on CPU, at least 256 on CUDA.

    On CPU LaBraM's per-window cost grows with the batch beyond ~32 (measured with 1-2 threads:
    6.1 ms/window at 16-32, 7.5-8.3 at 64): activations fall out of cache. A GPU wants large batches.
    """
    return max(config.batch_size, 256) if device.type == "cuda" else config.batch_size


@dataclass
class Loop:
    """What every pass shares: device, autocast, events and the stop check."""

    device: torch.device
    precision: str
    events: Events
    should_stop: Callable[[], bool]
    group: distributed.Group = field(default_factory=distributed.Group)

    def __post_init__(self) -> None:
        self.pin = self.device.type == "cuda"
        self.loss_fn = nn.CrossEntropyLoss()
        self.schedule: torch.optim.lr_scheduler.LambdaLR | None = None
        self.augment: Callable[[torch.Tensor], torch.Tensor] | None = None  # training batches only
        self._staging: dict[int, PinnedStaging] = {}

    def gather(self, source: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """``source[idx]`` on the device; host rows go through pinned staging on CUDA."""
        if source.device == self.device:
            return source[idx]
        if not (self.pin and source.device.type == "cpu"):
            return source[idx].to(self.device, non_blocking=True)
        stage = self._staging.get(id(source))
        if stage is None or stage.source is not source or stage.capacity < len(idx):
            stage = self._staging[id(source)] = PinnedStaging(source, len(idx), self.device)
        return stage.gather(idx)

    def autocast(self) -> AbstractContextManager[Any]:
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def check_stop(self) -> None:
        if self.group.any(self.should_stop(), self.device):  # every rank stops at the same batch
            raise StopRequested

    def cache_features(self, model: BackboneClassifier, X: torch.Tensor, batch_size: int) -> torch.Tensor:
        """One no-grad backbone pass over every window -> ``(n_windows, embed_dim)`` float32 on the device."""
        model.eval()
        world = self.group.world  # sharded: a global batch of batch_size * world, rows[rank::world] here
        n_batches = math.ceil(len(X) / (batch_size * world))
        out = []
        with torch.inference_mode(), self.autocast():
            for i, sl in enumerate(_batches(len(X), batch_size * world)):
                self.check_stop()
                mine = self.group.shard(torch.arange(sl.start, sl.stop)) if world > 1 else sl
                if len(X[mine]):
                    out.append(model.features(X[mine].to(self.device, non_blocking=True)).float())
                self.events.on_batch(epoch=0, batch=i + 1, n_batches=n_batches, phase="caching features")
        return self.group.gather_rows(torch.cat(out), len(X))

    def run_epoch(
        self,
        module: nn.Module,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        order: torch.Tensor,
        batch_size: int,
        epoch: int,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        collect: list[torch.Tensor] | None = None,
        phase: str | None = None,
    ) -> tuple[float, float]:
        """One pass over ``order``; trains when ``optimizer`` is given, else evaluates. Returns (loss, acc %)."""
        training = optimizer is not None
        module.train(training)
        n_batches = math.ceil(len(order) / batch_size)
        total_loss, correct, seen = 0.0, 0, 0
        phase = phase or ("train" if training else "val")
        with nullcontext() if training else torch.inference_mode():
            for i, idx in enumerate(_batches(len(order), batch_size, order)):
                self.check_stop()
                if self.group.world > 1 and optimizer is not None:
                    # training batches are split across ranks; evaluation runs whole on every rank,
                    # so each has the probabilities the scores need
                    loss_sum, hits, n = self._shard_step(module, inputs, labels, idx, optimizer)
                    summed = self.group.sum([loss_sum, hits, n], self.device)  # over ranks
                    loss_sum, hits, n = summed[0], int(summed[1]), int(summed[2])
                else:
                    loss_sum, hits, n = self._step(module, inputs, labels, idx, optimizer, collect)
                total_loss, correct, seen = total_loss + loss_sum, correct + hits, seen + n
                self.events.on_batch(
                    epoch=epoch,
                    batch=i + 1,
                    n_batches=n_batches,
                    phase=phase,
                    loss=total_loss / seen,
                    acc=100.0 * correct / seen,
                )
        return total_loss / seen, 100.0 * correct / seen

    def _step(
        self,
        module: nn.Module,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        idx: torch.Tensor,
        optimizer: torch.optim.Optimizer | None,
        collect: list[torch.Tensor] | None,
    ) -> tuple[float, int, int]:
        """One whole batch in this process; returns its (loss sum, correct, count)."""
        xb, yb = self.gather(inputs, idx), self.gather(labels, idx)
        if optimizer is not None and self.augment is not None:
            xb = self.augment(xb)
        with self.autocast():
            logits = module(xb)
            if logits.dtype != torch.float32:  # autocast: the loss in fp32
                logits = logits.float()
            loss = self.loss_fn(logits, yb)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if self.schedule is not None:
                self.schedule.step()
        if collect is not None:  # class probabilities, in ``order``
            collect.append(torch.softmax(logits.detach(), 1).cpu())
        n = int(yb.shape[0])  # (a head step on cached features takes ~0.1 ms: every call counts)
        return loss.item() * n, int((logits.argmax(1) == yb).sum()), n

    def _shard_step(
        self,
        module: nn.Module,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        idx: torch.Tensor,
        optimizer: torch.optim.Optimizer | None,
    ) -> tuple[float, int, int]:
        """This rank's part of one global batch; returns its (loss sum, correct, count).

        The loss to differentiate is the rank's sum scaled by ``world / global batch``, so that
        DDP's gradient mean is the mean over the global batch. A rank whose part is empty (a last
        batch smaller than the world) steps on one window with weight 0: DDP needs every rank.
        """
        mine = self.group.shard(idx)
        weight = self.group.scale(len(mine), len(idx))
        if len(mine) == 0:
            if optimizer is None:
                return 0.0, 0, 0
            mine, weight = idx[:1], 0.0
        xb, yb = self.gather(inputs, mine), self.gather(labels, mine)
        if optimizer is not None and self.augment is not None:
            xb = self.augment(xb)
        with self.autocast():
            logits = module(xb)
            loss_sum = F.cross_entropy(
                logits.float(),
                yb,
                weight=self.loss_fn.weight,
                label_smoothing=self.loss_fn.label_smoothing,
                reduction="sum",
            )
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            (loss_sum * weight).backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            if self.schedule is not None:
                self.schedule.step()
        if weight == 0.0:
            return 0.0, 0, 0
        return float(loss_sum.detach()), int((logits.argmax(1) == yb).sum()), len(yb)


class PinnedStaging:
    """Gathers rows of a host tensor into pinned buffers, so their copy to the GPU is asynchronous.

    ``source[idx]`` (fancy indexing) lands in pageable memory, whose ``non_blocking`` copy is
    synchronous. Here the rows are gathered straight into one of two pinned buffers
    (``index_select(out=...)``), which is then copied with ``non_blocking=True``; while the GPU
    computes on one batch the next one is gathered into the other buffer. A buffer is reused
    only after its previous copy has finished (a CUDA event), so a copy never reads a buffer
    being overwritten. With ``device`` a CPU (tests) the buffers are plain memory and no events
    are recorded.

    Parameters
    ----------
    source : torch.Tensor, shape (n, ...)
        Host tensor to gather rows from.
    capacity : int
        Largest number of rows per call.
    device : torch.device
    """

    def __init__(self, source: torch.Tensor, capacity: int, device: torch.device):
        self.source, self.capacity, self.device = source, capacity, device
        cuda = device.type == "cuda"
        shape = (capacity, *source.shape[1:])
        self.buffers = [torch.empty(shape, dtype=source.dtype, pin_memory=cuda) for _ in range(2)]
        self.copied: list[Any] = [None, None]  # torch.cuda.Event per buffer, once used
        self.turn = 0

    def gather(self, idx: torch.Tensor) -> torch.Tensor:
        """``source[idx]`` on ``device``, shape ``(len(idx), ...)``."""
        k, self.turn = self.turn, 1 - self.turn
        if self.copied[k] is not None:
            self.copied[k].synchronize()  # the copy that last read this buffer has finished
        buf = self.buffers[k][: len(idx)]
        torch.index_select(self.source, 0, idx, out=buf)
        out = buf.to(self.device, non_blocking=True)
        if self.device.type == "cuda":
            self.copied[k] = torch.cuda.Event()  # type: ignore[no-untyped-call]
            self.copied[k].record()
        return out
