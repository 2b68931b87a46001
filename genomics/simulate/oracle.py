"""The noise-free oracle: sequence codes -> expected coverage of every simulated track.

The grammar (:class:`~genomics.simulate.grammar.Grammar`) is applied in three stages, each a
pure, vectorised function (no Python loop over bases):

1. :func:`motif_activations` ``(l,) codes -> (m, l)``: for motif ``m`` with log-odds score
   ``s(x)`` of the window centred on ``x`` (best of both strands; log-odds against the
   background base composition, quantised to 1/16 bit so that scores are exact integers),
   ``r = s / s_max`` and the activation is ``a_m(x) = clip((r - threshold) / (1 - threshold),
   0, 1)``: 1 for the consensus, graded for partial matches, exactly 0 for most of the
   background and for any window that holds an N or runs off the sequence.
2. :func:`track_density` ``(m, l) -> (l,)``, the source of each track's peaks:

   - ``local``: ``d(x) = a_m(x)``;
   - ``coop``: ``d(x) = (a_A(x) * max_{|k|<=D} a_B(x+k) + a_B(x) * max_{|k|<=D} a_A(x+k)) / 2``,
     zero unless both motifs are present within ``D`` bp (non-additive);
   - ``expr``: enhancer cluster load ``c(x) = sum_{|k|<=h} a_e(x+k)`` (``h`` =
     ``enhancer_half_width``), enhancer activity density ``E(x) = c^n / (c^n + K^n) / (2h+1)``
     (Hill: two or three matches together count for much more than one), promoter input
     ``I(x) = sum over min <= |k| <= max of E(x+k)`` and ``d(x) = a_p(x) * I(x)``: a
     promoter with no enhancer ``min..max`` bp away gives nothing, however good its motif;
   - ``mark``: ``d(x) = E(x)`` of the track's enhancer motif (about 1 in all per fully active
     cluster, spread over it).

3. :func:`track_signal`: ``lambda_t(x) = background_t * [x not N] +
   amplitude_t * sum_y d_t(y) * g_t(x - y)`` with ``g_t(k) = exp(-k^2 / (2 sd_t^2))`` for
   ``|k| <= ceil(4 sd_t)``; contributions that fall outside the sequence are dropped.

``lambda`` is the expected coverage per base: simulated bigWigs hold Poisson counts around
it, so it is what a model should learn. :func:`expected_signal` chains the three stages.
The value at ``x`` depends only on bases within :func:`signal_reach` of ``x``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
from scipy.ndimage import maximum_filter1d

from genomics.data.encoding import N_CODE

if TYPE_CHECKING:
    from genomics.simulate.grammar import Grammar, Track

__all__ = [
    "expected_signal",
    "gaussian_kernel",
    "log_odds",
    "motif_activations",
    "scan_activation",
    "signal_reach",
    "site_activation",
    "track_density",
    "track_densities",
    "track_reach",
    "track_signal",
]

_SCALE = 16  # log-odds quantum: 1/16 bit
_PSEUDO = 0.01
_N_SCORE = -(1 << 12)  # an N anywhere in the window makes the score hopeless
_RC_COLUMNS = [3, 2, 1, 0, 4]  # A C G T N -> T G C A N
_SCATTER_CHUNK = 1 << 22  # (source, offset) pairs per bincount


def _check_codes(codes: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 1 or codes.dtype != np.uint8:
        raise ValueError(
            f"codes must be a 1-D uint8 array, got shape {codes.shape} dtype {codes.dtype}"
        )
    if codes.size and codes.max() > N_CODE:
        raise ValueError(f"codes must lie in 0..4 (A C G T N), found {int(codes.max())}")
    return codes


def log_odds(pwm: np.ndarray, gc_content: float) -> np.ndarray:
    """Quantised log-odds matrix of a PWM, with an N column.

    Parameters
    ----------
    pwm : np.ndarray, shape (w, 4), float; probabilities per column (``ACGT``)
    gc_content : float, background GC fraction

    Returns
    -------
    np.ndarray, shape (w, 5), int32; ``round(16 * log2(p / background))`` for ``ACGT`` and
    a large negative score for N.
    """
    bg = np.array([1 - gc_content, gc_content, gc_content, 1 - gc_content]) / 2
    p = (np.asarray(pwm, np.float64) + _PSEUDO) / (1 + 4 * _PSEUDO)
    lo = np.rint(np.log2(p / bg) * _SCALE).astype(np.int32)
    return np.concatenate([lo, np.full((lo.shape[0], 1), _N_SCORE, np.int32)], axis=1)


def _triplet_tables(lo: np.ndarray) -> np.ndarray:
    """Scores of each group of 3 columns for every 3-mer code, shape (ceil(w/3), 125)."""
    w = lo.shape[0]
    g = -(-w // 3)
    padded = np.zeros((3 * g, 5), np.int32)  # zero columns past the motif: any base scores 0
    padded[:w] = lo
    k = np.arange(125)
    return padded[0::3][:, k // 25] + padded[1::3][:, (k // 5) % 5] + padded[2::3][:, k % 5]


def _strand_tables(lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triplet tables of the forward and the reverse-complement motif."""
    return _triplet_tables(lo), _triplet_tables(lo[::-1][:, _RC_COLUMNS])


