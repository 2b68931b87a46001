"""Variant lists (a VCF or a table) -> alleles to score, with a reason for every allele
left out.

Two inputs, told apart by their content (:func:`variant_format`):

- a VCF (plain, bgzipped or BCF, read with pysam);
- a table: a TSV (plain or gzipped) whose header names at least ``chrom``, ``pos``
  (1-based, as in a VCF), ``ref`` and ``alt`` (any case, a leading ``#`` allowed), e.g. the
  CAGI5 saturation-mutagenesis table; an ``id`` (or ``name``, ``variant_id``, ``rsid``)
  column is used when present, other columns are ignored. A row that is not a variant
  (wrong field count, a position that is not a whole number >= 1) is an error naming the
  file and line.

A record with several ALT alleles (comma-separated in a table too) becomes one
:class:`Allele` per ALT. Symbolic alleles (``<DEL>``, ``<INS:ME>``), breakends
(``G]chr2:5]``), the spanning deletion ``*`` and a missing ALT ``.`` are skipped; so are
alleles on chromosomes the genome store lacks, past a chromosome's end, or whose REF differs
from the genome (``strict``: an error instead). With a
:class:`~genomics.variants.context.Context` the alleles are checked against its records
instead of the genome: one outside every record is skipped, and the REF is compared with
the record's sequence. Each skipped allele is a :class:`Reject` with its reason.

The 1-based ``POS`` becomes the package's 0-based position in :func:`zero_based`, and
nowhere else.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genomics.data.encoding import N_CODE, encode

__all__ = [
    "Allele",
    "Reject",
    "iter_alleles",
    "one_based",
    "read_table_records",
    "read_vcf_records",
    "variant_format",
    "zero_based",
]

_BASES = re.compile(r"^[ACGTNacgtn]+$")
# reasons, as counted in the log and written to rejects.tsv
SYMBOLIC = "symbolic allele"
BREAKEND = "breakend"
MISSING = "missing or spanning-deletion ALT"
NOT_BASES = "allele is not bases (ACGTN)"
NO_CHROM = "chromosome not in the genome store"
PAST_END = "past the chromosome's end"
REF_MISMATCH = "REF does not match the genome"
OUTSIDE = "outside every context record"
REF_MISMATCH_CONTEXT = "REF does not match the context record"
TOO_LONG = "allele longer than a quarter of the model's window"  # given by the scorer

TABLE_COLUMNS = ("chrom", "pos", "ref", "alt")
_ID_COLUMNS = ("id", "name", "variant_id", "rsid")


def zero_based(pos: int) -> int:
    """VCF ``POS`` (1-based) -> 0-based position: the one place this conversion happens."""
    return int(pos) - 1


def one_based(pos: int) -> int:
    """0-based position -> VCF ``POS`` (what output tables show)."""
    return int(pos) + 1


@dataclass(frozen=True)
class Allele:
    """One ALT allele of a record, checked against the genome (or a context record).

    ``chrom`` is the genome store's name (aliases resolved; in context mode the record's
    chromosome), ``vcf_chrom`` the input's; ``pos`` is 0-based: ``ref`` replaces bases
    ``[pos, pos + len(ref))`` with ``alt``. ``record`` names the context record the allele
    is scored in (None: the genome).
    """

    id: str
    vcf_chrom: str
    chrom: str
    pos: int
    ref: str
    alt: str
    record: str | None = None


@dataclass(frozen=True)
class Reject:
    """An allele left out, and why."""

    id: str
    chrom: str
    pos: int  # 0-based
    ref: str
    alt: str
    reason: str


@dataclass(frozen=True)
class _Record:
    """One input record: ``where`` names it in messages (``record 3``, ``line 4``)."""

    where: str
    id: str
    chrom: str
    pos: int  # 0-based
    ref: str
    alts: tuple[str | None, ...]


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


def _head_text(path: Path, n: int = 65536) -> bytes:
    """The first ``n`` bytes of ``path``, decompressed when it is gzip (or bgzip)."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read(n)
        except (OSError, EOFError):
            return b""
    with open(path, "rb") as fh:
        return fh.read(n)


