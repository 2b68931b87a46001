"""Learning-rate schedule: linear warm-up, an optional plateau, then cosine decay."""

from __future__ import annotations

import math

import torch

__all__ = ["warmup_cosine", "warmup_cosine_scheduler"]


def warmup_cosine(
    step: int,
    *,
    warmup: int,
    total: int,
    final_fraction: float = 0.0,
    decay_fraction: float = 1.0,
) -> float:
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based).

    Rises linearly from ``1 / warmup`` to 1 over ``warmup`` steps, stays at 1, then follows
    a half cosine from 1 down to ``final_fraction`` at ``total`` steps (and stays there).
    The decay spans the last ``decay_fraction`` of the steps after warm-up: 1 is a plain
    cosine, smaller values hold the peak rate longer (warm-up, stable, decay).
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    decay = round(decay_fraction * (total - warmup))
    if decay <= 0:
        return 1.0
    progress = min(max(step - (total - decay), 0) / decay, 1.0)
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_cosine_scheduler(
    optimizer: torch.optim.Optimizer,
    *,
    warmup: int,
    total: int,
    final_fraction: float = 0.0,
    decay_fraction: float = 1.0,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` following :func:`warmup_cosine` (its state dict resumes exactly)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: warmup_cosine(
            step,
            warmup=warmup,
            total=total,
            final_fraction=final_fraction,
            decay_fraction=decay_fraction,
        ),
    )
