"""Simulated SNVs and their true effects, from the noise-free oracle.

Effect of a variant on track ``t``
----------------------------------
With ``lambda_t`` the oracle's expected coverage per base of the whole chromosome
(:func:`genomics.simulate.oracle.expected_signal`), ``p`` the variant's 0-based position
and ``W`` the effect window (``effect_window``, 65,536 bp by default)::

    S_t(seq) = sum of lambda_t(x) over x in [p - W, p + W] (clipped to the chromosome)
    effect_t = log2((S_t(alt) + 1) / (S_t(ref) + 1))

``S`` includes the track background, so a variant that changes nothing has effect exactly
0 and one that removes a peak has a negative effect. ``W`` covers the farthest enhancer
of every long-range track, so an enhancer variant moves the signal of promoters tens of kb
away. The window is in bases; summing the 128-bp bins that tile it gives the same number
up to the half-bins at its ends.

Computing it
------------
The ref signal is computed once per chromosome; ``S(ref)`` comes from its prefix sums.
For the alt, only the motif activations within half a motif width of the variant can
change; they are rescanned on a few dozen bases. A variant that changes no activation has
effect 0. Otherwise each track that uses a changed motif gets its density recomputed on a
slice just wide enough for that track's reach (a few bp for a local track, the enhancer
range for a long-range one), and ``S(alt) - S(ref) = amplitude * sum_y d_delta(y) * w(y)``,
``w(y)`` the part of the peak kernel at ``y`` that falls in the window. No chromosome is
rescanned per variant.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from genomics.data.encoding import N_CODE
from genomics.simulate.chromosome import Chromosome
from genomics.simulate.grammar import Grammar, Track
from genomics.simulate.oracle import (
    gaussian_kernel,
    motif_activations,
    track_densities,
    track_density,
    track_reach,
    track_signal,
)

__all__ = ["BACKGROUND", "Variant", "pick_variants", "variant_effects"]

log = logging.getLogger(__name__)

BACKGROUND = "background"
CORE_BITS = 1.0  # a motif column is "core" if it carries at least this much information
_CLEARANCE = 20  # background variants keep this far (bp) from any planted element
_BATCH = 4096  # variants rescanned together


@dataclass(frozen=True)
class Variant:
    """One SNV. ``pos`` is 0-based; ``ref``/``alt`` are base codes 0..3."""

    chrom: str
    pos: int
    ref: int
    alt: int
    element: str  # name of the planted element it falls in, or "background"


def _core_positions(chrom: Chromosome, grammar: Grammar) -> tuple[np.ndarray, np.ndarray]:
    """Positions of core bases of planted sites, and the index of their element."""
    core = [m.information() >= CORE_BITS for m in grammar.motifs]
    pos, elem = [], []
    for start, _end, m, e, strand in chrom.sites:
        cols = core[m] if strand > 0 else core[m][::-1]
        p = start + np.flatnonzero(cols)
        pos.append(p)
        elem.append(np.full(p.size, e))
    if not pos:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(pos), np.concatenate(elem)


def _background_mask(chrom: Chromosome) -> np.ndarray:
    mask = chrom.codes != N_CODE
    for el in chrom.elements:
        mask[max(0, el.start - _CLEARANCE) : el.end + _CLEARANCE] = False
    return mask


def pick_variants(
    chroms: list[Chromosome], n: int, grammar: Grammar, rng: np.random.Generator
) -> list[Variant]:
    """Pick ``n`` SNVs at unique positions: ``n // 2`` at core bases of planted motif sites
    (any element: lone motifs, pairs, enhancers, promoters), the rest in background
    sequence at least 20 bp from any element. Alt bases are uniform over the other three.

    Returns
    -------
    list of Variant, sorted by chromosome (in ``chroms`` order) and position.

    Raises
    ------
    ValueError
        If the genome has fewer candidate positions than asked for.
    """
    n_element = n // 2
    cores = [_core_positions(c, grammar) for c in chroms]
    n_core = sum(p.size for p, _ in cores)
    if n_element > n_core:
        raise ValueError(
            f"simulate.n_variants={n}: half of them ({n_element}) should fall in planted "
            f"motif cores, but the genome has only {n_core} core bases; lower n_variants "
            "or raise density, chrom_length or n_chroms"
        )
    masks = [_background_mask(c) for c in chroms]
    counts = np.array([m.sum() for m in masks])
    n_background = n - n_element
    if n_background > counts.sum():
        raise ValueError(
            f"simulate.n_variants={n}: only {int(counts.sum())} background positions exist; "
            "lower n_variants"
        )

    picked: list[tuple[int, int, str]] = []
    offsets = np.cumsum([0] + [p.size for p, _ in cores])
    for k in np.sort(rng.choice(n_core, size=n_element, replace=False)):
        c = int(np.searchsorted(offsets, k, side="right") - 1)
        pos, elem = cores[c]
        picked.append((c, int(pos[k - offsets[c]]), chroms[c].elements[elem[k - offsets[c]]].name))
    edges = np.cumsum(np.concatenate([[0], counts]))
    chosen = np.sort(rng.choice(int(counts.sum()), size=n_background, replace=False))
    for c, mask in enumerate(masks):
        here = chosen[(chosen >= edges[c]) & (chosen < edges[c + 1])] - edges[c]
        if here.size:
            positions = np.flatnonzero(mask)[here]
            picked.extend((c, int(p), BACKGROUND) for p in positions)
    picked.sort(key=lambda v: (v[0], v[1]))

    shifts = rng.integers(1, 4, size=len(picked))
    variants = []
    for (c, p, element), shift in zip(picked, shifts, strict=True):
        ref = int(chroms[c].codes[p])
        assert ref < N_CODE
        variants.append(Variant(chroms[c].name, p, ref, (ref + int(shift)) % 4, element))
    return variants


def _window_weights(kernel: np.ndarray, y: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``sum_{x in [lo, hi)} kernel(x - y)`` for each source ``y``, shape (n,), float64."""
    half = kernel.size // 2
    cum = np.concatenate([[0.0], np.cumsum(kernel)])

    def below(d):  # sum of kernel(k) for k <= d
        return cum[np.clip(d + half + 1, 0, kernel.size)]

    return below(hi - 1 - y) - below(lo - 1 - y)


