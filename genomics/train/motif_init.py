"""Seed the first-layer filters with motifs enriched under each track (``train.init_motifs``).

A randomly initialised first layer finds sparse, degenerate motifs one at a time, by luck:
on the hard synthetic genome each track is either learnt to the noise ceiling or not at
all, and which ones changes with the seed, while the true motifs written into the first
layer let it learn every track (bench/RESULTS.md, "Motif-seeded first layers"). Counting k-mers is enough to find those motifs: under the highest bins of
each track the motif's k-mers are tens of times more frequent than in the whole sequence.
So before training we do what a seeding motif finder does (the k-mer seeds of HOMER, STREME
or MEME) and hand the result to the network as a starting point, not a constraint:

1. **Count** k-mers (both strands as one) over non-overlapping stretches of the training
   windows, in all of them (background) and near each track's top bins (foreground).
2. **Pick seeds**: for every track its most over-represented k-mers (a z-score against the
   background rate), taken round-robin over tracks so that each track gets its best k-mer
   before any gets a second one.
3. **Grow each seed into a PWM** from its occurrences (within one mismatch) near the top
   bins of the track that gave it, aligned on the seed, and cut to the most informative
   stretch as wide as the first-layer kernel. A later k-mer that a grown motif already
   explains (:func:`explains`: a shifted piece of it, on either strand) is skipped, so
   tracks that share a motif seed it once.
4. **Write** each PWM and its reverse complement into two first-layer filters as log-odds
   against the background base composition, scaled so that the best match scores
   ``MATCH_SCORE``; the other filters keep their random start.

Everything is computed from the training windows only and is deterministic (no random
draws), so every DDP rank seeds the same filters. Memory is bounded by ``max_chunks``
stretches of ``CHUNK_BP`` and ``TRACK_BLOCK`` tracks' counts at a time, whatever the
genome's size and the number of tracks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from genomics.data.genome import GenomeStore
from genomics.data.targets import TargetStore

__all__ = [
    "MotifSeed",
    "count_kmers",
    "enrichment",
    "explains",
    "find_motifs",
    "informative_cut",
    "kmer_ids",
    "pick_seeds",
    "seed_first_layer",
    "seed_filters",
]

log = logging.getLogger(__name__)

CHUNK_BP = 131_072  # stretches of training sequence read at a time
MATCH_SCORE = 3.0  # a filter's score on its PWM's best match (exp(3) = 20 with an exp stem)
PSEUDOCOUNT = 0.5  # per base and column, added to a PWM's counts
MIN_Z = 5.0  # a seed k-mer's least enrichment z-score
TRACK_BLOCK = 128  # tracks counted at a time (4**k counts each)
EXPLAINED = 0.75  # a k-mer scoring this share of a found motif's best is that motif
MIN_COLUMN_NATS = 0.5  # ... at columns holding this much log-odds each (not flanks)


@dataclass(frozen=True)
class MotifSeed:
    """One seeded motif: the track it came from, its k-mer seed and its PWM.

    ``pwm`` has shape ``(w, 4)``, rows summing to 1, ``ACGT`` order; ``z`` is the seed's
    enrichment z-score under that track's top bins; ``sites`` the occurrences it was built
    from.
    """

    track: str
    kmer: str
    z: float
    sites: int
    pwm: np.ndarray


def kmer_ids(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Base-4 ids of every k-mer of a code sequence.

    Parameters
    ----------
    codes : np.ndarray, shape (l,), uint8 (``A=0 C=1 G=2 T=3``, N=4)
    k : k-mer length.

    Returns
    -------
    ids : np.ndarray, shape (l - k + 1,), int64, in ``[0, 4**k)`` (an N counts as A)
    valid : np.ndarray, shape (l - k + 1,), bool: the k-mer holds no N
    """
    n = len(codes) - k + 1
    if n <= 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    c = codes.astype(np.int64)
    ok = c < 4
    c = np.where(ok, c, 0)
    ids, valid = np.zeros(n, np.int64), np.ones(n, bool)
    for j in range(k):
        ids = ids * 4 + c[j : j + n]
        valid &= ok[j : j + n]
    return ids, valid


