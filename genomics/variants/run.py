"""``genomics score-variants``: a VCF scored with a trained model, streamed to a gzipped TSV.

Output folder (``results/variants/<model>/``)::

    scores.tsv.gz   one row per variant x ALT allele, in VCF order: id, chrom, pos (VCF,
                    1-based), ref, alt, then <track>:sad, <track>:log2fc, <track>:l2 per
                    coverage track, <track>:logodds per peak track, class:<name> per class
    rejects.tsv     alleles not scored: id, chrom, pos, ref, alt, reason
    summary.json    counts (scored, rejected by reason), parameters, seconds; written last
    annotated.vcf.gz  with ``annotated_vcf``: the input VCF with the scores as INFO fields
                    (:mod:`.annotate`), bgzipped, with a tabix index (``.tbi``) when the
                    input is sorted

The variants come from a VCF or a variant table (TSV with chrom, pos, ref, alt;
:mod:`.vcf`). Windows: each allele's window is centred on its position (``window_step`` > 1
snaps the start to a grid of that many bp, so variants close together share one window,
and one reference pass, with their offsets from the centre handled). With a context
(:mod:`.context`) the window is instead the allele's context record centred in its fill,
one window per record (and shift), shared by all the record's alleles. Alleles are read in
chunks of ``chunk_size`` (memory stays bounded for any input); within a chunk the distinct
reference windows are predicted once. Files are written under temporary names and renamed
when complete.

The annotated VCF needs a VCF input (a table is an error: there are no records to copy);
in context mode it holds the input's records as they are, the scores those of the
variants' context records. It is written as the alleles are scored, in input order: a
record waits only for its own alleles' chunk (a long run of rejects after a partly filled
chunk has the chunk scored early, so the records held stay under ``4 * chunk_size``).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from genomics.io import atomic_write_text
from genomics.variants.annotate import NOT_SAMPLED, AnnotatedVcf, info_fields
from genomics.variants.context import Context
from genomics.variants.score import Geometry, indel_alignment, score_variants
from genomics.variants.stats import COVERAGE_STATS, PEAK_STATS
from genomics.variants.vcf import (
    NO_CHROM,
    OUTSIDE,
    TOO_LONG,
    Allele,
    Reject,
    edited,
    iter_alleles,
    one_based,
    variant_format,
)

__all__ = ["plan_windows", "score_columns", "score_vcf", "variants_from_config"]

log = logging.getLogger(__name__)

SCORES = "scores.tsv.gz"
REJECTS = "rejects.tsv"
SUMMARY = "summary.json"
ANNOTATED = "annotated.vcf.gz"


def score_columns(
    geometry: Geometry, tracks: list[int], classes=None
) -> list[tuple[str, int, str]]:
    """``(column name, track or class index, statistic)`` of every score column."""
    cols = []
    for t in tracks:
        name, kind = geometry.track_names[t], geometry.track_kinds[t]
        for stat in COVERAGE_STATS if kind == "coverage" else PEAK_STATS:
            cols.append((f"{name}:{stat}", t, stat))
    if classes is not None:
        cols += [(f"class:{n}", k, "class") for k, n in enumerate(classes.names)]
    return cols


def plan_windows(geometry: Geometry, pos: int, *, window_step: int = 1, shift: int = 0):
    """The window of a variant at 0-based ``pos``: (start, offset of pos, variant bin).

    Centred on ``pos``; ``window_step`` > 1 rounds the start to a multiple of it (variants
    within it share a window); ``shift`` moves the window by whole bins."""
    start = pos - geometry.seq_len // 2
    if window_step > 1:
        start = ((start + window_step // 2) // window_step) * window_step
    start += shift * geometry.bin_size
    offset = pos - start
    return start, offset, geometry.bin_of(offset)


_FLUSH = object()  # in the allele stream: score the chunk so far now


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    """Lists of ``size`` items (the last shorter); ``_FLUSH`` ends a list early."""
    chunk = []
    for item in items:
        if item is _FLUSH:
            if chunk:
                yield chunk
                chunk = []
            continue
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def sampled(allele: Allele, fraction: float) -> bool:
    """Whether ``allele`` is in the ``fraction`` scored: a stable hash of chrom:pos:ref:alt
    (the same alleles every run, any file order, no memory)."""
    if fraction >= 1:
        return True
    key = f"{allele.chrom}:{allele.pos}:{allele.ref}:{allele.alt}".encode()
    return zlib.crc32(key) / 2**32 < fraction


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def genome_windows(genome, geometry: Geometry, *, window_step: int = 1):
    """``window(allele, shift, length) -> (key, start, codes)`` on the genome store:
    the window of :func:`plan_windows`, ``length`` bp of it (N past the chromosome)."""

    def window(a: Allele, shift: int, length: int):
        start = plan_windows(geometry, a.pos, window_step=window_step, shift=shift)[0]
        return (a.chrom, start), start, genome.fetch(a.chrom, start, start + length)

    return window


def context_windows(context, geometry: Geometry):
    """``window(allele, shift, length) -> (key, start, codes)`` in a
    :class:`~genomics.variants.context.Context`: the allele's record centred in its fill,
    moved by ``shift`` bins; every allele of a record shares the window."""

    def window(a: Allele, shift: int, length: int):
        start = context.window_start(a.record, geometry.seq_len) + shift * geometry.bin_size
        codes = context.fetch(a.record, start, start + length, seq_len=geometry.seq_len)
        return (a.record, start), start, codes

    return window


def _score_chunk(model, geometry, alleles, *, shifts, window, kw) -> np.ndarray:
    """Scores of a chunk of alleles, averaged over shifts: dict name -> (m, t).

    ``window`` is :func:`genome_windows`' or :func:`context_windows`' function; alleles
    whose windows have one key share one reference row."""
    refs: dict[tuple, int] = {}
    ref_rows, alt_rows, ref_index, vbins, aligns = [], [], [], [], []
    seq_len = geometry.seq_len
    for a in alleles:
        fill = max(0, len(a.ref) - len(a.alt))
        for shift in shifts:
            key, start, codes = window(a, shift, seq_len + fill)
            offset = a.pos - start
            vb = geometry.bin_of(offset)
            if key not in refs:
                refs[key] = len(ref_rows)
                ref_rows.append(codes[:seq_len])
            ref_index.append(refs[key])
            alt_rows.append(edited(codes, offset, len(a.ref), a.alt)[:seq_len])
            vbins.append(vb)
            aligns.append(indel_alignment(geometry, vb, len(a.alt) - len(a.ref)))
    scores = score_variants(
        model,
        np.stack(ref_rows),
        np.stack(alt_rows),
        geometry=geometry,
        variant_bin=np.array(vbins),
        ref_index=np.array(ref_index),
        alignment=aligns,
        **kw,
    )
    s = len(shifts)
    return {k: v.reshape(len(alleles), s, -1).mean(axis=1) for k, v in scores.items()}


def _check_context(context, geometry: Geometry, shifts: tuple[int, ...]) -> None:
    """Every base of every record falls in the model's output bins at every shift."""
    lo = geometry.crop_bins * geometry.bin_size  # first output offset
    hi = lo + geometry.n_bins * geometry.bin_size
    reach = max(abs(s) for s in shifts) * geometry.bin_size
    for r in context.records.values():
        first = geometry.seq_len // 2 - (r.middle - r.start)
        last = first + (r.end - r.start)
        if first - reach < lo or last + reach > hi:
            raise ValueError(
                f"context record {r.name!r} is {r.end - r.start} bp: longer than the model's "
                f"output ({hi - lo} bp, less {2 * reach} bp of shifts) can hold"
            )


