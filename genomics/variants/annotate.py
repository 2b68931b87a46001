"""The input VCF with the scores added as INFO fields: ``annotated.vcf.gz`` of
``genomics score-variants --annotated-vcf``.

Every input record is written, in input order, unchanged but for its INFO column, to
which these fields are added (one value per ALT allele, ``Number=A``; each declared by a
``##INFO`` line naming its track and statistic):

==================  =======  =========================================================
field               type     value per ALT
==================  =======  =========================================================
``SAD_<track>``     Float    coverage track: sum over the scored bins of alt - ref
``LOG2FC_<track>``  Float    coverage track: log2((sum alt + c) / (sum ref + c))
``LOGODDS_<track>`` Float    peak track: alt - ref logit at the variant's bin
``CLASS_<class>``   Float    with a class folder: alt - ref class score
``NOT_SCORED``      String   why the ALT was not scored (``.`` for a scored one)
==================  =======  =========================================================

The values are the strings of ``scores.tsv.gz`` (6 significant digits). An ALT that was
not scored has ``.`` in every score field and its reason in ``NOT_SCORED`` (a code of
:data:`REASON_CODES`); a field missing for every ALT of a record is left out, and so is
``NOT_SCORED`` when every ALT was scored. A record without an ALT (``.``) is written
unchanged. :func:`info_key` turns a track or class name into a valid INFO key (VCF 4.3:
letters, digits, ``_`` and ``.``): each run of other characters becomes one ``_``.

The records are fed in the order :func:`~genomics.variants.vcf.iter_alleles` yields their
alleles (:meth:`AnnotatedVcf.expect` for an allele to be scored, :meth:`~AnnotatedVcf.skip`
for one left out, :meth:`~AnnotatedVcf.scored` with the scores of the oldest expected
alleles); a record is written as soon as all its ALTs are settled, so what is held is the
records since the oldest allele awaiting scores (:attr:`AnnotatedVcf.backlog`).
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from genomics.variants.vcf import (
    BREAKEND,
    MISSING,
    NO_CHROM,
    NOT_BASES,
    OUTSIDE,
    PAST_END,
    REF_MISMATCH,
    REF_MISMATCH_CONTEXT,
    SYMBOLIC,
    TOO_LONG,
    Allele,
    Reject,
    one_based,
)

__all__ = ["NOT_SAMPLED", "REASON_CODES", "AnnotatedVcf", "info_fields", "info_key"]

log = logging.getLogger(__name__)

NOT_SAMPLED = "not sampled"  # variants.fraction left the allele out
SKIP_KEY = "NOT_SCORED"
# reason (before any " (...)" detail) -> NOT_SCORED code; others: info_key(reason).lower()
REASON_CODES = {
    SYMBOLIC: "symbolic",
    BREAKEND: "breakend",
    MISSING: "missing_or_star",
    NOT_BASES: "not_bases",
    NO_CHROM: "no_chrom",
    PAST_END: "past_end",
    REF_MISMATCH: "ref_mismatch",
    OUTSIDE: "outside_context",
    REF_MISMATCH_CONTEXT: "ref_mismatch_context",
    TOO_LONG: "too_long",
    NOT_SAMPLED: "not_sampled",
}
# statistic -> (INFO key prefix, what it is); the TSV's other statistics stay out
_STATS = {
    "sad": ("SAD", "SAD, sum over the scored bins of alt - ref predicted {kind} signal"),
    "log2fc": ("LOG2FC", "log2 fold change of the summed predicted {kind} signal, alt over ref"),
    "logodds": ("LOGODDS", "alt - ref predicted {kind} logit at the variant's bin"),
    "class": ("CLASS", "alt - ref class score at the variant's bin"),
}


def info_key(name: str) -> str:
    """``name`` as the tail of an INFO key: each run of characters other than letters,
    digits, ``_`` and ``.`` becomes one ``_`` (``"K562 DNase-seq"`` -> ``"K562_DNase_seq"``)."""
    return re.sub(r"[^A-Za-z0-9_.]+", "_", name)


def _reason_code(reason: str) -> str:
    base = reason.split(" (")[0]
    return REASON_CODES.get(base) or info_key(base).strip("_").lower()


def info_fields(columns: Sequence[tuple[str, int, str]], names: dict[str, list[str]]):
    """``(INFO key, TSV column position, description)`` of each score field.

    Parameters
    ----------
    columns : :func:`~genomics.variants.run.score_columns` (TSV column, index, statistic).
    names : ``{"tracks": [...], "kinds": [...], "classes": [...]}``, the names the indices
        of ``columns`` point into.

    Raises
    ------
    ValueError : two names that become one key.
    """
    fields, seen = [], {}
    for pos, (column, i, stat) in enumerate(columns):
        if stat not in _STATS:
            continue
        prefix, what = _STATS[stat]
        if stat == "class":
            name, thing = names["classes"][i], "class"
        else:
            name, thing = names["tracks"][i], f"{names['kinds'][i]} track"
            what = what.format(kind=names["kinds"][i])
        key = f"{prefix}_{info_key(name)}"
        if key in seen:
            raise ValueError(
                f"the names {seen[key]!r} and {name!r} both become the INFO key {key} "
                "(runs of characters other than letters, digits, _ and . become _); rename one"
            )
        seen[key] = name
        text = f"{what}, {thing} '{name}' (score column {column})"
        fields.append((key, pos, text.replace("\\", "/").replace('"', "'")))
    return fields


class _Entry:
    """A record waiting to be written: its columns, and per ALT the score cells or the
    reason it was not scored; ``left`` of its outcomes are still to settle."""

    __slots__ = ("cols", "n_alts", "values", "reasons", "left")

    def __init__(self, cols: list[str], n_alts: int, n: int):
        self.cols, self.n_alts, self.left = cols, n_alts, n
        self.values: list[list[str] | None] = [None] * n
        self.reasons: list[str | None] = [None] * n


class AnnotatedVcf:
    """Writes the records of ``vcf`` with score INFO fields to ``path`` (bgzipped), fed one
    outcome per allele in :func:`~genomics.variants.vcf.iter_alleles`' order (module
    docstring). A context manager; :meth:`finish` checks that every record was written.

    Parameters
    ----------
    vcf : the input VCF (plain, bgzipped or BCF).
    path : where to write (a temporary name; the caller renames it).
    fields : :func:`info_fields`.

    Raises
    ------
    ValueError : the input already declares one of the fields.
    """

    def __init__(self, vcf: str | Path, path: str | Path, fields):
        import pysam

        self.fields, self._vcf = fields, vcf
        self._keys = {k for k, _, _ in fields} | {SKIP_KEY}
        pysam.set_verbosity(0)  # as read_vcf_records: no warnings for undeclared contigs
        try:
            self._reader = pysam.VariantFile(str(vcf))
        except (ValueError, OSError) as e:
            raise ValueError(f"{vcf}: not a VCF or BCF ({str(e).splitlines()[0]})") from None
        header = self._reader.header
        taken = [k for k in [*(k for k, _, _ in fields), SKIP_KEY] if k in header.info]
        if taken:
            self._reader.close()
            raise ValueError(
                f"{vcf} already has the INFO field(s) {', '.join(taken)} (scored before?); "
                "remove them (bcftools annotate -x) or leave out --annotated-vcf"
            )
        codes = ", ".join(REASON_CODES.values())
        lines = str(header).splitlines()
        lines[-1:-1] = [
            f'##INFO=<ID={k},Number=A,Type=Float,Description="{d}">' for k, _, d in fields
        ] + [
            f'##INFO=<ID={SKIP_KEY},Number=A,Type=String,Description="Why genomics '
            f'score-variants did not score the ALT ({codes}); . for a scored ALT">'
        ]
        self._records = iter(self._reader)
        self._out = pysam.BGZFile(str(path), "wb")
        self._out.write(("\n".join(lines) + "\n").encode())
        self._queue: deque[_Entry] = deque()  # records not yet written, in input order
        self._pending: deque[tuple[_Entry, int]] = deque()  # ALTs awaiting scores
        self._next = 0  # outcomes of the newest record assigned so far
        self.sorted = True  # the records so far sorted as tabix needs them
        self._chrom, self._pos, self._chroms = None, 0, set()

    def __enter__(self) -> AnnotatedVcf:
        return self

    def __exit__(self, *exc) -> None:
        self._out.close()
        self._reader.close()

    @property
    def backlog(self) -> int:
        """Records held, waiting for the scores of an earlier allele."""
        return len(self._queue)

    def _slot(self, item: Allele | Reject) -> tuple[_Entry, int]:
        """(record, ALT index) of ``item``: the next ALT of the newest record, or the first
        of the next input record."""
        if not self._queue or self._next == len(self._queue[-1].values):
            rec = next(self._records)
            cols = str(rec).rstrip("\n").split("\t")
            self._queue.append(_Entry(cols, len(rec.alts or ()), len(rec.alts or (None,))))
            self._next = 0
            self._see(rec.chrom, rec.pos)
        entry = self._queue[-1]
        chrom = item.vcf_chrom if isinstance(item, Allele) else item.chrom
        assert (entry.cols[0], entry.cols[1]) == (chrom, str(one_based(item.pos))), item
        self._next += 1
        return entry, self._next - 1

    def _see(self, chrom: str, pos: int) -> None:
        """Track sortedness: each contig in one block, positions not decreasing."""
        if chrom != self._chrom:
            self.sorted &= chrom not in self._chroms
            self._chroms.add(chrom)
            self._chrom = chrom
        elif pos < self._pos:
            self.sorted = False
        self._pos = pos

    def expect(self, allele: Allele) -> None:
        """``allele`` will be scored: its record waits for :meth:`scored`."""
        self._pending.append(self._slot(allele))

    def skip(self, item: Allele | Reject, reason: str) -> None:
        """``item`` is not scored, for ``reason``."""
        entry, i = self._slot(item)
        entry.reasons[i] = _reason_code(reason)
        entry.left -= 1
        self._flush()

    def scored(self, cells: Sequence[str]) -> None:
        """The TSV cells (score columns only) of the oldest allele awaiting scores."""
        entry, i = self._pending.popleft()
        entry.values[i] = [cells[pos] for _, pos, _ in self.fields]
        entry.left -= 1
        self._flush()

    def _flush(self) -> None:
        """Write the settled records at the front of the queue."""
        while self._queue and self._queue[0].left == 0:
            self._out.write(("\t".join(self._annotated(self._queue.popleft())) + "\n").encode())

    def _annotated(self, e: _Entry) -> list[str]:
        """The record's columns with the fields added to INFO."""
        if e.n_alts == 0:  # ALT '.': no per-ALT value to give
            return e.cols
        add = []
        if any(v is not None for v in e.values):
            for j, (key, _, _) in enumerate(self.fields):
                add.append(f"{key}={','.join('.' if v is None else v[j] for v in e.values)}")
        if any(r is not None for r in e.reasons):
            add.append(f"{SKIP_KEY}={','.join(r or '.' for r in e.reasons)}")
        if not add:  # no score field (no track chosen) and every ALT scored
            return e.cols
        cols = list(e.cols)
        clash = sorted({f.split("=", 1)[0] for f in cols[7].split(";")} & self._keys)
        if clash:  # in INFO but not declared in the header (the header check missed it)
            raise ValueError(
                f"{self._vcf}: the record at {cols[0]}:{cols[1]} already has the INFO "
                f"field(s) {', '.join(clash)} (scored before?); remove them (bcftools "
                "annotate -x) or leave out --annotated-vcf"
            )
        cols[7] = ";".join(add) if cols[7] == "." else ";".join([cols[7], *add])
        return cols

    def finish(self) -> None:
        """Close the file, every record written (each had all its outcomes)."""
        assert not self._pending and not self._queue, "alleles left unsettled"
        assert next(self._records, None) is None, "input records without an outcome"
        self._out.close()

    def index(self, path: Path, index: Path) -> bool:
        """Tabix-index the finished file at ``path`` into ``index`` when its records came
        sorted; False when not indexed."""
        import pysam

        if not self.sorted:
            log.info("annotated VCF not indexed: the input is not sorted")
            return False
        try:
            pysam.tabix_index(str(path), preset="vcf", force=True, index=str(index))
        except (OSError, ValueError) as e:  # e.g. a contig longer than tabix's 512 Mbp
            log.warning("annotated VCF not indexed: %s", str(e).splitlines()[0])
            index.unlink(missing_ok=True)
            return False
        return True