def _digits(k: int) -> np.ndarray:
    """(4**k, k) base codes of every k-mer id, most significant first."""
    ids = np.arange(4**k)
    return np.stack([(ids >> (2 * (k - 1 - j))) & 3 for j in range(k)], axis=1)


def _reverse_complement_ids(k: int) -> np.ndarray:
    """(4**k,) the id of each k-mer's reverse complement."""
    rc = 3 - _digits(k)[:, ::-1]
    return (rc * (4 ** np.arange(k - 1, -1, -1))).sum(axis=1)


def _decode(kmer: int, k: int) -> str:
    return "".join("ACGT"[(kmer >> (2 * (k - 1 - j))) & 3] for j in range(k))


def _chunks(windows: Sequence[tuple[str, int, int]], max_chunks: int) -> list[tuple[str, int, int]]:
    """The training windows merged into non-overlapping stretches, cut into ``CHUNK_BP``
    pieces, at most ``max_chunks`` of them spread evenly over the genome."""
    merged: list[list] = []
    for chrom, start, end in sorted(windows):
        if merged and merged[-1][0] == chrom and start <= merged[-1][2]:
            merged[-1][2] = max(merged[-1][2], end)
        else:
            merged.append([chrom, start, end])
    pieces = [
        (chrom, s, min(s + CHUNK_BP, end))
        for chrom, start, end in merged
        for s in range(start, end, CHUNK_BP)
    ]
    if len(pieces) > max_chunks:
        pick = np.unique(np.linspace(0, len(pieces) - 1, max_chunks).round().astype(int))
        pieces = [pieces[i] for i in pick]
    return pieces


@dataclass(frozen=True)
class _Sample:
    """The training sequence read once: per chunk its place, codes and k-mer ids."""

    chunks: list[tuple[str, int, int]]
    codes: list[np.ndarray]  # (l,) uint8 per chunk
    kmers: list[np.ndarray]  # (l - k + 1,) int32 k-mer ids (this strand) per chunk
    valid: list[np.ndarray]  # (l - k + 1,) bool per chunk
    background: np.ndarray  # (4**k,) canonical k-mer counts of all the chunks


def _read_sample(genome: GenomeStore, chunks: list[tuple[str, int, int]], k: int) -> _Sample:
    canon = _canonical_ids(k)
    codes, kmers, valid, background = [], [], [], np.zeros(4**k)
    for chrom, start, end in chunks:
        c = np.asarray(genome.fetch(chrom, start, end))
        ids, ok = kmer_ids(c, k)
        codes.append(c)
        kmers.append(ids.astype(np.int32))
        valid.append(ok)
        background += np.bincount(canon[ids[ok]], minlength=4**k)
    return _Sample(chunks, codes, kmers, valid, background)


def _canonical_ids(k: int) -> np.ndarray:
    """(4**k,) int32: each k-mer's id folded with its reverse complement's (the smaller)."""
    return np.minimum(np.arange(4**k), _reverse_complement_ids(k)).astype(np.int32)


