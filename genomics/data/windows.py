"""Windows: tile chromosomes into fixed-length windows and split them train/valid/test.

A window is ``(chrom, start, end)``, 0-based half-open, ``end - start == length``. Held-out
regions are whole chromosomes (``chr8``) or intervals (``chr20:40000001-46000000``, 1-based
inclusive like samtools and genome browsers). A window lies in a held-out split only if it
lies wholly inside one of its regions; a window that straddles a boundary is dropped, so no
base of a held-out region is ever seen in training. Every other window is train.

Layout of a windows folder::

    train.bed, valid.bed, test.bed   chrom, start, end (tab-separated, sorted)
    manifest.json                    written last
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from genomics.data.encoding import N_CODE
from genomics.data.genome import GenomeStore
from genomics.data.intervals import Region, parse_region, read_bed_intervals
from genomics.io import (
    StoreError,
    atomic_write_text,
    content_digest,
    fingerprint,
    invalidate_store,
    read_manifest,
    write_manifest,
)

__all__ = [
    "SPLITS",
    "build_windows",
    "held_out_regions",
    "read_windows",
    "shift_room",
    "spread_sample",
    "tile_windows",
    "windows_manifest",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
KIND = "windows"
FORMAT_VERSION = 1
COMMAND = "genomics windows"


def tile_windows(sizes: dict[str, int], length: int, stride: int) -> list[tuple[str, int, int]]:
    """Every window ``[s, s + length)`` with ``s = 0, stride, 2 * stride, ...`` inside its
    chromosome. A chromosome shorter than ``length`` gets none (with a warning)."""
    windows = []
    for chrom, size in sizes.items():
        if size < length:
            log.warning(
                "%s (%d bp) is shorter than one window (%d bp): no windows", chrom, size, length
            )
            continue
        windows.extend((chrom, s, s + length) for s in range(0, size - length + 1, stride))
    return windows


def _overlaps(intervals: tuple[np.ndarray, np.ndarray] | None, start: int, end: int) -> bool:
    if intervals is None:
        return False
    starts, ends = intervals
    i = np.searchsorted(ends, start, side="right")  # first interval ending after start
    return bool(i < len(starts) and starts[i] < end)


def _resolve_regions(texts: Iterable[str], genome: GenomeStore, key: str) -> list[Region]:
    regions = []
    for text in texts:
        r = parse_region(text)
        chrom = genome.aliases.resolve(r.chrom)
        if chrom is None:
            raise ValueError(
                f"windows.split.{key}: chromosome {r.chrom!r} is not in the genome "
                f"(it has {', '.join(genome.chroms[:8])}{' ...' if len(genome.chroms) > 8 else ''})"
            )
        size = genome.sizes[chrom]
        end = size if r.end is None else min(r.end, size)
        if r.start >= size:
            raise ValueError(
                f"windows.split.{key}: region {text!r} starts past the end of {chrom} ({size} bp)"
            )
        regions.append(Region(chrom, r.start, end))
    return regions


def _inside(regions: Sequence[Region], chrom: str, start: int, end: int) -> tuple[bool, bool]:
    """(wholly inside one region, overlapping any region)."""
    inside = overlap = False
    for r in regions:
        if r.chrom != chrom:
            continue
        if start < r.end and r.start < end:
            overlap = True
            if r.start <= start and end <= r.end:
                inside = True
    return inside, overlap


def assign_split(
    window: tuple[str, int, int], valid: Sequence[Region], test: Sequence[Region]
) -> str | None:
    """ "train", "valid", "test", or None for a window that straddles a held-out boundary."""
    chrom, start, end = window
    in_test, over_test = _inside(test, chrom, start, end)
    in_valid, over_valid = _inside(valid, chrom, start, end)
    if in_test and not over_valid:
        return "test"
    if in_valid and not over_test:
        return "valid"
    if over_test or over_valid:
        return None
    return "train"


def _n_fraction(genome: GenomeStore, chrom: str, start: int, end: int) -> float:
    return float(np.count_nonzero(genome.codes(chrom)[start:end] == N_CODE)) / (end - start)


def build_windows(
    genome: GenomeStore,
    out: str | Path,
    *,
    length: int,
    stride: int,
    bin_size: int,
    valid: Sequence[str],
    test: Sequence[str],
    max_n_fraction: float = 0.1,
    blacklist: str | Path | None = None,
) -> dict[str, int]:
    """Tile the genome, drop N-rich and blacklisted windows, split, and write the BEDs.

    Returns
    -------
    dict, number of windows per split (and ``dropped_*`` counts).
    """
    if length % bin_size or stride % bin_size:
        raise ValueError(
            f"windows.length {length} and windows.stride {stride} must be multiples of "
            f"targets.bin_size {bin_size} (so window targets start on bin edges)"
        )
    valid_r = _resolve_regions(valid, genome, "valid")
    test_r = _resolve_regions(test, genome, "test")
    for v in valid_r:
        if _inside(test_r, v.chrom, v.start, v.end)[1]:
            raise ValueError(f"windows.split: valid region {v} overlaps a test region")
    black = (
        read_bed_intervals(blacklist, genome.aliases, key="windows.blacklist") if blacklist else {}
    )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[tuple[str, int, int]]] = {s: [] for s in SPLITS}
    counts = {"dropped_n": 0, "dropped_blacklist": 0, "dropped_boundary": 0}
    for w in tile_windows(genome.sizes, length, stride):
        split = assign_split(w, valid_r, test_r)
        if split is None:
            counts["dropped_boundary"] += 1
        elif _overlaps(black.get(w[0]), w[1], w[2]):
            counts["dropped_blacklist"] += 1
        elif _n_fraction(genome, *w) > max_n_fraction:
            counts["dropped_n"] += 1
        else:
            splits[split].append(w)

    for split, ws in splits.items():
        if not ws:
            held = {"valid": valid, "test": test}.get(split, "everything not held out")
            raise ValueError(
                f"split {split!r} has no windows of {length} bp (regions: {held}; "
                f"dropped: {counts}); widen the regions in windows.split, shorten "
                "windows.length or raise windows.max_n_fraction"
            )
        counts[split] = len(ws)
    invalidate_store(out)  # only now: bad input above leaves an older windows folder as it was
    for split, ws in splits.items():
        atomic_write_text(out / f"{split}.bed", "".join(f"{c}\t{s}\t{e}\n" for c, s, e in ws))
    inputs = {"genome": genome.digest}
    if blacklist:
        inputs["blacklist"] = {"path": str(blacklist), "fingerprint": fingerprint(blacklist)}
    write_manifest(
        out,
        kind=KIND,
        format_version=FORMAT_VERSION,
        params={
            "length": length,
            "stride": stride,
            "bin_size": bin_size,
            "valid": list(valid),
            "test": list(test),
            "max_n_fraction": max_n_fraction,
        },
        inputs=inputs,
        files=[f"{s}.bed" for s in SPLITS],
        extra={"counts": counts},
    )
    log.info("windows: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts


def windows_manifest(folder: str | Path, *, genome: GenomeStore | None = None) -> dict:
    """The checked manifest of a windows folder, with its ``content_digest`` added.

    Parameters
    ----------
    genome : when given, the windows must have been cut from this genome store (same
        content digest); otherwise a :class:`~genomics.io.StoreError` says to rerun
        ``genomics windows``.
    """
    folder = Path(folder)
    manifest = read_manifest(folder, kind=KIND, format_version=FORMAT_VERSION, command=COMMAND)
    if genome is not None and manifest["inputs"]["genome"] != genome.digest:
        raise StoreError(
            f"{folder}: these windows were cut from another genome store (digest "
            f"{manifest['inputs']['genome']}) than {genome.path} (digest {genome.digest}); "
            f"rerun `{COMMAND}` with this genome store"
        )
    return {**manifest, "content_digest": content_digest(manifest)}


def held_out_regions(manifest: dict, genome: GenomeStore) -> list[Region]:
    """The valid and test regions of a windows store (its :func:`windows_manifest`),
    resolved on ``genome``."""
    params = manifest["params"]
    return _resolve_regions(params["valid"], genome, "valid") + _resolve_regions(
        params["test"], genome, "test"
    )


def shift_room(
    windows: Sequence[tuple[str, int, int]],
    keep_out: Sequence[Region],
    bin_size: int,
    max_bins: int,
) -> np.ndarray:
    """How many bins each window can move left and right without touching ``keep_out``.

    Training shifts its windows by a few bins (``augment.shift_bins``); a train window next
    to a held-out region would otherwise take up to that many bins of held-out sequence and
    targets. Chromosome ends are no limit (the stores pad past them).

    Parameters
    ----------
    windows : (chrom, start, end), chromosome names as in ``keep_out``.
    keep_out : regions (``end`` resolved, not None) a shifted window must not overlap.
    bin_size, max_bins : the shift unit and the largest shift either way.

    Returns
    -------
    np.ndarray, shape (n_windows, 2), int64: (left, right), each in ``0..max_bins``; (0, 0)
    for a window that already overlaps a region.
    """
    by_chrom: dict[str, list[Region]] = {}
    for r in keep_out:
        by_chrom.setdefault(r.chrom, []).append(r)
    room = np.full((len(windows), 2), max_bins, dtype=np.int64)
    for i, (chrom, start, end) in enumerate(windows):
        for r in by_chrom.get(chrom, ()):
            if r.start < end and start < r.end:
                room[i] = 0
                break
            if r.end <= start:
                room[i, 0] = min(room[i, 0], (start - r.end) // bin_size)
            else:
                room[i, 1] = min(room[i, 1], (r.start - end) // bin_size)
    return room


def spread_sample(windows: Sequence[tuple[str, int, int]], n: int) -> list[tuple[str, int, int]]:
    """``n`` windows spread evenly over ``windows`` (in order, first and last included), or
    all of them if there are no more than ``n``: a validation subset that covers the whole
    split rather than its first windows in file order."""
    if n >= len(windows):
        return list(windows)
    pick = np.round(np.linspace(0, len(windows) - 1, n)).astype(int)
    return [windows[i] for i in pick]


def read_windows(
    folder: str | Path, split: str, *, genome: GenomeStore | None = None
) -> list[tuple[str, int, int]]:
    """The windows of one split from a windows folder (checked against its manifest, and
    against ``genome`` when given: see :func:`windows_manifest`)."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: choose one of {', '.join(SPLITS)}")
    folder = Path(folder)
    windows_manifest(folder, genome=genome)
    windows = []
    with open(folder / f"{split}.bed") as fh:
        for line in fh:
            chrom, start, end = line.split("\t")[:3]
            windows.append((chrom, int(start), int(end)))
    if not windows:
        raise ValueError(f"{folder / (split + '.bed')}: split {split!r} has no windows")
    return windows
