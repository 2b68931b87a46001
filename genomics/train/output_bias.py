"""Optionally start the output head at each track's mean (``train.init_output_bias``).

With the head's bias at zero every coverage track starts at ``softplus(0) = 0.69`` whatever
its mean; tracks whose means differ by orders of magnitude (real assays) then spend their
first steps on scale. Setting the bias to the inverse link of each track's training mean
removes that (Karpathy's "init well"; the prior bias of focal-loss detectors).

Off by default: on the synthetic data it did not help (runs in bench/JOURNAL.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from genomics.data.targets import TargetStore

__all__ = ["init_output_bias", "track_means"]

log = logging.getLogger(__name__)

#: floor for a track's mean rate or peak fraction (an all-zero track would give -inf)
MIN_MEAN = 1e-3


def track_means(
    targets: TargetStore,
    windows: Sequence[tuple[str, int, int]],
    *,
    crop_bins: int,
    max_windows: int = 64,
) -> np.ndarray:
    """Mean target per track over (at most ``max_windows`` evenly spaced) training windows.

    Only the bins a model is trained on (after the crop) count; a subsample keeps this a few
    reads even for a human genome with hundreds of tracks.

    Parameters
    ----------
    targets : the target store.
    windows : training windows ``(chrom, start, end)`` in bp.
    crop_bins : bins cut from each end of every window.
    max_windows : read at most this many windows.

    Returns
    -------
    np.ndarray, shape (t,), float64
    """
    if not windows:
        raise ValueError("no training windows to take track means from")
    n = min(len(windows), max_windows)
    picks = np.unique(np.linspace(0, len(windows) - 1, n).round().astype(int))
    total, count = np.zeros(targets.n_tracks), 0
    for i in picks:
        chrom, start, end = windows[i]
        first = start // targets.bin_size + crop_bins
        last = end // targets.bin_size - crop_bins
        y = targets.fetch(chrom, first, last)
        total += y.sum(axis=0, dtype=np.float64)
        count += y.shape[0]
    return total / max(count, 1)


@torch.no_grad()
def init_output_bias(head: nn.Linear, means: np.ndarray, track_kinds: Sequence[str]) -> None:
    """Set ``head.bias`` to the inverse link of ``means``, in place.

    Coverage tracks (softplus rates) get ``log(expm1(mean))``; peak tracks (logits) get
    ``logit(mean)``. Means are clipped to ``[MIN_MEAN, 1 - MIN_MEAN]`` for peaks and to
    ``>= MIN_MEAN`` for coverage.

    Parameters
    ----------
    head : the final linear map to tracks, ``out_features == t``.
    means : np.ndarray, shape (t,)
    track_kinds : "coverage" or "peaks" per track.
    """
    means = np.asarray(means, dtype=np.float64)
    if head.bias is None or head.out_features != len(means) or len(track_kinds) != len(means):
        raise ValueError(
            f"output head with {head.out_features} outputs cannot take {len(means)} track means"
        )
    bias = np.empty_like(means)
    for i, (m, kind) in enumerate(zip(means, track_kinds, strict=True)):
        if kind == "peaks":
            m = min(max(m, MIN_MEAN), 1 - MIN_MEAN)
            bias[i] = np.log(m / (1 - m))
        else:
            m = max(m, MIN_MEAN)
            # log(expm1(m)) overflows for large m, where it equals m to float precision
            bias[i] = m if m > 30 else np.log(np.expm1(m))
    head.bias.copy_(torch.as_tensor(bias, dtype=head.bias.dtype))
    log.info("output bias set from training-track means (%s)", np.round(means, 3).tolist())
