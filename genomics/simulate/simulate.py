"""``genomics simulate``: the synthetic genome, tracks and variants the default config uses.

Writes into ``out``:

- ``genome.fa`` + ``genome.fa.fai``: ``chr1..chrN``, 60 bases a line, soft-masked stretches
  in lower case, N runs (one 10-50 kb gap in chr1);
- ``tracks/<name>.bw`` + ``tracks.tsv``: observed coverage, Poisson counts around the
  oracle's expected signal in ``step``-bp steps (each value is count / step, so a bin's
  sum is a read count);
- ``clean/<name>.bw`` + ``clean.tsv``: the noise-free signal, the oracle's expected count
  in the same ``step``-bp steps (divided by step, as above): what the observed tracks
  would hold with no sampling noise. ``clean.tsv`` is a tracks table like ``tracks.tsv``,
  so ``genomics targets`` bins it exactly like the targets (a noise-free target store,
  which ``genomics evaluate --noise-free`` reads for each track's noise ceiling);
- ``elements.bed``: every planted element (BED6, sorted);
- ``variants.vcf`` + ``effects.tsv``: SNVs and their true effect on every track
  (definition in :mod:`genomics.simulate.variants`);
- ``grammar.json``: the motifs and track rules (:mod:`genomics.simulate.grammar`).

Every random draw comes from ``seed``, so the same seed and parameters give byte-identical
files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from genomics.simulate.chromosome import SLOT, make_chromosome, planned_elements
from genomics.simulate.files import (
    write_bigwig,
    write_effects,
    write_elements,
    write_fasta,
    write_grammar,
    write_tracks_table,
    write_vcf,
)
from genomics.simulate.grammar import make_grammar
from genomics.simulate.oracle import motif_activations, track_densities, track_signal
from genomics.simulate.variants import BACKGROUND, pick_variants, variant_effects

__all__ = ["simulate"]

log = logging.getLogger(__name__)

# independent random streams, each keyed by (seed, stream, ...)
_GENOME, _VARIANTS, _NOISE = 1, 2, 3


def _observe(
    signal: np.ndarray, step: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson counts per ``step`` bp around the expected signal, and the expected counts
    themselves (the noise-free signal), both as count / step.

    Parameters
    ----------
    signal : np.ndarray, shape (t, l), float64; expected coverage per base
    step : int
    rng : np.random.Generator

    Returns
    -------
    observed, clean : np.ndarray, shape (t, ceil(l / step)), float64 each; the last step
        of a chromosome may be shorter (divided by its own width)
    """
    n = signal.shape[1]
    starts = np.arange(0, n, step)
    expected = np.maximum(np.add.reduceat(signal, starts, axis=1), 0.0)
    widths = np.diff(np.append(starts, n))
    return rng.poisson(expected) / widths, expected / widths


def simulate(out: Path, *, seed: int, **params: Any) -> dict:
    """Make the synthetic genome, tracks, planted elements, variants and true effects.

    Parameters
    ----------
    out : Path, output folder (created)
    seed : int
    **params : the config's ``simulate:`` keys (see
        :data:`genomics.simulate.grammar.DEFAULTS`); missing keys take their defaults

    Returns
    -------
    dict of counts: ``n_chroms``, ``genome_length``, ``n_n_bases``, ``n_motifs``,
    ``n_tracks``, ``n_elements``, ``n_variants``, ``n_element_variants``,
    ``n_background_variants``.

    Raises
    ------
    ValueError
        For a bad parameter, naming it and what to do.
    """
    out = Path(out)
    grammar = make_grammar(seed, **params)
    p = grammar.params
    n_chroms, length, step = p["n_chroms"], p["chrom_length"], p["step"]
    need = planned_elements(grammar, length, p["density"])
    if need > 0.6 * (length // SLOT):
        raise ValueError(
            f"simulate.density={p['density']} plants about {need} elements per chromosome "
            f"but a {length}-bp chromosome has room for {int(0.6 * (length // SLOT))}; "
            "lower density"
        )
    log.info(
        "simulating %d x %d bp, %d tracks (%s), seed %d",
        n_chroms,
        length,
        len(grammar.tracks),
        ", ".join(grammar.track_names),
        seed,
    )
    chroms = [
        make_chromosome(
            f"chr{i + 1}",
            length,
            grammar,
            np.random.default_rng([seed, _GENOME, i]),
            density=p["density"],
            long_gap=i == 0,
        )
        for i in range(n_chroms)
    ]
    variants = pick_variants(
        chroms, p["n_variants"], grammar, np.random.default_rng([seed, _VARIANTS])
    )
    ids = [f"sim{i + 1:06d}" for i in range(len(variants))]

    observed: dict[str, dict[str, np.ndarray]] = {t: {} for t in grammar.track_names}
    clean: dict[str, dict[str, np.ndarray]] = {t: {} for t in grammar.track_names}
    effects = np.zeros((len(variants), len(grammar.tracks)), np.float64)
    by_chrom = np.array([v.chrom for v in variants])
    for i, chrom in enumerate(tqdm(chroms, desc="chromosomes", disable=None)):
        act = motif_activations(chrom.codes, grammar)
        signal = track_signal(track_densities(act, grammar), chrom.codes, grammar)
        counts, expected = _observe(signal, step, np.random.default_rng([seed, _NOISE, i]))
        for t, name in enumerate(grammar.track_names):
            observed[name][chrom.name] = counts[t]
            clean[name][chrom.name] = expected[t]
        rows = np.flatnonzero(by_chrom == chrom.name)
        if rows.size:
            effects[rows] = variant_effects(
                chrom.codes,
                np.array([variants[r].pos for r in rows]),
                np.array([variants[r].alt for r in rows], np.uint8),
                grammar,
                window=p["effect_window"],
                act=act,
                signal=signal,
            )
        del act, signal

    out.mkdir(parents=True, exist_ok=True)
    write_fasta(out / "genome.fa", chroms)
    sizes = [(c.name, c.length) for c in chroms]
    for folder, values in (("tracks", observed), ("clean", clean)):
        for name in grammar.track_names:
            write_bigwig(out / folder / f"{name}.bw", sizes, values[name], step)
        stale = sorted(
            set((out / folder).glob("*.bw"))
            - {out / folder / f"{name}.bw" for name in grammar.track_names}
        )
        for path in stale:  # from an earlier run with other tracks: not in the table, misleading
            log.info("removing %s: not a track of this simulation", path)
            path.unlink()
    write_tracks_table(out / "tracks.tsv", grammar)
    write_tracks_table(out / "clean.tsv", grammar, folder="clean", noise_free=True)
    write_elements(out / "elements.bed", chroms)
    write_vcf(out / "variants.vcf", variants, ids, chroms)
    write_effects(out / "effects.tsv", variants, ids, effects, grammar.track_names)
    write_grammar(out / "grammar.json", grammar)

    n_background = sum(v.element == BACKGROUND for v in variants)
    summary = {
        "n_chroms": n_chroms,
        "genome_length": n_chroms * length,
        "n_n_bases": int(sum((c.codes == 4).sum() for c in chroms)),
        "n_motifs": len(grammar.motifs),
        "n_tracks": len(grammar.tracks),
        "n_elements": sum(len(c.elements) for c in chroms),
        "n_variants": len(variants),
        "n_element_variants": len(variants) - n_background,
        "n_background_variants": n_background,
    }
    log.info("simulated into %s: %s", out, summary)
    return summary