def score_vcf(
    model,
    spec: dict,
    genome,
    vcf: str | Path,
    out: str | Path,
    *,
    classes=None,
    tracks: list[str] | None = None,
    span: int | None = None,
    pseudocount: float = 1.0,
    shifts: Iterable[int] = (0,),
    window_step: int = 1,
    reverse_complement: bool = True,
    batch_size: int = 8,
    chunk_size: int = 256,
    device=None,
    precision: str = "auto",
    strict: bool = False,
    fraction: float = 1.0,
    progress: bool | None = None,
    context=None,
    incremental: bool = True,
    annotated_vcf: bool = False,
) -> dict:
    """Score every ALT allele of ``vcf`` into the folder ``out`` (module docstring).

    Parameters
    ----------
    model, spec : from :func:`genomics.models.saved.load_model`.
    genome : a :class:`~genomics.data.genome.GenomeStore` (None with ``context``).
    vcf : a VCF or a variant table (TSV with chrom, pos, ref, alt; :mod:`.vcf`).
    classes : a :class:`~genomics.classes.ClassModel` (class-score columns) or None.
    tracks : track names to score (None: all), in the model's order.
    span, pseudocount : see :func:`genomics.variants.score.score_profiles`.
    shifts : window shifts in whole bins whose scores are averaged (``(0,)``: none).
    window_step : bp grid of window starts; variants on one grid point share a window.
    chunk_size : alleles held in memory at once.
    strict : the first REF mismatch is an error instead of a reject.
    fraction : score only this fraction of the alleles (:func:`sampled`); 1 for all.
    context : a :class:`~genomics.variants.context.Context`: score the alleles inside its
        records, each record centred in its fill (:mod:`.context`), instead of on the
        genome; alleles outside every record are rejected.
    incremental : alternates from the reference's conv-tower output, recomputed only
        around each edit (:mod:`genomics.inference.incremental`; same scores up to float
        summation order); False runs every alt window in full.
    annotated_vcf : also write ``annotated.vcf.gz``, the input VCF with score INFO fields
        (:mod:`.annotate`); a variant table is then an error.

    Returns
    -------
    dict, the summary written to ``summary.json``.
    """
    t0 = time.time()
    if annotated_vcf and variant_format(vcf) != "vcf":
        raise ValueError(
            f"variants.annotated_vcf: {vcf} is a variant table, not a VCF; the annotated VCF "
            "copies a VCF's records (the scores are in scores.tsv.gz)"
        )
    geometry = Geometry.of(spec)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shifts = tuple(int(s) for s in shifts) or (0,)
    half = geometry.n_bins * geometry.bin_size // 2
    if max(abs(s) for s in shifts) * geometry.bin_size >= half:
        raise ValueError(
            f"variants.shifts {list(shifts)}: a shift must stay under half the output "
            f"({half // geometry.bin_size} bins)"
        )
    if window_step > half:
        raise ValueError(f"variants.window_step {window_step} bp: at most {half} bp here")
    if context is None:
        window = genome_windows(genome, geometry, window_step=window_step)
    else:
        _check_context(context, geometry, shifts)
        window = context_windows(context, geometry)
        log.info(
            "context mode: variants scored in the %d records of %s, each centred in a "
            "%d-bp window filled with %s",
            len(context.records),
            context.path,
            geometry.seq_len,
            context.fill,
        )
    if tracks is None:
        track_idx = list(range(len(geometry.track_names)))
    else:
        unknown = [t for t in tracks if t not in geometry.track_names]
        if unknown:
            raise ValueError(
                f"variants.tracks: {unknown} not among the model's tracks "
                f"{list(geometry.track_names)}"
            )
        track_idx = [i for i, t in enumerate(geometry.track_names) if t in tracks]
    if classes is not None:
        classes.check_tracks(
            list(geometry.track_names),
            list(geometry.track_kinds),
            where="the model",
            fix="give the class folder made from this model's predictions",
        )
        if classes.bin_size != geometry.bin_size:
            raise ValueError(
                f"classes fitted on {classes.bin_size}-bp bins but the model predicts "
                f"{geometry.bin_size}-bp bins"
            )
    else:
        log.info("no class folder given: class-score columns left out")
    columns = score_columns(geometry, track_idx, classes)
    kw = dict(
        span=span,
        pseudocount=pseudocount,
        classes=classes,
        batch_size=batch_size,
        reverse_complement=reverse_complement,
        device=device,
        precision=precision,
        incremental=incremental,
    )
    max_len = geometry.seq_len // 4
    reasons: Counter = Counter()
    n_scored = n_records = n_unsampled = 0
    tmp_scores = out / f".{SCORES}.tmp-{os.getpid()}"
    tmp_rejects = out / f".{REJECTS}.tmp-{os.getpid()}"
    tmp_vcf = out / f".{ANNOTATED}.tmp-{os.getpid()}"
    tmp_tbi = out / f".{ANNOTATED}.tbi.tmp-{os.getpid()}"
    ann = indexed = None
    bar = tqdm(
        desc="score-variants", unit="variant", disable=None if progress is None else not progress
    )
    try:
        if annotated_vcf:
            names = {"tracks": geometry.track_names, "kinds": geometry.track_kinds}
            names["classes"] = [] if classes is None else classes.names
            ann = AnnotatedVcf(vcf, tmp_vcf, info_fields(columns, names))
        with (
            gzip.open(tmp_scores, "wt", compresslevel=4) as fh,
            open(tmp_rejects, "w") as rj,
            ann or contextlib.nullcontext(),
        ):
            fh.write(
                "\t".join(["id", "chrom", "pos", "ref", "alt", *(c for c, _, _ in columns)]) + "\n"
            )
            rj.write("id\tchrom\tpos\tref\talt\treason\n")

            def alleles():
                nonlocal n_records, n_unsampled
                for item in iter_alleles(vcf, genome, strict=strict, context=context):
                    n_records += 1
                    if isinstance(item, Allele) and max(len(item.ref), len(item.alt)) > max_len:
                        item = Reject(
                            item.id, item.vcf_chrom, item.pos, item.ref, item.alt, TOO_LONG
                        )
                    if isinstance(item, Reject):
                        reasons[item.reason.split(" (")[0]] += 1
                        rj.write(
                            f"{item.id}\t{item.chrom}\t{one_based(item.pos)}\t{item.ref}\t"
                            f"{item.alt}\t{item.reason}\n"
                        )
                        why = item.reason
                    elif not sampled(item, fraction):
                        n_unsampled += 1
                        why = NOT_SAMPLED
                    else:
                        if ann is not None:
                            ann.expect(item)
                        yield item
                        continue
                    if ann is not None:
                        ann.skip(item, why)
                        if ann.backlog > 4 * chunk_size:  # records held for a partial chunk
                            yield _FLUSH

            for chunk in _chunks(alleles(), chunk_size):
                s = _score_chunk(model, geometry, chunk, shifts=shifts, window=window, kw=kw)
                table = np.stack([s[stat][:, i] for _, i, stat in columns], axis=1)
                for a, row in zip(chunk, table, strict=True):
                    head = [a.id, a.vcf_chrom, str(one_based(a.pos)), a.ref, a.alt]
                    cells = [_fmt(x) for x in row]
                    fh.write("\t".join(head + cells) + "\n")
                    if ann is not None:
                        ann.scored(cells)
                n_scored += len(chunk)
                bar.update(len(chunk))
            if ann is not None:
                ann.finish()
        bar.close()
        if n_records == 0:
            raise ValueError(f"{vcf}: no variant records")
        if n_scored == 0 and n_unsampled:
            raise ValueError(
                f"variants.fraction {fraction}: none of the {n_unsampled} scorable alleles of "
                f"{vcf} was sampled; raise it"
            )
        if n_scored == 0:
            if reasons.get(OUTSIDE) == n_records:
                raise ValueError(
                    f"{vcf}: no variant lies inside a record of the context FASTA (records "
                    f"on {', '.join(context.aliases.names[:8])}); check the coordinates"
                )
            if reasons.get(NO_CHROM) == n_records:
                raise ValueError(
                    f"{vcf}: no variant is on the genome store's chromosomes "
                    f"({', '.join(list(genome.sizes)[:8])}); check the chromosome names"
                )
            raise ValueError(
                f"{vcf}: none of its {n_records} alleles could be scored "
                f"({', '.join(f'{k}: {v}' for k, v in reasons.most_common())}); see the reasons"
            )
        if ann is not None:
            indexed = ann.index(tmp_vcf, tmp_tbi)
        os.replace(tmp_scores, out / SCORES)
        os.replace(tmp_rejects, out / REJECTS)
        if ann is not None:
            (out / f"{ANNOTATED}.tbi").unlink(missing_ok=True)  # never an old index on it
            os.replace(tmp_vcf, out / ANNOTATED)
            if indexed:
                os.replace(tmp_tbi, out / f"{ANNOTATED}.tbi")
        else:  # an earlier run's annotated VCF would disagree with the new scores
            for old in (out / ANNOTATED, out / f"{ANNOTATED}.tbi"):
                if old.exists():
                    old.unlink()
                    log.info("removed %s: from an earlier run, not these scores", old)
    finally:
        bar.close()
        for p in (tmp_scores, tmp_rejects, tmp_vcf, tmp_tbi):
            p.unlink(missing_ok=True)
    seconds = time.time() - t0
    summary = {
        "vcf": str(vcf),
        "alleles": n_records,
        "scored": n_scored,
        "rejected": dict(reasons),
        "not_sampled": n_unsampled,
        "columns": [c for c, _, _ in columns],
        "annotated_vcf": None if ann is None else ANNOTATED,
        "annotated_vcf_indexed": bool(indexed),
        "seconds": round(seconds, 2),
        "variants_per_s": round(n_scored / max(seconds, 1e-9), 2),
        "params": {
            "span": span,
            "pseudocount": pseudocount,
            "shifts": list(shifts),
            "window_step": window_step,
            "fraction": fraction,
            "reverse_complement": reverse_complement,
            "context": None if context is None else context.path,
            "context_fill": None if context is None else context.fill,
            "classes": None if classes is None else classes.names,
        },
    }
    for reason, n in reasons.most_common():
        log.warning("%d alleles not scored: %s (see %s)", n, reason, out / REJECTS)
    log.info(
        "scored %d of %d alleles in %.1f s (%.1f variants/s) -> %s",
        n_scored,
        n_records,
        seconds,
        summary["variants_per_s"],
        out / SCORES,
    )
    atomic_write_text(out / SUMMARY, json.dumps(summary, indent=1) + "\n")
    return summary


