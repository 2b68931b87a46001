"""Losses for binned targets: Poisson NLL for coverage tracks, BCE for peak tracks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["track_loss"]


def track_loss(
    pred: torch.Tensor, target: torch.Tensor, coverage: torch.Tensor, *, eps: float = 1e-6
) -> torch.Tensor:
    """Mean loss over batch, bins and tracks.

    Parameters
    ----------
    pred : torch.Tensor, shape (b, l, t), float
        Rates (>= 0, after softplus) for coverage tracks, logits for peak tracks.
    target : torch.Tensor, shape (b, l, t), float
        Binned coverage (>= 0) or peak labels in [0, 1].
    coverage : torch.Tensor, shape (t,), bool
        True for coverage tracks (Poisson NLL), False for peak tracks (BCE with logits).

    Returns
    -------
    torch.Tensor, shape (), float32
        Poisson NLL is ``rate - y * log(rate + eps)`` (the y-only term dropped, so a perfect
        prediction does not give 0); BCE is the usual binary cross-entropy.
    """
    pred, target = pred.float(), target.float()
    rate = torch.where(coverage, pred, 1.0)  # peak logits never reach the log (NaN grads)
    poisson = rate - target * torch.log(rate + eps)
    bce = F.binary_cross_entropy_with_logits(pred, target, reduction="none")
    return torch.where(coverage, poisson, bce).mean()
