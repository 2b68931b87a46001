"""Sequence classes against annotations: BEDs of labelled regions such as ChromHMM
segmentations (one per cell line) or the simulator's planted elements.

For each annotation, every bin takes the state covering most of its bases (``(none)``
where no region touches it; ties go to the state sorted first). Over the bins with a class
(unassigned and left-out bins do not count; ``(none)`` is a column of its own):

- **enrichment** of class i in state j: log2((n_ij + 1) / (e_ij + 1)), n_ij the bins of
  class i in state j and e_ij = n_i. x n_.j / n.. the bins expected if classes and states
  were independent (the +1 keeps empty cells finite and shrinks small counts to 0);
- **AMI**: scikit-learn's adjusted mutual information between class and state over the
  bins both cover (a state other than ``(none)``): 0 for independent labels, 1 for the
  same partition.

A class is named after a state (:func:`consensus_states`) when the annotations agree that
it is enriched: the state whose median log2 enrichment over the annotations holding it is
highest, taken only when that median is at least ``NAME_MIN_LOG2`` (1: twice the expected
bins). In an annotation where the state holds fewer than ``NAME_MIN_BINS`` of the class's
bins, it counts as not enriched.

State labels are shown as in the file, except that ``1_Active_Promoter``-style labels (the
UCSC ``wgEncodeBroadHmm`` tracks) read ``Active Promoter``; a legend
(``classes.state_names``) renames them: ``chromhmm15`` for the Broad ChromHMM 15-state
model (:data:`CHROMHMM_15`), or a TSV of state and name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genomics.classes.regions import read_bed
from genomics.data.binning import integrate
from genomics.data.intervals import merge_intervals, open_text

__all__ = [
    "CHROMHMM_15",
    "LEGENDS",
    "NAME_MIN_BINS",
    "NAME_MIN_LOG2",
    "NONE",
    "Enrichment",
    "adjusted_mutual_info",
    "annotate",
    "annotate_all",
    "annotation_paths",
    "bin_states",
    "consensus_states",
    "log2_enrichment",
    "read_annotations",
    "read_legend",
]

log = logging.getLogger(__name__)

NONE = "(none)"  # bins that no region of the annotation touches
NAME_MIN_LOG2 = 1.0  # a class takes a state's name at twice its expected bins or more ...
NAME_MIN_BINS = 5  # ... and only where the state holds at least this many of its bins
# The Broad ChromHMM 15-state model (Ernst et al. 2011, Nature 473:43; UCSC track
# wgEncodeBroadHmm): state, UCSC label, name. Its UCSC labels name themselves; bare E1..E15
# take these names only when asked (classes.state_names: chromhmm15), as a ChromHMM run
# numbers its states in its own order: check one state against a known mark first (the
# ../shared/data segmentations put promoter-bound TAF1 peaks in E6-E7, not E1).
CHROMHMM_15 = (
    ("E1", "1_Active_Promoter", "Active Promoter"),
    ("E2", "2_Weak_Promoter", "Weak Promoter"),
    ("E3", "3_Poised_Promoter", "Inactive/Poised Promoter"),
    ("E4", "4_Strong_Enhancer", "Strong Enhancer"),
    ("E5", "5_Strong_Enhancer", "Strong Enhancer"),
    ("E6", "6_Weak_Enhancer", "Weak Enhancer"),
    ("E7", "7_Weak_Enhancer", "Weak Enhancer"),
    ("E8", "8_Insulator", "Insulator"),
    ("E9", "9_Txn_Transition", "Txn Transition"),
    ("E10", "10_Txn_Elongation", "Txn Elongation"),
    ("E11", "11_Weak_Txn", "Weak Txn"),
    ("E12", "12_Repressed", "Polycomb Repressed"),
    ("E13", "13_Heterochrom/lo", "Heterochrom/lo"),
    ("E14", "14_Repetitive/CNV", "Repetitive/CNV"),
    ("E15", "15_Repetitive/CNV", "Repetitive/CNV"),
)
UCSC_15 = {label: name for _, label, name in CHROMHMM_15}  # self-describing: always used
LEGENDS = {"chromhmm15": {state: name for state, _, name in CHROMHMM_15}}
_NUMBERED = re.compile(r"^(\d+)_(.+)$")  # 1_Active_Promoter
_BED_SUFFIXES = (".gz", ".bgz", ".bed", ".txt", ".tsv")


def _natural(text: str) -> list:
    """Sort key: E2 before E10."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def _stem(path: Path) -> str:
    name = path.name
    while name.lower().endswith(_BED_SUFFIXES) and "." in name:
        name = name[: name.rfind(".")]
    return name