def _rescan(codes: np.ndarray, positions: np.ndarray, alts: np.ndarray, grammar: Grammar):
    """Alt activations near each variant, from one scan of all the alt snippets.

    Yields ``(q0, new)`` per variant: ``new``, shape (m, k), float32, the alt activations of
    centres ``q0 .. q0 + k``, the only ones whose motif windows hold the variant."""
    n_bases = codes.size
    half = max(m.width for m in grammar.motifs) // 2
    span = 4 * half + 1
    q0 = np.maximum(positions - half, 0)
    q1 = np.minimum(positions + half + 1, n_bases)
    s0 = np.maximum(q0 - half, 0)
    s1 = np.minimum(q1 + half, n_bases)
    blocks = np.full((positions.size, span + half), N_CODE, np.uint8)  # N between snippets
    src = s0[:, None] + np.arange(span)
    inside = src < s1[:, None]
    blocks[:, :span][inside] = codes[src[inside]]
    blocks[np.arange(positions.size), positions - s0] = alts
    act = motif_activations(blocks.ravel(), grammar).reshape(len(grammar.motifs), *blocks.shape)
    for i in range(positions.size):
        yield int(q0[i]), act[:, i, q0[i] - s0[i] : q1[i] - s0[i]]


def _delta_sum(
    act: np.ndarray,
    q0: int,
    new: np.ndarray,
    track: Track,
    grammar: Grammar,
    kernel: np.ndarray,
    lo: int,
    hi: int,
) -> float:
    """``S_alt - S_ref`` of one track over the window ``[lo, hi)``, when activations
    ``act[:, q0 : q0 + k]`` become ``new``: the density is recomputed on a slice just wide
    enough for the track's reach, and its change is weighed by the kernel mass in the window."""
    n_bases = act.shape[1]
    q1 = q0 + new.shape[1]
    reach = track_reach(track, grammar)
    y0, y1 = max(0, q0 - reach), min(n_bases, q1 + reach)
    z0, z1 = max(0, y0 - reach), min(n_bases, y1 + reach)
    rows = list(track.motifs)
    track = dataclasses.replace(track, motifs=tuple(range(len(rows))))  # rows of the slice
    a_ref = act[rows, z0:z1]
    a_alt = a_ref.copy()
    a_alt[:, q0 - z0 : q1 - z0] = new[rows]
    d_alt = track_density(a_alt, track, grammar)[y0 - z0 : y1 - z0]
    d_ref = track_density(a_ref, track, grammar)[y0 - z0 : y1 - z0]
    diff = d_alt - d_ref
    nz = np.flatnonzero(diff)
    if not nz.size:
        return 0.0
    return track.amplitude * float(diff[nz] @ _window_weights(kernel, nz + y0, lo, hi))


