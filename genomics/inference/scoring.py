"""Run a model over a dataset of windows and score it against the targets.

Used for validation during training and by ``genomics evaluate`` on the test split.
"""

from __future__ import annotations

import logging

import torch
from torch import nn
from tqdm.auto import tqdm

from genomics.data.dataset import WindowDataset, make_loader
from genomics.inference.device import autocast
from genomics.inference.losses import track_loss
from genomics.inference.metrics import TrackMetrics, summarize
from genomics.inference.predict import as_input

__all__ = ["evaluate_dataset"]

log = logging.getLogger(__name__)


@torch.no_grad()
def evaluate_dataset(
    model: nn.Module,
    dataset: WindowDataset,
    *,
    names: list[str],
    kinds: list[str],
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    batch_size: int = 4,
    max_batches: int | None = None,
    num_workers: int = 0,
    keep: int = 0,
    progress: bool | None = None,
) -> dict:
    """Loss and per-track metrics of ``model`` on every window of ``dataset`` (in order).

    The model's train/eval mode is restored afterwards.

    Parameters
    ----------
    names, kinds : track names and kinds ("coverage"/"peaks"), in target-store order.
    dtype : autocast dtype (float32: none).
    max_batches : stop after this many batches (None: all).
    keep : also return the predictions and targets of the first ``keep`` windows.

    Returns
    -------
    dict with ``loss`` (float, mean per window), ``windows`` (how many were scored),
    ``tracks`` (list of per-track metric dicts), ``summary``
    (dict) and ``examples``: list of up to ``keep`` (window, pred (l, t), target (l, t)).
    """
    was_training = model.training
    model.eval()
    coverage = torch.tensor([k == "coverage" for k in kinds], device=device)
    metrics = TrackMetrics(names, kinds)
    loader = make_loader(dataset, batch_size=batch_size, num_workers=num_workers)
    total, n_windows, n_batches, examples = 0.0, 0, 0, []
    n = len(loader) if max_batches is None else min(max_batches, len(loader))
    try:
        for xb, yb in tqdm(
            loader, total=n, desc="evaluate", leave=False, disable=_disable(progress)
        ):
            if n_batches >= n:
                break
            x, y = as_input(xb, device), yb.to(device)
            with autocast(device, dtype):
                pred = model(x)
            pred = pred.float()
            # weighted by windows: a short last batch must not count as a full one
            total += float(track_loss(pred, y, coverage)) * xb.shape[0]
            n_windows += xb.shape[0]
            metrics.update(pred, y)
            for i in range(xb.shape[0]):
                if len(examples) < keep:
                    w = dataset.windows[n_batches * batch_size + i]
                    examples.append((w, pred[i].cpu().numpy(), y[i].cpu().numpy()))
            n_batches += 1
    finally:
        model.train(was_training)
    rows = metrics.compute()
    return {
        "loss": total / max(n_windows, 1),
        "windows": n_windows,
        "tracks": rows,
        "summary": summarize(rows),
        "examples": examples,
    }


def _disable(progress: bool | None) -> bool | None:
    return None if progress is None else not progress