def _top_masks(
    targets: TargetStore,
    chunks: Sequence[tuple[str, int, int]],
    tracks: np.ndarray,
    top_fraction: float,
) -> list[np.ndarray]:
    """Per chunk, a (bins, len(tracks)) mask of each track's top bins; a chunk's first
    row is the bin that holds its start.

    A track's top bins are those at or above its ``1 - top_fraction`` quantile over all
    chunks, and above its median (so a mostly-zero peak track keeps only its positives).
    """
    bs = targets.bin_size
    ys = [
        targets.fetch(c, s // bs, -(-e // bs))[:, tracks].astype(np.float32) for c, s, e in chunks
    ]
    allbins = np.concatenate(ys)
    high = np.quantile(allbins, 1 - top_fraction, axis=0)
    median = np.median(allbins, axis=0)
    return [(y >= high) & (y > median) for y in ys]


def _near_top(mask: np.ndarray, start: int, pos: np.ndarray, bs: int, flank: int) -> np.ndarray:
    """(len(pos), t) bool: whether positions ``start + pos`` of a chunk lie within
    ``flank`` bp of a top bin in ``mask`` (bins, t), i.e. in ``[b * bs - flank, (b + 1) *
    bs + flank)`` for a top bin ``b``."""
    # a position is near a top bin if the bins of pos - flank .. pos + flank hold one:
    # a cumulative sum over bins answers that for every position at once
    csum = np.concatenate(
        [np.zeros((1, mask.shape[1]), np.int32), np.cumsum(mask, axis=0, dtype=np.int32)]
    )
    first = start // bs
    lo = np.clip((start + pos - flank) // bs - first, 0, len(mask))
    hi = np.clip((start + pos + flank) // bs - first + 1, 0, len(mask))
    return (csum[hi] - csum[lo]) > 0


def _near_positions(
    mask: np.ndarray, start: int, n: int, bs: int, flank: int
) -> tuple[np.ndarray, np.ndarray]:
    """The (track, position) pairs of :func:`_near_top` over positions ``0 .. n - 1``, each
    once, built from the top bins' ranges (a few per cent of the positions) rather than by
    testing every position for every track.

    Returns
    -------
    tracks, positions : np.ndarray, shape (m,), int
    """
    b, t = np.nonzero(mask)
    order = np.lexsort((b, t))  # by track, then bin
    b, t = b[order], t[order]
    first = start // bs
    lo = (first + b) * bs - flank - start
    hi = (first + b + 1) * bs + flank - start
    # a bin's range starts where the one of the track's previous top bin ended
    same = np.r_[False, t[1:] == t[:-1]]
    lo = np.where(same, np.maximum(lo, np.r_[0, hi[:-1]]), lo)
    lo, hi = np.clip(lo, 0, n), np.clip(hi, 0, n)
    lengths = np.maximum(hi - lo, 0)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(t, lengths), np.repeat(lo, lengths) + offsets


def count_kmers(
    sample: _Sample, masks: Sequence[np.ndarray], *, k: int, bin_size: int, flank: int
) -> np.ndarray:
    """Canonical k-mer counts near each masked track's top bins (``sample.background``
    holds those of all the sequence).

    Parameters
    ----------
    sample : the sequence read (:func:`_read_sample`).
    masks : per chunk, a (bins, t) top-bin mask (:func:`_top_masks`).

    Returns
    -------
    np.ndarray, shape (t, 4**k), float64: k-mers starting within ``flank`` bp of a track's
    top bins, both strands folded onto the smaller id
    """
    canon = _canonical_ids(k)
    t = masks[0].shape[1] if masks else 0
    foreground = np.zeros(t * 4**k)
    for (_, start, _), ids, valid, mask in zip(
        sample.chunks, sample.kmers, sample.valid, masks, strict=True
    ):
        ids = canon[ids]
        track, pos = _near_positions(mask, start, len(ids), bin_size, flank)
        keep = valid[pos]
        foreground += np.bincount(track[keep] * 4**k + ids[pos[keep]], minlength=t * 4**k)
    return foreground.reshape(t, 4**k)


def enrichment(background: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """Each k-mer's over-representation near each track's top bins.

    Parameters
    ----------
    background : np.ndarray, shape (4**k,): canonical k-mer counts of all the sequence.
    foreground : np.ndarray, shape (t, 4**k): the same near each track's top bins.

    Returns
    -------
    np.ndarray, shape (t, 4**k): ``(observed - expected) / sqrt(expected + 1)``, expected
    from the background rate and the track's foreground total.
    """
    rate = background / max(background.sum(), 1.0)
    expected = foreground.sum(axis=1, keepdims=True) * rate
    return (foreground - expected) / np.sqrt(expected + 1.0)


def explains(logodds: np.ndarray, kmer: np.ndarray) -> bool:
    """Whether a motif already covers a k-mer: at some offset, on either strand, the k-mer
    scores at least ``EXPLAINED`` of the best score the motif's columns there allow (and
    those columns hold at least ``MIN_COLUMN_NATS`` a column: not flanks).

    Parameters
    ----------
    logodds : np.ndarray, shape (span, 4): a motif's log-odds against the background.
    kmer : np.ndarray, shape (k,): base codes.
    """
    k = len(kmer)
    for strand in (kmer, 3 - kmer[::-1]):
        for o in range(len(logodds) - k + 1):
            cols = logodds[o : o + k]
            best = cols.max(axis=1).sum()
            if best >= MIN_COLUMN_NATS * k and cols[np.arange(k), strand].sum() >= EXPLAINED * best:
                return True
    return False


def pick_seeds(
    candidates: np.ndarray,
    scores: np.ndarray,
    n: int,
    grow: Callable[[int, int], np.ndarray],
    *,
    k: int,
    min_z: float = MIN_Z,
) -> list[tuple[int, int, np.ndarray]]:
    """Up to ``n`` distinct motifs, round-robin over tracks by enrichment.

    Each round takes every track's best k-mer that no motif found so far explains (see
    :func:`explains`), best z first, grows it into a motif with ``grow`` and re-checks the
    next one against it: two tracks of one motif give it once.

    Parameters
    ----------
    candidates : np.ndarray, shape (t, c), int: each track's most enriched k-mer ids, best
        first.
    scores : np.ndarray, shape (t, c): their :func:`enrichment` z-scores.
    n : motifs to return at most.
    grow : ``(track, kmer) -> (span, 4)`` log-odds of the motif grown from that seed.
    k : k-mer length.
    min_z : a k-mer's least z-score to count as enriched.

    Returns
    -------
    list of ``(track index, k-mer id, log-odds)``, in the order picked.
    """
    digits = _digits(k)
    width = candidates.shape[1]
    cursor = np.zeros(len(candidates), int)
    chosen: list[tuple[int, int, np.ndarray]] = []

    def new(kmer: int) -> bool:
        return not any(explains(lo, digits[kmer]) for _, _, lo in chosen)

    while len(chosen) < n:
        best = []
        for t in range(len(candidates)):
            while cursor[t] < width:
                kmer = int(candidates[t, cursor[t]])
                if scores[t, cursor[t]] < min_z:
                    cursor[t] = width
                elif new(kmer):
                    best.append((float(scores[t, cursor[t]]), t, kmer))
                    break
                else:
                    cursor[t] += 1
        if not best:
            break
        for _, t, kmer in sorted(best, key=lambda b: -b[0]):
            if len(chosen) == n:
                break
            cursor[t] += 1
            if new(kmer):
                chosen.append((t, kmer, grow(t, kmer)))
    return chosen


def _grow_counts(
    sample: _Sample,
    masks: Sequence[np.ndarray],
    kmer: int,
    *,
    k: int,
    span: int,
    bin_size: int,
    flank: int,
) -> tuple[np.ndarray, int]:
    """Base counts, shape ``(span, 4)``, of the seed's occurrences (one mismatch allowed,
    either strand) near the top bins of one track (``masks``: per chunk (bins, 1)),
    aligned on the seed (which starts at column ``(span - k) // 2``), and the number of
    occurrences."""
    digits = _digits(k)
    mismatches = (digits != digits[kmer]).sum(axis=1)
    rc = _reverse_complement_ids(k)
    forward, reverse = mismatches <= 1, mismatches[rc] <= 1
    pad = (span - k) // 2
    counts, sites = np.zeros((span, 4)), 0
    for (_, start, _), codes, ids, valid, mask in zip(
        sample.chunks, sample.codes, sample.kmers, sample.valid, masks, strict=True
    ):
        for flip, hits in ((False, forward[ids]), (True, reverse[ids])):
            pos = np.flatnonzero(hits & valid)
            pos = pos[_near_top(mask, start, pos, bin_size, flank)[:, 0]]
            # a reverse hit's window starts so that, once reversed, its seed sits at `pad`
            first = pos - (span - k - pad if flip else pad)
            first = first[(first >= 0) & (first + span <= len(codes))]
            win = codes[first[:, None] + np.arange(span)]  # (sites, span)
            if flip:
                win = np.where(win < 4, 3 - win, 4)[:, ::-1]
            for b in range(4):
                counts[:, b] += (win == b).sum(axis=0)
            sites += len(first)
    return counts, sites


def _frequencies(counts: np.ndarray) -> np.ndarray:
    return (counts + PSEUDOCOUNT) / (counts + PSEUDOCOUNT).sum(axis=1, keepdims=True)


def informative_cut(pwm: np.ndarray, width: int) -> np.ndarray:
    """The ``width`` consecutive columns of ``pwm`` (shape ``(span, 4)``) with the most
    information (bits), shape ``(width, 4)``."""
    info = 2 + (pwm * np.log2(pwm)).sum(axis=1)
    best = int(np.argmax(np.convolve(info, np.ones(width), mode="valid")))
    return pwm[best : best + width]


def find_motifs(
    genome: GenomeStore,
    targets: TargetStore,
    windows: Sequence[tuple[str, int, int]],
    n: int,
    *,
    width: int,
    k: int = 8,
    top_fraction: float = 0.01,
    flank: int = 64,
    max_chunks: int = 256,
    candidates: int = 64,
) -> tuple[list[MotifSeed], np.ndarray]:
    """Up to ``n`` motifs enriched near the top bins of the tracks, from ``windows``.

    Parameters
    ----------
    genome, targets : the stores the model trains on.
    windows : training windows ``(chrom, start, end)``; only their sequence is read.
    n : motifs to find at most (fewer when fewer k-mers are enriched).
    width : PWM width (the first-layer kernel).
    k : seed k-mer length.
    top_fraction : a track's top bins are this fraction of the bins read.
    flank : bp either side of a top bin that count as near it.
    max_chunks : read at most this many stretches of ``CHUNK_BP`` (32 Mb by default).
    candidates : k-mers kept per track, most enriched first.

    Memory: the sequence read (about 6 bytes a base) plus ``TRACK_BLOCK`` tracks' counts
    (``4**k`` each) at a time, whatever the number of tracks.

    Returns
    -------
    motifs : the seeded motifs, in the order picked.
    background : np.ndarray, shape (4,): base composition of the sequence read (both
        strands).
    """
    sample = _read_sample(genome, _chunks(windows, max_chunks), k)
    bs = targets.bin_size
    kept = np.zeros((targets.n_tracks, candidates), np.int64)
    kept_z = np.zeros((targets.n_tracks, candidates))
    tops = {}  # track -> its top bins, as indices into the sample's bins end to end
    for first in range(0, targets.n_tracks, TRACK_BLOCK):
        block = np.arange(first, min(first + TRACK_BLOCK, targets.n_tracks))
        masks = _top_masks(targets, sample.chunks, block, top_fraction)
        joined = np.concatenate(masks)
        tops.update({t: np.flatnonzero(joined[:, j]) for j, t in enumerate(block)})
        foreground = count_kmers(sample, masks, k=k, bin_size=bs, flank=flank)
        z = enrichment(sample.background, foreground)
        order = np.argsort(-z, axis=1, kind="stable")[:, :candidates]
        kept[block], kept_z[block] = order, np.take_along_axis(z, order, axis=1)
    digits = _digits(k)
    base = np.array([(sample.background * (digits == b).sum(axis=1)).sum() for b in range(4)])
    base = (base + base[::-1]) / max(2 * base.sum(), 1.0)
    span = width + 2 * k  # room either side of the seed for a motif longer than it
    grown: dict[tuple[int, int], tuple[np.ndarray, int]] = {}

    ends = np.cumsum([len(m) for m in masks])  # each chunk's last bin + 1, end to end

    def grow(track: int, kmer: int) -> np.ndarray:
        joined = np.zeros((ends[-1], 1), bool)
        joined[tops[track]] = True
        masks = np.split(joined, ends[:-1])
        counts, sites = _grow_counts(sample, masks, kmer, k=k, span=span, bin_size=bs, flank=flank)
        grown[track, kmer] = (_frequencies(counts), sites)
        return np.log(grown[track, kmer][0] / base)

    motifs = []
    for track, kmer, _ in pick_seeds(kept, kept_z, n, grow, k=k):
        pwm, sites = grown[track, kmer]
        z = float(kept_z[track][kept[track] == kmer][0])
        motifs.append(
            MotifSeed(targets.names[track], _decode(kmer, k), z, sites, informative_cut(pwm, width))
        )
    log.info(
        "first-layer motifs: %s",
        ", ".join(f"{m.kmer} ({m.track}, z {m.z:.0f}, {m.sites} sites)" for m in motifs),
    )
    return motifs, base


@torch.no_grad()
def seed_filters(conv: nn.Conv1d, motifs: Sequence[MotifSeed], background: np.ndarray) -> int:
    """Write each motif and its reverse complement into the first filters of ``conv``.

    Parameters
    ----------
    conv : the first layer, ``in_channels == 4`` (one-hot ``ACGT``), kernel ``w``.
    motifs : PWMs of shape ``(w, 4)`` or narrower (centred in the kernel).
    background : np.ndarray, shape (4,): base frequencies the log-odds are taken against.

    Returns
    -------
    int : filters written (two per motif, at most ``conv.out_channels``).
    """
    filters, _, width = conv.weight.shape
    i = 0
    for motif in motifs:
        logodds = np.log(motif.pwm / background)  # (w, 4)
        for strand in (logodds, logodds[::-1, ::-1]):
            if i == filters:
                return i
            s = strand - strand.mean(axis=1, keepdims=True)
            peak = s.max(axis=1).sum()
            w = np.zeros((4, width))
            off = (width - len(s)) // 2
            w[:, off : off + len(s)] = s.T * (MATCH_SCORE / peak if peak > 0 else 0.0)
            conv.weight[i] = torch.as_tensor(w, dtype=conv.weight.dtype)
            if conv.bias is not None:
                conv.bias[i] = 0.0
            i += 1
    return i


def seedable_first_layer(model: nn.Module, n: int) -> nn.Conv1d:
    """The first-layer conv of ``model.tower`` that ``n`` motifs will be written into.

    Raises ``ValueError`` when the model has no conv tower or fewer than ``2 * n``
    first-layer filters (checked before training starts, so a bad value leaves no folder).
    """
    tower = getattr(model, "tower", None)
    if tower is None or not hasattr(tower, "first_layer"):
        raise ValueError(f"train.init_motifs: a {type(model).__name__} has no first-layer conv")
    conv = tower.first_layer
    if 2 * n > conv.out_channels:
        raise ValueError(
            f"train.init_motifs {n} needs {2 * n} first-layer filters but the model has "
            f"{conv.out_channels}: lower it to {conv.out_channels // 2} or less, or widen the "
            "first layer (model.<name>.stem_channels or stem_filters)"
        )
    return conv


def seed_first_layer(
    model: nn.Module,
    n: int,
    genome: GenomeStore,
    targets: TargetStore,
    windows: Sequence[tuple[str, int, int]],
) -> list[MotifSeed]:
    """``train.init_motifs``: find up to ``n`` motifs in ``windows`` and write them (both
    strands) into the first layer of ``model.tower`` (:class:`~genomics.models.layers.ConvTower`).

    Raises ``ValueError`` as :func:`seedable_first_layer`.
    """
    conv = seedable_first_layer(model, n)
    motifs, background = find_motifs(genome, targets, windows, n, width=conv.kernel_size[0])
    written = seed_filters(conv, motifs, background)
    if len(motifs) < n:
        log.warning(
            "train.init_motifs: %d motifs asked for, %d k-mers enriched enough; %d first-layer "
            "filters seeded",
            n,
            len(motifs),
            written,
        )
    return motifs
