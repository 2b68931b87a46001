"""Writers for the simulator's output files, each written atomically.

``genome.fa`` (+ ``.fai``), ``tracks/<name>.bw``, ``tracks.tsv`` (and their noise-free
twins ``clean/<name>.bw``, ``clean.tsv``), ``elements.bed``,
``variants.vcf``, ``effects.tsv`` and ``grammar.json``. Coordinates are 0-based inside the
package; :func:`vcf_pos` is the one place that turns them into VCF's 1-based ``POS``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyBigWig

from genomics.io import atomic_path, atomic_write_text
from genomics.simulate.chromosome import Chromosome
from genomics.simulate.grammar import Grammar
from genomics.simulate.variants import Variant

__all__ = [
    "TRACKS_HEADER",
    "vcf_pos",
    "write_bigwig",
    "write_effects",
    "write_elements",
    "write_fasta",
    "write_grammar",
    "write_tracks_table",
    "write_vcf",
]

TRACKS_HEADER = ("name", "path", "kind", "aggregate", "description")
_UPPER = np.frombuffer(b"ACGTN", np.uint8)
_LOWER = np.frombuffer(b"acgtn", np.uint8)
_BIGWIG_CHUNK = 1 << 20  # values per addEntries call


def vcf_pos(pos: int) -> int:
    """0-based position -> VCF's 1-based ``POS``."""
    return pos + 1


def _fasta_body(chrom: Chromosome, width: int) -> bytes:
    text = _UPPER[chrom.codes]
    for start, end in chrom.softmask:
        text[start:end] = _LOWER[chrom.codes[start:end]]
    n_full = text.size // width
    lines = np.empty((n_full, width + 1), np.uint8)
    lines[:, :width] = text[: n_full * width].reshape(n_full, width)
    lines[:, width] = ord("\n")
    tail = text[n_full * width :]
    return lines.tobytes() + (tail.tobytes() + b"\n" if tail.size else b"")


def write_fasta(path: Path, chroms: Sequence[Chromosome], width: int = 60) -> None:
    """Write the chromosomes as FASTA (``width`` bases a line, soft-masked stretches in
    lower case) and its samtools-style index ``<path>.fai``."""
    path = Path(path)
    index = []
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        offset = 0
        for chrom in chroms:
            header = f">{chrom.name}\n".encode()
            body = _fasta_body(chrom, width)
            offset += len(header)
            index.append(f"{chrom.name}\t{chrom.length}\t{offset}\t{width}\t{width + 1}\n")
            fh.write(header)
            fh.write(body)
            offset += len(body)
    atomic_write_text(path.with_name(path.name + ".fai"), "".join(index))


def write_bigwig(
    path: Path, sizes: Sequence[tuple[str, int]], values: Mapping[str, np.ndarray], step: int
) -> None:
    """Write fixed-step coverage: ``values[chrom][i]`` covers ``[i * step, (i + 1) * step)``.

    Parameters
    ----------
    path : Path
    sizes : list of (chrom, length), in file order
    values : dict chrom -> np.ndarray, shape (ceil(length / step),), float; the last value
        spans only the remainder of the chromosome
    step : int, bp per value
    """
    with atomic_path(path) as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        try:
            bw.addHeader([(c, int(n)) for c, n in sizes], maxZooms=10)
            for chrom, length in sizes:
                v = np.asarray(values[chrom], np.float64)
                n_full = length // step
                assert v.size == -(-length // step)
                for s in range(0, n_full, _BIGWIG_CHUNK):
                    e = min(n_full, s + _BIGWIG_CHUNK)
                    bw.addEntries(chrom, s * step, values=v[s:e], span=step, step=step)
                rest = length - n_full * step
                if rest:
                    bw.addEntries(chrom, n_full * step, values=v[n_full:], span=rest, step=rest)
        finally:
            bw.close()


def write_tracks_table(
    path: Path, grammar: Grammar, folder: str = "tracks", *, noise_free: bool = False
) -> None:
    """The tracks table: one ``coverage``/``sum`` row per track, paths relative to it
    (``folder/<name>.bw``); ``noise_free`` marks each description as the noise-free signal."""
    rows = ["\t".join(TRACKS_HEADER)]
    for t in grammar.tracks:
        about = f"noise-free expected signal of {t.name}; {t.description}" if noise_free else ""
        rows.append(
            "\t".join([t.name, f"{folder}/{t.name}.bw", "coverage", "sum", about or t.description])
        )
    atomic_write_text(path, "\n".join(rows) + "\n")


def write_elements(path: Path, chroms: Sequence[Chromosome]) -> None:
    """BED6 of every planted element, sorted by chromosome (FASTA order) then start, end."""
    lines = [
        f"{e.chrom}\t{e.start}\t{e.end}\t{e.name}\t{e.score}\t{e.strand}\n"
        for c in chroms
        for e in sorted(c.elements, key=lambda e: (e.start, e.end))
    ]
    atomic_write_text(path, "".join(lines))


def write_vcf(
    path: Path, variants: Sequence[Variant], ids: Sequence[str], chroms: Sequence[Chromosome]
) -> None:
    """VCFv4.2 of the SNVs (already sorted), ``INFO`` carrying the element they fall in."""
    head = [
        "##fileformat=VCFv4.2",
        "##source=genomics simulate",
        "##reference=genome.fa",
        *(f"##contig=<ID={c.name},length={c.length}>" for c in chroms),
        '##INFO=<ID=ELEMENT,Number=1,Type=String,Description="Planted element the variant '
        'falls in (type:motifs), or background">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    body = [
        f"{v.chrom}\t{vcf_pos(v.pos)}\t{vid}\t{'ACGT'[v.ref]}\t{'ACGT'[v.alt]}\t.\tPASS\t"
        f"ELEMENT={v.element}"
        for v, vid in zip(variants, ids, strict=True)
    ]
    atomic_write_text(path, "\n".join(head + body) + "\n")


def _number(x: float) -> str:
    return f"{round(float(x), 6) + 0.0:.6g}"  # + 0.0 turns -0.0 into 0.0


def write_effects(
    path: Path,
    variants: Sequence[Variant],
    ids: Sequence[str],
    effects: np.ndarray,
    track_names: Sequence[str],
) -> None:
    """effects.tsv: ``id chrom pos ref alt element`` (``pos`` 1-based, as in the VCF), then
    one column of true effects per track (``effects``: shape (n, t), float)."""
    rows = ["\t".join(["id", "chrom", "pos", "ref", "alt", "element", *track_names])]
    for v, vid, eff in zip(variants, ids, effects, strict=True):
        fixed = [vid, v.chrom, str(vcf_pos(v.pos)), "ACGT"[v.ref], "ACGT"[v.alt], v.element]
        rows.append("\t".join(fixed + [_number(x) for x in eff]))
    atomic_write_text(path, "\n".join(rows) + "\n")


def write_grammar(path: Path, grammar: Grammar) -> None:
    """grammar.json: :meth:`Grammar.to_dict` as indented JSON."""
    atomic_write_text(path, json.dumps(grammar.to_dict(), indent=1) + "\n")
