"""Genome store: a FASTA read once into one memory-mapped ``uint8`` code array per chromosome.

Layout of a store folder::

    <chrom>.npy      codes, shape (length,), uint8, A=0 C=1 G=2 T=3 N=4
    chrom.sizes      "<chrom>\\t<length>" lines, FASTA order
    manifest.json    written last; see :mod:`genomics.io.manifest`

:func:`build_genome_store` writes it; :class:`GenomeStore` reads it without loading more
than the bases asked for.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyfaidx
from tqdm.auto import tqdm

from genomics.data.chroms import ChromAliases
from genomics.data.encoding import N_CODE, encode, invalid_positions, one_hot
from genomics.data.store import ChromStore
from genomics.io import (
    atomic_write_text,
    fingerprint,
    invalidate_store,
    new_npy_memmap,
    write_manifest,
)

__all__ = ["GenomeStore", "build_genome_store"]

log = logging.getLogger(__name__)

KIND = "genome"
FORMAT_VERSION = 1
COMMAND = "genomics genome"
_CHUNK = 1 << 24  # bases read from the FASTA at a time: memory stays flat per chromosome


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _decompress(path: Path, workdir: Path) -> Path:
    """gzip or bgzip FASTA -> plain FASTA in ``workdir`` (pyfaidx reads bgzip only with
    biopython, and plain gzip not at all)."""
    plain = workdir / "genome.fa"
    log.info("decompressing %s", path)
    try:
        with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst, length=_CHUNK)
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable gzip/bgzip FASTA ({e})") from None
    return plain


def _open_fasta(path: Path, workdir: Path) -> pyfaidx.Fasta:
    """Open with pyfaidx; build the ``.fai`` in ``workdir`` when it is missing and the
    FASTA's own folder is not writable."""
    if path.suffix in (".gz", ".bgz") and not _is_gzip(path):
        raise ValueError(
            f"{path}: the name ends in {path.suffix} but the file is not compressed; "
            f"rename it without {path.suffix} (or compress it with bgzip)"
        )
    fai = Path(f"{path}.fai")
    indexname = None
    if not fai.is_file() and not os.access(path.parent, os.W_OK):
        indexname = str(workdir / "genome.fa.fai")
    try:
        return pyfaidx.Fasta(
            str(path), indexname=indexname, as_raw=True, sequence_always_upper=False
        )
    except ValueError as e:  # pyfaidx: 'Duplicate key "chr1"'
        raise ValueError(f"{path}: {e}: every sequence name must be unique") from None
    except (pyfaidx.FastaIndexingError, pyfaidx.IndexNotFoundError, OSError) as e:
        raise ValueError(
            f"{path}: cannot index this FASTA ({e}); check that it is a FASTA with "
            "lines of equal length per record, or index it with `samtools faidx`"
        ) from None


def _select(names: Sequence[str], lengths: dict[str, int], chroms, min_length, fasta) -> list:
    if chroms is None:
        keep = list(names)
    else:
        aliases = ChromAliases(names)
        keep = []
        for want in chroms:
            got = aliases.resolve(want)
            if got is None:
                shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
                raise ValueError(
                    f"genome.chroms: {want!r} is not in {fasta} (it has {shown}); "
                    "fix the name or leave genome.chroms null"
                )
            keep.append(got)
    keep = [c for c in keep if lengths[c] >= min_length]
    if not keep:
        raise ValueError(f"{fasta}: no sequence is left after genome.chroms/min_length")
    return keep


def _write_chrom(fasta: pyfaidx.Fasta, chrom: str, length: int, path: Path, bar) -> float:
    """Stream one chromosome into the ``.npy`` file ``path``; return its N fraction."""
    n_count = 0
    codes = new_npy_memmap(path, dtype=np.uint8, shape=(length,))
    for start in range(0, length, _CHUNK):
        end = min(start + _CHUNK, length)
        chunk = encode(fasta[chrom][start:end])
        bad = invalid_positions(chunk)
        if bad.size:
            pos = start + int(bad[0])
            raise ValueError(
                f"{fasta.filename}: sequence {chrom!r} has a character that is not a "
                f"base or IUPAC code at position {pos + 1} (1-based)"
            )
        codes[start:end] = chunk
        n_count += int(np.count_nonzero(chunk == N_CODE))
        bar.update(end - start)
    codes.flush()
    del codes
    return n_count / max(length, 1)