def variant_format(path: str | Path) -> str:
    """``"vcf"`` or ``"table"``: what the file at ``path`` holds, from its content.

    A VCF starts with ``##fileformat=VCF`` (a BCF with its magic); a table's header names
    chrom, pos, ref and alt (``#CHROM POS ID REF ALT`` without the VCF's ``##`` lines is a
    table). Otherwise the extension decides (``.tsv``/``.txt``: a table), and the reader
    then says what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"variant file {path} does not exist")
    head = _head_text(path)
    if head.startswith((b"##fileformat=VCF", b"BCF")):
        return "vcf"
    lines = [ln for ln in head.decode("utf-8", "replace").splitlines() if not ln.startswith("##")]
    if lines and set(TABLE_COLUMNS) <= {
        c.strip().lstrip("#").lower() for c in lines[0].split("\t")
    }:
        return "table"
    suffixes = [s.lower() for s in path.suffixes]
    return "table" if {".tsv", ".txt"} & set(suffixes) else "vcf"


def read_vcf_records(path: str | Path) -> Iterator[_Record]:
    """The records of a VCF (plain, bgzipped or BCF), read with pysam."""
    import pysam

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VCF {path} does not exist")
    pysam.set_verbosity(0)  # htslib's warnings (contigs missing from the header) to nothing
    try:
        vcf = pysam.VariantFile(str(path))
    except (ValueError, OSError) as e:
        raise ValueError(f"{path}: not a VCF or BCF ({str(e).splitlines()[0]})") from None
    try:
        records = iter(vcf)
        k = 0
        while True:
            try:
                rec = next(records)
            except StopIteration:
                return
            except (ValueError, OSError) as e:
                msg = str(e).splitlines()[0]
                raise ValueError(f"{path}: cannot read the VCF ({msg})") from None
            k += 1
            yield _Record(
                f"record {k}",
                rec.id or f"{rec.chrom}:{rec.pos}",
                rec.chrom,
                zero_based(rec.pos),
                rec.ref or "",
                tuple(rec.alts or (None,)),
            )
    finally:
        vcf.close()


def read_table_records(path: str | Path) -> Iterator[_Record]:
    """The rows of a variant table (module docstring), one record per row."""
    path = Path(path)
    with open(path, "rb") as fh:
        opener = gzip.open if fh.read(2) == b"\x1f\x8b" else open
    with opener(path, "rt", newline="") as fh:
        rows = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)  # a row a line
        head, line = None, 0
        for line, row in enumerate(rows, start=1):
            if head is None:
                if row and row[0].startswith("##"):
                    continue
                head = [h.strip().lstrip("#").lower() for h in row]
                missing = [c for c in TABLE_COLUMNS if c not in head]
                if missing:
                    raise ValueError(
                        f"{path} line {line}: the header has no column "
                        f"{', '.join(map(repr, missing))} (it has {', '.join(head[:12])}); a "
                        "variant table needs chrom, pos (1-based), ref and alt"
                    )
                col = {c: head.index(c) for c in TABLE_COLUMNS}
                id_col = next((head.index(c) for c in _ID_COLUMNS if c in head), None)
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(head):
                raise ValueError(
                    f"{path} line {line}: {len(row)} fields, the header has {len(head)}"
                )
            chrom, pos, ref, alt = (row[col[c]].strip() for c in TABLE_COLUMNS)
            try:
                pos1 = int(pos)
            except ValueError:
                pos1 = 0
            if pos1 < 1:
                raise ValueError(
                    f"{path} line {line}: pos {pos!r} is not a 1-based position (a whole "
                    "number >= 1)"
                )
            if not chrom:
                raise ValueError(f"{path} line {line}: empty chrom")
            vid = row[id_col].strip() if id_col is not None else ""
            if vid in ("", "."):
                vid = f"{chrom}:{pos1}:{ref}:{alt}"
            alts = tuple(a.strip() for a in alt.split(",")) if alt else (None,)
            yield _Record(f"line {line}", vid, chrom, zero_based(pos1), ref, alts)
        if head is None:
            raise ValueError(f"{path}: empty variant table (no header line)")


class _OnGenome:
    """Alleles placed on the genome store: its chromosomes (aliases resolved) and bases."""

    what = "genome"
    mismatch = REF_MISMATCH

    def __init__(self, genome):
        self.genome = genome
        self._chroms: dict[str, str | None] = {}

    def locate(
        self, chrom: str, pos: int, length: int
    ) -> tuple[str | None, str | None, str | None]:
        """(genome chromosome, record = None, reason not to score or None)."""
        if chrom not in self._chroms:
            self._chroms[chrom] = self.genome.aliases.resolve(chrom)
        name = self._chroms[chrom]
        if name is None:
            return None, None, NO_CHROM
        if pos + length > self.genome.sizes[name]:
            return name, None, PAST_END
        return name, None, None

    def bases(self, chrom: str, record: str | None, pos: int, length: int) -> np.ndarray:
        return self.genome.fetch(chrom, pos, pos + length)


class _OnContext:
    """Alleles placed in the records of a :class:`~genomics.variants.context.Context`."""

    what = "context record"
    mismatch = REF_MISMATCH_CONTEXT

    def __init__(self, context):
        self.context = context

    def locate(
        self, chrom: str, pos: int, length: int
    ) -> tuple[str | None, str | None, str | None]:
        rec = self.context.locate(chrom, pos, max(length, 1))
        if rec is None:
            return None, None, OUTSIDE
        return rec.chrom, rec.name, None

    def bases(self, chrom: str, record: str | None, pos: int, length: int) -> np.ndarray:
        return self.context.bases(record, pos, pos + length)


def iter_alleles(
    path: str | Path, genome, *, strict: bool = False, context=None
) -> Iterator[Allele | Reject]:
    """Every ALT allele of the VCF or table at ``path``, in file order, checked against
    ``genome`` (or, given ``context``, against its records).

    Parameters
    ----------
    path : VCF (plain, bgzipped or BCF) or variant table (TSV), told apart by
        :func:`variant_format`.
    genome : a :class:`~genomics.data.genome.GenomeStore` (unused with ``context``).
    strict : a REF that differs from the genome (or record) raises instead of being
        rejected.
    context : a :class:`~genomics.variants.context.Context` or None.

    Yields
    ------
    Allele to score, or Reject (with its reason).

    Raises
    ------
    ValueError : not a VCF; a damaged record or table row; with ``strict``, the first REF
    mismatch.
    """
    path = Path(path)
    fmt = variant_format(path)
    records = read_table_records(path) if fmt == "table" else read_vcf_records(path)
    on = _OnGenome(genome) if context is None else _OnContext(context)
    for rec in records:
        for alt in rec.alts:
            reason = _alt_reason(alt) or (None if _BASES.match(rec.ref) else NOT_BASES)
            chrom = record = None
            if reason is None:
                chrom, record, reason = on.locate(rec.chrom, rec.pos, len(rec.ref))
            if reason is None:
                have = on.bases(chrom, record, rec.pos, len(rec.ref))
                want = encode(rec.ref)
                bad = (have != want) & (have != N_CODE) & (want != N_CODE)
                if bad.any():
                    shown = "".join("ACGTN"[c] for c in have)
                    where = on.what if record is None else f"{on.what} {record}"
                    msg = (
                        f"{path} {rec.where} ({rec.id}): REF {rec.ref!r} does not match "
                        f"{where} {shown!r} at {rec.chrom}:{one_based(rec.pos)}"
                    )
                    if strict:
                        raise ValueError(msg + " (--strict)")
                    reason = f"{on.mismatch} ({shown})"
            if reason is None:
                yield Allele(
                    rec.id, rec.chrom, chrom, rec.pos, rec.ref.upper(), alt.upper(), record
                )
            else:
                yield Reject(rec.id, rec.chrom, rec.pos, rec.ref, alt or ".", reason)


def edited(codes: np.ndarray, offset: int, ref_len: int, alt: str) -> np.ndarray:
    """``codes`` with ``ref_len`` bases at ``offset`` replaced by ``alt`` (any length)."""
    return np.concatenate([codes[:offset], encode(alt), codes[offset + ref_len :]])
