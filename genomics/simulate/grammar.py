"""The simulator's sequence grammar: motifs (PWMs) and the tracks they drive, from a seed.

A :class:`Grammar` is everything the oracle (:mod:`genomics.simulate.oracle`) needs to turn
sequence into expected coverage. :func:`make_grammar` builds it from ``seed`` and the
``simulate:`` parameters alone, so the same seed and parameters always give the same
grammar; :meth:`Grammar.to_dict` / :meth:`Grammar.from_dict` round-trip it through JSON
(``grammar.json``).

Motifs, in index order (``m0, m1, ...``)
----------------------------------------
- ``n_local_tracks`` TF motifs, one per local track (role ``tf``);
- two motifs per cooperative track, A then B (role ``coop``);
- one promoter motif shared by all long-range tracks (role ``promoter``), if there are any;
- one enhancer motif per long-range track (role ``enhancer``).

Every motif has an odd width (11 or 13 bp; odd so that its centre base maps onto itself
under reverse complement). Each column puts a share drawn uniformly from
``motif_consensus`` (default 0.70-0.97: high information content, 1.3 bits a column on
average) of its mass on a consensus base and spreads the rest at random; a lower range
gives degenerate motifs, whose sites vary more and whose weak matches turn up more often
in the background sequence.

Tracks, in order ``tf_m<i>``, ``coop_m<a>_m<b>``, ``expr_e<k>``, ``mark_e<k>``
-----------------------------------------------------------------------------
- ``local``: a peak at every match of the track's motif;
- ``coop``: a peak only where motif A and motif B centres lie within ``coop_distance`` bp;
- ``expr`` (long-range): a peak at every promoter-motif match, scaled by the activity of
  enhancer clusters (of the track's enhancer motif) ``min..max`` bp away, one
  ``[min, max]`` pair of ``expr_distances`` per track;
- ``mark`` (if ``enhancer_marks``, one per long-range track): a peak at every active
  enhancer cluster of that track's enhancer motif, as H3K27ac or DNase marks active
  enhancers in real data. It is local, and it is how a model can learn what an enhancer
  looks like before it learns which promoters it drives (the way Enformer's DNase and
  histone tracks teach the enhancers its CAGE predictions use).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "DEFAULTS",
    "Grammar",
    "Motif",
    "Track",
    "check_params",
    "make_grammar",
]

# The ``simulate:`` parameters and their defaults (the config schema holds the same values;
# tests/test_simulate.py checks that they agree).
DEFAULTS: dict[str, Any] = {
    "n_chroms": 4,
    "chrom_length": 2_000_000,
    "gc_content": 0.42,
    "n_variants": 2000,
    "n_local_tracks": 5,
    "n_coop_tracks": 1,
    "expr_distances": [[10_000, 30_000], [20_000, 50_000]],
    "coop_distance": 50,
    "peak_sd": 100.0,
    "density": 1.0,
    "depth": 1.0,
    "background": 0.005,
    "step": 16,
    "effect_window": 65_536,
    "enhancer_marks": True,
    "motif_consensus": [0.70, 0.97],
}

MOTIF_WIDTHS = (11, 13)
ACTIVATION_THRESHOLD = 0.7  # relative PWM score where a match starts to count
ENHANCER_HALF_WIDTH = 150  # bp either side of a position summed into its enhancer cluster
HILL_K = 1.5  # cluster activation (in full motif matches) at half-maximal enhancer activity
HILL_N = 2.0
EXPR_SD_FACTOR = 2.0  # long-range peaks are this much wider than local ones


@dataclass(frozen=True, eq=False)
class Motif:
    """A position weight matrix.

    Attributes
    ----------
    name : str, ``m<i>``
    role : str, one of ``tf``, ``coop``, ``promoter``, ``enhancer``
    pwm : np.ndarray, shape (w, 4), float64; base probabilities per column, ``ACGT``, rows
        sum to 1, ``w`` odd
    """

    name: str
    role: str
    pwm: np.ndarray

    @property
    def width(self) -> int:
        return int(self.pwm.shape[0])

    @property
    def consensus(self) -> str:
        return "".join("ACGT"[i] for i in self.pwm.argmax(1))

    def information(self) -> np.ndarray:
        """Information content per column in bits, shape (w,), float64."""
        p = np.clip(self.pwm, 1e-12, 1.0)
        return 2.0 + (p * np.log2(p)).sum(1)


@dataclass(frozen=True)
class Track:
    """One simulated track: which motifs drive it and how.

    Attributes
    ----------
    name : str, e.g. ``tf_m0``, ``coop_m5_m6``, ``expr_e0``, ``mark_e0``
    kind : str, ``local``, ``coop``, ``expr`` or ``mark``
    motifs : tuple of int; ``(m,)`` for local, ``(a, b)`` for coop, ``(promoter, enhancer)``
        for expr, ``(enhancer,)`` for mark
    amplitude : float, peak height (coverage per base) of a full-strength site
    sd : float, standard deviation in bp of the Gaussian peak
    background : float, expected coverage per base everywhere outside N
    distance : tuple of int; coop ``(0, max centre distance)``, expr ``(min, max)``
        enhancer-promoter distance, local ``(0, 0)``
    """

    name: str
    kind: str
    motifs: tuple[int, ...]
    amplitude: float
    sd: float
    background: float
    distance: tuple[int, int] = (0, 0)
    description: str = ""


@dataclass(frozen=True, eq=False)
class Grammar:
    """Motifs, tracks and the constants of the sequence -> signal rules.

    Attributes
    ----------
    seed : int
    params : dict, the full ``simulate:`` parameters (defaults filled in)
    motifs : tuple of Motif
    tracks : tuple of Track
    gc_content : float, background GC fraction (PWM log-odds are against it)
    threshold : float, relative PWM score at which a match's activation starts above 0
    enhancer_half_width : int, bp either side summed into an enhancer cluster
    hill_k, hill_n : float, half-saturation and steepness of enhancer cluster activity
    """

    seed: int
    params: dict
    motifs: tuple[Motif, ...]
    tracks: tuple[Track, ...]
    gc_content: float
    threshold: float = ACTIVATION_THRESHOLD
    enhancer_half_width: int = ENHANCER_HALF_WIDTH
    hill_k: float = HILL_K
    hill_n: float = HILL_N
    version: int = field(default=1)

    @property
    def track_names(self) -> list[str]:
        return [t.name for t in self.tracks]

    def to_dict(self) -> dict:
        """A JSON-ready dict (PWMs as nested lists) that :meth:`from_dict` reads back."""
        return {
            "version": self.version,
            "seed": self.seed,
            "params": self.params,
            "gc_content": self.gc_content,
            "threshold": self.threshold,
            "enhancer_half_width": self.enhancer_half_width,
            "hill_k": self.hill_k,
            "hill_n": self.hill_n,
            "motifs": [
                {
                    "name": m.name,
                    "role": m.role,
                    "consensus": m.consensus,
                    "pwm": m.pwm.tolist(),
                }
                for m in self.motifs
            ],
            "tracks": [
                {
                    "name": t.name,
                    "kind": t.kind,
                    "motifs": list(t.motifs),
                    "amplitude": t.amplitude,
                    "sd": t.sd,
                    "background": t.background,
                    "distance": list(t.distance),
                    "description": t.description,
                }
                for t in self.tracks
            ],
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Grammar:
        """Inverse of :meth:`to_dict`."""
        motifs = tuple(
            Motif(m["name"], m["role"], np.asarray(m["pwm"], dtype=np.float64)) for m in d["motifs"]
        )
        tracks = tuple(
            Track(
                name=t["name"],
                kind=t["kind"],
                motifs=tuple(t["motifs"]),
                amplitude=float(t["amplitude"]),
                sd=float(t["sd"]),
                background=float(t["background"]),
                distance=tuple(t["distance"]),
                description=t.get("description", ""),
            )
            for t in d["tracks"]
        )
        return cls(
            seed=int(d["seed"]),
            params=dict(d["params"]),
            motifs=motifs,
            tracks=tracks,
            gc_content=float(d["gc_content"]),
            threshold=float(d["threshold"]),
            enhancer_half_width=int(d["enhancer_half_width"]),
            hill_k=float(d["hill_k"]),
            hill_n=float(d["hill_n"]),
            version=int(d.get("version", 1)),
        )


def _need_int(p: dict, key: str, lo: int, hi: int | None = None) -> None:
    v = p[key]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ValueError(f"simulate.{key}={v!r} must be an integer")
    if v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise ValueError(f"simulate.{key}={v} is out of range; use a value {rng}")


def _need_number(p: dict, key: str, lo: float, hi: float, *, open_lo: bool = False) -> None:
    v = p[key]
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ValueError(f"simulate.{key}={v!r} must be a number")
    if not math.isfinite(v) or v > hi or v < lo or (open_lo and v == lo):
        lo_s = f"> {lo}" if open_lo else f">= {lo}"
        raise ValueError(f"simulate.{key}={v} is out of range; use a value {lo_s} and <= {hi}")


def check_params(params: Mapping[str, Any]) -> dict:
    """Fill in defaults and check the ``simulate:`` parameters.

    Raises
    ------
    ValueError
        For an unknown key or a bad value, naming the key, the value and what to do.
    """
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(
            f"unknown simulate parameter(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(DEFAULTS)}"
        )
    p = {**DEFAULTS, **params}
    _need_int(p, "n_chroms", 1)
    _need_int(p, "chrom_length", 10_000)
    _need_number(p, "gc_content", 0.0, 1.0, open_lo=True)
    if p["gc_content"] >= 1.0:
        raise ValueError(f"simulate.gc_content={p['gc_content']} must be below 1")
    _need_int(p, "n_variants", 0)
    _need_int(p, "n_local_tracks", 0, 8)
    _need_int(p, "n_coop_tracks", 0, 2)
    _need_int(p, "coop_distance", 20, 150)
    _need_number(p, "peak_sd", 10.0, 1000.0)
    _need_number(p, "density", 0.0, 10.0, open_lo=True)
    _need_number(p, "depth", 0.0, 1000.0, open_lo=True)
    _need_number(p, "background", 0.0, 10.0)
    _need_int(p, "step", 1, 1024)
    _need_int(p, "effect_window", 1)
    cons = p["motif_consensus"]
    ok = (
        isinstance(cons, (list, tuple))
        and len(cons) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in cons)
    )
    if not ok or not 0.4 <= cons[0] <= cons[1] <= 1.0:
        raise ValueError(
            f"simulate.motif_consensus={cons!r} must be a [min, max] pair with "
            "0.4 <= min <= max <= 1 (the consensus base's share of each motif column, "
            "e.g. [0.7, 0.97]); below 0.4 a motif is too weak to plant sites of"
        )
    p["motif_consensus"] = [float(cons[0]), float(cons[1])]
    if not isinstance(p["enhancer_marks"], bool):
        raise ValueError(f"simulate.enhancer_marks={p['enhancer_marks']!r} must be true or false")
    for key, value in DEFAULTS.items():  # 100 and 100.0 must give the same files
        if isinstance(value, bool):
            continue
        if isinstance(value, float):
            p[key] = float(p[key])
        elif isinstance(value, int):
            p[key] = int(p[key])

    dist = p["expr_distances"]
    if not isinstance(dist, (list, tuple)) or len(dist) > 4:
        raise ValueError(
            f"simulate.expr_distances={dist!r} must be a list of at most 4 [min, max] pairs"
        )
    pairs = []
    for pair in dist:
        ok = (
            isinstance(pair, (list, tuple))
            and len(pair) == 2
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)
        )
        if not ok or not 0 <= pair[0] < pair[1]:
            raise ValueError(
                f"simulate.expr_distances: {pair!r} is not a [min, max] pair of integers "
                "with 0 <= min < max (bp), e.g. [10000, 30000]"
            )
        pairs.append([int(pair[0]), int(pair[1])])
    p["expr_distances"] = pairs

    if p["n_local_tracks"] + p["n_coop_tracks"] + len(pairs) == 0:
        raise ValueError(
            "simulate: n_local_tracks=0, n_coop_tracks=0 and expr_distances=[] leave no "
            "tracks; ask for at least one"
        )
    if pairs:
        far = max(b for _, b in pairs)
        if p["chrom_length"] < 4 * far:
            raise ValueError(
                f"simulate.chrom_length={p['chrom_length']} is too short for expr_distances up "
                f"to {far} bp; use chrom_length >= {4 * far} (4 x the largest distance) or "
                "shorter distances"
            )
        reach = far + ENHANCER_HALF_WIDTH
        if p["effect_window"] < reach:
            raise ValueError(
                f"simulate.effect_window={p['effect_window']} does not reach the farthest "
                f"enhancer ({reach} bp): distal variants would show no effect; use "
                f"effect_window >= {reach}"
            )
    return p


def _sample_pwm(rng: np.random.Generator, consensus_share: tuple[float, float]) -> np.ndarray:
    w = int(rng.choice(MOTIF_WIDTHS))
    consensus = rng.integers(0, 4, size=w)
    peak = rng.uniform(*consensus_share, size=(w, 1))
    rest = rng.dirichlet(np.ones(4), size=w)
    pwm = peak * np.eye(4)[consensus] + (1.0 - peak) * rest
    return pwm / pwm.sum(1, keepdims=True)


def _clashes(pwm: np.ndarray, others: list[np.ndarray], gc: float) -> bool:
    """True if ``pwm`` and any of ``others`` would light each other's tracks: either one
    scores above threshold on the other's consensus (with random flanks, either strand)."""
    # imported here: the oracle imports this module for the Grammar type
    from genomics.simulate.oracle import scan_activation

    rng = np.random.default_rng(12345)
    for other in others:
        for a, b in ((pwm, other), (other, pwm)):
            flank = rng.integers(0, 4, size=(2, 16)).astype(np.uint8)
            seq = np.concatenate([flank[0], b.argmax(1).astype(np.uint8), flank[1]])
            if scan_activation(seq, a, gc).max() > 0.0:
                return True
    return False