def build_genome_store(
    fasta: str | Path,
    out: str | Path,
    *,
    chroms: Sequence[str] | None = None,
    min_length: int = 0,
    progress: bool | None = None,
) -> dict:
    """Read ``fasta`` once and write a genome store to ``out``.

    Parameters
    ----------
    fasta : plain, gzip or bgzip FASTA; upper/lower case; IUPAC ambiguity codes become N.
    out : store folder (created; an older store there is replaced).
    chroms : names or aliases to keep, in that order; None keeps all, in FASTA order.
    min_length : leave out sequences shorter than this (bp).
    progress : show a progress bar (None: only on a terminal).

    Returns
    -------
    dict, the store's manifest.
    """
    fasta, out = Path(fasta), Path(out)
    if fasta.is_dir():
        raise ValueError(f"genome.fasta: {fasta} is a folder; give the FASTA file in it")
    if not fasta.is_file():
        raise FileNotFoundError(f"FASTA {fasta} does not exist; set genome.fasta in the config")
    out.mkdir(parents=True, exist_ok=True)
    # Everything is built in a scratch folder inside ``out`` and renamed into place only
    # once all of it is good: bad input leaves an older store there as it was.
    with tempfile.TemporaryDirectory(dir=out, prefix=".build-") as work:
        work = Path(work)
        source = _decompress(fasta, work) if _is_gzip(fasta) else fasta
        fa = _open_fasta(source, work)
        names = list(fa.keys())
        if not names:
            raise ValueError(f"{fasta}: no sequences (is it a FASTA?)")
        lengths = {name: len(fa[name]) for name in names}
        keep = _select(names, lengths, chroms, min_length, fasta)
        total = sum(lengths[c] for c in keep)
        n_fraction = {}
        disable = None if progress is None else not progress
        with tqdm(total=total, unit="bp", unit_scale=True, desc="genome", disable=disable) as bar:
            for chrom in keep:
                path = work / f"{chrom}.npy"
                n_fraction[chrom] = round(_write_chrom(fa, chrom, lengths[chrom], path, bar), 6)
        fa.close()
        invalidate_store(out)
        for chrom in keep:
            os.replace(work / f"{chrom}.npy", out / f"{chrom}.npy")
    atomic_write_text(out / "chrom.sizes", "".join(f"{c}\t{lengths[c]}\n" for c in keep))
    manifest = write_manifest(
        out,
        kind=KIND,
        format_version=FORMAT_VERSION,
        params={"chroms": list(chroms) if chroms else None, "min_length": min_length},
        inputs={"fasta": {"path": str(fasta), "fingerprint": fingerprint(fasta)}},
        files=[f"{c}.npy" for c in keep] + ["chrom.sizes"],
        extra={"chroms": {c: lengths[c] for c in keep}, "n_fraction": n_fraction},
    )
    log.info("genome store %s: %d sequences, %d bp", out, len(keep), total)
    return manifest


class GenomeStore(ChromStore):
    """Read access to a genome store; arrays are memory-mapped and opened on first use.

    Safe to hand to DataLoader workers: each process opens its own memory maps.

    Parameters
    ----------
    path : the store folder written by :func:`build_genome_store`.
    """

    KIND, FORMAT_VERSION, COMMAND = KIND, FORMAT_VERSION, COMMAND

    def __init__(self, path: str | Path):
        super().__init__(path)
        self.sizes: dict[str, int] = dict(self.manifest["chroms"])

    def codes(self, chrom: str) -> np.ndarray:
        """The whole chromosome as a read-only memory map, shape (length,), uint8."""
        return self.array(chrom)

    def fetch(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Codes of ``[start, end)``; positions past either end of the chromosome are N.

        Returns
        -------
        np.ndarray, shape (end - start,), uint8 (a new array, safe to modify).
        """
        return self._slice(chrom, start, end, fill=N_CODE, dtype=np.uint8)

    def one_hot(self, chrom: str, start: int, end: int) -> np.ndarray:
        """One-hot of ``[start, end)``, shape (4, end - start), float32, N padding as zeros."""
        return one_hot(self.fetch(chrom, start, end))
