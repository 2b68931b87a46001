"""The class columns of a variant scores table (``genomics score-variants``), read for the
report.

The table is a TSV (gzipped or not) with a header line, one row per variant x ALT allele:
``id chrom pos ref alt`` (``pos`` 1-based, as in the VCF), then per-track scores
(``<track>:sad`` ...), then ``class:<class name>`` per class holding alt - ref of that
class's score (:mod:`genomics.variants.run`). A class column is also found as
``class_<k>``, ``class:<k>``, ``class<k>`` or ``class_<k>_<anything>``; other columns are
ignored. Empty, ``NA`` and ``nan`` cells are NaN.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ID_COLUMNS", "VariantScores", "class_columns", "read_variant_scores"]

ID_COLUMNS = ("id", "chrom", "pos", "ref", "alt")


def class_columns(header: Sequence[str], names: Sequence[str]) -> list[int | None]:
    """The column index of each class's alt - ref score in ``header``, or None.

    Parameters
    ----------
    names : the class names, length k.
    """
    where = {h.strip(): i for i, h in enumerate(header)}
    out: list[int | None] = []
    for k, name in enumerate(names):
        exact = [f"class:{name}", f"class_{k}", f"class:{k}", f"class{k}"]
        hit = next((where[c] for c in exact if c in where), None)
        if hit is None:
            pattern = re.compile(rf"^class[_:]{k}[_:]")
            hit = next((i for i, h in enumerate(header) if pattern.match(h.strip())), None)
        out.append(hit)
    return out


@dataclass
class VariantScores:
    """The variants of a scores table and their alt - ref class scores.

    Attributes
    ----------
    ids, chroms, refs, alts : list of str, length n.
    pos : np.ndarray, shape (n,), int64; 1-based (VCF) positions.
    delta : np.ndarray, shape (n, k), float32; alt - ref class score, NaN where the table
        has no column for a class.
    have : np.ndarray, shape (k,), bool; whether the table has each class's column.
    path : the table.
    """

    ids: list[str]
    chroms: list[str]
    pos: np.ndarray
    refs: list[str]
    alts: list[str]
    delta: np.ndarray
    have: np.ndarray
    path: Path

    def __len__(self) -> int:
        return len(self.ids)

    def top(self, k: int, n: int, *, raising: bool) -> list[dict]:
        """The ``n`` variants that raise (or lower) class ``k`` most, as row dicts."""
        d = self.delta[:, k]
        ok = np.flatnonzero(np.isfinite(d) & ((d > 0) if raising else (d < 0)))
        order = ok[np.argsort(-d[ok] if raising else d[ok], kind="stable")][:n]
        return [
            {
                "id": self.ids[i],
                "chrom": self.chroms[i],
                "pos": int(self.pos[i]),
                "ref": self.refs[i],
                "alt": self.alts[i],
                "delta": float(d[i]),
            }
            for i in order
        ]


def _float(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        return float("nan")


def read_variant_scores(path: str | Path, names: Sequence[str]) -> VariantScores:
    """Read the id columns and the class columns of a scores table (see the module doc).

    Parameters
    ----------
    names : the class names, length k (class ``k``'s column is looked up by index or name).

    Raises
    ------
    ValueError naming the file and the rerun: no header, an id column missing, or a row
    with too few cells.
    """
    path = Path(path)
    fix = "rerun `genomics score-variants`"
    with open(path, "rb") as fh:
        opener = gzip.open if fh.read(2) == b"\x1f\x8b" else open
    ids, chroms, pos, refs, alts, rows = [], [], [], [], [], []
    with opener(path, "rt") as fh:
        header = None
        for lineno, line in enumerate(fh, 1):
            if line.startswith("##") or not line.strip():
                continue
            f = line.rstrip("\n").split("\t")
            if header is None:
                header = [h.lstrip("#").strip() for h in f]
                missing = [c for c in ID_COLUMNS if c not in header]
                if missing:
                    raise ValueError(
                        f"{path}: the header lacks column(s) {', '.join(missing)} (has "
                        f"{', '.join(header[:8])}); {fix}"
                    )
                at = [header.index(c) for c in ID_COLUMNS]
                cols = class_columns(header, names)
                continue
            if len(f) < len(header):
                raise ValueError(
                    f"{path} line {lineno}: {len(f)} cells, the header has {len(header)}; {fix}"
                )
            ids.append(f[at[0]])
            chroms.append(f[at[1]])
            try:
                pos.append(int(f[at[2]]))
            except ValueError:
                raise ValueError(
                    f"{path} line {lineno}: pos {f[at[2]]!r} is not an integer; {fix}"
                ) from None
            refs.append(f[at[3]])
            alts.append(f[at[4]])
            rows.append([np.nan if c is None else _float(f[c]) for c in cols])
    if header is None:
        raise ValueError(f"{path}: empty, no header line; {fix}")
    k = len(names)
    delta = np.array(rows, dtype=np.float32).reshape(len(rows), k)
    have = np.array([c is not None for c in cols], dtype=bool)
    return VariantScores(ids, chroms, np.array(pos, dtype=np.int64), refs, alts, delta, have, path)