def make_grammar(seed: int, **params: Any) -> Grammar:
    """Build the grammar (motifs, tracks, amplitudes) from the seed and parameters.

    Parameters
    ----------
    seed : int
    **params : the ``simulate:`` keys (see :data:`DEFAULTS`); genome-only keys are checked
        and recorded but do not change the grammar.

    Returns
    -------
    Grammar
    """
    p = check_params(params)
    rng = np.random.default_rng([int(seed), 0x6D6F74])  # "mot"
    n_local, n_coop, dists = p["n_local_tracks"], p["n_coop_tracks"], p["expr_distances"]
    roles = ["tf"] * n_local + ["coop"] * (2 * n_coop)
    if dists:
        roles += ["promoter"] + ["enhancer"] * len(dists)

    pwms: list[np.ndarray] = []
    for _ in roles:
        for _attempt in range(200):
            pwm = _sample_pwm(rng, p["motif_consensus"])
            if not _clashes(pwm, pwms, p["gc_content"]):
                break
        else:  # pragma: no cover - 200 clashing draws in a row does not happen in practice
            raise AssertionError("could not draw distinct motifs")
        pwms.append(pwm)
    motifs = tuple(Motif(f"m{i}", r, w) for i, (r, w) in enumerate(zip(roles, pwms, strict=True)))

    depth, bg, sd = float(p["depth"]), float(p["background"]), float(p["peak_sd"])
    tracks: list[Track] = []

    def peak_track(name: str, kind: str, motif: int, description: str) -> Track:
        """A track of peak_sd-wide peaks on one motif (or its clusters), amplitude 1.5-3."""
        amplitude = depth * float(rng.uniform(1.5, 3.0))
        return Track(name, kind, (motif,), amplitude, sd, depth * bg, description=description)

    for i in range(n_local):
        tracks.append(
            peak_track(
                f"tf_m{i}",
                "local",
                i,
                f"local: a peak at each match of motif m{i}, height graded by PWM score "
                "(either strand)",
            )
        )
    for k in range(n_coop):
        a, b = n_local + 2 * k, n_local + 2 * k + 1
        d = int(p["coop_distance"])
        tracks.append(
            Track(
                name=f"coop_m{a}_m{b}",
                kind="coop",
                motifs=(a, b),
                amplitude=depth * float(rng.uniform(2.0, 3.0)),
                sd=sd,
                background=depth * bg,
                distance=(0, d),
                description=f"local, cooperative: a peak only where motifs m{a} and m{b} lie "
                f"within {d} bp of each other (neither alone)",
            )
        )
    promoter = n_local + 2 * n_coop
    for k, (lo, hi) in enumerate(dists):
        e = promoter + 1 + k
        tracks.append(
            Track(
                name=f"expr_e{k}",
                kind="expr",
                motifs=(promoter, e),
                # a third of the local tracks' height: with twice their width and several
                # enhancers summed, expr peaks then carry about the same reads per peak as
                # the local tracks, so no track's loss drowns the others' (as a real
                # pipeline's per-track scaling would arrange)
                amplitude=depth * float(rng.uniform(1.5, 2.5)) / 3,
                sd=EXPR_SD_FACTOR * sd,
                background=depth * bg,
                distance=(lo, hi),
                description=f"long-range: a peak at each promoter motif m{promoter} match, "
                f"scaled by the activity of enhancer clusters of motif m{e} {lo}-{hi} bp away",
            )
        )
    if p["enhancer_marks"]:  # drawn last: the tracks above do not change with this switch
        for k in range(len(dists)):
            e = promoter + 1 + k
            tracks.append(
                peak_track(
                    f"mark_e{k}",
                    "mark",
                    e,
                    f"local, enhancer mark: a peak at each active cluster of enhancer motif "
                    f"m{e} (the enhancers expr_e{k} reads), whatever its distance to a promoter",
                )
            )
    return Grammar(
        seed=int(seed),
        params=p,
        motifs=motifs,
        tracks=tuple(tracks),
        gc_content=float(p["gc_content"]),
    )
