"""Run a model over a dataset of windows and score it against the targets.

Used for validation during training and by ``genomics evaluate`` on the test split.

Windows of a split overlap when ``windows.stride`` is below ``windows.length``, so most
bins lie in several windows' outputs. :func:`scored_spans` gives each window the part of
its output that it alone scores (each genomic bin is scored once, by the window whose
output centre is nearest); :func:`evaluate_dataset` takes it as ``spans``.
:func:`noise_ceiling` scores a noise-free signal (the simulator's) against the targets on
exactly those bins: the best any model can do on them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from genomics.data.dataset import WindowDataset, make_loader
from genomics.data.targets import TargetStore
from genomics.inference.device import autocast
from genomics.inference.losses import track_loss
from genomics.inference.metrics import TrackMetrics, summarize
from genomics.inference.predict import as_input

__all__ = ["check_noise_free", "evaluate_dataset", "noise_ceiling", "scored_spans"]

log = logging.getLogger(__name__)

Window = tuple[str, int, int]
#: track settings that must agree between the targets and their noise-free twin
_BINNING_KEYS = ("kind", "aggregate", "scale", "soft_clip", "clip")


def scored_spans(
    windows: Sequence[Window], *, bin_size: int, n_bins: int, crop_bins: int = 0
) -> np.ndarray:
    """The output bins of each window that evaluation scores, so that each genomic bin is
    scored once.

    Window ``(chrom, start, end)`` predicts genome bins ``[s, s + n_bins)`` with
    ``s = start // bin_size + crop_bins``. A bin that several windows predict is scored by
    the one whose output centre is nearest (ties: the window further left), as
    ``genomics predict`` uses each bin from the window in which it is central; a bin only
    one window predicts is scored by it.

    Parameters
    ----------
    windows : (chrom, start, end) tuples, any order, all ``n_bins`` output bins long
    bin_size : int, bp per bin
    n_bins : int, output bins per window (after cropping)
    crop_bins : int, bins cropped from each end of a window's output

    Returns
    -------
    np.ndarray, shape (n_windows, 2), int64: ``[lo, hi)`` offsets into each window's
    output (``lo == hi`` for a window whose bins are all scored by others).
    """
    spans = np.zeros((len(windows), 2), np.int64)
    spans[:, 1] = n_bins
    by_chrom: dict[str, list[int]] = {}
    for i, (chrom, _, _) in enumerate(windows):
        by_chrom.setdefault(chrom, []).append(i)
    for rows in by_chrom.values():
        rows = np.asarray(rows)
        first = np.array([windows[i][1] // bin_size + crop_bins for i in rows], np.int64)
        order = np.argsort(first, kind="stable")
        rows, s = rows[order], first[order]
        # bin j goes left of the cut when it is no further from the left window's centre
        cut = (s[:-1] + s[1:] + n_bins + 1) // 2  # (n - 1,)
        spans[rows[1:], 0] = np.clip(cut - s[1:], 0, n_bins)
        spans[rows[:-1], 1] = np.clip(cut - s[:-1], 0, n_bins)
    return spans


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
    spans: np.ndarray | None = None,
) -> dict:
    """Loss and per-track metrics of ``model`` on every window of ``dataset`` (in order).

    The model's train/eval mode is restored afterwards.

    Parameters
    ----------
    names, kinds : track names and kinds ("coverage"/"peaks"), in target-store order.
    dtype : autocast dtype (float32: none).
    max_batches : stop after this many batches (None: all).
    keep : also return the predictions and targets of the first ``keep`` windows.
    spans : np.ndarray, shape (len(dataset), 2), int; when given, the metrics take only
        output bins ``[lo, hi)`` of each window (:func:`scored_spans`: each bin once);
        None takes every output bin of every window. The loss is over whole windows.

    Returns
    -------
    dict with ``loss`` (float, mean per window), ``windows`` (how many were scored),
    ``tracks`` (list of per-track metric dicts), ``summary``
    (dict) and ``examples``: list of up to ``keep`` (window, pred (l, t), target (l, t)).
    """
    if spans is not None and np.shape(spans) != (len(dataset), 2):
        raise ValueError(
            f"spans has shape {np.shape(spans)}; expected ({len(dataset)}, 2), one "
            "[lo, hi) per window of the dataset"
        )
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
            first = n_batches * batch_size
            if spans is None:
                metrics.update(pred, y)
            else:
                part = spans[first : first + xb.shape[0]]
                keep_bins = [(i, lo, hi) for i, (lo, hi) in enumerate(part) if hi > lo]
                if keep_bins:  # the kept bins of the batch as one (1, bins, t) stretch
                    metrics.update(
                        torch.cat([pred[i, lo:hi] for i, lo, hi in keep_bins])[None],
                        torch.cat([y[i, lo:hi] for i, lo, hi in keep_bins])[None],
                    )
            n_windows += xb.shape[0]
            for i in range(xb.shape[0]):
                if len(examples) < keep:
                    w = dataset.windows[first + i]
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


def check_noise_free(targets: TargetStore, noise_free: TargetStore) -> list[int]:
    """Check that ``noise_free`` is binned exactly like ``targets`` and holds every one of
    its coverage tracks; returns, per target track, its column in ``noise_free`` (-1 for
    a peaks track, which has no noise ceiling).

    Raises
    ------
    ValueError
        Another genome or bin size, a coverage track missing from ``noise_free``, or a
        track binned with other settings (kind, aggregate, scale, soft_clip, clip).
    """
    where = f"noise-free store {noise_free.path}"
    if noise_free.genome_digest != targets.genome_digest:
        raise ValueError(
            f"{where} was binned on another genome store than the target store "
            f"{targets.path}; rebuild it with `genomics targets` on the same genome store"
        )
    if noise_free.bin_size != targets.bin_size:
        raise ValueError(
            f"{where} has {noise_free.bin_size}-bp bins but the target store {targets.path} "
            f"has {targets.bin_size}-bp bins; rebuild it with the same targets.bin_size"
        )
    theirs = {t["name"]: (j, t) for j, t in enumerate(noise_free.tracks)}
    columns, missing = [], []
    for track in targets.tracks:
        if track["kind"] != "coverage":
            columns.append(-1)
            continue
        if track["name"] not in theirs:
            missing.append(track["name"])
            continue
        j, other = theirs[track["name"]]
        for key in _BINNING_KEYS:
            if other.get(key) != track.get(key):
                raise ValueError(
                    f"{where}: track {track['name']!r} has {key} {other.get(key)!r} but the "
                    f"target store has {track.get(key)!r}; bin the noise-free signal with "
                    "the targets' settings"
                )
        columns.append(j)
    if missing:
        raise ValueError(
            f"{where} has no track named {', '.join(map(repr, missing))} (it has "
            f"{', '.join(noise_free.names)}); give the noise-free signal of every coverage "
            "track of the target store"
        )
    return columns


def noise_ceiling(
    targets: TargetStore,
    noise_free: TargetStore,
    windows: Sequence[Window],
    spans: np.ndarray,
    *,
    crop_bins: int = 0,
    chunk_bins: int = 1 << 16,
) -> list[dict]:
    """Each coverage track's noise ceiling: the metrics of the noise-free signal, as a
    prediction, against the targets, on the bins evaluation scores.

    The bins go through :class:`TrackMetrics` in the order :func:`evaluate_dataset` feeds
    the model's (window by window, ``[lo, hi)`` of each), so the rank metrics use the same
    subsample of bins as the model's.

    Parameters
    ----------
    targets, noise_free : the target store and its noise-free twin (:func:`check_noise_free`)
    windows : (chrom, start, end), in the order the model was scored
    spans : np.ndarray, shape (n_windows, 2), int; from :func:`scored_spans`
    crop_bins : bins cropped from each end of a window's output
    chunk_bins : bins gathered before each metrics update (memory only)

    Returns
    -------
    list of dict, one row per coverage track (:meth:`TrackMetrics.compute`)
    """
    columns = check_noise_free(targets, noise_free)
    mine = [i for i, j in enumerate(columns) if j >= 0]
    theirs = [columns[i] for i in mine]
    if not mine:
        return []
    metrics = TrackMetrics([targets.names[i] for i in mine], ["coverage"] * len(mine))
    observed, clean, held = [], [], 0

    def flush() -> None:
        if observed:
            metrics.update(np.concatenate(clean)[None], np.concatenate(observed)[None])
            observed.clear()
            clean.clear()

    bs = targets.bin_size
    for (chrom, start, _), (lo, hi) in zip(windows, spans, strict=True):
        if hi <= lo:
            continue
        first = start // bs + crop_bins
        observed.append(targets.fetch(chrom, first + lo, first + hi)[:, mine])
        clean.append(noise_free.fetch(chrom, first + lo, first + hi)[:, theirs])
        held += hi - lo
        if held >= chunk_bins:
            flush()
            held = 0
    flush()
    return metrics.compute()
