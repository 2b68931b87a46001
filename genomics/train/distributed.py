"""DDP plumbing for ``torchrun``: the same code path runs as one process or many.

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``; without them we are one process.
The backend is NCCL on CUDA and gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistEnv", "broadcast_flag", "init_distributed", "mean_across_ranks"]


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def init_distributed(device_type: str) -> DistEnv:
    """Join the process group if launched by torchrun, else return a one-process env."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv()
    env = DistEnv(
        rank=int(os.environ["RANK"]), world_size=world, local_rank=int(os.environ["LOCAL_RANK"])
    )
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(env.local_rank)
        dist.init_process_group(backend=backend)
    return env


def mean_across_ranks(value: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """The mean of a tensor over all ranks (every rank gets it); itself in one process.
    Every rank must call it at the same point."""
    if not env.enabled:
        return value
    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / env.world_size


def broadcast_flag(flag: bool, env: DistEnv) -> bool:
    """Rank 0's decision (e.g. early stop) for every rank."""
    if not env.enabled:
        return flag
    t = torch.tensor([int(flag)], dtype=torch.int32)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.broadcast(t, src=0)
    return bool(t.item())