def variants_from_config(
    cfg: dict,
    *,
    model_dir: str | Path,
    genome_dir: str | Path,
    vcf: str | Path,
    out: str | Path,
    classes_dir: str | Path | None = None,
) -> dict:
    """The stage as the CLI runs it: load the model, genome store (or, with
    ``variants.context``, the context FASTA instead) and classes; score."""
    from genomics.data.genome import GenomeStore
    from genomics.inference.device import resolve_device
    from genomics.models.saved import load_model

    v = cfg["variants"]
    context = None
    if v["context"] is not None:
        context = Context.from_fasta(v["context"], fill=v["context_fill"], seed=cfg["seed"])
    device = resolve_device(v["device"])
    model, spec = load_model(model_dir, device=device)
    classes = None
    if classes_dir is not None:
        from genomics.classes import load_classes

        classes = load_classes(classes_dir)
    return score_vcf(
        model,
        spec,
        None if context is not None else GenomeStore(genome_dir),
        vcf,
        out,
        classes=classes,
        tracks=v["tracks"],
        span=v["span_bins"],
        pseudocount=v["pseudocount"],
        shifts=v["shifts"],
        window_step=v["window_step"],
        reverse_complement=v["reverse_complement"],
        batch_size=v["batch_size"],
        chunk_size=v["chunk_size"],
        device=device,
        precision=v["precision"],
        strict=v["strict"],
        fraction=v["fraction"],
        progress=v["progress"],
        context=context,
        incremental=v["incremental"],
        annotated_vcf=v["annotated_vcf"],
    )