class _Scanner:
    """Codes padded with N and packed into overlapping 3-mer codes, scanned by table lookup."""

    def __init__(self, codes: np.ndarray, pad: int):
        self.n = codes.size
        self.pad = pad
        padded = np.full(codes.size + 2 * pad + 2, N_CODE, np.intp)
        padded[pad : pad + codes.size] = codes
        self.trip = 25 * padded[:-2] + 5 * padded[1:-1] + padded[2:]  # 0..124

    def activation(self, lo: np.ndarray, threshold: float, tables=None) -> np.ndarray:
        """Activation at every centre, shape (n,), float32 (both strands, best one).

        ``tables``: :func:`_strand_tables` of ``lo`` if already at hand."""
        w = lo.shape[0]
        assert w % 2 == 1 and w // 2 <= self.pad
        start = self.pad - w // 2
        best = part = None
        for table in tables or _strand_tables(lo):
            s = np.take(table[0], self.trip[start : start + self.n])
            part = np.empty_like(s) if part is None else part
            for i in range(1, table.shape[0]):
                np.take(table[i], self.trip[start + 3 * i : start + 3 * i + self.n], out=part)
                s += part
            best = s if best is None else np.maximum(best, s, out=best)
        return _activation(best, lo, threshold)


def _activation(score: np.ndarray, lo: np.ndarray, threshold: float) -> np.ndarray:
    """Integer scores -> activations in [0, 1], float32 (relative score, linear ramp)."""
    s_max = int(lo[:, :4].max(1).sum())
    act = np.zeros(score.shape, np.float32)
    hit = score > int(np.floor(threshold * s_max))  # same as score / s_max > threshold
    r = score[hit].astype(np.float64) / s_max
    act[hit] = np.clip((r - threshold) / (1.0 - threshold), 0.0, 1.0)
    return act


def site_activation(
    sites: np.ndarray, pwm: np.ndarray, gc_content: float, threshold: float = 0.7
) -> np.ndarray:
    """Activation of a PWM on whole sites (its centre base), exactly as the scan sees them.

    Parameters
    ----------
    sites : np.ndarray, shape (n, w), uint8; ``w`` the motif width
    pwm : np.ndarray, shape (w, 4), float
    gc_content, threshold : float

    Returns
    -------
    np.ndarray, shape (n,), float32
    """
    lo = log_odds(pwm, gc_content)
    cols = np.arange(lo.shape[0])
    fwd = lo[cols, sites].sum(1)
    rev = lo[::-1][:, _RC_COLUMNS][cols, sites].sum(1)
    return _activation(np.maximum(fwd, rev), lo, threshold)


