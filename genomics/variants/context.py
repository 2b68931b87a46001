"""Short-context mode: variants scored inside short sequences (an MPRA's elements) placed
at the centre of the model's window, the rest of the window filled.

A context FASTA names each record's genomic interval in its header, 1-based inclusive as
in ``cagi5_elements_hg19.fa``: ``>HNF4A chr20:42984159-42984444 ...`` (name, then
interval) or ``>chr20:42984159-42984444`` (the interval is the name). A variant inside a
record (all of its REF within the record) is scored there; one outside every record is
rejected; a variant inside several (overlapping records) is scored in the first, in file
order.

Placement: the record's middle base (``start + len // 2``) sits at the window's centre
(offset ``seq_len // 2``, where genome mode puts the variant), whatever the variant. We
centre the element rather than each variant because

- a reporter assay (MPRA) measures the whole element's activity from one fixed place in
  the construct: every variant of an element should be read in one and the same input,
  differing only at the variant, so the scores of an element's variants are comparable
  with each other (what a per-element Spearman asks of them);
- all variants of a record (and each shift) then share one reference window: one
  reference pass per record, the rest of the passes are the alternates;
- the element stays within the central bins, which the model predicts best. A variant
  lies at most half an element (300 bp for CAGI5) from the centre, a few bins.

``variants.shifts`` moves the window by whole bins as in genome mode; ``window_step``
has no use here (one window per record and shift).

Fill (``variants.context_fill``), everywhere in the window outside the record:

- ``N``: no bases (all-zero one-hot). The model sees the element alone, nothing else can
  carry a signal; but inputs that are ~98% N are unlike anything it was trained on.
- ``shuffle``: copies of the element, each shuffled independently, tiled out: the
  element's base composition, none of its order.
- ``dinuc``: the same with dinucleotide-preserving shuffles (Altschul-Erickson; keeps
  CpG and other dinucleotide frequencies, so the background is not CpG-rich where the
  element is not): realistic-looking sequence of the element's own composition without its
  motifs' arrangement, so the model's input is in distribution while only the element
  carries its grammar.

The fill is fixed per record: drawn once from a generator seeded by the config's ``seed``
and the record's name and interval, so a run reproduces and the reference and alternate
windows of a record differ only at the variant.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genomics.data.chroms import ChromAliases
from genomics.data.encoding import N_CODE, encode, invalid_positions

__all__ = ["FILLS", "Context", "ContextRecord", "dinucleotide_shuffle", "read_context"]

FILLS = ("N", "shuffle", "dinuc")
_INTERVAL = re.compile(r"^(?P<chrom>[^:\s]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)$")


@dataclass(frozen=True)
class ContextRecord:
    """One record of a context FASTA: ``codes`` are the bases of ``[start, end)``
    (0-based half-open) on ``chrom``."""

    name: str
    chrom: str
    start: int
    end: int
    codes: np.ndarray  # shape (end - start,), uint8

    @property
    def middle(self) -> int:
        """The 0-based genomic position placed at the window's centre."""
        return self.start + (self.end - self.start) // 2


def _interval(token: str) -> tuple[str, int, int] | None:
    """``chrom:start-end`` (1-based inclusive) -> (chrom, 0-based start, end), or None."""
    m = _INTERVAL.match(token)
    if m is None:
        return None
    start, end = (int(m[k].replace(",", "")) for k in ("start", "end"))
    return m["chrom"], start - 1, end


def _parse_header(path: Path, line: int, header: str) -> tuple[str, str, int, int]:
    tokens = header.split()
    if not tokens:
        raise ValueError(f"{path} line {line}: empty FASTA header")
    for name, token in ((tokens[0], tokens[0]), (tokens[0], tokens[1] if len(tokens) > 1 else "")):
        got = _interval(token)
        if got is not None:
            chrom, start, end = got
            if start < 0 or end <= start:
                raise ValueError(
                    f"{path} line {line}: interval {token!r} is empty or starts before 1"
                )
            return name, chrom, start, end
    raise ValueError(
        f"{path} line {line}: header {header[:60]!r} names no interval; a context record's "
        "header is '>name chrom:start-end' or '>chrom:start-end' (1-based, inclusive)"
    )


