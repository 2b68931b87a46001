"""Enrichment of annotation states (ChromHMM; the simulator's planted element types) in
each class, over every assigned bin."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genomics.classes.regions import read_bed

__all__ = ["Enrichment", "annotation_enrichment"]

NONE = "(none)"  # bins that no annotated region touches


@dataclass
class Enrichment:
    """States x classes bin counts and log2(observed / expected).

    Attributes
    ----------
    states : list of str, length s; the annotation's states, then ``(none)``.
    counts : np.ndarray, shape (k, s), int64; bins of each class touching each state.
    log2 : np.ndarray, shape (k, s), float64; log2((counts + 1) / (expected + 1)), expected
        = the class's bins x the state's share of all assigned bins.
    path : the annotation file.
    """

    states: list[str]
    counts: np.ndarray
    log2: np.ndarray
    path: Path


def annotation_enrichment(
    path: str | Path, labels: dict[str, np.ndarray], n_classes: int, bin_size: int
) -> Enrichment:
    """Count, per class, the bins that an annotated region of each state touches.

    A bin touched by regions of several states counts for the one sorted last; bins no region touches are state ``(none)``; unassigned and left-out bins are
    not counted.

    Parameters
    ----------
    path : BED whose 4th column is the state.
    labels : chrom -> np.ndarray, shape (n_bins,), int; class per bin.
    """
    regions = read_bed(path, list(labels), named=True, key="report.annotation")
    names = sorted({str(s) for v in regions.values() for s in v[2]})
    code = {s: i for i, s in enumerate(names)}
    s = len(names) + 1
    counts = np.zeros((n_classes, s), dtype=np.int64)
    for chrom, lab in labels.items():
        state = np.full(len(lab), s - 1, dtype=np.int64)
        if chrom in regions:
            starts, ends, kinds = regions[chrom]
            first, stop = starts // bin_size, np.minimum(-(-ends // bin_size), len(lab))
            for name in np.unique(kinds):
                at = kinds == name
                step = np.zeros(len(lab) + 1, dtype=np.int64)  # +1 at a region's first bin
                np.add.at(step, first[at], 1)
                np.add.at(step, stop[at], -1)
                state[np.cumsum(step[:-1]) > 0] = code[str(name)]
        lab = np.asarray(lab)
        kept = lab >= 0
        pair = lab[kept].astype(np.int64) * s + state[kept]  # (class, state) as one index
        counts += np.bincount(pair, minlength=n_classes * s).reshape(n_classes, s)
    share = counts.sum(0) / max(counts.sum(), 1)
    expected = counts.sum(1, keepdims=True) * share[None, :]
    log2 = np.log2((counts + 1.0) / (expected + 1.0))
    return Enrichment(names + [NONE], counts, log2, Path(path))
