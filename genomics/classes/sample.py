"""A seeded uniform sample of a store's bins, leaving out bins that are mostly N or
blacklisted; the bins that :func:`genomics.classes.fit_classes` clusters."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genomics.classes.regions import excluded_bins, read_bed

__all__ = ["Sample", "leave_out", "sample_bins"]

log = logging.getLogger(__name__)


@dataclass
class Sample:
    """Sampled bins, in genome order.

    Attributes
    ----------
    chroms : list of str, the store's chromosome names.
    chrom_index : np.ndarray, shape (n,), int32; index into ``chroms``.
    bins : np.ndarray, shape (n,), int64; bin index on that chromosome.
    profiles : np.ndarray, shape (n, t), float32; the store's values, store units.
    n_eligible : int; bins the sample was drawn from (all bins less the left-out ones).
    """

    chroms: list[str]
    chrom_index: np.ndarray
    bins: np.ndarray
    profiles: np.ndarray
    n_eligible: int

    def __len__(self) -> int:
        return len(self.bins)


def leave_out(store, genome=None, blacklist: str | Path | None = None):
    """A function ``chrom -> np.ndarray (n_bins,) bool`` (True = leave the bin out) for
    ``store``: bins that are mostly N in ``genome`` (a GenomeStore, or None) or touch an
    interval of the ``blacklist`` BED (or None)."""
    black = read_bed(blacklist, store.chroms, key="blacklist") if blacklist else {}

    def excluded(chrom: str) -> np.ndarray:
        codes = None
        if genome is not None:
            try:
                codes = genome.codes(chrom)
            except ValueError:
                raise ValueError(
                    f"{store.path}: chromosome {chrom!r} is not in the genome store "
                    f"{genome.path}; give the genome store the predictions were made from "
                    "(--genome)"
                ) from None
        try:
            return excluded_bins(
                store.n_bins[chrom], store.bin_size, codes=codes, blacklist=black.get(chrom)
            )
        except ValueError as e:
            raise ValueError(f"{store.path}, {chrom}: {e}; give the matching --genome") from None

    return excluded


def sample_bins(
    store, n: int, *, seed: int, genome=None, blacklist: str | Path | None = None
) -> Sample:
    """Draw ``n`` distinct bins uniformly from the bins of ``store`` that are not left out.

    Parameters
    ----------
    store : a TargetStore or PredictionStore (``.chroms``, ``.n_bins``, ``.bins(chrom)``).
    n : bins to draw; all eligible bins when there are fewer.
    seed : the same seed draws the same bins.
    genome, blacklist : see :func:`leave_out`.
    """
    excluded = leave_out(store, genome, blacklist)
    masks = {c: excluded(c) for c in store.chroms}  # 1 byte a bin: 24 MB for a genome
    counts = np.array([len(m) - int(m.sum()) for m in masks.values()], dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        raise ValueError(f"{store.path}: every bin is N or blacklisted; nothing to sample")
    if n > total:
        log.info("sampling all %d eligible bins (fewer than the %d asked for)", total, n)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(total, size=min(n, total), replace=False))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    index, bins, profiles = [], [], []
    for i, (chrom, mask) in enumerate(masks.items()):
        lo, hi = np.searchsorted(pick, offsets[i : i + 2])
        if hi == lo:
            continue
        b = np.flatnonzero(~mask)[pick[lo:hi] - offsets[i]]
        x = np.asarray(store.bins(chrom)[b], dtype=np.float32)
        ok = np.isfinite(x).all(1)  # NaN: bins a prediction run did not cover (all N)
        if not ok.all():
            log.info("%s: %d sampled bins hold NaN (not predicted), left out", chrom, (~ok).sum())
            b, x = b[ok], x[ok]
        index.append(np.full(len(b), i, dtype=np.int32))
        bins.append(b.astype(np.int64))
        profiles.append(x)
    return Sample(
        chroms=list(store.chroms),
        chrom_index=np.concatenate(index),
        bins=np.concatenate(bins),
        profiles=np.concatenate(profiles),
        n_eligible=total,
    )