def scan_activation(
    codes: np.ndarray, pwm: np.ndarray, gc_content: float, threshold: float = 0.7
) -> np.ndarray:
    """Activation of one PWM at every centre of ``codes`` (stage 1 for a single motif).

    Parameters
    ----------
    codes : np.ndarray, shape (l,), uint8
    pwm : np.ndarray, shape (w, 4), float; ``w`` odd
    gc_content : float
    threshold : float, relative score where the activation starts above 0

    Returns
    -------
    np.ndarray, shape (l,), float32 in [0, 1]
    """
    codes = _check_codes(codes)
    lo = log_odds(pwm, gc_content)
    return _Scanner(codes, lo.shape[0] // 2).activation(lo, threshold)


def motif_activations(codes: np.ndarray, grammar: Grammar) -> np.ndarray:
    """Stage 1: activation of every motif at every position (the motif's centre base).

    Parameters
    ----------
    codes : np.ndarray, shape (l,), uint8, ``A=0 C=1 G=2 T=3 N=4``
    grammar : Grammar

    Returns
    -------
    np.ndarray, shape (m, l), float32 in [0, 1]
    """
    codes = _check_codes(codes)
    tables = _motif_tables(grammar)
    scanner = _Scanner(codes, max(lo.shape[0] for lo, _ in tables) // 2)
    act = np.empty((len(tables), codes.size), np.float32)
    for i, (lo, strands) in enumerate(tables):
        act[i] = scanner.activation(lo, grammar.threshold, strands)
    return act


@functools.lru_cache(maxsize=16)
def _motif_tables(grammar: Grammar) -> tuple:
    """Log-odds matrix and strand tables of each motif (cached: a Grammar is immutable and
    hashed by identity)."""
    tables = []
    for m in grammar.motifs:
        lo = log_odds(m.pwm, grammar.gc_content)
        tables.append((lo, _strand_tables(lo)))
    return tuple(tables)


def _scatter_convolve(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``out[i] = sum_j x[j] * kernel[i - j + k]`` (``k = len(kernel) // 2``), zero outside.

    Cost is (non-zeros of ``x``) x (kernel length), so sparse sources are cheap, and a
    position with no source within reach is exactly 0.

    Parameters
    ----------
    x : np.ndarray, shape (l,), float
    kernel : np.ndarray, shape (2k + 1,), float

    Returns
    -------
    np.ndarray, shape (l,), float64
    """
    n = x.size
    out = np.zeros(n, np.float64)
    idx = np.flatnonzero(x)
    if idx.size == 0:
        return out
    half = kernel.size // 2
    offsets = np.arange(-half, half + 1)
    per = max(1, _SCATTER_CHUNK // kernel.size)
    for s in range(0, idx.size, per):
        j = idx[s : s + per]
        pos = (j[:, None] + offsets).ravel()
        w = (x[j].astype(np.float64)[:, None] * kernel).ravel()
        keep = (pos >= 0) & (pos < n)
        pos, w = pos[keep], w[keep]
        lo = int(pos.min())
        part = np.bincount(pos - lo, weights=w)
        out[lo : lo + part.size] += part
    return out


def _segment_sums(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``[values[lo[i]:hi[i]].sum() for i]``, each segment summed on its own, shape (n,)."""
    n = values.size
    if lo.size == 0 or n == 0:
        return np.zeros(lo.size, np.float64)
    v = np.append(values.astype(np.float64), 0.0)
    lo = np.minimum(lo, n)
    hi = np.minimum(hi, n)
    idx = np.empty(2 * lo.size, np.intp)
    idx[0::2], idx[1::2] = lo, hi
    sums = np.add.reduceat(v, idx)[0::2]
    return np.where(hi > lo, sums, 0.0)


def _enhancer_activity(a_e: np.ndarray, grammar: Grammar) -> tuple[np.ndarray, np.ndarray]:
    """Enhancer activity density ``E`` where it is not 0: positions (k,) and values (k,)."""
    h = grammar.enhancer_half_width
    c = _scatter_convolve(a_e, np.ones(2 * h + 1))
    ie = np.flatnonzero(c)  # E(x) is 0 wherever c(x) is
    cn = np.power(c[ie], grammar.hill_n)
    return ie, cn / (cn + grammar.hill_k**grammar.hill_n) / (2 * h + 1)


def _expr_density(act: np.ndarray, track: Track, grammar: Grammar) -> np.ndarray:
    p, e = track.motifs
    a_p = act[p]
    dens = np.zeros(a_p.size, np.float64)
    idx = np.flatnonzero(a_p)
    if idx.size == 0:
        return dens
    ie, ve = _enhancer_activity(act[e], grammar)
    near, far = track.distance
    left = _segment_sums(
        ve, np.searchsorted(ie, idx - far, "left"), np.searchsorted(ie, idx - near, "right")
    )
    right = _segment_sums(
        ve,
        np.searchsorted(ie, idx + max(near, 1), "left"),
        np.searchsorted(ie, idx + far, "right"),
    )
    dens[idx] = a_p[idx] * (left + right)
    return dens


def track_density(act: np.ndarray, track: Track, grammar: Grammar) -> np.ndarray:
    """Stage 2 for one track: the density of its peak sources.

    Parameters
    ----------
    act : np.ndarray, shape (m, l), float32; from :func:`motif_activations`
    track : Track
    grammar : Grammar

    Returns
    -------
    np.ndarray, shape (l,), float64, >= 0
    """
    if track.kind == "local":
        return act[track.motifs[0]].astype(np.float64)
    if track.kind == "coop":
        a, b = (act[i].astype(np.float64) for i in track.motifs)
        size = 2 * track.distance[1] + 1
        near_a = maximum_filter1d(a, size=size, mode="constant", cval=0.0)
        near_b = maximum_filter1d(b, size=size, mode="constant", cval=0.0)
        return 0.5 * (a * near_b + b * near_a)
    if track.kind == "expr":
        return _expr_density(act, track, grammar)
    if track.kind == "mark":
        dens = np.zeros(act.shape[1], np.float64)
        ie, ve = _enhancer_activity(act[track.motifs[0]], grammar)
        dens[ie] = ve
        return dens
    raise ValueError(f"track {track.name}: unknown kind {track.kind!r}")


def track_densities(act: np.ndarray, grammar: Grammar) -> np.ndarray:
    """Stage 2 for every track, shape (t, l), float64 (see :func:`track_density`)."""
    out = np.empty((len(grammar.tracks), act.shape[1]), np.float64)
    for i, track in enumerate(grammar.tracks):
        out[i] = track_density(act, track, grammar)
    return out


def gaussian_kernel(sd: float) -> np.ndarray:
    """Peak shape ``exp(-k^2 / (2 sd^2))`` for ``|k| <= ceil(4 sd)``, shape (2k+1,), float64."""
    half = int(np.ceil(4 * sd))
    k = np.arange(-half, half + 1, dtype=np.float64)
    return np.exp(-0.5 * (k / sd) ** 2)


def track_signal(dens: np.ndarray, codes: np.ndarray, grammar: Grammar) -> np.ndarray:
    """Stage 3: smooth each track's density into peaks and add the background.

    Parameters
    ----------
    dens : np.ndarray, shape (t, l), float; from :func:`track_densities`
    codes : np.ndarray, shape (l,), uint8; only N positions matter (no background there)
    grammar : Grammar

    Returns
    -------
    np.ndarray, shape (t, l), float64; expected coverage per base
    """
    not_n = codes != N_CODE
    out = np.empty(dens.shape, np.float64)
    for i, track in enumerate(grammar.tracks):
        out[i] = track.amplitude * _scatter_convolve(dens[i], gaussian_kernel(track.sd))
        out[i] += track.background * not_n
    return out


def expected_signal(codes: np.ndarray, grammar: Grammar) -> np.ndarray:
    """The oracle: expected (noise-free) coverage per base of every track.

    The sequence ends are treated as chromosome ends (nothing beyond them).

    Parameters
    ----------
    codes : np.ndarray, shape (l,), uint8, ``A=0 C=1 G=2 T=3 N=4``
    grammar : Grammar

    Returns
    -------
    np.ndarray, shape (l, t), float32; positions along ``l``, tracks (in
    ``grammar.tracks`` order) last, like the package's targets.
    """
    codes = _check_codes(codes)
    act = motif_activations(codes, grammar)
    signal = track_signal(track_densities(act, grammar), codes, grammar)
    return signal.T.astype(np.float32)  # (t, l) -> (l, t)


def track_reach(track: Track, grammar: Grammar) -> int:
    """How far (bp) a track's density at ``x`` looks at activations: stage 2's reach."""
    if track.kind == "coop":
        return int(track.distance[1])
    if track.kind == "expr":
        return int(track.distance[1]) + grammar.enhancer_half_width
    if track.kind == "mark":
        return grammar.enhancer_half_width
    return 0


def signal_reach(grammar: Grammar) -> int:
    """How far (bp) from ``x`` a base can change any track's expected signal at ``x``."""
    half = max(m.width for m in grammar.motifs) // 2
    return half + max(
        track_reach(t, grammar) + len(gaussian_kernel(t.sd)) // 2 for t in grammar.tracks
    )
