"""Where a class is: its bins per chromosome and example loci, from the per-bin labels
that :func:`genomics.report.run_files.read_class_bed` reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Locus", "bins_per_chrom", "example_loci"]


def bins_per_chrom(labels: dict[str, np.ndarray], n_classes: int) -> dict[str, np.ndarray]:
    """Bins of each class per chromosome.

    Parameters
    ----------
    labels : chrom -> np.ndarray, shape (n_bins,), int; class per bin, -1 unassigned,
        -2 left out.

    Returns
    -------
    dict chrom -> np.ndarray, shape (k + 1,), int64: bins per class, then unassigned
    (left-out bins not counted).
    """
    out = {}
    for chrom, lab in labels.items():
        lab = np.asarray(lab)
        kept = lab[lab >= -1]
        counts = np.bincount(kept.astype(np.int64) + 1, minlength=n_classes + 1)
        out[chrom] = np.r_[counts[1:], counts[:1]]
    return out


@dataclass(frozen=True)
class Locus:
    """A window of bins ``[start_bin, end_bin)`` on ``chrom`` around a run of the class
    ``run_bins`` long."""

    chrom: str
    start_bin: int
    end_bin: int
    run_bins: int


def _runs(lab: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends (bins, half-open) of the runs of class ``k`` in ``lab``."""
    hit = np.r_[False, lab == k, False].astype(np.int8)
    step = np.diff(hit)
    return np.flatnonzero(step == 1), np.flatnonzero(step == -1)


def example_loci(labels: dict[str, np.ndarray], k: int, *, n: int, width: int) -> list[Locus]:
    """Up to ``n`` windows of ``width`` bins centred on the longest runs of class ``k``,
    none overlapping another; chromosomes not yet used are preferred at equal length.

    Returns
    -------
    list of Locus, longest run first.
    """
    candidates = []
    for chrom, lab in labels.items():
        starts, ends = _runs(np.asarray(lab), k)
        for s, e in zip(starts, ends, strict=True):
            candidates.append((int(e - s), chrom, int(s), int(e)))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    chosen: list[Locus] = []
    for length, chrom, s, e in candidates:
        if len(chosen) == n:
            break
        total = len(labels[chrom])
        w = min(width, total)
        lo = min(max((s + e) // 2 - w // 2, 0), total - w)
        if any(c.chrom == chrom and lo < c.end_bin and c.start_bin < lo + w for c in chosen):
            continue
        chosen.append(Locus(chrom, lo, lo + w, length))
    return chosen