def read_context(path: str | Path) -> list[ContextRecord]:
    """The records of a context FASTA (plain or gzipped), in file order.

    Raises
    ------
    ValueError : a header without an interval, a sequence whose length differs from its
        interval's, a character that is not a base, two records of one name, no record.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"context FASTA {path} does not exist")
    with open(path, "rb") as fh:
        opener = gzip.open if fh.read(2) == b"\x1f\x8b" else open
    heads: list[tuple[int, str]] = []
    seqs: list[list[str]] = []
    with opener(path, "rt") as fh:
        for line, text in enumerate(fh, start=1):
            text = text.strip()
            if text.startswith(">"):
                heads.append((line, text[1:]))
                seqs.append([])
            elif text:
                if not heads:
                    raise ValueError(f"{path} line {line}: sequence before the first '>' header")
                seqs[-1].append(text)
    if not heads:
        raise ValueError(f"{path}: no FASTA record (a '>name chrom:start-end' header)")
    records, names = [], set()
    for (line, header), parts in zip(heads, seqs, strict=True):
        name, chrom, start, end = _parse_header(path, line, header)
        seq = "".join(parts)
        codes = encode(seq)
        bad = invalid_positions(codes)
        if bad.size:
            raise ValueError(
                f"{path} record {name!r} (line {line}): {seq[bad[0]]!r} at base {bad[0] + 1} "
                "is not a base"
            )
        if codes.size != end - start:
            raise ValueError(
                f"{path} record {name!r} (line {line}): {codes.size} bp, but its interval "
                f"{chrom}:{start + 1}-{end} spans {end - start}"
            )
        if name in names:
            raise ValueError(f"{path} line {line}: a second record named {name!r}")
        names.add(name)
        records.append(ContextRecord(name, chrom, start, end, codes))
    return records


def dinucleotide_shuffle(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random sequence with the same dinucleotide counts, first and last base.

    Altschul-Erickson by an Eulerian walk: each base's last outgoing edge (the last time
    it is followed by another base) is kept in place, the others are permuted, and the
    walk from the first base uses every edge once (as in deeplift's ``dinuc_shuffle``).

    Parameters
    ----------
    codes : np.ndarray, shape (l,), uint8.

    Returns
    -------
    np.ndarray, shape (l,), uint8.
    """
    codes = np.asarray(codes, np.uint8)
    if codes.size < 3:
        return codes.copy()
    nxt: dict[int, np.ndarray] = {}
    for c in np.unique(codes[:-1]):
        follow = np.flatnonzero(codes[:-1] == c) + 1  # indices of the bases after each c
        order = np.arange(follow.size)
        order[:-1] = rng.permutation(follow.size - 1)  # the last edge stays last
        nxt[int(c)] = codes[follow[order]]
    used = dict.fromkeys(nxt, 0)
    out = np.empty_like(codes)
    out[0] = c = int(codes[0])
    for i in range(1, codes.size):
        out[i] = nxt[c][used[c]]
        used[c] += 1
        c = int(out[i])
    return out


