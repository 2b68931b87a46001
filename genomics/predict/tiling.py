"""Where the windows of genome-wide prediction go, and which chromosomes each job takes.

A model maps a window of ``seq_len`` bp to ``out_bins`` bins: the window's central part,
after ``crop`` bins dropped at each end. Windows are placed ``out_bins`` bins apart so
that their central parts tile the chromosome exactly: every bin is predicted once, from a
window in which it is central, and no window edge supplies a value. The first window
starts ``crop`` bins before the chromosome (N padding), the last may run past its end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Tiling", "partition"]


@dataclass(frozen=True)
class Tiling:
    """Window placement for one model.

    Parameters
    ----------
    seq_len : input window length (bp).
    bin_size : bp per output bin.
    out_bins : output bins per window (``model.output_bins(seq_len)``).
    """

    seq_len: int
    bin_size: int
    out_bins: int

    def __post_init__(self):
        total = self.seq_len // self.bin_size
        if self.seq_len % self.bin_size or self.out_bins < 1 or (total - self.out_bins) % 2:
            raise ValueError(
                f"cannot tile: {self.seq_len} bp at {self.bin_size} bp per bin gives "
                f"{self.out_bins} centred output bins"
            )

    @property
    def crop(self) -> int:
        """Bins dropped at each end of a window."""
        return (self.seq_len // self.bin_size - self.out_bins) // 2

    @property
    def stride(self) -> int:
        """bp between window starts: the output span."""
        return self.out_bins * self.bin_size

    def n_windows(self, n_bins: int) -> int:
        """Windows needed to cover ``n_bins`` bins."""
        return -(-n_bins // self.out_bins)

    def window(self, k: int) -> tuple[int, int, int]:
        """Window ``k``: ``(start, end, first_bin)`` in bp and bins (start may be < 0)."""
        first_bin = k * self.out_bins
        start = first_bin * self.bin_size - self.crop * self.bin_size
        return start, start + self.seq_len, first_bin


def partition(sizes: dict[str, int], parts: int) -> list[list[str]]:
    """Chromosomes split into ``parts`` jobs of about equal total length (longest first,
    each to the lightest job; deterministic). Jobs may be empty when there are fewer
    chromosomes than parts. Each job keeps the chromosomes in ``sizes`` order."""
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    load = np.zeros(parts, dtype=np.int64)
    owner: dict[str, int] = {}
    for chrom in sorted(sizes, key=lambda c: (-sizes[c], list(sizes).index(c))):
        j = int(np.argmin(load))
        owner[chrom] = j
        load[j] += sizes[chrom]
    return [[c for c in sizes if owner[c] == j] for j in range(parts)]
