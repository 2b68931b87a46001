"""Target store: every track binned once into one memory-mapped (bins x tracks) array per chromosome.

Layout of a store folder::

    <chrom>.npy      binned targets, shape (ceil(length / bin_size), n_tracks), float32 or float16
    tracks.tsv       one row per track: its settings, path, fingerprint and simple stats
    manifest.json    written last; see :mod:`genomics.io.manifest`

:func:`build_target_store` writes it for the chromosomes of a genome store (names meet
through aliases: ``chr20`` and ``20``); :class:`TargetStore` reads it lazily. Track lists
come from :func:`genomics.data.tracks.load_tracks`; the kernels live in
:mod:`genomics.data.binning`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyBigWig
from tqdm.auto import tqdm

from genomics.data.binning import iter_bigwig_bins, iter_peak_bins, transform
from genomics.data.chroms import ChromAliases
from genomics.data.genome import GenomeStore
from genomics.data.intervals import read_peaks
from genomics.data.store import ChromStore, few
from genomics.data.tracks import load_tracks
from genomics.io import (
    StoreError,
    atomic_path,
    atomic_write_text,
    fingerprint,
    invalidate_store,
    new_npy_memmap,
    write_manifest,
)

__all__ = ["TargetStore", "build_target_store"]

log = logging.getLogger(__name__)

KIND = "targets"
FORMAT_VERSION = 1
COMMAND = "genomics targets"
DTYPES = ("float32", "float16")
FLOAT16_MAX = float(np.finfo(np.float16).max)  # 65504
_LENGTH_SLACK = 1000  # bp a bigWig chromosome may fall short of the genome's (chrM/MT: 2)
TABLE_COLUMNS = (
    "index",
    "name",
    "kind",
    "aggregate",
    "peak_mode",
    "scale",
    "soft_clip",
    "clip",
    "path",
    "fingerprint",
    "description",
    "sum",
    "nonzero_fraction",
    "max",
)


def _open_source(track: Mapping[str, Any]):
    """The track's chromosome names, ``chunks(name, length, bin_size)`` giving its binned
    chunks (see :mod:`genomics.data.binning`), ``mismatch(name, length)`` giving None if
    the track's chromosome ``name`` fits a genome chromosome of ``length`` bp, else
    ``(fatal, how)`` (see :func:`_check_assembly`), and a function that closes the file."""
    path = track["path"]
    if track["kind"] == "coverage":
        try:
            bw = pyBigWig.open(path)
        except RuntimeError:
            bw = None
        if bw is None or not bw.isBigWig():
            raise ValueError(f"track {track['name']!r}: cannot open {path} as a bigWig")
        sizes = dict(bw.chroms())

        def chunks(name, length, bin_size):
            return iter_bigwig_bins(
                bw, name, length, bin_size=bin_size, aggregate=track["aggregate"], source=path
            )

        def mismatch(name, length):
            if sizes[name] == length:
                return None
            text = f"{sizes[name]:,} bp in the bigWig, {length:,} bp in the genome"
            return sizes[name] < length - _LENGTH_SLACK, text

        return list(sizes), chunks, mismatch, bw.close
    peaks = read_peaks(path)
    if not peaks:  # a failed peak call or a cut file, more often than a real empty set
        raise ValueError(
            f"track {track['name']!r}: {path} holds no peaks (empty, or only header or "
            "zero-length lines); a track of zeros teaches nothing: check the file, or "
            "leave the track out of targets.tracks"
        )

    def chunks(name, length, bin_size):
        starts, ends = peaks[name]
        return iter_peak_bins(starts, ends, length, bin_size=bin_size, mode=track["peak_mode"])

    def mismatch(name, length):
        starts, ends = peaks[name]
        over = int(np.count_nonzero(ends > length))
        if not over:
            return None
        beyond = int(np.count_nonzero(starts >= length))
        return False, (
            f"{over} of its {len(starts)} intervals run past the genome's end ({length:,} bp; "
            f"{beyond} start beyond it)"
        )

    return list(peaks), chunks, mismatch, lambda: None


def _check_assembly(track: Mapping[str, Any], problems: dict[str, tuple[bool, str]]) -> None:
    """Act on chromosomes whose lengths do not fit the genome (``chrom -> (fatal, how)``).

    Fatal: a bigWig chromosome shorter than the genome's by more than ``_LENGTH_SLACK``, so
    the genome's sequence past its end would train on zeros that are not measurements; it
    is another assembly (hg38 on hg19). Otherwise a warning, and the data past the genome's
    end are left out: a track longer than the genome fits a cut-down genome (one region of
    a chromosome), and hg19's chrM is 2 bp longer than GRCh37's MT.
    """
    if not problems:
        return
    fatal = {c: how for c, (bad, how) in problems.items() if bad}
    if fatal:
        listed = "; ".join(f"{c}: {how}" for c, how in list(fatal.items())[:3])
        raise ValueError(
            f"track {track['name']!r}: {track['path']} is shorter than the genome store on "
            f"{len(fatal)} chromosome(s) ({listed}); is it for another assembly? Use a "
            "track made on the genome's assembly (or lift it over)"
        )
    listed = "; ".join(f"{c}: {how}" for c, (_, how) in list(problems.items())[:3])
    log.warning(
        "track %r (%s): %d chromosome(s) do not fit the genome store (%s); data past the "
        "genome's end are left out (another assembly, or a cut-down genome?)",
        track["name"],
        track["path"],
        len(problems),
        listed,
    )


def _check_signal(values: np.ndarray, track: Mapping, chrom: str, first_bin: int) -> None:
    """Coverage must be >= 0: the Poisson loss of a negative target is meaningless."""
    if values.size and values.min() < 0:
        i = int(np.argmin(values))
        raise ValueError(
            f"track {track['name']!r}: {track['path']} has negative signal ({values[i]:.6g} "
            f"in {chrom} bin {first_bin + i}); a coverage track must be >= 0 (reads, fold "
            "change, -log10 p): a log-ratio or z-score track cannot be one"
        )


def _check_float16(values: np.ndarray, track: Mapping, chrom: str, first_bin: int) -> None:
    over = np.abs(values) > FLOAT16_MAX
    if over.any():
        i = int(np.argmax(over))
        raise ValueError(
            f"track {track['name']!r}: value {values[i]:.6g} at {chrom} bin {first_bin + i} "
            f"is above float16's maximum {FLOAT16_MAX:.0f}; set the track's scale or clip "
            "(or soft_clip), or use targets.dtype: float32"
        )


def _fill_track(
    column: int,
    track: Mapping[str, Any],
    files: Mapping[str, tuple[str, int]],
    *,
    bin_size: int,
    dtype: str,
    done: Callable[[int], None] | None = None,
) -> dict:
    """Write ``track`` into column ``column`` of every chromosome file (opened ``r+``).

    Parameters
    ----------
    files : genome chromosome -> (temporary .npy path, length in bp), genome order.
    done : called with a chromosome's length once it is written (progress).

    Returns
    -------
    dict: stats (sum, nonzero_fraction, max) and the chromosome names that did not match.
    """
    names, chunks, mismatch, close = _open_source(track)
    try:
        genome = ChromAliases(files)
        mine: dict[str, str] = {}  # genome name -> track name
        extra = []
        for name in names:
            g = genome.resolve(name)
            if g is None:
                extra.append(name)
            elif g in mine:
                raise ValueError(
                    f"track {track['name']!r}: {track['path']} names genome chromosome {g!r} "
                    f"twice, as {mine[g]!r} and {name!r}; one of them would be left out. "
                    "Rewrite the file with one naming"
                )
            else:
                mine[g] = name
        if not mine:
            raise ValueError(
                f"track {track['name']!r}: {track['path']} shares no chromosome name with the "
                f"genome store (the track has {few(names)}; the genome has {few(list(files))}); "
                "is it for another assembly?"
            )
        problems = {g: p for g, n in mine.items() if (p := mismatch(n, files[g][1]))}
        _check_assembly(track, problems)
        total, nonzero, n_bins, peak = 0.0, 0, 0, -np.inf
        for chrom, (path, length) in files.items():
            if chrom in mine:
                arr = np.load(path, mmap_mode="r+")
                for first, values in chunks(mine[chrom], length, bin_size):
                    values = transform(
                        values,
                        scale=track["scale"],
                        soft_clip=track["soft_clip"],
                        clip=track["clip"],
                    )
                    if track["kind"] == "coverage":
                        _check_signal(values, track, chrom, first)
                    if dtype == "float16":
                        _check_float16(values, track, chrom, first)
                    stored = values.astype(dtype)
                    arr[first : first + len(stored), column] = stored
                    total += float(stored.sum(dtype=np.float64))
                    nonzero += int(np.count_nonzero(stored))
                    if stored.size:
                        peak = max(peak, float(stored.max()))
                arr.flush()
                del arr
            else:
                peak = max(peak, 0.0)
            n_bins += -(-length // bin_size)
            if done is not None:
                done(length)
    finally:
        close()
    return {
        "sum": total,
        "nonzero_fraction": nonzero / max(n_bins, 1),
        "max": peak if np.isfinite(peak) else 0.0,
        "missing": [c for c in files if c not in mine],
        "extra": extra,
    }


def _table_row(row: Mapping[str, Any]) -> str:
    def cell(value):
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.6g}"
        return " ".join(str(value).split())  # no tabs or newlines inside a cell

    return "\t".join(cell(row[k]) for k in TABLE_COLUMNS) + "\n"


def build_target_store(
    genome: GenomeStore | str | Path,
    tracks: str | Path | Sequence[Mapping[str, Any]],
    out: str | Path,
    *,
    bin_size: int,
    dtype: str = "float32",
    progress: bool | None = None,
) -> dict:
    """Bin every track over every chromosome of ``genome`` and write a target store to ``out``.

    Parameters
    ----------
    genome : the genome store (or its folder); its chromosomes, in its order, are binned.
    tracks : a tracks table path or a list of tracks (see :func:`load_tracks`); column
        ``j`` of every array is ``tracks[j]``.
    out : store folder (created; an older store there is replaced).
    bin_size : bases per bin; the last bin of a chromosome may be partial.
    dtype : "float32" or "float16" (values above 65504 are an error, never inf).
    progress : show a progress bar (None: only on a terminal).

    Returns
    -------
    dict, the store's manifest.
    """
    if not isinstance(genome, GenomeStore):
        genome = GenomeStore(genome)
    if not isinstance(bin_size, (int, np.integer)) or bin_size < 1:
        raise ValueError(f"bin_size must be a positive integer, not {bin_size!r}")
    bin_size = int(bin_size)
    if str(dtype) not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    dtype = str(dtype)
    tracks = load_tracks(tracks)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_bins = {c: -(-length // bin_size) for c, length in genome.sizes.items()}
    with contextlib.ExitStack() as stack:
        files: dict[str, tuple[str, int]] = {}
        for chrom, length in genome.sizes.items():
            tmp = stack.enter_context(atomic_path(out / f"{chrom}.npy"))
            arr = new_npy_memmap(tmp, dtype=dtype, shape=(n_bins[chrom], len(tracks)))
            del arr  # a new file is all zeros: chromosomes a track lacks stay 0
            files[chrom] = (str(tmp), length)
        total = sum(genome.sizes.values()) * len(tracks)
        disable = None if progress is None else not progress
        with tqdm(total=total, unit="bp", unit_scale=True, desc="targets", disable=disable) as bar:
            stats = [
                _fill_track(i, track, files, bin_size=bin_size, dtype=dtype, done=bar.update)
                for i, track in enumerate(tracks)
            ]
        # every track is binned: only now does the older store stop being trusted, as the
        # new arrays are renamed into place (bad input above leaves it as it was)
        invalidate_store(out)
    rows = []
    for i, (track, st) in enumerate(zip(tracks, stats, strict=True)):
        if st["missing"]:
            log.warning(
                "track %r (%s) has no data for %d genome chromosome(s), left as zeros: %s",
                track["name"],
                track["path"],
                len(st["missing"]),
                few(st["missing"], 10),
            )
        if st["extra"]:
            log.debug(
                "track %r: chromosome(s) not in the genome store, ignored: %s",
                track["name"],
                few(st["extra"], 10),
            )
        rows.append(
            {
                "index": i,
                **track,
                "fingerprint": fingerprint(track["path"]),
                "sum": st["sum"],
                "nonzero_fraction": st["nonzero_fraction"],
                "max": st["max"],
            }
        )
    header = "\t".join(TABLE_COLUMNS) + "\n"
    atomic_write_text(out / "tracks.tsv", header + "".join(map(_table_row, rows)))
    manifest = write_manifest(
        out,
        kind=KIND,
        format_version=FORMAT_VERSION,
        params={"bin_size": bin_size, "dtype": dtype},
        inputs={
            "genome": {"path": str(genome.path), "digest": genome.digest},
            "tracks": [
                {"name": r["name"], "path": r["path"], "fingerprint": r["fingerprint"]}
                for r in rows
            ],
        },
        files=[f"{c}.npy" for c in genome.chroms] + ["tracks.tsv"],
        extra={"chroms": n_bins, "tracks": rows},
    )
    log.info(
        "target store %s: %d tracks x %d chromosomes, %d bins of %d bp",
        out,
        len(tracks),
        len(n_bins),
        sum(n_bins.values()),
        bin_size,
    )
    return manifest


class TargetStore(ChromStore):
    """Read access to a target store; arrays are memory-mapped and opened on first use.

    Safe to hand to DataLoader workers: each process opens its own memory maps.

    Parameters
    ----------
    path : the store folder written by :func:`build_target_store`.
    """

    KIND, FORMAT_VERSION, COMMAND, LABEL = KIND, FORMAT_VERSION, COMMAND, "target"

    def __init__(self, path: str | Path):
        super().__init__(path)
        self.n_bins: dict[str, int] = dict(self.manifest["chroms"])
        self.tracks: list[dict] = [dict(t) for t in self.manifest["tracks"]]

    @property
    def names(self) -> list[str]:
        return [t["name"] for t in self.tracks]

    @property
    def n_tracks(self) -> int:
        return len(self.tracks)

    @property
    def track_kinds(self) -> list[str]:
        """ "coverage" or "peaks" per track, in column order."""
        return [t["kind"] for t in self.tracks]

    @property
    def bin_size(self) -> int:
        return int(self.manifest["params"]["bin_size"])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.manifest["params"]["dtype"])

    @property
    def genome_digest(self) -> str:
        """Digest of the genome store the targets were binned for."""
        return self.manifest["inputs"]["genome"]["digest"]

    def check_genome(self, genome: GenomeStore) -> None:
        """Raise :class:`StoreError` (a ValueError) unless built from this ``genome`` store."""
        if genome.digest != self.genome_digest:
            built = self.manifest["inputs"]["genome"]["path"]
            raise StoreError(
                f"{self.path}: the target store was built from another genome store "
                f"({built}, digest {self.genome_digest}) than {genome.path} (digest "
                f"{genome.digest}); rerun `{COMMAND}` with this genome store"
            )

    def bins(self, chrom: str) -> np.ndarray:
        """The whole chromosome as a read-only memory map, shape (n_bins, t), store dtype."""
        return self.array(chrom)

    def fetch(self, chrom: str, start_bin: int, end_bin: int) -> np.ndarray:
        """Bins ``[start_bin, end_bin)``; bins past either end of the chromosome are 0.

        Returns
        -------
        np.ndarray, shape (end_bin - start_bin, t), float32 (a new array, safe to modify).
        """
        return self._slice(chrom, start_bin, end_bin, fill=0.0, dtype=np.float32)
