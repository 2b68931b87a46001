"""Genome intervals: regions as users write them and BED files (gz or not) as merged,
sorted intervals per chromosome. Coordinates are 0-based half-open everywhere inside the
package; a region typed by a user (``chr20:40000001-46000000``) is 1-based inclusive.
"""

from __future__ import annotations

import gzip
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genomics.data.chroms import ChromAliases

__all__ = [
    "Region",
    "merge_intervals",
    "open_text",
    "parse_region",
    "read_bed_intervals",
    "read_peaks",
]

log = logging.getLogger(__name__)

_SKIP = ("#", "track", "browser")
_REGION = re.compile(r"^(?P<chrom>[^:\s]+)(?::(?P<start>[\d,_]+)-(?P<end>[\d,_]+))?$")


@dataclass(frozen=True)
class Region:
    """A genome interval, 0-based half-open; ``end=None`` means to the chromosome's end."""

    chrom: str
    start: int = 0
    end: int | None = None

    def __str__(self) -> str:
        """As a user writes it: ``chr3`` or ``chr20:40000001-46000000`` (1-based)."""
        if self.start == 0 and self.end is None:
            return self.chrom
        return f"{self.chrom}:{self.start + 1}-{'end' if self.end is None else self.end}"


def parse_region(text: str) -> Region:
    """Parse ``chr3`` or ``chr20:40,000,001-46,000,000`` (1-based inclusive) into a Region.

    >>> parse_region("chr20:11-20")
    Region(chrom='chr20', start=10, end=20)
    """
    m = _REGION.match(text.strip())
    if m is None:
        raise ValueError(
            f"region {text!r}: expected a chromosome (chr8) or chrom:start-end "
            "(chr20:40000001-46000000, 1-based inclusive)"
        )
    if m["start"] is None:
        return Region(m["chrom"])
    start, end = (int(m[k].replace(",", "").replace("_", "")) for k in ("start", "end"))
    if start < 1 or end < start:
        raise ValueError(f"region {text!r}: need 1 <= start <= end")
    return Region(m["chrom"], start - 1, end)


def open_text(path: Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if gz else open(path)


def merge_intervals(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals, sorted; overlapping and touching intervals become one."""
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    if starts.size == 0:
        return starts, ends
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    new = np.concatenate([[True], starts[1:] > reach[:-1]])
    first = np.flatnonzero(new)
    last = np.concatenate([first[1:], [starts.size]]) - 1
    return starts[first], reach[last]


def read_peaks(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read a BED3+ or narrowPeak file (gz or not) into merged intervals per chromosome.

    Blank lines and ``#``, ``track`` and ``browser`` lines are skipped; zero-length
    intervals are ignored (a chromosome with nothing else is not listed).

    Returns
    -------
    dict chrom -> (starts, ends), each np.ndarray, shape (n,), int64, sorted and disjoint.

    Raises
    ------
    ValueError
        Naming the file and line for a line with fewer than 3 columns, a coordinate that
        is not an integer, a negative start or an end before the start.
    """
    path = Path(path)
    raw: dict[str, tuple[list, list]] = {}
    with open_text(path) as fh:
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.strip() or line.startswith(_SKIP):
                    continue
                fields = line.split()
                where = f"{path} line {lineno}"
                if len(fields) < 3:
                    raise ValueError(
                        f"{where}: expected at least 3 columns (chrom, start, end), "
                        f"got {len(fields)}: {line.rstrip()[:80]!r}"
                    )
                try:
                    start, end = int(fields[1]), int(fields[2])
                except ValueError:
                    raise ValueError(
                        f"{where}: start and end must be integers, got "
                        f"{fields[1]!r} and {fields[2]!r}"
                    ) from None
                if start < 0 or end < start:
                    raise ValueError(
                        f"{where}: bad interval {fields[0]}:{start}-{end} (need 0 <= start <= end)"
                    )
                starts, ends = raw.setdefault(fields[0], ([], []))
                starts.append(start)
                ends.append(end)
        except (OSError, EOFError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: not a readable BED/narrowPeak text file ({e})") from None
    merged = {
        chrom: merge_intervals(np.array(s, dtype=np.int64), np.array(e, dtype=np.int64))
        for chrom, (s, e) in raw.items()
    }
    return {chrom: se for chrom, se in merged.items() if len(se[0])}  # zero-length only: none


def read_bed_intervals(
    path: str | Path, aliases: ChromAliases, *, key: str = ""
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read a BED (gz or not) into merged, sorted intervals per reference chromosome.

    Parameters
    ----------
    key : the config key that names ``path``, for the error when it is missing.

    Returns
    -------
    dict chrom -> (starts, ends), each np.ndarray, shape (n,), int64; chromosomes not in
    ``aliases`` are left out.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{key + ': ' if key else ''}BED file {path} does not exist")
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    unknown = []
    for chrom, (starts, ends) in read_peaks(path).items():
        name = aliases.resolve(chrom)
        if name is None:
            unknown.append(chrom)
            continue
        if name in out:  # two spellings of one chromosome (chr1 and 1)
            starts, ends = merge_intervals(np.r_[out[name][0], starts], np.r_[out[name][1], ends])
        out[name] = (starts, ends)
    if unknown:
        log.warning(
            "%s: %d chromosome name(s) not in the genome store, ignored: %s%s",
            path,
            len(unknown),
            ", ".join(unknown[:5]),
            "" if out else " (no interval of this file is used: is it for another assembly?)",
        )
    return out