def _common_suffix(names: list[str]) -> str:
    """The longest suffix all names share that starts at a separator (``_15state_hg19``)
    and leaves each of them something."""
    shortest = min(names, key=len)
    for i in range(1, len(shortest)):
        tail = shortest[i:]
        if shortest[i] in "_-." and all(n.endswith(tail) and len(n) > len(tail) for n in names):
            return tail
    return ""


def annotation_paths(value, *, key: str = "classes.annotation") -> dict[str, Path]:
    """The annotations a config names, as ``{name: path}``.

    Parameters
    ----------
    value : None; a path; a list of paths (each named after its file, less the suffix the
        files share: ``Gm12878_15state_segments_hg19.bed.gz`` and ``K562_15state_...``
        become ``Gm12878`` and ``K562``); or a mapping name -> path.

    Raises
    ------
    ValueError naming ``key``: two files that would get one name (use a mapping then), an
    empty name, or a value of another type.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, (str, Path)):
        value = [value]
    if isinstance(value, Mapping):
        out = {str(k): Path(v) for k, v in value.items()}
    elif isinstance(value, (list, tuple)):
        paths = [Path(p) for p in value]
        stems = [_stem(p) for p in paths]
        if len(stems) > 1:
            tail = _common_suffix(stems)
            stems = [s[: len(s) - len(tail)] for s in stems]
        dup = sorted({s for s in stems if stems.count(s) > 1})
        if dup:
            raise ValueError(
                f"{key}: several files would be named {dup[0]!r}; give a mapping "
                "{name: path} instead of a list"
            )
        out = dict(zip(stems, paths, strict=True))
    else:
        raise ValueError(f"{key}: expected a path, a list of paths or a mapping, not {value!r}")
    bad = [n for n in out if not n.strip() or "/" in n]
    if bad:
        raise ValueError(f"{key}: annotation name {bad[0]!r} is empty or holds a '/'")
    return out


def read_legend(legend: str | Path | None) -> dict[str, str]:
    """State -> name: {} for None, :data:`CHROMHMM_15` for ``chromhmm15``, else a TSV of
    state and name per line (``#`` lines skipped).

    Raises
    ------
    FileNotFoundError, ValueError naming the file and line.
    """
    if legend is None or legend == "":
        return {}
    if str(legend) in LEGENDS:
        return dict(LEGENDS[str(legend)])
    path = Path(legend)
    if not path.is_file():
        raise FileNotFoundError(
            f"classes.state_names: {path} is neither a file nor one of {', '.join(LEGENDS)}"
        )
    out = {}
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            if len(f) < 2 or not f[0].strip() or not f[1].strip():
                raise ValueError(
                    f"classes.state_names: {path} line {lineno}: expected a state and its "
                    f"name, tab-separated, got {line.rstrip()[:80]!r}"
                )
            out[f[0].strip()] = f[1].strip()
    return out


def display_name(state: str, legend: Mapping[str, str]) -> str:
    """A state's name: the legend's, else the Broad model's for its UCSC label, else
    ``3_Some_State`` -> ``Some State``, else the label itself."""
    if state in legend:
        return legend[state]
    if state in UCSC_15:
        return UCSC_15[state]
    m = _NUMBERED.match(state)
    return m[2].replace("_", " ") if m else state


def log2_enrichment(counts: np.ndarray) -> np.ndarray:
    """log2((observed + 1) / (expected + 1)) of a contingency table.

    Parameters
    ----------
    counts : np.ndarray, shape (k, s), int; bins of class i in state j.

    Returns
    -------
    np.ndarray, shape (k, s), float64; expected = row total x column total / total.
    """
    counts = np.asarray(counts, dtype=np.float64)
    expected = counts.sum(1, keepdims=True) * counts.sum(0, keepdims=True) / max(counts.sum(), 1)
    return np.log2((counts + 1.0) / (expected + 1.0))


def adjusted_mutual_info(counts: np.ndarray) -> float:
    """scikit-learn's adjusted mutual information of the two labellings a contingency
    table counts (NaN for an empty table).

    Parameters
    ----------
    counts : np.ndarray, shape (k, s), int.
    """
    from sklearn.metrics import adjusted_mutual_info_score

    counts = np.asarray(counts, dtype=np.int64)
    if counts.sum() == 0:
        return float("nan")
    rows, cols = np.nonzero(counts)
    n = counts[rows, cols]
    return float(
        adjusted_mutual_info_score(
            np.repeat(rows.astype(np.int32), n), np.repeat(cols.astype(np.int32), n)
        )
    )


def bin_states(
    regions: tuple[np.ndarray, np.ndarray, np.ndarray],
    states: list[str],
    n_bins: int,
    bin_size: int,
) -> np.ndarray:
    """The state covering most bases of each bin of one chromosome.

    Parameters
    ----------
    regions : (starts, ends, labels) of the chromosome (:func:`read_bed`, ``named=True``).
    states : the states in code order; ties go to the one first here.

    Returns
    -------
    np.ndarray, shape (n_bins,), int16; the state's index in ``states``, -1 where no region
    touches the bin.
    """
    starts, ends, labels = regions
    edges = np.arange(n_bins + 1, dtype=np.int64) * bin_size
    best = np.zeros(n_bins)
    code = np.full(n_bins, -1, dtype=np.int16)
    for i, state in enumerate(states):
        at = labels == state
        if not at.any():
            continue
        s, e = merge_intervals(starts[at], ends[at])
        cover = integrate(s, e, np.ones(len(s)), edges)
        more = cover > best
        best[more] = cover[more]
        code[more] = i
    return code


@dataclass
class Enrichment:
    """One annotation against the classes.

    Attributes
    ----------
    name : the annotation's name; path : its file.
    states : list of str, length s; its states (natural order: E2 before E10), then
        ``(none)``.
    names : list of str, length s; their display names.
    counts : np.ndarray, shape (k, s), int64; bins of each class in each state.
    ami : adjusted mutual information of class and state over the bins both cover.
    """

    name: str
    path: Path
    states: list[str]
    names: list[str]
    counts: np.ndarray
    ami: float

    @property
    def log2(self) -> np.ndarray:
        """np.ndarray, shape (k, s), float64: :func:`log2_enrichment` of ``counts``."""
        return log2_enrichment(self.counts)

    @property
    def expected(self) -> np.ndarray:
        """np.ndarray, shape (k, s), float64: bins expected under independence."""
        c = self.counts.astype(np.float64)
        return c.sum(1, keepdims=True) * c.sum(0, keepdims=True) / max(c.sum(), 1)

    @property
    def n_bins(self) -> int:
        """Bins with a class and a state: what the AMI is over."""
        return int(self.counts[:, :-1].sum())

    def top(self) -> tuple[list[int], list[float]]:
        """Per class, the index of its most enriched state (``(none)`` left out; -1 when the
        annotation has no state) and that log2 enrichment."""
        fold = self.log2[:, :-1]
        if fold.shape[1] == 0:
            return [-1] * len(fold), [float("nan")] * len(fold)
        best = fold.argmax(1)
        return best.tolist(), fold[np.arange(len(fold)), best].tolist()


def read_annotations(
    paths: Mapping[str, str | Path], chroms: list[str], *, key: str = "classes.annotation"
) -> dict[str, dict]:
    """Read every annotation up front, so a bad file stops a run before its long steps.

    Parameters
    ----------
    paths : name -> BED whose 4th column is the state (:func:`annotation_paths`).
    chroms : the store's chromosomes (aliases resolved; regions elsewhere left out).

    Returns
    -------
    name -> regions (:func:`genomics.classes.regions.read_bed` with ``named=True``).

    Raises
    ------
    FileNotFoundError, ValueError naming ``key``, the annotation, the file and the line: a
    missing file, a line without a state or with bad coordinates, no region on ``chroms``.
    """
    return {
        name: read_bed(path, chroms, named=True, key=f"{key} {name!r}")
        for name, path in paths.items()
    }


def annotate(
    labels: Mapping[str, np.ndarray],
    regions: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    name: str,
    path: str | Path,
    n_classes: int,
    bin_size: int,
    legend: Mapping[str, str] | None = None,
) -> Enrichment:
    """Count the bins of each class in each state of one annotation.

    Parameters
    ----------
    labels : chrom -> np.ndarray, shape (n_bins,), int; the class of every bin of the
        store (0..k-1; negative: unassigned or left out, not counted).
    regions : the annotation (:func:`read_annotations`); ``path`` is its file.
    legend : state -> display name (:func:`read_legend`).
    """
    states = sorted({str(s) for r in regions.values() for s in r[2]}, key=_natural)
    s = len(states) + 1
    counts = np.zeros((n_classes, s), dtype=np.int64)
    for chrom, lab in labels.items():
        lab = np.asarray(lab)
        code = np.full(len(lab), s - 1, dtype=np.int64)
        if chrom in regions:
            found = bin_states(regions[chrom], states, len(lab), bin_size)
            code[found >= 0] = found[found >= 0]
        kept = lab >= 0
        pair = lab[kept].astype(np.int64) * s + code[kept]  # (class, state) as one index
        counts += np.bincount(pair, minlength=n_classes * s).reshape(n_classes, s)
    legend = legend or {}
    names = [display_name(x, legend) for x in states] + [NONE]
    ami = adjusted_mutual_info(counts[:, :-1])
    log.info(
        "annotation %s (%s): %d states; AMI with the classes %.4f over %d bins",
        name,
        path,
        len(states),
        ami,
        int(counts[:, :-1].sum()),
    )
    return Enrichment(name, Path(path), [*states, NONE], names, counts, ami)


def annotate_all(
    labels: Mapping[str, np.ndarray],
    paths: Mapping[str, str | Path],
    regions: Mapping[str, dict],
    *,
    n_classes: int,
    bin_size: int,
    legend: Mapping[str, str] | None = None,
) -> list[Enrichment]:
    """:func:`annotate` for each annotation of ``paths`` (name -> file), ``regions`` read by
    :func:`read_annotations`; in the order of ``paths``."""
    return [
        annotate(
            labels,
            regions[name],
            name=name,
            path=path,
            n_classes=n_classes,
            bin_size=bin_size,
            legend=legend,
        )
        for name, path in paths.items()
    ]


def consensus_states(
    enrichments: list[Enrichment],
    n_classes: int,
    *,
    min_log2: float = NAME_MIN_LOG2,
    min_bins: int = NAME_MIN_BINS,
) -> tuple[list[str], list[float]]:
    """The state name each class takes from the annotations, and its median log2 enrichment.

    States sharing a display name in one annotation (ChromHMM's two Strong Enhancer
    states) are pooled first. For each name, the median over the annotations holding it
    of the class's log2 enrichment (-inf in an annotation where it holds fewer than
    ``min_bins`` of the class's bins); the class takes the name with the highest median
    when that median is at least ``min_log2``.

    Returns
    -------
    (states, medians): lists of length k; state ``""`` (and the best median, which may be
    NaN without annotations) for a class no name fits.
    """
    per_name: dict[str, list[np.ndarray]] = {}
    for e in enrichments:
        names = e.names[:-1]
        uniq = list(dict.fromkeys(names))
        pooled = np.zeros((n_classes, len(uniq) + 1), dtype=np.int64)
        for j, nm in enumerate(names):
            pooled[:, uniq.index(nm)] += e.counts[:, j]
        pooled[:, -1] = e.counts[:, -1]
        fold = log2_enrichment(pooled)[:, :-1]
        fold[pooled[:, :-1] < min_bins] = -np.inf
        for j, nm in enumerate(uniq):
            per_name.setdefault(nm, []).append(fold[:, j])
    if not per_name:
        return [""] * n_classes, [float("nan")] * n_classes
    names = list(per_name)
    median = np.stack([np.median(np.stack(v), axis=0) for v in per_name.values()], axis=1)
    best = median.argmax(1)
    value = median[np.arange(n_classes), best]
    states = [names[b] if v >= min_log2 else "" for b, v in zip(best, value, strict=True)]
    return states, [float(v) for v in value]
