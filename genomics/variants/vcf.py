"""VCF records -> alleles to score, with a counted reason for every allele left out.

A record with several ALT alleles becomes one :class:`Allele` per ALT. Symbolic alleles
(``<DEL>``, ``<INS:ME>``), breakends (``G]chr2:5]``), the spanning deletion ``*`` and a
missing ALT ``.`` are skipped; so are alleles on chromosomes the genome store lacks, past
a chromosome's end, or whose REF differs from the genome (``strict``: an error instead).
Each skipped allele is a :class:`Reject` with its reason.

VCF's 1-based ``POS`` becomes the package's 0-based position in :func:`zero_based`, and
nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genomics.data.encoding import N_CODE, encode

__all__ = ["Allele", "Reject", "iter_alleles", "one_based", "zero_based"]

_BASES = re.compile(r"^[ACGTNacgtn]+$")
# reasons, as counted in the log and written to rejects.tsv
SYMBOLIC = "symbolic allele"
BREAKEND = "breakend"
MISSING = "missing or spanning-deletion ALT"
NOT_BASES = "allele is not bases (ACGTN)"
NO_CHROM = "chromosome not in the genome store"
PAST_END = "past the chromosome's end"
REF_MISMATCH = "REF does not match the genome"


def zero_based(pos: int) -> int:
    """VCF ``POS`` (1-based) -> 0-based position: the one place this conversion happens."""
    return int(pos) - 1


def one_based(pos: int) -> int:
    """0-based position -> VCF ``POS`` (what output tables show)."""
    return int(pos) + 1


@dataclass(frozen=True)
class Allele:
    """One ALT allele of a VCF record, checked against the genome.

    ``chrom`` is the genome store's name (aliases resolved), ``vcf_chrom`` the VCF's;
    ``pos`` is 0-based: ``ref`` replaces bases ``[pos, pos + len(ref))`` with ``alt``.
    """

    id: str
    vcf_chrom: str
    chrom: str
    pos: int
    ref: str
    alt: str


@dataclass(frozen=True)
class Reject:
    """An allele left out, and why."""

    id: str
    chrom: str
    pos: int  # 0-based
    ref: str
    alt: str
    reason: str


def _alt_reason(alt: str | None) -> str | None:
    if alt is None or alt in (".", "*"):
        return MISSING
    if alt.startswith("<"):
        return SYMBOLIC
    if "[" in alt or "]" in alt or alt.startswith(".") or alt.endswith("."):
        return BREAKEND
    if not _BASES.match(alt):
        return NOT_BASES
    return None


def _open(path: Path):
    import pysam

    if not path.is_file():
        raise FileNotFoundError(f"VCF {path} does not exist")
    pysam.set_verbosity(0)  # htslib's warnings (contigs missing from the header) to nothing
    try:
        return pysam.VariantFile(str(path))
    except (ValueError, OSError) as e:
        raise ValueError(f"{path}: not a VCF or BCF ({str(e).splitlines()[0]})") from None


def iter_alleles(path: str | Path, genome, *, strict: bool = False) -> Iterator[Allele | Reject]:
    """Every ALT allele of the VCF at ``path``, in file order, checked against ``genome``.

    Parameters
    ----------
    path : VCF, plain or bgzipped (or BCF), read with pysam.
    genome : a :class:`~genomics.data.genome.GenomeStore`.
    strict : a REF that differs from the genome raises instead of being rejected.

    Yields
    ------
    Allele to score, or Reject (with its reason).

    Raises
    ------
    ValueError : not a VCF; a damaged record; with ``strict``, the first REF mismatch.
    """
    path = Path(path)
    vcf = _open(path)
    chroms: dict[str, str | None] = {}
    try:
        for k, rec in enumerate(vcf, start=1):
            vcf_chrom, pos = rec.chrom, zero_based(rec.pos)
            ref, vid = rec.ref or "", rec.id or f"{vcf_chrom}:{rec.pos}"
            alts = rec.alts or (None,)
            if vcf_chrom not in chroms:
                chroms[vcf_chrom] = genome.aliases.resolve(vcf_chrom)
            chrom = chroms[vcf_chrom]
            for alt in alts:
                reason = _alt_reason(alt) or (None if _BASES.match(ref) else NOT_BASES)
                if reason is None and chrom is None:
                    reason = NO_CHROM
                if reason is None and pos + len(ref) > genome.sizes[chrom]:
                    reason = PAST_END
                if reason is None:
                    have = genome.fetch(chrom, pos, pos + len(ref))
                    want = encode(ref)
                    bad = (have != want) & (have != N_CODE) & (want != N_CODE)
                    if bad.any():
                        shown = "".join("ACGTN"[c] for c in have)
                        msg = (
                            f"{path} record {k} ({vid}): REF {ref!r} does not match genome "
                            f"{shown!r} at {vcf_chrom}:{rec.pos}"
                        )
                        if strict:
                            raise ValueError(msg + " (--strict)")
                        reason = f"{REF_MISMATCH} ({shown})"
                if reason is None:
                    yield Allele(vid, vcf_chrom, chrom, pos, ref.upper(), alt.upper())
                else:
                    yield Reject(vid, vcf_chrom, pos, ref, alt or ".", reason)
    except (ValueError, OSError) as e:
        if "does not match genome" in str(e):
            raise
        raise ValueError(f"{path}: cannot read the VCF ({str(e).splitlines()[0]})") from None
    finally:
        vcf.close()


def edited(codes: np.ndarray, offset: int, ref_len: int, alt: str) -> np.ndarray:
    """``codes`` with ``ref_len`` bases at ``offset`` replaced by ``alt`` (any length)."""
    return np.concatenate([codes[:offset], encode(alt), codes[offset + ref_len :]])