def variant_effects(
    codes: np.ndarray,
    positions: np.ndarray,
    alts: np.ndarray,
    grammar: Grammar,
    *,
    window: int = 65_536,
    act: np.ndarray | None = None,
    signal: np.ndarray | None = None,
    progress: bool | None = None,
) -> np.ndarray:
    """True effects of SNVs on one chromosome (see the module docstring for the definition).

    Parameters
    ----------
    codes : np.ndarray, shape (l,), uint8; the reference chromosome
    positions : np.ndarray, shape (n,), int; 0-based
    alts : np.ndarray, shape (n,), uint8 in 0..3
    grammar : Grammar
    window : int, half-width ``W`` of the summed window in bp
    act : np.ndarray, shape (m, l), float32, optional; :func:`motif_activations` of ``codes``
    signal : np.ndarray, shape (t, l), float64, optional; the ref
        :func:`~genomics.simulate.oracle.track_signal`
    progress : bool or None; tqdm bar (None: only on a TTY)

    Returns
    -------
    np.ndarray, shape (n, t), float64; ``log2((S_alt + 1) / (S_ref + 1))``
    """
    codes = np.asarray(codes)
    positions = np.asarray(positions, np.int64)
    alts = np.asarray(alts, np.uint8)
    n_bases = codes.size
    if positions.shape != alts.shape or positions.ndim != 1:
        raise ValueError(
            f"positions {positions.shape} and alts {alts.shape} must be 1-D of one length"
        )
    bad = np.flatnonzero((positions < 0) | (positions >= n_bases))
    if bad.size:
        raise ValueError(
            f"variant position {int(positions[bad[0]])} is outside the sequence (0..{n_bases - 1})"
        )
    if alts.size and alts.max() > 3:
        raise ValueError(f"alt codes must be 0..3 (A C G T), found {int(alts.max())}")
    if act is None:
        act = motif_activations(codes, grammar)
    if signal is None:
        signal = track_signal(track_densities(act, grammar), codes, grammar)

    lo = np.maximum(positions - window, 0)
    hi = np.minimum(positions + window + 1, n_bases)
    s_ref = np.empty((positions.size, len(grammar.tracks)), np.float64)
    for j in range(len(grammar.tracks)):
        cum = np.concatenate([[0.0], np.cumsum(signal[j], dtype=np.float64)])
        s_ref[:, j] = cum[hi] - cum[lo]

    kernels = [gaussian_kernel(t.sd) for t in grammar.tracks]
    delta = np.zeros_like(s_ref)
    bar = tqdm(
        total=positions.size,
        desc="variant effects",
        disable=None if progress is None else not progress,
        leave=False,
    )
    for b0 in range(0, positions.size, _BATCH):
        batch = slice(b0, b0 + _BATCH)
        for i, (q0, new) in zip(
            range(b0, min(b0 + _BATCH, positions.size)),
            _rescan(codes, positions[batch], alts[batch], grammar),
            strict=True,
        ):
            bar.update()
            changed = set(np.flatnonzero((new != act[:, q0 : q0 + new.shape[1]]).any(1)).tolist())
            for j, track in enumerate(grammar.tracks):
                if changed & set(track.motifs):
                    delta[i, j] = _delta_sum(
                        act, q0, new, track, grammar, kernels[j], int(lo[i]), int(hi[i])
                    )
    bar.close()
    return np.log2((s_ref + delta + 1.0) / (s_ref + 1.0))