def fill_codes(codes: np.ndarray, n: int, fill: str, rng: np.random.Generator) -> np.ndarray:
    """``n`` bases of background made from ``codes`` (module docstring): all N, or
    independently shuffled copies (plain or dinucleotide-preserving) tiled out.

    Returns
    -------
    np.ndarray, shape (n,), uint8.
    """
    if fill == "N" or codes.size == 0:
        return np.full(n, N_CODE, np.uint8)
    if fill not in FILLS:
        raise ValueError(f"variants.context_fill {fill!r}: one of {', '.join(FILLS)}")
    shuffle = dinucleotide_shuffle if fill == "dinuc" else lambda c, r: r.permutation(c)
    tiles = [shuffle(codes, rng) for _ in range(-(-n // codes.size))]
    return np.concatenate(tiles)[:n]


class Context:
    """A context FASTA's records, the fill around them and their windows.

    Parameters
    ----------
    records : from :func:`read_context`.
    fill : one of :data:`FILLS` (module docstring).
    seed : the config's seed; each record's fill is drawn from it, its name and interval.
    """

    def __init__(self, records: list[ContextRecord], *, fill: str = "N", seed: int = 0):
        if fill not in FILLS:
            raise ValueError(f"variants.context_fill {fill!r}: one of {', '.join(FILLS)}")
        self.records = {r.name: r for r in records}
        self.fill, self.seed = fill, int(seed)
        self.path: str | None = None  # the FASTA it was read from, for summaries
        self.aliases = ChromAliases(dict.fromkeys(r.chrom for r in records))
        self._by_chrom: dict[str, tuple[np.ndarray, np.ndarray, list[ContextRecord]]] = {}
        for chrom in self.aliases.names:
            on = [r for r in records if r.chrom == chrom]
            starts = np.array([r.start for r in on], np.int64)
            ends = np.array([r.end for r in on], np.int64)
            self._by_chrom[chrom] = (starts, ends, on)
        self._canvases: OrderedDict[tuple[str, int], tuple[int, np.ndarray]] = OrderedDict()

    @classmethod
    def from_fasta(cls, path: str | Path, *, fill: str = "N", seed: int = 0) -> Context:
        """Read the context FASTA at ``path`` (:func:`read_context`)."""
        context = cls(read_context(path), fill=fill, seed=seed)
        context.path = str(path)
        return context

    def locate(self, chrom: str, pos: int, length: int) -> ContextRecord | None:
        """The first record holding ``[pos, pos + length)`` of ``chrom`` (an alias
        resolves), or None."""
        name = self.aliases.resolve(chrom)
        if name is None:
            return None
        starts, ends, on = self._by_chrom[name]
        hit = np.flatnonzero((starts <= pos) & (ends >= pos + length))
        return on[hit[0]] if hit.size else None

    def bases(self, record: str, start: int, end: int) -> np.ndarray:
        """The record's codes of genomic ``[start, end)`` (inside the record)."""
        r = self.records[record]
        return r.codes[start - r.start : end - r.start]

    def window_start(self, record: str, seq_len: int) -> int:
        """Genomic start of the record's window of ``seq_len`` bp, the record's middle
        base at offset ``seq_len // 2``."""
        return self.records[record].middle - seq_len // 2

    def _canvas(self, record: str, seq_len: int) -> tuple[int, np.ndarray]:
        """(genomic start, codes) of the record in its fill, ``3 * seq_len`` bp from one
        window before the centred one: room for any shift and deletion."""
        key = (record, seq_len)
        if key not in self._canvases:
            r = self.records[record]
            origin = self.window_start(record, seq_len) - seq_len
            tag = f"{r.name} {r.chrom}:{r.start}-{r.end}".encode()
            rng = np.random.default_rng([self.seed, zlib.crc32(tag)])
            canvas = fill_codes(r.codes, 3 * seq_len, self.fill, rng)
            canvas[r.start - origin : r.end - origin] = r.codes
            self._canvases[key] = (origin, canvas)
            if len(self._canvases) > 64:  # records come in file order: keep the recent
                self._canvases.popitem(last=False)
        self._canvases.move_to_end(key)
        return self._canvases[key]

    def fetch(self, record: str, start: int, end: int, *, seq_len: int) -> np.ndarray:
        """Codes of genomic ``[start, end)`` around ``record`` as the model reads them:
        the record in its fill (N past the canvas, which a window never reaches).

        Returns
        -------
        np.ndarray, shape (end - start,), uint8 (a new array).
        """
        origin, canvas = self._canvas(record, seq_len)
        out = np.full(end - start, N_CODE, np.uint8)
        lo, hi = max(start, origin), min(end, origin + canvas.size)
        if hi > lo:
            out[lo - start : hi - start] = canvas[lo - origin : hi - origin]
        return out
