"""Bins to leave out (mostly N, blacklisted) and labelled BED regions (an annotation such as
ChromHMM states), per chromosome of a store. 0-based half-open coordinates throughout."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np

from genomics.data.chroms import ChromAliases

__all__ = ["excluded_bins", "read_bed"]

log = logging.getLogger(__name__)

_SKIP = ("#", "track", "browser")
_CHUNK_BINS = 1 << 16  # bins of sequence read at a time: memory stays flat per chromosome


def read_bed(
    path: str | Path, chroms: list[str], *, named: bool = False, key: str = ""
) -> dict[str, tuple[np.ndarray, ...]]:
    """Read a BED (gz or not) into intervals per chromosome of ``chroms`` (aliases resolved).

    Parameters
    ----------
    chroms : the store's chromosome names; intervals on others are left out (logged).
    named : also return the 4th column (a state or label); required then.
    key : the config key that names ``path``, for errors.

    Returns
    -------
    dict chrom -> (starts, ends) or (starts, ends, labels), sorted by start; starts and
    ends np.ndarray, shape (n,), int64; labels np.ndarray, shape (n,), str.
    """
    path = Path(path)
    where = f"{key}: " if key else ""
    if not path.is_file():
        raise FileNotFoundError(f"{where}BED file {path} does not exist")
    aliases = ChromAliases(chroms)
    rows: dict[str, list] = {}
    unknown = set()
    with open(path, "rb") as fh:
        opener = gzip.open if fh.read(2) == b"\x1f\x8b" else open
    with opener(path, "rt") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.startswith(_SKIP):
                continue
            f = line.split("\t") if "\t" in line else line.split()
            if len(f) < (4 if named else 3):
                raise ValueError(
                    f"{where}{path} line {lineno}: expected at least {4 if named else 3} "
                    f"columns (chrom, start, end{', state' if named else ''}), got {len(f)}"
                )
            try:
                start, end = int(f[1]), int(f[2])
            except ValueError:
                raise ValueError(
                    f"{where}{path} line {lineno}: start and end must be integers, got "
                    f"{f[1]!r} and {f[2]!r}"
                ) from None
            if start < 0 or end < start:
                raise ValueError(f"{where}{path} line {lineno}: bad interval {start}-{end}")
            chrom = aliases.resolve(f[0])
            if chrom is None:
                unknown.add(f[0])
                continue
            rows.setdefault(chrom, []).append((start, end, f[3].strip() if named else ""))
    if unknown:
        log.info("%s: %d chromosome(s) not in the store, ignored", path, len(unknown))
    if not rows:
        raise ValueError(f"{where}{path} has no interval on the store's chromosomes")
    out = {}
    for chrom, r in rows.items():
        r.sort(key=lambda x: (x[0], x[1]))
        starts = np.array([x[0] for x in r], dtype=np.int64)
        ends = np.array([x[1] for x in r], dtype=np.int64)
        out[chrom] = (starts, ends, np.array([x[2] for x in r])) if named else (starts, ends)
    return out


def excluded_bins(
    n_bins: int,
    bin_size: int,
    *,
    codes: np.ndarray | None = None,
    blacklist: tuple[np.ndarray, np.ndarray] | None = None,
    max_n_fraction: float = 0.5,
) -> np.ndarray:
    """Bins to leave out of one chromosome: more than ``max_n_fraction`` N, or touching a
    blacklisted interval.

    Parameters
    ----------
    codes : np.ndarray, shape (length,), uint8 (a genome store's codes, N = 4) or None;
        read in chunks, so a memory map stays unread beyond one chunk at a time.
    blacklist : (starts, ends) of this chromosome, or None.

    Returns
    -------
    np.ndarray, shape (n_bins,), bool; True = leave out.
    """
    out = np.zeros(n_bins, dtype=bool)
    if codes is not None:
        if -(-len(codes) // bin_size) != n_bins:
            raise ValueError(
                f"the genome store's chromosome ({len(codes):,} bp) does not fit the store's "
                f"{n_bins:,} bins of {bin_size} bp"
            )
        step = _CHUNK_BINS * bin_size
        for lo in range(0, len(codes), step):
            chunk = np.asarray(codes[lo : lo + step]) == 4
            first = lo // bin_size
            n_counts = np.add.reduceat(chunk, np.arange(0, len(chunk), bin_size))
            widths = np.minimum(bin_size, len(chunk) - np.arange(0, len(chunk), bin_size))
            out[first : first + len(n_counts)] |= n_counts > max_n_fraction * widths
    if blacklist is not None:
        starts, ends = blacklist
        keep = ends > starts
        first = np.clip(starts[keep] // bin_size, 0, n_bins)
        last = np.clip(-(-ends[keep] // bin_size), 0, n_bins)
        edges = np.zeros(n_bins + 1, dtype=np.int64)
        np.add.at(edges, first, 1)
        np.add.at(edges, last, -1)
        out |= np.cumsum(edges[:-1]) > 0
    return out
