"""Synthetic chromosomes: random background, N runs, soft-masking and planted elements.

Background bases are independent draws with the requested GC content. Each chromosome
gets two to four short N runs (1-200 bp); the first also gets one long gap (10-50 kb,
at most 5% of its length) in its middle half. Three to eight stretches of 50-2000 bp are
soft-masked (written in lower case; the codes do not change).

Elements are planted into 500-bp slots (at most one element per slot, 80 bp clear of
the slot's edges, no slot within 500 bp of an N), each motif site sampled from its PWM in a
random orientation and kept only if its activation is at least 0.3. Per Mb, times
``density``:

- ``motif:m<i>``: 50 lone sites of each TF motif;
- ``pair:m<a>+m<b>``: 40 cooperative pairs per cooperative track (centres just clear of overlap..D bp apart),
  plus 10 lone sites of each of its motifs and 10 "far pairs" (centres D+10..2D bp apart,
  written as two ``motif:`` elements) that must *not* light the cooperative track;
- ``promoter:m<p>``: 25 promoter sites; around each, 0-3 enhancers per long-range track
  (chances 35/30/20/15%), 70% of them inside the track's distance range and 30% outside it
  (closer than its minimum, down to a third of it, or up to 1.3 x farther than its maximum);
- ``enhancer:m<e>``: a cluster of 2-4 sites of the enhancer motif within ~200 bp (those
  above, plus 8 lone clusters per Mb per long-range track).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from genomics.data.encoding import N_CODE, reverse_complement_codes
from genomics.simulate.grammar import Grammar, Motif
from genomics.simulate.oracle import site_activation

__all__ = ["Chromosome", "Element", "make_chromosome", "planned_elements"]

SLOT = 500
MARGIN = 80
MIN_SITE_ACTIVATION = 0.3
# planted elements per Mb (times ``density``)
TF_PER_MB = 50
PAIRS_PER_MB = 40
LONE_COOP_PER_MB = 10
FAR_PAIRS_PER_MB = 10
PROMOTERS_PER_MB = 25
LONE_ENHANCERS_PER_MB = 8
ENHANCER_COUNT_P = (0.35, 0.3, 0.2, 0.15)  # chance of 0, 1, 2, 3 enhancers per promoter
MAX_ENHANCERS_PER_PROMOTER = len(ENHANCER_COUNT_P) - 1


@dataclass(frozen=True)
class Element:
    """One planted element, 0-based half-open ``[start, end)`` (a row of elements.bed)."""

    chrom: str
    start: int
    end: int
    name: str
    score: int
    strand: str


@dataclass
class Chromosome:
    """A synthetic chromosome.

    Attributes
    ----------
    name : str
    codes : np.ndarray, shape (l,), uint8
    softmask : np.ndarray, shape (k, 2), int64; ``[start, end)`` stretches written lower case
    elements : list of Element, sorted by (start, end)
    sites : np.ndarray, shape (n, 5), int64; one row per planted motif site:
        ``start, end, motif index, element index, strand (+1/-1)``
    """

    name: str
    codes: np.ndarray
    softmask: np.ndarray
    elements: list[Element] = field(default_factory=list)
    sites: np.ndarray = field(default_factory=lambda: np.zeros((0, 5), np.int64))

    @property
    def length(self) -> int:
        return int(self.codes.size)


def _background(rng: np.random.Generator, length: int, gc: float) -> np.ndarray:
    edges = np.cumsum([(1 - gc) / 2, gc / 2, gc / 2])
    return np.searchsorted(edges, rng.random(length), side="right").astype(np.uint8)


def _add_n_runs(rng: np.random.Generator, codes: np.ndarray, *, long_gap: bool) -> None:
    length = codes.size
    if long_gap:
        size = min(int(rng.integers(10_000, 50_001)), length // 20)
        start = int(rng.integers(length // 4, 3 * length // 4 - size))
        codes[start : start + size] = N_CODE
    edge = length // 100
    for _ in range(int(rng.integers(2, 5))):
        size = int(rng.integers(1, 201))
        start = int(rng.integers(edge, length - edge - size))
        codes[start : start + size] = N_CODE


def _softmask(rng: np.random.Generator, length: int) -> np.ndarray:
    sizes = rng.integers(50, 2001, size=int(rng.integers(3, 9)))
    sizes = np.minimum(sizes, length // 10)
    starts = rng.integers(0, length - sizes)
    order = np.argsort(starts, kind="stable")
    merged: list[list[int]] = []
    for s, n in zip(starts[order], sizes[order], strict=True):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], int(s + n))
        else:
            merged.append([int(s), int(s + n)])
    return np.array(merged, np.int64).reshape(-1, 2)


def _per_mb(rate: float, length: int, density: float) -> int:
    return int(round(rate * density * length / 1e6))


def planned_elements(grammar: Grammar, length: int, density: float) -> int:
    """Slots one chromosome of ``length`` bp needs at most (for the density check)."""
    n_local = sum(t.kind == "local" for t in grammar.tracks)
    n_coop = sum(t.kind == "coop" for t in grammar.tracks)
    n_expr = sum(t.kind == "expr" for t in grammar.tracks)
    n = n_local * _per_mb(TF_PER_MB, length, density)
    n += n_coop * (_per_mb(PAIRS_PER_MB + 2 * LONE_COOP_PER_MB + FAR_PAIRS_PER_MB, length, density))
    if n_expr:
        n += _per_mb(PROMOTERS_PER_MB, length, density) * (1 + n_expr * MAX_ENHANCERS_PER_PROMOTER)
        n += n_expr * _per_mb(LONE_ENHANCERS_PER_MB, length, density)
    return n


class _Planter:
    """Writes elements into free slots of one chromosome and keeps their records."""

    def __init__(self, rng: np.random.Generator, chrom: Chromosome, grammar: Grammar):
        self.rng = rng
        self.chrom = chrom
        self.grammar = grammar
        n_slots = chrom.length // SLOT
        is_n = np.concatenate([[0], np.cumsum(chrom.codes == N_CODE)])
        lo = np.clip((np.arange(n_slots) - 1) * SLOT, 0, chrom.length)
        hi = np.clip((np.arange(n_slots) + 2) * SLOT, 0, chrom.length)
        self.free = is_n[hi] == is_n[lo]
        self.free[:2] = False
        self.free[-2:] = False
        self.elements: list[tuple[int, int, str, float, str]] = []
        self.sites: list[tuple[int, int, int, int, int]] = []

    def take(self, n: int) -> np.ndarray:
        """``n`` random free slots, marked used."""
        candidates = np.flatnonzero(self.free)
        if n > candidates.size:
            raise ValueError(
                f"simulate.density={self.grammar.params['density']}: {self.chrom.name} has "
                f"{candidates.size} free {SLOT}-bp slots left but needs {n} more elements; "
                "lower density or raise chrom_length"
            )
        chosen = self.rng.choice(candidates, size=n, replace=False)
        self.free[chosen] = False
        return chosen

    def near(self, slot: int) -> int | None:
        """The free slot nearest ``slot`` (within 3), marked used, or None."""
        for d in (0, 1, -1, 2, -2, 3, -3):
            s = slot + d
            if 0 <= s < self.free.size and self.free[s]:
                self.free[s] = False
                return s
        return None

    def site(self, motif: Motif) -> tuple[np.ndarray, float]:
        """A site sampled from the PWM with activation >= MIN_SITE_ACTIVATION (forward)."""
        cum = np.cumsum(motif.pwm, axis=1)
        for _ in range(100):
            u = self.rng.random((32, motif.width, 1))
            seqs = (u > cum[None]).sum(-1).astype(np.uint8)  # (32, w)
            act = site_activation(seqs, motif.pwm, self.grammar.gc_content, self.grammar.threshold)
            ok = np.flatnonzero(act >= MIN_SITE_ACTIVATION)
            if ok.size:
                return seqs[ok[0]], float(act[ok[0]])
        raise AssertionError(f"motif {motif.name}: no strong site in 3200 draws")

    def place(self, slot: int, parts: list[tuple[int, int]], name: str | None) -> int:
        """Write sites ``parts`` = [(motif, centre offset)] into ``slot`` as one element
        called ``name``, or, for ``name=None``, each site its own ``motif:m<i>`` element.

        Returns the centre of the first site (bp)."""
        motifs = self.grammar.motifs
        lo = min(off - motifs[m].width // 2 for m, off in parts)
        hi = max(off + motifs[m].width // 2 + 1 for m, off in parts)
        room = SLOT - 2 * MARGIN - (hi - lo)
        assert room >= 0, (name, hi - lo)
        origin = slot * SLOT + MARGIN + int(self.rng.integers(0, room + 1)) - lo
        index = len(self.elements)
        acts, strands = [], []
        for m, off in parts:
            seq, act = self.site(motifs[m])
            strand = 1 if self.rng.random() < 0.5 else -1
            if strand < 0:
                seq = reverse_complement_codes(seq)
            start = origin + off - motifs[m].width // 2
            self.chrom.codes[start : start + seq.size] = seq
            if name is None:
                index = len(self.elements)
                self.elements.append(
                    (start, start + seq.size, f"motif:m{m}", act, "+" if strand > 0 else "-")
                )
            self.sites.append((start, start + seq.size, m, index, strand))
            acts.append(act)
            strands.append(strand)
        if name is not None:
            strand = ("+" if strands[0] > 0 else "-") if len(parts) == 1 else "."
            self.elements.append((origin + lo, origin + hi, name, float(np.mean(acts)), strand))
        return origin + parts[0][1]

    def enhancer(self, slot: int, motif: int) -> None:
        w = self.grammar.motifs[motif].width
        offsets = np.cumsum(self.rng.integers(w + 2, 61, size=int(self.rng.integers(2, 5))))
        self.place(slot, [(motif, int(o - offsets[0])) for o in offsets], f"enhancer:m{motif}")

    def finish(self) -> None:
        order = sorted(range(len(self.elements)), key=lambda i: self.elements[i][:2])
        new_index = np.empty(len(order), np.int64)
        new_index[order] = np.arange(len(order))
        self.chrom.elements = [
            Element(self.chrom.name, s, e, n, int(round(1000 * a)), st)
            for s, e, n, a, st in (self.elements[i] for i in order)
        ]
        sites = np.array(self.sites, np.int64).reshape(-1, 5)
        sites[:, 3] = new_index[sites[:, 3]]
        self.chrom.sites = sites[np.lexsort((sites[:, 0], sites[:, 3]))]


def _plant(planter: _Planter, grammar: Grammar, length: int, density: float) -> None:
    rng = planter.rng
    motifs = grammar.motifs
    expr = [t for t in grammar.tracks if t.kind == "expr"]
    if expr:
        promoter = expr[0].motifs[0]
        for slot in planter.take(_per_mb(PROMOTERS_PER_MB, length, density)):
            centre = planter.place(int(slot), [(promoter, 0)], f"promoter:m{promoter}")
            for track in expr:
                near, far = track.distance
                for _ in range(int(rng.choice(4, p=ENHANCER_COUNT_P))):
                    u = rng.random()
                    if u < 0.7:
                        d = rng.uniform(near, far)
                    elif u < 0.85 and near > 0:
                        d = rng.uniform(near / 3, near)
                    else:
                        d = rng.uniform(far, 1.3 * far)
                    target = centre + (1 if rng.random() < 0.5 else -1) * int(d)
                    slot_e = planter.near(target // SLOT)
                    if slot_e is not None:
                        planter.enhancer(slot_e, track.motifs[1])
        for track in expr:
            for slot in planter.take(_per_mb(LONE_ENHANCERS_PER_MB, length, density)):
                planter.enhancer(int(slot), track.motifs[1])

    for track in (t for t in grammar.tracks if t.kind == "coop"):
        a, b = track.motifs
        dmax = track.distance[1]
        closest = (motifs[a].width + motifs[b].width) // 2 + 2
        for slot in planter.take(_per_mb(PAIRS_PER_MB, length, density)):
            d = int(rng.integers(closest, dmax + 1))
            first, second = (a, b) if rng.random() < 0.5 else (b, a)
            planter.place(int(slot), [(first, 0), (second, d)], f"pair:m{a}+m{b}")
        for m in (a, b):
            for slot in planter.take(_per_mb(LONE_COOP_PER_MB, length, density)):
                planter.place(int(slot), [(m, 0)], f"motif:m{m}")
        for slot in planter.take(_per_mb(FAR_PAIRS_PER_MB, length, density)):
            d = int(rng.integers(dmax + 10, 2 * dmax + 1))
            first, second = (a, b) if rng.random() < 0.5 else (b, a)
            planter.place(int(slot), [(first, 0), (second, d)], None)

    for track in (t for t in grammar.tracks if t.kind == "local"):
        m = track.motifs[0]
        for slot in planter.take(_per_mb(TF_PER_MB, length, density)):
            planter.place(int(slot), [(m, 0)], f"motif:m{m}")


def make_chromosome(
    name: str,
    length: int,
    grammar: Grammar,
    rng: np.random.Generator,
    *,
    density: float = 1.0,
    long_gap: bool = False,
) -> Chromosome:
    """Make one synthetic chromosome with planted elements.

    Parameters
    ----------
    name : str
    length : int, bp
    grammar : Grammar
    rng : np.random.Generator; the only source of randomness
    density : float, multiplies every planting rate
    long_gap : bool, add a 10-50 kb N gap in the middle half

    Returns
    -------
    Chromosome
    """
    codes = _background(rng, length, grammar.gc_content)
    _add_n_runs(rng, codes, long_gap=long_gap)
    chrom = Chromosome(name=name, codes=codes, softmask=_softmask(rng, length))
    planter = _Planter(rng, chrom, grammar)
    _plant(planter, grammar, length, density)
    planter.finish()
    return chrom
