"""Binning kernels: bigWig coverage and peak intervals -> one value per bin.

Every kernel works on sorted, non-overlapping intervals through the integral of the
signal, ``G(x) = sum of the values over [0, x)``, evaluated at the bin edges with a
cumulative sum and :func:`numpy.searchsorted`: O(intervals + bins), no per-base loop.
Chromosomes are walked in chunks of whole bins so that memory stays flat however long
the chromosome is; each chunk is yielded as ``(first_bin, values)``.

Missing and NaN values count as 0. A bin's ``mean`` (or peak ``fraction``) divides by the
bases the bin holds, so the last, partial bin of a chromosome is not diluted.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

__all__ = [
    "bigwig_bins",
    "integrate",
    "iter_bigwig_bins",
    "iter_peak_bins",
    "peak_bins",
    "transform",
]

CHUNK = 1 << 20  # bases per chunk: bounds the Python tuples pyBigWig returns per call


def integrate(
    starts: np.ndarray, ends: np.ndarray, values: np.ndarray, edges: np.ndarray
) -> np.ndarray:
    """Sum of a piecewise-constant signal over each ``[edges[i], edges[i + 1])``.

    Parameters
    ----------
    starts, ends : np.ndarray, shape (n,), int or float
        Sorted, non-overlapping intervals (``ends[i] <= starts[i + 1]``); the signal is
        ``values[i]`` on ``[starts[i], ends[i])`` and 0 elsewhere.
    values : np.ndarray, shape (n,), float, finite
    edges : np.ndarray, shape (m + 1,), int, non-decreasing

    Returns
    -------
    np.ndarray, shape (m,), float64
    """
    edges = np.asarray(edges, dtype=np.float64)
    if len(starts) == 0:
        return np.zeros(max(len(edges) - 1, 0))
    starts = np.asarray(starts, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    # G(x) = (all of the intervals that end by x) + (the part of the next one before x)
    whole = np.concatenate([[0.0], np.cumsum(values * (ends - starts))])
    j = np.searchsorted(ends, edges, side="right")
    k = np.minimum(j, len(starts) - 1)
    part = np.where(j < len(starts), values[k] * np.clip(edges - starts[k], 0.0, None), 0.0)
    return np.diff(whole[j] + part)


def _bin_edges(first_bin: int, n_bins: int, bin_size: int, length: int) -> np.ndarray:
    return np.minimum(
        np.arange(first_bin, first_bin + n_bins + 1, dtype=np.int64) * bin_size, length
    )


def _chunks(length: int, bin_size: int, chunk_size: int) -> Iterator[tuple[int, int]]:
    """``(first_bin, n_bins)`` covering ``ceil(length / bin_size)`` bins in whole-bin chunks."""
    n_bins = -(-length // bin_size)
    step = max(1, chunk_size // bin_size)
    for first in range(0, n_bins, step):
        yield first, min(step, n_bins - first)


def _intervals(bw, chrom: str, start: int, end: int, source: str):
    """pyBigWig intervals overlapping ``[start, end)``, clipped to it, NaN as 0."""
    found = bw.intervals(chrom, start, end)
    if not found:
        empty = np.zeros(0)
        return empty, empty, empty
    flat = np.fromiter(itertools.chain.from_iterable(found), np.float64, count=3 * len(found))
    table = flat.reshape(-1, 3)  # (n, 3): start, end, value
    starts = np.clip(table[:, 0], start, end)
    ends = np.clip(table[:, 1], start, end)
    values = np.nan_to_num(table[:, 2], nan=0.0)
    if np.any(starts[1:] < ends[:-1]):
        i = int(np.argmax(starts[1:] < ends[:-1]))
        raise ValueError(
            f"{source}: overlapping intervals on {chrom} at {int(table[i, 0])}-{int(table[i, 1])} "
            f"and {int(table[i + 1, 0])}-{int(table[i + 1, 1])}; rebuild the bigWig with "
            "bedGraphToBigWig from a sorted, merged bedGraph"
        )
    return starts, ends, values


def iter_bigwig_bins(
    bw,
    chrom: str,
    length: int,
    *,
    bin_size: int,
    aggregate: str = "sum",
    chunk_size: int = CHUNK,
    source: str = "bigWig",
) -> Iterator[tuple[int, np.ndarray]]:
    """Bin one bigWig chromosome chunk by chunk.

    Parameters
    ----------
    bw : an open ``pyBigWig`` file.
    chrom : the bigWig's own name for the chromosome.
    length : bases to bin (the genome's length; the bigWig's may differ).
    aggregate : "sum" or "mean" of the per-base values of each bin; bases without a value
        count as 0 (mean = sum / bin length, unlike pyBigWig's ``stats(type="mean")``,
        which averages over covered bases only).
    chunk_size : bases read per call (rounded down to whole bins, at least one bin).
    source : named in errors (the file path).

    Yields
    ------
    (first_bin, values) : int and np.ndarray, shape (n,), float64
    """
    if aggregate not in ("sum", "mean"):
        raise ValueError(f"aggregate must be 'sum' or 'mean', not {aggregate!r}")
    bw_length = bw.chroms().get(chrom, 0)
    for first, n in _chunks(length, bin_size, chunk_size):
        edges = _bin_edges(first, n, bin_size, length)
        start, end = int(edges[0]), int(min(edges[-1], bw_length))
        if end > start:
            sums = integrate(*_intervals(bw, chrom, start, end, source), edges)
        else:
            sums = np.zeros(n)
        yield first, sums / np.diff(edges) if aggregate == "mean" else sums


def bigwig_bins(bw, chrom: str, length: int, *, bin_size: int, aggregate: str = "sum", **kw):
    """All bins of one chromosome at once (see :func:`iter_bigwig_bins`).

    Returns
    -------
    np.ndarray, shape (ceil(length / bin_size),), float64
    """
    parts = [
        v
        for _, v in iter_bigwig_bins(
            bw, chrom, length, bin_size=bin_size, aggregate=aggregate, **kw
        )
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def iter_peak_bins(
    starts: np.ndarray,
    ends: np.ndarray,
    length: int,
    *,
    bin_size: int,
    mode: str = "fraction",
    chunk_size: int = CHUNK,
) -> Iterator[tuple[int, np.ndarray]]:
    """Bin merged peaks of one chromosome chunk by chunk.

    Parameters
    ----------
    starts, ends : np.ndarray, shape (n,), int64, sorted and disjoint (:func:`read_peaks`).
    length : bases to bin; peaks past it are cut off.
    mode : "fraction" of the bin's bases covered, or "binary" (1.0 if any base is).

    Yields
    ------
    (first_bin, values) : int and np.ndarray, shape (n,), float64 in [0, 1]
    """
    if mode not in ("fraction", "binary"):
        raise ValueError(f"peak_mode must be 'fraction' or 'binary', not {mode!r}")
    ones = np.ones(len(starts))
    for first, n in _chunks(length, bin_size, chunk_size):
        edges = _bin_edges(first, n, bin_size, length)
        lo = np.searchsorted(ends, edges[0], side="right")
        hi = np.searchsorted(starts, edges[-1], side="left")
        covered = integrate(starts[lo:hi], ends[lo:hi], ones[lo:hi], edges)
        if mode == "binary":
            yield first, (covered > 0).astype(np.float64)
        else:
            yield first, covered / np.diff(edges)


def peak_bins(starts, ends, length: int, *, bin_size: int, mode: str = "fraction", **kw):
    """All bins of one chromosome at once (see :func:`iter_peak_bins`).

    Returns
    -------
    np.ndarray, shape (ceil(length / bin_size),), float64
    """
    parts = [v for _, v in iter_peak_bins(starts, ends, length, bin_size=bin_size, mode=mode, **kw)]
    return np.concatenate(parts) if parts else np.zeros(0)


def transform(
    values: np.ndarray,
    *,
    scale: float = 1.0,
    soft_clip: float | None = None,
    clip: float | None = None,
) -> np.ndarray:
    """Multiply by ``scale``, then soft-clip (``v > s -> s + sqrt(v - s)``), then clip.

    Parameters
    ----------
    values : np.ndarray, shape (n,), float

    Returns
    -------
    np.ndarray, shape (n,), float64 (a new array)
    """
    out = np.asarray(values, dtype=np.float64) * scale
    if soft_clip is not None:
        over = out > soft_clip
        out[over] = soft_clip + np.sqrt(out[over] - soft_clip)
    if clip is not None:
        np.minimum(out, clip, out=out)
    return out
